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

thread_local! {
    /// The window this page belongs to, learnt ahead of time: `sidePanel.open`
    /// must be called within the click's user gesture, before any await.
    static WINDOW_ID: std::cell::Cell<Option<f64>> = const { std::cell::Cell::new(None) };
}

/// Looks up this page's window id for [`open_panel`]; call when the page starts.
pub fn remember_window() {
    wasm_bindgen_futures::spawn_local(async {
        let Ok(promise) = windows_get_current() else { return };
        if let Ok(window) = JsFuture::from(promise).await {
            let id = js_sys::Reflect::get(&window, &"id".into()).ok().and_then(|v| v.as_f64());
            WINDOW_ID.with(|w| w.set(id));
        }
    });
}

/// Opens the panel: in the side panel where the browser has one, else in a
/// new tab. Call it from the click handler itself: the side panel is asked
/// for synchronously, inside the user gesture; only the outcome is awaited.
pub fn open_panel() -> impl std::future::Future<Output = Result<(), String>> {
    let side = request_side_panel();
    async move {
        if let Some(promise) = side {
            match JsFuture::from(promise).await {
                Ok(_) => return Ok(()),
                Err(e) => chrome::log(&format!("baton: side panel refused: {}", describe(e))),
            }
        }
        let properties = chrome::to_js(&serde_json::json!({ "url": "panel.html" })).unwrap_or(JsValue::NULL);
        JsFuture::from(tabs_create(&properties).map_err(describe)?).await.map_err(describe)?;
        Ok(())
    }
}

fn request_side_panel() -> Option<js_sys::Promise> {
    let open = side_panel_open()?;
    let id = WINDOW_ID.with(|w| w.get())?;
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"windowId".into(), &JsValue::from_f64(id)).ok()?;
    let side = js_sys::Reflect::get(&chrome_object().ok()?, &"sidePanel".into()).ok()?;
    match open.call1(&side, &options) {
        Ok(result) => Some(js_sys::Promise::resolve(&result)),
        Err(e) => {
            chrome::log(&format!("baton: side panel unavailable: {}", describe(e)));
            None
        }
    }
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
