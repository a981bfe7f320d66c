//! The mirror's node-id model: builds a snapshot through a [`Dom`] (the
//! sandboxed frame in the console, a fake in tests), keeps `NodeId → node`,
//! and applies mutations, input, scroll and style changes to the existing
//! nodes — a mutation never re-renders the mirror.
//!
//! Every element and attribute goes through [`super::sanitize`] first.
//! Inert elements (scripts, `base`, `meta`, …) are kept in the id map with a
//! comment standing in for them, so later mutations that touch them or
//! their subtree are understood and ignored; a mutation that names an id
//! the mirror never saw is an error ([`ApplyError::UnknownNode`]) and the
//! console asks for a keyframe, as for a snapshot or an add that gives one
//! id to two nodes or moves a node inside itself.
//!
//! A same-origin iframe whose document was captured (`f`) becomes an
//! `<iframe sandbox="allow-same-origin">` of the mirror's own (no `src`, no
//! `srcdoc`); its document's nodes are built like the rest, with their ids
//! in the same map, and become that frame's document once the frame is in
//! the mirror ([`Dom::fill_frame`]). Other frames are placeholders.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::{HashMap, HashSet};

use baton_shared::cobrowse::{
    asset_ref, has_implicit_ids, resolve_ids, Asset, InputChange, Mutations, Node, NodeId, OnTop, SelectionRange,
    Snapshot, IMPLICIT, WINDOW,
};
use baton_shared::limits::{MAX_MIRROR_ASSET_BYTES, MAX_MIRROR_SHEETS, MAX_MIRROR_URL};

use super::css::{sanitize_css, Prefers, FOCUS_ATTR, FOCUS_WITHIN_ATTR, HOVER_ATTR};
use super::sanitize::{self, ElementPlan, Ns, FRAME_ATTRS, FRAME_SANDBOX, PLACEHOLDER_STYLE};
use super::url::{data_url_type, Base};

/// What the mirror needs from a document.
pub trait Dom {
    type N: Clone;
    fn create_element(&mut self, ns: Ns, tag: &str) -> Option<Self::N>;
    fn create_text(&mut self, text: &str) -> Option<Self::N>;
    fn create_comment(&mut self, text: &str) -> Option<Self::N>;
    fn set_attr(&mut self, node: &Self::N, name: &str, value: &str);
    fn remove_attr(&mut self, node: &Self::N, name: &str);
    /// A text node's data, or an element's text content (`<style>`).
    fn set_text(&mut self, node: &Self::N, text: &str);
    /// Inserts `child` into `parent`, before `before` (which may live in a
    /// shadow root: insert into `before`'s own parent then).
    fn insert(&mut self, parent: &Self::N, child: &Self::N, before: Option<&Self::N>);
    fn detach(&mut self, node: &Self::N);
    /// An open shadow root on `host` to put shadow children in.
    fn attach_shadow(&mut self, host: &Self::N) -> Option<Self::N>;
    /// Makes `root` the document element (replacing the previous one).
    fn set_root(&mut self, root: &Self::N);
    /// Makes `root` the document element of the document inside `frame`, a
    /// mirror `<iframe>` that is in the mirror by now. `false` when the
    /// frame has no document (nothing is shown then).
    fn fill_frame(&mut self, frame: &Self::N, root: &Self::N) -> bool;
    /// Shows these ranges (start node, offset, end node, offset) as the
    /// selection, replacing the one shown before; offsets past a node's end
    /// are clamped.
    fn select(&mut self, ranges: &[(Self::N, u32, Self::N, u32)]);
    /// Never given a value for a file input (the browser throws).
    fn set_value(&mut self, node: &Self::N, value: Option<&str>, checked: Option<bool>);
    /// `None` scrolls the window.
    fn scroll(&mut self, node: Option<&Self::N>, x: i32, y: i32);
    /// Remembers which id an element has, for hit tests.
    fn register(&mut self, node: &Self::N, id: NodeId);
    /// Puts an element in the top layer, above those put there before (a
    /// `dialog` as a modal one, any element as a popover).
    fn show_on_top(&mut self, node: &Self::N, how: OnTop);
    /// Takes an element out of the top layer.
    fn hide_from_top(&mut self, node: &Self::N, how: OnTop);
    /// Paints a `<canvas>` with an image (a PNG or WebP `data:` URL),
    /// stretched over the canvas's own size, over what it showed.
    fn paint_canvas(&mut self, canvas: &Self::N, image: &str);
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyError {
    /// A record names a node the mirror does not know: ask for a keyframe.
    UnknownNode(NodeId),
    /// Incremental records before any snapshot.
    NoSnapshot,
    /// A snapshot or an added subtree gives an id the mirror already has to
    /// another node (parent links could then loop): ask for a keyframe.
    DuplicateNode(NodeId),
    /// An add would move a node inside itself: ask for a keyframe.
    MovedIntoItself(NodeId),
}

#[derive(Debug, Clone)]
enum Kind {
    Element {
        ns: Ns,
        tag: String,
        password: bool,
        /// A file input: takes no value but "" (the browser throws).
        file: bool,
        masked: Option<(u32, u32)>,
        style: bool,
        placeholder: bool,
        /// A mirror `<iframe>` showing a captured document.
        frame: bool,
    },
    /// A text node; `value` is kept for text inside `<style>`.
    Text {
        value: String,
    },
    Comment,
}

struct Entry<N> {
    /// `None` inside an inert subtree or a `<style>`.
    node: Option<N>,
    /// Inert: neither rendered nor followed.
    inert: bool,
    parent: Option<NodeId>,
    children: Vec<NodeId>,
    shadow: Option<N>,
    /// `<style>` for adopted sheets (root element or shadow host).
    adopted: Option<N>,
    /// Asset hashes this style element's CSS comes from.
    css: Vec<String>,
    kind: Kind,
}

pub struct Mirror<D: Dom> {
    pub dom: D,
    /// What the page's URLs resolve against, and its media preferences.
    base: Base,
    /// The page's address (which the header shows; a `<base href>` may
    /// point the URLs elsewhere).
    url: String,
    nodes: HashMap<NodeId, Entry<D::N>>,
    assets: HashMap<String, Asset>,
    root: Option<NodeId>,
    /// Ids removed in the batch being applied (descendants included), so a
    /// remove that repeats one is not mistaken for an unknown node.
    removed: HashSet<NodeId>,
    /// Frames built but not filled yet, with their document's root, in
    /// build order (a frame inside a frame's document comes first).
    pending_frames: Vec<(D::N, D::N)>,
    /// Bytes of asset data the frame being applied may still put into the
    /// mirror ([`MAX_MIRROR_ASSET_BYTES`]).
    budget: Cell<usize>,
    /// What the mirror shows in its top layer, bottom first.
    on_top: Vec<(NodeId, OnTop)>,
    /// The elements marked hovered ([`HOVER_ATTR`]), innermost first.
    hovered: Vec<NodeId>,
    /// The element marked focused, and the elements marked as holding the
    /// focus, innermost first.
    focused: Vec<NodeId>,
    focus_within: Vec<NodeId>,
}

impl<D: Dom> Mirror<D> {
    pub fn new(dom: D) -> Mirror<D> {
        Mirror {
            dom,
            base: Base::new(""),
            url: String::new(),
            nodes: HashMap::new(),
            assets: HashMap::new(),
            root: None,
            removed: HashSet::new(),
            pending_frames: Vec::new(),
            budget: Cell::new(MAX_MIRROR_ASSET_BYTES),
            on_top: Vec::new(),
            hovered: Vec::new(),
            focused: Vec::new(),
            focus_within: Vec::new(),
        }
    }

    pub fn has_snapshot(&self) -> bool {
        self.root.is_some()
    }

    /// The visitor's page address (its URLs may resolve against another,
    /// its `<base href>`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The page's address or base URL changed in the same document: what
    /// it shows stays as it was resolved, what it adds resolves anew (as
    /// in the visitor's browser).
    pub fn moved(&mut self, url: &str, base: Option<&str>) {
        let prefers = self.base.prefers().clone();
        self.base = Base::new(base.unwrap_or(url)).with_prefers(prefers);
        self.url = url.to_owned();
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn node(&self, id: NodeId) -> Option<&D::N> {
        self.nodes.get(&id).and_then(|e| e.node.as_ref())
    }

    /// Whether control commands may target `id`: a live, unmasked element.
    pub fn is_actionable(&self, id: NodeId) -> bool {
        let mut cur = Some(id);
        // One step per node at most: parent links do not loop (`build`
        // refuses repeated ids), and if they did this would still end.
        for _ in 0..=self.nodes.len() {
            let Some(c) = cur else { return true };
            let Some(e) = self.nodes.get(&c) else { return false };
            if e.inert {
                return false;
            }
            if let Kind::Element { masked: Some(_), .. } | Kind::Element { password: true, .. } = e.kind {
                return false;
            }
            cur = e.parent;
        }
        false
    }

    /// Whether `ancestor` is `id` or one of its ancestors.
    fn is_within(&self, id: NodeId, ancestor: NodeId) -> bool {
        let mut cur = Some(id);
        for _ in 0..=self.nodes.len() {
            let Some(c) = cur else { return false };
            if c == ancestor {
                return true;
            }
            cur = self.nodes.get(&c).and_then(|e| e.parent);
        }
        // Parent links that loop: as bad as inside itself.
        true
    }

    /// Looks up asset data for `baton-asset:` references, within the
    /// frame's budget: a reference beyond it resolves like a missing asset.
    fn asset_data(&self) -> impl Fn(&str) -> Option<String> + '_ {
        |h: &str| {
            let data = &self.assets.get(h)?.data;
            self.budget.set(self.budget.get().checked_sub(data.len())?);
            Some(data.clone())
        }
    }

    /// A frame from the visitor starts: what it may add to the mirror
    /// (asset data, resolved URLs) is counted afresh.
    fn begin_frame(&self) {
        self.budget.set(MAX_MIRROR_ASSET_BYTES);
        self.base.renew();
    }

    pub fn add_assets(&mut self, assets: Vec<Asset>) {
        self.begin_frame();
        let mut touched = Vec::new();
        for asset in assets {
            touched.push(asset.hash.clone());
            self.assets.insert(asset.hash.clone(), asset);
        }
        // Styles that were waiting for these.
        let waiting: Vec<NodeId> =
            self.nodes.iter().filter(|(_, e)| e.css.iter().any(|h| touched.contains(h))).map(|(id, _)| *id).collect();
        for id in waiting {
            self.refresh_style(id);
        }
    }

    /// Replaces the whole mirror with a snapshot. A malformed one (see
    /// [`ApplyError`]) leaves no snapshot: nothing of it is known or shown.
    pub fn snapshot(&mut self, snap: &Snapshot) -> Result<(), ApplyError> {
        // The old nodes leave the document, and the top layer with it.
        self.on_top.clear();
        self.hovered.clear();
        self.focused.clear();
        self.focus_within.clear();
        self.nodes.clear();
        self.pending_frames.clear();
        self.root = None;
        // The preferences, then the address and base with them.
        self.base = Base::none().with_prefers(Prefers::of(&snap.prefers));
        self.moved(&snap.url, snap.base.as_deref());
        self.begin_frame();
        let mut tree = with_ids(&snap.root);
        if asset_ref::node_refers(&tree) {
            asset_ref::resolve_node(tree.to_mut(), &self.asset_data());
        }
        let root = match self.build(&tree, None, Ns::Html, "", false) {
            Ok(root) => root,
            Err(e) => {
                self.nodes.clear();
                self.pending_frames.clear();
                return Err(e);
            }
        };
        let root_node = match root {
            Some(n) => n,
            None => {
                // The document element itself was inert or unnamed: an empty page.
                let Some(html) = self.dom.create_element(Ns::Html, "html") else { return Ok(()) };
                html
            }
        };
        self.dom.set_root(&root_node);
        self.fill_frames();
        self.root = Some(snap.root.id());
        for (id, x, y) in &snap.scroll {
            self.scroll(*id, *x, *y);
        }
        Ok(())
    }

