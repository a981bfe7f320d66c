//! Windows and tabs: a complete snapshot, debounced, sent as `session_snapshot`.

use std::cell::RefCell;

use baton_shared::limits::CAPTURE_DEBOUNCE_MS;
use baton_shared::native::RequestBody;

use super::api::{self, call, js};
use super::browser_types::{snapshot, BrowserGroup, BrowserWindow};
use super::debounce;
use crate::chrome;
use crate::worker::host;

thread_local! {
    /// The last snapshot sent, so unchanged state is not resent.
    static LAST_SENT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Something about windows or tabs changed.
pub fn changed() {
    debounce::schedule("snapshot", CAPTURE_DEBOUNCE_MS, || wasm_bindgen_futures::spawn_local(send()));
}

/// The host (re)connected: it gets the snapshot even if unchanged.
pub fn resend() {
    LAST_SENT.with(|l| l.borrow_mut().take());
    changed();
}

async fn send() {
    let query = serde_json::json!({ "populate": true, "windowTypes": ["normal"] });
    let windows: Vec<BrowserWindow> = match call("windows.getAll", &[js(&query)]).await {
        Ok(w) => match chrome::from_js(&w) {
            Ok(w) => w,
            Err(e) => return chrome::log(&format!("baton: unreadable windows: {e}")),
        },
        Err(e) => return chrome::log(&format!("baton: cannot list windows: {e}")),
    };
    // Groups are decoration: without the API, tabs are sent ungrouped.
    let groups: Vec<BrowserGroup> = match call("tabGroups.query", &[js(&serde_json::json!({}))]).await {
        Ok(g) => chrome::from_js(&g).unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let exclusions = api::exclusions().await;
    let (windows, tabs) = snapshot(&windows, &groups, |url| exclusions.allows(url), api::now_ms());
    let body = RequestBody::SessionSnapshot { windows, tabs };
    let Ok(text) = serde_json::to_string(&body) else { return };
    if LAST_SENT.with(|l| l.borrow().as_deref() == Some(text.as_str())) {
        return;
    }
    if host::request(body).await.is_ok() {
        LAST_SENT.with(|l| *l.borrow_mut() = Some(text));
    }
}
