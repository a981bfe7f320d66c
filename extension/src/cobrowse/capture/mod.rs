//! The capture engine: what the operator's mirror is made of.
//!
//! [`Recorder::start`] walks the document in time slices, emits `Assets`
//! then a `Snapshot`, and from then on incremental frames (mutations,
//! input, scroll, pointer, selection, viewport) to the sink. Masking
//! happens here, before anything reaches the sink. Node ids that follow
//! from document order are left out of what is emitted
//! (`baton_shared::cobrowse::elide_ids`).
//!
//! ## Cost of the walk
//! Every DOM read is a call from Wasm into JS (~1 µs each), so the
//! snapshot reads the document's light tree in bulk ([`bulk`]): an XPath
//! snapshot lists its nodes, and browser built-ins read one property of
//! hundreds of them per call, so the read costs a few calls per 500 nodes
//! instead of several per node. Ids follow document order as before. The
//! read (up to `bulk::MAX_NODES` nodes) goes in steps, and assembling the
//! tree from it (`live/assembly.rs`, the same masking rules as the
//! per-node walk) node by node, both sliced like the walk; mutations in
//! between are held and applied after the snapshot, as for the walk. Shadow roots, iframe documents, mutations, larger
//! documents and any value the bulk read cannot carry are walked node by
//! node, with as few calls per node as it can (ids cross as plain numbers,
//! nodes are moved into the id table, attribute-free elements skip the
//! attribute calls). Scroll offsets (which force layout if the page
//! changed) are read once, after the walk. A slice works up to 20 ms while
//! the page has no input waiting (`isInputPending`), else up to
//! `limits::CAPTURE_SLICE_MS`: few yields, and no long task.
//!
//! The browser compiles Wasm functions on their first call, so a page's
//! first snapshot also pays for compiling the capture path: [`prepare`]
//! takes a throwaway snapshot while the visitor waits for the operator.
//!
//! ## Stylesheets and the CSSOM
//! Content scripts run in an isolated world, so wrapping
//! `CSSStyleSheet.prototype.insertRule` here would not see the page's calls.
//! Instead every `<style>`, `<link rel=stylesheet>` and adopted sheet the
//! snapshot captured is watched: its total rule count is compared on every
//! mutation batch and on a one-second poll, and a sheet whose count changed
//! (`insertRule`, `deleteRule`, `replaceSync`, a new adopted sheet) is read
//! again and sent as `Mutations.styles` if its text changed. A rule edited
//! in place without changing the count is picked up with the next change
//! to its owner or the next keyframe. Cross-origin sheets cannot be read
//! (`SecurityError`); their `<link href>` is kept instead. A sheet's text
//! takes in the sheets it imports and has its URLs made absolute
//! ([`sheet_text`]): the console reads it without the page.
//!
//! ## Baton's own UI
//! Any element with [`mask::UI_ATTR`] (`data-baton-ui`) is skipped with
//! everything inside it, in the snapshot and in mutations. The visitor's
//! outline is a constructed sheet each watched root adopts (`outline.rs`);
//! it is left out of the adopted sheets captured.

pub mod assets;
pub mod batch;
pub mod mask;
pub mod sheet_text;

#[cfg(target_arch = "wasm32")]
mod bulk;
#[cfg(target_arch = "wasm32")]
mod debug;
#[cfg(target_arch = "wasm32")]
mod live;
#[cfg(target_arch = "wasm32")]
mod outline;

use std::rc::Rc;

use baton_shared::cobrowse::{Node, NodeId, VisitorFrame};

pub use mask::{PRIVATE_ATTR, SAFE_ATTR, UI_ATTR};

/// `target[key]`, unless it is missing, `undefined` or `null`: how the
/// recorder reads what web-sys has no binding for (`CSSImportRule`'s
/// parts, `isInputPending`).
#[cfg(target_arch = "wasm32")]
fn get(target: &wasm_bindgen::JsValue, key: &str) -> Option<wasm_bindgen::JsValue> {
    let value = js_sys::Reflect::get(target, &wasm_bindgen::JsValue::from_str(key)).ok()?;
    (!value.is_undefined() && !value.is_null()).then_some(value)
}

/// Site or policy masking rules on top of the built-in ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaskPolicy {
    /// Extra selectors whose text, values, attributes and images are hidden.
    pub private_selectors: Vec<String>,
    /// Selectors of input fields whose values may be shown (never passwords,
    /// `cc-*` or one-time codes), besides those the site marks with
    /// [`SAFE_ATTR`].
    pub safe_selectors: Vec<String>,
}

#[cfg(target_arch = "wasm32")]
impl MaskPolicy {
    /// `[data-baton-private]` and the policy's private selectors, in one list.
    fn private_all(&self) -> String {
        mask::private_selector(mask::join_selectors(&self.private_selectors).as_deref())
    }

