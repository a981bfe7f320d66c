//! Random identifiers, device tokens and the token hashes the store keeps.
//!
//! The server never stores a device token: only its SHA-256, so a copy of the
//! database does not let anyone act as a device.

use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};

/// Bytes of randomness in a device token (shown to the device once, as hex).
const TOKEN_BYTES: usize = 32;
/// Bytes of randomness in an account or device id.
const ID_BYTES: usize = 16;
/// Characters in a pairing lookup (32^4 ≈ one million codes; guesses are rate-limited).
pub const LOOKUP_LEN: usize = 4;
/// Crockford's base32: no I, L, O or U, so a code read aloud or retyped survives.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Reads a lookup as typed: case-insensitive, O as 0, I and L as 1, and any
/// hyphen or spaces around ignored. `None` if it cannot be a lookup.
pub fn normalize_lookup(typed: &str) -> Option<String> {
    let out: String = typed
        .trim()
        .chars()
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect();
    let valid = out.len() == LOOKUP_LEN && out.bytes().all(|b| CROCKFORD.contains(&b));
    valid.then_some(out)
}

#[derive(Debug, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct RandomError;

/// SHA-256 of a bearer token, as stored and looked up.
pub type TokenHash = [u8; 32];

#[derive(Clone)]
pub struct Generator {
    rng: SystemRandom,
}

impl Generator {
    pub fn new() -> Self {
        Self { rng: SystemRandom::new() }
    }

    pub fn id(&self) -> Result<String, RandomError> {
        self.random_hex::<ID_BYTES>()
    }

    pub fn device_token(&self) -> Result<String, RandomError> {
        self.random_hex::<TOKEN_BYTES>()
    }

    /// A pairing or co-browsing lookup: [`LOOKUP_LEN`] characters of Crockford base32.
    pub fn lookup(&self) -> Result<String, RandomError> {
        let mut bytes = [0u8; LOOKUP_LEN];
        self.rng.fill(&mut bytes).map_err(|_| RandomError)?;
        // 32 symbols divide 256 evenly, so masking keeps the choice uniform.
        Ok(bytes.iter().map(|b| char::from(CROCKFORD[usize::from(b & 31)])).collect())
    }

    /// `n` candidate lookups, for a store that takes the first one free.
    pub fn lookups(&self, n: usize) -> Result<Vec<String>, RandomError> {
        (0..n).map(|_| self.lookup()).collect()
    }

    fn random_hex<const N: usize>(&self) -> Result<String, RandomError> {
        let mut bytes = [0u8; N];
        self.rng.fill(&mut bytes).map_err(|_| RandomError)?;
        Ok(hex(&bytes))
    }
}

pub fn hash_token(token: &str) -> TokenHash {
    let d = digest::digest(&digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let g = Generator::new();
        let id = g.id().unwrap();
        let token = g.device_token().unwrap();
        assert_eq!(id.len(), 32);
        assert_eq!(token.len(), 64);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(g.device_token().unwrap(), token);
    }

    #[test]
    fn lookups() {
        let g = Generator::new();
        let l = g.lookup().unwrap();
        assert_eq!(normalize_lookup(&l), Some(l.clone()));
        assert_eq!(normalize_lookup(" ab1o "), Some("AB10".into()));
        assert_eq!(normalize_lookup("il00"), Some("1100".into()));
        assert_eq!(normalize_lookup("ABCU"), None);
        assert_eq!(normalize_lookup("ABC"), None);
        assert_eq!(normalize_lookup("ÄBCD"), None);
    }

    #[test]
    fn sha256_known_answer() {
        assert_eq!(hex(&hash_token("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
