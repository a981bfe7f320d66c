//! Drawing the options page and saving a person's changes.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use baton_shared::cobrowse::Scope;
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Document, Element, HtmlInputElement, HtmlTextAreaElement};

use super::fields;
use crate::settings::keys::{Key, Kind};
use crate::settings::{marks, store, Effective, MANAGED_LABEL};

thread_local! {
    /// The outcome of the last change to each setting, kept across redraws.
    static STATUS: RefCell<BTreeMap<Key, String>> = const { RefCell::new(BTreeMap::new()) };
}

pub fn start() {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return };
    let page = doc.clone();
    store::watch(move |e| render(&page, e));
}

fn render(doc: &Document, e: &Effective) {
    if let Some(list) = doc.get_element_by_id("warnings") {
        marks::fill_warnings(doc, &list, e);
    }
    if let Some(summary) = doc.get_element_by_id("managed-summary") {
        summary.set_text_content(Some(&match e.locked.len() {
            0 => String::new(),
            1 => "1 setting is managed by your organization and cannot be changed here.".to_owned(),
            n => format!("{n} settings are managed by your organization and cannot be changed here."),
        }));
        marks::set_hidden(&summary, e.locked.is_empty());
    }
    let Some(form) = doc.get_element_by_id("settings") else { return };
    form.set_text_content(None);
    for key in Key::ALL {
        if let Some(row) = row(doc, key, e) {
            let _ = form.append_child(&row);
        }
    }
}

fn el(doc: &Document, tag: &str, class: &str, text: Option<&str>) -> Option<Element> {
    let e = doc.create_element(tag).ok()?;
    if !class.is_empty() {
        e.set_class_name(class);
    }
    if let Some(t) = text {
        e.set_text_content(Some(t));
    }
    Some(e)
}

fn row(doc: &Document, key: Key, e: &Effective) -> Option<Element> {
    let locked = e.is_locked(key);
    let row = el(doc, "div", "setting", None)?;
    row.set_id(&format!("setting-{}", key.name()));
    let _ = row.set_attribute("data-setting", key.name());
    let _ = row.set_attribute("data-managed", if locked { "true" } else { "false" });
    let id = format!("input-{}", key.name());
    let label = el(doc, "label", "", Some(key.label()))?;
    let _ = label.set_attribute("for", &id);
    let control = control(doc, key, e, &id, locked)?;
    if key.kind() == Kind::Bool {
        let _ = label.insert_before(&control, label.first_child().as_ref());
        let _ = row.append_child(&label);
    } else {
        let _ = row.append_child(&label);
        let _ = row.append_child(&control);
    }
    if locked {
        let badge = el(doc, "span", "managed", Some(MANAGED_LABEL))?;
        let _ = row.append_child(&badge);
    }
    let help = el(doc, "p", "help", Some(key.help()))?;
    let _ = row.append_child(&help);
    let said = STATUS.with(|s| s.borrow().get(&key).cloned());
    let status = el(doc, "p", "status", said.as_deref())?;
    status.set_id(&format!("status-{}", key.name()));
    let _ = row.append_child(&status);
    Some(row)
}

fn control(doc: &Document, key: Key, e: &Effective, id: &str, locked: bool) -> Option<Element> {
    let s = &e.settings;
    let control: Element = match key.kind() {
        Kind::Bool => {
            let input: HtmlInputElement = doc.create_element("input").ok()?.dyn_into().ok()?;
            input.set_type("checkbox");
            input.set_checked(fields::checked(key, s));
            input.set_disabled(locked);
            on_change(&input, key, |target| target.dyn_ref::<HtmlInputElement>().map(|i| Value::Bool(i.checked())));
            input.into()
        }
        Kind::Text | Kind::Integer => {
            let input: HtmlInputElement = doc.create_element("input").ok()?.dyn_into().ok()?;
            input.set_type(if key.kind() == Kind::Integer { "number" } else { "url" });
            input.set_value(&fields::text_of(key, s));
            input.set_disabled(locked);
            on_change(&input, key, move |target| {
                target.dyn_ref::<HtmlInputElement>().map(|i| fields::value_from_text(key, &i.value()))
            });
            input.into()
        }
        Kind::List => {
            let area: HtmlTextAreaElement = doc.create_element("textarea").ok()?.dyn_into().ok()?;
            area.set_value(&fields::text_of(key, s));
            area.set_rows(3);
            area.set_disabled(locked);
            on_change(&area, key, move |target| {
                target.dyn_ref::<HtmlTextAreaElement>().map(|a| fields::value_from_text(key, &a.value()))
            });
            area.into()
        }
        Kind::Scopes => {
            let group = el(doc, "fieldset", "scopes", None)?;
            for scope in Scope::ALL {
                let name = serde_json::to_value(scope).ok()?.as_str()?.to_owned();
                let label = el(doc, "label", "", None)?;
                let input: HtmlInputElement = doc.create_element("input").ok()?.dyn_into().ok()?;
                input.set_type("checkbox");
                input.set_value(&name);
                input.set_checked(s.scope_allowed(scope));
                input.set_disabled(locked);
                let _ = label.append_child(&input);
                let text = el(doc, "span", "", Some(&format!(" {name}")))?;
                let _ = label.append_child(&text);
                let _ = group.append_child(&label);
            }
            let g = group.clone();
            on_change(&group, key, move |_| {
                let boxes = g.query_selector_all("input[type=checkbox]").ok()?;
                let mut chosen = Vec::new();
                for i in 0..boxes.length() {
                    if let Some(b) = boxes.item(i).and_then(|n| n.dyn_into::<HtmlInputElement>().ok()) {
                        if b.checked() {
                            chosen.push(Value::String(b.value()));
                        }
                    }
                }
                Some(Value::Array(chosen))
            });
            group
        }
    };
    control.set_id(id);
    let _ = control.set_attribute("name", key.name());
    Some(control)
}

/// Saves the control's value on `change`; the page redraws from storage.
fn on_change(target: &web_sys::EventTarget, key: Key, read: impl Fn(&web_sys::EventTarget) -> Option<Value> + 'static) {
    let read = Rc::new(read);
    let this = target.clone();
    let handler = Closure::<dyn FnMut()>::new(move || {
        let Some(value) = read(&this) else { return };
        wasm_bindgen_futures::spawn_local(async move {
            let message = match store::set(key, value).await {
                Ok(()) => "Saved.".to_owned(),
                Err(e) => e.to_string(),
            };
            STATUS.with(|s| s.borrow_mut().insert(key, message.clone()));
            let status = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.get_element_by_id(&format!("status-{}", key.name())));
            if let Some(status) = status {
                status.set_text_content(Some(&message));
            }
        });
    });
    let _ = target.add_event_listener_with_callback("change", handler.as_ref().unchecked_ref());
    handler.forget();
}
