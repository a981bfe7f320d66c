//! Turning a bulk read ([`bulk::Tree`]) into the captured tree, a node at a
//! time so that the snapshot loop can slice it. Elements go through the same
//! `State::open_element` as in the per-node walk; only where the children come
//! from differs.

use super::*;
use crate::content::classify::disguises;
use crate::content::dom::TEXT_SECURITY;

/// An element whose children are being assembled.
struct Open {
    node: Node,
    /// What its children inherit.
    within: Within,
    /// For a `<select>`: its class, which its options follow.
    select: Option<Option<FieldClass>>,
    /// The next child's id (0: none left).
    next_kid: u32,
    out: Vec<Node>,
}

pub(super) struct Assembly {
    table: bulk::List,
    kinds: Vec<u8>,
    names: Vec<String>,
    values: Vec<String>,
    attrs: Vec<Vec<(String, String)>>,
    first: Vec<u32>,
    next: Vec<u32>,
    private: Vec<NodeId>,
    safe: Vec<NodeId>,
    /// Elements whose computed style makes them editable, ascending.
    styled_editable: Vec<NodeId>,
    shadows: Vec<bulk::Shadow>,
    /// What the text fields' reads found, by id (ascending).
    fields: Vec<(NodeId, FieldRead)>,
    /// What the document element inherits.
    within: Within,
    /// Ids that are part of the captured tree.
    live: Vec<bool>,
    holes: Vec<(NodeId, Hole)>,
    stack: Vec<Open>,
    root: Option<Node>,
    started: bool,
}

impl Assembly {
    /// Takes over a read. The ids inside private elements and Baton's own UI
    /// are forgotten at once: until the tree is complete, events and
    /// commands must not find them.
    pub(super) fn new(
        st: &mut State,
        natives: &bulk::Natives,
        tree: bulk::Tree,
        mut private: Vec<NodeId>,
        safe: Vec<NodeId>,
        within: Within,
    ) -> Assembly {
        let bulk::Tree { table, kinds, names, values, parents, attrs, shadows, styled_editable } = tree;
        let slots = kinds.len();
        // Children as linked lists (a parent comes before its children), and
        // where each subtree ends (it is a run of ids in document order).
        let mut first = vec![0u32; slots];
        let mut next = vec![0u32; slots];
        let mut last = vec![0u32; slots];
        for (id, &p) in parents.iter().enumerate().skip(2) {
            let p = p as usize;
            if p == 0 || p >= id {
                continue;
            }
            if last[p] == 0 {
                first[p] = id as u32;
            } else {
                next[last[p] as usize] = id as u32;
            }
            last[p] = id as u32;
        }
        let mut end: Vec<u32> = (0..slots as u32).collect();
        for id in (2..slots).rev() {
            let p = parents[id] as usize;
            if p != 0 && p < id {
                end[p] = end[p].max(end[id]);
            }
        }
        let has = |a: &[(String, String)], name: &str| a.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        for (id, a) in attrs.iter().enumerate() {
            if has(a, PRIVATE_ATTR) {
                private.push(id as NodeId);
            }
        }
        private.sort_unstable();
        private.dedup();
        let mut hidden = Vec::new();
        for &id in &private {
            hidden.extend(id + 1..=end.get(id as usize).copied().unwrap_or(id));
        }
        for (id, a) in attrs.iter().enumerate() {
            if has(a, UI_ATTR) {
                hidden.extend(id as u32..=end[id]);
            }
        }
        let _ = natives.forget(&table, &hidden, &st.ids);
        hidden.sort_unstable();
        let fields = read_fields(natives, &table, &kinds, &names, &attrs, &hidden);
        Assembly {
            table,
            kinds,
            names,
            values,
            attrs,
            first,
            next,
            private,
            safe,
            styled_editable,
            shadows,
            fields,
            within,
            live: vec![false; slots],
            holes: Vec::new(),
            stack: Vec::new(),
            root: None,
            started: false,
        }
    }

