//! End-to-end encryption of sync records and sent tabs, and the key
//! agreement that moves the account key to a newly paired device.
//!
//! One 32-byte account key per account, shared by its devices. Two keys are
//! derived from it with HKDF-SHA-256: the record key (AES-256-GCM) and the
//! token secret (HMAC-SHA-1 record tokens). The server never sees either.
//!
//! Sealed format (records, sent tabs, wrapped account keys): base64 of
//! 12-byte random nonce || ciphertext || 16-byte tag.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey, X25519};
use ring::hkdf;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use baton_shared::canonical::to_canonical;
use baton_shared::records::{Collection, RecordBody};
use baton_shared::token::record_token;

pub const ACCOUNT_KEY_LEN: usize = 32;

const RECORDS_INFO: &[u8] = b"baton records v1";
const TOKENS_INFO: &[u8] = b"baton tokens v1";
const SENT_TAB_INFO: &[u8] = b"baton sent tab v1";
const PAIRING_INFO: &[u8] = b"baton pairing v1";
const CLAIM_PROOF_INFO: &[u8] = b"baton pairing claim v1";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("the system random generator failed")]
    Random,
    #[error("ciphertext is not base64")]
    Base64,
    #[error("ciphertext does not open with this account's key (damaged, or sealed for another record)")]
    Open,
    #[error("a key has the wrong length")]
    KeyLength,
    #[error("the key agreement failed (bad public key)")]
    Agreement,
    #[error("cannot encode the record: {0}")]
    Encode(String),
}

/// The keys derived from one account key.
pub struct AccountKeys {
    account_key: [u8; ACCOUNT_KEY_LEN],
    record_key: LessSafeKey,
    token_secret: [u8; 32],
    rng: SystemRandom,
}

impl AccountKeys {
    pub fn generate() -> Result<Self, CryptoError> {
        let mut key = [0u8; ACCOUNT_KEY_LEN];
        SystemRandom::new().fill(&mut key).map_err(|_| CryptoError::Random)?;
        Self::from_bytes(&key)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let account_key: [u8; ACCOUNT_KEY_LEN] = bytes.try_into().map_err(|_| CryptoError::KeyLength)?;
        let record_key = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, &derive(&account_key, &[], &[RECORDS_INFO])?)
                .map_err(|_| CryptoError::KeyLength)?,
        );
        let token_secret = derive(&account_key, &[], &[TOKENS_INFO])?;
        Ok(Self { account_key, record_key, token_secret, rng: SystemRandom::new() })
    }

    pub fn account_key(&self) -> &[u8] {
        &self.account_key
    }

    /// The record's keyed content token.
    pub fn token(&self, body: &RecordBody) -> Result<String, CryptoError> {
        let canonical = to_canonical(body).map_err(|e| CryptoError::Encode(e.to_string()))?;
        Ok(record_token(&self.token_secret, &canonical))
    }

    /// Encrypts a record body, bound to its owner, collection and id.
    pub fn seal_record(&self, owner: &str, collection: Collection, id: &str, plain: &[u8]) -> Result<String, CryptoError> {
        seal(&self.record_key, &self.rng, &record_aad(owner, collection, id), plain)
    }

    pub fn open_record(&self, owner: &str, collection: Collection, id: &str, sealed: &str) -> Result<Vec<u8>, CryptoError> {
        open(&self.record_key, &record_aad(owner, collection, id), sealed)
    }

    /// Encrypts a tab sent to `target` (bound to the sender and target).
    pub fn seal_sent_tab(&self, from: &str, target: &str, plain: &[u8]) -> Result<String, CryptoError> {
        seal(&self.record_key, &self.rng, &sent_tab_aad(from, target), plain)
    }

    pub fn open_sent_tab(&self, from: &str, target: &str, sealed: &str) -> Result<Vec<u8>, CryptoError> {
        open(&self.record_key, &sent_tab_aad(from, target), sealed)
    }
}

fn record_aad(owner: &str, collection: Collection, id: &str) -> Vec<u8> {
    format!("{owner}|{}|{id}", collection.as_str()).into_bytes()
}

fn sent_tab_aad(from: &str, target: &str) -> Vec<u8> {
    [SENT_TAB_INFO, b"|", from.as_bytes(), b"|", target.as_bytes()].concat()
}