    /// Builds `node` (and its subtree) and returns its mirror node, if it
    /// has one. `under_style` marks text that is CSS.
    fn build(
        &mut self,
        node: &Node,
        parent: Option<NodeId>,
        parent_ns: Ns,
        parent_tag: &str,
        hidden: bool,
    ) -> Result<Option<D::N>, ApplyError> {
        let id = node.id();
        if id == IMPLICIT {
            return Err(ApplyError::UnknownNode(IMPLICIT));
        }
        // One node per id: a second one (a child with its parent's id, a
        // node already elsewhere) would make the parent links loop.
        if self.nodes.contains_key(&id) {
            return Err(ApplyError::DuplicateNode(id));
        }
        if let Some(p) = parent.and_then(|p| self.nodes.get_mut(&p)) {
            p.children.push(id);
        }
        let parent_is_style = parent
            .and_then(|p| self.nodes.get(&p))
            .is_some_and(|e| matches!(e.kind, Kind::Element { style: true, .. }));
        match node {
            Node::Text { v, .. } => {
                let dom_node = (!hidden && !parent_is_style).then(|| self.dom.create_text(v)).flatten();
                self.nodes.insert(id, entry(dom_node.clone(), hidden, parent, Kind::Text { value: v.clone() }));
                Ok(dom_node)
            }
            Node::Comment { .. } => {
                let dom_node = (!hidden && !parent_is_style).then(|| self.dom.create_comment("")).flatten();
                self.nodes.insert(id, entry(dom_node.clone(), hidden, parent, Kind::Comment));
                Ok(dom_node)
            }
            Node::Element { n, a, c, s, y, css, f, m, .. } => {
                let ns = parent_ns.child(parent_tag, n);
                let lower = n.to_ascii_lowercase();
                let plan = if hidden || parent_is_style {
                    ElementPlan::Inert
                } else if ns == Ns::Html && matches!(lower.as_str(), "iframe" | "frame") && f.is_some() && m.is_none() {
                    sanitize::plan_frame(a, &self.base)
                } else if ns == Ns::Html && lower == "frameset" && m.is_none() {
                    sanitize::plan_frameset(a, parent_tag.eq_ignore_ascii_case("html"))
                } else {
                    sanitize::plan_element(ns, n, a, &self.base)
                };
                match plan {
                    ElementPlan::Inert => self.build_inert(id, ns, lower, parent, hidden || parent_is_style, (c, s, f)),
                    ElementPlan::Placeholder { label, attrs } => {
                        let Some(el) = self.dom.create_element(Ns::Html, "div") else { return Ok(None) };
                        for (k, v) in &attrs {
                            self.dom.set_attr(&el, k, v);
                        }
                        let mut style = PLACEHOLDER_STYLE.to_owned();
                        for (k, v) in &attrs {
                            if k == "width" || k == "height" {
                                let unit = if v.ends_with('%') { "" } else { "px" };
                                style.push_str(&format!("{k}:{v}{unit};"));
                            }
                        }
                        self.dom.set_attr(&el, "style", &style);
                        self.dom.set_attr(&el, "data-baton-placeholder", &lower);
                        if let Some(text) = self.dom.create_text(&label) {
                            self.dom.insert(&el, &text, None);
                        }
                        self.dom.register(&el, id);
                        let kind = Kind::Element {
                            ns,
                            tag: lower,
                            password: false,
                            file: false,
                            masked: None,
                            style: false,
                            placeholder: true,
                            frame: false,
                        };
                        self.nodes.insert(id, entry(Some(el.clone()), false, parent, kind));
                        // The frame's content is not shown; its ids are known.
                        self.build_inert_children(id, c, s, f)?;
                        Ok(Some(el))
                    }
                    ElementPlan::Frame { attrs } => {
                        let Some(el) = self.dom.create_element(Ns::Html, "iframe") else { return Ok(None) };
                        // Sandboxed before it is ever in a document.
                        self.dom.set_attr(&el, "sandbox", FRAME_SANDBOX);
                        for (k, v) in &attrs {
                            self.dom.set_attr(&el, k, v);
                        }
                        if lower == "frame" {
                            self.dom.set_attr(&el, "style", sanitize::FRAME_IN_FRAMESET_STYLE);
                        }
                        self.dom.set_attr(&el, "referrerpolicy", "no-referrer");
                        self.dom.set_attr(&el, "tabindex", "-1");
                        self.dom.set_attr(&el, "data-baton-frame", "");
                        self.dom.register(&el, id);
                        let kind = Kind::Element {
                            ns,
                            tag: lower,
                            password: false,
                            file: false,
                            masked: None,
                            style: false,
                            placeholder: false,
                            frame: true,
                        };
                        self.nodes.insert(id, entry(Some(el.clone()), false, parent, kind));
                        // Fallback content is never shown; its ids are known.
                        self.build_inert_children(id, c, s, &None)?;
                        if let Some(doc) = f {
                            if let Some(root) = self.build(doc, Some(id), Ns::Html, "", false)? {
                                self.pending_frames.push((el.clone(), root));
                            }
                        }
                        Ok(Some(el))
                    }
                    ElementPlan::Keep { tag, attrs } => {
                        let is_link_sheet = ns == Ns::Html && lower == "link" && css.is_some();
                        let is_style = lower == "style" || is_link_sheet;
                        // A name the browser refuses (`1a`): known, shown as nothing.
                        let Some(el) = self.dom.create_element(ns, if is_link_sheet { "style" } else { &tag }) else {
                            return self.build_inert(id, ns, lower, parent, hidden || parent_is_style, (c, s, f));
                        };
                        let password = sanitize::is_password(&lower, a);
                        for (k, v) in &attrs {
                            if is_link_sheet && (k == "href" || k == "rel") {
                                continue;
                            }
                            if m.is_some() && matches!(k.as_str(), "src" | "srcset" | "value" | "style") {
                                continue;
                            }
                            self.dom.set_attr(&el, k, v);
                        }
                        if let Some(size) = m {
                            let mut style = sanitize::attr(&attrs, "style").unwrap_or_default();
                            style.push(';');
                            style.push_str(&sanitize::masked_style(&lower, *size));
                            self.dom.set_attr(&el, "style", &style);
                            self.dom.set_attr(&el, "data-baton-masked", "");
                        }
                        self.dom.register(&el, id);
                        let kind = Kind::Element {
                            ns,
                            tag: lower.clone(),
                            password,
                            file: sanitize::is_file_input(&lower, a),
                            masked: *m,
                            style: is_style,
                            placeholder: false,
                            frame: false,
                        };
                        let mut e = entry(Some(el.clone()), false, parent, kind);
                        if is_style {
                            e.css = css.iter().cloned().collect();
                        }
                        self.nodes.insert(id, e);
                        if m.is_none() {
                            for child in c {
                                if let Some(cn) = self.build(child, Some(id), ns, &lower, false)? {
                                    self.dom.insert(&el, &cn, None);
                                }
                            }
                            if let Some(shadow_children) = s {
                                let root = self.dom.attach_shadow(&el);
                                let container = root.clone().unwrap_or_else(|| el.clone());
                                if let Some(e) = self.nodes.get_mut(&id) {
                                    e.shadow = root;
                                }
                                for child in shadow_children {
                                    if let Some(cn) = self.build(child, Some(id), ns, &lower, false)? {
                                        self.dom.insert(&container, &cn, None);
                                    }
                                }
                            }
                            if let Some(doc) = f {
                                // A frame document under anything but an iframe: not shown.
                                self.build(doc, Some(id), Ns::Html, "", true)?;
                            }
                        } else {
                            self.build_inert_children(id, c, s, f)?;
                        }
                        if is_style {
                            self.refresh_style(id);
                        }
                        if !y.is_empty() {
                            self.set_adopted(id, y.clone());
                        }
                        Ok(Some(el))
                    }
                }
            }
        }
    }

    /// An element the mirror does not show: a comment stands in for it
    /// (none when `hidden`), and it and its subtree are known as inert, so
    /// later records about them are understood and ignored.
    fn build_inert(
        &mut self,
        id: NodeId,
        ns: Ns,
        tag: String,
        parent: Option<NodeId>,
        hidden: bool,
        (c, s, f): (&[Node], &Option<Vec<Node>>, &Option<Box<Node>>),
    ) -> Result<Option<D::N>, ApplyError> {
        let stand_in = (!hidden).then(|| self.dom.create_comment(&format!("baton: {tag} removed"))).flatten();
        let kind = Kind::Element {
            ns,
            tag,
            password: false,
            file: false,
            masked: None,
            style: false,
            placeholder: false,
            frame: false,
        };
        self.nodes.insert(id, entry(stand_in.clone(), true, parent, kind));
        self.build_inert_children(id, c, s, f)?;
        Ok(stand_in)
    }

    fn build_inert_children(
        &mut self,
        id: NodeId,
        c: &[Node],
        s: &Option<Vec<Node>>,
        f: &Option<Box<Node>>,
    ) -> Result<(), ApplyError> {
        for child in c.iter().chain(s.iter().flatten()).chain(f.iter().map(|b| b.as_ref())) {
            self.build(child, Some(id), Ns::Html, "", true)?;
        }
        Ok(())
    }

    /// The sanitised CSS of these sheets; a sheet the frame's budget has
    /// no room for is left out.
    fn css_of(&self, hashes: &[String]) -> String {
        let mut sheets = Vec::new();
        for asset in hashes.iter().filter_map(|h| self.assets.get(h)) {
            if asset.data.len() > self.budget.get() {
                continue;
            }
            let css = sanitize_css(&self.base, &asset.data);
            let Some(left) = self.budget.get().checked_sub(css.len()) else { continue };
            self.budget.set(left);
            sheets.push(css);
        }
        sheets.join("\n")
    }

    /// Recomputes a `<style>`'s text from its asset or its text children.
    fn refresh_style(&mut self, id: NodeId) {
        let Some(e) = self.nodes.get(&id) else { return };
        let Some(node) = e.node.clone() else { return };
        if !matches!(e.kind, Kind::Element { style: true, .. }) {
            // Adopted sheets of a host.
            if let Some(adopted) = e.adopted.clone() {
                let css = self.css_of(&e.css);
                self.dom.set_text(&adopted, &css);
            }
            return;
        }
        let css = if !e.css.is_empty() {
            self.css_of(&e.css)
        } else {
            let raw: String = e
                .children
                .iter()
                .filter_map(|c| match &self.nodes.get(c)?.kind {
                    Kind::Text { value } => Some(value.as_str()),
                    _ => None,
                })
                .collect();
            sanitize_css(&self.base, &raw)
        };
        self.dom.set_text(&node, &css);
    }

