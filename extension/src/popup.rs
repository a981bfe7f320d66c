//! The toolbar popup: host link, server link and this device, kept live by
//! the service worker's [`View`] updates; plus the quick actions — open the
//! panel, send this tab to another device, pair a device.

use std::cell::RefCell;
use std::rc::Rc;

use baton_shared::native::{HostMessage, ServerState};
use web_sys::{Document, Element};

use crate::panel::client::{self, PageEvent};
use crate::panel::{pairing, send};
use crate::view::{self, HostState, View};

pub fn start() {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    // What the organisation turned off disappears; managed settings say so.
    crate::settings::marks::watch_popup(&document);
    // Filled in once the send control exists; events before that only carry the view.
    let sender: Rc<RefCell<Option<Rc<send::SendControl>>>> = Rc::new(RefCell::new(None));
    let linked = Rc::new(RefCell::new(false));

    let (doc, slot, was_linked) = (document.clone(), sender.clone(), linked.clone());
    let client = client::connect(move |event| match event {
        PageEvent::View(v) => {
            render(&doc, &v);
            // Newly able to reach the server: the device list may have changed.
            let now_linked = v.host == HostState::Connected
                && v.status.as_ref().is_some_and(|s| s.server.state == ServerState::Connected);
            if now_linked && !was_linked.replace(now_linked) {
                if let Some(s) = slot.borrow().as_ref() {
                    s.refresh();
                }
            } else {
                *was_linked.borrow_mut() = now_linked;
            }
        }
        PageEvent::Host(HostMessage::Delivery { send_id, state }) => {
            if let Some(s) = slot.borrow().as_ref() {
                s.on_delivery(&send_id, state);
            }
        }
        PageEvent::Host(HostMessage::RemoteChanged) => {
            if let Some(s) = slot.borrow().as_ref() {
                s.refresh();
            }
        }
        PageEvent::Host(_) | PageEvent::Consoles(_) => {}
        PageEvent::Lost => {
            set(&doc, "host-state", "disconnected", "The Baton extension restarted; reopen this popup");
        }
    });

    if let Some(container) = document.get_element_by_id("send") {
        let control = send::mount(&document, &container, client.clone());
        if *linked.borrow() {
            control.refresh();
        }
        *sender.borrow_mut() = Some(control);
    }
    if let Some(container) = document.get_element_by_id("pairing") {
        let slot = sender.clone();
        pairing::mount(&document, &container, client.clone(), move || {
            if let Some(s) = slot.borrow().as_ref() {
                s.refresh();
            }
        });
    }
    crate::cobrowse::visitor::share_ui::mount(&document, client.clone());
    on_click(&document, "retry", {
        let client = client.clone();
        move || client.reconnect()
    });
    crate::panel::remember_window();
    on_click(&document, "open-panel", || {
        let opening = crate::panel::open_panel();
        wasm_bindgen_futures::spawn_local(async move {
            match opening.await {
                Ok(()) => {
                    if let Some(w) = web_sys::window() {
                        let _ = w.close();
                    }
                }
                Err(e) => crate::chrome::log(&format!("baton: cannot open the panel: {e}")),
            }
        });
    });
}

fn on_click(doc: &Document, id: &str, mut f: impl FnMut() + 'static) {
    use wasm_bindgen::prelude::*;
    if let Some(button) = doc.get_element_by_id(id) {
        let on_click: Closure<dyn FnMut(JsValue)> = Closure::new(move |_: JsValue| f());
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
