//! `app.html`: the built-in apps an operator pushes (a document or image
//! viewer, a prefilled form), loaded in a sandboxed frame without
//! `allow-same-origin`, so it has an opaque origin: no cookies, no storage,
//! no extension APIs. Offered a port, it says the `hello` secret from its own
//! URL fragment (`#token.hello`, which the page around it cannot read) on
//! it, accepts one `init` carrying the token there, and then talks only over
//! that `MessagePort`: ordered events both ways.
//!
//! Events to the console: `{"type":"submitted","values":{name: value}}` when
//! the visitor sends the form. Events from the console:
//! `{"type":"set","name":…,"value":…}` changes a form field.

use std::cell::RefCell;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Document, Element, MessagePort};

use baton_shared::cobrowse::{App, AppState};

use super::model::{viewer_shows_image, viewer_url_ok, AppChannel, InOrder, Sequencer};
use crate::chrome;

#[derive(Default)]
struct Frame {
    port: Option<MessagePort>,
    out: Sequencer,
    inbox: InOrder,
    held: bool,
}

thread_local! {
    static FRAME: RefCell<Frame> = RefCell::new(Frame::default());
}

pub fn start() {
    let Some(win) = web_sys::window() else { return };
    let fragment = win.location().hash().unwrap_or_default();
    let Some((token, hello)) = fragment.trim_start_matches('#').split_once('.') else { return };
    if token.len() < 16 || hello.len() < 16 {
        return;
    }
    let (token, hello) = (token.to_owned(), hello.to_owned());
    let mut offers = 0u32;
    // Only Baton reaches this frame (it sits in a closed shadow root, out of
    // the page's `window.frames`), and the frame never posts to its parent:
    // the page hears nothing of it, neither the secret nor the frame's window.
    let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
        if FRAME.with(|f| f.borrow().port.is_some()) || offers >= MAX_OFFERS {
            return;
        }
        let Ok(raw) = chrome::from_js::<serde_json::Value>(&e.data()) else { return };
        let port = e.ports().get(0);
        if port.is_undefined() || AppChannel::parse(&raw) != Some(AppChannel::Offer) {
            return;
        }
        offers += 1;
        let port: MessagePort = port.unchecked_into();
        let token = token.clone();
        let this_port = port.clone();
        let on_offered = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            if FRAME.with(|f| f.borrow().port.is_some()) {
                return;
            }
            let Ok(raw) = chrome::from_js::<serde_json::Value>(&e.data()) else { return };
            if let Some(AppChannel::Init { token: t, app, .. }) = AppChannel::parse(&raw) {
                if t == token {
                    connect(this_port.clone(), &app);
                }
            }
        });
        port.set_onmessage(Some(on_offered.as_ref().unchecked_ref()));
        on_offered.forget();
        if let Some(value) = chrome::to_js(&AppChannel::Hello { hello: hello.clone() }) {
            let _ = port.post_message(&value);
        }
    });
    let _ = win.add_event_listener_with_callback("message", on_message.as_ref().unchecked_ref());
    on_message.forget();
}

/// Offers answered at most, per document.
const MAX_OFFERS: u32 = 32;

/// Takes `port` as the channel (the `init` came on it).
fn connect(port: MessagePort, app: &App) {
    let on_port = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(|e: web_sys::MessageEvent| on_port(e.data()));
    port.set_onmessage(Some(on_port.as_ref().unchecked_ref()));
    on_port.forget();
    FRAME.with(|f| f.borrow_mut().port = Some(port));
    render(app);
    post(&AppChannel::Ready);
}

fn post(message: &AppChannel) {
    let port = FRAME.with(|f| f.borrow().port.clone());
    if let (Some(port), Some(value)) = (port, chrome::to_js(message)) {
        let _ = port.post_message(&value);
    }
}

fn send_event(event: serde_json::Value) {
    let seq = FRAME.with(|f| f.borrow_mut().out.next_seq());
    post(&AppChannel::Event { seq, event });
}

