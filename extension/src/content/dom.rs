//! Reading form controls off the page: which ones are captured, their
//! identity ([`FieldKey`]) and their user-entered value. The page is
//! hostile: every DOM call may fail or return nonsense, and failing means
//! "not captured".

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{
    Document, Element, HtmlElement, HtmlInputElement, HtmlOptionElement, HtmlSelectElement, HtmlTextAreaElement,
};

use baton_shared::limits::{MAX_FIELDS_PER_PAGE, MAX_FIELD_VALUE};
use baton_shared::session::{FieldKey, FieldKind, FieldValue};

use super::classify::{classify, disguises, is_secret, may_disguise, user_editable, ElementFacts};
use super::text::non_empty;

#[wasm_bindgen]
extern "C" {
    type ComputedStyle;
    /// The global `getComputedStyle(element)`.
    #[wasm_bindgen(catch, js_name = getComputedStyle)]
    fn get_computed_style(element: &Element) -> Result<ComputedStyle, JsValue>;
    #[wasm_bindgen(method, catch, js_name = getPropertyValue)]
    fn property_value(this: &ComputedStyle, name: &str) -> Result<String, JsValue>;
}

/// The computed style property that shows a text field's text as shapes.
pub const TEXT_SECURITY: &str = "-webkit-text-security";
/// The computed style property that makes an element's content editable
/// as `contenteditable` does.
pub const USER_MODIFY: &str = "-webkit-user-modify";

/// One property of an element's computed style (an element of a
/// same-origin frame too); `None` when it cannot be read.
pub fn computed_style(element: &Element, property: &str) -> Option<String> {
    get_computed_style(element).ok()?.property_value(property).ok()
}

/// Whether a document is edited as a whole (`document.designMode`).
pub fn in_design_mode(doc: &Document) -> bool {
    js_sys::Reflect::get(doc, &"designMode".into())
        .ok()
        .and_then(|m| m.as_string())
        .is_some_and(|m| m.eq_ignore_ascii_case("on"))
}

/// Whether an element's computed style lets the user edit its content
/// (`-webkit-user-modify`); unknown counts as editable.
pub fn styled_editable(element: &Element) -> bool {
    user_editable(computed_style(element, USER_MODIFY).as_deref())
}

/// Whether an element's content is the user's input though no
/// `contenteditable` says so: its document is in design mode, or its style
/// makes it editable. Unknown counts as editable.
pub fn editable_by_mode_or_style(element: &Element) -> bool {
    element.owner_document().is_some_and(|d| in_design_mode(&d)) || styled_editable(element)
}

/// Whether a text field's computed style shows its text as shapes
/// (`-webkit-text-security`); unknown counts as shapes.
pub fn shows_shapes(element: &Element) -> bool {
    disguises(computed_style(element, TEXT_SECURITY).as_deref())
}

const SELECTOR: &str = "input, textarea, select, [contenteditable]";
/// Elements looked at per scan, so a page with a million inputs costs little.
const MAX_SCAN: u32 = 5_000;
const MAX_LABEL: usize = 120;
const MAX_IDENT: usize = 200;
const MAX_DEPTH: usize = 64;
const MAX_SIBLINGS: usize = 2_000;

pub struct Field {
    pub element: Element,
    pub key: FieldKey,
}

/// The selector of private blocks: `[data-baton-private]` and the
/// selectors the settings add (policy or the person). `None` when the
/// settings have not been read here: then every field counts as private.
pub fn private_selector() -> Option<String> {
    crate::settings::current().map(|e| e.settings.private_selector())
}

/// Whether `element` is inside a private block. Fail-closed: no settings,
/// or a selector the browser cannot parse, makes it private.
pub fn is_private(element: &Element, selector: Option<&str>) -> bool {
    match selector {
        Some(selector) => !matches!(element.closest(selector), Ok(None)),
        None => true,
    }
}

/// Every captured-kind field in the document, in document order.
pub fn fields(doc: &Document) -> Vec<Field> {
    let Ok(list) = doc.query_selector_all(SELECTOR) else {
        return Vec::new();
    };
    let private = private_selector();
    let mut out = Vec::new();
    for i in 0..list.length().min(MAX_SCAN) {
        let Some(element) = list.item(i).and_then(|n| n.dyn_into::<Element>().ok()) else {
            continue;
        };
        if let Some(kind) = kind_with(&element, private.as_deref()) {
            let key = key_of(doc, &element, kind);
            out.push(Field { element, key });
            if out.len() >= MAX_FIELDS_PER_PAGE {
                break;
            }
        }
    }
    out
}

