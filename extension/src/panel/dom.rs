//! Small DOM helpers. Remote text only ever goes through `textContent` and
//! attributes, never markup.

use wasm_bindgen::prelude::*;
use web_sys::{Document, Element, Event};

pub fn document() -> Option<Document> {
    web_sys::window()?.document()
}

/// A new element with a class (empty for none).
pub fn el(doc: &Document, tag: &str, class: &str) -> Element {
    // create_element fails only for invalid tag names, and ours are literals.
    let e = doc.create_element(tag).unwrap_or_else(|_| doc.create_element("div").unwrap_throw());
    if !class.is_empty() {
        e.set_class_name(class);
    }
    e
}

/// A new element holding `text` as text.
pub fn text(doc: &Document, tag: &str, class: &str, text: &str) -> Element {
    let e = el(doc, tag, class);
    e.set_text_content(Some(text));
    e
}

pub fn append(parent: &Element, child: &Element) {
    let _ = parent.append_child(child);
}

pub fn attr(e: &Element, name: &str, value: &str) {
    let _ = e.set_attribute(name, value);
}

pub fn set_hidden(e: &Element, hidden: bool) {
    let _ = if hidden { e.set_attribute("hidden", "") } else { e.remove_attribute("hidden") };
}

/// Sets `data-state` and the text of the element with `id`, if present.
pub fn set_state(doc: &Document, id: &str, state: &str, text: &str) {
    if let Some(e) = doc.get_element_by_id(id) {
        attr(&e, "data-state", state);
        e.set_text_content(Some(text));
    }
}

/// Adds a listener for the page's lifetime.
pub fn on(target: &web_sys::EventTarget, event: &str, f: impl FnMut(Event) + 'static) {
    let f: Closure<dyn FnMut(Event)> = Closure::new(f);
    let _ = target.add_event_listener_with_callback(event, f.as_ref().unchecked_ref());
    f.forget();
}

/// As [`on`], in the capture phase (for events that do not bubble, like an image's `error`).
pub fn on_capture(target: &web_sys::EventTarget, event: &str, f: impl FnMut(Event) + 'static) {
    let f: Closure<dyn FnMut(Event)> = Closure::new(f);
    let _ = target.add_event_listener_with_callback_and_bool(event, f.as_ref().unchecked_ref(), true);
    f.forget();
}

pub fn on_click(doc: &Document, id: &str, f: impl FnMut(Event) + 'static) {
    if let Some(e) = doc.get_element_by_id(id) {
        on(&e, "click", f);
    }
}

/// Runs `f` once after `ms`; returns the timer handle.
pub fn after(ms: i32, f: impl FnOnce() + 'static) -> i32 {
    let f = Closure::once_into_js(f);
    web_sys::window()
        .and_then(|w| w.set_timeout_with_callback_and_timeout_and_arguments_0(f.unchecked_ref(), ms).ok())
        .unwrap_or(0)
}

pub fn cancel(handle: i32) {
    if let Some(w) = web_sys::window() {
        w.clear_timeout_with_handle(handle);
    }
}

pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// The element (or its ancestor) an event happened on that matches `selector`.
pub fn closest(event: &Event, selector: &str) -> Option<Element> {
    event.target()?.dyn_into::<Element>().ok()?.closest(selector).ok()?
}

pub fn input_value(doc: &Document, id: &str) -> String {
    doc.get_element_by_id(id)
        .and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok())
        .map(|i| i.value())
        .unwrap_or_default()
}
