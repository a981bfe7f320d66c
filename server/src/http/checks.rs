//! Field checks shared by the request validators.

use base64::Engine as _;

use super::error::HttpError;

/// Longest device, pairing or send id accepted; real ones are 32 hex characters.
pub const MAX_ID: usize = 64;

/// A record or collection token: 40 lowercase hex characters (SHA-1).
pub fn token(what: &str, value: &str) -> Result<(), HttpError> {
    let ok = value.len() == 40 && value.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    ok.then_some(()).ok_or_else(|| HttpError::invalid_request(format!("{what} is not 40 lowercase hex characters")))
}

/// Standard padded base64 of at most `max` characters; returns the decoded length.
pub fn base64(what: &str, value: &str, max: usize) -> Result<usize, HttpError> {
    if value.len() > max {
        return Err(HttpError::invalid_request(format!("{what} is longer than {max} characters")));
    }
    base64::engine::general_purpose::STANDARD
        .decode(value)
        .map(|bytes| bytes.len())
        .map_err(|e| HttpError::invalid_request(format!("{what} is not base64: {e}")))
}

/// A key-agreement message (SPAKE2 over Ed25519): base64 of 32 bytes.
pub fn public_key(value: &str) -> Result<(), HttpError> {
    match base64("public_key", value, 64)? {
        32 => Ok(()),
        n => Err(HttpError::invalid_request(format!("public_key is {n} bytes; a key-agreement message is 32"))),
    }
}

/// An id chosen by the server (device, pairing, send).
pub fn id(what: &str, value: &str) -> Result<(), HttpError> {
    let ok = !value.is_empty() && value.len() <= MAX_ID && value.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then_some(()).ok_or_else(|| HttpError::invalid_request(format!("{what} is not a valid id")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert!(token("t", &"a1".repeat(20)).is_ok());
        assert!(token("t", &"A1".repeat(20)).is_err());
        assert!(token("t", "abc").is_err());
        assert_eq!(base64("b", "aGk=", 10).unwrap(), 2);
        assert!(base64("b", "aGk", 10).is_err());
        assert!(base64("b", "aGk=aGk=aGk=", 10).is_err());
        assert!(public_key(&format!("{}=", "A".repeat(43))).is_ok());
        assert!(public_key("AAAA").is_err());
        assert!(id("d", "ab12").is_ok());
        assert!(id("d", "a/b").is_err());
        assert!(id("d", "").is_err());
    }
}
