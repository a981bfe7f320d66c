//! Names and identities that manifests, the host and the extension must agree on.

/// Native messaging host name (`connectNative(HOST_NAME)`, manifest file stem).
pub const HOST_NAME: &str = "org.baton.host";

/// The extension's id in Chromium-family browsers. It is fixed by the `"key"`
/// in `extension/static/manifest.json` (see [`extension_id_from_sha256`]).
pub const EXTENSION_ID: &str = "iclfinohpipjahhnkmeiddmpdphogdem";

/// The extension's id in Firefox (`browser_specific_settings.gecko.id`).
pub const FIREFOX_EXTENSION_ID: &str = "baton@baton.invalid";

/// The caller origin Chromium passes to the host for our extension.
pub fn chromium_origin(extension_id: &str) -> String {
    format!("chrome-extension://{extension_id}/")
}

/// Chromium's id derivation: the first 32 hex digits of a SHA-256 digest
/// (of the public key, or of the path for unpacked extensions without a key),
/// each digit 0–f mapped to a–p. The caller supplies the digest so this crate
/// needs no SHA-256 implementation.
pub fn extension_id_from_sha256(digest: &[u8; 32]) -> String {
    digest.iter().take(16).flat_map(|b| [b >> 4, b & 0x0f]).map(|nibble| (b'a' + nibble) as char).collect()
}

/// True when `id` has the shape of a Chromium extension id.
pub fn is_extension_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| (b'a'..=b'p').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_id_is_well_formed() {
        assert!(is_extension_id(EXTENSION_ID));
        assert_eq!(chromium_origin("abc"), "chrome-extension://abc/");
    }

    #[test]
    fn id_mapping() {
        let mut d = [0u8; 32];
        d[0] = 0x0f;
        d[1] = 0xa1;
        assert!(extension_id_from_sha256(&d).starts_with("apkb"));
    }
}
