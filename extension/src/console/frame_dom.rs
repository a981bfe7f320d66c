//! The mirror's [`Dom`]: the document of the sandboxed `#mirror` frame.
//! Nodes are created in that document (never parsed from markup), after
//! [`super::sanitize`] has decided what may exist.

use wasm_bindgen::JsCast;
use web_sys::{Document, Element, HtmlIFrameElement, Node};

use baton_shared::cobrowse::NodeId;

use super::mirror::Dom;
use super::sanitize::Ns;

/// Mirror nodes live in the frame's realm, where `instanceof` against this
/// page's constructors is false: node types are told by `nodeType` and
/// `localName` instead.
pub fn as_element(node: &Node) -> Option<&Element> {
    (node.node_type() == Node::ELEMENT_NODE).then(|| node.unchecked_ref::<Element>())
}

fn local_name(node: &Node) -> String {
    as_element(node).map(|e| e.local_name()).unwrap_or_default()
}

pub struct FrameDom {
    pub frame: HtmlIFrameElement,
    /// mirror node → id, for hit tests.
    ids: js_sys::WeakMap,
}

impl FrameDom {
    pub fn new(frame: HtmlIFrameElement) -> FrameDom {
        FrameDom { frame, ids: js_sys::WeakMap::new() }
    }

    pub fn doc(&self) -> Option<Document> {
        self.frame.content_document()
    }

    /// The id of the element at a point of the visitor's viewport (or of its
    /// nearest captured ancestor).
    pub fn id_at(&self, x: i32, y: i32) -> Option<(NodeId, Element)> {
        let doc = self.doc()?;
        let mut node: Option<Node> = doc.element_from_point(x as f32, y as f32).map(Into::into);
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

    fn create_text(&mut self, text: &str) -> Node {
        match self.doc() {
            Some(doc) => doc.create_text_node(text).into(),
            None => web_sys::window().and_then(|w| w.document()).map(|d| d.create_text_node(text).into()).unwrap(),
        }
    }

    fn create_comment(&mut self, text: &str) -> Node {
        match self.doc() {
            Some(doc) => doc.create_comment(text).into(),
            None => web_sys::window().and_then(|w| w.document()).map(|d| d.create_comment(text).into()).unwrap(),
        }
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

    fn set_value(&mut self, node: &Node, value: Option<&str>, checked: Option<bool>) {
        match local_name(node).as_str() {
            "input" => {
                let input = node.unchecked_ref::<web_sys::HtmlInputElement>();
                if let Some(v) = value {
                    input.set_value(v);
                }
                if let Some(c) = checked {
                    input.set_checked(c);
                }
            }
            "textarea" => {
                if let Some(v) = value {
                    node.unchecked_ref::<web_sys::HtmlTextAreaElement>().set_value(v);
                }
            }
            "select" => {
                if let Some(v) = value {
                    node.unchecked_ref::<web_sys::HtmlSelectElement>().set_value(v);
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
                if let Some(el) = as_element(n) {
                    el.set_scroll_left(x);
                    el.set_scroll_top(y);
                }
            }
        }
    }

    fn register(&mut self, node: &Node, id: NodeId) {
        self.ids.set(node.unchecked_ref(), &wasm_bindgen::JsValue::from_f64(id as f64));
    }
}
