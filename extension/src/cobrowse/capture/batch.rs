//! One batch of DOM changes, coalesced: removes once each, attribute and
//! text changes last-wins, and nothing about nodes that the batch adds
//! (their added copy is already current) or removes.

use std::collections::{HashMap, HashSet};

use baton_shared::cobrowse::{AddedNode, AttrChange, Mutations, Node, NodeId};

#[derive(Debug, Default)]
pub struct Batch {
    removes: Vec<NodeId>,
    adds: Vec<AddedNode>,
    attrs: Vec<AttrChange>,
    texts: Vec<(NodeId, String)>,
    styles: Vec<(NodeId, Vec<String>)>,
}

impl Batch {
    pub fn remove(&mut self, id: NodeId) {
        self.removes.push(id);
    }

    pub fn add(&mut self, added: AddedNode) {
        self.adds.push(added);
    }

    pub fn attr(&mut self, id: NodeId, name: String, value: Option<String>) {
        self.attrs.push(AttrChange { id, name, value });
    }

    pub fn text(&mut self, id: NodeId, value: String) {
        self.texts.push((id, value));
    }

    pub fn style(&mut self, id: NodeId, hashes: Vec<String>) {
        self.styles.push((id, hashes));
    }

    pub fn is_empty(&self) -> bool {
        self.removes.is_empty()
            && self.adds.is_empty()
            && self.attrs.is_empty()
            && self.texts.is_empty()
            && self.styles.is_empty()
    }

    /// The coalesced batch, or `None` when nothing is left to send.
    pub fn finish(self) -> Option<Mutations> {
        let mut seen = HashSet::new();
        let removes: Vec<NodeId> = self.removes.into_iter().filter(|id| seen.insert(*id)).collect();
        let removed: HashSet<NodeId> = removes.iter().copied().collect();
        let mut added = HashSet::new();
        for a in &self.adds {
            collect_ids(&a.node, &mut added);
        }
        let gone = |id: &NodeId| removed.contains(id) || added.contains(id);

        let attrs = last_wins(self.attrs.into_iter().filter(|a| !gone(&a.id)), |a| (a.id, a.name.clone()));
        let texts = last_wins(self.texts.into_iter().filter(|t| !gone(&t.0)), |t| t.0);
        let styles = last_wins(self.styles.into_iter().filter(|s| !removed.contains(&s.0)), |s| s.0);
        let m = Mutations { removes, adds: self.adds, attrs, texts, styles };
        let empty = m.removes.is_empty()
            && m.adds.is_empty()
            && m.attrs.is_empty()
            && m.texts.is_empty()
            && m.styles.is_empty();
        (!empty).then_some(m)
    }
}

/// Keeps the last item per key, at the position of its last occurrence.
fn last_wins<T, K: std::hash::Hash + Eq>(items: impl Iterator<Item = T>, key: impl Fn(&T) -> K) -> Vec<T> {
    let items: Vec<T> = items.collect();
    let mut last = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        last.insert(key(item), i);
    }
    items.into_iter().enumerate().filter(|(i, item)| last.get(&key(item)) == Some(i)).map(|(_, item)| item).collect()
}

/// Every id in a node's subtree (children, shadow root, iframe document).
pub fn collect_ids(node: &Node, out: &mut HashSet<NodeId>) {
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        out.insert(n.id());
        if let Node::Element { c, s, f, .. } = n {
            stack.extend(c.iter());
            if let Some(s) = s {
                stack.extend(s.iter());
            }
            if let Some(f) = f {
                stack.push(f);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(i: NodeId, c: Vec<Node>) -> Node {
        Node::Element { i, n: "div".into(), a: vec![], c, s: None, y: vec![], css: None, f: None, m: None }
    }

    #[test]
    fn empty_batches_send_nothing() {
        assert!(Batch::default().is_empty());
        assert_eq!(Batch::default().finish(), None);
    }

    #[test]
    fn coalesces_last_wins() {
        let mut b = Batch::default();
        b.attr(1, "class".into(), Some("a".into()));
        b.text(2, "one".into());
        b.attr(1, "title".into(), Some("t".into()));
        b.attr(1, "class".into(), Some("b".into()));
        b.text(2, "two".into());
        b.remove(5);
        b.remove(5);
        b.style(7, vec!["h1".into()]);
        b.style(7, vec!["h2".into()]);
        let m = b.finish().unwrap();
        assert_eq!(m.removes, vec![5]);
        assert_eq!(
            m.attrs,
            vec![
                AttrChange { id: 1, name: "title".into(), value: Some("t".into()) },
                AttrChange { id: 1, name: "class".into(), value: Some("b".into()) },
            ]
        );
        assert_eq!(m.texts, vec![(2, "two".into())]);
        assert_eq!(m.styles, vec![(7, vec!["h2".into()])]);
    }

    #[test]
    fn changes_to_added_or_removed_nodes_are_dropped() {
        let mut b = Batch::default();
        b.add(AddedNode {
            parent: 1,
            before: None,
            shadow: false,
            node: el(10, vec![Node::Text { i: 11, v: "x".into() }]),
        });
        b.text(11, "y".into());
        b.attr(10, "class".into(), None);
        b.remove(3);
        b.attr(3, "id".into(), Some("z".into()));
        b.text(4, "kept".into());
        let m = b.finish().unwrap();
        assert_eq!(m.adds.len(), 1);
        assert!(m.attrs.is_empty());
        assert_eq!(m.texts, vec![(4, "kept".into())]);
        assert_eq!(m.removes, vec![3]);
    }

    #[test]
    fn ids_of_a_subtree() {
        let n = Node::Element {
            i: 1,
            n: "x-a".into(),
            a: vec![],
            c: vec![el(2, vec![Node::Comment { i: 3 }])],
            s: Some(vec![Node::Text { i: 4, v: String::new() }]),
            y: vec![],
            css: None,
            f: Some(Box::new(el(5, vec![]))),
            m: None,
        };
        let mut ids = HashSet::new();
        collect_ids(&n, &mut ids);
        assert_eq!(ids, HashSet::from([1, 2, 3, 4, 5]));
    }
}