    fn set_adopted(&mut self, id: NodeId, hashes: Vec<String>) {
        let Some(e) = self.nodes.get(&id) else { return };
        let Some(node) = e.node.clone() else { return };
        let adopted = match e.adopted.clone() {
            Some(a) => a,
            None => {
                let Some(style) = self.dom.create_element(Ns::Html, "style") else { return };
                self.dom.set_attr(&style, "data-baton-adopted", "");
                let container = e.shadow.clone().unwrap_or(node);
                self.dom.insert(&container, &style, None);
                style
            }
        };
        if let Some(e) = self.nodes.get_mut(&id) {
            e.adopted = Some(adopted);
            e.css = distinct_sheets(&hashes);
        }
        self.refresh_style(id);
    }

    /// Gives each frame built since the last call its document (outer
    /// frames first: an inner frame is in a document only once its outer
    /// frame was filled).
    fn fill_frames(&mut self) {
        let pending = std::mem::take(&mut self.pending_frames);
        for (frame, root) in pending.iter().rev() {
            self.dom.fill_frame(frame, root);
        }
    }

    /// Applies one batch: removes, adds, attrs, texts, styles.
    pub fn apply(&mut self, m: &Mutations) -> Result<(), ApplyError> {
        self.begin_frame();
        let resolved;
        let m = if asset_ref::mutations_refer(m) {
            let mut copy = m.clone();
            asset_ref::resolve_mutations(&mut copy, &self.asset_data());
            resolved = copy;
            &resolved
        } else {
            m
        };
        let result = self.apply_batch(m);
        // Frames added before an error still get their documents.
        self.fill_frames();
        result
    }

    fn apply_batch(&mut self, m: &Mutations) -> Result<(), ApplyError> {
        if self.root.is_none() {
            return Err(ApplyError::NoSnapshot);
        }
        self.removed.clear();
        // Each parent's list of children is updated once: once per removal
        // made removing many siblings quadratic.
        let mut removed_from: HashMap<NodeId, HashSet<NodeId>> = HashMap::new();
        let mut unknown = None;
        for id in &m.removes {
            if self.removed.contains(id) {
                continue;
            }
            if !self.nodes.contains_key(id) {
                unknown = Some(*id);
                break;
            }
            if let Some(p) = self.remove(*id) {
                removed_from.entry(p).or_default().insert(*id);
            }
        }
        for (p, gone) in removed_from {
            if let Some(e) = self.nodes.get_mut(&p) {
                e.children.retain(|c| !gone.contains(c));
            }
        }
        if let Some(id) = unknown {
            return Err(ApplyError::UnknownNode(id));
        }
        let mut styles_to_refresh = HashSet::new();
        for add in &m.adds {
            let id = add.node.id();
            if id == IMPLICIT {
                return Err(ApplyError::UnknownNode(IMPLICIT));
            }
            for known in [Some(add.parent), add.before].into_iter().flatten() {
                if !self.nodes.contains_key(&known) {
                    return Err(ApplyError::UnknownNode(known));
                }
            }
            if self.nodes.contains_key(&id) {
                // A move: the node comes back at its new place, which must
                // not be inside it.
                if self.is_within(add.parent, id) {
                    return Err(ApplyError::MovedIntoItself(id));
                }
                if let Some(p) = self.remove(id) {
                    if let Some(e) = self.nodes.get_mut(&p) {
                        e.children.retain(|c| *c != id);
                    }
                }
            }
            // Looked up after a move's removal, which could have taken them.
            let Some(parent) = self.nodes.get(&add.parent) else {
                return Err(ApplyError::UnknownNode(add.parent));
            };
            let before = match add.before {
                Some(b) => self.nodes.get(&b).ok_or(ApplyError::UnknownNode(b))?.node.clone(),
                None => None,
            };
            let (hidden, parent_ns, parent_tag, parent_style) = match &parent.kind {
                Kind::Element { ns, tag, masked, style, placeholder, frame, .. } => {
                    (parent.inert || masked.is_some() || *placeholder || *frame, *ns, tag.clone(), *style)
                }
                _ => (true, Ns::Html, String::new(), false),
            };
            let node = with_ids(&add.node);
            let container =
                if add.shadow { parent.shadow.clone().or(parent.node.clone()) } else { parent.node.clone() };
            let built = self.build(&node, Some(add.parent), parent_ns, &parent_tag, hidden)?;
            if let (Some(child), Some(container), false) = (built, container, hidden) {
                self.dom.insert(&container, &child, before.as_ref());
            }
            if parent_style {
                styles_to_refresh.insert(add.parent);
            }
        }
        for change in &m.attrs {
            self.set_attr(change.id, &change.name, change.value.as_deref())?;
        }
        for (id, text) in &m.texts {
            let Some(e) = self.nodes.get_mut(id) else { return Err(ApplyError::UnknownNode(*id)) };
            // Only a text node's data: an element's text (a `<style>`'s)
            // would skip the CSS sanitiser, and comments show none.
            let Kind::Text { value } = &mut e.kind else { continue };
            value.clone_from(text);
            let parent = e.parent;
            if let Some(node) = e.node.clone() {
                self.dom.set_text(&node, text);
            } else if let Some(p) = parent {
                styles_to_refresh.insert(p);
            }
        }
        for (id, hashes) in &m.styles {
            let Some(e) = self.nodes.get_mut(id) else { return Err(ApplyError::UnknownNode(*id)) };
            if e.inert {
                continue;
            }
            if matches!(e.kind, Kind::Element { style: true, .. }) {
                e.css = distinct_sheets(hashes);
                styles_to_refresh.insert(*id);
            } else {
                self.set_adopted(*id, hashes.clone());
            }
        }
        for id in styles_to_refresh {
            self.refresh_style(id);
        }
        Ok(())
    }

    /// Forgets `id` and its subtree and detaches its node. Returns its
    /// parent, whose list of children the caller updates (once for many
    /// siblings).
    fn remove(&mut self, id: NodeId) -> Option<NodeId> {
        let e = self.nodes.remove(&id)?;
        self.removed.insert(id);
        if let Some(node) = &e.node {
            self.dom.detach(node);
        }
        let parent = e.parent;
        let mut stack = e.children;
        while let Some(c) = stack.pop() {
            if let Some(child) = self.nodes.remove(&c) {
                self.removed.insert(c);
                stack.extend(child.children);
            }
        }
        if self.root == Some(id) {
            self.root = None;
        }
        parent
    }

    fn set_attr(&mut self, id: NodeId, name: &str, value: Option<&str>) -> Result<(), ApplyError> {
        let Some(e) = self.nodes.get_mut(&id) else { return Err(ApplyError::UnknownNode(id)) };
        if e.inert {
            return Ok(());
        }
        let Some(node) = e.node.clone() else { return Ok(()) };
        let Kind::Element { ns, tag, password, file, masked, placeholder, frame, .. } = &mut e.kind else {
            return Ok(());
        };
        let lname = name.to_ascii_lowercase();
        if *placeholder && !matches!(lname.as_str(), "class" | "id") {
            return Ok(());
        }
        // A frameset's grid, and each frame's place in it, stay as built:
        // nothing the page changes on them may undo that layout.
        if *ns == Ns::Html && matches!(tag.as_str(), "frameset" | "frame") {
            return Ok(());
        }
        if *frame {
            // Never a source, a srcdoc or another sandbox: only size and style.
            match value.and_then(|v| sanitize::frame_attr(name, v, &self.base)) {
                Some((k, v)) => self.dom.set_attr(&node, &k, &v),
                None if FRAME_ATTRS.contains(&lname.as_str()) => self.dom.remove_attr(&node, &lname),
                None => {}
            }
            return Ok(());
        }
        if tag == "input" && lname == "type" {
            *password = value.is_some_and(|t| t.trim().eq_ignore_ascii_case("password"));
            *file = value.is_some_and(|t| t.trim().eq_ignore_ascii_case("file"));
            if *password {
                self.dom.remove_attr(&node, "value");
                self.dom.set_value(&node, Some(""), None);
            }
        }
        let (ns, tag, password, masked) = (*ns, tag.clone(), *password, *masked);
        if password && lname == "value" {
            return Ok(());
        }
        if masked.is_some() && matches!(lname.as_str(), "src" | "srcset" | "value") {
            return Ok(());
        }
        // The name the attribute has in the mirror, to remove the old value.
        let mirror_name = match lname.as_str() {
            "href" | "xlink:href" if ns == Ns::Html && (tag == "a" || tag == "area") || ns == Ns::Svg && tag == "a" => {
                "data-baton-href".to_owned()
            }
            "xlink:href" => "href".to_owned(),
            _ if ns == Ns::Html => lname.clone(),
            _ => name.to_owned(),
        };
        let kept = value.and_then(|v| sanitize::sanitize_attr(ns, &tag, name, v, &self.base));
        match kept {
            Some((k, mut v)) => {
                if let (Some(size), "style") = (masked, k.as_str()) {
                    v.push(';');
                    v.push_str(&sanitize::masked_style(&tag, size));
                }
                self.dom.set_attr(&node, &k, &v);
            }
            None => {
                if masked.is_some() && lname == "style" {
                    return Ok(());
                }
                self.dom.remove_attr(&node, &mirror_name);
            }
        }
        Ok(())
    }

    pub fn input(&mut self, change: &InputChange) -> Result<(), ApplyError> {
        let Some(e) = self.nodes.get(&change.id) else { return Err(ApplyError::UnknownNode(change.id)) };
        if e.inert {
            return Ok(());
        }
        if let (Some(node), Kind::Element { password: false, masked: None, file, .. }) = (&e.node, &e.kind) {
            // The mirror shows a file input empty: it takes no other value
            // (the browser throws).
            let value = if *file { None } else { change.value.as_deref() };
            let node = node.clone();
            self.dom.set_value(&node, value, change.checked);
        }
        Ok(())
    }

    /// Shows the visitor's selection; ranges whose ends the mirror does not
    /// show (unknown, inert, masked) are left out.
    pub fn select(&mut self, ranges: &[SelectionRange]) {
        let shown: Vec<_> = ranges
            .iter()
            .filter_map(|r| {
                Some((self.node(r.start)?.clone(), r.start_offset, self.node(r.end)?.clone(), r.end_offset))
            })
            .collect();
        self.dom.select(&shown);
    }

    /// Shows what the visitor's page has in its top layer (bottom first):
    /// what is shown already stays up to where the lists part, the rest is
    /// taken down and put up in the page's order. Ids the mirror does not
    /// show (unknown, inert, placeholders, frames; a modal that is not a
    /// `dialog`) are left out: nothing to ask a keyframe for.
    pub fn top_layer(&mut self, shown: &[(NodeId, OnTop)]) {
        let shown: Vec<(NodeId, OnTop)> =
            shown.iter().copied().filter(|&(id, how)| self.can_be_on_top(id, how)).collect();
        let kept = self.on_top.iter().zip(&shown).take_while(|(a, b)| a == b).count();
        for (id, how) in self.on_top.split_off(kept).into_iter().rev() {
            if let Some(node) = self.node(id).cloned() {
                self.dom.hide_from_top(&node, how);
            }
        }
        for &(id, how) in &shown[kept..] {
            if let Some(node) = self.node(id).cloned() {
                self.dom.show_on_top(&node, how);
                self.on_top.push((id, how));
            }
        }
    }

