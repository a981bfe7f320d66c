//! The mirror's [`Dom`]: the document of the sandboxed `#mirror` frame.
//! Nodes are created in that document (never parsed from markup), after
//! [`super::sanitize`] has decided what may exist.
//!
//! A captured same-origin frame is an `<iframe sandbox="allow-same-origin">`
//! the mirror created without `src` or `srcdoc`: its document is the empty
//! one every such frame starts with, given a doctype (standards mode), and
//! the mirror's nodes, made in the mirror's document, are moved into it. Each frame has its own realm, so
//! nothing here asks `instanceof`.

use wasm_bindgen::JsCast;
use web_sys::{
    CanvasRenderingContext2d, Document, Element, HtmlCanvasElement, HtmlDialogElement, HtmlElement, HtmlIFrameElement,
    HtmlImageElement, Node,
};

use baton_shared::cobrowse::{NodeId, OnTop};

use super::mirror::Dom;
use super::sanitize::{Ns, FRAME_SANDBOX};

/// Mirror nodes live in the frame's realm, where `instanceof` against this
/// page's constructors is false: node types are told by `nodeType` and
/// `localName` instead.
pub fn as_element(node: &Node) -> Option<&Element> {
    (node.node_type() == Node::ELEMENT_NODE).then(|| node.unchecked_ref::<Element>())
}

fn local_name(node: &Node) -> String {
    as_element(node).map(|e| e.local_name()).unwrap_or_default()
}

/// The document inside a mirror frame: only an `<iframe>` that still has
/// exactly the mirror's sandbox.
fn frame_document(node: &Node) -> Option<Document> {
    let el = as_element(node)?;
    if el.local_name() != "iframe" || el.get_attribute("sandbox").as_deref() != Some(FRAME_SANDBOX) {
        return None;
    }
    el.unchecked_ref::<HtmlIFrameElement>().content_document()
}

/// Puts a mirror frame's document in standards mode.
///
/// The frame starts with the initial `about:blank` document, which is in
/// quirks mode, so the visitor's frame document would lay out differently
/// (box sizing of tables, line heights, percentage heights). Only the HTML
/// parser sets a document's mode, so the document is reopened and given a
/// doctype through `document.write` — a constant, never markup from the
/// visitor; the nodes are still moved in afterwards. The capture does not
/// record a frame's doctype, and pages without one are rare, so standards
/// mode is the better guess (the mirror's top document makes the same one).
/// `document.open` also sets the document's URL to the console's; its
/// origin and the frame's sandbox stay as they were.
fn standards_mode(doc: &Document) -> Result<(), wasm_bindgen::JsValue> {
    if doc.compat_mode() == "CSS1Compat" {
        return Ok(());
    }
    // `HtmlDocument`'s methods, without another web-sys feature.
    let call = |name: &str, args: &js_sys::Array| -> Result<(), wasm_bindgen::JsValue> {
        let f: js_sys::Function = js_sys::Reflect::get(doc, &name.into())?.dyn_into()?;
        f.apply(doc, args).map(|_| ())
    };
    call("open", &js_sys::Array::new())?;
    call("write", &js_sys::Array::of1(&"<!doctype html>".into()))?;
    call("close", &js_sys::Array::new())
}

/// A node's length as a range boundary sees it: characters of text, or
/// children.
fn boundary_len(node: &Node) -> u32 {
    match node.node_type() {
        Node::TEXT_NODE | Node::COMMENT_NODE | Node::CDATA_SECTION_NODE | Node::PROCESSING_INSTRUCTION_NODE => {
            node.node_value().map(|t| t.encode_utf16().count() as u32).unwrap_or(0)
        }
        _ => node.child_nodes().length(),
    }
}

pub struct FrameDom {
    pub frame: HtmlIFrameElement,
    /// mirror node → id, for hit tests.
    ids: js_sys::WeakMap,
    /// Documents whose selection [`Dom::select`] set last.
    selected: Vec<Document>,
}

