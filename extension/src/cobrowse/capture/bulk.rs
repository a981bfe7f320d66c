//! Reading a whole document tree in a fixed number of browser calls.
//!
//! Every DOM read from Wasm crosses into JS, and at ~1 µs a crossing the
//! per-node walk spends most of its time at the border. Here the browser's
//! own built-ins do the per-node work: an XPath snapshot lists the nodes in
//! document order, and `Array.prototype.map` with a DOM getter bound through
//! `Function.prototype.call` (a native function, no script of ours) reads
//! one property of every node in one call; `join("\0")` brings the strings
//! over as one. Node ids are the positions in that list (`forEach` with
//! `WeakMap.prototype.set`), so ids follow document order as the per-node
//! walk gives them.
//!
//! What cannot be read this way (form values, stylesheets, shadow roots,
//! iframes) is read per element by the caller, for the few elements that
//! need it. A text or attribute value containing NUL, a page over
//! [`MAX_NODES`], or any failure answers `None`/`Err`: the caller falls
//! back to the per-node walk.

use js_sys::{Array, Function, Object, Reflect, Uint32Array, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Document, Element, Node as DomNode};

use baton_shared::cobrowse::NodeId;

use super::live::IdMap;

/// Larger documents are walked node by node, in slices: reading them at
/// once would be a long task.
pub const MAX_NODES: u32 = 15_000;

/// `XPathResult.ORDERED_NODE_SNAPSHOT_TYPE`.
const ORDERED_SNAPSHOT: u16 = 7;
const SEP: &str = "\0";
const SEP_CHAR: char = '\0';

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = Document)]
    type XPathDocument;
    type XPathSnapshot;
    #[wasm_bindgen(method, catch, js_class = "Document", js_name = evaluate)]
    fn xpath(
        this: &XPathDocument,
        expression: &str,
        context: &DomNode,
        resolver: &JsValue,
        kind: u16,
        reuse: &JsValue,
    ) -> Result<XPathSnapshot, JsValue>;
    #[wasm_bindgen(method, getter, js_name = snapshotLength)]
    fn len(this: &XPathSnapshot) -> u32;

    /// A JS array, with the calls used here bound so that results cross
    /// as what they are (strings as Rust strings).
    #[wasm_bindgen(js_name = Array, extends = Array)]
    pub type List;
    /// `Array.from(source, mapFn)`.
    #[wasm_bindgen(catch, static_method_of = List, js_class = "Array", js_name = from)]
    fn from_map(source: &JsValue, map: &Function) -> Result<List, JsValue>;
    /// `list.map(f, thisArg)`.
    #[wasm_bindgen(method, catch, js_class = "Array", js_name = map)]
    fn map_with(this: &List, f: &Function, this_arg: &JsValue) -> Result<List, JsValue>;
    /// `list.forEach(f, thisArg)`.
    #[wasm_bindgen(method, catch, js_class = "Array", js_name = forEach)]
    fn for_each_with(this: &List, f: &Function, this_arg: &JsValue) -> Result<(), JsValue>;
    /// `list.join(sep)`, straight into a Rust string.
    #[wasm_bindgen(method, js_class = "Array", js_name = join)]
    fn join_str(this: &List, sep: &str) -> String;
}

/// Native functions, looked up once per recorder.
pub struct Natives {
    node_type: Function,
    node_name: Function,
    node_value: Function,
    parent_node: Function,
    attr_name: Function,
    attr_value: Function,
    owner_element: Function,
    scroll_top: Function,
    scroll_left: Function,
    weak_set: Function,
    weak_get: Function,
    weak_delete: Function,
    array_at: Function,
}

fn prototype(class: &str) -> Result<Object, JsValue> {
    Reflect::get(&Reflect::get(&js_sys::global(), &class.into())?, &"prototype".into())?.dyn_into()
}

fn method(class: &str, name: &str) -> Result<Function, JsValue> {
    let proto = prototype(class)?;
    Reflect::get(&proto, &name.into())?.dyn_into()
}

fn list(nodes: &web_sys::NodeList) -> List {
    Array::from(nodes).unchecked_into()
}