/// The kind to capture `element` as, or `None` (see [`classify`]).
pub fn kind_of(element: &Element) -> Option<FieldKind> {
    kind_with(element, private_selector().as_deref())
}

thread_local! {
    /// Fields ever seen as secret on this page: a "show password" button
    /// turns a password field into a text field holding the same value.
    static SECRET_FIELDS: js_sys::WeakSet = js_sys::WeakSet::new();
}

/// Whether `element` is, or ever was, a secret field; remembers it if it
/// is one now. Called on every input and focus as well as on each scan, so
/// that a password shown as text before the next scan is still known.
pub fn once_secret(element: &Element) -> bool {
    let tag = element.local_name().to_ascii_lowercase();
    let attr = |name: &str| element.get_attribute(name);
    let secret_now = is_secret(
        &tag,
        attr("type").as_deref(),
        attr("autocomplete").as_deref(),
        attr("id").as_deref(),
        attr("name").as_deref(),
    );
    SECRET_FIELDS.with(|s| {
        if secret_now {
            s.add(element.unchecked_ref());
        }
        s.has(element.unchecked_ref())
    })
}

/// Whether `element` is a text field its page shows as shapes
/// (`-webkit-text-security`, a PIN or card number): secret like a password,
/// and remembered as one. A style that cannot be read counts as that.
/// Costs a style lookup: asked of the field an event happened on, and of a
/// field whose value is about to be captured.
pub fn disguised(element: &Element) -> bool {
    let tag = element.local_name().to_ascii_lowercase();
    if !may_disguise(&tag, element.get_attribute("type").as_deref()) {
        return false;
    }
    let secret = shows_shapes(element);
    if secret {
        SECRET_FIELDS.with(|s| s.add(element.unchecked_ref()));
    }
    secret
}

fn kind_with(element: &Element, private_selector: Option<&str>) -> Option<FieldKind> {
    if once_secret(element) {
        return None;
    }
    let tag = element.local_name().to_ascii_lowercase();
    let attr = |name: &str| element.get_attribute(name);
    let (input_type, autocomplete, id, name) = (attr("type"), attr("autocomplete"), attr("id"), attr("name"));
    let editing_host = !matches!(tag.as_str(), "input" | "textarea" | "select")
        && element.dyn_ref::<HtmlElement>().is_some_and(|e| {
            e.is_content_editable()
                && !e
                    .parent_element()
                    .and_then(|p| p.dyn_into::<HtmlElement>().ok())
                    .is_some_and(|p| p.is_content_editable())
        });
    let facts = ElementFacts {
        tag: &tag,
        input_type: input_type.as_deref(),
        multiple: element.has_attribute("multiple"),
        autocomplete: autocomplete.as_deref(),
        id: id.as_deref(),
        name: name.as_deref(),
        // `:disabled` also covers disabled fieldsets; an error counts as disabled.
        disabled: element.matches(":disabled").unwrap_or(true),
        hidden: element.has_attribute("hidden") || attr("aria-hidden").as_deref() == Some("true"),
        private: is_private(element, private_selector),
        editing_host,
    };
    classify(&facts)
}

fn key_of(doc: &Document, element: &Element, kind: FieldKind) -> FieldKey {
    let attr = |name: &str| element.get_attribute(name).and_then(|v| non_empty(&v, MAX_IDENT));
    let value_attr = match kind {
        // A checkbox or radio without `value` has the value "on".
        FieldKind::Checkbox | FieldKind::Radio => Some(attr("value").unwrap_or_else(|| "on".to_owned())),
        _ => None,
    };
    FieldKey {
        kind,
        id: attr("id"),
        name: attr("name"),
        autocomplete: attr("autocomplete").map(|a| a.to_ascii_lowercase()),
        label: label_of(doc, element),
        form_action: form_of(element).and_then(|f| f.get_attribute("action")).and_then(|a| non_empty(&a, MAX_IDENT)),
        value_attr,
        path: path_of(element),
    }
}

