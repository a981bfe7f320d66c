//! The frame key of one co-browsing session: agreed between the two hosts
//! with SPAKE2, the code's secret half (which the server never sees) as the
//! password ([`CodeKey`]), so a relay that put its own messages between
//! them could neither read frames nor guess the secret offline.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ring::aead::{LessSafeKey, UnboundKey, AES_256_GCM};
use ring::rand::SystemRandom;

use baton_shared::cobrowse::Role;

use crate::crypto::{self, CodeKey, CodeSide, CryptoError};

const COBROWSE_INFO: &[u8] = b"baton cobrowse v2";
/// What [`CodeKey`]s of a co-browsing session are for.
const COBROWSE_PURPOSE: &[u8] = b"baton cobrowse";

pub struct FrameKey {
    raw: [u8; 32],
    key: LessSafeKey,
    rng: SystemRandom,
}

/// This side's half of the agreement: the visitor shows the code, the
/// operator types it.
pub fn code_key(secret: &str, role: Role) -> CodeKey {
    let side = match role {
        Role::Visitor => CodeSide::Shows,
        Role::Operator => CodeSide::Types,
    };
    CodeKey::generate(secret, side, COBROWSE_PURPOSE)
}

impl FrameKey {
    /// HKDF-SHA-256 over the SPAKE2 key, info = "baton cobrowse v2" ||
    /// session id || visitor message || operator message.
    pub fn agree(mine: CodeKey, my_role: Role, peer_b64: &str, session_id: &str) -> Result<Self, CryptoError> {
        let peer = B64.decode(peer_b64).map_err(|_| CryptoError::Base64)?;
        let own = mine.public().to_vec();
        let (visitor, operator) = match my_role {
            Role::Visitor => (own, peer.clone()),
            Role::Operator => (peer.clone(), own),
        };
        let info: [&[u8]; 4] = [COBROWSE_INFO, session_id.as_bytes(), &visitor, &operator];
        Self::from_bytes(&mine.agree(&peer, &info)?)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let raw: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::KeyLength)?;
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &raw).map_err(|_| CryptoError::KeyLength)?);
        Ok(Self { raw, key, rng: SystemRandom::new() })
    }

    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Seals one frame sent by `from` as number `seq` (base64 of nonce ||
    /// ciphertext || tag); the session, role and seq are bound as AAD, so
    /// a frame replayed under another number or role does not open.
    pub fn seal(&self, session_id: &str, from: Role, seq: u64, plain: &[u8]) -> Result<String, CryptoError> {
        crypto::seal(&self.key, &self.rng, &aad(session_id, from, seq), plain)
    }

    pub fn open(&self, session_id: &str, from: Role, seq: u64, sealed: &str) -> Result<Vec<u8>, CryptoError> {
        crypto::open(&self.key, &aad(session_id, from, seq), sealed)
    }
}

pub fn role_str(role: Role) -> &'static str {
    match role {
        Role::Visitor => "visitor",
        Role::Operator => "operator",
    }
}

fn aad(session_id: &str, from: Role, seq: u64) -> Vec<u8> {
    format!("{session_id}|{}|{seq}", role_str(from)).into_bytes()
}

/// The vault context a stored frame key is bound to.
pub fn vault_context(server_url: &str, session_id: &str) -> Vec<u8> {
    format!("cobrowse-key\0{server_url}\0{session_id}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(secret_v: &str, secret_o: &str) -> (FrameKey, FrameKey) {
        let v = code_key(secret_v, Role::Visitor);
        let o = code_key(secret_o, Role::Operator);
        let (vp, op) = (v.public_b64(), o.public_b64());
        let kv = FrameKey::agree(v, Role::Visitor, &op, "s1").unwrap();
        let ko = FrameKey::agree(o, Role::Operator, &vp, "s1").unwrap();
        (kv, ko)
    }

    #[test]
    fn both_sides_derive_the_same_key_only_with_the_same_secret() {
        let (kv, ko) = pair("7KQ2M9", "7KQ2M9");
        assert_eq!(kv.raw(), ko.raw());
        let ct = kv.seal("s1", Role::Visitor, 1, b"page").unwrap();
        assert_eq!(ko.open("s1", Role::Visitor, 1, &ct).unwrap(), b"page");
        // Bound to session, role and seq.
        assert_eq!(ko.open("s2", Role::Visitor, 1, &ct), Err(CryptoError::Open));
        assert_eq!(ko.open("s1", Role::Operator, 1, &ct), Err(CryptoError::Open));
        assert_eq!(ko.open("s1", Role::Visitor, 2, &ct), Err(CryptoError::Open));
        let (kv, ko) = pair("7KQ2M9", "7KQ2M8");
        assert_ne!(kv.raw(), ko.raw());
    }

    #[test]
    fn bad_peer_keys_are_typed_errors() {
        let k = || code_key("7KQ2M9", Role::Operator);
        assert!(matches!(FrameKey::agree(k(), Role::Operator, "!!", "s"), Err(CryptoError::Base64)));
        assert!(matches!(FrameKey::agree(k(), Role::Operator, "AAAA", "s"), Err(CryptoError::Agreement)));
        assert!(matches!(FrameKey::from_bytes(&[1; 3]), Err(CryptoError::KeyLength)));
    }
}