    /// Shows what a `<canvas>` of the visitor's page shows. Anything but a
    /// PNG or WebP `data:` URL within [`MAX_MIRROR_URL`], or an id the
    /// mirror does not show as a canvas, is ignored (no keyframe for it).
    pub fn canvas(&mut self, id: NodeId, src: &str) {
        let Some(Entry {
            node: Some(node),
            inert: false,
            kind: Kind::Element { ns: Ns::Html, tag, masked: None, placeholder: false, .. },
            ..
        }) = self.nodes.get(&id)
        else {
            return;
        };
        let image = matches!(data_url_type(src), Some((mime, true)) if mime == "image/png" || mime == "image/webp");
        if tag == "canvas" && image && src.len() <= MAX_MIRROR_URL {
            let node = node.clone();
            self.dom.paint_canvas(&node, src);
        }
    }

    /// Marks the element the visitor's pointer is over and its ancestors
    /// (through shadow hosts and frames) as hovered, for the mirror's CSS
    /// (`:hover` reads [`HOVER_ATTR`] there), and unmarks the rest. `None`:
    /// nothing is hovered. Unknown ids mark nothing.
    pub fn hover(&mut self, on: Option<NodeId>) {
        let chain = self.element_chain(on);
        let before = std::mem::take(&mut self.hovered);
        self.hovered = self.remark(HOVER_ATTR, before, chain);
    }

    /// Marks the element that has the visitor's focus ([`FOCUS_ATTR`]),
    /// and it and its ancestors ([`FOCUS_WITHIN_ATTR`]), as [`Self::hover`].
    pub fn focus(&mut self, on: Option<NodeId>) {
        let chain = self.element_chain(on);
        let own = chain.first().copied().filter(|&id| Some(id) == on).into_iter().collect();
        let before = std::mem::take(&mut self.focused);
        self.focused = self.remark(FOCUS_ATTR, before, own);
        let before = std::mem::take(&mut self.focus_within);
        self.focus_within = self.remark(FOCUS_WITHIN_ATTR, before, chain);
    }

    /// `on` if it is a shown element, and its shown ancestors, innermost first.
    fn element_chain(&self, on: Option<NodeId>) -> Vec<NodeId> {
        let mut chain = Vec::new();
        let mut cur = on;
        // Parent links do not loop (`build` refuses repeated ids).
        while let Some(id) = cur {
            let Some(e) = self.nodes.get(&id) else { break };
            if e.node.is_some() && matches!(e.kind, Kind::Element { .. }) {
                chain.push(id);
            }
            cur = e.parent;
        }
        chain
    }

    /// Moves `attr` from the elements of `before` to those of `now`,
    /// touching only those that change; returns `now`.
    fn remark(&mut self, attr: &str, before: Vec<NodeId>, now: Vec<NodeId>) -> Vec<NodeId> {
        if before == now {
            return now;
        }
        let kept: HashSet<NodeId> = now.iter().copied().collect();
        let had: HashSet<NodeId> = before.iter().copied().collect();
        for id in before.into_iter().filter(|id| !kept.contains(id)) {
            if let Some(node) = self.node(id).cloned() {
                self.dom.remove_attr(&node, attr);
            }
        }
        for &id in now.iter().filter(|id| !had.contains(id)) {
            if let Some(node) = self.node(id).cloned() {
                self.dom.set_attr(&node, attr, "");
            }
        }
        now
    }

    fn can_be_on_top(&self, id: NodeId, how: OnTop) -> bool {
        let Some(Entry {
            node: Some(_), inert: false, kind: Kind::Element { ns, tag, placeholder, frame, .. }, ..
        }) = self.nodes.get(&id)
        else {
            return false;
        };
        !placeholder && !frame && (how == OnTop::Popover || *ns == Ns::Html && tag == "dialog")
    }

    /// Scrolls the window (`WINDOW`) or an element (a frame's window by the
    /// id of its document element); unknown ids are ignored
    /// (scrolling is not worth a keyframe).
    pub fn scroll(&mut self, id: NodeId, x: i32, y: i32) {
        if id == WINDOW {
            self.dom.scroll(None, x, y);
        } else if let Some(node) = self.nodes.get(&id).and_then(|e| e.node.clone()) {
            self.dom.scroll(Some(&node), x, y);
        }
    }
}

/// The sheets an owner shows: each hash once, where it last comes (a
/// repeated sheet's rules take effect at their last place in the cascade;
/// only the order of `@layer` names, set where one first appears, could
/// differ), and the last [`MAX_MIRROR_SHEETS`] of them.
fn distinct_sheets(hashes: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut kept: Vec<String> =
        hashes.iter().rev().filter(|h| seen.insert(h.as_str())).take(MAX_MIRROR_SHEETS).cloned().collect();
    kept.reverse();
    kept
}

fn entry<N>(node: Option<N>, inert: bool, parent: Option<NodeId>, kind: Kind) -> Entry<N> {
    Entry { node, inert, parent, children: Vec::new(), shadow: None, adopted: None, css: Vec::new(), kind }
}

#[cfg(test)]
pub mod fake {
    //! A document made of plain structs, serialised to HTML-ish text for assertions.
    use super::*;

    #[derive(Debug, Clone, Default)]
    pub struct FakeNode {
        pub tag: Option<String>,
        pub text: String,
        pub comment: bool,
        pub attrs: Vec<(String, String)>,
        pub children: Vec<usize>,
        pub parent: Option<usize>,
        pub value: Option<String>,
        pub scroll: (i32, i32),
        pub id: Option<NodeId>,
    }

    #[derive(Default)]
    pub struct FakeDom {
        pub nodes: Vec<FakeNode>,
        pub root: Option<usize>,
        pub window_scroll: (i32, i32),
        pub created: usize,
        /// What [`Dom::select`] was last given.
        pub selection: Vec<(usize, u32, usize, u32)>,
        /// The top layer, bottom first, and how many times it was changed.
        pub on_top: Vec<(usize, OnTop)>,
        pub top_layer_calls: usize,
        /// What [`Dom::paint_canvas`] was given, in order.
        pub painted: Vec<(usize, String)>,
    }

    impl FakeDom {
        fn new_node(&mut self, n: FakeNode) -> usize {
            self.created += 1;
            self.nodes.push(n);
            self.nodes.len() - 1
        }

        pub fn html(&self) -> String {
            self.root.map(|r| self.render(r)).unwrap_or_default()
        }

        pub fn render(&self, i: usize) -> String {
            let n = &self.nodes[i];
            match &n.tag {
                None if n.comment => format!("<!--{}-->", n.text),
                None => n.text.clone(),
                Some(tag) => {
                    let attrs: String = n.attrs.iter().map(|(k, v)| format!(" {k}=\"{v}\"")).collect();
                    let inner: String = n.children.iter().map(|c| self.render(*c)).collect();
                    let text = if n.children.is_empty() { n.text.clone() } else { String::new() };
                    format!("<{tag}{attrs}>{text}{inner}</{tag}>")
                }
            }
        }

        pub fn find_by_id(&self, id: NodeId) -> Option<&FakeNode> {
            self.nodes.iter().find(|n| n.id == Some(id))
        }
    }

    impl Dom for FakeDom {
        type N = usize;
        fn create_element(&mut self, _ns: Ns, tag: &str) -> Option<usize> {
            // The browser refuses names that do not start with a letter.
            if !tag.starts_with(|c: char| c.is_ascii_alphabetic()) {
                return None;
            }
            Some(self.new_node(FakeNode { tag: Some(tag.to_owned()), ..Default::default() }))
        }
        fn create_text(&mut self, text: &str) -> Option<usize> {
            Some(self.new_node(FakeNode { text: text.to_owned(), ..Default::default() }))
        }
        fn create_comment(&mut self, text: &str) -> Option<usize> {
            Some(self.new_node(FakeNode { text: text.to_owned(), comment: true, ..Default::default() }))
        }
        fn set_attr(&mut self, node: &usize, name: &str, value: &str) {
            let attrs = &mut self.nodes[*node].attrs;
            match attrs.iter_mut().find(|(k, _)| k == name) {
                Some(a) => a.1 = value.to_owned(),
                None => attrs.push((name.to_owned(), value.to_owned())),
            }
        }
        fn remove_attr(&mut self, node: &usize, name: &str) {
            self.nodes[*node].attrs.retain(|(k, _)| k != name);
        }
        fn set_text(&mut self, node: &usize, text: &str) {
            self.nodes[*node].text = text.to_owned();
        }
        fn insert(&mut self, parent: &usize, child: &usize, before: Option<&usize>) {
            self.detach(child);
            let parent = match before.and_then(|b| self.nodes[*b].parent) {
                Some(p) => p,
                None => *parent,
            };
            let pos = before
                .and_then(|b| self.nodes[parent].children.iter().position(|c| c == b))
                .unwrap_or(self.nodes[parent].children.len());
            self.nodes[parent].children.insert(pos, *child);
            self.nodes[*child].parent = Some(parent);
        }
        fn detach(&mut self, node: &usize) {
            // Out of the document, out of the top layer (as in a browser).
            self.on_top.retain(|(n, _)| n != node);
            if let Some(p) = self.nodes[*node].parent.take() {
                // From the end: taking off last children is cheap, as in a browser.
                let children = &mut self.nodes[p].children;
                if let Some(i) = children.iter().rposition(|c| c == node) {
                    children.remove(i);
                }
            }
        }
        fn attach_shadow(&mut self, host: &usize) -> Option<usize> {
            let root = self.new_node(FakeNode { tag: Some("#shadow-root".into()), ..Default::default() });
            self.insert(host, &root, None);
            Some(root)
        }
        fn set_root(&mut self, root: &usize) {
            self.on_top.clear();
            self.root = Some(*root);
        }
        /// The frame's document is a `#document` child of the frame
        /// element, once the frame is under the root.
        fn fill_frame(&mut self, frame: &usize, root: &usize) -> bool {
            let mut top = *frame;
            while let Some(p) = self.nodes[top].parent {
                top = p;
            }
            if self.root != Some(top) || self.nodes[*frame].tag.as_deref() != Some("iframe") {
                return false;
            }
            let doc = self.new_node(FakeNode { tag: Some("#document".into()), ..Default::default() });
            self.insert(frame, &doc, None);
            self.insert(&doc, root, None);
            true
        }
        fn select(&mut self, ranges: &[(usize, u32, usize, u32)]) {
            self.selection = ranges.to_vec();
        }
        fn set_value(&mut self, node: &usize, value: Option<&str>, _checked: Option<bool>) {
            if let Some(v) = value {
                // The browser throws InvalidStateError here.
                let file =
                    self.nodes[*node].attrs.iter().any(|(k, t)| k == "type" && t.trim().eq_ignore_ascii_case("file"));
                assert!(!file || v.is_empty(), "a file input given the value {v:?}");
                self.nodes[*node].value = Some(v.to_owned());
            }
        }
        fn scroll(&mut self, node: Option<&usize>, x: i32, y: i32) {
            match node {
                Some(n) => self.nodes[*n].scroll = (x, y),
                None => self.window_scroll = (x, y),
            }
        }
        fn register(&mut self, node: &usize, id: NodeId) {
            self.nodes[*node].id = Some(id);
        }
        fn show_on_top(&mut self, node: &usize, how: OnTop) {
            self.on_top.retain(|(n, _)| n != node);
            self.on_top.push((*node, how));
            self.top_layer_calls += 1;
        }
        fn hide_from_top(&mut self, node: &usize, _how: OnTop) {
            self.on_top.retain(|(n, _)| n != node);
            self.top_layer_calls += 1;
        }
        fn paint_canvas(&mut self, canvas: &usize, image: &str) {
            self.painted.push((*canvas, image.to_owned()));
        }
    }
}

/// A received subtree with the ids its sender left implicit filled in
/// (borrowed as is when every id is there).
fn with_ids(node: &Node) -> Cow<'_, Node> {
    if !has_implicit_ids(node) {
        return Cow::Borrowed(node);
    }
    let mut resolved = node.clone();
    resolve_ids(&mut resolved);
    Cow::Owned(resolved)
}