impl FrameDom {
    pub fn new(frame: HtmlIFrameElement) -> FrameDom {
        FrameDom { frame, ids: js_sys::WeakMap::new(), selected: Vec::new() }
    }

    pub fn doc(&self) -> Option<Document> {
        self.frame.content_document()
    }

    /// The mirror's document, or the console's while the frame has none
    /// (nodes made there are adopted when inserted).
    fn doc_or_console(&self) -> Option<Document> {
        self.doc().or_else(|| web_sys::window()?.document())
    }

    /// The id of the element at a point of the visitor's viewport (or of its
    /// nearest captured ancestor).
    pub fn id_at(&self, x: i32, y: i32) -> Option<(NodeId, Element)> {
        let doc = self.doc()?;
        let (mut x, mut y) = (x as f64, y as f64);
        let mut hit = doc.element_from_point(x as f32, y as f32);
        // Into the mirror's own frames, in their coordinates.
        for _ in 0..16 {
            let Some(el) = hit.clone() else { break };
            let Some(inner) = frame_document(el.as_ref()) else { break };
            let r = el.get_bounding_client_rect();
            x -= r.left() + el.client_left() as f64;
            y -= r.top() + el.client_top() as f64;
            let inner_hit = inner.element_from_point(x as f32, y as f32);
            if inner_hit.is_none() {
                break;
            }
            hit = inner_hit;
        }
        let mut node: Option<Node> = hit.map(Into::into);
        while let Some(n) = node {
            let id = self.ids.get(n.unchecked_ref());
            if let Some(id) = id.as_f64() {
                if let Some(el) = as_element(&n) {
                    return Some((id as NodeId, el.clone()));
                }
            }
            node = n.parent_node().or_else(|| {
                // A shadow root's parent is its host.
                (n.node_type() == Node::DOCUMENT_FRAGMENT_NODE)
                    .then(|| js_sys::Reflect::get(&n, &"host".into()).ok())
                    .flatten()
                    .filter(|h| h.is_object())
                    .map(|h| h.unchecked_into::<Node>())
            });
        }
        None
    }

    /// An element's box in the top mirror document's viewport, through the
    /// mirror frames it is in.
    pub fn rect_in_mirror(&self, el: &Element) -> (f64, f64, f64, f64) {
        let r = el.get_bounding_client_rect();
        let (mut left, mut top) = (r.left(), r.top());
        let top_doc = self.doc();
        let mut doc = el.owner_document();
        for _ in 0..16 {
            let Some(d) = doc else { break };
            if top_doc.as_ref() == Some(&d) {
                break;
            }
            let Some(host) = d.default_view().and_then(|w| w.frame_element().ok().flatten()) else { break };
            let hr = host.get_bounding_client_rect();
            left += hr.left() + host.client_left() as f64;
            top += hr.top() + host.client_top() as f64;
            doc = host.owner_document();
        }
        (left, top, r.width(), r.height())
    }

    pub fn window_scroll(&self) -> (i32, i32) {
        self.frame
            .content_window()
            .map(|w| (w.scroll_x().unwrap_or(0.0) as i32, w.scroll_y().unwrap_or(0.0) as i32))
            .unwrap_or((0, 0))
    }
}

impl Dom for FrameDom {
    type N = Node;

    fn create_element(&mut self, ns: Ns, tag: &str) -> Option<Node> {
        let doc = self.doc()?;
        let el = match ns {
            Ns::Html => doc.create_element(tag),
            other => doc.create_element_ns(Some(other.uri()), tag),
        };
        el.ok().map(Into::into)
    }

    fn create_text(&mut self, text: &str) -> Option<Node> {
        Some(self.doc_or_console()?.create_text_node(text).into())
    }

    fn create_comment(&mut self, text: &str) -> Option<Node> {
        Some(self.doc_or_console()?.create_comment(text).into())
    }