    /// Opens one node: a finished leaf, an element whose children follow,
    /// or nothing (left out).
    fn open(&mut self, st: &mut State, id: u32, within: Within) -> Option<Result<Node, Open>> {
        let i = id as usize;
        match u16::from(self.kinds[i]) {
            ELEMENT => {
                let raw = std::mem::take(&mut self.attrs[i]);
                if raw.iter().any(|(n, _)| n.eq_ignore_ascii_case(UI_ATTR)) {
                    return None;
                }
                // The select an option is in: the nearest one open above it
                // (as `closest("select")` finds it in the same tree).
                let select = Some(self.stack.iter().rev().find_map(|o| o.select).flatten());
                let field = match self.fields.binary_search_by_key(&id, |(k, _)| *k) {
                    Ok(k) => std::mem::take(&mut self.fields[k].1),
                    Err(_) => FieldRead::default(),
                };
                let mut h = Handle::Bulk {
                    table: &self.table,
                    id,
                    private: self.private.binary_search(&id).is_ok(),
                    safe: self.safe.binary_search(&id).is_ok(),
                    styled_editable: self.styled_editable.binary_search(&id).is_ok(),
                    shadow: self.shadows.get(i).copied().unwrap_or(bulk::Shadow::Unknown),
                    got: None,
                    value: field.value,
                    disguised: field.disguised,
                    select,
                };
                let tag = local_name(std::mem::take(&mut self.names[i]));
                let opened = st.open_element(&mut h, id, tag, raw, within);
                self.live[i] = true;
                if let Some((sr, within)) = opened.shadow {
                    self.holes.push((id, Hole::Shadow(sr, within)));
                }
                if let Some((doc, within)) = opened.frame_doc {
                    self.holes.push((id, Hole::Frame(doc, within)));
                }
                let kid = if opened.descend { self.first[i] } else { 0 };
                Some(if kid == 0 {
                    Ok(opened.node)
                } else {
                    let select =
                        matches!(&opened.node, Node::Element { n, .. } if n == "select").then_some(opened.class);
                    Err(Open { node: opened.node, within: opened.within, select, next_kid: kid, out: Vec::new() })
                })
            }
            TEXT | CDATA => {
                self.live[i] = true;
                let v = std::mem::take(&mut self.values[i]);
                let v = if within.editable {
                    st.protected.insert(id);
                    mask::mask(&v)
                } else {
                    v
                };
                Some(Ok(Node::Text { i: id, v }))
            }
            COMMENT => {
                self.live[i] = true;
                Some(Ok(Node::Comment { i: id }))
            }
            _ => None,
        }
    }

    /// Handles one node; `true` once the tree is complete.
    pub(super) fn step(&mut self, st: &mut State) -> bool {
        if !self.started {
            self.started = true;
            match self.open(st, 1, self.within) {
                Some(Ok(n)) => self.root = Some(n),
                Some(Err(o)) => self.stack.push(o),
                None => {}
            }
            return self.stack.is_empty();
        }
        let Some(top) = self.stack.last_mut() else { return true };
        let kid = top.next_kid;
        if kid != 0 {
            top.next_kid = self.next[kid as usize];
            let within = top.within;
            match self.open(st, kid, within) {
                Some(Ok(n)) => {
                    if let Some(top) = self.stack.last_mut() {
                        top.out.push(n);
                    }
                }
                Some(Err(o)) => self.stack.push(o),
                None => {}
            }
            return false;
        }
        let Some(mut done) = self.stack.pop() else { return true };
        if let Node::Element { c, .. } = &mut done.node {
            *c = done.out;
        }
        match self.stack.last_mut() {
            Some(parent) => {
                parent.out.push(done.node);
                false
            }
            None => {
                self.root = Some(done.node);
                true
            }
        }
    }