#[cfg(test)]
mod tests {
    use super::fake::FakeDom;
    use super::*;
    use crate::console::css::BLOCKED_URL;
    use baton_shared::cobrowse::{AddedNode, AttrChange, SelectionRange};
    use baton_shared::limits::MAX_MIRROR_RESOLVED_BYTES;
    use serde_json::json;

    fn node(v: serde_json::Value) -> Node {
        serde_json::from_value(v).unwrap()
    }

    fn snap(root: serde_json::Value) -> Snapshot {
        Snapshot {
            url: "https://shop.example/p/".into(),
            title: "t".into(),
            doctype: None,
            root: node(root),
            viewport: (800, 600),
            scroll: vec![(0, 0, 40)],
            prefers: vec![],
            base: None,
            generation: 0,
        }
    }

    fn page() -> Snapshot {
        snap(json!({"t":"e","i":1,"n":"html","c":[
            {"t":"e","i":2,"n":"head","c":[
                {"t":"e","i":3,"n":"script","c":[{"t":"x","i":4,"v":"window.top.__pwned=1"}]},
                {"t":"e","i":5,"n":"style","c":[{"t":"x","i":6,"v":"b{background:url(javascript:x)}"}]},
                {"t":"e","i":7,"n":"base","a":[["href","https://evil.example/"]]},
                {"t":"e","i":8,"n":"meta","a":[["http-equiv","refresh"],["content","0;url=javascript:x"]]}
            ]},
            {"t":"e","i":10,"n":"body","c":[
                {"t":"e","i":11,"n":"p","a":[["onclick","x()"]],"c":[{"t":"x","i":12,"v":"Hello"}]},
                {"t":"e","i":13,"n":"img","a":[["src","a.png"],["onerror","x()"]]},
                {"t":"e","i":14,"n":"a","a":[["href","javascript:alert(1)"]],"c":[{"t":"x","i":15,"v":"link"}]},
                {"t":"e","i":16,"n":"iframe","a":[["srcdoc","<script>x</script>"]]},
                {"t":"e","i":17,"n":"input","a":[["type","password"],["value","secret"]]},
                {"t":"e","i":18,"n":"span","m":[40,10],"c":[{"t":"x","i":19,"v":"private"}]},
                {"t":"e","i":20,"n":"svg","c":[{"t":"e","i":21,"n":"script","c":[{"t":"x","i":22,"v":"alert(1)"}]}]},
                {"t":"e","i":23,"n":"input","a":[["type","text"]]}
            ]}
        ]}))
    }

    #[test]
    fn the_pages_urls_resolve_against_its_base_url_when_it_has_one() {
        let mut m = Mirror::new(FakeDom::default());
        let mut s = snap(json!({"t":"e","i":1,"n":"html","c":[{"t":"e","i":2,"n":"body","c":[
            {"t":"e","i":3,"n":"img","a":[["src","assets/logo.png"]]},
            {"t":"e","i":4,"n":"style","c":[{"t":"x","i":5,"v":"p{background:url(bg.png)}"}]}
        ]}]}));
        s.url = "https://shop.example/app/orders/42".into();
        s.base = Some("https://shop.example/".into());
        m.snapshot(&s).unwrap();
        let html = m.dom.html();
        assert!(html.contains("<img src=\"https://shop.example/assets/logo.png\">"), "{html}");
        assert!(html.contains("url(\"https://shop.example/bg.png\")"), "{html}");
        assert_eq!(m.url(), "https://shop.example/app/orders/42");
        // Moved in the same document: what is shown stays, what is added
        // resolves against the new place.
        m.moved("https://shop.example/app/settings/profile", None);
        let add = |id: NodeId| AddedNode {
            parent: 2,
            before: None,
            shadow: false,
            node: node(json!({"t":"e","i":id,"n":"img","a":[["src","avatar.png"]]})),
        };
        m.apply(&Mutations { adds: vec![add(6)], ..Default::default() }).unwrap();
        let html = m.dom.html();
        assert!(html.contains("<img src=\"https://shop.example/assets/logo.png\">"), "{html}");
        assert!(html.contains("<img src=\"https://shop.example/app/settings/avatar.png\">"), "{html}");
        assert_eq!(m.url(), "https://shop.example/app/settings/profile");
        // A base no relative URL can resolve against leaves them out.
        s.base = Some("javascript:alert(1)//".into());
        m.snapshot(&s).unwrap();
        assert!(m.dom.html().contains("<img>"), "{}", m.dom.html());
    }

    fn mirror() -> Mirror<FakeDom> {
        let mut m = Mirror::new(FakeDom::default());
        m.snapshot(&page()).unwrap();
        m
    }