/// HKDF-SHA-256 to a 32-byte key.
fn derive(ikm: &[u8], salt: &[u8], info: &[&[u8]]) -> Result<[u8; 32], CryptoError> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    let mut out = [0u8; 32];
    prk.expand(info, hkdf::HKDF_SHA256)
        .and_then(|okm| okm.fill(&mut out))
        .map_err(|_| CryptoError::KeyLength)?;
    Ok(out)
}

pub(crate) fn seal(key: &LessSafeKey, rng: &SystemRandom, aad: &[u8], plain: &[u8]) -> Result<String, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce).map_err(|_| CryptoError::Random)?;
    let mut buf = plain.to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut buf)
        .map_err(|_| CryptoError::Random)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(B64.encode(out))
}

pub(crate) fn open(key: &LessSafeKey, aad: &[u8], sealed: &str) -> Result<Vec<u8>, CryptoError> {
    let bytes = B64.decode(sealed).map_err(|_| CryptoError::Base64)?;
    if bytes.len() < NONCE_LEN {
        return Err(CryptoError::Open);
    }
    let (nonce, body) = bytes.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Open)?;
    let mut buf = body.to_vec();
    let plain = key.open_in_place(nonce, Aad::from(aad), &mut buf).map_err(|_| CryptoError::Open)?;
    Ok(plain.to_vec())
}

/// One side of a pairing's X25519 agreement. Lives only in memory: ring's
/// ephemeral keys are single-use and cannot be stored.
pub struct PairingKey {
    private: EphemeralPrivateKey,
    public: Vec<u8>,
}

impl PairingKey {
    pub fn generate() -> Result<Self, CryptoError> {
        let private = EphemeralPrivateKey::generate(&X25519, &SystemRandom::new()).map_err(|_| CryptoError::Random)?;
        let public = private.compute_public_key().map_err(|_| CryptoError::Random)?.as_ref().to_vec();
        Ok(Self { private, public })
    }

    pub fn public_b64(&self) -> String {
        B64.encode(&self.public)
    }

    /// The raw public key (32 bytes).
    pub fn public(&self) -> &[u8] {
        &self.public
    }

    /// Derives the key that wraps the account key:
    /// HKDF-SHA-256(ikm = X25519 secret, salt = the code's secret part,
    /// info = "baton pairing v1" || offer public key || claim public key).
    pub fn wrap_key(self, peer_b64: &str, secret: &str, i_am_offer: bool) -> Result<WrapKey, CryptoError> {
        let peer = B64.decode(peer_b64).map_err(|_| CryptoError::Base64)?;
        let (offer_pk, claim_pk) = if i_am_offer { (self.public.clone(), peer.clone()) } else { (peer.clone(), self.public.clone()) };
        let key = self.agree(&peer, secret.as_bytes(), &[PAIRING_INFO, &offer_pk, &claim_pk])?;
        let key = UnboundKey::new(&AES_256_GCM, &key).map_err(|_| CryptoError::KeyLength)?;
        Ok(WrapKey(LessSafeKey::new(key)))
    }

    /// HKDF-SHA-256 over the X25519 secret shared with `peer` (raw public
    /// key). Consumes the key: ring's ephemeral keys are single-use.
    pub fn agree(self, peer: &[u8], salt: &[u8], info: &[&[u8]]) -> Result<[u8; 32], CryptoError> {
        agreement::agree_ephemeral(self.private, &UnparsedPublicKey::new(&X25519, peer), |shared| {
            derive(shared, salt, info)
        })
        .map_err(|_| CryptoError::Agreement)?
    }
}

pub struct WrapKey(LessSafeKey);

impl WrapKey {
    pub fn wrap(&self, pairing_id: &str, account_key: &[u8]) -> Result<String, CryptoError> {
        seal(&self.0, &SystemRandom::new(), &pairing_aad(pairing_id), account_key)
    }

    pub fn unwrap(&self, pairing_id: &str, wrapped: &str) -> Result<Vec<u8>, CryptoError> {
        open(&self.0, &pairing_aad(pairing_id), wrapped)
    }
}

fn pairing_aad(pairing_id: &str) -> Vec<u8> {
    [PAIRING_INFO, b"|", pairing_id.as_bytes()].concat()
}

/// The claimer's proof that it knows the code's secret part: base64 of
/// HMAC-SHA-256 keyed by the secret over its public key (base64, as sent).
/// The offerer hands the account key over only when it holds, so whoever
/// guesses the short lookup alone joins nobody's account.
pub fn claim_proof(secret: &str, claim_public_key: &str) -> String {
    B64.encode(hmac::sign(&claim_proof_key(secret), claim_public_key.as_bytes()).as_ref())
}

