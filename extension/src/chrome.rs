//! The few extension APIs Baton uses, bound by hand. `chrome.*` is only
//! present in extension contexts, which is the only place this runs.

use serde::{de::DeserializeOwned, Serialize};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `runtime.Port`: a native messaging port or a port between extension contexts.
    pub type Port;

    #[wasm_bindgen(js_namespace = ["chrome", "runtime"], js_name = connectNative)]
    pub fn connect_native(application: &str) -> Port;

    #[wasm_bindgen(js_namespace = ["chrome", "runtime"], js_name = connect)]
    pub fn connect(info: &JsValue) -> Port;

    #[wasm_bindgen(method, js_name = postMessage, catch)]
    fn post_message_raw(this: &Port, message: &JsValue) -> Result<(), JsValue>;

    #[wasm_bindgen(method)]
    pub fn disconnect(this: &Port);

    #[wasm_bindgen(method, getter)]
    pub fn name(this: &Port) -> String;

    #[wasm_bindgen(method, getter, js_name = onMessage)]
    pub fn on_message(this: &Port) -> ChromeEvent;

    #[wasm_bindgen(method, getter, js_name = onDisconnect)]
    pub fn on_disconnect(this: &Port) -> ChromeEvent;

    pub type ChromeEvent;

    #[wasm_bindgen(method, js_name = addListener)]
    pub fn add_listener(this: &ChromeEvent, listener: &js_sys::Function);

    #[wasm_bindgen(js_name = setTimeout)]
    pub fn set_timeout(handler: &js_sys::Function, ms: i32) -> i32;

    #[wasm_bindgen(js_name = clearTimeout)]
    pub fn clear_timeout(handle: i32);
}

impl Port {
    /// Posts a serialisable message. A closed port is not an error worth
    /// surfacing: its onDisconnect handler deals with the consequences.
    pub fn send<T: Serialize>(&self, message: &T) -> bool {
        match to_js(message) {
            Some(value) => self.post_message_raw(&value).is_ok(),
            None => false,
        }
    }

    pub fn on_message_fn(&self, f: &Closure<dyn FnMut(JsValue)>) {
        self.on_message().add_listener(f.as_ref().unchecked_ref());
    }

    pub fn on_disconnect_fn(&self, f: &Closure<dyn FnMut(JsValue)>) {
        self.on_disconnect().add_listener(f.as_ref().unchecked_ref());
    }
}

impl Port {
    pub fn clone_port(&self) -> Port {
        JsValue::clone(self).unchecked_into()
    }

    pub fn is_same(&self, other: &Port) -> bool {
        JsValue::from(self.clone_port()) == JsValue::from(other.clone_port())
    }
}

/// Rust value → JS object, through JSON (the shape the wire already uses).
pub fn to_js<T: Serialize>(value: &T) -> Option<JsValue> {
    let text = serde_json::to_string(value).ok()?;
    js_sys::JSON::parse(&text).ok()
}

/// JS value → Rust value, with the JSON text kept for error messages.
pub fn from_js<T: DeserializeOwned>(value: &JsValue) -> Result<T, String> {
    let text: String =
        js_sys::JSON::stringify(value).map_err(|_| "message is not JSON-serialisable".to_owned())?.into();
    serde_json::from_str(&text).map_err(|e| format!("{e} in {}", truncate(&text, 200)))
}

/// `chrome.runtime.lastError.message`, read (and so acknowledged) inside a callback.
pub fn last_error() -> Option<String> {
    let chrome = js_sys::Reflect::get(&js_sys::global(), &"chrome".into()).ok()?;
    let runtime = js_sys::Reflect::get(&chrome, &"runtime".into()).ok()?;
    let error = js_sys::Reflect::get(&runtime, &"lastError".into()).ok()?;
    if error.is_undefined() || error.is_null() {
        return None;
    }
    js_sys::Reflect::get(&error, &"message".into()).ok()?.as_string()
}

pub fn log(message: &str) {
    web_sys::console::log_1(&message.into());
}

/// The time of day at `ms` (ms since the epoch) in the browser's locale:
/// hours and minutes.
pub fn local_time(ms: i64) -> String {
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &"hour".into(), &"2-digit".into());
    let _ = js_sys::Reflect::set(&options, &"minute".into(), &"2-digit".into());
    js_sys::Date::new(&JsValue::from_f64(ms as f64)).to_locale_time_string_with_options("default", &options).into()
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
