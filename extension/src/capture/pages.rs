//! Page state from content scripts: checked against the sender, the
//! exclusions and the masking rules again, then sent as `page_state`.

use serde::Deserialize;
use wasm_bindgen::JsValue;

use baton_shared::native::RequestBody;

use super::api;
use super::browser_types::MessageSender;
use super::sanitize::sanitize;
use crate::chrome;
use crate::content::messages::ContentMessage;
use crate::worker::host;

pub fn on_message(message: &JsValue, sender: &JsValue) {
    let sender_js = sender;
    let Ok(sender) = chrome::from_js::<MessageSender>(sender) else {
        return;
    };
    // Only this extension's own content scripts, in a tab's top frame.
    let own_id = js_sys::Reflect::get(&js_sys::global(), &"chrome".into())
        .and_then(|c| js_sys::Reflect::get(&c, &"runtime".into()))
        .and_then(|r| js_sys::Reflect::get(&r, &"id".into()))
        .ok()
        .and_then(|id| id.as_string());
    if sender.id.is_none() || sender.id != own_id || sender.frame_id != Some(0) {
        return;
    }
    let Some(tab) = sender.tab.filter(|t| !t.incognito) else {
        return;
    };
    let (Some(tab_id), Some(url)) = (tab.id, sender.url) else {
        return;
    };
    let Ok(message) = chrome::from_js::<ContentMessage>(message) else {
        return;
    };
    match message {
        ContentMessage::Ready { .. } => {
            crate::cobrowse::visitor::worker::page_runs_baton(tab_id, true);
            crate::restore::content_ready(tab_id, &url);
        }
        ContentMessage::WasmBlocked { reason } => {
            chrome::log(&format!(
                "baton: no WebAssembly in tab {tab_id} ({url}): {reason}; using the JavaScript build"
            ));
            wasm_bindgen_futures::spawn_local(inject_js_build(tab_id, document_id(sender_js)));
        }
        ContentMessage::Unavailable { reason } => {
            chrome::log(&format!("baton: Baton cannot run in tab {tab_id} ({url}): {reason}"));
            crate::cobrowse::visitor::worker::page_runs_baton(tab_id, false);
        }
        ContentMessage::PageState { mut page } => wasm_bindgen_futures::spawn_local(async move {
            if !api::exclusions().await.allows(&url) {
                return;
            }
            page.tab_id = tab_id;
            page.url = url;
            sanitize(&mut page);
            host::notify(RequestBody::PageState { page });
        }),
        ContentMessage::CobrowseFromPage { m } => crate::cobrowse::visitor::worker::on_page(tab_id, &url, m),
        ContentMessage::Restore { .. } | ContentMessage::CobrowseToPage { .. } => {}
    }
}

/// The content script's JavaScript build, in load order: the translated
/// module, wasm-bindgen's glue for it, the loader that starts it. Made by
/// `cargo xtask build` (xtask/src/content_js.rs).
const JS_BUILD: [&str; 3] =
    ["wasm/content-js/baton_extension_asm.js", "wasm/content-js/baton_extension.js", "content_fallback.js"];

/// Just the sender's `documentId` (Chrome 106+), to inject into the very
/// document that asked and not into whatever the frame shows by then.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct SenderDocument {
    document_id: Option<String>,
}

fn document_id(sender: &JsValue) -> Option<String> {
    chrome::from_js::<SenderDocument>(sender).ok().and_then(|s| s.document_id)
}

/// Runs the JavaScript build in the tab's top frame, in the content scripts'
/// world. Files the extension injects are not subject to the page's policy.
/// The loader reports `unavailable` itself if the build fails to start; a
/// failed injection is reported here.
async fn inject_js_build(tab_id: i64, document_id: Option<String>) {
    let target = match document_id {
        Some(id) => serde_json::json!({ "tabId": tab_id, "documentIds": [id] }),
        None => serde_json::json!({ "tabId": tab_id, "frameIds": [0] }),
    };
    let details = serde_json::json!({ "target": target, "files": JS_BUILD });
    if let Err(e) = api::call("scripting.executeScript", &[api::js(&details)]).await {
        chrome::log(&format!("baton: cannot inject the JavaScript build into tab {tab_id}: {e}"));
        crate::cobrowse::visitor::worker::page_runs_baton(tab_id, false);
    }
}
