//! Reading a whole document tree in a few browser calls per [`CHUNK`]
//! nodes.
//!
//! Every DOM read from Wasm crosses into JS, and at ~1 µs a crossing the
//! per-node walk spends most of its time at the border. Here the browser's
//! own built-ins do the per-node work: an XPath snapshot lists the nodes in
//! document order, and `Array.prototype.map` with a DOM getter bound through
//! `Function.prototype.call` (a native function, no script of ours) reads
//! one property of many nodes in one call; `join("\0")` brings the strings
//! over as one. Node ids are the positions in that list (`forEach` with
//! `WeakMap.prototype.set`), so ids follow document order as the per-node
//! walk gives them.
//!
//! What cannot be read this way (form values, stylesheets, shadow roots,
//! iframes) is read per element by the caller, for the few elements that
//! need it. A text or attribute value containing NUL, a page over
//! [`MAX_NODES`], or any failure gives up the read: the caller walks node
//! by node instead.

use js_sys::{Array, Function, Object, Reflect, Uint32Array, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Document, Element, Node as DomNode};

use baton_shared::cobrowse::NodeId;

use super::live::IdMap;
use super::mask;
use crate::content::classify::user_editable;
use crate::content::dom::USER_MODIFY;

/// Larger documents are walked node by node. The read is spread over
/// tasks, but listing the nodes and recording their ids are one call each.
pub const MAX_NODES: u32 = 60_000;

/// `XPathResult.ORDERED_NODE_SNAPSHOT_TYPE`.
const ORDERED_SNAPSHOT: u16 = 7;
const SEP: &str = "\0";
const SEP_CHAR: char = '\0';

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = Document)]
    #[derive(Clone)]
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
    #[wasm_bindgen(js_name = Uint8Array)]
    type Bytes;
    /// `Uint8Array.from(source, mapFn)`.
    #[wasm_bindgen(catch, static_method_of = Bytes, js_class = "Uint8Array", js_name = from)]
    fn from_map(source: &JsValue, map: &Function) -> Result<Uint8Array, JsValue>;
    /// `list.slice(start, end)`.
    #[wasm_bindgen(method, js_class = "Array", js_name = slice)]
    fn slice_list(this: &List, start: u32, end: u32) -> List;
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
    input_value: Function,
    textarea_value: Function,
    weak_set: Function,
    weak_get: Function,
    weak_delete: Function,
    array_at: Function,
    push: Function,
    /// `Array.of`, `Function.prototype.call.bind(Array.prototype.pop)` and
    /// `Boolean`: with them a list of elements becomes a list of one-element
    /// argument lists, and a list of results a list of flags.
    array_of: Function,
    pop: Function,
    boolean: Function,
    /// `Function.prototype.call.bind(Array.prototype.reverse)`.
    reverse: Function,
    /// `Function.prototype.apply.bind(getComputedStyle, globalThis)`: an
    /// argument list `[element]` to the element's computed style.
    computed_style: Function,
    /// `f([style, name])` is `style.getPropertyValue(name)`
    /// (`Function.prototype.apply` bound to `getPropertyValue` through `call`).
    property_value: Function,
    /// `openOrClosedShadowRoot.apply` bound to `chrome.dom` (it refuses the
    /// extra arguments `map` passes, so it is given argument lists), or the
    /// `shadowRoot` getter where `chrome.dom` is missing (open roots only).
    shadow_root: ShadowRead,
}

