//! Small DOM helpers for the console page. Text from the visitor or the
//! host only ever goes through `textContent` and attributes, never markup.

use wasm_bindgen::prelude::*;
use web_sys::{Document, Element, Event, HtmlElement};

pub fn by_id(doc: &Document, id: &str) -> Option<Element> {
    doc.get_element_by_id(id)
}

pub fn el(doc: &Document, tag: &str, class: &str) -> Element {
    let e = doc.create_element(tag).unwrap_or_else(|_| doc.create_element("div").unwrap_throw());
    if !class.is_empty() {
        e.set_class_name(class);
    }
    e
}

pub fn set_text(doc: &Document, id: &str, text: &str) {
    if let Some(e) = by_id(doc, id) {
        e.set_text_content(Some(text));
    }
}

pub fn set_attr(doc: &Document, id: &str, name: &str, value: &str) {
    if let Some(e) = by_id(doc, id) {
        let _ = e.set_attribute(name, value);
    }
}

/// Sets `data-state` and the text of `#id`.
pub fn set_state(doc: &Document, id: &str, state: &str, text: &str) {
    if let Some(e) = by_id(doc, id) {
        let _ = e.set_attribute("data-state", state);
        e.set_text_content(Some(text));
    }
}

pub fn set_hidden(doc: &Document, id: &str, hidden: bool) {
    if let Some(e) = by_id(doc, id) {
        let _ = if hidden { e.set_attribute("hidden", "") } else { e.remove_attribute("hidden") };
    }
}

pub fn set_disabled(doc: &Document, id: &str, disabled: bool) {
    if let Some(e) = by_id(doc, id) {
        let _ = if disabled { e.set_attribute("disabled", "") } else { e.remove_attribute("disabled") };
    }
}

/// Shows `text` in `#id` (hidden when empty).
pub fn show_message(doc: &Document, id: &str, text: &str) {
    set_text(doc, id, text);
    set_hidden(doc, id, text.is_empty());
}

pub fn style(doc: &Document, id: &str, css: &str) {
    set_attr(doc, id, "style", css);
}

pub fn value(doc: &Document, id: &str) -> String {
    let Some(e) = by_id(doc, id) else { return String::new() };
    if let Some(i) = e.dyn_ref::<web_sys::HtmlInputElement>() {
        return i.value();
    }
    if let Some(t) = e.dyn_ref::<web_sys::HtmlTextAreaElement>() {
        return t.value();
    }
    if let Some(s) = e.dyn_ref::<web_sys::HtmlSelectElement>() {
        return s.value();
    }
    String::new()
}

pub fn set_value(doc: &Document, id: &str, v: &str) {
    if let Some(i) = by_id(doc, id).and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok()) {
        i.set_value(v);
    }
}

pub fn checked(doc: &Document, id: &str) -> bool {
    by_id(doc, id).and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok()).is_some_and(|i| i.checked())
}

pub fn on(target: &web_sys::EventTarget, event: &str, f: impl FnMut(Event) + 'static) {
    let f: Closure<dyn FnMut(Event)> = Closure::new(f);
    let _ = target.add_event_listener_with_callback(event, f.as_ref().unchecked_ref());
    f.forget();
}

/// A listener that may call `preventDefault` (wheel).
pub fn on_active(target: &web_sys::EventTarget, event: &str, f: impl FnMut(Event) + 'static) {
    let f: Closure<dyn FnMut(Event)> = Closure::new(f);
    let opts = web_sys::AddEventListenerOptions::new();
    opts.set_passive(false);
    let _ = target.add_event_listener_with_callback_and_add_event_listener_options(
        event,
        f.as_ref().unchecked_ref(),
        &opts,
    );
    f.forget();
}

pub fn on_id(doc: &Document, id: &str, event: &str, f: impl FnMut(Event) + 'static) {
    if let Some(e) = by_id(doc, id) {
        on(&e, event, f);
    }
}

pub fn after(ms: i32, f: impl FnOnce() + 'static) -> i32 {
    let f = Closure::once_into_js(f);
    web_sys::window()
        .and_then(|w| w.set_timeout_with_callback_and_timeout_and_arguments_0(f.unchecked_ref(), ms).ok())
        .unwrap_or(0)
}

pub fn every(ms: i32, f: impl FnMut() + 'static) {
    let f: Closure<dyn FnMut()> = Closure::new(f);
    if let Some(w) = web_sys::window() {
        let _ = w.set_interval_with_callback_and_timeout_and_arguments_0(f.as_ref().unchecked_ref(), ms);
    }
    f.forget();
}

pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// This tab's session, kept across a reload of the page (and only then:
/// session storage is per tab).
const SESSION_KEY: &str = "baton.console.session";

pub fn remember_session(session_id: &str) {
    if let Some(s) = web_sys::window().and_then(|w| w.session_storage().ok().flatten()) {
        let _ = s.set_item(SESSION_KEY, session_id);
    }
}

pub fn session_memory() -> Option<String> {
    web_sys::window()?.session_storage().ok()??.get_item(SESSION_KEY).ok()?
}

pub fn size(doc: &Document, id: &str) -> (f64, f64) {
    by_id(doc, id)
        .and_then(|e| e.dyn_into::<HtmlElement>().ok())
        .map(|e| (e.client_width() as f64, e.client_height() as f64))
        .unwrap_or((0.0, 0.0))
}
