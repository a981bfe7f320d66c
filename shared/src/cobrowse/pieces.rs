//! Cutting a frame from the page into frames every reader takes. No tree
//! in a frame nests deeper than [`MAX_NODE_NESTING`] levels (JSON readers
//! refuse deeper text), and no frame weighs much over [`FRAME_BUDGET`]
//! unless one node or asset alone does (the relay takes a sealed frame of
//! at most `MAX_RELAY_MESSAGE`, and a page full of inline images or a long
//! log is larger). What is cut out of a tree travels as additions right
//! after it, so the console applies it the way it applies any page change.

use super::{AddedNode, Asset, Mutations, Node, NodeId, VisitorFrame};
use crate::limits::{FRAME_BUDGET, MAX_NODE_NESTING};

/// The frames to send in place of `frame`, in order. Node ids must be
/// explicit (cut before [`super::elide_ids`]).
pub fn into_pieces(frame: VisitorFrame) -> Vec<VisitorFrame> {
    into_pieces_within(frame, MAX_NODE_NESTING, FRAME_BUDGET)
}

fn into_pieces_within(frame: VisitorFrame, max_depth: usize, budget: usize) -> Vec<VisitorFrame> {
    match frame {
        VisitorFrame::Snapshot(mut snap) => {
            let adds = cut(&mut snap.root, max_depth, budget);
            if adds.is_empty() {
                return vec![VisitorFrame::Snapshot(snap)];
            }
            // Scrolled where the page is whole again: the window, or an
            // element that comes with the additions, could not scroll yet.
            let scroll = std::mem::take(&mut snap.scroll);
            let mut out = vec![VisitorFrame::Snapshot(snap)];
            out.extend(batches(adds, budget, added_weight).map(additions));
            out.extend(scroll.into_iter().map(|(id, x, y)| VisitorFrame::Scroll { id, x, y }));
            out
        }
        VisitorFrame::Mutations(m) => split_mutations(m, max_depth, budget),
        VisitorFrame::Assets { assets } => batches(assets, budget, |a: &Asset| 64 + a.mime.len() + a.data.len())
            .map(|assets| VisitorFrame::Assets { assets })
            .collect(),
        other => vec![other],
    }
}

fn additions(adds: Vec<AddedNode>) -> VisitorFrame {
    VisitorFrame::Mutations(Mutations { adds, ..Default::default() })
}

/// A batch's additions cut in place (each one's pieces right after it),
/// then spread over frames by weight. Removals go with the first frame and
/// attribute, text and style changes with the last: the order one batch is
/// applied in.
fn split_mutations(mut m: Mutations, max_depth: usize, budget: usize) -> Vec<VisitorFrame> {
    let mut next = 0;
    while next < m.adds.len() {
        let pieces = cut(&mut m.adds[next].node, max_depth, budget);
        let count = pieces.len();
        m.adds.splice(next + 1..next + 1, pieces);
        next += 1 + count;
    }
    if m.adds.len() < 2 || m.adds.iter().map(added_weight).sum::<usize>() <= budget {
        return vec![VisitorFrame::Mutations(m)];
    }
    let mut frames: Vec<Mutations> = batches(std::mem::take(&mut m.adds), budget, added_weight)
        .map(|adds| Mutations { adds, ..Default::default() })
        .collect();
    if let Some(first) = frames.first_mut() {
        first.removes = std::mem::take(&mut m.removes);
    }
    if let Some(last) = frames.last_mut() {
        last.attrs = std::mem::take(&mut m.attrs);
        last.texts = std::mem::take(&mut m.texts);
        last.styles = std::mem::take(&mut m.styles);
    }
    frames.into_iter().map(VisitorFrame::Mutations).collect()
}

/// Consecutive runs of `items` weighing at most `budget` each; an item
/// heavier than that alone is a run of its own.
fn batches<T>(items: Vec<T>, budget: usize, weight: impl Fn(&T) -> usize) -> impl Iterator<Item = Vec<T>> {
    let mut runs: Vec<Vec<T>> = Vec::new();
    let mut run_weight = 0;
    for item in items {
        let w = weight(&item);
        match runs.last_mut() {
            Some(run) if run_weight + w <= budget => run.push(item),
            _ => {
                runs.push(vec![item]);
                run_weight = 0;
            }
        }
        run_weight += w;
    }
    runs.into_iter()
}