/// `Function.prototype.call.bind(getter)`: `f(node)` reads `node.<name>`.
fn getter(class: &str, name: &str) -> Result<Function, JsValue> {
    let desc = Object::get_own_property_descriptor(&prototype(class)?, &name.into());
    let get: Function = Reflect::get(&desc, &"get".into())?.dyn_into()?;
    Ok(method("Function", "call")?.bind0(&get))
}

impl Natives {
    pub fn new() -> Result<Natives, JsValue> {
        Ok(Natives {
            node_type: getter("Node", "nodeType")?,
            node_name: getter("Node", "nodeName")?,
            node_value: getter("Node", "nodeValue")?,
            parent_node: getter("Node", "parentNode")?,
            attr_name: getter("Attr", "name")?,
            attr_value: getter("Attr", "value")?,
            owner_element: getter("Attr", "ownerElement")?,
            scroll_top: getter("Element", "scrollTop")?,
            scroll_left: getter("Element", "scrollLeft")?,
            weak_set: method("WeakMap", "set")?,
            weak_get: method("WeakMap", "get")?,
            weak_delete: method("WeakMap", "delete")?,
            array_at: method("Array", "at")?,
        })
    }

    /// The ids of `nodes` (0 where unknown).
    fn ids_of(&self, nodes: &List, ids: &IdMap) -> Result<Vec<u32>, JsValue> {
        let found = nodes.map_with(&self.weak_get, ids)?;
        Ok(Uint32Array::new(&found).to_vec())
    }

    /// The nodes of `table` at `positions`.
    fn pick(&self, table: &List, positions: &[u32]) -> Result<List, JsValue> {
        List::from_map(&Uint32Array::from(positions), &self.array_at.bind0(table))
    }

    /// Forgets the ids of the nodes of `table` at `positions`.
    pub fn forget(&self, table: &List, positions: &[u32], ids: &IdMap) -> Result<(), JsValue> {
        if positions.is_empty() {
            return Ok(());
        }
        self.pick(table, positions)?.for_each_with(&self.weak_delete, ids)
    }

    /// Non-zero scroll offsets of the elements under `root` that match
    /// `selector`, by id: `(id, left, top)`.
    pub fn scroll_offsets(&self, root: &Element, selector: &str, ids: &IdMap) -> Result<Vec<(NodeId, i32, i32)>, JsValue> {
        let els = list(&root.query_selector_all(selector)?);
        els.push(root);
        let tops = els.map_with(&self.scroll_top, &JsValue::UNDEFINED)?;
        let tops = js_sys::Int32Array::new(&tops).to_vec();
        let lefts = els.map_with(&self.scroll_left, &JsValue::UNDEFINED)?;
        let lefts = js_sys::Int32Array::new(&lefts).to_vec();
        let nonzero: Vec<u32> =
            (0..tops.len()).filter(|&i| tops[i] != 0 || lefts.get(i).is_some_and(|&l| l != 0)).map(|i| i as u32).collect();
        if nonzero.is_empty() {
            return Ok(Vec::new());
        }
        let ids = self.ids_of(&self.pick(&els, &nonzero)?, ids)?;
        Ok(nonzero
            .iter()
            .zip(ids)
            .filter(|(_, id)| *id != 0)
            .map(|(&i, id)| (id, lefts[i as usize], tops[i as usize]))
            .collect())
    }
}

/// One document tree, read at once. Index = node id; index 0 is unused.
pub struct Tree {
    /// Index → live node (index 0 is a hole).
    pub table: List,
    pub kinds: Vec<u8>,
    /// `nodeName` per index ("#text" for text, the tag for elements).
    pub names: Vec<String>,
    /// `nodeValue` per index ("" for elements).
    pub values: Vec<String>,
    /// Parent id per index (0 for the root).
    pub parents: Vec<u32>,
    /// Attributes per index, in the element's order.
    pub attrs: Vec<Vec<(String, String)>>,
}

fn split(joined: &str, expected: usize) -> Option<Vec<String>> {
    let parts: Vec<String> = joined.split(SEP_CHAR).map(str::to_owned).collect();
    (parts.len() == expected).then_some(parts)
}

