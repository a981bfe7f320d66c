//! The toolbar popup: host link, server link and this device, kept live by
//! the service worker's [`View`] updates.

use wasm_bindgen::prelude::*;
use web_sys::{Document, Element};

use crate::chrome::{self, Port};
use crate::view::{self, UiEvent, UiRequest, View};

pub fn start() {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let port = chrome::connect(&chrome::to_js(&serde_json::json!({"name": view::UI_PORT})).unwrap_or(JsValue::NULL));

    let doc = document.clone();
    let on_view: Closure<dyn FnMut(JsValue)> = Closure::new(move |raw: JsValue| match chrome::from_js::<UiEvent>(&raw) {
        Ok(UiEvent::View(v)) => render(&doc, &v),
        Ok(_) => {}
        Err(e) => chrome::log(&format!("baton: malformed message from the worker: {e}")),
    });
    port.on_message_fn(&on_view);
    on_view.forget();

    let doc = document.clone();
    let on_gone: Closure<dyn FnMut(JsValue)> = Closure::new(move |_: JsValue| {
        let _ = chrome::last_error();
        set(&doc, "host-state", "disconnected", "The Baton extension restarted; reopen this popup");
    });
    port.on_disconnect_fn(&on_gone);
    on_gone.forget();

    if let Some(button) = document.get_element_by_id("retry") {
        let port: Port = JsValue::from(port).unchecked_into();
        let on_click: Closure<dyn FnMut(JsValue)> = Closure::new(move |_: JsValue| {
            port.send(&UiRequest::Reconnect);
        });
        let _ = button.add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref());
        on_click.forget();
    }
}

fn render(doc: &Document, v: &View) {
    let (state, text) = view::host_line(v);
    set(doc, "host-state", state, &text);
    let (state, text) = view::server_line(v);
    set(doc, "server-state", state, &text);
    let (state, text) = view::device_line(v);
    set(doc, "device-name", state, &text);
    if let Some(button) = doc.get_element_by_id("retry") {
        toggle_hidden(&button, v.host != view::HostState::Disconnected);
    }
    if let Some(help) = doc.get_element_by_id("help") {
        toggle_hidden(&help, v.host != view::HostState::Disconnected);
    }
}

fn set(doc: &Document, id: &str, state: &str, text: &str) {
    if let Some(el) = doc.get_element_by_id(id) {
        let _ = el.set_attribute("data-state", state);
        el.set_text_content(Some(text));
    }
}

fn toggle_hidden(el: &Element, hidden: bool) {
    let _ = if hidden { el.set_attribute("hidden", "") } else { el.remove_attribute("hidden") };
}
