//! Running the operator's commands in the page, after
//! [`check_command`](super::model::check_command) passed: the element is
//! looked up through the recorder's ids, and typing goes through the same
//! events a person's typing fires (keydown, beforeinput, input, keyup, then
//! change), so the page's own handlers react.

use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement, HtmlInputElement, HtmlTextAreaElement};

use baton_shared::cobrowse::{Command, WINDOW};

use super::model::{open_url, Refusal};

/// Runs `command` on `node` (the live node behind its id, if any).
/// `may_scroll`: the Scroll scope is granted, so a click or typing may
/// bring its element into view; without it the page stays where the
/// visitor left it. `still_allowed` is asked again when a navigation
/// happens, a moment later: a revoke or a stop meanwhile cancels it.
pub fn run(
    command: &Command,
    node: Option<web_sys::Node>,
    may_scroll: bool,
    still_allowed: fn() -> bool,
) -> Result<(), Refusal> {
    let win = web_sys::window().ok_or(Refusal::NotActive)?;
    let element = || node.clone().and_then(|n| n.dyn_into::<Element>().ok()).filter(|e| e.is_connected());
    match command {
        Command::Click { .. } => {
            let element = element().ok_or(Refusal::NoSuchNode)?;
            click(&element, may_scroll);
            Ok(())
        }
        Command::TypeText { text, .. } => {
            let element = element().ok_or(Refusal::NoSuchNode)?;
            type_text(&element, text, may_scroll)
        }
        Command::ScrollTo { id, x, y } if *id == WINDOW => {
            win.scroll_to_with_x_and_y(f64::from(*x), f64::from(*y));
            Ok(())
        }
        Command::ScrollTo { x, y, .. } => {
            let element = element().ok_or(Refusal::NoSuchNode)?;
            element.scroll_to_with_x_and_y(f64::from(*x), f64::from(*y));
            Ok(())
        }
        Command::Navigate { url } => {
            let url = open_url(url).ok_or(Refusal::BadUrl)?;
            // After the result has left: the page goes away with this task.
            let f = wasm_bindgen::closure::Closure::once_into_js(move || {
                if !still_allowed() {
                    return;
                }
                if let Some(w) = web_sys::window() {
                    let _ = w.location().assign(&url);
                }
            });
            let _ = win.set_timeout_with_callback_and_timeout_and_arguments_0(f.unchecked_ref(), 50);
            Ok(())
        }
    }
}

/// The form control a click on `node` also operates: a `<label>`'s (the
/// node's own, or an ancestor's), whose activation clicks its control.
/// `Some(None)`: inside a label that operates nothing.
pub fn labelled_control(node: &web_sys::Node) -> Option<Option<web_sys::Node>> {
    let element = node.dyn_ref::<Element>()?;
    let label = element.closest("label").ok()??;
    // `HTMLLabelElement.control`: the `for` target or the first labelable descendant.
    let control = js_sys::Reflect::get(&label, &"control".into()).ok()?;
    Some(control.dyn_into::<web_sys::Node>().ok())
}

fn mouse(element: &Element, kind: &str, x: f64, y: f64) {
    let init = web_sys::MouseEventInit::new();
    init.set_bubbles(true);
    init.set_cancelable(true);
    init.set_composed(true);
    init.set_client_x(x as i32);
    init.set_client_y(y as i32);
    init.set_button(0);
    if let Ok(event) = web_sys::MouseEvent::new_with_mouse_event_init_dict(kind, &init) {
        let _ = element.dispatch_event(&event);
    }
}

/// Focuses `element`; the browser scrolls it into view only if `may_scroll`.
fn focus(element: &Element, may_scroll: bool) {
    if let Some(h) = element.dyn_ref::<HtmlElement>() {
        let options = web_sys::FocusOptions::new();
        options.set_prevent_scroll(!may_scroll);
        let _ = h.focus_with_options(&options);
    }
}

fn click(element: &Element, may_scroll: bool) {
    if may_scroll {
        element.scroll_into_view_with_bool(false);
    }
    let r = element.get_bounding_client_rect();
    let (x, y) = (r.left() + r.width() / 2.0, r.top() + r.height() / 2.0);
    for kind in ["pointerdown", "mousedown"] {
        mouse(element, kind, x, y);
    }
    focus(element, may_scroll);
    for kind in ["pointerup", "mouseup"] {
        mouse(element, kind, x, y);
    }
    match element.dyn_ref::<HtmlElement>() {
        // `click()` also performs the default action (links, buttons, checkboxes).
        Some(h) => h.click(),
        None => mouse(element, "click", x, y),
    }
}

fn keyboard(element: &Element, kind: &str, key: &str) {
    let init = web_sys::KeyboardEventInit::new();
    init.set_bubbles(true);
    init.set_cancelable(true);
    init.set_composed(true);
    init.set_key(key);
    if let Ok(event) = web_sys::KeyboardEvent::new_with_keyboard_event_init_dict(kind, &init) {
        let _ = element.dispatch_event(&event);
    }
}

fn input_event(element: &Element, kind: &str, data: &str) -> bool {
    let init = web_sys::InputEventInit::new();
    init.set_bubbles(true);
    init.set_cancelable(kind == "beforeinput");
    init.set_composed(true);
    init.set_data(Some(data));
    init.set_input_type("insertText");
    match web_sys::InputEvent::new_with_event_init_dict(kind, &init) {
        Ok(event) => element.dispatch_event(&event).unwrap_or(true),
        Err(_) => true,
    }
}

fn type_text(element: &Element, text: &str, may_scroll: bool) -> Result<(), Refusal> {
    let input = element.dyn_ref::<HtmlInputElement>();
    let area = element.dyn_ref::<HtmlTextAreaElement>();
    let editable = match (input, area) {
        (Some(i), _) => {
            let kind = i.type_().to_ascii_lowercase();
            !i.disabled()
                && !i.read_only()
                && matches!(kind.as_str(), "text" | "search" | "email" | "url" | "tel" | "number" | "")
        }
        (None, Some(a)) => !a.disabled() && !a.read_only(),
        (None, None) => element.dyn_ref::<HtmlElement>().is_some_and(|h| h.is_content_editable()),
    };
    if !editable {
        return Err(Refusal::NotEditable);
    }
    focus(element, may_scroll);
    for ch in text.chars() {
        let key = ch.to_string();
        keyboard(element, "keydown", &key);
        if input_event(element, "beforeinput", &key) {
            match (input, area) {
                (Some(i), _) => i.set_value(&format!("{}{key}", i.value())),
                (None, Some(a)) => a.set_value(&format!("{}{key}", a.value())),
                (None, None) => {
                    let doc = element.owner_document();
                    let _ = doc.map(|d| d.create_text_node(&key)).map(|t| element.append_child(&t));
                }
            }
            input_event(element, "input", &key);
        }
        keyboard(element, "keyup", &key);
    }
    if let Ok(change) = web_sys::Event::new_with_event_init_dict("change", &{
        let init = web_sys::EventInit::new();
        init.set_bubbles(true);
        init
    }) {
        let _ = element.dispatch_event(&change);
    }
    Ok(())
}