enum ShadowRead {
    Apply(Function),
    Getter(Function),
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

/// `Function.prototype.apply.bind(chrome.dom.openOrClosedShadowRoot, chrome.dom)`.
fn chrome_dom_shadow() -> Option<Function> {
    let chrome = Reflect::get(&js_sys::global(), &"chrome".into()).ok()?;
    let dom = Reflect::get(&chrome, &"dom".into()).ok().filter(|d| d.is_object())?;
    let f: Function = Reflect::get(&dom, &"openOrClosedShadowRoot".into()).ok()?.dyn_into().ok()?;
    let apply = method("Function", "apply").ok()?;
    method("Function", "bind").ok()?.call2(&apply, &f, &dom).ok()?.dyn_into().ok()
}

impl Natives {
    /// Which of `elements` host a shadow root (open or closed).
    fn shadow_hosts(&self, elements: &List) -> Result<Vec<u8>, JsValue> {
        let roots = match &self.shadow_root {
            ShadowRead::Apply(apply) => {
                let args = List::from_map(elements, &self.array_of)?;
                // [element, index] → [element]
                args.for_each_with(&self.pop, &JsValue::UNDEFINED)?;
                args.map_with(apply, &JsValue::UNDEFINED)?
            }
            ShadowRead::Getter(get) => elements.map_with(get, &JsValue::UNDEFINED)?,
        };
        Ok(Bytes::from_map(&roots, &self.boolean)?.to_vec())
    }

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
            input_value: getter("HTMLInputElement", "value")?,
            textarea_value: getter("HTMLTextAreaElement", "value")?,
            weak_set: method("WeakMap", "set")?,
            weak_get: method("WeakMap", "get")?,
            weak_delete: method("WeakMap", "delete")?,
            array_at: method("Array", "at")?,
            push: method("Array", "push")?,
            array_of: Reflect::get(&Reflect::get(&js_sys::global(), &"Array".into())?, &"of".into())?.dyn_into()?,
            pop: {
                let pop = method("Array", "pop")?;
                method("Function", "call")?.bind0(&pop)
            },
            boolean: Reflect::get(&js_sys::global(), &"Boolean".into())?.dyn_into()?,
            reverse: {
                let reverse = method("Array", "reverse")?;
                method("Function", "call")?.bind0(&reverse)
            },
            computed_style: {
                let global = js_sys::global();
                let f: Function = Reflect::get(&global, &"getComputedStyle".into())?.dyn_into()?;
                method("Function", "apply")?.bind1(&f, &global).unchecked_into()
            },
            property_value: {
                let get = method("CSSStyleDeclaration", "getPropertyValue")?;
                let call_get = method("Function", "call")?.bind0(&get);
                method("Function", "apply")?.bind1(&call_get, &JsValue::NULL).unchecked_into()
            },
            shadow_root: match chrome_dom_shadow() {
                Some(apply) => ShadowRead::Apply(apply),
                None => ShadowRead::Getter(getter("Element", "shadowRoot")?),
            },
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

    /// The live values of the `<input>` (`textarea: false`) or `<textarea>`
    /// elements of `table` at `positions`, in one read; `None` when a value
    /// holds the separator (or the read failed): the caller reads them one
    /// by one.
    pub fn field_values(&self, table: &List, positions: &[u32], textarea: bool) -> Option<Vec<String>> {
        if positions.is_empty() {
            return Some(Vec::new());
        }
        let get = if textarea { &self.textarea_value } else { &self.input_value };
        let values = self.pick(table, positions).ok()?.map_with(get, &JsValue::UNDEFINED).ok()?;
        split(&values.join_str(SEP), positions.len())
    }

    /// One property of the computed style of the elements of `table` at
    /// `positions` (elements of this document's tree), in one read; `None`
    /// when the read failed: the caller asks the elements one by one.
    pub fn computed_values(&self, table: &List, positions: &[u32], property: &str) -> Option<Vec<String>> {
        if positions.is_empty() {
            return Some(Vec::new());
        }
        let none = &JsValue::UNDEFINED;
        // [element, index] → [element]: `getComputedStyle` takes a second argument.
        let elements = self.pick(table, positions).ok()?;
        let args = List::from_map(&elements, &self.array_of).ok()?;
        args.for_each_with(&self.pop, none).ok()?;
        let styles = args.map_with(&self.computed_style, none).ok()?;
        // [name, style, index] → [style, name]
        let named: Function = self.array_of.bind1(&JsValue::NULL, &property.into()).unchecked_into();
        let args = List::from_map(&styles, &named).ok()?;
        args.for_each_with(&self.pop, none).ok()?;
        args.for_each_with(&self.reverse, none).ok()?;
        let values = args.map_with(&self.property_value, none).ok()?;
        split(&values.join_str(SEP), positions.len())
    }

    /// Forgets the ids of the nodes of `table` at `positions`.
    pub fn forget(&self, table: &List, positions: &[u32], ids: &IdMap) -> Result<(), JsValue> {
        if positions.is_empty() {
            return Ok(());
        }
        self.pick(table, positions)?.for_each_with(&self.weak_delete, ids)
    }

