//! Writing a saved value into a field, then telling the page's scripts
//! about it with the events typing would have produced.

use wasm_bindgen::JsCast;
use web_sys::{
    Element, Event, EventInit, HtmlElement, HtmlInputElement, HtmlOptionElement, HtmlSelectElement, HtmlTextAreaElement,
};

use baton_shared::session::{FieldKind, FieldValue};

use super::dom::kind_of;

/// Fills `element` (which must still classify as `kind`); returns whether it did.
pub fn fill(element: &Element, kind: FieldKind, value: &FieldValue) -> bool {
    use FieldKind::*;
    // Re-checked at the last moment: the page may have changed the element.
    if kind_of(element) != Some(kind) {
        return false;
    }
    let filled = match (kind, value) {
        (Checkbox | Radio, FieldValue::Checked(on)) => {
            element.dyn_ref::<HtmlInputElement>().map(|i| i.set_checked(*on))
        }
        (Textarea, FieldValue::Text(t)) => element.dyn_ref::<HtmlTextAreaElement>().map(|a| a.set_value(t)),
        (Select | SelectMultiple, FieldValue::Selected(values)) => element.dyn_ref::<HtmlSelectElement>().map(|s| {
            let options = s.options();
            for i in 0..options.length() {
                if let Some(option) = options.item(i).and_then(|o| o.dyn_into::<HtmlOptionElement>().ok()) {
                    option.set_selected(values.contains(&option.value()));
                }
            }
        }),
        (Contenteditable, FieldValue::Text(t)) => element.dyn_ref::<HtmlElement>().map(|e| e.set_inner_text(t)),
        (
            Text | Email | Search | Url | Tel | Number | Date | DatetimeLocal | Month | Week | Time,
            FieldValue::Text(t),
        ) => element.dyn_ref::<HtmlInputElement>().map(|i| i.set_value(t)),
        _ => None,
    };
    if filled.is_none() {
        return false;
    }
    for name in ["input", "change"] {
        let init = EventInit::new();
        init.set_bubbles(true);
        if let Ok(event) = Event::new_with_event_init_dict(name, &init) {
            let _ = element.dispatch_event(&event);
        }
    }
    true
}