/// Cuts `top` by depth, then it and each piece by weight. Applying `top`
/// and then the additions in order rebuilds the whole tree: each comes
/// after the piece that holds its parent.
fn cut(top: &mut Node, max_depth: usize, budget: usize) -> Vec<AddedNode> {
    let deep = split_deep(top, max_depth);
    // Each piece is now at most `max_depth` deep, so `split_heavy` may recurse.
    let mut out = split_heavy(top, budget);
    for mut add in deep {
        let heavy = split_heavy(&mut add.node, budget);
        out.push(add);
        out.extend(heavy);
    }
    out
}

/// Cuts `top` so that nothing in it lies more than `max` levels below it:
/// the children (and shadow children) of each element `max` levels down are
/// taken out and returned as additions to that element, in document order,
/// each cut the same way; a frame's document stays with its `<iframe>`, its
/// own children cut one level further down. Iterative, so a page nested any
/// deeper than the stack allows still comes apart.
fn split_deep(top: &mut Node, max: usize) -> Vec<AddedNode> {
    let mut adds = Vec::new();
    cut_below(top, max, &mut adds);
    let mut next = 0;
    while next < adds.len() {
        let mut more = Vec::new();
        cut_below(&mut adds[next].node, max, &mut more);
        adds.extend(more);
        next += 1;
    }
    adds
}

/// One pass of [`split_deep`]: cuts `top` alone, appending what it takes out.
fn cut_below(top: &mut Node, max: usize, out: &mut Vec<AddedNode>) {
    let mut stack: Vec<(&mut Node, usize)> = vec![(top, 0)];
    while let Some((node, depth)) = stack.pop() {
        let Node::Element { i, c, s, f, .. } = node else { continue };
        if depth >= max {
            take_children(*i, c, s, out);
        }
        // Last pushed, first cut: document order.
        if let Some(d) = f {
            stack.push((d, depth + 1));
        }
        stack.extend(s.iter_mut().flatten().rev().map(|k| (k, depth + 1)));
        stack.extend(c.iter_mut().rev().map(|k| (k, depth + 1)));
    }
}

/// Cuts `top` so that it, and each piece taken out, weighs at most
/// `budget` unless one node alone does: an element heavier than that with
/// what stays of its children gives its children (and shadow children) up
/// as additions to it. Recursive: `top` must be cut by depth first.
fn split_heavy(top: &mut Node, budget: usize) -> Vec<AddedNode> {
    let mut out = Vec::new();
    heavy_walk(top, budget, &mut out);
    out
}

/// Returns the weight of what stays of `node`; appends what it cuts out,
/// each piece before the pieces cut out of it.
fn heavy_walk(node: &mut Node, budget: usize, out: &mut Vec<AddedNode>) -> usize {
    let own = weight_alone(node);
    let Node::Element { i, c, s, f, .. } = node else { return own };
    let start = out.len();
    let kids: usize = c.iter_mut().chain(s.iter_mut().flatten()).map(|k| heavy_walk(k, budget, out)).sum();
    let frame = f.as_deref_mut().map_or(0, |d| heavy_walk(d, budget, out));
    if kids == 0 || own + kids + frame <= budget {
        return own + kids + frame;
    }
    let inner = out.split_off(start);
    take_children(*i, c, s, out);
    out.extend(inner);
    own + frame
}

/// Takes an element's children and shadow children out as additions to it,
/// in document order. The shadow root stays (`Some`, now empty) for the
/// additions to go into.
fn take_children(parent: NodeId, c: &mut Vec<Node>, s: &mut Option<Vec<Node>>, out: &mut Vec<AddedNode>) {
    out.extend(c.drain(..).map(|node| AddedNode { parent, before: None, shadow: false, node }));
    if let Some(s) = s {
        out.extend(s.drain(..).map(|node| AddedNode { parent, before: None, shadow: true, node }));
    }
}

/// About the bytes a node takes in a frame, children aside.
fn weight_alone(node: &Node) -> usize {
    match node {
        Node::Text { v, .. } => 16 + v.len(),
        Node::Comment { .. } => 16,
        Node::Element { n, a, y, css, m, .. } => {
            let attrs: usize = a.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
            let sheets = 44 * (y.len() + usize::from(css.is_some()));
            32 + n.len() + attrs + sheets + if m.is_some() { 24 } else { 0 }
        }
    }
}

