//! End-to-end encryption of sync records and sent tabs, and the key
//! agreement authenticated by a code (SPAKE2, [`CodeKey`]) that moves the
//! account key to a newly paired device and keys co-browsing sessions.
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
use ring::hkdf;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use spake2::{Ed25519Group, Identity, Password, Spake2};

use baton_shared::canonical::to_canonical;
use baton_shared::records::{Collection, RecordBody};
use baton_shared::token::record_token;

pub const ACCOUNT_KEY_LEN: usize = 32;

const RECORDS_INFO: &[u8] = b"baton records v1";
const TOKENS_INFO: &[u8] = b"baton tokens v1";
const SENT_TAB_INFO: &[u8] = b"baton sent tab v1";
const PAIRING_INFO: &[u8] = b"baton pairing v2";
const CLAIM_PROOF_INFO: &[u8] = b"baton pairing claim v2";
/// What [`CodeKey`]s of a pairing are for.
pub const PAIRING_PURPOSE: &[u8] = b"baton pairing";

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
    pub fn seal_record(
        &self,
        owner: &str,
        collection: Collection,
        id: &str,
        plain: &[u8],
    ) -> Result<String, CryptoError> {
        seal(&self.record_key, &self.rng, &record_aad(owner, collection, id), plain)
    }

    pub fn open_record(
        &self,
        owner: &str,
        collection: Collection,
        id: &str,
        sealed: &str,
    ) -> Result<Vec<u8>, CryptoError> {
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
    prk.expand(info, hkdf::HKDF_SHA256).and_then(|okm| okm.fill(&mut out)).map_err(|_| CryptoError::KeyLength)?;
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

/// Which side of a `LOOKUP-SECRET` code a device is on: the one showing it
/// (SPAKE2's side A) or the one it was read to (side B).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeSide {
    Shows,
    Types,
}

/// One side of a key agreement authenticated by a code's secret half:
/// SPAKE2 over Ed25519, the secret half as the password. Whoever relays the
/// two messages (the server) learns nothing it could test guesses of the
/// secret against offline; putting its own messages in between tests one
/// guess per exchange, and a wrong guess leaves the two sides with
/// unrelated keys. Lives only in memory and is used once.
pub struct CodeKey {
    state: Spake2<Ed25519Group>,
    side: CodeSide,
    /// The message sent to the other side: the group element (32 bytes),
    /// without the crate's side byte (each side knows the other's).
    public: Vec<u8>,
}

impl CodeKey {
    /// `purpose` keeps keys for different uses apart (pairing, co-browsing).
    pub fn generate(secret: &str, side: CodeSide, purpose: &[u8]) -> Self {
        let password = Password::new(secret.as_bytes());
        let shows = Identity::new(&[purpose, b"|shows"].concat());
        let types = Identity::new(&[purpose, b"|types"].concat());
        let (state, message) = match side {
            CodeSide::Shows => Spake2::<Ed25519Group>::start_a(&password, &shows, &types),
            CodeSide::Types => Spake2::<Ed25519Group>::start_b(&password, &shows, &types),
        };
        Self { state, side, public: message[1..].to_vec() }
    }

    pub fn public_b64(&self) -> String {
        B64.encode(&self.public)
    }

    /// The message as sent (32 bytes).
    pub fn public(&self) -> &[u8] {
        &self.public
    }

    /// HKDF-SHA-256 over the SPAKE2 key agreed with `peer` (its message, as
    /// sent). Only a peer that used the same secret derives the same key.
    pub fn agree(self, peer: &[u8], info: &[&[u8]]) -> Result<[u8; 32], CryptoError> {
        let peer_side = match self.side {
            CodeSide::Shows => b'B',
            CodeSide::Types => b'A',
        };
        let message = [&[peer_side][..], peer].concat();
        let shared = self.state.finish(&message).map_err(|_| CryptoError::Agreement)?;
        derive(&shared, &[], info)
    }

    /// The keys of a pairing with the peer whose message is `peer_b64`
    /// (info = "baton pairing v2" || shower's message || typer's message).
    pub fn pair(self, peer_b64: &str) -> Result<PairingKeys, CryptoError> {
        let peer = B64.decode(peer_b64).map_err(|_| CryptoError::Base64)?;
        let (shows, types) = match self.side {
            CodeSide::Shows => (self.public.clone(), peer.clone()),
            CodeSide::Types => (peer.clone(), self.public.clone()),
        };
        let shared = self.agree(&peer, &[PAIRING_INFO, &shows, &types])?;
        let wrap = derive(&shared, &[], &[PAIRING_INFO, b"|wrap"])?;
        let confirm = derive(&shared, &[], &[CLAIM_PROOF_INFO])?;
        Ok(PairingKeys {
            wrap: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &wrap).map_err(|_| CryptoError::KeyLength)?),
            confirm: hmac::Key::new(hmac::HMAC_SHA256, &confirm),
        })
    }
}

/// What a pairing's agreement gives both devices: the key that wraps the
/// account key, and the one the claimer proves it holds with.
pub struct PairingKeys {
    wrap: LessSafeKey,
    confirm: hmac::Key,
}

impl PairingKeys {
    pub fn wrap(&self, pairing_id: &str, account_key: &[u8]) -> Result<String, CryptoError> {
        seal(&self.wrap, &SystemRandom::new(), &pairing_aad(pairing_id), account_key)
    }

    pub fn unwrap(&self, pairing_id: &str, wrapped: &str) -> Result<Vec<u8>, CryptoError> {
        open(&self.wrap, &pairing_aad(pairing_id), wrapped)
    }