    #[test]
    fn snapshot_is_sanitised() {
        let m = mirror();
        let html = m.dom.html();
        assert!(html.contains("Hello"), "{html}");
        for bad in [
            "__pwned",
            "onclick",
            "onerror",
            "javascript:",
            "srcdoc",
            "evil.example",
            "refresh",
            "secret",
            "private",
            "alert",
        ] {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
        assert!(html.contains("<img src=\"https://shop.example/p/a.png\">"), "{html}");
        assert!(html.contains("data-baton-placeholder=\"iframe\""), "{html}");
        assert!(html.contains("data-baton-masked"), "{html}");
        assert!(html.contains("url(\"about:invalid\")"), "style text sanitised: {html}");
        assert_eq!(m.dom.window_scroll, (0, 40));
        assert!(m.is_actionable(23));
        assert!(!m.is_actionable(17), "password");
        assert!(!m.is_actionable(18), "masked");
        assert!(!m.is_actionable(4), "inert");
    }

    #[test]
    fn implicit_ids_are_read_in_document_order() {
        let mut m = Mirror::new(FakeDom::default());
        m.snapshot(&snap(json!({"t":"e","i":1,"n":"html","c":[
            {"t":"e","n":"body","c":[
                {"t":"e","n":"p","c":[{"t":"x","v":"one"}]},
                {"t":"e","i":9,"n":"p","c":[{"t":"x","v":"two"}]}
            ]}
        ]})))
        .unwrap();
        m.apply(&Mutations {
            texts: vec![(4, "ONE".into()), (10, "TWO".into())],
            adds: vec![AddedNode {
                parent: 2,
                before: None,
                shadow: false,
                node: node(json!({"t":"e","i":20,"n":"p","c":[{"t":"x","v":"three"}]})),
            }],
            ..Default::default()
        })
        .unwrap();
        m.apply(&Mutations { texts: vec![(21, "THREE".into())], ..Default::default() }).unwrap();
        let html = m.dom.html();
        assert!(html.contains("<p>ONE</p><p>TWO</p><p>THREE</p>"), "{html}");
        let bad = Mutations {
            adds: vec![AddedNode { parent: 2, before: None, shadow: false, node: node(json!({"t":"x","v":"?"})) }],
            ..Default::default()
        };
        assert_eq!(m.apply(&bad), Err(ApplyError::UnknownNode(IMPLICIT)));
    }

    #[test]
    fn mutations_apply_in_place() {
        let mut m = mirror();
        let before = m.dom.created;
        m.apply(&Mutations {
            adds: vec![AddedNode {
                parent: 10,
                before: Some(13),
                shadow: false,
                node: node(json!({"t":"e","i":30,"n":"b","a":[["onmouseover","x"]],"c":[{"t":"x","i":31,"v":"New"}]})),
            }],
            texts: vec![(12, "Hi there".into())],
            attrs: vec![
                AttrChange { id: 13, name: "src".into(), value: Some("javascript:x".into()) },
                AttrChange { id: 11, name: "class".into(), value: Some("big".into()) },
                AttrChange { id: 14, name: "href".into(), value: Some("/ok".into()) },
            ],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(m.dom.created - before, 2, "only the new nodes were created");
        let html = m.dom.html();
        assert!(html.contains("<b>New</b><img>"), "inserted before the image, whose unsafe src went: {html}");
        assert!(html.contains("<p class=\"big\">Hi there</p>"), "{html}");
        assert!(html.contains("data-baton-href=\"https://shop.example/ok\""), "{html}");

        m.apply(&Mutations { removes: vec![30, 31], ..Default::default() }).unwrap();
        assert!(!m.dom.html().contains("New"));
        assert_eq!(m.apply(&Mutations { removes: vec![30], ..Default::default() }), Err(ApplyError::UnknownNode(30)));
        assert_eq!(
            m.apply(&Mutations { texts: vec![(99, "x".into())], ..Default::default() }),
            Err(ApplyError::UnknownNode(99))
        );
    }

    #[test]
    fn inert_subtrees_absorb_their_mutations() {
        let mut m = mirror();
        m.apply(&Mutations {
            adds: vec![AddedNode {
                parent: 3,
                before: None,
                shadow: false,
                node: node(json!({"t":"x","i":40,"v":"more()"})),
            }],
            texts: vec![(4, "window.top.__pwned=2".into())],
            attrs: vec![AttrChange { id: 8, name: "content".into(), value: Some("1".into()) }],
            ..Default::default()
        })
        .unwrap();
        let html = m.dom.html();
        assert!(!html.contains("pwned") && !html.contains("more()"), "{html}");
        // A script added later is inert too.
        m.apply(&Mutations {
            adds: vec![AddedNode {
                parent: 10,
                before: None,
                shadow: false,
                node: node(json!({"t":"e","i":41,"n":"script","c":[{"t":"x","i":42,"v":"evil()"}]})),
            }],
            ..Default::default()
        })
        .unwrap();
        assert!(!m.dom.html().contains("evil"));
    }

    #[test]
    fn style_text_changes_are_sanitised() {
        let mut m = mirror();
        m.apply(&Mutations { texts: vec![(6, "i{color:red;background:url(x.png)}".into())], ..Default::default() })
            .unwrap();
        let html = m.dom.html();
        assert!(
            html.contains("<style>i{color:red;background:url(\"https://shop.example/p/x.png\")}</style>"),
            "{html}"
        );
    }

    #[test]
    fn stylesheets_from_assets_wait_for_their_asset() {
        let mut m = Mirror::new(FakeDom::default());
        m.snapshot(&snap(json!({"t":"e","i":1,"n":"html","c":[
            {"t":"e","i":2,"n":"link","a":[["rel","stylesheet"],["href","s.css"]],"css":"abc"}
        ]})))
        .unwrap();
        assert!(m.dom.html().contains("<style></style>"), "{}", m.dom.html());
        m.add_assets(vec![Asset { hash: "abc".into(), mime: "text/css".into(), data: "p{color:blue}".into() }]);
        assert!(m.dom.html().contains("<style>p{color:blue}</style>"), "{}", m.dom.html());
    }

    #[test]
    fn long_data_urls_come_from_assets_and_are_still_sanitised() {
        let png = format!("data:image/png;base64,{}", "A".repeat(300));
        let html = format!("data:text/html,{}", "<script>x()</script>".repeat(20));
        let mut m = Mirror::new(FakeDom::default());
        m.add_assets(vec![
            Asset { hash: "img".into(), mime: "image/png".into(), data: png.clone() },
            Asset { hash: "doc".into(), mime: "text/html".into(), data: html },
        ]);
        m.snapshot(&snap(json!({"i":1,"n":"html","c":[
            {"n":"img","a":[["src","baton-asset:img"]]},
            {"n":"img","a":[["src","baton-asset:img"]]},
            {"n":"img","a":[["src","baton-asset:doc"]]}
        ]})))
        .unwrap();
        let out = m.dom.html();
        assert_eq!(out.matches(&png).count(), 2, "{out}");
        assert!(!out.contains("baton-asset:") && !out.contains("text/html"), "{out}");
        m.apply(&Mutations {
            attrs: vec![AttrChange { id: 4, name: "src".into(), value: Some("baton-asset:img".into()) }],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(m.dom.html().matches(&png).count(), 3, "{}", m.dom.html());
    }

    #[test]
    fn input_values_are_shown_except_for_passwords() {
        let mut m = mirror();
        m.input(&InputChange { id: 23, value: Some("***".into()), checked: None }).unwrap();
        m.input(&InputChange { id: 17, value: Some("hunter2".into()), checked: None }).unwrap();
        assert_eq!(m.dom.find_by_id(23).unwrap().value.as_deref(), Some("***"));
        assert_eq!(m.dom.find_by_id(17).unwrap().value, None);
        // Turning a field into a password clears it.
        m.apply(&Mutations {
            attrs: vec![AttrChange { id: 23, name: "type".into(), value: Some("password".into()) }],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(m.dom.find_by_id(23).unwrap().value.as_deref(), Some(""));
        assert!(m.input(&InputChange { id: 77, value: None, checked: Some(true) }).is_err());
    }

    #[test]
    fn moves_and_shadow_roots() {
        let mut m = Mirror::new(FakeDom::default());
        m.snapshot(&snap(json!({"t":"e","i":1,"n":"html","c":[
            {"t":"e","i":2,"n":"div","s":[{"t":"x","i":3,"v":"in shadow"}]},
            {"t":"e","i":4,"n":"p","c":[{"t":"x","i":5,"v":"para"}]}
        ]})))
        .unwrap();
        assert!(m.dom.html().contains("<div><#shadow-root>in shadow</#shadow-root></div>"), "{}", m.dom.html());
        m.apply(&Mutations {
            adds: vec![AddedNode {
                parent: 2,
                before: None,
                shadow: true,
                node: node(json!({"t":"e","i":4,"n":"p","c":[{"t":"x","i":5,"v":"para"}]})),
            }],
            ..Default::default()
        })
        .unwrap();
        assert!(
            m.dom.html().contains("<#shadow-root>in shadow<p>para</p></#shadow-root></div></html>"),
            "{}",
            m.dom.html()
        );
    }

    fn framed_page() -> Snapshot {
        let deeper = json!({"t":"e","n":"iframe","f":{"t":"e","n":"html","c":[
            {"t":"e","n":"body","c":[{"t":"x","v":"Deeper"}]}
        ]}});
        let body = json!({"t":"e","n":"body","a":[["onload","x()"]],"c":[
            {"t":"e","i":10,"n":"p","c":[{"t":"x","v":"Inside the frame"}]},
            {"t":"e","n":"img","a":[["src","pic.png"],["onerror","x()"]]},
            deeper
        ]});
        let doc = json!({"t":"e","i":5,"n":"html","c":[
            {"t":"e","n":"head","c":[{"t":"e","n":"script","c":[{"t":"x","v":"window.top.__pwned=1"}]}]},
            body
        ]});
        let frame = json!({"t":"e","i":3,"n":"iframe","a":[
            ["src","inner.html"],["srcdoc","<script>x()</script>"],["sandbox","allow-scripts"],
            ["onload","x()"],["width","320"],["height","200"],["class","box"]
        ],"c":[{"t":"x","i":4,"v":"fallback"}],"f":doc});
        snap(json!({"t":"e","i":1,"n":"html","c":[
            {"t":"e","i":2,"n":"body","c":[
                frame,
                {"t":"e","i":30,"n":"iframe","a":[["src","https://other.example/"],["width","100"]]}
            ]}
        ]}))
    }

    #[test]
    fn same_origin_frames_are_built_into_sandboxed_frames() {
        let mut m = Mirror::new(FakeDom::default());
        m.snapshot(&framed_page()).unwrap();
        let html = m.dom.html();
        assert!(
            html.contains("<iframe sandbox=\"allow-same-origin\" width=\"320\" height=\"200\" class=\"box\" referrerpolicy=\"no-referrer\" tabindex=\"-1\" data-baton-frame=\"\"><#document><html>"),
            "{html}"
        );
        assert!(html.contains("<p>Inside the frame</p><img src=\"https://shop.example/p/pic.png\">"), "{html}");
        assert!(html.contains("<iframe sandbox=\"allow-same-origin\" referrerpolicy=\"no-referrer\" tabindex=\"-1\" data-baton-frame=\"\"><#document><html><body>Deeper</body></html></#document></iframe>"), "{html}");
        for bad in
            ["__pwned", "onload", "onerror", "srcdoc", "inner.html", "allow-scripts", "fallback", "other.example"]
        {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
        assert!(html.contains("data-baton-placeholder=\"iframe\""), "a cross-origin frame stays a placeholder: {html}");
        // Implicit ids inside the frame's document were read in order.
        assert!(m.dom.find_by_id(10).is_some());
        assert_eq!(m.node_count(), 17);
        assert!(m.is_actionable(10));
    }

    #[test]
    fn a_canvas_is_painted_only_with_an_inline_png_or_webp() {
        let mut m = Mirror::new(FakeDom::default());
        m.snapshot(&snap(json!({"t":"e","i":1,"n":"html","c":[{"t":"e","i":2,"n":"body","c":[
            {"t":"e","i":3,"n":"canvas","a":[["width","10"]]},
            {"t":"e","i":4,"n":"canvas","m":[10,10]},
            {"t":"e","i":5,"n":"div"},
            {"t":"e","i":6,"n":"script","c":[{"t":"e","i":7,"n":"canvas"}]}
        ]}]})))
        .unwrap();
        let png = "data:image/png;base64,iVBORw0KGgo=";
        for (id, src) in [
            (3, png),
            (3, "DATA:image/WEBP;base64,UklGRg=="),
            (3, "data:image/svg+xml;base64,PHN2Zz4="),
            (3, "data:text/html;base64,PHNjcmlwdD4="),
            (3, "https://shop.example/chart.png"),
            (3, "data:image/png,raw"),
            (4, png),
            (5, png),
            (7, png),
            (99, png),
        ] {
            m.canvas(id, src);
        }
        let painted: Vec<(Option<NodeId>, &str)> =
            m.dom.painted.iter().map(|(n, src)| (m.dom.nodes[*n].id, src.as_str())).collect();
        assert_eq!(painted, [(Some(3), png), (Some(3), "DATA:image/WEBP;base64,UklGRg==")]);
        let long = format!("data:image/png;base64,{}", "A".repeat(MAX_MIRROR_URL));
        m.canvas(3, &long);
        assert_eq!(m.dom.painted.len(), 2, "longer than the mirror takes");
    }

    #[test]
    fn what_the_visitors_pointer_is_over_is_marked_hovered_with_its_ancestors() {
        let mut m = Mirror::new(FakeDom::default());
        m.snapshot(&snap(json!({"t":"e","i":1,"n":"html","c":[{"t":"e","i":2,"n":"body","c":[
            {"t":"e","i":3,"n":"nav","a":[["data-baton-hover",""]],"c":[
                {"t":"e","i":4,"n":"li","c":[{"t":"x","i":5,"v":"Products"}]}]},
            {"t":"e","i":6,"n":"x-card","s":[{"t":"e","i":7,"n":"button"}]},
            {"t":"e","i":8,"n":"iframe","a":[],"f":{"t":"e","i":9,"n":"html","c":[{"t":"e","i":10,"n":"body"}]}}
        ]}]})))
        .unwrap();
        let hovered = |m: &Mirror<FakeDom>| -> Vec<NodeId> {
            let mut ids: Vec<NodeId> = m
                .dom
                .nodes
                .iter()
                .filter(|n| n.attrs.iter().any(|(k, _)| k == HOVER_ATTR))
                .filter_map(|n| n.id)
                .collect();
            ids.sort();
            ids
        };
        assert!(hovered(&m).is_empty(), "the page cannot mark anything hovered");
        // A text node marks its element and up.
        m.hover(Some(5));
        assert_eq!(hovered(&m), [1, 2, 3, 4]);
        // Inside a shadow tree, and inside a frame's document: up through
        // the host and the frame.
        m.hover(Some(7));
        assert_eq!(hovered(&m), [1, 2, 6, 7]);
        m.hover(Some(10));
        assert_eq!(hovered(&m), [1, 2, 8, 9, 10]);
        m.hover(Some(404));
        assert!(hovered(&m).is_empty());
        // The focus: its element, and it and its ancestors.
        let marked = |m: &Mirror<FakeDom>, attr: &str| -> Vec<NodeId> {
            let mut ids: Vec<NodeId> =
                m.dom.nodes.iter().filter(|n| n.attrs.iter().any(|(k, _)| k == attr)).filter_map(|n| n.id).collect();
            ids.sort();
            ids
        };
        m.focus(Some(7));
        assert_eq!((marked(&m, FOCUS_ATTR), marked(&m, FOCUS_WITHIN_ATTR)), (vec![7], vec![1, 2, 6, 7]));
        m.focus(Some(4));
        assert_eq!((marked(&m, FOCUS_ATTR), marked(&m, FOCUS_WITHIN_ATTR)), (vec![4], vec![1, 2, 3, 4]));
        m.focus(None);
        assert!(marked(&m, FOCUS_ATTR).is_empty() && marked(&m, FOCUS_WITHIN_ATTR).is_empty());
        m.hover(Some(4));
        m.hover(None);
        assert!(hovered(&m).is_empty());
        // A keyframe's nodes start unmarked; the old marks are not undone
        // on nodes no longer shown.
        m.hover(Some(4));
        m.snapshot(&snap(json!({"t":"e","i":1,"n":"html","c":[{"t":"e","i":2,"n":"body"}]}))).unwrap();
        m.hover(Some(2));
        assert_eq!(m.dom.html().matches(HOVER_ATTR).count(), 2, "{}", m.dom.html());
    }

    #[test]
    fn the_top_layer_follows_the_pages_order_and_leaves_out_what_cannot_be_on_top() {
        let mut m = Mirror::new(FakeDom::default());
        m.snapshot(&snap(json!({"t":"e","i":1,"n":"html","c":[{"t":"e","i":2,"n":"body","c":[
            {"t":"e","i":3,"n":"div","a":[["popover","auto"]]},
            {"t":"e","i":4,"n":"dialog"},
            {"t":"e","i":5,"n":"div","a":[["popover",""]],"m":[10,10]},
            {"t":"e","i":6,"n":"div","a":[["popover",""]]},
            {"t":"e","i":7,"n":"script","c":[{"t":"e","i":8,"n":"div","a":[["popover",""]]}]},
            {"t":"e","i":9,"n":"iframe","a":[["popover",""]]}
        ]}]})))
        .unwrap();
        let on_top = |m: &Mirror<FakeDom>| -> Vec<(NodeId, OnTop)> {
            m.dom.on_top.iter().map(|&(n, how)| (m.dom.nodes[n].id.unwrap_or(0), how)).collect()
        };
        // A masked popover is shown (as its placeholder box); a div is no
        // modal; inert, unknown and placeholder elements are left out.
        let (pop, modal) = (OnTop::Popover, OnTop::Modal);
        m.top_layer(&[(3, pop), (4, modal), (5, pop), (6, modal), (8, pop), (9, pop), (99, pop)]);
        assert_eq!(on_top(&m), [(3, pop), (4, modal), (5, pop)]);
        let calls = m.dom.top_layer_calls;
        // The same list again changes nothing.
        m.top_layer(&[(3, pop), (4, modal), (5, pop)]);
        assert_eq!(m.dom.top_layer_calls, calls);
        // One closed under the top: what was above it is put back above.
        m.top_layer(&[(3, pop), (5, pop), (6, pop)]);
        assert_eq!(on_top(&m), [(3, pop), (5, pop), (6, pop)]);
        assert_eq!(m.dom.top_layer_calls, calls + 2 + 2, "4 and 5 taken down, 5 and 6 put up");
        // A node the page removed: the rest stays.
        m.apply(&Mutations { removes: vec![5], ..Default::default() }).unwrap();
        m.top_layer(&[(3, pop), (6, pop)]);
        assert_eq!(on_top(&m), [(3, pop), (6, pop)]);
        // The same element shown the other way: taken down and put up.
        m.top_layer(&[(3, pop), (6, pop), (4, pop)]);
        m.top_layer(&[(3, pop), (6, pop), (4, modal)]);
        assert_eq!(on_top(&m), [(3, pop), (6, pop), (4, modal)]);
        // A keyframe starts from an empty top layer.
        m.snapshot(&snap(json!({"t":"e","i":1,"n":"html","c":[{"t":"e","i":2,"n":"body","c":[
            {"t":"e","i":3,"n":"div","a":[["popover",""]]}]}]})))
            .unwrap();
        m.top_layer(&[(3, pop)]);
        assert_eq!(on_top(&m), [(3, pop)]);
        m.top_layer(&[]);
        assert!(on_top(&m).is_empty());
    }

    #[test]
    fn a_frameset_page_is_laid_out_as_a_grid_of_sandboxed_frames() {
        let frame = |i: u32, text: &str, extra: serde_json::Value| {
            json!({"t":"e","i":i,"n":"frame","a":[["src","left.html"],["style","width:1px"],["onload","x()"]],
                "f":{"t":"e","i":i + 1,"n":"html","c":[{"t":"e","i":i + 2,"n":"body","c":[{"t":"x","i":i + 3,"v":text}, extra]}]}})
        };
        let nested = json!({"t":"e","i":30,"n":"frameset","a":[["rows","100,*"]],"c":[
            frame(40, "Top right", json!({"t":"c","i":44})),
            {"t":"e","i":50,"n":"frame","a":[["src","https://other.example/"]]}
        ]});
        let mut m = Mirror::new(FakeDom::default());
        m.snapshot(&snap(json!({"t":"e","i":1,"n":"html","c":[
            {"t":"e","i":2,"n":"head"},
            {"t":"e","i":3,"n":"frameset","a":[["cols","25%, 2*,*"],["onload","x()"],["style","display:none"]],"c":[
                frame(10, "Left side", json!({"t":"c","i":14})),
                nested
            ]}
        ]})))
        .unwrap();
        let html = m.dom.html();
        let top = "<div style=\"display:grid;width:100vw;height:100vh;grid-template-rows:1fr;grid-template-columns:25% 2fr 1fr\" data-baton-frameset=\"\">";
        assert!(html.contains(top), "{html}");
        let cell = "<iframe sandbox=\"allow-same-origin\" style=\"display:block;width:100%;height:100%;border:0\" referrerpolicy=\"no-referrer\" tabindex=\"-1\" data-baton-frame=\"\"><#document><html><body>Left side";
        assert!(html.contains(cell), "{html}");
        assert!(html.contains("<div style=\"display:grid;min-width:0;min-height:0;grid-template-rows:100px 1fr;grid-template-columns:1fr\" data-baton-frameset=\"\">"), "{html}");
        assert!(html.contains("<body>Top right"), "{html}");
        assert!(html.contains("data-baton-placeholder=\"frame\""), "a cross-origin frame stays a placeholder: {html}");
        for bad in ["onload", "left.html", "width:1px", "display:none", "other.example"] {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
        // The page cannot undo the layout later.
        m.apply(&Mutations {
            attrs: vec![
                AttrChange { id: 3, name: "style".into(), value: Some("display:none".into()) },
                AttrChange { id: 3, name: "cols".into(), value: Some("1,1".into()) },
                AttrChange { id: 10, name: "style".into(), value: Some("width:1px".into()) },
            ],
            texts: vec![(13, "Left side again".into())],
            ..Default::default()
        })
        .unwrap();
        let html = m.dom.html();
        assert!(html.contains(top) && html.contains("Left side again"), "{html}");
        assert!(!html.contains("display:none") && !html.contains("width:1px"), "{html}");
    }

    #[test]
    fn records_inside_a_frame_apply() {
        let mut m = Mirror::new(FakeDom::default());
        m.snapshot(&framed_page()).unwrap();
        m.apply(&Mutations {
            adds: vec![AddedNode {
                parent: 9,
                before: Some(10),
                shadow: false,
                node: node(
                    json!({"t":"e","i":40,"n":"b","a":[["onclick","x()"]],"c":[{"t":"x","i":41,"v":"Added inside"}]}),
                ),
            }],
            texts: vec![(11, "Changed inside".into())],
            attrs: vec![
                AttrChange { id: 3, name: "src".into(), value: Some("https://evil.example/".into()) },
                AttrChange { id: 3, name: "srcdoc".into(), value: Some("<script>x()</script>".into()) },
                AttrChange { id: 3, name: "sandbox".into(), value: Some("allow-scripts".into()) },
                AttrChange { id: 3, name: "SANDBOX".into(), value: None },
                AttrChange { id: 3, name: "width".into(), value: Some("640".into()) },
                AttrChange { id: 3, name: "class".into(), value: None },
            ],
            ..Default::default()
        })
        .unwrap();
        let html = m.dom.html();
        assert!(html.contains("<body><b>Added inside</b><p>Changed inside</p>"), "{html}");
        assert!(
            html.contains("<iframe sandbox=\"allow-same-origin\" width=\"640\" height=\"200\" referrerpolicy"),
            "{html}"
        );
        for bad in ["onclick", "evil.example", "srcdoc", "allow-scripts"] {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
        // Fallback content of the frame stays out of sight.
        m.apply(&Mutations {
            adds: vec![AddedNode {
                parent: 3,
                before: None,
                shadow: false,
                node: node(json!({"t":"x","i":42,"v":"more fallback"})),
            }],
            ..Default::default()
        })
        .unwrap();
        assert!(!m.dom.html().contains("more fallback"));
        // The frame's window scrolls by its document element's id.
        m.scroll(5, 0, 120);
        assert_eq!(m.dom.find_by_id(5).map(|n| n.scroll), Some((0, 120)));
        assert_eq!(m.dom.window_scroll, (0, 40), "the top window stays");
        // Input inside the frame.
        m.apply(&Mutations {
            adds: vec![AddedNode {
                parent: 9,
                before: None,
                shadow: false,
                node: node(json!({"t":"e","i":43,"n":"input","a":[["type","text"]]})),
            }],
            ..Default::default()
        })
        .unwrap();
        m.input(&InputChange { id: 43, value: Some("***".into()), checked: None }).unwrap();
        assert_eq!(m.dom.find_by_id(43).and_then(|n| n.value.clone()).as_deref(), Some("***"));
        // Removing the frame forgets its document's nodes.
        m.apply(&Mutations { removes: vec![3], ..Default::default() }).unwrap();
        assert!(!m.dom.html().contains("Inside the frame"));
        assert_eq!(
            m.apply(&Mutations { texts: vec![(11, "x".into())], ..Default::default() }),
            Err(ApplyError::UnknownNode(11))
        );
    }

    #[test]
    fn frames_added_later_get_their_document() {
        let mut m = mirror();
        m.apply(&Mutations {
            adds: vec![AddedNode {
                parent: 10,
                before: None,
                shadow: false,
                node: node(json!({"t":"e","i":60,"n":"iframe","f":{"t":"e","n":"html","c":[
                    {"t":"e","n":"body","c":[{"t":"e","n":"script","c":[{"t":"x","v":"evil()"}]},{"t":"x","v":"Late frame"}]}
                ]}})),
            }],
            ..Default::default()
        })
        .unwrap();
        // A text change in the same batch as a later add inside the new frame.
        m.apply(&Mutations {
            adds: vec![AddedNode {
                parent: 62,
                before: None,
                shadow: false,
                node: node(json!({"t":"x","i":70,"v":" and more"})),
            }],
            ..Default::default()
        })
        .unwrap();
        let html = m.dom.html();
        assert!(html.contains("<iframe sandbox=\"allow-same-origin\""), "{html}");
        assert!(
            html.contains(
                "<#document><html><body><!--baton: script removed-->Late frame and more</body></html></#document>"
            ),
            "{html}"
        );
        assert!(!html.contains("evil"), "{html}");
        // A masked frame, or one under a placeholder, is not built.
        m.apply(&Mutations {
            adds: vec![AddedNode {
                parent: 10,
                before: None,
                shadow: false,
                node: node(json!({"t":"e","i":80,"n":"iframe","m":[10,10],"f":{"t":"e","n":"html","c":[{"t":"x","v":"Masked frame"}]}})),
            }],
            ..Default::default()
        })
        .unwrap();
        assert!(!m.dom.html().contains("Masked frame"), "{}", m.dom.html());
    }

    #[test]
    fn the_selection_is_shown_where_the_mirror_has_its_nodes() {
        let mut m = mirror();
        m.select(&[
            SelectionRange { start: 12, start_offset: 1, end: 15, end_offset: 2 },
            SelectionRange { start: 19, start_offset: 0, end: 19, end_offset: 3 },
            SelectionRange { start: 99, start_offset: 0, end: 12, end_offset: 1 },
        ]);
        let (p, l) = (*m.node(12).unwrap(), *m.node(15).unwrap());
        assert_eq!(m.dom.selection, vec![(p, 1, l, 2)], "masked and unknown ends are left out");
        m.select(&[]);
        assert!(m.dom.selection.is_empty());
    }

    #[test]
    fn nothing_before_a_snapshot() {
        let mut m = Mirror::new(FakeDom::default());
        assert_eq!(m.apply(&Mutations::default()), Err(ApplyError::NoSnapshot));
    }

    #[test]
    fn prefixed_svg_style_is_not_raw_css() {
        let mut m = Mirror::new(FakeDom::default());
        m.snapshot(&snap(json!({"t":"e","i":1,"n":"html","c":[{"t":"e","i":2,"n":"body","c":[
            {"t":"e","i":3,"n":"svg","c":[{"t":"e","i":4,"n":"x:style","c":[
                {"t":"x","i":5,"v":"@import url(https://evil.example/x.css);"}]}]}
        ]}]})))
        .unwrap();
        assert!(!m.dom.html().contains("evil.example"), "{}", m.dom.html());
    }

    #[test]
    fn a_stylesheet_link_cannot_become_a_preload() {
        let mut m = Mirror::new(FakeDom::default());
        m.snapshot(&snap(json!({"t":"e","i":1,"n":"html","c":[
            {"t":"e","i":2,"n":"link","a":[["rel","stylesheet"],["href","https://cdn.example/s.css"]]}
        ]})))
        .unwrap();
        let rel = AttrChange { id: 2, name: "rel".into(), value: Some("preload".into()) };
        m.apply(&Mutations { attrs: vec![rel], ..Default::default() }).unwrap();
        assert!(!m.dom.html().contains("preload"), "{}", m.dom.html());
    }

    #[test]
    fn file_inputs_are_shown_empty() {
        let mut m = Mirror::new(FakeDom::default());
        m.snapshot(&snap(json!({"i":1,"n":"html","c":[{"i":2,"n":"body","c":[
            {"i":3,"n":"input","a":[["type","File"]]},
            {"i":4,"n":"input","a":[["type","text"]]}
        ]}]})))
        .unwrap();
        // The fake document refuses a file input's value as the browser does.
        m.input(&InputChange { id: 3, value: Some("****".into()), checked: None }).unwrap();
        assert_eq!(m.dom.find_by_id(3).unwrap().value, None);
        m.input(&InputChange { id: 4, value: Some("****".into()), checked: None }).unwrap();
        m.apply(&Mutations {
            attrs: vec![AttrChange { id: 4, name: "type".into(), value: Some("file".into()) }],
            ..Default::default()
        })
        .unwrap();
        m.input(&InputChange { id: 4, value: Some("*****".into()), checked: None }).unwrap();
        assert_eq!(m.dom.find_by_id(4).unwrap().value.as_deref(), Some("****"), "left as it was");
    }

    fn add(parent: NodeId, added: serde_json::Value) -> Mutations {
        Mutations {
            adds: vec![AddedNode { parent, before: None, shadow: false, node: node(added) }],
            ..Default::default()
        }
    }

    #[test]
    fn a_snapshot_that_repeats_an_id_is_refused() {
        let mut m = Mirror::new(FakeDom::default());
        assert_eq!(
            m.snapshot(&snap(json!({"i":5,"n":"div","c":[{"i":5,"v":"x"}]}))),
            Err(ApplyError::DuplicateNode(5))
        );
        assert!(!m.has_snapshot());
        assert!(!m.is_actionable(5));
        assert_eq!(
            m.snapshot(&snap(json!({"i":0,"n":"html","c":[{"i":0,"n":"body","c":[{"i":0,"v":"x"}]}]}))).map_err(|_| ()),
            Err(())
        );
        assert!(!m.is_actionable(0));
        // Implicit ids that run into an explicit one.
        assert_eq!(
            m.snapshot(&snap(json!({"i":1,"n":"html","c":[{"n":"head"},{"i":2,"n":"body"}]}))),
            Err(ApplyError::DuplicateNode(2))
        );
        assert_eq!(m.apply(&add(1, json!({"i":9,"v":"x"}))), Err(ApplyError::NoSnapshot));
        m.snapshot(&page()).unwrap();
        assert!(m.is_actionable(23));
    }

    #[test]
    fn a_node_cannot_be_moved_inside_itself() {
        // Under itself.
        let mut m = mirror();
        assert_eq!(m.apply(&add(11, json!({"i":11,"n":"p"}))), Err(ApplyError::MovedIntoItself(11)));
        assert!(m.is_actionable(11), "the refused move left the node where it was");
        // Under its own child: body (10) into p (11).
        let mut m = mirror();
        assert_eq!(m.apply(&add(11, json!({"i":10,"n":"body"}))), Err(ApplyError::MovedIntoItself(10)));
        assert!(m.is_actionable(11));
        // A new node whose child is its new parent, or an ancestor of it.
        for (inner, parent) in [(11, 11), (10, 11), (1, 12)] {
            let mut m = mirror();
            let refused = m.apply(&add(parent, json!({"i":30,"n":"b","c":[{"i":inner,"n":"i"}]})));
            assert_eq!(refused, Err(ApplyError::DuplicateNode(inner)));
            for id in [1, 10, 11, 12, 30] {
                m.is_actionable(id);
            }
        }
        // A → B → A through two adds in one batch.
        let mut m = mirror();
        let mut both = add(11, json!({"i":30,"n":"b"}));
        both.adds.extend(add(30, json!({"i":11,"n":"p"})).adds);
        assert_eq!(m.apply(&both), Err(ApplyError::MovedIntoItself(11)));
        m.is_actionable(30);
        // An add before a node its own move removed.
        let mut m = mirror();
        let mut moved = add(10, json!({"i":11,"n":"p"}));
        moved.adds[0].before = Some(12);
        assert_eq!(m.apply(&moved), Err(ApplyError::UnknownNode(12)));
    }

    #[test]
    fn repeated_sheets_are_shown_once() {
        let mut m = Mirror::new(FakeDom::default());
        m.add_assets(vec![
            Asset { hash: "h".into(), mime: "text/css".into(), data: "p{color:blue}".into() },
            Asset { hash: "g".into(), mime: "text/css".into(), data: "b{color:red}".into() },
        ]);
        let mut hashes = vec!["h"; 10_000];
        hashes.insert(0, "g");
        m.snapshot(&snap(json!({"i":1,"n":"html","y":hashes,"c":[{"i":2,"n":"body"}]}))).unwrap();
        let html = m.dom.html();
        assert_eq!(html.matches("p{color:blue}").count(), 1, "{html}");
        // Each at its last place.
        m.apply(&Mutations { styles: vec![(1, vec!["g".into(), "h".into(), "g".into()])], ..Default::default() })
            .unwrap();
        assert!(
            m.dom.html().contains("<style data-baton-adopted=\"\">p{color:blue}\nb{color:red}</style>"),
            "{}",
            m.dom.html()
        );
    }

    #[test]
    fn assets_named_again_and_again_are_not_copied_without_end() {
        let png = format!("data:image/png;base64,{}", "A".repeat(1024 * 1024));
        let css = format!("p{{content:'{}'}}", "x".repeat(1024 * 1024));
        let mut m = Mirror::new(FakeDom::default());
        m.add_assets(vec![
            Asset { hash: "img".into(), mime: "image/png".into(), data: png.clone() },
            Asset { hash: "css".into(), mime: "text/css".into(), data: css.clone() },
        ]);
        let imgs: Vec<_> = (0..40).map(|_| json!({"n":"img","a":[["src","baton-asset:img"]]})).collect();
        let hosts: Vec<_> = (0..40).map(|_| json!({"n":"div","y":["css"]})).collect();
        m.snapshot(&snap(json!({"i":1,"n":"html","c":[{"n":"body","c":imgs},{"n":"main","c":hosts}]}))).unwrap();
        let html = m.dom.html();
        let (images, sheets) = (html.matches(&png).count(), html.matches(&css).count());
        assert!(images > 0 && images < 40, "{images}");
        assert!(images * png.len() + sheets * css.len() <= MAX_MIRROR_ASSET_BYTES, "{images} images, {sheets} sheets");
    }

    /// Each relative URL becomes the page's address and more: a long
    /// address times many references is bounded per frame.
    #[test]
    fn relative_urls_against_a_long_page_address_are_bounded_per_frame() {
        let base = format!("https://shop.example/{}/", "p".repeat(1024 * 1024));
        let styled: Vec<_> = (0..100).map(|_| json!({"n":"div","a":[["style","background:url(a)"]]})).collect();
        let imgs: Vec<_> = (0..100).map(|_| json!({"n":"img","a":[["src","a"]]})).collect();
        let mut m = Mirror::new(FakeDom::default());
        let mut snapshot = snap(json!({"i":1,"n":"html","c":[{"n":"body","c":styled},{"n":"main","c":imgs}]}));
        snapshot.url = base.clone();
        m.snapshot(&snapshot).unwrap();
        let resolved = m.dom.html().matches(&base).count();
        assert!(resolved > 0 && resolved * base.len() <= MAX_MIRROR_RESOLVED_BYTES, "{resolved} resolved");
        assert!(m.dom.html().contains(BLOCKED_URL), "the rest are refused");
        // The next frame has the budget again; an absolute URL needs none.
        let add = |id: u64, src: &str| AddedNode {
            parent: 1,
            before: None,
            shadow: false,
            node: node(json!({"i":id,"n":"img","a":[["src",src]]})),
        };
        m.apply(&Mutations { adds: vec![add(900, "b"), add(901, "https://cdn.example/c.png")], ..Default::default() })
            .unwrap();
        assert!(m.dom.render(*m.node(900).unwrap()).contains(&format!("{base}b")));
        assert!(m.dom.render(*m.node(901).unwrap()).contains("https://cdn.example/c.png"));
    }

    #[test]
    fn text_records_change_only_text_nodes() {
        let mut m = mirror();
        m.apply(&Mutations {
            texts: vec![(5, "@import url(https://evil.example/x.css);".into()), (11, "flat".into())],
            ..Default::default()
        })
        .unwrap();
        let html = m.dom.html();
        assert!(!html.contains("evil.example") && !html.contains("@import"), "{html}");
        assert!(html.contains("<style>b{background:url(\"about:invalid\")}</style>"), "{html}");
        assert_eq!(m.dom.render(*m.node(11).unwrap()), "<p>Hello</p>");
    }

    #[test]
    fn an_element_the_browser_will_not_make_is_known_and_shown_as_nothing() {
        let mut m = Mirror::new(FakeDom::default());
        let page = json!({"i":1,"n":"html","c":[{"i":2,"n":"body","c":[
            {"i":3,"n":"1a","c":[{"i":4,"v":"inside"}]},{"i":5,"n":"p","c":[{"i":6,"v":"after"}]}]}]});
        m.snapshot(&snap(page)).unwrap();
        let html = m.dom.html();
        assert!(!html.contains("inside") && html.contains("<p>after</p>"), "{html}");
        // Later records about it or its subtree are understood, not unknown
        // (which would ask for a keyframe that brings the same page again).
        m.apply(&Mutations { texts: vec![(4, "changed".into())], ..Default::default() }).unwrap();
        assert!(!m.dom.html().contains("changed"));
        m.apply(&Mutations { removes: vec![3], ..Default::default() }).unwrap();
        assert_eq!(m.dom.html(), "<html><body><p>after</p></body></html>");
    }

    #[test]
    fn many_siblings_are_removed_in_one_pass() {
        const N: u32 = 100_000;
        let children: Vec<_> = (0..N).map(|k| json!({"i":10 + k,"v":"x"})).collect();
        let mut m = Mirror::new(FakeDom::default());
        m.snapshot(&snap(json!({"i":1,"n":"html","c":[{"i":2,"n":"body","c":children}]}))).unwrap();
        // Last first, which the fake document takes off at once.
        m.apply(&Mutations { removes: (10..10 + N).rev().collect(), ..Default::default() }).unwrap();
        assert_eq!(m.node_count(), 2);
        assert_eq!(m.dom.html(), "<html><body></body></html>");
    }
}
