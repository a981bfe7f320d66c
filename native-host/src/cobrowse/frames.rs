//! One frame on the wire: JSON → deflate → AES-256-GCM (see `keys.rs`) →
//! base64, and back, with the inflated size capped against zip bombs.

use std::io::{Read, Write};

use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;

use baton_shared::cobrowse::{Frame, Role, VisitorFrame};
use baton_shared::limits::{MAX_CHUNKED_MESSAGE, MAX_RELAY_MESSAGE};

use super::keys::FrameKey;
use crate::crypto::CryptoError;

/// A frame inflating beyond this could not be handed to the extension
/// anyway (framing refuses messages over it).
pub const MAX_INFLATED: usize = MAX_CHUNKED_MESSAGE;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("cannot encode the frame: {0}")]
    Encode(String),
    #[error("the frame is {size} bytes once sealed; the relay takes at most {MAX_RELAY_MESSAGE}")]
    TooLarge { size: usize },
    #[error("frame {seq} does not open with this session's key (damaged, or not from the other side): {source}")]
    Open { seq: u64, source: CryptoError },
    #[error("frame {seq} is not valid deflate data: {detail}")]
    Inflate { seq: u64, detail: String },
    #[error("frame {seq} inflates beyond {MAX_INFLATED} bytes")]
    Bomb { seq: u64 },
    #[error("frame {seq} is not a co-browsing frame: {detail}")]
    Parse { seq: u64, detail: String },
}

/// Frames worth moving off the runtime thread to encode or decode.
pub fn is_heavy(frame: &Frame) -> bool {
    matches!(
        frame,
        Frame::Visitor { frame: VisitorFrame::Snapshot(_) | VisitorFrame::Assets { .. } | VisitorFrame::Mutations(_) }
    )
}

/// Sealed ciphertext over this many base64 bytes is decoded off the runtime thread.
pub const HEAVY_CT: usize = 64 * 1024;

pub fn encode(key: &FrameKey, session_id: &str, from: Role, seq: u64, frame: &Frame) -> Result<String, FrameError> {
    let json = serde_json::to_vec(frame).map_err(|e| FrameError::Encode(e.to_string()))?;
    // Level 1: snapshots compress well even so, and latency matters more.
    let mut deflater = DeflateEncoder::new(Vec::with_capacity(json.len() / 4 + 64), Compression::fast());
    deflater.write_all(&json).map_err(|e| FrameError::Encode(e.to_string()))?;
    let deflated = deflater.finish().map_err(|e| FrameError::Encode(e.to_string()))?;
    let ct = key.seal(session_id, from, seq, &deflated).map_err(|e| FrameError::Encode(e.to_string()))?;
    if ct.len() + 128 > MAX_RELAY_MESSAGE {
        return Err(FrameError::TooLarge { size: ct.len() });
    }
    Ok(ct)
}

pub fn decode(key: &FrameKey, session_id: &str, from: Role, seq: u64, ct: &str) -> Result<Frame, FrameError> {
    let deflated = key.open(session_id, from, seq, ct).map_err(|source| FrameError::Open { seq, source })?;
    let mut json = Vec::with_capacity(deflated.len() * 4);
    DeflateDecoder::new(deflated.as_slice())
        .take(MAX_INFLATED as u64 + 1)
        .read_to_end(&mut json)
        .map_err(|e| FrameError::Inflate { seq, detail: e.to_string() })?;
    if json.len() > MAX_INFLATED {
        return Err(FrameError::Bomb { seq });
    }
    serde_json::from_slice(&json).map_err(|e| FrameError::Parse { seq, detail: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_shared::cobrowse::OperatorFrame;

    fn key() -> FrameKey {
        FrameKey::from_bytes(&[7; 32]).unwrap()
    }

    #[test]
    fn frames_round_trip_and_hide_their_text() {
        let frame = Frame::Visitor {
            frame: VisitorFrame::Navigated { url: "https://bank.example/".into(), title: "Secret title".into() },
        };
        let ct = encode(&key(), "s", Role::Visitor, 3, &frame).unwrap();
        assert!(!ct.contains("Secret"));
        assert_eq!(decode(&key(), "s", Role::Visitor, 3, &ct).unwrap(), frame);
        assert!(matches!(decode(&key(), "s", Role::Visitor, 4, &ct), Err(FrameError::Open { seq: 4, .. })));
        assert!(matches!(decode(&key(), "s", Role::Visitor, 3, "%%"), Err(FrameError::Open { .. })));
    }

    fn seal_raw(plain: &[u8]) -> String {
        key().seal("s", Role::Operator, 1, plain).unwrap()
    }

    #[test]
    fn bad_plaintext_is_a_typed_error() {
        assert!(matches!(
            decode(&key(), "s", Role::Operator, 1, &seal_raw(b"not deflate")),
            Err(FrameError::Inflate { .. })
        ));
        let mut d = DeflateEncoder::new(Vec::new(), Compression::fast());
        d.write_all(br#"{"dir":"nope"}"#).unwrap();
        let ct = seal_raw(&d.finish().unwrap());
        assert!(matches!(decode(&key(), "s", Role::Operator, 1, &ct), Err(FrameError::Parse { .. })));
        let ok = Frame::Operator { frame: OperatorFrame::KeyframeRequest };
        let ct = encode(&key(), "s", Role::Operator, 1, &ok).unwrap();
        assert_eq!(decode(&key(), "s", Role::Operator, 1, &ct).unwrap(), ok);
    }

    #[test]
    fn zip_bombs_are_refused() {
        let mut d = DeflateEncoder::new(Vec::new(), Compression::best());
        let zeros = vec![b' '; 1024 * 1024];
        for _ in 0..=(MAX_INFLATED / zeros.len()) {
            d.write_all(&zeros).unwrap();
        }
        let ct = seal_raw(&d.finish().unwrap());
        assert!(ct.len() < 1024 * 1024);
        assert!(matches!(decode(&key(), "s", Role::Operator, 1, &ct), Err(FrameError::Bomb { .. })));
    }
}