/// `<label for>` or a wrapping `<label>`, then `aria-label`,
/// `aria-labelledby`, and last the placeholder.
fn label_of(doc: &Document, element: &Element) -> Option<String> {
    let labels =
        js_sys::Reflect::get(element, &"labels".into()).ok().and_then(|l| l.dyn_into::<web_sys::NodeList>().ok());
    if let Some(text) =
        labels.and_then(|l| l.item(0)).and_then(|l| l.text_content()).and_then(|t| non_empty(&t, MAX_LABEL))
    {
        return Some(text);
    }
    if let Some(text) = element.get_attribute("aria-label").and_then(|t| non_empty(&t, MAX_LABEL)) {
        return Some(text);
    }
    if let Some(ids) = element.get_attribute("aria-labelledby") {
        let text: Vec<String> =
            ids.split_ascii_whitespace().take(8).filter_map(|id| doc.get_element_by_id(id)?.text_content()).collect();
        if let Some(text) = non_empty(&text.join(" "), MAX_LABEL) {
            return Some(text);
        }
    }
    element.get_attribute("placeholder").and_then(|t| non_empty(&t, MAX_LABEL))
}

fn form_of(element: &Element) -> Option<Element> {
    let form = js_sys::Reflect::get(element, &"form".into()).ok().and_then(|f| f.dyn_into::<Element>().ok());
    form.or_else(|| element.closest("form").ok().flatten())
}

/// `body/form[0]/div[2]/input[1]`: each step is the tag and the index among
/// same-tag siblings.
fn path_of(element: &Element) -> String {
    let mut steps = Vec::new();
    let mut current = element.clone();
    for _ in 0..MAX_DEPTH {
        let tag = current.local_name();
        if tag == "body" {
            break;
        }
        let mut index = 0;
        let mut sibling = current.previous_element_sibling();
        for _ in 0..MAX_SIBLINGS {
            let Some(s) = sibling else { break };
            if s.local_name() == tag {
                index += 1;
            }
            sibling = s.previous_element_sibling();
        }
        steps.push(format!("{tag}[{index}]"));
        match current.parent_element() {
            Some(parent) => current = parent,
            None => break,
        }
    }
    steps.push("body".to_owned());
    steps.reverse();
    steps.join("/")
}

/// The value the user entered; `None` when the field still holds what the
/// page put there (nothing to carry over).
pub fn value_of(element: &Element, kind: FieldKind) -> Option<FieldValue> {
    use FieldKind::*;
    let value = match kind {
        Checkbox | Radio => {
            let input = element.dyn_ref::<HtmlInputElement>()?;
            (input.checked() != input.default_checked()).then(|| FieldValue::Checked(input.checked()))?
        }
        Textarea => {
            let area = element.dyn_ref::<HtmlTextAreaElement>()?;
            let value = area.value();
            (Ok(&value) != area.default_value().as_ref()).then_some(FieldValue::Text(value))?
        }
        Select | SelectMultiple => {
            let select = element.dyn_ref::<HtmlSelectElement>()?;
            let options = select.options();
            let mut selected = Vec::new();
            let mut defaults = Vec::new();
            for i in 0..options.length().min(MAX_SCAN) {
                let Some(option) = options.item(i).and_then(|o| o.dyn_into::<HtmlOptionElement>().ok()) else {
                    continue;
                };
                if option.selected() {
                    selected.push(option.value());
                }
                if option.default_selected() {
                    defaults.push(option.value());
                }
            }
            // A single select without a default shows its first option.
            if defaults.is_empty() && kind == Select {
                if let Some(first) = options.item(0).and_then(|o| o.dyn_into::<HtmlOptionElement>().ok()) {
                    defaults.push(first.value());
                }
            }
            (selected != defaults).then_some(FieldValue::Selected(selected))?
        }
        Contenteditable => {
            let text = element.dyn_ref::<HtmlElement>()?.inner_text();
            (!text.trim().is_empty()).then_some(FieldValue::Text(text))?
        }
        Text | Email | Search | Url | Tel | Number | Date | DatetimeLocal | Month | Week | Time => {
            let input = element.dyn_ref::<HtmlInputElement>()?;
            let value = input.value();
            (value != input.default_value()).then_some(FieldValue::Text(value))?
        }
    };
    match &value {
        FieldValue::Text(t) if t.chars().count() > MAX_FIELD_VALUE => None,
        _ => Some(value),
    }
}
