//! Splitting host → browser messages that exceed the 1 MiB frame limit.
//!
//! A too-large message is serialised once, cut into [`CHUNK_RAW_BYTES`]
//! pieces, and each piece travels base64-encoded in a `chunk` frame. The
//! receiver concatenates the pieces of one `message_id` in `index` order and
//! parses the result as the original message.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::limits::{CHUNK_RAW_BYTES, MAX_CHUNKED_MESSAGE, MAX_FRAME_TO_BROWSER};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkFrame {
    pub message_id: u64,
    pub index: u32,
    pub count: u32,
    /// Base64 (standard alphabet, padded) of this piece's bytes.
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("message of {0} bytes exceeds the {MAX_CHUNKED_MESSAGE}-byte limit for chunked messages")]
    TooLarge(usize),
    #[error("chunk {index} of {count} is out of range")]
    OutOfRange { index: u32, count: u32 },
    #[error("chunk count changed within message {0}")]
    CountMismatch(u64),
    #[error("chunk data is not base64: {0}")]
    BadBase64(String),
    #[error("reassembled message is not UTF-8")]
    NotUtf8,
}

/// Split a serialised message into chunk frames, or return it whole when it fits.
pub fn split(message_id: u64, json: &str) -> Result<Vec<ChunkFrame>, ChunkError> {
    if json.len() > MAX_CHUNKED_MESSAGE {
        return Err(ChunkError::TooLarge(json.len()));
    }
    let pieces: Vec<&[u8]> = json.as_bytes().chunks(CHUNK_RAW_BYTES).collect();
    let count = pieces.len() as u32;
    Ok(pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| ChunkFrame {
            message_id,
            index: i as u32,
            count,
            data: base64::engine::general_purpose::STANDARD.encode(piece),
        })
        .collect())
}

/// True when a serialised message must be chunked to respect the frame limit.
pub fn needs_chunking(json: &str) -> bool {
    json.len() > MAX_FRAME_TO_BROWSER
}

/// Collects the chunks of messages in flight. Pieces may arrive interleaved
/// with other messages, but the pieces of one message arrive in order.
#[derive(Debug, Default)]
pub struct Reassembler {
    in_flight: std::collections::HashMap<u64, (u32, Vec<u8>, u32)>,
}

impl Reassembler {
    /// Feed one chunk; returns the whole message text once its last piece arrives.
    pub fn push(&mut self, frame: ChunkFrame) -> Result<Option<String>, ChunkError> {
        if frame.count == 0 || frame.index >= frame.count {
            self.in_flight.remove(&frame.message_id);
            return Err(ChunkError::OutOfRange { index: frame.index, count: frame.count });
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(frame.data.as_bytes())
            .map_err(|e| ChunkError::BadBase64(e.to_string()))?;
        let entry = self.in_flight.entry(frame.message_id).or_insert((frame.count, Vec::new(), 0));
        if entry.0 != frame.count || entry.2 != frame.index {
            self.in_flight.remove(&frame.message_id);
            return Err(ChunkError::CountMismatch(frame.message_id));
        }
        entry.1.extend_from_slice(&bytes);
        entry.2 += 1;
        if entry.1.len() > MAX_CHUNKED_MESSAGE {
            let len = entry.1.len();
            self.in_flight.remove(&frame.message_id);
            return Err(ChunkError::TooLarge(len));
        }
        if entry.2 < entry.0 {
            return Ok(None);
        }
        let (_, bytes, _) = self.in_flight.remove(&frame.message_id).unwrap_or_default();
        String::from_utf8(bytes).map(Some).map_err(|_| ChunkError::NotUtf8)
    }

    pub fn pending(&self) -> usize {
        self.in_flight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::HostMessage;

    #[test]
    fn round_trip_multibyte() {
        let text = "é😀x".repeat(CHUNK_RAW_BYTES); // pieces cut through code points
        let frames = split(9, &text).unwrap();
        assert!(frames.len() > 1);
        let mut r = Reassembler::default();
        let mut out = None;
        for f in frames {
            let wire = serde_json::to_string(&HostMessage::Chunk(f.clone())).unwrap();
            assert!(wire.len() <= MAX_FRAME_TO_BROWSER, "chunk frame {} bytes", wire.len());
            out = r.push(f).unwrap();
        }
        assert_eq!(out.as_deref(), Some(text.as_str()));
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn refuses_out_of_order_and_oversize() {
        let mut r = Reassembler::default();
        let bad = ChunkFrame { message_id: 1, index: 1, count: 2, data: String::new() };
        assert_eq!(r.push(bad), Err(ChunkError::CountMismatch(1)));
        let oob = ChunkFrame { message_id: 2, index: 3, count: 2, data: String::new() };
        assert!(matches!(r.push(oob), Err(ChunkError::OutOfRange { .. })));
        assert!(matches!(split(0, &"x".repeat(MAX_CHUNKED_MESSAGE + 1)), Err(ChunkError::TooLarge(_))));
    }
}
