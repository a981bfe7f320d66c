//! Record and collection tokens (after the token-sync design in seed 004).
//!
//! A record token is lowercase hex HMAC-SHA-1, keyed with the account's token
//! secret, over the record's canonical encoding: equal content gives equal
//! tokens on every device of the account, while the server (which never has
//! the secret) cannot confirm a guess of the content.
//!
//! A collection token is SHA-1 over the collection's `(record id, token)`
//! pairs sorted by id, each written as `id \0 token \n`.

use sha1::{Digest, Sha1};

const BLOCK: usize = 64;

/// HMAC-SHA-1 (RFC 2104) of `message` under `key`, as lowercase hex.
pub fn record_token(account_secret: &[u8], canonical: &[u8]) -> String {
    let mut key = [0u8; BLOCK];
    if account_secret.len() > BLOCK {
        key[..20].copy_from_slice(&Sha1::digest(account_secret));
    } else {
        key[..account_secret.len()].copy_from_slice(account_secret);
    }
    let pad = |byte: u8| key.map(|k| k ^ byte);
    let inner = Sha1::new().chain_update(pad(0x36)).chain_update(canonical).finalize();
    let outer = Sha1::new().chain_update(pad(0x5c)).chain_update(inner).finalize();
    hex(&outer)
}

/// Token over a collection's records; the order of `pairs` does not matter.
pub fn collection_token<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
    pairs.sort_unstable();
    let mut h = Sha1::new();
    for (id, token) in pairs {
        h.update(id.as_bytes());
        h.update([0]);
        h.update(token.as_bytes());
        h.update([b'\n']);
    }
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha1_rfc2202_vectors() {
        assert_eq!(record_token(&[0x0b; 20], b"Hi There"), "b617318655057264e28bc0b6fb378c8ef146be00");
        assert_eq!(record_token(b"Jefe", b"what do ya want for nothing?"), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
        assert_eq!(
            record_token(&[0xaa; 80], b"Test Using Larger Than Block-Size Key - Hash Key First"),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112"
        );
    }

    #[test]
    fn collection_token_is_order_free() {
        let a = collection_token([("t1", "aa"), ("t2", "bb")]);
        let b = collection_token([("t2", "bb"), ("t1", "aa")]);
        assert_eq!(a, b);
        assert_ne!(a, collection_token([("t1", "aa"), ("t2", "bc")]));
        assert_eq!(collection_token([]), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }
}
