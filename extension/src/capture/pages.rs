//! Page state from content scripts: checked against the sender, the
//! exclusions and the masking rules again, then sent as `page_state`.

use wasm_bindgen::JsValue;

use baton_shared::native::RequestBody;

use super::api;
use super::browser_types::MessageSender;
use super::sanitize::sanitize;
use crate::chrome;
use crate::content::messages::ContentMessage;
use crate::worker::host;

pub fn on_message(message: &JsValue, sender: &JsValue) {
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
