//! Browser events forwarded by `background.js`, by name.

use wasm_bindgen::JsValue;

use super::browser_types::{BrowserTab, NavDetails, TabChange};
use super::{navigation, pages, tabs};
use crate::chrome;

pub fn dispatch(name: &str, args: &js_sys::Array) {
    let arg = |i: u32| args.get(i);
    match name {
        "tabs.onCreated"
        | "tabs.onMoved"
        | "tabs.onActivated"
        | "tabs.onAttached"
        | "tabs.onDetached"
        | "windows.onCreated"
        | "windows.onRemoved"
        | "windows.onFocusChanged"
        | "tabGroups.onUpdated"
        | "tabGroups.onRemoved" => tabs::changed(),
        "tabs.onRemoved" => {
            tabs::changed();
            if let Some(tab_id) = arg(0).as_f64() {
                navigation::forget(tab_id as i64);
                crate::restore::forget(tab_id as i64);
            }
        }
        "tabs.onUpdated" => {
            tabs::changed();
            let (Some(tab_id), Ok(change), Ok(tab)) =
                (arg(0).as_f64(), chrome::from_js::<TabChange>(&arg(1)), chrome::from_js::<BrowserTab>(&arg(2)))
            else {
                return;
            };
            let tab_id = tab_id as i64;
            if let Some(title) = &change.title {
                navigation::title_changed(tab_id, tab.url(), title);
            }
            if change.status.as_deref() == Some("complete") {
                crate::restore::tab_loaded(tab_id, tab.url());
            }
        }
        "webNavigation.onCommitted" => nav(&arg(0), false),
        "webNavigation.onHistoryStateUpdated" | "webNavigation.onReferenceFragmentUpdated" => nav(&arg(0), true),
        "runtime.onMessage" => pages::on_message(&arg(0), &arg(1)),
        // The settings (site lists, continuation on/off; the person's or the
        // policy's) may have changed: the snapshot drops what is no longer captured.
        "storage.onChanged" if matches!(arg(1).as_string().as_deref(), Some("local" | "managed")) => {
            crate::settings::store::changed();
            tabs::changed();
        }
        _ => {}
    }
}

fn nav(details: &JsValue, same_document: bool) {
    match chrome::from_js::<NavDetails>(details) {
        Ok(d) if d.frame_id == 0 && d.tab_id >= 0 => navigation::committed(d, same_document),
        Ok(_) => {}
        Err(e) => chrome::log(&format!("baton: unreadable navigation event: {e}")),
    }
}
