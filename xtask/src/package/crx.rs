//! CRX3, the signed package Chromium-family browsers install from an
//! update URL: `Cr24`, version 3, a protobuf `CrxFileHeader` holding the
//! RSA public key, the signature and the signed extension id, then the ZIP.
//! Signing uses the `openssl` command with the extension's private key.

use std::path::Path;
use std::process::Command;

use super::sha256;
use crate::error::{Error, Result};
use crate::process;

const MAGIC: &[u8] = b"Cr24";
const SIGNATURE_CONTEXT: &[u8] = b"CRX3 SignedData\x00";

fn varint(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A length-delimited protobuf field.
fn field(number: u64, bytes: &[u8], out: &mut Vec<u8>) {
    varint(number << 3 | 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// The 16-byte CRX id of a DER public key (its extension id, undecoded).
pub fn crx_id(public_key_der: &[u8]) -> [u8; 16] {
    let digest = sha256::digest(public_key_der);
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    id
}

/// The extension id Chromium shows for `public_key_der` (a–p letters).
pub fn extension_id(public_key_der: &[u8]) -> String {
    crx_id(public_key_der).iter().flat_map(|b| [b >> 4, b & 0x0f]).map(|n| (b'a' + n) as char).collect()
}

/// `SignedData { crx_id }`.
fn signed_header_data(public_key_der: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    field(1, &crx_id(public_key_der), &mut out);
    out
}

/// What the signature covers.
pub fn signed_message(public_key_der: &[u8], zip: &[u8]) -> Vec<u8> {
    let signed = signed_header_data(public_key_der);
    let mut out = SIGNATURE_CONTEXT.to_vec();
    out.extend_from_slice(&(signed.len() as u32).to_le_bytes());
    out.extend_from_slice(&signed);
    out.extend_from_slice(zip);
    out
}

/// The CRX file from its parts.
pub fn assemble(public_key_der: &[u8], signature: &[u8], zip: &[u8]) -> Vec<u8> {
    let mut proof = Vec::new();
    field(1, public_key_der, &mut proof);
    field(2, signature, &mut proof);
    let mut header = Vec::new();
    field(2, &proof, &mut header); // sha256_with_rsa
    field(10000, &signed_header_data(public_key_der), &mut header); // signed_header_data
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(zip);
    out
}

/// Signs `zip` with the PEM private key at `key` through `openssl`; returns
/// the CRX and the extension id it installs as.
pub fn pack(zip: &[u8], key: &Path, scratch: &Path) -> Result<(Vec<u8>, String)> {
    let public = scratch.join("public.der");
    process::capture(
        Command::new("openssl")
            .arg("pkey")
            .arg("-in")
            .arg(key)
            .args(["-pubout", "-outform", "DER", "-out"])
            .arg(&public),
    )?;
    let public_der = std::fs::read(&public).map_err(|e| Error::io(format!("reading {}", public.display()), e))?;
    let message = scratch.join("signed.bin");
    std::fs::write(&message, signed_message(&public_der, zip))
        .map_err(|e| Error::io(format!("writing {}", message.display()), e))?;
    let signature = scratch.join("signature.bin");
    process::capture(
        Command::new("openssl").args(["dgst", "-sha256", "-sign"]).arg(key).arg("-out").arg(&signature).arg(&message),
    )?;
    let sig = std::fs::read(&signature).map_err(|e| Error::io(format!("reading {}", signature.display()), e))?;
    Ok((assemble(&public_der, &sig, zip), extension_id(&public_der)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_fields() {
        let mut out = Vec::new();
        field(10000, b"ab", &mut out);
        // 10000 << 3 | 2 = 80002 = 0x13882 → varint 82 f1 04.
        assert_eq!(out, [0x82, 0xf1, 0x04, 2, b'a', b'b']);
    }

    #[test]
    fn layout() {
        let crx = assemble(b"KEY", b"SIG", b"PK..");
        assert_eq!(&crx[..4], b"Cr24");
        assert_eq!(u32::from_le_bytes([crx[4], crx[5], crx[6], crx[7]]), 3);
        let header_len = u32::from_le_bytes([crx[8], crx[9], crx[10], crx[11]]) as usize;
        assert_eq!(&crx[12 + header_len..], b"PK..");
        assert!(signed_message(b"KEY", b"PK..").starts_with(SIGNATURE_CONTEXT));
    }

    /// The development key's public half is the manifest's `key`, whose id
    /// is the fixed extension id.
    #[test]
    fn development_key_gives_the_fixed_id() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let b64 = std::fs::read_to_string(root.join("manifest/keys/dev-extension-key.pub.b64")).unwrap();
        let der = base64_decode(b64.trim());
        assert_eq!(extension_id(&der), crate::workspace::EXTENSION_ID);
    }

    fn base64_decode(s: &str) -> Vec<u8> {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut bits = 0u32;
        let mut n = 0;
        let mut out = Vec::new();
        for c in s.bytes().filter(|c| *c != b'=') {
            let v = alphabet.iter().position(|a| *a == c).unwrap() as u32;
            bits = bits << 6 | v;
            n += 6;
            if n >= 8 {
                n -= 8;
                out.push((bits >> n) as u8);
            }
        }
        out
    }
}
