//! The browser APIs the pages use directly: finding the tab to send and
//! opening the panel. (Opening remote tabs goes through the worker.)

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::chrome;
use crate::panel::model::BrowserTab;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["chrome", "tabs"], js_name = query, catch)]
    fn tabs_query(query: &JsValue) -> Result<js_sys::Promise, JsValue>;

    #[wasm_bindgen(js_namespace = ["chrome", "tabs"], js_name = create, catch)]
    fn tabs_create(properties: &JsValue) -> Result<js_sys::Promise, JsValue>;

    #[wasm_bindgen(js_namespace = ["chrome", "windows"], js_name = getCurrent, catch)]
    fn windows_get_current() -> Result<js_sys::Promise, JsValue>;
}

/// The tabs of the window this page belongs to (or the last focused one).
pub async fn current_window_tabs() -> Result<Vec<BrowserTab>, String> {
    let query = chrome::to_js(&serde_json::json!({ "currentWindow": true })).unwrap_or(JsValue::NULL);
    let promise = tabs_query(&query).map_err(describe)?;
    let tabs = JsFuture::from(promise).await.map_err(describe)?;
    chrome::from_js(&tabs)
}

/// Opens the panel: in the side panel where the browser has one (this must
/// run in a click handler), else in a new tab.
pub async fn open_panel() -> Result<(), String> {
    if let Some(open) = side_panel_open() {
        let window = JsFuture::from(windows_get_current().map_err(describe)?).await.map_err(describe)?;
        let id = js_sys::Reflect::get(&window, &"id".into()).unwrap_or(JsValue::UNDEFINED);
        let options = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&options, &"windowId".into(), &id);
        let side = js_sys::Reflect::get(&chrome_object()?, &"sidePanel".into()).map_err(describe)?;
        match open.call1(&side, &options) {
            Ok(promise) => {
                if JsFuture::from(js_sys::Promise::resolve(&promise)).await.is_ok() {
                    return Ok(());
                }
            }
            Err(e) => chrome::log(&format!("baton: side panel unavailable: {}", describe(e))),
        }
    }
    let properties = chrome::to_js(&serde_json::json!({ "url": "panel.html" })).unwrap_or(JsValue::NULL);
    JsFuture::from(tabs_create(&properties).map_err(describe)?).await.map_err(describe)?;
    Ok(())
}

fn chrome_object() -> Result<JsValue, String> {
    js_sys::Reflect::get(&js_sys::global(), &"chrome".into()).map_err(describe)
}

/// `chrome.sidePanel.open`, when this browser and the manifest provide it.
fn side_panel_open() -> Option<js_sys::Function> {
    let side = js_sys::Reflect::get(&chrome_object().ok()?, &"sidePanel".into()).ok()?;
    js_sys::Reflect::get(&side, &"open".into()).ok()?.dyn_into().ok()
}

fn describe(e: JsValue) -> String {
    js_sys::Reflect::get(&e, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "the browser refused".to_owned())
}