    fn set_attr(&mut self, node: &Node, name: &str, value: &str) {
        if let Some(el) = as_element(node) {
            let _ = el.set_attribute(name, value);
        }
    }

    fn remove_attr(&mut self, node: &Node, name: &str) {
        if let Some(el) = as_element(node) {
            let _ = el.remove_attribute(name);
        }
    }

    fn set_text(&mut self, node: &Node, text: &str) {
        node.set_text_content(Some(text));
    }

    fn insert(&mut self, parent: &Node, child: &Node, before: Option<&Node>) {
        if let Some(b) = before {
            if let Some(p) = b.parent_node() {
                if p.insert_before(child, Some(b)).is_ok() {
                    return;
                }
            }
        }
        let _ = parent.append_child(child);
    }

    fn detach(&mut self, node: &Node) {
        if let Some(p) = node.parent_node() {
            let _ = p.remove_child(node);
        }
    }

    fn attach_shadow(&mut self, host: &Node) -> Option<Node> {
        let el = as_element(host)?;
        el.attach_shadow(&web_sys::ShadowRootInit::new(web_sys::ShadowRootMode::Open)).ok().map(Into::into)
    }

    fn set_root(&mut self, root: &Node) {
        let Some(doc) = self.doc() else { return };
        match doc.document_element() {
            Some(old) => {
                let _ = doc.replace_child(root, &old);
            }
            None => {
                let _ = doc.append_child(root);
            }
        }
    }

    fn fill_frame(&mut self, frame: &Node, root: &Node) -> bool {
        let Some(doc) = frame_document(frame) else { return false };
        if let Err(e) = standards_mode(&doc) {
            crate::chrome::log(&format!("baton console: a mirror frame stays in quirks mode: {e:?}"));
        }
        match doc.document_element() {
            Some(old) => doc.replace_child(root, &old).is_ok(),
            None => doc.append_child(root).is_ok(),
        }
    }

    fn select(&mut self, ranges: &[(Node, u32, Node, u32)]) {
        for doc in self.selected.drain(..) {
            if let Ok(Some(sel)) = doc.get_selection() {
                let _ = sel.remove_all_ranges();
            }
        }
        for (start, start_offset, end, end_offset) in ranges {
            let (Some(doc), Some(end_doc)) = (start.owner_document(), end.owner_document()) else { continue };
            if doc != end_doc {
                continue;
            }
            let Ok(range) = doc.create_range() else { continue };
            if range.set_start(start, (*start_offset).min(boundary_len(start))).is_err()
                || range.set_end(end, (*end_offset).min(boundary_len(end))).is_err()
            {
                continue;
            }
            if let Ok(Some(sel)) = doc.get_selection() {
                if !self.selected.contains(&doc) {
                    let _ = sel.remove_all_ranges();
                    self.selected.push(doc.clone());
                }
                let _ = sel.add_range(&range);
            }
        }
    }

    fn set_value(&mut self, node: &Node, value: Option<&str>, checked: Option<bool>) {
        // Set through `Reflect::set`, which returns a setter's exception: one
        // thrown through the Wasm would skip every destructor on the way,
        // the console's `RefCell` borrow of the mirror among them.
        let set = |name: &str, v: wasm_bindgen::JsValue| {
            let _ = js_sys::Reflect::set(node, &name.into(), &v);
        };
        match local_name(node).as_str() {
            "input" => {
                // A file input throws on any value but "" (the mirror gives it none).
                let file = node.unchecked_ref::<web_sys::HtmlInputElement>().type_() == "file";
                if let (Some(v), false) = (value, file) {
                    set("value", v.into());
                }
                if let Some(c) = checked {
                    set("checked", c.into());
                }
            }
            "textarea" | "select" => {
                if let Some(v) = value {
                    set("value", v.into());
                }
            }
            _ => {}
        }
    }