    /// The tree, and the shadow roots and iframe documents still to walk
    /// node by node. The ids of everything left out are forgotten, and the
    /// state looks nodes up in the read from now on.
    pub(super) fn finish(self, st: &mut State, natives: &bulk::Natives) -> (Node, Vec<(NodeId, Hole)>) {
        let left_out: Vec<u32> = (1..self.live.len()).filter(|&i| !self.live[i]).map(|i| i as u32).collect();
        let _ = natives.forget(&self.table, &left_out, &st.ids);
        st.bulk = Some((self.table, self.live));
        (self.root.unwrap_or(Node::Comment { i: 1 }), self.holes)
    }
}

/// What a bulk read found of a text field: its live value, and whether
/// its style shows it as shapes (`-webkit-text-security`). `None`: not
/// read, asked of the element when needed.
#[derive(Default)]
struct FieldRead {
    value: Option<String>,
    disguised: Option<bool>,
}

/// The live values of the text fields that will be captured masked or
/// safe (not secret ones, not checkboxes or buttons, nothing inside a
/// private block or Baton's UI), and whether those with text show it as
/// shapes, read with a few calls in all instead of a few per field. A
/// field left out here is read on its own when opened.
fn read_fields(
    natives: &bulk::Natives,
    table: &bulk::List,
    kinds: &[u8],
    names: &[String],
    attrs: &[Vec<(String, String)>],
    hidden: &[NodeId],
) -> Vec<(NodeId, FieldRead)> {
    let (mut inputs, mut textareas) = (Vec::new(), Vec::new());
    for (id, name) in names.iter().enumerate() {
        if u16::from(kinds[id]) != ELEMENT || hidden.binary_search(&(id as NodeId)).is_ok() {
            continue;
        }
        let textarea = name.eq_ignore_ascii_case("textarea");
        if !textarea && !name.eq_ignore_ascii_case("input") {
            continue;
        }
        let tag = if textarea { "textarea" } else { "input" };
        let a = &attrs[id];
        let input_type = a.iter().find(|(k, _)| k.eq_ignore_ascii_case("type")).map(|(_, v)| v.as_str());
        // Safe or masked (`safe: false` here), the value is read either way.
        if mask::class_of(tag, a, false) != Some(FieldClass::Masked) || !mask::holds_text(tag, input_type) {
            continue;
        }
        if textarea { &mut textareas } else { &mut inputs }.push(id as NodeId);
    }
    let mut out: Vec<(NodeId, FieldRead)> = Vec::with_capacity(inputs.len() + textareas.len());
    for (ids, textarea) in [(inputs, false), (textareas, true)] {
        match natives.field_values(table, &ids, textarea) {
            Some(values) => out
                .extend(ids.into_iter().zip(values).map(|(id, v)| (id, FieldRead { value: Some(v), disguised: None }))),
            None => out.extend(ids.into_iter().map(|id| (id, FieldRead::default()))),
        }
    }
    out.sort_unstable_by_key(|(id, _)| *id);
    // The style only of the fields whose text would go out (as `State::open_element` asks).
    let shown: Vec<NodeId> = out
        .iter()
        .filter(|(id, read)| {
            let i = *id as usize;
            read.value.as_deref().is_some_and(|v| !v.is_empty()) && may_disguise(&names[i], &attrs[i])
        })
        .map(|(id, _)| *id)
        .collect();
    if let Some(styles) = natives.computed_values(table, &shown, TEXT_SECURITY) {
        for (id, style) in shown.iter().zip(styles) {
            if let Ok(k) = out.binary_search_by_key(id, |(k, _)| *k) {
                out[k].1.disguised = Some(disguises(Some(&style)));
            }
        }
    }
    out
}

/// [`mask::reads_style`] of a masked field, by its `nodeName` and attributes.
fn may_disguise(node_name: &str, attrs: &[(String, String)]) -> bool {
    let tag = if node_name.eq_ignore_ascii_case("textarea") { "textarea" } else { "input" };
    let input_type = attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case("type")).map(|(_, v)| v.as_str());
    mask::reads_style(FieldClass::Masked, tag, input_type)
}