    /// This page's address and title as the operator may see them (see
    /// `live::page_label`): what a snapshot or a navigation tells.
    pub fn page_label(&self) -> (String, String) {
        let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return Default::default() };
        live::page_label(&doc, &self.private_all())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureError {
    /// The page has no document element yet.
    NoDocument,
    Unavailable(String),
}

pub type Sink = Rc<dyn Fn(VisitorFrame)>;

/// A running capture of the current document.
pub struct Recorder {
    #[cfg(target_arch = "wasm32")]
    inner: Rc<live::Shared>,
    #[cfg(not(target_arch = "wasm32"))]
    _sink: Sink,
}

#[cfg(target_arch = "wasm32")]
thread_local! {
    static PREPARING: std::cell::RefCell<Option<Recorder>> = const { std::cell::RefCell::new(None) };
}

/// Takes one snapshot whose frames go to `sink` and are then dropped, and
/// stops. The browser compiles Wasm functions on their first call, so the
/// first snapshot of a page pays for compiling the whole capture path; this
/// pays it while the visitor waits for the operator instead of when the
/// operator waits for the first frame. `sink` should do what the real one
/// does short of sending (e.g. convert the frame), so that is compiled too.
pub fn prepare(policy: MaskPolicy, sink: Sink) {
    #[cfg(target_arch = "wasm32")]
    {
        let done = Rc::new(move |frame: VisitorFrame| {
            let last = matches!(frame, VisitorFrame::Snapshot(_));
            sink(frame);
            if last {
                // Not from inside the recorder's own emit: in a task of its own.
                let stop = wasm_bindgen::closure::Closure::once_into_js(|| {
                    if let Some(r) = PREPARING.with(|p| p.borrow_mut().take()) {
                        r.stop();
                    }
                });
                if let Some(w) = web_sys::window() {
                    use wasm_bindgen::JsCast;
                    let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(stop.unchecked_ref(), 0);
                }
            }
        });
        if let Ok(r) = Recorder::start(policy, done) {
            if let Some(old) = PREPARING.with(|p| p.borrow_mut().replace(r)) {
                old.stop();
            }
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (policy, sink);
}

impl Recorder {
    /// Starts capturing: a snapshot (time-sliced), then incremental frames.
    /// The sink may be called from any later task; it must not assume it
    /// runs inside `start`.
    pub fn start(policy: MaskPolicy, sink: Sink) -> Result<Recorder, CaptureError> {
        #[cfg(target_arch = "wasm32")]
        {
            live::start(policy, sink).map(|inner| Recorder { inner })
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = policy;
            let _ = Recorder { _sink: sink };
            Err(CaptureError::Unavailable("capture needs a browser".into()))
        }
    }

    /// Sends a fresh snapshot (after a gap, a reconnect or a new console).
    /// Node ids restart, and assets are sent again.
    pub fn keyframe(&self) {
        #[cfg(target_arch = "wasm32")]
        live::keyframe(&self.inner);
    }

    /// The live node behind an id of the current snapshot.
    pub fn node(&self, id: NodeId) -> Option<web_sys::Node> {
        #[cfg(target_arch = "wasm32")]
        {
            live::node(&self.inner, id)
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = id;
            None
        }
    }

    /// The id of a live node, if captured.
    pub fn id_of(&self, node: &web_sys::Node) -> Option<NodeId> {
        #[cfg(target_arch = "wasm32")]
        {
            live::id_of(&self.inner, node)
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = node;
            None
        }
    }

    /// Whether the node is masked, private or a never-captured field (or
    /// inside one): control commands must refuse it. Unknown ids are
    /// protected.
    pub fn is_protected(&self, id: NodeId) -> bool {
        #[cfg(target_arch = "wasm32")]
        {
            live::is_protected(&self.inner, id)
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = id;
            true
        }
    }

    /// Shows or hides the visitor-side outline on everything hidden from the operator.
    pub fn set_outlines(&self, on: bool) {
        #[cfg(target_arch = "wasm32")]
        live::set_outlines(&self.inner, on);
        #[cfg(not(target_arch = "wasm32"))]
        let _ = on;
    }

    /// Stops observing and removes everything the recorder added to the page.
    pub fn stop(self) {
        #[cfg(target_arch = "wasm32")]
        live::stop(&self.inner);
    }
}

/// An element's local name from its `nodeName`: HTML elements in an HTML
/// document are upper-cased there, other elements keep their case; any
/// may carry a prefix (`createElementNS(ns, "X:STYLE")`), which is dropped.
pub fn local_name(mut node_name: String) -> String {
    if let Some(i) = node_name.rfind(':') {
        node_name.drain(..=i);
    }
    if !node_name.bytes().any(|b| b.is_ascii_lowercase()) {
        node_name.make_ascii_lowercase();
    }
    node_name
}

/// Puts `new` in the place of the node with id `id` in a captured tree
/// (among children, shadow children and frame documents), or takes that
/// node out for `None`; `false` when no node has that id. The root is
/// replaced too, but never taken out.
pub fn replace_node(tree: &mut Node, id: NodeId, new: Option<Node>) -> bool {
    if tree.id() == id {
        let Some(new) = new else { return false };
        *tree = new;
        return true;
    }
    let mut todo: Vec<&mut Node> = vec![tree];
    while let Some(n) = todo.pop() {
        let Node::Element { c, s, f, .. } = n else { continue };
        if f.as_ref().is_some_and(|d| d.id() == id) {
            *f = new.map(Box::new);
            return true;
        }
        for list in std::iter::once(&mut *c).chain(s.as_mut()) {
            if let Some(at) = list.iter().position(|k| k.id() == id) {
                match new {
                    Some(new) => list[at] = new,
                    None => {
                        list.remove(at);
                    }
                }
                return true;
            }
        }
        todo.extend(c.iter_mut());
        if let Some(s) = s {
            todo.extend(s.iter_mut());
        }
        if let Some(d) = f {
            todo.push(&mut **d);
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use baton_shared::cobrowse::{Node, Snapshot, VisitorFrame};

    fn el(i: u32, n: &str, a: Vec<(String, String)>, c: Vec<Node>) -> Node {
        Node::Element { i, n: n.into(), a, c, s: None, y: vec![], css: None, f: None, m: None }
    }

    #[test]
    fn a_node_is_replaced_wherever_it_is() {
        let text = |i: u32, v: &str| Node::Text { i, v: v.into() };
        let mut shadow_host = el(4, "x-card", vec![], vec![text(5, "light")]);
        if let Node::Element { s, .. } = &mut shadow_host {
            *s = Some(vec![el(6, "div", vec![], vec![text(7, "SECRET-IN-SHADOW")])]);
        }
        let mut frame = el(8, "iframe", vec![], vec![]);
        if let Node::Element { f, .. } = &mut frame {
            *f = Some(Box::new(el(9, "html", vec![], vec![el(10, "p", vec![], vec![text(11, "SECRET-IN-FRAME")])])));
        }
        let mut tree = el(
            1,
            "html",
            vec![],
            vec![el(2, "body", vec![], vec![el(3, "p", vec![], vec![text(12, "SECRET")]), shadow_host, frame])],
        );
        let placeholder = |i: u32| Node::element(i, "div", vec![], Some((1, 2)));
        assert!(super::replace_node(&mut tree, 3, Some(placeholder(20))));
        assert!(super::replace_node(&mut tree, 6, Some(placeholder(21))));
        assert!(super::replace_node(&mut tree, 10, None));
        assert!(super::replace_node(&mut tree, 9, Some(placeholder(22))));
        assert!(!super::replace_node(&mut tree, 99, None));
        assert!(!super::replace_node(&mut tree, 1, None), "the root is never taken out");
        let json = serde_json::to_string(&tree).unwrap_or_default();
        assert!(!json.contains("SECRET"), "{json}");
        assert!(
            json.contains("light")
                && json.contains("\"i\":20")
                && json.contains("\"i\":21")
                && json.contains("\"i\":22"),
            "{json}"
        );
    }

    /// A generated table like the benchmark's: the encoding stays compact.
    #[test]
    fn encoding_is_compact() {
        let mut id = 10;
        let mut rows = Vec::new();
        for r in 0..1000 {
            // Ids in document order, as the walk gives them.
            id += 1;
            let tr = id;
            let mut cells = Vec::new();
            for c in 0..4 {
                id += 2;
                cells.push(el(id - 1, "td", vec![], vec![Node::Text { i: id, v: format!("r{r}c{c}") }]));
            }
            rows.push(el(tr, "tr", vec![], cells));
        }
        let nodes = 1000 * 9;
        let table = el(3, "table", vec![("class".into(), "grid".into())], vec![el(4, "tbody", vec![], rows)]);
        let snap = VisitorFrame::Snapshot(Box::new(Snapshot {
            url: "https://example.test/".into(),
            title: "T".into(),
            doctype: Some("html".into()),
            root: el(1, "html", vec![], vec![el(2, "body", vec![], vec![table])]),
            viewport: (1280, 720),
            scroll: vec![],
            prefers: vec![],
            base: None,
            generation: 0,
        }));
        let bytes = serde_json::to_string(&snap).unwrap().len();
        let per_node = bytes as f64 / nodes as f64;
        // {"i":1234,"n":"td","c":[…]} and {"i":1235,"v":"r1c1"}: ~25 bytes per node, where
        // rrweb's {"type":2,"tagName":"td","attributes":{},"childNodes":[…],"id":1234} and
        // {"type":3,"textContent":"r1c1","id":1235} take ~65.
        assert!(per_node < 28.0, "{per_node:.1} bytes per node");
        // As emitted, ids that follow from document order are left out: ~15.
        let VisitorFrame::Snapshot(mut snap) = snap else { unreachable!() };
        baton_shared::cobrowse::elide_ids(&mut snap.root);
        let elided = serde_json::to_string(&VisitorFrame::Snapshot(snap)).unwrap().len();
        let per_node = elided as f64 / nodes as f64;
        assert!(per_node < 17.0, "{per_node:.1} bytes per node with implicit ids");
    }

    #[test]
    fn local_names_drop_case_and_prefixes_as_the_dom_does() {
        let cases = [("DIV", "div"), ("foreignObject", "foreignObject"), ("svg:rect", "rect"), ("X:STYLE", "style")];
        for (node_name, local) in cases {
            assert_eq!(super::local_name(node_name.to_owned()), local, "{node_name}");
        }
    }
}
