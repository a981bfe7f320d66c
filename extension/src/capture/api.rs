//! Calling `chrome.*` APIs by name from Rust. The promise-returning MV3
//! APIs are awaited; a missing API or a rejected call is an `Err` with the
//! browser's message, never a panic.

use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::chrome;

/// The browser's message of a thrown or rejected value.
pub fn js_error(e: &JsValue) -> String {
    js_sys::Reflect::get(e, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "unknown browser error".to_owned())
}

/// `chrome.<path>` (e.g. `"tabs.create"`) with `args`.
pub async fn call(path: &str, args: &[JsValue]) -> Result<JsValue, String> {
    let mut parts: Vec<&str> = path.split('.').collect();
    let method = parts.pop().ok_or("empty API path")?;
    let mut this = js_sys::Reflect::get(&js_sys::global(), &"chrome".into()).map_err(|e| js_error(&e))?;
    for part in parts {
        this = js_sys::Reflect::get(&this, &part.into()).map_err(|e| js_error(&e))?;
        if this.is_undefined() || this.is_null() {
            return Err(format!("chrome.{path} is not available"));
        }
    }
    let function: js_sys::Function = js_sys::Reflect::get(&this, &method.into())
        .map_err(|e| js_error(&e))?
        .dyn_into()
        .map_err(|_| format!("chrome.{path} is not a function"))?;
    let args: js_sys::Array = args.iter().collect();
    let result =
        js_sys::Reflect::apply(&function, &this, &args).map_err(|e| format!("chrome.{path}: {}", js_error(&e)))?;
    match result.dyn_into::<js_sys::Promise>() {
        Ok(promise) => JsFuture::from(promise).await.map_err(|e| format!("chrome.{path}: {}", js_error(&e))),
        Err(value) => Ok(value),
    }
}

/// A Rust value as a JS object (through JSON, the wire shape).
pub fn js<T: Serialize>(value: &T) -> JsValue {
    chrome::to_js(value).unwrap_or(JsValue::UNDEFINED)
}

pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// Resolves after `ms`. The timer calls the promise's own resolve function,
/// so no Rust closure has to outlive it.
pub async fn sleep(ms: u32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        chrome::set_timeout(&resolve, ms.min(i32::MAX as u32) as i32);
    });
    let _ = JsFuture::from(promise).await;
}

/// Which pages continuation may capture, from the merged settings
/// (`crate::settings`: policy over the person's values): nothing when
/// continuation is off or the settings cannot be read; else the site lists.
pub async fn exclusions() -> super::exclude::Exclusions {
    use super::exclude::Exclusions;
    match crate::settings::load().await {
        Ok(e) if !e.settings.continuation_enabled => Exclusions::Everything,
        Ok(e) => Exclusions::from_sites(&e.settings.allowed_sites, &e.settings.excluded_sites),
        Err(e) => {
            chrome::log(&format!("baton: {e}; capturing nothing"));
            Exclusions::Everything
        }
    }
}

/// A browser id (tab, window) as the number the APIs expect; `i64` would
/// become a `BigInt`, which they reject.
pub fn id(id: i64) -> JsValue {
    JsValue::from_f64(id as f64)
}
