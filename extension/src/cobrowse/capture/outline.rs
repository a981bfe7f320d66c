//! The visitor's outline on what the operator does not see.
//!
//! Styles do not cross into shadow trees or frames, so every root the
//! recorder watches (the document, each same-origin frame's document, each
//! open or closed shadow root) adopts one constructed sheet of
//! [`mask::outline_css`](super::mask::outline_css). An adopted sheet is not
//! a node: it shifts no `:last-child` or `:nth-child` match of the page's.
//! The recorder leaves these sheets out of what it captures, and adopts one
//! again where the page replaced a root's list (checked with the style poll).

use js_sys::{Array, Function, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::CssStyleSheet;

/// `Node.DOCUMENT_NODE`.
const DOCUMENT: f64 = 9.0;

#[derive(Default)]
pub struct Outlines {
    /// The outline's CSS while outlines are on.
    css: Option<String>,
    /// Each outlined root and the sheet it adopted.
    sheets: Vec<(JsValue, CssStyleSheet)>,
}

impl Outlines {
    /// Turns outlines on for `roots` (and for roots added later).
    pub fn show<'a>(&mut self, css: String, roots: impl IntoIterator<Item = &'a JsValue>) {
        self.hide();
        self.css = Some(css);
        for root in roots {
            self.add(root);
        }
    }

    /// Takes every outline sheet out of its root; later roots get none.
    pub fn hide(&mut self) {
        self.css = None;
        for (root, sheet) in std::mem::take(&mut self.sheets) {
            let kept: Array =
                adopted_list(&root).into_iter().filter(|s| s != sheet.unchecked_ref::<JsValue>()).collect();
            let _ = Reflect::set(&root, &"adoptedStyleSheets".into(), &kept);
        }
    }

    /// Outlines `root` (a document or shadow root), while outlines are on.
    pub fn add(&mut self, root: &JsValue) {
        let Some(css) = &self.css else { return };
        if self.sheets.iter().any(|(r, _)| r == root) {
            return;
        }
        let Some(sheet) = sheet_in_realm_of(root) else { return };
        if sheet.replace_sync(css).is_err() {
            return;
        }
        if adopt(root, &sheet) {
            self.sheets.push((root.clone(), sheet));
        }
    }

    /// Forgets `root` (a frame's document that went away).
    pub fn remove(&mut self, root: &JsValue) {
        self.sheets.retain(|(r, _)| r != root);
    }

    /// Adopts the outline again where the page set a root's list anew.
    pub fn keep(&self) {
        for (root, sheet) in &self.sheets {
            if !adopted_list(root).iter().any(|s| s == sheet.unchecked_ref::<JsValue>()) {
                adopt(root, sheet);
            }
        }
    }

    /// Whether `sheet` is one of the outline's (never captured).
    pub fn owns(&self, sheet: &JsValue) -> bool {
        !self.sheets.is_empty() && self.sheets.iter().any(|(_, s)| s.unchecked_ref::<JsValue>() == sheet)
    }
}

fn adopted_list(root: &JsValue) -> Vec<JsValue> {
    Reflect::get(root, &"adoptedStyleSheets".into())
        .ok()
        .and_then(|v| v.dyn_into::<Array>().ok())
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// Appends `sheet` to `root`'s adopted sheets.
fn adopt(root: &JsValue, sheet: &CssStyleSheet) -> bool {
    let list: Array = adopted_list(root).into_iter().collect();
    list.push(sheet);
    Reflect::set(root, &"adoptedStyleSheets".into(), &list).unwrap_or(false)
}

/// A constructed sheet from `root`'s own window: a root adopts only sheets
/// made by its document's `CSSStyleSheet`, and a same-origin frame has its own.
fn sheet_in_realm_of(root: &JsValue) -> Option<CssStyleSheet> {
    let get = |v: &JsValue, key: &str| Reflect::get(v, &key.into()).ok().filter(|v| v.is_object() || v.is_function());
    let is_document = Reflect::get(root, &"nodeType".into()).ok().and_then(|t| t.as_f64()) == Some(DOCUMENT);
    let document = if is_document { root.clone() } else { get(root, "ownerDocument")? };
    let constructor = get(&get(&document, "defaultView")?, "CSSStyleSheet").filter(JsValue::is_function)?;
    let constructor: &Function = constructor.unchecked_ref();
    Reflect::construct(constructor, &Array::new()).ok().map(JsValue::unchecked_into)
}