    fn scroll(&mut self, node: Option<&Node>, x: i32, y: i32) {
        match node {
            None => {
                if let Some(w) = self.frame.content_window() {
                    w.scroll_to_with_x_and_y(x as f64, y as f64);
                }
            }
            Some(n) => {
                let Some(el) = as_element(n) else { return };
                // A frame's document element stands for the frame's window.
                let window = el
                    .owner_document()
                    .filter(|d| d.document_element().as_ref() == Some(el))
                    .and_then(|d| d.default_view());
                match window {
                    Some(w) => w.scroll_to_with_x_and_y(x as f64, y as f64),
                    None => {
                        el.set_scroll_left(x);
                        el.set_scroll_top(y);
                    }
                }
            }
        }
    }

    fn register(&mut self, node: &Node, id: NodeId) {
        self.ids.set(node.unchecked_ref(), &wasm_bindgen::JsValue::from_f64(id as f64));
    }

    /// Through the same calls the page made, so the browser stacks, lays
    /// out and styles the element as on the visitor's side (`:modal`,
    /// `:popover-open`, `::backdrop`). Nothing in the mirror may take it
    /// down: its popovers are manual ones (the sanitiser), and a dialog is
    /// closed by no user action (`closedby`). Failures (an element the
    /// browser will not show) leave the element where it is.
    fn show_on_top(&mut self, node: &Node, how: OnTop) {
        let Some(el) = as_element(node) else { return };
        match how {
            OnTop::Modal if el.local_name() == "dialog" => {
                let dialog = el.unchecked_ref::<HtmlDialogElement>();
                // Open as a plain dialog already (its `open` attribute came
                // first): `showModal` refuses that one.
                if dialog.open() && !el.matches(":modal").unwrap_or(false) {
                    let _ = el.remove_attribute("open");
                }
                let _ = el.set_attribute("closedby", "none");
                let _ = dialog.show_modal();
            }
            OnTop::Modal => {}
            OnTop::Popover => {
                if el.get_attribute("popover").as_deref() != Some("manual") {
                    let _ = el.set_attribute("popover", "manual");
                }
                let _ = el.unchecked_ref::<HtmlElement>().show_popover();
            }
        }
    }

    /// Decoded in the console (a `data:` URL: nothing is fetched), then
    /// drawn by the console's script: the mirror runs none.
    fn paint_canvas(&mut self, canvas: &Node, image: &str) {
        let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return };
        let Ok(img) = doc.create_element("img") else { return };
        let img: HtmlImageElement = img.unchecked_into();
        img.set_src(image);
        let canvas: HtmlCanvasElement = canvas.clone().unchecked_into();
        wasm_bindgen_futures::spawn_local(async move {
            if wasm_bindgen_futures::JsFuture::from(img.decode()).await.is_err() {
                return;
            }
            let Ok(Some(ctx)) = canvas.get_context("2d") else { return };
            let ctx: CanvasRenderingContext2d = ctx.unchecked_into();
            let (w, h) = (f64::from(canvas.width()), f64::from(canvas.height()));
            ctx.clear_rect(0.0, 0.0, w, h);
            let _ = ctx.draw_image_with_html_image_element_and_dw_and_dh(&img, 0.0, 0.0, w, h);
        });
    }

    fn hide_from_top(&mut self, node: &Node, how: OnTop) {
        let Some(el) = as_element(node) else { return };
        match how {
            OnTop::Modal if el.matches(":modal").unwrap_or(false) => {
                // The page's change that took its `open` attribute away may
                // have come first: without it `close` does nothing, and the
                // dialog would stay modal, out of sight, the mirror inert.
                if !el.has_attribute("open") {
                    let _ = el.set_attribute("open", "");
                }
                el.unchecked_ref::<HtmlDialogElement>().close();
            }
            OnTop::Modal => {}
            OnTop::Popover => {
                let _ = el.unchecked_ref::<HtmlElement>().hide_popover();
            }
        }
    }
}
