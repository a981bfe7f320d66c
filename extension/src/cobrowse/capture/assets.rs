//! Repeated assets (stylesheet text, large data URLs) travel once per
//! recorder life, addressed by the lowercase hex SHA-1 of their data.

use std::collections::HashSet;

use baton_shared::cobrowse::Asset;
use sha1::{Digest, Sha1};

pub const CSS: &str = "text/css";

/// Data URLs at least this long become assets; shorter ones stay inline.
pub const MIN_DATA_URL_ASSET: usize = 256;

pub fn sha1_hex(data: &[u8]) -> String {
    let digest = Sha1::digest(data);
    let mut out = String::with_capacity(40);
    for b in digest {
        out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
    }
    out
}

/// Remembers which hashes the operator has; collects the new ones.
#[derive(Debug, Default)]
pub struct AssetStore {
    sent: HashSet<String>,
    fresh: Vec<Asset>,
}

impl AssetStore {
    /// The hash of `data`; queued for sending if it was never sent.
    pub fn intern(&mut self, mime: &str, data: String) -> String {
        let hash = sha1_hex(data.as_bytes());
        if self.sent.insert(hash.clone()) {
            self.fresh.push(Asset { hash: hash.clone(), mime: mime.to_owned(), data });
        }
        hash
    }

    /// Assets queued since the last call, in first-seen order.
    pub fn take_fresh(&mut self) -> Vec<Asset> {
        std::mem::take(&mut self.fresh)
    }

    /// Forget what was sent (a keyframe after a gap: the console may have
    /// lost assets with the frames it missed).
    pub fn reset(&mut self) {
        self.sent.clear();
        self.fresh.clear();
    }
}

/// The MIME type of a `data:` URL long enough to be an asset.
pub fn data_url_mime(value: &str) -> Option<&str> {
    if value.len() < MIN_DATA_URL_ASSET || !value.get(..5)?.eq_ignore_ascii_case("data:") {
        return None;
    }
    let head = &value[5..value.find(',')?];
    let mime = head.split(';').next().unwrap_or("").trim();
    Some(if mime.is_empty() { "text/plain" } else { mime })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_of_known_input() {
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[test]
    fn repeated_assets_travel_once() {
        let mut store = AssetStore::default();
        let a = store.intern(CSS, "p{color:red}".into());
        let b = store.intern(CSS, "p{color:red}".into());
        let c = store.intern(CSS, "p{color:blue}".into());
        assert_eq!(a, b);
        assert_ne!(a, c);
        let fresh = store.take_fresh();
        assert_eq!(fresh.len(), 2);
        assert_eq!(fresh[0].hash, a);
        assert_eq!(fresh[0].mime, "text/css");
        assert!(store.take_fresh().is_empty());
        store.intern(CSS, "p{color:red}".into());
        assert!(store.take_fresh().is_empty(), "already sent");
        store.reset();
        store.intern(CSS, "p{color:red}".into());
        assert_eq!(store.take_fresh().len(), 1, "sent again after a reset");
    }

    #[test]
    fn data_urls() {
        let long = format!("data:image/png;base64,{}", "A".repeat(400));
        assert_eq!(data_url_mime(&long), Some("image/png"));
        assert_eq!(data_url_mime("data:image/png;base64,AAAA"), None, "short ones stay inline");
        let plain = format!("data:,{}", "x".repeat(400));
        assert_eq!(data_url_mime(&plain), Some("text/plain"));
        assert_eq!(data_url_mime(&format!("https://x/{}", "a".repeat(400))), None);
        assert_eq!(data_url_mime(&format!("data:{}", "a".repeat(400))), None, "no comma");
    }
}