/// Reads the tree under `root` (included) and gives its nodes the ids
/// 1, 2, … in document order. `None` when the tree is too large or a value
/// holds the separator; nothing is recorded in `ids` then.
pub fn read(n: &Natives, doc: &Document, root: &Element, ids: &IdMap) -> Result<Option<Tree>, JsValue> {
    let doc: &XPathDocument = doc.unchecked_ref();
    let snap = doc.xpath("descendant-or-self::node()", root, &JsValue::NULL, ORDERED_SNAPSHOT, &JsValue::NULL)?;
    let count = snap.len();
    if count == 0 || count > MAX_NODES {
        return Ok(None);
    }
    let item: Function = Reflect::get(&snap, &"snapshotItem".into())?.dyn_into()?;
    // Position 0 asks for an item past the end (null) and is then deleted:
    // a hole, which `map` and `forEach` skip, so position = id.
    let mut positions = Vec::with_capacity(count as usize + 1);
    positions.push(count);
    positions.extend(0..count);
    let table = List::from_map(&Uint32Array::from(&positions[..]), &item.bind0(&snap))?;
    Reflect::delete_property(&table, &0.into())?;
    let slots = count as usize + 1;

    let names = split(&table.map_with(&n.node_name, &JsValue::UNDEFINED)?.join_str(SEP), slots);
    let values = split(&table.map_with(&n.node_value, &JsValue::UNDEFINED)?.join_str(SEP), slots);
    let (Some(names), Some(values)) = (names, values) else { return Ok(None) };
    let kinds = table.map_with(&n.node_type, &JsValue::UNDEFINED)?;
    let kinds = Uint8Array::new(&kinds).to_vec();

    let attr_snap = doc.xpath("descendant-or-self::*/@*", root, &JsValue::NULL, ORDERED_SNAPSHOT, &JsValue::NULL)?;
    let attr_count = attr_snap.len() as usize;
    let mut attrs: Vec<Vec<(String, String)>> = vec![Vec::new(); slots];
    let mut attr_nodes = None;
    if attr_count > 0 {
        let item: Function = Reflect::get(&attr_snap, &"snapshotItem".into())?.dyn_into()?;
        let list = List::from_map(&Uint32Array::from(&(0..attr_count as u32).collect::<Vec<_>>()[..]), &item.bind0(&attr_snap))?;
        let names = split(&list.map_with(&n.attr_name, &JsValue::UNDEFINED)?.join_str(SEP), attr_count);
        let values = split(&list.map_with(&n.attr_value, &JsValue::UNDEFINED)?.join_str(SEP), attr_count);
        let (Some(names), Some(values)) = (names, values) else { return Ok(None) };
        attr_nodes = Some((list, names, values));
    }

    // From here on the ids are recorded.
    table.for_each_with(&n.weak_set, ids)?;
    let parents = n.ids_of(&table.map_with(&n.parent_node, &JsValue::UNDEFINED)?, ids)?;
    if let Some((list, names, values)) = attr_nodes {
        let owners = n.ids_of(&list.map_with(&n.owner_element, &JsValue::UNDEFINED)?, ids)?;
        for ((owner, name), value) in owners.into_iter().zip(names).zip(values) {
            if let Some(a) = attrs.get_mut(owner as usize) {
                a.push((name, value));
            }
        }
    }
    if kinds.len() != slots || parents.len() != slots {
        table.for_each_with(&n.weak_delete, ids)?;
        return Ok(None);
    }
    Ok(Some(Tree { table, kinds, names, values, parents, attrs }))
}

/// The ids of the elements under `root` (included) matching `selector`.
pub fn matching(n: &Natives, root: &Element, selector: &str, ids: &IdMap) -> Result<Vec<NodeId>, JsValue> {
    let els = list(&root.query_selector_all(selector)?);
    if root.matches(selector)? {
        els.push(root);
    }
    if els.length() == 0 {
        return Ok(Vec::new());
    }
    let mut out = n.ids_of(&els, ids)?;
    out.retain(|&id| id != 0);
    out.sort_unstable();
    Ok(out)
}

/// An element's local name from its `nodeName`: HTML elements in an HTML
/// document are upper-cased there, other elements keep their case (and
/// may carry a prefix).
pub fn local_name(node_name: &str) -> String {
    if node_name.bytes().any(|b| b.is_ascii_lowercase()) {
        node_name.rsplit(':').next().unwrap_or(node_name).to_owned()
    } else {
        node_name.to_ascii_lowercase()
    }
}