    /// The claimer's proof that it agreed on the same key, so knew the
    /// code's secret half: base64 of HMAC-SHA-256 under the confirmation key
    /// over the pairing id. The offerer hands the account key over only when
    /// it holds, so whoever guesses the short lookup alone joins nobody's
    /// account. It is worthless for guessing the secret offline (it depends
    /// on the SPAKE2 key, not on the secret alone).
    pub fn claim_proof(&self, pairing_id: &str) -> String {
        B64.encode(hmac::sign(&self.confirm, pairing_id.as_bytes()).as_ref())
    }

    /// Whether `proof` is [`Self::claim_proof`] (in constant time).
    pub fn claim_proof_holds(&self, pairing_id: &str, proof: &str) -> bool {
        B64.decode(proof).is_ok_and(|tag| hmac::verify(&self.confirm, pairing_id.as_bytes(), &tag).is_ok())
    }
}

fn pairing_aad(pairing_id: &str) -> Vec<u8> {
    [PAIRING_INFO, b"|", pairing_id.as_bytes()].concat()
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
        for (owner, coll, id) in [
            ("dev-b", Collection::Tabs, "t:1"),
            ("dev-a", Collection::Pages, "t:1"),
            ("dev-a", Collection::Tabs, "t:2"),
        ] {
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

    fn pairing(shows_secret: &str, types_secret: &str) -> (PairingKeys, PairingKeys) {
        let shows = CodeKey::generate(shows_secret, CodeSide::Shows, PAIRING_PURPOSE);
        let types = CodeKey::generate(types_secret, CodeSide::Types, PAIRING_PURPOSE);
        let (shows_msg, types_msg) = (shows.public_b64(), types.public_b64());
        (shows.pair(&types_msg).unwrap(), types.pair(&shows_msg).unwrap())
    }

    #[test]
    fn pairing_moves_the_key_only_with_the_right_secret() {
        let account = [9u8; 32];
        let (offer, claim) = pairing("ABC123", "ABC123");
        let wrapped = offer.wrap("p1", &account).unwrap();
        assert_eq!(claim.unwrap("p1", &wrapped).unwrap(), account);
        assert_eq!(claim.unwrap("p2", &wrapped), Err(CryptoError::Open), "bound to the pairing");
        let proof = claim.claim_proof("p1");
        assert_eq!(B64.decode(&proof).unwrap().len(), 32);
        assert!(offer.claim_proof_holds("p1", &proof));
        assert!(!offer.claim_proof_holds("p2", &proof));
        for bad in ["", "%%%", "AAAA"] {
            assert!(!offer.claim_proof_holds("p1", bad), "{bad}");
        }

        // A wrong secret: nothing opens, no proof holds.
        let (offer, claim) = pairing("ABC123", "ABC124");
        let wrapped = offer.wrap("p1", &account).unwrap();
        assert_eq!(claim.unwrap("p1", &wrapped), Err(CryptoError::Open));
        assert!(!offer.claim_proof_holds("p1", &claim.claim_proof("p1")));
    }

    #[test]
    fn a_server_in_the_middle_tests_one_guess_per_exchange() {
        // The server answers each side with messages of its own, made with a
        // guess of the secret: a wrong guess opens nothing on either side.
        let offer = CodeKey::generate("ABC123", CodeSide::Shows, PAIRING_PURPOSE);
        let claim = CodeKey::generate("ABC123", CodeSide::Types, PAIRING_PURPOSE);
        let fake_claim = CodeKey::generate("ZZZ999", CodeSide::Types, PAIRING_PURPOSE);
        let fake_offer = CodeKey::generate("ZZZ999", CodeSide::Shows, PAIRING_PURPOSE);
        let (offer_msg, claim_msg) = (offer.public_b64(), claim.public_b64());
        let (fake_claim_msg, fake_offer_msg) = (fake_claim.public_b64(), fake_offer.public_b64());
        let offer = offer.pair(&fake_claim_msg).unwrap();
        let server_with_offer = fake_claim.pair(&offer_msg).unwrap();
        let wrapped = offer.wrap("p1", &[9u8; 32]).unwrap();
        assert_eq!(server_with_offer.unwrap("p1", &wrapped), Err(CryptoError::Open));
        assert!(!offer.claim_proof_holds("p1", &server_with_offer.claim_proof("p1")));
        let claim = claim.pair(&fake_offer_msg).unwrap();
        let server_with_claim = fake_offer.pair(&claim_msg).unwrap();
        assert!(!server_with_claim.claim_proof_holds("p1", &claim.claim_proof("p1")));
    }

    #[test]
    fn bad_peer_messages_are_typed_errors() {
        let k = || CodeKey::generate("ABC123", CodeSide::Shows, PAIRING_PURPOSE);
        assert_eq!(k().public().len(), 32);
        assert!(matches!(k().pair("!!"), Err(CryptoError::Base64)));
        assert!(matches!(k().pair("AAAA"), Err(CryptoError::Agreement)));
        // Keys for another purpose do not agree.
        let other = CodeKey::generate("ABC123", CodeSide::Types, b"baton cobrowse");
        let shows = k();
        let shows_msg = shows.public_b64();
        let (a, b) = (shows.pair(&other.public_b64()).unwrap(), other.pair(&shows_msg).unwrap());
        assert!(!a.claim_proof_holds("p1", &b.claim_proof("p1")));
    }
}