fn on_port(data: JsValue) {
    let Ok(raw) = chrome::from_js::<serde_json::Value>(&data) else { return };
    match AppChannel::parse(&raw) {
        Some(AppChannel::Event { seq, event }) => {
            let events = FRAME.with(|f| f.borrow_mut().inbox.accept(seq, event));
            for event in events {
                apply(&event);
            }
        }
        Some(AppChannel::State { state }) => {
            let held = state == AppState::Held;
            FRAME.with(|f| f.borrow_mut().held = held);
            if let Some(body) = doc().and_then(|d| d.body()) {
                let _ = body.set_attribute("data-state", if held { "held" } else { "pushed" });
            }
        }
        _ => {}
    }
}

fn apply(event: &serde_json::Value) {
    if event["type"] == "set" {
        let (Some(name), Some(value)) = (event["name"].as_str(), event["value"].as_str()) else { return };
        let Some(doc) = doc() else { return };
        let Ok(fields) = doc.query_selector_all("input[name]") else { return };
        for i in 0..fields.length() {
            if let Some(input) = fields.get(i).and_then(|n| n.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                if input.name() == name {
                    input.set_value(value);
                }
            }
        }
    }
}

fn doc() -> Option<Document> {
    web_sys::window()?.document()
}

fn el(doc: &Document, tag: &str, text: Option<&str>) -> Element {
    let e = doc.create_element(tag).unwrap_throw();
    if let Some(t) = text {
        e.set_text_content(Some(t));
    }
    e
}

fn render(app: &App) {
    let Some(doc) = doc() else { return };
    let Some(body) = doc.body() else { return };
    body.set_text_content(None);
    let _ = body.set_attribute("data-state", "pushed");
    let main = el(&doc, "main", None);
    let _ = main.set_attribute(
        "data-app",
        match app {
            App::Viewer { .. } => "viewer",
            App::Form { .. } => "form",
            App::Module { .. } => "module",
        },
    );
    match app {
        App::Viewer { url, title } => {
            let _ = main.append_child(&el(&doc, "h1", Some(title)));
            if viewer_url_ok(url) {
                let view = if viewer_shows_image(url) {
                    let img = el(&doc, "img", None);
                    let _ = img.set_attribute("alt", title);
                    img
                } else {
                    let frame = el(&doc, "iframe", None);
                    let _ = frame.set_attribute("sandbox", "");
                    let _ = frame.set_attribute("title", title);
                    frame
                };
                let _ = view.set_attribute("src", url);
                let _ = view.set_attribute("referrerpolicy", "no-referrer");
                let _ = main.append_child(&view);
            }
        }
        App::Form { title, fields } => {
            let _ = main.append_child(&el(&doc, "h1", Some(title)));
            let form = el(&doc, "form", None);
            for field in fields {
                let label = el(&doc, "label", Some(&field.label));
                let input = el(&doc, "input", None);
                let _ = input.set_attribute("name", &field.name);
                if let Some(i) = input.dyn_ref::<web_sys::HtmlInputElement>() {
                    i.set_value(&field.value);
                }
                let _ = label.append_child(&input);
                let _ = form.append_child(&label);
            }
            let submit = el(&doc, "button", Some("Send"));
            let _ = submit.set_attribute("type", "submit");
            let _ = form.append_child(&submit);
            let me = form.clone();
            let on_submit = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
                e.prevent_default();
                if FRAME.with(|f| f.borrow().held) {
                    return;
                }
                let mut values = serde_json::Map::new();
                if let Ok(inputs) = me.query_selector_all("input[name]") {
                    for i in 0..inputs.length() {
                        if let Some(input) = inputs.get(i).and_then(|n| n.dyn_into::<web_sys::HtmlInputElement>().ok())
                        {
                            values.insert(input.name(), input.value().into());
                        }
                    }
                }
                send_event(serde_json::json!({ "type": "submitted", "values": values }));
            });
            let _ = form.add_event_listener_with_callback("submit", on_submit.as_ref().unchecked_ref());
            on_submit.forget();
            let _ = main.append_child(&form);
        }
        App::Module { .. } => {}
    }
    let held = el(&doc, "p", Some("On hold"));
    let _ = held.set_attribute("class", "held");
    let _ = body.append_child(&held);
    let _ = body.append_child(&main);
}