    /// Non-zero scroll offsets of the elements of `table` at `positions`
    /// (their ids), in two reads: `(id, left, top)`.
    pub fn scroll_offsets(&self, table: &List, positions: &[u32]) -> Result<Vec<(NodeId, i32, i32)>, JsValue> {
        if positions.is_empty() {
            return Ok(Vec::new());
        }
        let els = self.pick(table, positions)?;
        let tops = els.map_with(&self.scroll_top, &JsValue::UNDEFINED)?;
        let tops = js_sys::Int32Array::new(&tops).to_vec();
        let lefts = els.map_with(&self.scroll_left, &JsValue::UNDEFINED)?;
        let lefts = js_sys::Int32Array::new(&lefts).to_vec();
        if tops.len() != positions.len() || lefts.len() != positions.len() {
            return Err(JsValue::from_str("scroll offsets: a read came back short"));
        }
        Ok(positions
            .iter()
            .zip(tops.into_iter().zip(lefts))
            .filter(|(_, (top, left))| *top != 0 || *left != 0)
            .map(|(&id, (top, left))| (id, left, top))
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
    /// Shadow roots per index, for elements that may host one.
    pub shadows: Vec<Shadow>,
    /// Elements whose computed style makes them editable
    /// (`-webkit-user-modify`), ascending; only elements that were asked
    /// (see [`Reader::begin`]).
    pub styled_editable: Vec<NodeId>,
}

/// Whether an element hosts a shadow root, as the read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shadow {
    /// None (or the element cannot host one).
    None,
    Host,
    /// Not found out: look at the element itself.
    Unknown,
}

/// Whether an element with this `nodeName` may host a shadow root.
fn may_host(node_name: &str) -> bool {
    node_name.contains('-') || super::live::SHADOW_HOSTS.iter().any(|t| t.eq_ignore_ascii_case(node_name))
}

/// The `expected` values a `join("\0")` brought over, or `None` when a
/// value held the separator.
fn split(joined: &str, expected: usize) -> Option<Vec<String>> {
    split_keeping(joined, expected, |_| true)
}

/// Node names: only elements' are kept (`#text`, `#comment`, … are not
/// needed and not worth an allocation each).
fn split_names(joined: &str, expected: usize) -> Option<Vec<String>> {
    split_keeping(joined, expected, |p| !p.starts_with('#'))
}

fn split_keeping(joined: &str, expected: usize, keep: impl Fn(&str) -> bool) -> Option<Vec<String>> {
    let parts: Vec<String> =
        joined.split(SEP_CHAR).map(|p| if keep(p) { p.to_owned() } else { String::new() }).collect();
    (parts.len() == expected).then_some(parts)
}

/// Nodes (or attributes) read per step: a step stays a few milliseconds
/// even on a slow, busy machine, so a read can be spread over tasks.
const CHUNK: u32 = 500;

enum Phase {
    /// Listing the nodes into the table.
    Table,
    /// Names, values and kinds.
    Props,
    /// Recording the ids.
    Ids,
    Parents,
    /// Which possible shadow hosts are hosts.
    Shadows,
    /// Listing the attributes.
    AttrList,
    Attrs,
    /// Which elements' computed style makes them editable.
    Editable,
    Done,
}

/// What a step of a [`Reader`] came to.
pub enum Progress {
    More,
    Done,
    /// A value holds the separator: walk node by node instead.
    Fallback,
}

/// A read of the tree under one element (included), step by step. Nodes
/// get the ids 1, 2, … in document order (when the ids phase runs). The
/// DOM may change between steps: the node list is fixed when the read
/// begins, later reads see later states, and the mutation records the
/// recorder holds meanwhile bring the mirror up to date afterwards, as
/// with a sliced per-node walk.
pub struct Reader {
    doc: XPathDocument,
    root: Element,
    item: Function,
    count: u32,
    table: List,
    kinds: Vec<u8>,
    names: Vec<String>,
    values: Vec<String>,
    parents: Vec<u32>,
    attr_item: Option<(Function, u32)>,
    attrs: Vec<Vec<(String, String)>>,
    /// Ids of elements that may host a shadow root, and what was found.
    candidates: Vec<u32>,
    shadows: Vec<Shadow>,
    /// Whether the document's styles may make any element editable.
    styled: bool,
    /// Elements whose computed style is asked, and those found editable.
    asked: Vec<u32>,
    styled_editable: Vec<NodeId>,
    phase: Phase,
    pos: u32,
}

impl Reader {
    /// Lists the nodes; `None` when there are none or more than [`MAX_NODES`].
    /// `styled`: the document's styles may make elements editable
    /// (`-webkit-user-modify`), so every element's computed style is asked;
    /// else only those whose `style` attribute names the property.
    pub fn begin(doc: &Document, root: &Element, styled: bool) -> Result<Option<Reader>, JsValue> {
        let doc: XPathDocument = doc.clone().unchecked_into();
        let snap = doc.xpath("descendant-or-self::node()", root, &JsValue::NULL, ORDERED_SNAPSHOT, &JsValue::NULL)?;
        let count = snap.len();
        if count == 0 || count > MAX_NODES {
            return Ok(None);
        }
        let item: Function = Reflect::get(&snap, &"snapshotItem".into())?.dyn_into()?;
        // Position 0 is a hole (skipped by `map` and `forEach`), so that a
        // node's position in the table is its id.
        let table: List = Array::new().unchecked_into();
        Reflect::set(&table, &"length".into(), &1.into())?;
        let slots = count as usize + 1;
        let mut names = Vec::with_capacity(slots);
        names.push(String::new());
        let mut values = Vec::with_capacity(slots);
        values.push(String::new());
        Ok(Some(Reader {
            doc,
            root: root.clone(),
            item: item.bind0(&snap),
            count,
            table,
            kinds: vec![0],
            names,
            values,
            parents: vec![0],
            attr_item: None,
            attrs: vec![Vec::new(); slots],
            candidates: Vec::new(),
            shadows: vec![Shadow::None; slots],
            styled,
            asked: Vec::new(),
            styled_editable: Vec::new(),
            phase: Phase::Table,
            pos: 0,
        }))
    }

