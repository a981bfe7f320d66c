//! Messages between the content script and the service worker (runtime
//! messaging). Tagged by `"baton"` so nothing else is mistaken for one.

use serde::{Deserialize, Serialize};

use baton_shared::session::PageState;

use crate::cobrowse::visitor::protocol::{FromPage, ToPage};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "baton", rename_all = "snake_case")]
pub enum ContentMessage {
    /// Content script → worker: loaded on `url`, ready to restore.
    Ready { url: String },
    /// Content script → worker: the page's form contents and scroll. The
    /// worker sets `tab_id` and `url` from the sender.
    PageState { page: PageState },
    /// Worker → content script: refill and scroll to this state.
    Restore { page: PageState },
    /// Content script loader → worker: the Wasm did not load (typically a
    /// Content-Security-Policy without `'wasm-unsafe-eval'`, which also
    /// binds content scripts); inject the JavaScript build instead.
    WasmBlocked { reason: String },
    /// Content script loader → worker: Baton's page code could not start on
    /// this page, not even as JavaScript.
    Unavailable { reason: String },
    /// Worker → content script: co-browsing (the tab is shared).
    CobrowseToPage { m: ToPage },
    /// Content script → worker: co-browsing.
    CobrowseFromPage { m: FromPage },
}

/// Whether saved state belongs on `url`: the same page, fragment aside.
pub fn same_page(a: &str, b: &str) -> bool {
    let strip = |u: &str| u.split('#').next().unwrap_or("").to_owned();
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_differ_only_beyond_the_fragment() {
        assert!(same_page("https://a/x?q=1#top", "https://a/x?q=1"));
        assert!(!same_page("https://a/x?q=1", "https://a/x?q=2"));
    }

    #[test]
    fn wire_shape() {
        let m = ContentMessage::Ready { url: "https://a/".into() };
        assert_eq!(serde_json::to_value(&m).unwrap(), serde_json::json!({"baton": "ready", "url": "https://a/"}));
        // What content.js sends when the page forbids WebAssembly.
        let blocked: ContentMessage =
            serde_json::from_value(serde_json::json!({"baton": "wasm_blocked", "reason": "CSP"})).unwrap();
        assert_eq!(blocked, ContentMessage::WasmBlocked { reason: "CSP".into() });
    }
}