fn added_weight(add: &AddedNode) -> usize {
    let mut total = 48;
    let mut stack = vec![&add.node];
    while let Some(n) = stack.pop() {
        total += weight_alone(n);
        if let Node::Element { c, s, f, .. } = n {
            stack.extend(c.iter().chain(s.iter().flatten()).chain(f.as_deref()));
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::super::{elide_ids, resolve_ids, Frame, Snapshot};
    use super::*;

    /// A page nested `depth` elements deep, with text at the bottom, a
    /// shadow root and a frame's document on the way down, and a sibling
    /// after each level's element.
    fn deep_page(depth: u32) -> Node {
        let mut next_id = 0;
        let mut id = || {
            next_id += 1;
            next_id
        };
        let mut levels: Vec<Node> = (0..depth).map(|_| Node::element(id(), "div", vec![], None)).collect();
        let mut bottom = Node::Text { i: id(), v: "bottom".into() };
        while let Some(mut up) = levels.pop() {
            let level = levels.len();
            if let Node::Element { c, s, f, .. } = &mut up {
                if level % 97 == 3 {
                    *s = Some(vec![bottom, Node::Comment { i: id() }]);
                } else if level % 89 == 5 {
                    *f = Some(Box::new(bottom));
                } else {
                    c.push(bottom);
                }
                c.push(Node::Text { i: id(), v: format!("after {level}") });
            }
            bottom = up;
        }
        bottom
    }

    fn nesting(n: &Node) -> usize {
        match n {
            Node::Element { c, s, f, .. } => {
                1 + c.iter().chain(s.iter().flatten()).chain(f.as_deref()).map(nesting).max().unwrap_or(0)
            }
            _ => 1,
        }
    }

    fn find(n: &mut Node, id: NodeId) -> Option<&mut Node> {
        if n.id() == id {
            return Some(n);
        }
        let Node::Element { c, s, f, .. } = n else { return None };
        c.iter_mut().chain(s.iter_mut().flatten()).chain(f.as_deref_mut()).find_map(|k| find(k, id))
    }

    fn snapshot(root: Node) -> VisitorFrame {
        VisitorFrame::Snapshot(Box::new(Snapshot {
            url: "https://a/".into(),
            title: String::new(),
            doctype: None,
            root,
            viewport: (1, 1),
            scroll: vec![(crate::cobrowse::WINDOW, 0, 900), (7, 0, 30)],
            prefers: vec![],
            base: None,
            generation: 0,
        }))
    }

    /// The scroll a snapshot cut into pieces leaves to the frames after
    /// them (taken off `frames`), in order.
    fn scroll_after(frames: &mut Vec<VisitorFrame>) -> Vec<(NodeId, i32, i32)> {
        let Some(VisitorFrame::Snapshot(snap)) = frames.first() else { panic!("no snapshot first") };
        assert!(snap.scroll.is_empty(), "a cut snapshot scrolls after its pieces");
        let mut scroll = Vec::new();
        while let Some(VisitorFrame::Scroll { id, x, y }) = frames.last() {
            scroll.insert(0, (*id, *x, *y));
            frames.pop();
        }
        scroll
    }

    /// Each frame as the console gets it: ids elided, through serde_json
    /// (which refuses text nested too deep), ids resolved.
    fn over_the_wire(frames: Vec<VisitorFrame>) -> Vec<VisitorFrame> {
        frames
            .into_iter()
            .map(|mut f| {
                match &mut f {
                    VisitorFrame::Snapshot(snap) => elide_ids(&mut snap.root),
                    VisitorFrame::Mutations(m) => m.adds.iter_mut().for_each(|a| elide_ids(&mut a.node)),
                    _ => {}
                }
                let text = serde_json::to_string(&Frame::Visitor { frame: f }).unwrap();
                let Ok(Frame::Visitor { mut frame }) = serde_json::from_str::<Frame>(&text) else {
                    panic!("unreadable: {}", &text[..200.min(text.len())])
                };
                match &mut frame {
                    VisitorFrame::Snapshot(snap) => assert!(resolve_ids(&mut snap.root)),
                    VisitorFrame::Mutations(m) => m.adds.iter_mut().for_each(|a| assert!(resolve_ids(&mut a.node))),
                    _ => {}
                }
                frame
            })
            .collect()
    }

    /// Applies a snapshot and the additions after it, in order, as the
    /// console would.
    fn rebuild(frames: Vec<VisitorFrame>) -> Node {
        let mut frames = frames.into_iter();
        let Some(VisitorFrame::Snapshot(snap)) = frames.next() else { panic!("no snapshot first") };
        let mut root = snap.root;
        for f in frames {
            let VisitorFrame::Mutations(m) = f else { panic!("not additions: {f:?}") };
            for add in m.adds {
                let Some(Node::Element { c, s, .. }) = find(&mut root, add.parent) else {
                    panic!("parent {} not there yet", add.parent)
                };
                match (add.shadow, s) {
                    (true, Some(s)) => s.push(add.node),
                    (true, None) => panic!("no shadow root on {}", add.parent),
                    (false, _) => c.push(add.node),
                }
            }
        }
        root
    }

    #[test]
    fn a_deep_page_comes_apart_into_frames_any_reader_takes_and_back() {
        let page = deep_page(1_000);
        let mut frames = over_the_wire(into_pieces(snapshot(page.clone())));
        assert_eq!(scroll_after(&mut frames), [(crate::cobrowse::WINDOW, 0, 900), (7, 0, 30)]);
        assert_eq!(frames.len(), 2, "a snapshot and its additions");
        let VisitorFrame::Snapshot(snap) = &frames[0] else { panic!("the snapshot first") };
        assert!(nesting(&snap.root) <= MAX_NODE_NESTING + 2);
        let VisitorFrame::Mutations(m) = &frames[1] else { panic!("additions second") };
        assert!(m.adds.len() > 20, "{} additions", m.adds.len());
        for add in &m.adds {
            assert!(nesting(&add.node) <= MAX_NODE_NESTING + 2);
        }
        assert_eq!(rebuild(frames), page);
        // Without cutting, serde_json refuses it.
        let text = serde_json::to_string(&page).unwrap();
        assert!(serde_json::from_str::<Node>(&text).is_err());
    }

    #[test]
    fn a_shallow_light_page_is_not_cut() {
        let page = deep_page(MAX_NODE_NESTING as u32);
        assert_eq!(into_pieces(snapshot(page.clone())), vec![snapshot(page)]);
    }

    /// A page of `rows` rows of `text` bytes each in a body, one row also
    /// in a shadow root and one in a frame's document, plus a deep chain.
    fn heavy_page(rows: u32, text: usize) -> Node {
        let mut next_id = 0;
        let mut id = || {
            next_id += 1;
            next_id
        };
        let row = |id: &mut dyn FnMut() -> NodeId, n: u32| {
            let mut tr = Node::element(id(), "tr", vec![("class".into(), format!("r{n}"))], None);
            if let Node::Element { c, .. } = &mut tr {
                c.push(Node::Text { i: id(), v: format!("{n:06}").repeat(text / 6) });
            }
            tr
        };
        let mut body = Node::element(id(), "body", vec![], None);
        let mut host = Node::element(id(), "div", vec![], None);
        let mut frame = Node::element(id(), "iframe", vec![], None);
        let mut frame_doc = Node::element(id(), "html", vec![], None);
        if let (Node::Element { s, .. }, Node::Element { c, .. }) = (&mut host, &mut frame_doc) {
            *s = Some((0..rows / 4).map(|n| row(&mut id, n)).collect());
            c.extend((0..rows / 4).map(|n| row(&mut id, n)));
        }
        if let Node::Element { f, .. } = &mut frame {
            *f = Some(Box::new(frame_doc));
        }
        let table_rows: Vec<Node> = (0..rows).map(|n| row(&mut id, n)).collect();
        let mut table = Node::element(id(), "table", vec![], None);
        if let (Node::Element { c, .. }, Node::Element { c: body_c, .. }) = (&mut table, &mut body) {
            c.extend(table_rows);
            body_c.extend([table, host, frame]);
            // One text heavier than a frame may be: it goes alone.
            body_c.push(Node::Text { i: id(), v: "x".repeat(text * rows as usize) });
        }
        let mut chain = deep_page(120);
        renumber(&mut chain, &mut id);
        if let Node::Element { c, .. } = &mut body {
            c.push(chain);
        }
        body
    }

    fn renumber(n: &mut Node, id: &mut dyn FnMut() -> NodeId) {
        *n.id_mut() = id();
        n.each_child(&mut |k| renumber(k, id));
    }

    #[test]
    fn a_heavy_page_comes_apart_into_frames_within_the_budget_and_back() {
        let budget = 64 * 1024;
        let page = heavy_page(400, 1_000);
        let whole = serde_json::to_string(&page).unwrap().len();
        let mut frames = over_the_wire(into_pieces_within(snapshot(page.clone()), MAX_NODE_NESTING, budget));
        assert_eq!(scroll_after(&mut frames).len(), 2);
        let sizes: Vec<usize> = frames.iter().map(|f| serde_json::to_string(f).unwrap().len()).collect();
        // The heavy text alone takes a frame of its own; the rest needs at least a frame a budget.
        assert!(frames.len() > 2 + (whole - 400_000) / budget, "{} frames for {whole} bytes: {sizes:?}", frames.len());
        for f in &frames {
            let len = serde_json::to_string(f).unwrap().len();
            let alone = matches!(f, VisitorFrame::Mutations(m) if m.adds.len() == 1);
            assert!(len <= budget + budget / 4 || alone, "a frame of {len} bytes");
        }
        assert_eq!(rebuild(frames), page);
    }

    #[test]
    fn a_heavy_batch_goes_in_frames_applied_in_the_batch_order() {
        let budget = 64 * 1024;
        let page = heavy_page(200, 1_000);
        let m = Mutations {
            removes: vec![900_001],
            adds: vec![AddedNode { parent: 900_000, before: None, shadow: false, node: page.clone() }],
            attrs: vec![super::super::AttrChange { id: 1, name: "class".into(), value: None }],
            texts: vec![(2, "t".into())],
            styles: vec![(3, vec!["h".into()])],
        };
        let frames = over_the_wire(into_pieces_within(VisitorFrame::Mutations(m), MAX_NODE_NESTING, budget));
        assert!(frames.len() > 3, "{} frames", frames.len());
        let batches: Vec<&Mutations> =
            frames.iter().map(|f| if let VisitorFrame::Mutations(m) = f { m } else { panic!("{f:?}") }).collect();
        assert_eq!(batches[0].removes, vec![900_001], "removals first");
        let last = batches[batches.len() - 1];
        assert_eq!((last.attrs.len(), last.texts.len(), last.styles.len()), (1, 1, 1), "changes last");
        for m in &batches[..batches.len() - 1] {
            assert!(m.attrs.is_empty() && m.texts.is_empty() && m.styles.is_empty());
        }
        for m in &batches[1..] {
            assert!(m.removes.is_empty());
        }
        // The additions, in order, give back what was added.
        let mut holder = Node::element(900_000, "div", vec![], None);
        let adds = batches.iter().flat_map(|m| m.adds.iter().cloned());
        let root = rebuild(
            std::iter::once(snapshot(holder.clone()))
                .chain(adds.map(|a| VisitorFrame::Mutations(Mutations { adds: vec![a], ..Default::default() })))
                .collect(),
        );
        if let Node::Element { c, .. } = &mut holder {
            c.push(page);
        }
        assert_eq!(root, holder);
        // A light batch stays one frame.
        let light = Mutations { removes: vec![1], texts: vec![(2, "t".into())], ..Default::default() };
        assert_eq!(into_pieces(VisitorFrame::Mutations(light.clone())), vec![VisitorFrame::Mutations(light)]);
    }

    #[test]
    fn assets_are_spread_over_frames_in_order() {
        let asset =
            |n: usize, len: usize| Asset { hash: format!("{n:040}"), mime: "image/png".into(), data: "A".repeat(len) };
        let assets = vec![asset(1, 40_000), asset(2, 40_000), asset(3, 200_000), asset(4, 10_000), asset(5, 10_000)];
        let frames = into_pieces_within(VisitorFrame::Assets { assets: assets.clone() }, MAX_NODE_NESTING, 64 * 1024);
        let runs: Vec<Vec<String>> = frames
            .iter()
            .map(|f| match f {
                VisitorFrame::Assets { assets } => assets.iter().map(|a| a.hash[38..].to_owned()).collect(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(runs, [vec!["01"], vec!["02"], vec!["03"], vec!["04", "05"]]);
        let back: Vec<Asset> = frames
            .into_iter()
            .flat_map(|f| match f {
                VisitorFrame::Assets { assets } => assets,
                _ => vec![],
            })
            .collect();
        assert_eq!(back, assets);
    }
}