/// Whether `proof` is [`claim_proof`] for this secret and key (in constant time).
pub fn claim_proof_holds(secret: &str, claim_public_key: &str, proof: &str) -> bool {
    B64.decode(proof)
        .is_ok_and(|tag| hmac::verify(&claim_proof_key(secret), claim_public_key.as_bytes(), &tag).is_ok())
}

fn claim_proof_key(secret: &str) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, &[CLAIM_PROOF_INFO, b"|", secret.as_bytes()].concat())
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_shared::session::WindowState;

    #[test]
    fn records_are_bound_to_owner_collection_and_id() {
        let keys = AccountKeys::generate().unwrap();
        let sealed = keys.seal_record("dev-a", Collection::Tabs, "t:1", b"https://example.org").unwrap();
        assert!(!sealed.contains("example"));
        assert_eq!(keys.open_record("dev-a", Collection::Tabs, "t:1", &sealed).unwrap(), b"https://example.org");
        for (owner, coll, id) in [("dev-b", Collection::Tabs, "t:1"), ("dev-a", Collection::Pages, "t:1"), ("dev-a", Collection::Tabs, "t:2")] {
            assert_eq!(keys.open_record(owner, coll, id, &sealed), Err(CryptoError::Open));
        }
        assert_eq!(keys.open_record("dev-a", Collection::Tabs, "t:1", "%%%"), Err(CryptoError::Base64));
        assert_eq!(keys.open_record("dev-a", Collection::Tabs, "t:1", "AAAA"), Err(CryptoError::Open));
        let other = AccountKeys::generate().unwrap();
        assert_eq!(other.open_record("dev-a", Collection::Tabs, "t:1", &sealed), Err(CryptoError::Open));
    }

    #[test]
    fn tokens_depend_on_content_and_account() {
        let a = AccountKeys::from_bytes(&[1; 32]).unwrap();
        let same = AccountKeys::from_bytes(&[1; 32]).unwrap();
        let b = AccountKeys::from_bytes(&[2; 32]).unwrap();
        let w = RecordBody::Window(WindowState { id: 1, focused: true });
        let w2 = RecordBody::Window(WindowState { id: 1, focused: false });
        assert_eq!(a.token(&w).unwrap(), same.token(&w).unwrap());
        assert_ne!(a.token(&w).unwrap(), a.token(&w2).unwrap());
        assert_ne!(a.token(&w).unwrap(), b.token(&w).unwrap());
        assert_eq!(AccountKeys::from_bytes(&[1; 5]).err(), Some(CryptoError::KeyLength));
    }

    #[test]
    fn pairing_moves_the_key_only_with_the_right_secret() {
        let offer = PairingKey::generate().unwrap();
        let claim = PairingKey::generate().unwrap();
        let (offer_pk, claim_pk) = (offer.public_b64(), claim.public_b64());
        let account = [9u8; 32];
        let wrapped = offer.wrap_key(&claim_pk, "ABC123", true).unwrap().wrap("p1", &account).unwrap();
        let claim2 = PairingKey::generate().unwrap();
        let unwrapped = claim.wrap_key(&offer_pk, "ABC123", false).unwrap().unwrap("p1", &wrapped).unwrap();
        assert_eq!(unwrapped, account);
        // A wrong secret derives another key.
        let wrong = claim2.wrap_key(&offer_pk, "ABC124", false).unwrap();
        assert_eq!(wrong.unwrap("p1", &wrapped), Err(CryptoError::Open));
        assert!(matches!(PairingKey::generate().unwrap().wrap_key("!!", "X", true), Err(CryptoError::Base64)));
    }

    #[test]
    fn a_claim_proof_holds_only_for_its_secret_and_key() {
        let proof = claim_proof("ABC123", "a2V5");
        assert_eq!(B64.decode(&proof).unwrap().len(), 32);
        assert!(claim_proof_holds("ABC123", "a2V5", &proof));
        assert!(!claim_proof_holds("ABC124", "a2V5", &proof));
        assert!(!claim_proof_holds("ABC123", "b3RoZXI=", &proof));
        for bad in ["", "%%%", "AAAA"] {
            assert!(!claim_proof_holds("ABC123", "a2V5", bad), "{bad}");
        }
    }
}
