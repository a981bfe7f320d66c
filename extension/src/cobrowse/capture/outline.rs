//! The visitor's outline on what the operator does not see.
//!
//! Styles do not cross into shadow trees or frames, so every root the
//! recorder watches (the document, each same-origin frame's document, each
//! open or closed shadow root) adopts a constructed sheet of
//! [`mask::outline_css`](super::mask::outline_css), one sheet per document
//! shared by its shadow roots. An adopted sheet is not a node: it shifts no
//! `:last-child` or `:nth-child` match of the page's. The recorder leaves
//! these sheets out of what it captures, and adopts one again where the
//! page replaced a root's list (checked with the style poll).

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
    /// Each document's sheet: a root adopts only sheets its own document
    /// made, and a same-origin frame's document is another.
    sheets: Vec<(JsValue, CssStyleSheet)>,
    /// Each outlined root, and the index of its document's sheet.
    roots: Vec<(JsValue, usize)>,
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
        for (root, at) in std::mem::take(&mut self.roots) {
            let ours: &JsValue = self.sheets[at].1.unchecked_ref();
            let kept: Array = adopted_list(&root).into_iter().filter(|s| s != ours).collect();
            let _ = Reflect::set(&root, &"adoptedStyleSheets".into(), &kept);
        }
        self.sheets.clear();
    }

    /// Outlines `root` (a document or shadow root, each given once), while
    /// outlines are on.
    pub fn add(&mut self, root: &JsValue) {
        if self.css.is_none() {
            return;
        }
        let Some(at) = self.sheet_for(root) else { return };
        if adopt(root, &self.sheets[at].1) {
            self.roots.push((root.clone(), at));
        }
    }

    /// Forgets `root` (a frame's document that went away).
    pub fn remove(&mut self, root: &JsValue) {
        self.roots.retain(|(r, _)| r != root);
    }

    /// Adopts the outline again where the page set a root's list anew.
    pub fn keep(&self) {
        for (root, at) in &self.roots {
            let ours = &self.sheets[*at].1;
            // One `includes` per root: this runs every second over every watched root.
            if !adopted_array(root).is_some_and(|list| list.includes(ours, 0)) {
                adopt(root, ours);
            }
        }
    }

    /// Whether `sheet` is one of the outline's (never captured).
    pub fn owns(&self, sheet: &JsValue) -> bool {
        self.sheets.iter().any(|(_, s)| s.unchecked_ref::<JsValue>() == sheet)
    }

    /// The index of `root`'s document's sheet, made on first use.
    fn sheet_for(&mut self, root: &JsValue) -> Option<usize> {
        let get =
            |v: &JsValue, key: &str| Reflect::get(v, &key.into()).ok().filter(|v| v.is_object() || v.is_function());
        let is_document = Reflect::get(root, &"nodeType".into()).ok().and_then(|t| t.as_f64()) == Some(DOCUMENT);
        let document = if is_document { root.clone() } else { get(root, "ownerDocument")? };
        if let Some(at) = self.sheets.iter().position(|(d, _)| *d == document) {
            return Some(at);
        }
        // The document's own window's constructor: a sheet made by another
        // window's cannot be adopted there.
        let constructor = get(&get(&document, "defaultView")?, "CSSStyleSheet").filter(JsValue::is_function)?;
        let sheet: CssStyleSheet =
            Reflect::construct(constructor.unchecked_ref::<Function>(), &Array::new()).ok()?.unchecked_into();
        sheet.replace_sync(self.css.as_deref()?).ok()?;
        self.sheets.push((document, sheet));
        Some(self.sheets.len() - 1)
    }
}

/// `root.adoptedStyleSheets` (the page's array, read once), if it has one.
fn adopted_array(root: &JsValue) -> Option<Array> {
    Reflect::get(root, &"adoptedStyleSheets".into()).ok().and_then(|v| v.dyn_into::<Array>().ok())
}

/// `root.adoptedStyleSheets`, as a list (empty where there is none).
pub fn adopted_list(root: &JsValue) -> Vec<JsValue> {
    adopted_array(root).map(|a| a.iter().collect()).unwrap_or_default()
}

/// Appends `sheet` to `root`'s adopted sheets (a new array: the page's
/// own is left as it was).
fn adopt(root: &JsValue, sheet: &CssStyleSheet) -> bool {
    let list = adopted_array(root).map(|a| a.slice(0, a.length())).unwrap_or_default();
    list.push(sheet);
    Reflect::set(root, &"adoptedStyleSheets".into(), &list).unwrap_or(false)
}