    /// Reads up to [`CHUNK`] more nodes or attributes.
    pub fn step(&mut self, n: &Natives, ids: &IdMap) -> Result<Progress, JsValue> {
        let none = &JsValue::UNDEFINED;
        match self.phase {
            Phase::Table => {
                let end = (self.pos + CHUNK).min(self.count);
                let positions: Vec<u32> = (self.pos..end).collect();
                let chunk = List::from_map(&Uint32Array::from(&positions[..]), &self.item)?;
                n.push.apply(&self.table, &chunk)?;
                self.pos = end;
                if end == self.count {
                    self.phase = Phase::Props;
                    self.pos = 1;
                }
            }
            Phase::Props => {
                let end = (self.pos + CHUNK).min(self.count + 1);
                let part = self.table.slice_list(self.pos, end);
                let len = (end - self.pos) as usize;
                let names = split_names(&part.map_with(&n.node_name, none)?.join_str(SEP), len);
                let values = split(&part.map_with(&n.node_value, none)?.join_str(SEP), len);
                let (Some(names), Some(values)) = (names, values) else { return Ok(Progress::Fallback) };
                self.names.extend(names);
                self.values.extend(values);
                let kinds = part.map_with(&n.node_type, none)?;
                self.kinds.extend(Uint8Array::new(&kinds).to_vec());
                self.pos = end;
                if end == self.count + 1 {
                    self.phase = Phase::Ids;
                }
            }
            Phase::Ids => {
                self.table.for_each_with(&n.weak_set, ids)?;
                self.phase = Phase::Parents;
                self.pos = 1;
            }
            Phase::Parents => {
                let end = (self.pos + CHUNK).min(self.count + 1);
                let part = self.table.slice_list(self.pos, end);
                self.parents.extend(n.ids_of(&part.map_with(&n.parent_node, none)?, ids)?);
                self.pos = end;
                if end == self.count + 1 {
                    self.phase = Phase::Shadows;
                    self.pos = 0;
                    self.candidates = (1..self.kinds.len())
                        .filter(|&i| self.kinds[i] == 1 && may_host(&self.names[i]))
                        .map(|i| i as u32)
                        .collect();
                }
            }
            Phase::Shadows => {
                let end = (self.pos as usize + CHUNK as usize).min(self.candidates.len());
                let ids = &self.candidates[self.pos as usize..end];
                let found = n.pick(&self.table, ids).and_then(|els| n.shadow_hosts(&els));
                for (k, &id) in ids.iter().enumerate() {
                    self.shadows[id as usize] = match &found {
                        Ok(flags) if flags.get(k) == Some(&0) => Shadow::None,
                        Ok(flags) if flags.get(k) == Some(&1) => Shadow::Host,
                        // Not answered: the element is looked at on its own.
                        _ => Shadow::Unknown,
                    };
                }
                self.pos = end as u32;
                if end == self.candidates.len() {
                    self.phase = Phase::AttrList;
                }
            }
            Phase::AttrList => {
                let snap = self.doc.xpath(
                    "descendant-or-self::*/@*",
                    &self.root,
                    &JsValue::NULL,
                    ORDERED_SNAPSHOT,
                    &JsValue::NULL,
                )?;
                let count = snap.len();
                let item: Function = Reflect::get(&snap, &"snapshotItem".into())?.dyn_into()?;
                self.attr_item = Some((item.bind0(&snap), count));
                self.pos = 0;
                if count == 0 {
                    self.begin_editable();
                } else {
                    self.phase = Phase::Attrs;
                }
            }
            Phase::Attrs => {
                let Some((item, count)) = &self.attr_item else { return Ok(Progress::Fallback) };
                let end = (self.pos + CHUNK).min(*count);
                let positions: Vec<u32> = (self.pos..end).collect();
                let list = List::from_map(&Uint32Array::from(&positions[..]), item)?;
                let len = positions.len();
                let names = split(&list.map_with(&n.attr_name, none)?.join_str(SEP), len);
                let values = split(&list.map_with(&n.attr_value, none)?.join_str(SEP), len);
                let (Some(names), Some(values)) = (names, values) else { return Ok(Progress::Fallback) };
                let owners = n.ids_of(&list.map_with(&n.owner_element, none)?, ids)?;
                for ((owner, name), value) in owners.into_iter().zip(names).zip(values) {
                    if let Some(a) = self.attrs.get_mut(owner as usize) {
                        a.push((name, value));
                    }
                }
                self.pos = end;
                if end == *count {
                    self.begin_editable();
                }
            }
            Phase::Editable => {
                let end = (self.pos as usize + CHUNK as usize).min(self.asked.len());
                let ids = &self.asked[self.pos as usize..end];
                let Some(values) = n.computed_values(&self.table, ids, USER_MODIFY) else {
                    return Ok(Progress::Fallback);
                };
                self.styled_editable
                    .extend(ids.iter().zip(values).filter(|(_, v)| user_editable(Some(v.as_str()))).map(|(&id, _)| id));
                self.pos = end as u32;
                if end == self.asked.len() {
                    self.phase = Phase::Done;
                }
            }
            Phase::Done => {}
        }
        if !matches!(self.phase, Phase::Done) {
            return Ok(Progress::More);
        }
        let slots = self.count as usize + 1;
        if self.kinds.len() != slots || self.parents.len() != slots || self.names.len() != slots {
            return Ok(Progress::Fallback);
        }
        Ok(Progress::Done)
    }

    /// Chooses the elements whose computed style is asked: all of them when
    /// the document's styles may make one editable, else those whose own
    /// `style` names the property (usually none).
    fn begin_editable(&mut self) {
        let styled = self.styled;
        self.asked = (1..self.kinds.len())
            .filter(|&i| self.kinds[i] == 1)
            .filter(|&i| styled || mask::style_names_user_modify(&self.attrs[i]))
            .map(|i| i as u32)
            .collect();
        self.pos = 0;
        self.phase = if self.asked.is_empty() { Phase::Done } else { Phase::Editable };
    }

    /// The read, once a step answered [`Progress::Done`].
    pub fn into_tree(self) -> Tree {
        Tree {
            table: self.table,
            kinds: self.kinds,
            names: self.names,
            values: self.values,
            parents: self.parents,
            attrs: self.attrs,
            shadows: self.shadows,
            styled_editable: self.styled_editable,
        }
    }
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
