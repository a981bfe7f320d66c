//! Pairing: "Add a device" shows a short code with its expiry; "Join another
//! device's account" takes such a code. Built into a container so the popup
//! and the panel share it.

use std::cell::Cell;
use std::rc::Rc;

use baton_shared::native::{HostMessage, RequestBody};
use web_sys::{Document, Element};

use crate::panel::client::Client;
use crate::panel::dom::{self, append, attr, el, set_hidden, text};
use crate::panel::model;

/// Builds the pairing controls into `container`. `on_paired` runs after this
/// device joined an account (its device list changed).
pub fn mount(doc: &Document, container: &Element, client: Client, on_paired: impl Fn() + 'static) {
    let offer = el(doc, "div", "pair-offer");
    let start = text(doc, "button", "pair-start", "Add a device");
    attr(&start, "id", "pair-start");
    attr(&start, "type", "button");
    append(&offer, &start);
    let code_box = el(doc, "div", "pair-code-box");
    attr(&code_box, "id", "pair-code-box");
    set_hidden(&code_box, true);
    append(
        &code_box,
        &text(doc, "p", "hint", "On your other device, open Baton, choose “Join another device’s account” and type:"),
    );
    let code = el(doc, "output", "pair-code");
    attr(&code, "id", "pair-code");
    append(&code_box, &code);
    let expiry = el(doc, "p", "pair-expiry");
    attr(&expiry, "id", "pair-expiry");
    append(&code_box, &expiry);
    append(&offer, &code_box);
    append(container, &offer);

    let join = el(doc, "form", "pair-join");
    let label = text(doc, "label", "", "Join another device’s account");
    attr(&label, "for", "pair-input");
    append(&join, &label);
    let row = el(doc, "div", "row");
    let input = el(doc, "input", "pair-input");
    for (k, v) in [
        ("id", "pair-input"),
        ("autocomplete", "off"),
        ("spellcheck", "false"),
        ("placeholder", "Code shown on your other device"),
        ("maxlength", "64"),
    ] {
        attr(&input, k, v);
    }
    append(&row, &input);
    let button = text(doc, "button", "", "Join");
    attr(&button, "id", "pair-join");
    attr(&button, "type", "submit");
    append(&row, &button);
    append(&join, &row);
    let error = el(doc, "p", "pair-error");
    attr(&error, "id", "pair-error");
    attr(&error, "role", "alert");
    set_hidden(&error, true);
    append(&join, &error);
    let result = el(doc, "p", "pair-result");
    attr(&result, "id", "pair-result");
    set_hidden(&result, true);
    append(&join, &result);
    append(container, &join);

    // A newer code (or a newer countdown) retires the previous countdown.
    let generation = Rc::new(Cell::new(0u32));
    let c = client.clone();
    let (code2, expiry2, box2, start2) = (code.clone(), expiry.clone(), code_box.clone(), start.clone());
    dom::on(&start, "click", move |_| {
        let (c, code, expiry, code_box, start, generation) =
            (c.clone(), code2.clone(), expiry2.clone(), box2.clone(), start2.clone(), generation.clone());
        attr(&start, "disabled", "");
        wasm_bindgen_futures::spawn_local(async move {
            let reply = c.host(RequestBody::PairStart).await;
            let _ = start.remove_attribute("disabled");
            set_hidden(&code_box, false);
            match reply {
                Ok(HostMessage::PairCode { code: value, expires_ms, .. }) => {
                    attr(&code, "data-state", "active");
                    code.set_text_content(Some(&value));
                    start.set_text_content(Some("New code"));
                    generation.set(generation.get() + 1);
                    tick(code, expiry, expires_ms, generation.clone(), generation.get());
                }
                Ok(other) => show_offer_error(&code, &expiry, &format!("Unexpected answer: {other:?}")),
                Err(e) => show_offer_error(&code, &expiry, &model::pairing_error_text(e.code(), &e.to_string())),
            }
        });
    });

    let on_paired = Rc::new(on_paired);
    let doc2 = doc.clone();
    dom::on(&join, "submit", move |event| {
        event.prevent_default();
        let value = dom::input_value(&doc2, "pair-input").trim().to_owned();
        set_hidden(&result, true);
        if value.is_empty() {
            error.set_text_content(Some("Type the code shown on your other device."));
            set_hidden(&error, false);
            return;
        }
        set_hidden(&error, true);
        attr(&button, "disabled", "");
        button.set_text_content(Some("Joining…"));
        let (c, error, result, button, on_paired) =
            (client.clone(), error.clone(), result.clone(), button.clone(), on_paired.clone());
        wasm_bindgen_futures::spawn_local(async move {
            let reply = c.host(RequestBody::PairJoin { code: value }).await;
            let _ = button.remove_attribute("disabled");
            button.set_text_content(Some("Join"));
            match reply {
                Ok(HostMessage::Paired { .. }) => {
                    result.set_text_content(Some("Joined. This device now shares tabs with your other devices."));
                    set_hidden(&result, false);
                    on_paired();
                }
                Ok(other) => {
                    error.set_text_content(Some(&format!("Unexpected answer: {other:?}")));
                    set_hidden(&error, false);
                }
                Err(e) => {
                    attr(&error, "data-code", e.code().map(|c| c.as_str()).unwrap_or("none"));
                    error.set_text_content(Some(&model::pairing_error_text(e.code(), &e.to_string())));
                    set_hidden(&error, false);
                }
            }
        });
    });
}

fn show_offer_error(code: &Element, expiry: &Element, message: &str) {
    attr(code, "data-state", "error");
    code.set_text_content(Some(""));
    expiry.set_text_content(Some(message));
}

/// Updates the countdown every second until the code expires or a newer one replaces it.
fn tick(code: Element, expiry: Element, expires_ms: i64, generation: Rc<Cell<u32>>, mine: u32) {
    if generation.get() != mine {
        return;
    }
    match model::countdown(expires_ms, dom::now_ms()) {
        Some(left) => {
            expiry.set_text_content(Some(&format!("Expires in {left}")));
            dom::after(1000, move || tick(code, expiry, expires_ms, generation, mine));
        }
        None => {
            attr(&code, "data-state", "expired");
            expiry.set_text_content(Some("This code has expired. Choose “New code” for another."));
        }
    }
}
