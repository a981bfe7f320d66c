//! The DOM glue of the capture engine (wasm32 only). Every page value goes
//! through web-sys bindings, which in a content script's isolated world
//! call the real DOM APIs: the page cannot override them. Failures mean
//! "not captured" (or "masked"), never a panic.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::{Rc, Weak};

use js_sys::{Array, Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AddEventListenerOptions, CssStyleSheet, Document, Element, Event, EventTarget, HtmlIFrameElement, HtmlInputElement,
    HtmlLinkElement, HtmlSelectElement, HtmlStyleElement, HtmlTextAreaElement, MessageChannel, MouseEvent,
    MutationObserver, MutationObserverInit, MutationRecord, Node as DomNode, ShadowRoot, Window,
};

use baton_shared::cobrowse::{asset_ref, elide_ids, into_pieces};
use baton_shared::cobrowse::{
    AddedNode, InputChange, Node, NodeId, OnTop, SelectionRange, Snapshot, VisitorFrame, MEDIA_PREFERENCES, WINDOW,
};
use baton_shared::limits::{
    CANVAS_PNG_MAX, CANVAS_POLL_MS, CANVAS_SNAPSHOT_MS, CAPTURE_SLICE_MS, MAX_CANVAS_PIXELS, MAX_MIRROR_URL,
    POINTER_COALESCE_MS,
};

use super::assets::{self, AssetStore, CSS};
use super::bulk;

mod assembly;
use super::batch::Batch;
use super::get;
use super::mask::{self, FieldClass, PRIVATE_ATTR, UI_ATTR};
use super::outline::{self, Outlines};
use super::sheet_text::{sheet_text, MAX_IMPORT_DEPTH};
use super::{local_name, replace_node, CaptureError, MaskPolicy, Sink};
use crate::content::dom::{editable_by_mode_or_style, in_design_mode, shows_shapes, styled_editable};
use assembly::Assembly;

#[wasm_bindgen]
extern "C" {
    /// A `WeakMap` from nodes to ids, bound so that ids cross as plain
    /// numbers (no JS value is allocated per lookup or insertion).
    #[wasm_bindgen(js_name = WeakMap)]
    pub(super) type IdMap;
    #[wasm_bindgen(constructor, js_class = "WeakMap")]
    fn new() -> IdMap;
    #[wasm_bindgen(method, js_class = "WeakMap", js_name = get)]
    fn get_id(this: &IdMap, key: &DomNode) -> Option<u32>;
    #[wasm_bindgen(method, js_class = "WeakMap", js_name = set)]
    fn set_id(this: &IdMap, key: &DomNode, id: u32);
    #[wasm_bindgen(method, js_class = "WeakMap", js_name = delete)]
    fn delete_id(this: &IdMap, key: &DomNode);
}

/// Slice budget while the page has no input waiting: well under the 50 ms
/// of a long task (a step may overshoot it, more so on a slow machine), and
/// few yields. With input pending the budget is `CAPTURE_SLICE_MS`.
const IDLE_SLICE_MS: f64 = 20.0;
/// What the end of a snapshot (scroll reads, building and serializing the
/// frame) is expected to cost per captured node, on the slow side (code
/// not yet optimised): it runs in the walk's last task when that fits the
/// budget, else in a task of its own.
const END_MS_PER_NODE: f64 = 0.002;
/// How often stylesheets are checked for CSSOM changes (and canvases for
/// new pictures).
const STYLE_POLL_MS: i32 = 1_000;
/// A canvas is looked at again no sooner than this many times what its
/// picture took to encode (and the next poll).
const CANVAS_SPACING: f64 = 100.0;
/// Nodes handled between two looks at the clock.
const CLOCK_EVERY: u32 = 32;
/// Ancestors looked at before giving up (and answering "protected").
const MAX_ANCESTORS: usize = 4_096;
/// Custom elements watched for a shadow root attached when they are defined.
const MAX_UPGRADE_WATCH: usize = 2_000;
/// Captured elements without a shadow root that one poll asks again (about
/// 3 µs each, so 1.5 ms a second while shared): a root attached later is
/// found within a second on pages with fewer such elements, within a few
/// seconds on pages with thousands.
const HOST_RECHECK_PER_POLL: usize = 500;
/// After a keyframe for a root found that way, the next look waits this
/// long: a page that keeps giving new elements roots later (a feed that
/// hydrates its items) is captured anew at most this often.
const HOST_KEYFRAME_GAP_MS: f64 = 5_000.0;
/// `CSSRule.IMPORT_RULE`.
const IMPORT_RULE: u16 = 3;
/// The elements `contenteditable` makes editing hosts.
const EDITING_HOSTS: &str = "[contenteditable]:not([contenteditable=false])";

const ELEMENT: u16 = 1;
const TEXT: u16 = 3;
const CDATA: u16 = 4;
const COMMENT: u16 = 8;
const DOCUMENT: u16 = 9;
const FRAGMENT: u16 = 11;
const FOLLOWING: u16 = 4;

/// Tags that may carry a shadow root (besides custom elements).
pub(super) const SHADOW_HOSTS: &[&str] = &[
    "article",
    "aside",
    "blockquote",
    "body",
    "div",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "main",
    "nav",
    "p",
    "section",
    "span",
];

/// Tags whose scroll offsets are not worth a look during the snapshot
/// (their scrolling is still sent when it happens).
const NO_SCROLL_READ: &[&str] = &[
    "tr", "td", "th", "tbody", "thead", "tfoot", "table", "span", "a", "b", "i", "u", "s", "em", "strong", "small",
    "code", "abbr", "sup", "sub", "option", "br", "img", "input", "label", "li", "button", "select", "svg", "path",
    "script", "style", "link", "meta", "title", "head",
];

/// Hashes node ids with one multiplication. The ids are Baton's own
/// (sequential, never chosen by the page), so a keyed hash buys nothing
/// and SipHash costs a noticeable share of the walk.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IdBuild = BuildHasherDefault<IdHasher>;
type IdTable<V> = HashMap<NodeId, V, IdBuild>;
type IdSet = HashSet<NodeId, IdBuild>;

pub struct Shared {
    st: RefCell<State>,
}

enum Watched {
    /// `<style>` or `<link rel=stylesheet>`.
    Owner(Element),
    /// Adopted sheets of a document or shadow root.
    Adopted(JsValue),
}

struct SheetWatch {
    what: Watched,
    counts: Vec<u32>,
    hashes: Vec<String>,
}

struct Listener {
    target: EventTarget,
    name: &'static str,
    f: Function,
}

/// What an element's children inherit: whether they are in an editable
/// region (text masked, elements keep layout only), and whether the styles
/// of their tree may make an element editable (`-webkit-user-modify`), so
/// that each element's computed style is asked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Within {
    editable: bool,
    styled: bool,
}

/// Sheet texts read during a snapshot, by sheet: a tree's sheets are read
/// before its elements (to look for `-webkit-user-modify`), and capturing
/// a `<style>` or adopted sheet takes the text from here.
#[derive(Default)]
struct SheetCache {
    index: Option<js_sys::Map>,
    texts: Vec<Option<(String, u32)>>,
}

struct State {
    private_sel: Option<String>,
    /// `[data-baton-private]` and the policy's private selectors, in one list.
    private_all: String,
    safe_sel: Option<String>,
    sink: Sink,
    ids: IdMap,
    next_id: NodeId,
    nodes: IdTable<DomNode>,
    /// The nodes of the last bulk read (ids `1..len`), and which of them
    /// are still captured; later nodes are in `nodes`.
    bulk: Option<(bulk::List, Vec<bool>)>,
    /// Browser built-ins for bulk reads; `None` where they are missing.
    natives: Option<bulk::Natives>,
    protected: IdSet,
    placeholders: IdSet,
    /// Shadow hosts whose light children are not captured: their shadow
    /// tree slots them into a private element.
    sealed: IdSet,
    /// Form controls ever seen secret, for the recorder's lifetime (not
    /// reset by keyframes): a "show password" button turns a password
    /// field into a text field holding the same value.
    secrets: js_sys::WeakSet,
    /// Whether `secrets` holds anything (looked up only then).
    any_secret: bool,
    /// Documents captured while not in design mode: one switched on since
    /// is captured again (a keyframe), its whole content being input now.
    design_off: Vec<Document>,
    /// A sheet seen since the last keyframe names `-webkit-user-modify` or
    /// could not be read: elements that changes add are asked whether they
    /// are editable.
    edit_styles: bool,
    sheet_cache: SheetCache,
    /// The recorder should take a keyframe once the current work is done.
    keyframe_due: bool,
    /// Custom elements captured with no shadow root: one defined later
    /// may attach one, which no mutation reports (looked at by the poll).
    maybe_upgraded: Vec<Element>,
    /// Captured elements that may host a shadow root and had none, asked
    /// again a slice per poll from `host_cursor` on (attaching a root is
    /// not a DOM mutation); ids of nodes gone since are dropped on the way.
    bare_hosts: Vec<NodeId>,
    host_cursor: usize,
    /// `bare_hosts.len()` after its last sweep of gone ids.
    bare_hosts_swept: usize,
    /// When the last root found by the recheck took a keyframe.
    host_keyframe_ms: f64,
    assets: AssetStore,
    sheets: IdTable<SheetWatch>,
    generation: u32,
    snapshotting: bool,
    stopped: bool,
    /// Records delivered while a snapshot was being taken.
    held: Vec<MutationRecord>,
    /// Elements of the snapshot walk whose scroll offsets are read at its end.
    scroll_candidates: Vec<NodeId>,
    /// No DOM change was seen since the snapshot walk began.
    unmoved: bool,
    /// Ids removed while serializing (a node moved in from an unobserved place).
    stale: Vec<NodeId>,
    observer: Option<MutationObserver>,
    observer_cb: Option<Closure<dyn FnMut(Array, MutationObserver)>>,
    closures: Vec<Closure<dyn FnMut(Event)>>,
    listeners: Vec<Listener>,
    /// Functions of the per-root listeners (input, change, scroll, load).
    root_fns: Vec<(&'static str, Function)>,
    listened_roots: Vec<EventTarget>,
    /// The same roots, to ask "is this one listened to?" in one call.
    listened: js_sys::WeakSet,
    poll: Option<(i32, Closure<dyn FnMut()>)>,
    tick: Option<Closure<dyn FnMut()>>,
    tick_pending: bool,
    pending_scroll: Vec<(NodeId, i32, i32)>,
    pending_pointer: Option<(i32, i32)>,
    /// What the pointer is over, as of its last move.
    pending_hover: Option<Element>,
    pending_viewport: Option<(u32, u32)>,
    /// The visitor's media preferences the last snapshot carried; the poll
    /// takes a keyframe when they change (the console restyles with them).
    prefers: Vec<(String, String)>,
    pending_selection: bool,
    last_selection: Option<Vec<SelectionRange>>,
    last_input: Option<InputChange>,
    /// The top layer as last sent, bottom first.
    on_top: Vec<(NodeId, OnTop)>,
    /// Elements that fired `toggle` since the top layer was last looked at.
    toggled: Vec<Element>,
    /// A hash of each canvas's picture as last sent, and when it may be
    /// looked at again (one slow to encode is looked at less often).
    canvases: IdTable<(u64, f64)>,
    /// Canvases the browser will not let be read (drawn from another site).
    unreadable: IdSet,
    /// Where the next look at the canvases starts (they take turns).
    canvas_cursor: usize,
    /// The focus moved since it was last looked at.
    pending_focus: bool,
    /// Where the focus was as last sent.
    last_focus: Option<NodeId>,
    /// The page's address, title and base URL as last sent.
    address: Address,
    outlines: Outlines,
    open_shadow: Option<(JsValue, Function)>,
    document: Document,
    window: Window,
    started_ms: f64,
    pub(super) snapshot_ms: f64,
    /// How long each task of the last snapshot worked, in order.
    slice_ms: Vec<f64>,
}

thread_local! {
    static BULK_ENABLED: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// Whether snapshots may use the bulk read (diagnostics turn it off).
pub(super) fn set_bulk_enabled(enabled: bool) {
    BULK_ENABLED.with(|b| b.set(enabled));
}

fn now() -> f64 {
    thread_local! {
        static PERF: Option<web_sys::Performance> = web_sys::window().and_then(|w| w.performance());
    }
    PERF.with(|p| p.as_ref().map(|p| p.now()).unwrap_or(0.0))
}

// ---- public entry points ----------------------------------------------------

pub fn start(policy: MaskPolicy, sink: Sink) -> Result<Rc<Shared>, CaptureError> {
    let began = now();
    let window = web_sys::window().ok_or(CaptureError::NoDocument)?;
    let document = window.document().ok_or(CaptureError::NoDocument)?;
    if document.document_element().is_none() {
        return Err(CaptureError::NoDocument);
    }
    let open_shadow = get(&js_sys::global(), "chrome")
        .and_then(|c| get(&c, "dom"))
        .and_then(|dom| Some((dom.clone(), get(&dom, "openOrClosedShadowRoot")?.dyn_into::<Function>().ok()?)));
    let shared = Rc::new(Shared {
        st: RefCell::new(State {
            private_all: policy.private_all(),
            private_sel: mask::join_selectors(&policy.private_selectors),
            safe_sel: mask::join_selectors(
                &std::iter::once(mask::site_safe_selector()).chain(policy.safe_selectors).collect::<Vec<_>>(),
            ),
            sink,
            ids: IdMap::new(),
            next_id: 1,
            nodes: IdTable::default(),
            bulk: None,
            natives: bulk::Natives::new().ok(),
            protected: IdSet::default(),
            placeholders: IdSet::default(),
            sealed: IdSet::default(),
            secrets: js_sys::WeakSet::new(),
            any_secret: false,
            design_off: Vec::new(),
            edit_styles: false,
            sheet_cache: SheetCache::default(),
            keyframe_due: false,
            maybe_upgraded: Vec::new(),
            bare_hosts: Vec::new(),
            host_cursor: 0,
            bare_hosts_swept: 0,
            host_keyframe_ms: f64::NEG_INFINITY,
            assets: AssetStore::default(),
            sheets: IdTable::default(),
            generation: 0,
            snapshotting: false,
            stopped: false,
            held: Vec::new(),
            scroll_candidates: Vec::new(),
            unmoved: true,
            stale: Vec::new(),
            observer: None,
            observer_cb: None,
            closures: Vec::new(),
            listeners: Vec::new(),
            root_fns: Vec::new(),
            listened_roots: Vec::new(),
            listened: js_sys::WeakSet::new(),
            poll: None,
            tick: None,
            tick_pending: false,
            pending_scroll: Vec::new(),
            pending_pointer: None,
            pending_hover: None,
            pending_viewport: None,
            prefers: Vec::new(),
            pending_selection: false,
            last_selection: None,
            last_input: None,
            on_top: Vec::new(),
            toggled: Vec::new(),
            canvases: IdTable::default(),
            unreadable: IdSet::default(),
            canvas_cursor: 0,
            pending_focus: false,
            last_focus: None,
            address: Address::default(),
            outlines: Outlines::default(),
            open_shadow,
            document,
            window,
            started_ms: 0.0,
            snapshot_ms: 0.0,
            slice_ms: Vec::new(),
        }),
    });
    install(&shared).map_err(|e| CaptureError::Unavailable(format!("{e:?}")))?;
    keyframe(&shared);
    // The first snapshot's time includes setting up, as a synchronous
    // recorder's would.
    if let Ok(mut st) = shared.st.try_borrow_mut() {
        st.started_ms = began;
    }
    Ok(shared)
}

pub fn keyframe(shared: &Rc<Shared>) {
    let generation = {
        let Ok(mut st) = shared.st.try_borrow_mut() else { return };
        if st.stopped {
            return;
        }
        st.generation = st.generation.wrapping_add(1);
        if let Some(o) = &st.observer {
            let _ = o.take_records();
        }
        st.held.clear();
        st.ids = IdMap::new();
        st.next_id = 1;
        st.nodes.clear();
        st.bulk = None;
        st.protected.clear();
        st.placeholders.clear();
        st.sealed.clear();
        st.sheets.clear();
        st.design_off.clear();
        st.edit_styles = false;
        st.sheet_cache = SheetCache::default();
        st.keyframe_due = false;
        st.maybe_upgraded.clear();
        st.bare_hosts.clear();
        st.host_cursor = 0;
        st.bare_hosts_swept = 0;
        st.assets.reset();
        st.scroll_candidates.clear();
        st.unmoved = true;
        st.stale.clear();
        st.last_selection = None;
        st.last_input = None;
        st.on_top.clear();
        st.toggled.clear();
        st.canvases.clear();
        st.unreadable.clear();
        st.canvas_cursor = 0;
        st.pending_focus = false;
        st.last_focus = None;
        st.prefers = st.prefers_now();
        st.snapshotting = true;
        st.started_ms = now();
        st.slice_ms.clear();
        st.generation
    };
    wasm_bindgen_futures::spawn_local(run_snapshot(shared.clone(), generation));
}

pub fn node(shared: &Rc<Shared>, id: NodeId) -> Option<DomNode> {
    shared.st.try_borrow().ok()?.node_at(id)
}

pub fn id_of(shared: &Rc<Shared>, node: &DomNode) -> Option<NodeId> {
    shared.st.try_borrow().ok()?.id_of(node)
}

pub fn is_protected(shared: &Rc<Shared>, id: NodeId) -> bool {
    let Ok(st) = shared.st.try_borrow() else { return true };
    let Some(node) = st.node_at(id) else { return true };
    st.protected_now(&node)
}

pub fn set_outlines(shared: &Rc<Shared>, on: bool) {
    let Ok(mut st) = shared.st.try_borrow_mut() else { return };
    if !on || st.stopped {
        st.outlines.hide();
        return;
    }
    let css = mask::outline_css(st.private_sel.as_deref(), st.safe_sel.as_deref());
    let st = &mut *st;
    st.outlines.show(css, st.listened_roots.iter().map(AsRef::as_ref));
}

pub fn stop(shared: &Rc<Shared>) {
    let Ok(mut st) = shared.st.try_borrow_mut() else { return };
    if st.stopped {
        return;
    }
    st.stopped = true;
    st.generation = st.generation.wrapping_add(1);
    if let Some(o) = st.observer.take() {
        o.disconnect();
    }
    for l in std::mem::take(&mut st.listeners) {
        let _ = l.target.remove_event_listener_with_callback_and_bool(l.name, &l.f, true);
    }
    let root_fns = std::mem::take(&mut st.root_fns);
    for root in std::mem::take(&mut st.listened_roots) {
        for (name, f) in &root_fns {
            let _ = root.remove_event_listener_with_callback_and_bool(name, f, true);
        }
    }
    if let Some((handle, _)) = &st.poll {
        st.window.clear_interval_with_handle(*handle);
    }
    st.outlines.hide();
    st.held.clear();
    st.nodes.clear();
    st.bulk = None;
    // The closures may be on the stack right now (stop called from a
    // frame's sink): drop them in a later task.
    let holder = (std::mem::take(&mut st.closures), st.observer_cb.take(), st.poll.take(), st.tick.take());
    let later = Closure::once_into_js(move || drop(holder));
    let _ = st.window.set_timeout_with_callback_and_timeout_and_arguments_0(later.unchecked_ref(), 0);
}

/// `(snapshot_ms, task_ms, bulk)` of the last snapshot: wall time from
/// start to the snapshot handed to the sink, how long each of its tasks
/// worked, and whether the document was read in bulk.
pub fn stats(shared: &Rc<Shared>) -> (f64, Vec<f64>, bool) {
    shared.st.try_borrow().map(|st| (st.snapshot_ms, st.slice_ms.clone(), st.bulk.is_some())).unwrap_or((
        0.0,
        Vec::new(),
        false,
    ))
}

// ---- emitting ---------------------------------------------------------------

/// Hands frames to the sink: cut into pieces every reader takes (trees
/// nested too deep or frames too heavy: `into_pieces`), and the ids that
/// follow from document order left out (see `baton_shared::cobrowse::Node`).
fn emit(shared: &Rc<Shared>, frames: Vec<VisitorFrame>) {
    if frames.is_empty() {
        return;
    }
    let Ok(sink) = shared.st.try_borrow().map(|st| st.sink.clone()) else { return };
    for mut f in frames.into_iter().flat_map(into_pieces) {
        match &mut f {
            VisitorFrame::Snapshot(snap) => elide_ids(&mut snap.root),
            VisitorFrame::Mutations(m) => m.adds.iter_mut().for_each(|a| elide_ids(&mut a.node)),
            _ => {}
        }
        sink(f);
    }
}

/// Takes the keyframe the last piece of work asked for (see
/// `State::keyframe_due`), once the state is no longer borrowed.
fn keyframe_if_due(shared: &Rc<Shared>) {
    let due = shared.st.try_borrow_mut().map(|mut st| std::mem::take(&mut st.keyframe_due)).unwrap_or(false);
    if due {
        keyframe(shared);
    }
}

/// Runs `f` on the state unless it is busy or stopped, then emits.
fn with_state(weak: &Weak<Shared>, f: impl FnOnce(&mut State, &Rc<Shared>) -> Vec<VisitorFrame>) {
    let Some(shared) = weak.upgrade() else { return };
    let frames = {
        let Ok(mut st) = shared.st.try_borrow_mut() else { return };
        if st.stopped {
            return;
        }
        f(&mut st, &shared)
    };
    emit(&shared, frames);
}

// ---- installing observers and listeners -------------------------------------

/// A listener that notes an event in the state for the next tick (pointer,
/// scroll, focus, …), and has the tick come when `note` says so.
fn noting(weak: &Weak<Shared>, note: impl Fn(&mut State, &Event) -> bool + 'static) -> Closure<dyn FnMut(Event)> {
    let w = weak.clone();
    Closure::new(move |ev: Event| {
        with_state(&w, |st, shared| {
            if note(st, &ev) {
                st.schedule_tick(shared);
            }
            Vec::new()
        })
    })
}

fn install(shared: &Rc<Shared>) -> Result<(), JsValue> {
    let weak = Rc::downgrade(shared);
    let mut st = shared.st.borrow_mut();

    let w = weak.clone();
    let cb = Closure::<dyn FnMut(Array, MutationObserver)>::new(move |records: Array, _o: MutationObserver| {
        with_state(&w, |st, _| {
            let records: Vec<MutationRecord> = records.iter().map(|r| r.unchecked_into()).collect();
            if st.snapshotting {
                st.unmoved &= records.is_empty();
                st.held.extend(records);
                return Vec::new();
            }
            // What the records add resolves against where the page is now.
            let mut frames: Vec<VisitorFrame> = st.base_moved().into_iter().collect();
            frames.extend(st.process(records));
            frames
        });
        if let Some(shared) = w.upgrade() {
            keyframe_if_due(&shared);
        }
    });
    let observer = MutationObserver::new(cb.as_ref().unchecked_ref())?;
    st.observer = Some(observer);
    st.observer_cb = Some(cb);

    // Per-root listeners: documents (main and iframes) and shadow roots.
    let w = weak.clone();
    let input = Closure::<dyn FnMut(Event)>::new(move |ev: Event| with_state(&w, |st, _| st.on_input(&ev)));
    let scroll = noting(&weak, |st, ev| {
        st.on_scroll(ev);
        true
    });
    let w = weak.clone();
    let load = Closure::<dyn FnMut(Event)>::new(move |ev: Event| with_state(&w, |st, _| st.on_load(&ev)));
    // Popovers and dialogs shown or hidden: `toggle` neither bubbles nor
    // leaves a shadow tree, so it is heard on every root.
    let toggle = noting(&weak, |st, ev| {
        let el = ev.target().and_then(|t| node_of_type::<Element>(&t, ELEMENT));
        el.map(|el| st.toggled.push(el)).is_some()
    });
    // `focusin`/`focusout` leave shadow trees but not frames' documents.
    let focus = noting(&weak, |st, _| {
        st.pending_focus = true;
        true
    });
    st.root_fns = vec![
        ("input", input.as_ref().unchecked_ref::<Function>().clone()),
        ("change", input.as_ref().unchecked_ref::<Function>().clone()),
        ("scroll", scroll.as_ref().unchecked_ref::<Function>().clone()),
        ("load", load.as_ref().unchecked_ref::<Function>().clone()),
        ("toggle", toggle.as_ref().unchecked_ref::<Function>().clone()),
        ("focusin", focus.as_ref().unchecked_ref::<Function>().clone()),
        ("focusout", focus.as_ref().unchecked_ref::<Function>().clone()),
    ];
    st.closures.extend([input, scroll, load, toggle, focus]);

    // Window-wide: pointer, resize, selection.
    let pointer = noting(&weak, |st, ev| {
        let Some(m) = ev.dyn_ref::<MouseEvent>() else { return false };
        st.pending_pointer = Some((m.client_x(), m.client_y()));
        // The innermost target, inside open shadow trees too.
        st.pending_hover = node_of_type(&ev.composed_path().get(0), ELEMENT);
        true
    });
    let resize = noting(&weak, |st, _| {
        st.pending_viewport = Some(st.viewport());
        true
    });
    let selection = noting(&weak, |st, _| {
        st.pending_selection = true;
        true
    });
    let options = AddEventListenerOptions::new();
    options.set_capture(true);
    options.set_passive(true);
    let win: EventTarget = st.window.clone().into();
    let doc: EventTarget = st.document.clone().into();
    for (target, name, f) in
        [(&win, "pointermove", &pointer), (&win, "resize", &resize), (&doc, "selectionchange", &selection)]
    {
        let f: &Function = f.as_ref().unchecked_ref();
        target.add_event_listener_with_callback_and_add_event_listener_options(name, f, &options)?;
        st.listeners.push(Listener { target: target.clone(), name, f: f.clone() });
    }
    st.closures.extend([pointer, resize, selection]);

    let w = weak.clone();
    let tick = Closure::<dyn FnMut()>::new(move || with_state(&w, |st, _| st.flush_tick()));
    st.tick = Some(tick);

    let w = weak;
    let poll = Closure::<dyn FnMut()>::new(move || {
        with_state(&w, |st, _| {
            st.outlines.keep();
            if st.snapshotting {
                return Vec::new();
            }
            if st.prefers_now() != st.prefers {
                st.keyframe_due = true;
            }
            let mut batch = Batch::default();
            st.poll_sheets(&mut batch, None);
            st.check_upgrades();
            st.recheck_bare_hosts();
            let mut frames = st.frames_of(batch);
            frames.extend(st.address_change());
            frames.extend(st.canvas_changes(CANVAS_POLL_MS));
            frames
        });
        if let Some(shared) = w.upgrade() {
            keyframe_if_due(&shared);
        }
    });
    let handle = st
        .window
        .set_interval_with_callback_and_timeout_and_arguments_0(poll.as_ref().unchecked_ref(), STYLE_POLL_MS)?;
    st.poll = Some((handle, poll));

    let main: DomNode = st.document.clone().into();
    st.watch_root(&main);
    Ok(())
}

// ---- the sliced snapshot ----------------------------------------------------

async fn run_snapshot(shared: Rc<Shared>, generation: u32) {
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    let mut first = true;
    // After a bulk read: shadow roots and iframe documents still to walk
    // (last first), the one being walked, and the walked ones.
    let mut holes: Vec<(NodeId, Hole)> = Vec::new();
    let mut walking: Option<(NodeId, bool)> = None;
    let mut patches: IdTable<Patch> = IdTable::default();
    let mut bulk_root: Option<Node> = None;
    let mut assembly: Option<Assembly> = None;
    let mut reader: Option<bulk::Reader> = None;
    // The document element, and the walk to start from it when a bulk read is given up.
    let mut top: Option<Element> = None;
    let mut walk_pending: Option<Element> = None;
    // What the document element inherits: design mode, and whether the
    // document's styles may make elements editable.
    let mut root_within = Within::default();
    let input_pending = input_pending_fn();
    // Work of the last walk slice when the end runs in the same task.
    let mut carry = 0.0;
    loop {
        let took = {
            let Ok(mut st) = shared.st.try_borrow_mut() else { return };
            if st.generation != generation || st.stopped {
                return;
            }
            // The first slice runs in the task that started the snapshot:
            // it counts from there (for `start`, setting up included).
            let slice_start = if first { st.started_ms } else { now() };
            if let Some(o) = &st.observer {
                let records = o.take_records();
                if records.length() > 0 {
                    st.unmoved = false;
                    st.held.extend(records.iter().map(|r| r.unchecked_into::<MutationRecord>()));
                }
            }
            if first {
                first = false;
                let Some(html) = st.document.document_element() else { return };
                let doc = st.document.clone();
                root_within = st.document_within(&doc);
                reader = st.bulk_begin(&html, root_within.styled);
                if reader.is_none() {
                    walk_pending = Some(html.clone());
                }
                top = Some(html);
            }
            let mut n = 0u32;
            loop {
                let mut heavy = false;
                if let Some(html) = walk_pending.take() {
                    match st.bulk_abandon(html, root_within) {
                        Visit::Skip => {}
                        Visit::Leaf(n) => root = Some(n),
                        Visit::Frame(f) => stack.push(*f),
                    }
                }
                if let Some(r) = reader.as_mut() {
                    match st.bulk_step(r) {
                        bulk::Progress::More => {}
                        bulk::Progress::Done => {
                            if let (Some(r), Some(html)) = (reader.take(), top.as_ref()) {
                                assembly = st.bulk_assemble(r, html, root_within);
                                if assembly.is_none() {
                                    walk_pending = top.clone();
                                }
                            }
                        }
                        bulk::Progress::Fallback => {
                            reader = None;
                            walk_pending = top.clone();
                        }
                    }
                    // A read step is hundreds of nodes: look at the clock after each.
                    heavy = true;
                } else if let Some(a) = assembly.as_mut() {
                    if a.step(&mut st) {
                        if let Some(a) = assembly.take() {
                            let (tree, mut found) = st.bulk_finish(a);
                            bulk_root = Some(tree);
                            found.reverse();
                            holes = found;
                        }
                    }
                } else {
                    if stack.is_empty() {
                        let Some((id, hole)) = holes.pop() else { break };
                        walking = Some((id, matches!(hole, Hole::Frame(..))));
                        stack.push(hole.frame());
                    }
                    if let Some(done) = st.step(&mut stack, 1) {
                        match walking.take() {
                            Some((id, is_frame)) => {
                                if let Node::Element { c, .. } = done {
                                    patches.insert(id, if is_frame { Patch::Frame(c) } else { Patch::Shadow(c) });
                                }
                            }
                            None => root = Some(done),
                        }
                    }
                    if root.is_some() {
                        break;
                    }
                }
                n += 1;
                if heavy || n.is_multiple_of(CLOCK_EVERY) {
                    let spent = now() - slice_start;
                    if spent >= IDLE_SLICE_MS
                        || spent >= CAPTURE_SLICE_MS && input_pending.as_ref().is_some_and(|f| f())
                    {
                        break;
                    }
                }
            }
            let took = now() - slice_start;
            st.record_task(took, false);
            took
        };
        let done = root.is_some()
            || reader.is_none() && assembly.is_none() && walk_pending.is_none() && stack.is_empty() && holes.is_empty();
        // The last part (scroll reads, serializing) gets a task of its own
        // unless it fits in this one.
        if done && end_fits(&shared, took) {
            carry = took;
            break;
        }
        yield_now().await;
        if done {
            break;
        }
    }
    let frames = {
        let Ok(mut st) = shared.st.try_borrow_mut() else { return };
        if st.generation != generation || st.stopped {
            return;
        }
        let slice_start = now();
        let mut frames = Vec::new();
        if let Some(mut tree) = bulk_root {
            apply_patches(&mut tree, &mut patches);
            root = Some(tree);
        }
        if let Some(tree) = root.as_mut() {
            st.recapture_changed(tree);
        }
        if let Some(root) = root {
            let (wx, wy) = (
                st.window.scroll_x().unwrap_or(0.0).round() as i32,
                st.window.scroll_y().unwrap_or(0.0).round() as i32,
            );
            let mut scroll = Vec::new();
            if wx != 0 || wy != 0 {
                scroll.push((WINDOW, wx, wy));
            }
            // The bulk read's elements in two reads; the others (and all of
            // them if that fails) one by one.
            let mut one_by_one = std::mem::take(&mut st.scroll_candidates);
            if let (Some(natives), Some((table, live))) = (&st.natives, &st.bulk) {
                let (read, rest): (Vec<NodeId>, Vec<NodeId>) =
                    one_by_one.into_iter().partition(|&id| (id as usize) < live.len());
                let read: Vec<NodeId> = read.into_iter().filter(|&id| live[id as usize]).collect();
                one_by_one = rest;
                match natives.scroll_offsets(table, &read) {
                    Ok(offsets) => scroll.extend(offsets),
                    Err(_) => one_by_one.extend(read),
                }
            }
            for id in one_by_one {
                if let Some(el) = st.node_at(id).map(|n| n.unchecked_into::<Element>()) {
                    let (x, y) = (el.scroll_left(), el.scroll_top());
                    if x != 0 || y != 0 {
                        scroll.push((id, x, y));
                    }
                }
            }
            st.address = st.address_now();
            let Address { url, title, base } = st.address.clone();
            let snapshot = Snapshot {
                url,
                title,
                base,
                doctype: st.document.doctype().map(|d| d.name()),
                root,
                viewport: st.viewport(),
                scroll,
                prefers: st.prefers.clone(),
                // Stamped by the page as it sends it.
                generation: 0,
            };
            let assets = st.assets.take_fresh();
            if !assets.is_empty() {
                frames.push(VisitorFrame::Assets { assets });
            }
            frames.push(VisitorFrame::Snapshot(Box::new(snapshot)));
        }
        (frames, slice_start)
    };
    let (frames, mut slice_start) = frames;
    // Serializing a big snapshot is work of its own: in a task of its own
    // unless it fits in this one.
    let took = now() - slice_start + carry;
    if !end_fits(&shared, took) {
        if let Ok(mut st) = shared.st.try_borrow_mut() {
            st.record_task(now() - slice_start, carry > 0.0);
        }
        yield_now().await;
        slice_start = now();
        carry = 0.0;
    }
    {
        let Ok(st) = shared.st.try_borrow() else { return };
        if st.generation != generation || st.stopped {
            return;
        }
    }
    emit(&shared, frames);
    // The figures include handing the frames to the sink (which serializes
    // them), like a synchronous recorder's would.
    let end = now();
    let changes = {
        let Ok(mut st) = shared.st.try_borrow_mut() else { return };
        if st.generation != generation {
            return;
        }
        st.snapshot_ms = end - st.started_ms;
        st.record_task(end - slice_start, carry > 0.0);
        // What changed while the snapshot was taken, after it.
        st.snapshotting = false;
        let mut held = std::mem::take(&mut st.held);
        if let Some(o) = &st.observer {
            held.extend(o.take_records().iter().map(|r| r.unchecked_into::<MutationRecord>()));
        }
        st.sheet_cache = SheetCache::default();
        let mut changes = st.process(held);
        changes.extend(st.top_layer_now());
        changes.extend(st.focus_changes());
        changes.extend(st.canvas_changes(CANVAS_SNAPSHOT_MS));
        changes
    };
    emit(&shared, changes);
    keyframe_if_due(&shared);
}

/// What names the page: see [`VisitorFrame::Address`].
#[derive(Debug, Clone, Default, PartialEq)]
struct Address {
    url: String,
    title: String,
    base: Option<String>,
}

/// The page's address and title as a snapshot tells them (`private_all`:
/// the private blocks' selector). No title when the element
/// `document.title` reads is in a private block; only the origin when the
/// document element is private itself. Fail-closed: a selector the browser
/// refuses hides both.
pub(super) fn page_label(doc: &Document, private_all: &str) -> (String, String) {
    let private = |el: &Element| !matches!(el.closest(private_all), Ok(None));
    let url = doc.url().unwrap_or_default();
    if doc.document_element().is_none_or(|root| private(&root)) {
        return (crate::web::origin_of(&url).unwrap_or_default(), String::new());
    }
    // The first HTML `<title>`, or an SVG document's `<title>` child.
    let titles = [
        doc.get_elements_by_tag_name_ns(Some("http://www.w3.org/1999/xhtml"), "title").ok().and_then(|c| c.item(0)),
        doc.query_selector(":root > title").ok().flatten(),
    ];
    let title = if titles.iter().flatten().any(private) { String::new() } else { doc.title() };
    (url, title)
}

/// Whether the end of the snapshot fits in a task that has worked `took`.
fn end_fits(shared: &Rc<Shared>, took: f64) -> bool {
    let nodes = shared.st.try_borrow().map(|st| st.next_id).unwrap_or(u32::MAX);
    took + f64::from(nodes) * END_MS_PER_NODE < IDLE_SLICE_MS
}

/// `navigator.scheduling.isInputPending`, where the browser has it.
fn input_pending_fn() -> Option<impl Fn() -> bool> {
    let scheduling = get(&js_sys::global(), "navigator").and_then(|n| get(&n, "scheduling"))?;
    let f = get(&scheduling, "isInputPending")?.dyn_into::<Function>().ok()?;
    Some(move || f.call0(&scheduling).ok().and_then(|v| v.as_bool()).unwrap_or(false))
}

/// Gives the page its main thread back: `scheduler.yield()` where present,
/// else a `MessageChannel` round trip (not clamped like nested timers).
async fn yield_now() {
    let global = js_sys::global();
    let promise = get(&global, "scheduler")
        .and_then(|s| {
            let f = get(&s, "yield")?.dyn_into::<Function>().ok()?;
            f.call0(&s).ok()?.dyn_into::<Promise>().ok()
        })
        .unwrap_or_else(|| {
            Promise::new(&mut |resolve: Function, _reject: Function| {
                let sent = MessageChannel::new().ok().is_some_and(|ch| {
                    ch.port1().set_onmessage(Some(&resolve));
                    ch.port2().post_message(&JsValue::NULL).is_ok()
                });
                if !sent {
                    if let Some(w) = web_sys::window() {
                        let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0);
                    }
                }
            })
        });
    let _ = JsFuture::from(promise).await;
}

// ---- walking ----------------------------------------------------------------

/// An element whose children (then shadow root, then iframe document) are
/// being visited.
struct Frame {
    node: Node,
    stage: u8,
    /// Children still to visit, last first.
    kids: Vec<DomNode>,
    out: Vec<Node>,
    /// What the children being visited inherit.
    within: Within,
    shadow: Option<(ShadowRoot, Within)>,
    frame_doc: Option<(Document, Within)>,
}

enum Visit {
    Skip,
    Leaf(Node),
    Frame(Box<Frame>),
}

/// An element being opened: in hand (the per-node walk), or a position in
/// a bulk read, fetched from it only when a fact needs the live element.
enum Handle<'a> {
    Live(&'a Element),
    Bulk {
        table: &'a bulk::List,
        id: NodeId,
        private: bool,
        safe: bool,
        /// Its computed style makes it editable (`-webkit-user-modify`).
        styled_editable: bool,
        shadow: bulk::Shadow,
        got: Option<Element>,
        /// A text field's live value, when the read already has it.
        value: Option<String>,
        /// Whether a text field's style shows it as shapes, when the read
        /// already has it.
        disguised: Option<bool>,
        /// For an option: the class of the select it is in (`Some(None)`:
        /// in none), when the read knows it.
        select: Option<Option<FieldClass>>,
    },
}

impl Handle<'_> {
    fn el(&mut self) -> Option<&Element> {
        match self {
            Handle::Live(el) => Some(el),
            Handle::Bulk { table, id, got, .. } => {
                if got.is_none() {
                    *got = table.get(*id).dyn_into::<Element>().ok();
                }
                got.as_ref()
            }
        }
    }
}

/// A shadow root or iframe document met by a bulk read, walked node by
/// node afterwards, with what its top nodes inherit.
enum Hole {
    Shadow(ShadowRoot, Within),
    Frame(Document, Within),
}

impl Hole {
    /// A frame whose children are the hole's top nodes.
    fn frame(self) -> Frame {
        let (kids, within) = match self {
            Hole::Shadow(sr, within) => (children(sr.as_ref()), within),
            Hole::Frame(doc, within) => (doc.document_element().map(|d| vec![d.into()]).unwrap_or_default(), within),
        };
        let mut kids = kids;
        kids.reverse();
        Frame {
            node: Node::element(0, "", vec![], None),
            stage: 0,
            kids,
            out: Vec::new(),
            within,
            shadow: None,
            frame_doc: None,
        }
    }
}

/// A walked hole: an element's shadow children, or its iframe document.
enum Patch {
    Shadow(Vec<Node>),
    Frame(Vec<Node>),
}

/// Puts walked shadow roots and iframe documents into the bulk-read tree.
fn apply_patches(root: &mut Node, patches: &mut IdTable<Patch>) {
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        if patches.is_empty() {
            return;
        }
        if let Node::Element { i, c, s, f, .. } = n {
            match patches.remove(i) {
                Some(Patch::Shadow(kids)) => *s = Some(kids),
                Some(Patch::Frame(kids)) => *f = kids.into_iter().next().map(Box::new),
                None => {}
            }
            // Patched subtrees were walked whole: only the bulk part is searched.
            stack.extend(c.iter_mut());
        }
    }
}

/// An element as captured, before its children.
struct Opened {
    node: Node,
    /// Whether its children are captured (not for placeholders, sheets, …).
    descend: bool,
    /// What its children inherit.
    within: Within,
    /// Its shadow root and iframe document, with what their top nodes inherit.
    shadow: Option<(ShadowRoot, Within)>,
    frame_doc: Option<(Document, Within)>,
    /// A form control's class ([`State::field_class`]).
    class: Option<FieldClass>,
}

fn children(parent: &DomNode) -> Vec<DomNode> {
    let mut out = Vec::new();
    let mut cur = parent.first_child();
    while let Some(c) = cur {
        cur = c.next_sibling();
        out.push(c);
    }
    out
}

fn owner_sheet(el: &Element) -> Option<CssStyleSheet> {
    let sheet = match el.local_name().as_str() {
        "style" => el.unchecked_ref::<HtmlStyleElement>().sheet(),
        "link" => el.unchecked_ref::<HtmlLinkElement>().sheet(),
        _ => None,
    }?;
    // Always a CSSStyleSheet; not checked with `instanceof`, which fails
    // for a same-origin iframe's (another realm).
    Some(sheet.unchecked_into::<CssStyleSheet>())
}

/// `el`'s shadow root, open or closed (`chrome.dom.openOrClosedShadowRoot`
/// where the browser has it).
fn shadow_root_of(open_shadow: &Option<(JsValue, Function)>, el: &Element) -> Option<ShadowRoot> {
    if let Some((dom, f)) = open_shadow {
        if let Ok(v) = f.call1(dom, el) {
            return node_of_type(&v, FRAGMENT);
        }
    }
    el.shadow_root()
}

/// Whether `id` names a node of the current snapshot still in the page
/// ([`State::node_at`] without taking the node).
fn is_captured(bulk: &Option<(bulk::List, Vec<bool>)>, nodes: &IdTable<DomNode>, id: NodeId) -> bool {
    match bulk {
        Some((_, live)) if (id as usize) < live.len() => live[id as usize],
        _ => nodes.contains_key(&id),
    }
}

fn shadow_host(fragment: &DomNode) -> Option<Element> {
    get(fragment.as_ref(), "host").and_then(|h| node_of_type(&h, ELEMENT))
}

/// A node's parent, or for the top of a shadow tree its host.
fn parent_or_host(node: &DomNode) -> Option<DomNode> {
    match node.parent_node() {
        Some(p) if p.node_type() == FRAGMENT => shadow_host(&p).map(Into::into),
        p => p,
    }
}

/// `value` as a DOM node of type `kind`, if it is one. Nodes of same-origin
/// iframes belong to another realm, where `instanceof` (what `dyn_into`
/// checks) fails; their node type does not.
fn node_of_type<T: JsCast>(value: &JsValue, kind: u16) -> Option<T> {
    if !value.is_object() {
        return None;
    }
    let t = get(value, "nodeType")?.as_f64()?;
    (t == f64::from(kind)).then(|| value.clone().unchecked_into())
}

/// The iframe element holding a same-origin frame's document.
fn frame_element(doc: &DomNode) -> Option<Element> {
    let win = doc.unchecked_ref::<Document>().default_view()?;
    win.frame_element().ok().flatten()
}

impl State {
    fn id_of(&self, node: &DomNode) -> Option<NodeId> {
        self.ids.get_id(node)
    }

    /// The live node behind a captured id.
    fn node_at(&self, id: NodeId) -> Option<DomNode> {
        if let Some((table, live)) = &self.bulk {
            if (id as usize) < live.len() {
                return live[id as usize].then(|| table.get(id).unchecked_into());
            }
        }
        self.nodes.get(&id).cloned()
    }

    /// Counts work of the snapshot: a task of its own, or more of the
    /// current one (the end ran in the same task as the last step).
    fn record_task(&mut self, ms: f64, same_task: bool) {
        match self.slice_ms.last_mut() {
            Some(last) if same_task => *last += ms,
            _ => self.slice_ms.push(ms),
        }
    }

    /// Gives the node the next id and keeps it (moved, not cloned: one
    /// boundary call less per node).
    fn assign(&mut self, node: DomNode) -> NodeId {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.ids.set_id(&node, id);
        self.nodes.insert(id, node);
        id
    }

    /// Forgets the ids of a subtree that left the page (or is captured again).
    fn unmap(&mut self, root: &DomNode) {
        let mut stack = vec![root.clone()];
        let mut guard = 0usize;
        while let Some(n) = stack.pop() {
            let Some(id) = self.id_of(&n) else { continue };
            guard += 1;
            if guard > 1_000_000 {
                break;
            }
            self.ids.delete_id(&n);
            self.nodes.remove(&id);
            if let Some(live) = self.bulk.as_mut().and_then(|(_, live)| live.get_mut(id as usize)) {
                *live = false;
            }
            self.protected.remove(&id);
            self.placeholders.remove(&id);
            self.sealed.remove(&id);
            self.sheets.remove(&id);
            stack.extend(children(&n));
            if n.node_type() == ELEMENT {
                let el: &Element = n.unchecked_ref();
                if let Some(sr) = self.shadow_of(el) {
                    stack.extend(children(&sr.into()));
                }
                // A same-origin frame's document: its ids go too, and its
                // events are no longer listened to.
                let tag = el.local_name();
                if tag == "iframe" || tag == "frame" {
                    if let Some(doc) = el.unchecked_ref::<HtmlIFrameElement>().content_document() {
                        self.unwatch_root(doc.as_ref());
                        stack.extend(doc.document_element().map(DomNode::from));
                    }
                }
            }
        }
    }

    /// Custom elements defined since they were captured: one that attached
    /// a shadow root then is captured again, with a keyframe (a shadow root
    /// attached to a captured element is not a DOM mutation). Elements
    /// still undefined are kept for the next look.
    fn check_upgrades(&mut self) {
        let mut attached = false;
        let ids = &self.ids;
        let open_shadow = &self.open_shadow;
        self.maybe_upgraded.retain(|el| {
            if attached {
                return false; // the keyframe captures it all again
            }
            if !el.matches(":defined").unwrap_or(true) {
                return true;
            }
            attached = ids.get_id(el.as_ref()).is_some() && shadow_root_of(open_shadow, el).is_some();
            false
        });
        self.keyframe_due |= attached;
    }

    /// The next [`HOST_RECHECK_PER_POLL`] of [`State::bare_hosts`]: one
    /// that has a shadow root now is captured again, with a keyframe (as
    /// for an upgrade). A script may attach a root to a plain element
    /// (`div`, `span`, …) or a defined custom element at any time, and
    /// nothing in Baton's world tells when.
    fn recheck_bare_hosts(&mut self) {
        if self.keyframe_due || now() - self.host_keyframe_ms < HOST_KEYFRAME_GAP_MS {
            return;
        }
        // Gone ids are dropped as the cursor passes them; a page that keeps
        // adding and removing elements outruns it, so the whole list is
        // swept once it has doubled.
        if self.bare_hosts.len() > self.bare_hosts_swept.saturating_mul(2).max(HOST_RECHECK_PER_POLL) {
            let (bulk, nodes) = (&self.bulk, &self.nodes);
            self.bare_hosts.retain(|&id| is_captured(bulk, nodes, id));
            self.bare_hosts_swept = self.bare_hosts.len();
        }
        let start = self.host_cursor.min(self.bare_hosts.len());
        let end = (start + HOST_RECHECK_PER_POLL).min(self.bare_hosts.len());
        let mut kept = Vec::with_capacity(end - start);
        for id in self.bare_hosts[start..end].iter().copied() {
            let Some(node) = self.node_at(id) else { continue };
            if self.shadow_of(node.unchecked_ref()).is_some() {
                self.keyframe_due = true;
                self.host_keyframe_ms = now();
                return;
            }
            kept.push(id);
        }
        let next = start + kept.len();
        self.bare_hosts.splice(start..end, kept);
        self.host_cursor = if next >= self.bare_hosts.len() { 0 } else { next };
    }

    /// A document's or shadow root's adopted sheets, the outline's left out.
    fn adopted(&self, target: &JsValue) -> Vec<CssStyleSheet> {
        outline::adopted_list(target)
            .into_iter()
            .filter(|s| s.is_object() && !self.outlines.owns(s))
            .map(JsCast::unchecked_into::<CssStyleSheet>)
            .collect()
    }

    fn shadow_of(&self, el: &Element) -> Option<ShadowRoot> {
        shadow_root_of(&self.open_shadow, el)
    }

    fn viewport(&self) -> (u32, u32) {
        let dim = |v: Result<JsValue, JsValue>| v.ok().and_then(|v| v.as_f64()).unwrap_or(0.0).max(0.0) as u32;
        (dim(self.window.inner_width()), dim(self.window.inner_height()))
    }

    /// The page's address and title as a snapshot tells them
    /// ([`page_label`]), and its base URL where a `<base href>` moves it
    /// (not when the address is cut to its origin: a private page).
    fn address_now(&self) -> Address {
        let (url, title) = page_label(&self.document, &self.private_all);
        let full_url = self.document.url().ok().is_some_and(|u| u == url);
        let base = self.document.base_uri().ok().flatten().filter(|b| full_url && *b != url);
        Address { url, title, base }
    }

    /// The address frame when the base URL moved (`pushState` to another
    /// folder): one call, cheap enough for every batch of changes. The
    /// title and an address under a `<base>` can wait for the poll.
    fn base_moved(&mut self) -> Option<VisitorFrame> {
        let base = self.document.base_uri().ok().flatten();
        if base.as_ref() == Some(self.address.base.as_ref().unwrap_or(&self.address.url)) {
            return None;
        }
        self.address_change()
    }

    /// The address frame when the page's address, title or base moved
    /// since the last one sent.
    fn address_change(&mut self) -> Option<VisitorFrame> {
        let now = self.address_now();
        if now == self.address {
            return None;
        }
        self.address = now.clone();
        Some(VisitorFrame::Address { url: now.url, title: now.title, base: now.base })
    }

    /// What the visitor prefers, for each of [`MEDIA_PREFERENCES`]: the
    /// value its query matches (none, for a browser without the feature).
    fn prefers_now(&self) -> Vec<(String, String)> {
        let matches = |q: &str| self.window.match_media(q).ok().flatten().is_some_and(|m| m.matches());
        MEDIA_PREFERENCES
            .iter()
            .filter_map(|(feature, values)| {
                let value = values.iter().find(|v| matches(&format!("({feature}: {v})")))?;
                Some((feature.to_string(), value.to_string()))
            })
            .collect()
    }

    /// Observe a document or shadow root and listen for input, scroll and loads in it.
    fn watch_root(&mut self, root: &DomNode) {
        if let Some(o) = &self.observer {
            let init = MutationObserverInit::new();
            init.set_child_list(true);
            init.set_attributes(true);
            init.set_character_data(true);
            init.set_subtree(true);
            // A field's old `type` tells that it was a password before.
            init.set_attribute_old_value(true);
            let _ = o.observe_with_options(root, &init);
        }
        let target: &EventTarget = root.unchecked_ref();
        if self.listened.has(target.unchecked_ref()) {
            return;
        }
        let options = AddEventListenerOptions::new();
        options.set_capture(true);
        options.set_passive(true);
        for (name, f) in &self.root_fns {
            let _ = target.add_event_listener_with_callback_and_add_event_listener_options(name, f, &options);
        }
        self.listened_roots.push(target.clone());
        self.listened.add(target.unchecked_ref());
        self.outlines.add(root);
    }

    /// Stops listening for input, scroll and loads in a document or shadow
    /// root (its mutations still arrive, and are ignored without ids).
    fn unwatch_root(&mut self, root: &DomNode) {
        let target: &EventTarget = root.unchecked_ref();
        if !self.listened.delete(target.unchecked_ref()) {
            return;
        }
        let Some(at) = self.listened_roots.iter().position(|t| t == target) else { return };
        let target = self.listened_roots.swap_remove(at);
        for (name, f) in &self.root_fns {
            let _ = target.remove_event_listener_with_callback_and_bool(name, f, true);
        }
        self.outlines.remove(root);
    }

    /// Visits one node. `floor` is the first id of the current pass: a node
    /// with an id at or above it was already captured in this pass; one
    /// below it came from elsewhere and is captured afresh.
    fn visit(&mut self, node: DomNode, within: Within, floor: NodeId) -> Visit {
        // A snapshot walk that saw no DOM change yet meets every node once.
        let fresh = self.snapshotting && self.unmoved;
        if let Some(old) = if fresh { None } else { self.id_of(&node) } {
            if old >= floor {
                return Visit::Skip;
            }
            self.stale.push(old);
            self.unmap(&node);
        }
        match node.node_type() {
            ELEMENT => self.open(node.unchecked_into::<Element>(), within),
            TEXT | CDATA => {
                let v = node.node_value().unwrap_or_default();
                let id = self.assign(node);
                let v = if within.editable {
                    self.protected.insert(id);
                    mask::mask(&v)
                } else {
                    v
                };
                Visit::Leaf(Node::Text { i: id, v })
            }
            COMMENT => Visit::Leaf(Node::Comment { i: self.assign(node) }),
            _ => Visit::Skip,
        }
    }

    /// An attribute value as sent: a long `data:` URL becomes a reference
    /// to an asset (sent once), anything else stays as it is.
    fn as_asset(&mut self, value: String) -> String {
        match assets::data_url_mime(&value).map(str::to_owned) {
            Some(mime) => asset_ref::reference(&self.assets.intern(&mime, value)),
            None => value,
        }
    }

    /// Whether a live element is private (attribute or policy selector;
    /// an invalid selector counts as a match).
    fn is_private(&self, el: &Element, attrs: &[(String, String)]) -> bool {
        attrs.iter().any(|(n, _)| n.eq_ignore_ascii_case(PRIVATE_ATTR))
            || self.private_sel.as_ref().is_some_and(|sel| el.matches(sel).unwrap_or(true))
    }

    /// Whether a live element matches the safe-field selectors.
    fn is_safe(&self, el: &Element) -> bool {
        self.safe_sel.as_ref().is_some_and(|sel| el.matches(sel).unwrap_or(false))
    }

    /// A form control's class ([`mask::class_of`]), secret for good once it
    /// was secret. Without the live element (a failed read) a field counts
    /// as secret as soon as any field was. `el` is only asked for when
    /// needed (in a bulk read, getting it is a call into the browser).
    fn field_class(
        &mut self,
        el: impl FnOnce() -> Option<Element>,
        tag: &str,
        raw: &[(String, String)],
        safe: bool,
    ) -> Option<FieldClass> {
        let class = mask::class_of(tag, raw, safe)?;
        if class == FieldClass::Secret {
            if let Some(el) = el() {
                self.secrets.add(el.unchecked_ref());
                self.any_secret = true;
            }
            return Some(class);
        }
        if self.any_secret && el().is_none_or(|el| self.secrets.has(el.unchecked_ref())) {
            return Some(FieldClass::Secret);
        }
        Some(class)
    }

    /// [`Self::field_class`] of a live field as a change or input finds
    /// it, its style asked too (a text field shown as shapes is secret).
    fn live_field_class(
        &mut self,
        el: &Element,
        tag: &str,
        raw: &[(String, String)],
        safe: bool,
    ) -> Option<FieldClass> {
        let class = self.field_class(|| Some(el.clone()), tag, raw, safe)?;
        let input_type = raw.iter().find(|(k, _)| k.eq_ignore_ascii_case("type")).map(|(_, v)| v.as_str());
        if mask::reads_style(class, tag, input_type) && self.disguised(&mut Handle::Live(el)) {
            return Some(FieldClass::Secret);
        }
        Some(class)
    }

    /// [`Self::field_class`] without remembering a secret (for checks): a
    /// safe field shown as shapes is secret all the same.
    fn class_now(&self, el: &Element, tag: &str, raw: &[(String, String)], safe: bool) -> Option<FieldClass> {
        let class = mask::class_of(tag, raw, safe)?;
        if class != FieldClass::Secret && self.any_secret && self.secrets.has(el.unchecked_ref()) {
            return Some(FieldClass::Secret);
        }
        let input_type = raw.iter().find(|(k, _)| k.eq_ignore_ascii_case("type")).map(|(_, v)| v.as_str());
        if class == FieldClass::Safe && mask::reads_style(class, tag, input_type) && shows_shapes(el) {
            return Some(FieldClass::Secret);
        }
        Some(class)
    }

    /// The class an `<option>` or `<optgroup>` follows: its select's (the
    /// selected option states the select's value). `None` outside a select;
    /// secret when it cannot be found out.
    fn option_class(&mut self, el: Option<&Element>) -> Option<FieldClass> {
        let Some(el) = el else { return Some(FieldClass::Secret) };
        match el.closest("select") {
            Ok(Some(select)) => {
                let raw = Self::attrs_of(&select);
                let safe = self.is_safe(&select);
                self.field_class(|| Some(select), "select", &raw, safe)
            }
            Ok(None) => None,
            Err(_) => Some(FieldClass::Secret),
        }
    }

    /// Whether the form control at or around a live node is not safe now
    /// (an option counts as its select).
    fn live_field_protected(&self, node: &DomNode) -> bool {
        if node.node_type() != ELEMENT {
            return false;
        }
        let field = match node.unchecked_ref::<Element>().closest("input, textarea, select") {
            Ok(Some(field)) => field,
            Ok(None) => return false,
            Err(_) => return true,
        };
        let tag = field.local_name();
        let raw = Self::attrs_of(&field);
        let class = self.class_now(&field, &tag, &raw, self.is_safe(&field));
        class.is_some_and(|c| c != FieldClass::Safe)
    }

    /// The private block a live node is in now: the nearest element at or
    /// above it that is `[data-baton-private]` or matches the policy's
    /// private selectors, across shadow hosts and same-origin frames.
    /// `Err` when that cannot be found out (a selector the browser refuses,
    /// ancestry too deep): callers treat it as private.
    fn private_block(&self, node: &DomNode) -> Result<Option<Element>, ()> {
        let mut cur = Some(node.clone());
        for _ in 0..MAX_ANCESTORS {
            let Some(n) = cur else { return Ok(None) };
            cur = match n.node_type() {
                ELEMENT => {
                    let el: &Element = n.unchecked_ref();
                    if let Some(found) = el.closest(&self.private_all).map_err(|_| ())? {
                        return Ok(Some(found));
                    }
                    Some(el.get_root_node())
                }
                FRAGMENT => shadow_host(&n).map(Into::into),
                DOCUMENT if n == *self.document.as_ref() => None,
                DOCUMENT => frame_element(&n).map(Into::into),
                _ => n.parent_node(),
            };
        }
        Err(())
    }

    /// Whether a shadow tree slots its host's light children into a private
    /// element (any slot inside one counts: the host's light children are
    /// then not captured at all).
    fn slots_private(&self, sr: &ShadowRoot) -> bool {
        let all = &self.private_all;
        !matches!(sr.query_selector(&format!(":is({all}) slot, slot:is({all})")), Ok(None))
    }

    fn attrs_of(el: &Element) -> Vec<(String, String)> {
        if !el.has_attributes() {
            return Vec::new();
        }
        let names = el.get_attribute_names();
        let mut out = Vec::with_capacity(names.length() as usize);
        for name in names.iter() {
            if let Some(name) = name.as_string() {
                let value = el.get_attribute(&name).unwrap_or_default();
                out.push((name, value));
            }
        }
        out
    }

    fn open(&mut self, el: Element, within: Within) -> Visit {
        let tag = el.local_name();
        let raw = Self::attrs_of(&el);
        if raw.iter().any(|(n, _)| n.eq_ignore_ascii_case(UI_ATTR)) {
            return Visit::Skip;
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.ids.set_id(el.as_ref(), id);
        let opened = self.open_element(&mut Handle::Live(&el), id, tag, raw, within);
        let mut kids = if opened.descend { children(el.as_ref()) } else { Vec::new() };
        self.nodes.insert(id, el.into());
        kids.reverse();
        if kids.is_empty() && opened.shadow.is_none() && opened.frame_doc.is_none() {
            return Visit::Leaf(opened.node);
        }
        Visit::Frame(Box::new(Frame {
            node: opened.node,
            stage: 0,
            kids,
            out: Vec::new(),
            within: opened.within,
            shadow: opened.shadow,
            frame_doc: opened.frame_doc,
        }))
    }

    /// What an element is captured as, apart from its children: masking,
    /// live form state, stylesheet, shadow root and iframe document.
    fn open_element(
        &mut self,
        h: &mut Handle,
        id: NodeId,
        tag: String,
        raw: Vec<(String, String)>,
        within: Within,
    ) -> Opened {
        let private = match h {
            Handle::Live(el) => self.is_private(el, &raw),
            // The assembly's list has the attribute's elements too.
            Handle::Bulk { private, .. } => *private,
        };
        if private {
            self.protected.insert(id);
            self.placeholders.insert(id);
            let size = |v: f64| if v.is_finite() { v.max(0.0).ceil().min(u32::MAX as f64) as u32 } else { 0 };
            let m = h.el().map(|el| el.get_bounding_client_rect()).map(|r| (size(r.width()), size(r.height())));
            let a = raw.into_iter().filter_map(|(n, v)| mask::attr_out(&n, v, None, true).map(|v| (n, v))).collect();
            return Opened {
                node: Node::element(id, tag, a, Some(m.unwrap_or((0, 0)))),
                descend: false,
                within,
                shadow: None,
                frame_doc: None,
                class: None,
            };
        }
        let is_field = matches!(tag.as_str(), "input" | "textarea" | "select");
        let safe = is_field
            && match h {
                Handle::Live(el) => self.is_safe(el),
                Handle::Bulk { safe, .. } => *safe,
            };
        let input_type = raw.iter().find(|(k, _)| k.eq_ignore_ascii_case("type")).map(|(_, v)| v.clone());
        let class = if is_field { self.field_class(|| h.el().cloned(), &tag, &raw, safe) } else { None };
        // A text field's live value: the read's, or the element's when its
        // style must be asked (only a value that would go out is worth it).
        let mut value = match h {
            Handle::Bulk { value, .. } => value.take(),
            Handle::Live(_) => None,
        };
        let class = match class {
            Some(c) if mask::reads_style(c, &tag, input_type.as_deref()) => {
                if value.is_none() {
                    value = h.el().and_then(|el| text_value(el, &tag));
                }
                let shown = value.as_deref().is_some_and(|v| !v.is_empty());
                Some(if shown && self.disguised(h) { FieldClass::Secret } else { c })
            }
            other => other,
        };
        // An option's `selected` and `value` state its select's choice (a
        // bulk read knows the select it is in).
        let attr_class = match (tag.as_str(), &*h) {
            ("option" | "optgroup", Handle::Bulk { select: Some(select), .. }) => *select,
            ("option" | "optgroup", _) => self.option_class(h.el()),
            _ => class,
        };
        let may_host = tag.contains('-') || SHADOW_HOSTS.contains(&tag.as_str());
        let shadow = match h {
            // The read already looked, for all of them at once.
            Handle::Bulk { shadow: bulk::Shadow::None, .. } => None,
            _ if may_host => h.el().and_then(|el| self.shadow_of(el)),
            _ => None,
        };
        if shadow.is_none() && may_host {
            self.bare_hosts.push(id);
            if tag.contains('-') && self.maybe_upgraded.len() < MAX_UPGRADE_WATCH {
                if let Some(el) = h.el() {
                    self.maybe_upgraded.push(el.clone());
                }
            }
        }
        // A shadow tree's styles may make its host editable (`:host`).
        let shadow_styled = shadow.as_ref().is_some_and(|sr| self.styles_may_edit(sr.as_ref()));
        let editable = raw.iter().any(|(k, v)| k.eq_ignore_ascii_case("contenteditable") && mask::is_editable(v))
            || !within.editable && self.editable_by_style(h, &raw, within.styled, shadow_styled);
        if class.is_some_and(|c| c != FieldClass::Safe) || editable {
            self.protected.insert(id);
        }
        // A checkbox's `value` attribute as the page wrote it (what
        // `getAttribute("value")` answers), kept before masking.
        let page_value = if class.is_some() && tag == "input" && mask::is_checkable(input_type.as_deref()) {
            raw.iter().find(|(k, _)| k == "value").map(|(_, v)| v.clone())
        } else {
            None
        };
        let mut a: Vec<(String, String)> = Vec::with_capacity(raw.len());
        for (n, v) in raw {
            if mask::embeds_markup(&tag, &n, &v) {
                continue;
            }
            // Inside an editable region what the user put there (a pasted
            // image, a link) is input too: only layout goes out, as for a
            // private block.
            if let Some(v) = mask::attr_out(&n, v, attr_class, within.editable) {
                let v = self.as_asset(v);
                a.push((n, v));
            }
        }
        if let Some(class) = class {
            match (value, h.el()) {
                (Some(value), _) => {
                    live_value(Value::Read(value), &tag, class, input_type.as_deref(), page_value, &mut a)
                }
                (None, Some(el)) => live_value(Value::Live(el), &tag, class, input_type.as_deref(), page_value, &mut a),
                // No live element: no value at all (fail-closed).
                (None, None) => {
                    a.retain(|(k, _)| !k.eq_ignore_ascii_case("value") && !k.eq_ignore_ascii_case("checked"))
                }
            }
        }

        let mut css = None;
        if tag == "style"
            || (tag == "link" && a.iter().any(|(k, v)| k == "rel" && v.to_ascii_lowercase().contains("stylesheet")))
        {
            if let Some(el) = h.el().cloned() {
                if let Some(sheet) = owner_sheet(&el) {
                    if let Some((text, count)) = self.read_sheet(&sheet) {
                        let hash = self.assets.intern(CSS, text);
                        self.sheets.insert(
                            id,
                            SheetWatch { what: Watched::Owner(el), counts: vec![count], hashes: vec![hash.clone()] },
                        );
                        css = Some(hash);
                    }
                }
            }
        }

        if !NO_SCROLL_READ.contains(&tag.as_str()) && self.snapshotting {
            // Read once the walk is done: a read forces layout when the
            // page changed since the last one, so at most once then.
            self.scroll_candidates.push(id);
        }

        let mut y = Vec::new();
        if let Some(sr) = &shadow {
            y = self.adopted_hashes(id, sr.as_ref());
            let root: DomNode = sr.clone().into();
            self.watch_root(&root);
        } else if tag == "html" {
            if let Some(el) = h.el() {
                if let Some(doc) = el.owner_document() {
                    if doc.document_element().is_some_and(|d| &d == el) {
                        y = self.adopted_hashes(id, doc.as_ref());
                    }
                }
            }
        }
        let frame_doc = if tag == "iframe" || tag == "frame" {
            h.el().and_then(|el| el.unchecked_ref::<HtmlIFrameElement>().content_document())
        } else {
            None
        };
        let frame_doc = frame_doc.map(|doc| {
            let root: DomNode = doc.clone().into();
            self.watch_root(&root);
            let within = self.document_within(&doc);
            (doc, within)
        });
        let mut descend = !(mask::skips_children(&tag) || css.is_some());
        if shadow.as_ref().is_some_and(|sr| self.slots_private(sr)) {
            descend = false;
            self.sealed.insert(id);
        }
        let inside = Within { editable: within.editable || editable, styled: within.styled };
        Opened {
            node: Node::Element { i: id, n: tag, a, c: vec![], s: None, y, css, f: None, m: None },
            descend,
            within: inside,
            shadow: shadow.map(|sr| (sr, Within { styled: shadow_styled, ..inside })),
            frame_doc,
            class,
        }
    }

    /// Whether an element is editable by its computed style
    /// (`-webkit-user-modify`), asked only when the styles of its tree
    /// (`styled`), of its shadow tree or its own `style` attribute name the
    /// property; a bulk read has already asked. Unknown counts as editable.
    fn editable_by_style(&self, h: &mut Handle, raw: &[(String, String)], styled: bool, shadow_styled: bool) -> bool {
        let asks = match h {
            Handle::Bulk { styled_editable: true, .. } => return true,
            // The read asked where the document's styles or the element's own could.
            Handle::Bulk { .. } => shadow_styled,
            Handle::Live(_) => styled || shadow_styled || mask::style_names_user_modify(raw),
        };
        asks && h.el().is_none_or(styled_editable)
    }

    /// Whether a text field's style shows it as shapes
    /// (`-webkit-text-security`): then it is secret, for good. A bulk read
    /// may have the answer; one that cannot be found out counts as shapes.
    fn disguised(&mut self, h: &mut Handle) -> bool {
        let known = match h {
            Handle::Bulk { disguised, .. } => *disguised,
            Handle::Live(_) => None,
        };
        // A bulk read's element is fetched only for a secret.
        if known == Some(false) {
            return false;
        }
        let Some(el) = h.el().cloned() else { return true };
        let shapes = known.unwrap_or_else(|| shows_shapes(&el));
        if shapes {
            self.secrets.add(el.unchecked_ref());
            self.any_secret = true;
        }
        shapes
    }

    /// What the top of a document's tree inherits: all of it is editable in
    /// design mode, and its styles may make elements editable. A document
    /// not in design mode is remembered, to notice it switching.
    fn document_within(&mut self, doc: &Document) -> Within {
        let editable = in_design_mode(doc);
        if !editable && !self.design_off.contains(doc) {
            self.design_off.push(doc.clone());
        }
        Within { editable, styled: self.styles_may_edit(doc.as_ref()) }
    }

    /// Whether the styles of a document or shadow root may make an element
    /// editable: a sheet names `-webkit-user-modify`, or cannot be read
    /// (fail-closed). Only then is each element's computed style asked.
    fn styles_may_edit(&mut self, root: &JsValue) -> bool {
        let mut sheets = self.adopted(root);
        if let Some(list) = get(root, "styleSheets") {
            let n = get(&list, "length").and_then(|n| n.as_f64()).unwrap_or(0.0) as u32;
            sheets.extend(
                (0..n)
                    .filter_map(|i| Reflect::get_u32(&list, i).ok())
                    .filter(JsValue::is_object)
                    .map(JsCast::unchecked_into),
            );
        }
        let found = sheets.iter().any(|sheet| self.sheet_may_edit(sheet, 0));
        self.edit_styles |= found;
        found
    }

    fn sheet_may_edit(&mut self, sheet: &CssStyleSheet, depth: u32) -> bool {
        let Some((text, _)) = self.read_sheet(sheet) else { return true };
        if mask::names_user_modify(&text) {
            return true;
        }
        // An import the text could not take in is still an `@import` rule
        // (`sheet_text`): follow it, and count one that cannot be read.
        if !text.contains("@import") {
            return false;
        }
        let Ok(rules) = sheet.css_rules() else { return true };
        for i in 0..rules.length() {
            let Some(rule) = rules.item(i) else { continue };
            if rule.type_() != IMPORT_RULE {
                continue;
            }
            let imported = get(rule.as_ref(), "styleSheet").map(JsCast::unchecked_into::<CssStyleSheet>);
            if depth >= MAX_IMPORT_DEPTH || imported.is_none_or(|s| self.sheet_may_edit(&s, depth + 1)) {
                return true;
            }
        }
        false
    }

    /// A sheet's text and rule count (`None`: it cannot be read, e.g. from
    /// another origin). During a snapshot each sheet is read once.
    fn read_sheet(&mut self, sheet: &CssStyleSheet) -> Option<(String, u32)> {
        if !self.snapshotting {
            return self.note_sheet(sheet_text(sheet));
        }
        let index = self.sheet_cache.index.get_or_insert_with(js_sys::Map::new).clone();
        if let Some(at) = index.get(sheet).as_f64() {
            return self.sheet_cache.texts.get(at as usize).cloned().flatten();
        }
        let read = self.note_sheet(sheet_text(sheet));
        index.set(sheet, &JsValue::from(self.sheet_cache.texts.len() as f64));
        self.sheet_cache.texts.push(read.clone());
        read
    }

    /// Remembers a sheet that may make elements editable, for later changes.
    fn note_sheet(&mut self, read: Option<(String, u32)>) -> Option<(String, u32)> {
        if read.as_ref().is_none_or(|(text, _)| mask::names_user_modify(text)) {
            self.edit_styles = true;
        }
        read
    }

    /// Begins reading the document's tree in bulk (see [`bulk`]), or `None`
    /// to walk it node by node (too large, built-ins missing, not the
    /// first pass of a snapshot).
    /// `styled`: the document's styles may make elements editable, so the
    /// read asks each element's computed style.
    fn bulk_begin(&mut self, html: &Element, styled: bool) -> Option<bulk::Reader> {
        if self.next_id != 1 || !BULK_ENABLED.with(|b| b.get()) || self.natives.is_none() {
            return None;
        }
        bulk::Reader::begin(&self.document, html, styled).ok().flatten()
    }

    /// One step of a bulk read.
    fn bulk_step(&mut self, reader: &mut bulk::Reader) -> bulk::Progress {
        let Some(natives) = &self.natives else { return bulk::Progress::Fallback };
        reader.step(natives, &self.ids).unwrap_or(bulk::Progress::Fallback)
    }

    /// Turns a complete read into an [`Assembly`]; `None` (an invalid
    /// selector) to walk node by node.
    fn bulk_assemble(&mut self, reader: bulk::Reader, html: &Element, within: Within) -> Option<Assembly> {
        let natives = self.natives.take()?;
        let by = |sel: &Option<String>| -> Result<Vec<NodeId>, JsValue> {
            sel.as_ref().map(|sel| bulk::matching(&natives, html, sel, &self.ids)).unwrap_or(Ok(Vec::new()))
        };
        let assembly = match (by(&self.private_sel), by(&self.safe_sel)) {
            (Ok(private), Ok(safe)) => {
                let tree = reader.into_tree();
                self.next_id = tree.kinds.len() as NodeId;
                Some(Assembly::new(self, &natives, tree, private, safe, within))
            }
            _ => None,
        };
        self.natives = Some(natives);
        assembly
    }

    /// Gives up a bulk read: its ids go with the map, and the walk starts
    /// node by node.
    fn bulk_abandon(&mut self, html: Element, within: Within) -> Visit {
        self.ids = IdMap::new();
        self.next_id = 1;
        self.visit(html.into(), within, 1)
    }

    /// Completes an assembly: the tree and the holes still to walk.
    fn bulk_finish(&mut self, assembly: Assembly) -> (Node, Vec<(NodeId, Hole)>) {
        let natives = self.natives.take();
        let out = match &natives {
            Some(n) => assembly.finish(self, n),
            None => (Node::Comment { i: 1 }, Vec::new()),
        };
        self.natives = natives;
        out
    }

    fn adopted_hashes(&mut self, owner: NodeId, target: &JsValue) -> Vec<String> {
        let sheets = self.adopted(target);
        if sheets.is_empty() {
            // Watched anyway: sheets may be adopted later.
            self.sheets
                .insert(owner, SheetWatch { what: Watched::Adopted(target.clone()), counts: vec![], hashes: vec![] });
            return Vec::new();
        }
        let mut counts = Vec::new();
        let mut hashes = Vec::new();
        for s in &sheets {
            let (text, n) = self.read_sheet(s).unwrap_or_default();
            counts.push(n);
            hashes.push(self.assets.intern(CSS, text));
        }
        self.sheets
            .insert(owner, SheetWatch { what: Watched::Adopted(target.clone()), counts, hashes: hashes.clone() });
        hashes
    }

    /// One unit of walking work; the finished root when the stack empties.
    fn step(&mut self, stack: &mut Vec<Frame>, floor: NodeId) -> Option<Node> {
        let top = stack.last_mut()?;
        if !top.kids.is_empty() {
            let kid = top.kids.pop()?;
            let within = top.within;
            match self.visit(kid, within, floor) {
                Visit::Skip => {}
                Visit::Leaf(n) => {
                    if let Some(top) = stack.last_mut() {
                        top.out.push(n);
                    }
                }
                Visit::Frame(f) => stack.push(*f),
            }
            return None;
        }
        // The current stage is done: store it, then move on.
        let out = std::mem::take(&mut top.out);
        if let Node::Element { c, s, f, .. } = &mut top.node {
            match top.stage {
                0 => *c = out,
                1 => *s = Some(out),
                _ => *f = out.into_iter().next().map(Box::new),
            }
        }
        if top.stage == 0 {
            if let Some((sr, within)) = top.shadow.take() {
                top.stage = 1;
                top.kids = children(sr.as_ref());
                top.kids.reverse();
                top.within = within;
                return None;
            }
        }
        if top.stage <= 1 {
            if let Some((doc, within)) = top.frame_doc.take() {
                top.stage = 2;
                top.kids = doc.document_element().map(|d| vec![d.into()]).unwrap_or_default();
                top.within = within;
                return None;
            }
        }
        let done = stack.pop()?.node;
        match stack.last_mut() {
            Some(parent) => {
                parent.out.push(done);
                None
            }
            None => Some(done),
        }
    }

    /// Captures a subtree at once (mutations are not sliced).
    fn serialize(&mut self, node: &DomNode, within: Within, floor: NodeId) -> Option<Node> {
        match self.visit(node.clone(), within, floor) {
            Visit::Skip => None,
            Visit::Leaf(n) => Some(n),
            Visit::Frame(f) => {
                let mut stack = vec![*f];
                loop {
                    if let Some(n) = self.step(&mut stack, floor) {
                        return Some(n);
                    }
                    if stack.is_empty() {
                        return None;
                    }
                }
            }
        }
    }

    /// Whether a node, or an ancestor, is masked or private; unknown
    /// ancestry counts as protected.
    fn protected_node(&self, node: &DomNode) -> bool {
        let mut cur = Some(node.clone());
        for _ in 0..MAX_ANCESTORS {
            let Some(n) = cur else { return false };
            if let Some(id) = self.id_of(&n) {
                if self.protected.contains(&id) {
                    return true;
                }
            }
            cur = parent_or_host(&n);
        }
        true
    }

    /// Whether a captured node is protected: by what was true at capture,
    /// and by what is true now (the page may have made it private, changed
    /// the field or made the region editable since).
    fn protected_now(&self, node: &DomNode) -> bool {
        self.protected_node(node)
            || !matches!(self.private_block(node), Ok(None))
            || self.live_field_protected(node)
            || State::in_editable(node)
    }

    /// Whether a live node is in an editable region now: inside a
    /// `contenteditable` host, in a document in design mode, or in an
    /// element whose style makes it editable (which design mode's does
    /// too). Asked of changes, so a region that became editable after the
    /// snapshot is masked from then on. Unknown counts as editable.
    fn in_editable(node: &DomNode) -> bool {
        let el = if node.node_type() == ELEMENT {
            Some(node.clone().unchecked_into::<Element>())
        } else {
            node.parent_element()
        };
        el.is_some_and(|e| !matches!(e.closest(EDITING_HOSTS), Ok(None)) || editable_by_mode_or_style(&e))
    }

    // ---- mutations ----------------------------------------------------------

    fn process(&mut self, records: Vec<MutationRecord>) -> Vec<VisitorFrame> {
        let floor = self.next_id;
        let mut batch = Batch::default();
        let mut added: Vec<DomNode> = Vec::new();
        let mut attrs: Vec<(Element, String)> = Vec::new();
        let mut texts: Vec<DomNode> = Vec::new();
        let mut restyle: Vec<NodeId> = Vec::new();
        for r in records {
            let Some(target) = r.target() else { continue };
            match r.type_().as_str() {
                "childList" => {
                    let removed = r.removed_nodes();
                    for i in 0..removed.length() {
                        if let Some(n) = removed.item(i) {
                            if let Some(id) = self.id_of(&n) {
                                batch.remove(id);
                                self.unmap(&n);
                            }
                        }
                    }
                    let adds = r.added_nodes();
                    for i in 0..adds.length() {
                        if let Some(n) = adds.item(i) {
                            added.push(n);
                        }
                    }
                    if let Some(id) = self.id_of(&target) {
                        if self.sheets.contains_key(&id) {
                            restyle.push(id);
                        }
                    }
                }
                "characterData" => {
                    if let Some(parent) = target.parent_node() {
                        if let Some(id) = self.id_of(&parent) {
                            if self.sheets.contains_key(&id) {
                                restyle.push(id);
                            }
                        }
                    }
                    texts.push(target);
                }
                "attributes" => {
                    let el = (target.node_type() == ELEMENT).then(|| target.unchecked_ref::<Element>());
                    if let (Some(name), Some(el)) = (r.attribute_name(), el) {
                        self.note_old_secret(el, &name, r.old_value());
                        attrs.push((el.clone(), name));
                    }
                }
                _ => {}
            }
        }

        // Elements whose masking may have changed are captured again.
        let mut seen_reclass: Vec<Element> = Vec::new();
        for (el, name) in &attrs {
            let Some(id) = self.id_of(el.as_ref()) else { continue };
            let was_private = self.placeholders.contains(&id);
            let now_private = || self.private_sel.as_ref().is_some_and(|s| el.matches(s).unwrap_or(true));
            let redo = mask::reclassifies(name) || (self.private_sel.is_some() && !was_private && now_private());
            if redo && !seen_reclass.iter().any(|e| e == el) {
                batch.remove(id);
                self.unmap(el.as_ref());
                seen_reclass.push(el.clone());
                added.push(el.clone().into());
            }
        }

        // A policy selector may match through an ancestor or a sibling that
        // changed: what now matches is captured again (as a placeholder)
        // before any change inside it is sent.
        if self.private_sel.is_some() {
            let mut blocks: Vec<Element> = Vec::new();
            let mut lost: Vec<DomNode> = Vec::new();
            let changed =
                attrs.iter().map(|(el, _)| el.clone().unchecked_into::<DomNode>()).chain(texts.iter().cloned());
            for n in changed {
                if self.id_of(&n).is_none() {
                    continue;
                }
                match self.private_block(&n) {
                    Ok(None) => {}
                    Ok(Some(block)) => blocks.push(block),
                    Err(()) => lost.push(n),
                }
            }
            // Once per changed element, and only one with children.
            let looked = js_sys::Set::new(&JsValue::UNDEFINED);
            for (el, _) in &attrs {
                if looked.has(el) || el.child_element_count() == 0 {
                    continue;
                }
                looked.add(el);
                if let Ok(list) = el.query_selector_all(&self.private_all) {
                    blocks
                        .extend((0..list.length()).filter_map(|i| list.item(i)).map(JsCast::unchecked_into::<Element>));
                }
            }
            for block in blocks {
                let Some(id) = self.id_of(block.as_ref()) else { continue };
                if self.placeholders.contains(&id) || seen_reclass.contains(&block) {
                    continue;
                }
                batch.remove(id);
                self.unmap(block.as_ref());
                added.push(block.clone().into());
                seen_reclass.push(block);
            }
            for n in lost {
                if let Some(id) = self.id_of(&n) {
                    batch.remove(id);
                    self.unmap(&n);
                }
            }
        }

        // Roots of what was added: connected, and not inside another added node.
        let set = js_sys::Set::new(&JsValue::UNDEFINED);
        let mut roots = Vec::new();
        for n in added {
            if !n.is_connected() || set.has(&n) {
                continue;
            }
            if let Some(old) = self.id_of(&n) {
                // Moved in from a place no removal was recorded for.
                batch.remove(old);
                self.unmap(&n);
            }
            set.add(&n);
            roots.push(n);
        }
        let mut groups: Vec<(NodeId, bool, Within, Vec<DomNode>)> = Vec::new();
        for n in roots {
            let Some(parent) = n.parent_node() else { continue };
            if set.has(&parent) {
                continue;
            }
            let (pid, shadow, parent_el) = if parent.node_type() == FRAGMENT {
                let Some(host) = shadow_host(&parent) else { continue };
                (self.id_of(host.as_ref()), true, host)
            } else if parent.node_type() == ELEMENT {
                (self.id_of(&parent), false, parent.clone().unchecked_into::<Element>())
            } else {
                continue;
            };
            let Some(pid) = pid else { continue };
            if self.placeholders.contains(&pid)
                || (self.sheets.contains_key(&pid) || self.sealed.contains(&pid)) && !shadow
            {
                continue;
            }
            if !shadow && mask::skips_children(&parent_el.local_name()) {
                continue;
            }
            match groups.iter_mut().find(|g| g.0 == pid && g.1 == shadow) {
                Some(g) => g.3.push(n),
                None => {
                    // A shadow tree inherits its host's editing style.
                    let editable = Self::in_editable(if shadow { parent_el.as_ref() } else { &parent });
                    groups.push((pid, shadow, Within { editable, styled: self.edit_styles }, vec![n]));
                }
            }
        }
        for (pid, shadow, within, mut nodes) in groups {
            if nodes.len() > 1 {
                // Last in document order first, so each `before` exists.
                nodes.sort_by(|a, b| {
                    if a.compare_document_position(b) & FOLLOWING != 0 {
                        std::cmp::Ordering::Greater
                    } else {
                        std::cmp::Ordering::Less
                    }
                });
            }
            for n in nodes {
                if self.id_of(&n).is_some() {
                    continue;
                }
                let Some(node) = self.serialize(&n, within, floor) else { continue };
                let mut before = None;
                let mut sib = n.next_sibling();
                while let Some(s) = sib {
                    if let Some(id) = self.id_of(&s) {
                        before = Some(id);
                        break;
                    }
                    sib = s.next_sibling();
                }
                batch.add(AddedNode { parent: pid, before, shadow, node });
            }
        }
        for id in std::mem::take(&mut self.stale) {
            batch.remove(id);
        }

        for (el, name) in attrs {
            let Some(id) = self.id_of(el.as_ref()) else { continue };
            if id >= floor {
                continue;
            }
            let value = el.get_attribute(&name);
            // A private element, or one inside an editable region (whose
            // content is input), keeps only what layout needs.
            let placeholder =
                self.placeholders.contains(&id) || el.parent_element().is_some_and(|p| Self::in_editable(p.as_ref()));
            let tag = el.local_name();
            let class = if placeholder {
                None
            } else if tag == "option" || tag == "optgroup" {
                self.option_class(Some(&el))
            } else {
                let safe = self.is_safe(&el);
                self.live_field_class(&el, &tag, &Self::attrs_of(&el), safe)
            };
            if class.is_some() && matches!(name.to_ascii_lowercase().as_str(), "value" | "checked" | "selected") {
                // Default values change nothing the operator sees beyond
                // what input events send; never risk a secret's.
                if class != Some(FieldClass::Safe) {
                    continue;
                }
            }
            match value {
                None => {
                    if placeholder && mask::attr_out(&name, String::new(), None, true).is_none() {
                        continue;
                    }
                    batch.attr(id, name, None);
                }
                Some(v) if mask::embeds_markup(&tag, &name, &v) => batch.attr(id, name, None),
                Some(v) => {
                    if let Some(out) = mask::attr_out(&name, v, class, placeholder) {
                        let out = self.as_asset(out);
                        batch.attr(id, name, Some(out));
                    }
                }
            }
        }

        for t in texts {
            let Some(id) = self.id_of(&t) else { continue };
            if id >= floor {
                continue;
            }
            let v = t.node_value().unwrap_or_default();
            // The region may have become editable since the text was captured.
            let v = if self.protected.contains(&id) || Self::in_editable(&t) {
                self.protected.insert(id);
                mask::mask(&v)
            } else {
                v
            };
            batch.text(id, v);
        }
        // Design mode sets no attribute: a document switched into it is
        // captured again, all of it masked.
        if self.design_off.iter().any(in_design_mode) {
            self.keyframe_due = true;
        }

        self.poll_sheets(&mut batch, Some(&restyle));
        self.frames_of(batch)
    }

    /// Captures again, in their place in the snapshot's tree, the elements
    /// whose masking may have changed while the snapshot was taken (as the
    /// held records tell): privacy was decided when an element was opened,
    /// its text perhaps read before, so the tree may hold what is private
    /// by now. The records stay held and are applied after the snapshot.
    fn recapture_changed(&mut self, tree: &mut Node) {
        if let Some(o) = &self.observer {
            let records = o.take_records();
            if records.length() > 0 {
                self.unmoved = false;
                self.held.extend(records.iter().map(|r| r.unchecked_into::<MutationRecord>()));
            }
        }
        let held = std::mem::take(&mut self.held);
        let mut targets: Vec<Element> = Vec::new();
        let looked = js_sys::Set::new(&JsValue::UNDEFINED);
        for r in &held {
            let (Some(t), Some(name)) = (r.target(), r.attribute_name()) else { continue };
            if t.node_type() != ELEMENT {
                continue;
            }
            let el: Element = t.unchecked_into();
            self.note_old_secret(&el, &name, r.old_value());
            if mask::reclassifies(&name) {
                targets.push(el.clone());
            }
            if self.private_sel.is_some() {
                // Through an ancestor, or on a descendant.
                match self.private_block(el.as_ref()) {
                    Ok(Some(block)) => targets.push(block),
                    Ok(None) => {}
                    Err(()) => targets.push(el.clone()),
                }
                if el.child_element_count() > 0 && !looked.has(&el) {
                    looked.add(&el);
                    if let Ok(list) = el.query_selector_all(&self.private_all) {
                        targets.extend(
                            (0..list.length()).filter_map(|i| list.item(i)).map(JsCast::unchecked_into::<Element>),
                        );
                    }
                }
            }
        }
        self.held = held;
        let mut done: Vec<Element> = Vec::new();
        for el in targets {
            if done.contains(&el) {
                continue;
            }
            let Some(id) = self.id_of(el.as_ref()) else { continue };
            let within = Within { editable: Self::in_editable(el.as_ref()), styled: self.edit_styles };
            self.unmap(el.as_ref());
            let floor = self.next_id;
            let fresh = self.serialize(el.as_ref(), within, floor);
            if !replace_node(tree, id, fresh) {
                // Not in the tree (left out after all): no ids for it.
                self.unmap(el.as_ref());
            }
            done.push(el);
        }
    }

    /// Remembers a field that was secret before this attribute change
    /// (`type="password"` turned into `text`, say) even if it was never
    /// captured as such.
    fn note_old_secret(&mut self, el: &Element, name: &str, old: Option<String>) {
        if !mask::reclassifies(name) {
            return;
        }
        let tag = el.local_name();
        let mut raw = Self::attrs_of(el);
        raw.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        if let Some(old) = old {
            raw.push((name.to_owned(), old));
        }
        if mask::class_of(&tag, &raw, false) == Some(FieldClass::Secret) {
            self.secrets.add(el.unchecked_ref());
            self.any_secret = true;
        }
    }

    fn frames_of(&mut self, batch: Batch) -> Vec<VisitorFrame> {
        let mut frames = Vec::new();
        let assets = self.assets.take_fresh();
        if !assets.is_empty() {
            frames.push(VisitorFrame::Assets { assets });
        }
        if let Some(m) = batch.finish() {
            frames.push(VisitorFrame::Mutations(m));
        }
        frames
    }

    /// Re-reads sheets whose rule counts changed (and those in `force`).
    fn poll_sheets(&mut self, batch: &mut Batch, force: Option<&[NodeId]>) {
        let mut changed = Vec::new();
        for (id, w) in &self.sheets {
            let forced = force.is_some_and(|f| f.contains(id));
            let sheets: Vec<CssStyleSheet> = match &w.what {
                Watched::Owner(el) => owner_sheet(el).into_iter().collect(),
                Watched::Adopted(target) => self.adopted(target),
            };
            let counts: Vec<u32> = sheets.iter().map(|s| s.css_rules().map(|r| r.length()).unwrap_or(0)).collect();
            if forced || counts != w.counts {
                changed.push((*id, sheets, counts));
            }
        }
        for (id, sheets, counts) in changed {
            let mut hashes = Vec::with_capacity(sheets.len());
            for sheet in &sheets {
                if let Some((text, _)) = self.note_sheet(sheet_text(sheet)) {
                    hashes.push(self.assets.intern(CSS, text));
                }
            }
            if let Some(w) = self.sheets.get_mut(&id) {
                w.counts = counts;
                if w.hashes != hashes {
                    w.hashes = hashes.clone();
                    batch.style(id, hashes);
                }
            }
        }
    }

    // ---- events -------------------------------------------------------------

    fn on_input(&mut self, ev: &Event) -> Vec<VisitorFrame> {
        let Some(el) = node_of_type::<Element>(&ev.composed_path().get(0), ELEMENT) else { return Vec::new() };
        let Some(id) = self.id_of(el.as_ref()) else { return Vec::new() };
        // Private now, even if the recorder has not heard of it yet (or a
        // snapshot has not dropped its ids yet).
        if !matches!(self.private_block(el.as_ref()), Ok(None)) {
            return Vec::new();
        }
        let tag = el.local_name();
        let raw = Self::attrs_of(&el);
        let safe = self.is_safe(&el);
        let Some(class) = self.live_field_class(&el, &tag, &raw, safe) else { return Vec::new() };
        let input_type = raw.iter().find(|(k, _)| k.eq_ignore_ascii_case("type")).map(|(_, v)| v.as_str());
        let change = match class {
            FieldClass::Secret => return Vec::new(),
            _ if tag == "input" && mask::is_checkable(input_type) => {
                if class != FieldClass::Safe {
                    return Vec::new();
                }
                InputChange { id, value: None, checked: Some(el.unchecked_ref::<HtmlInputElement>().checked()) }
            }
            _ => {
                let value = match tag.as_str() {
                    "input" => el.unchecked_ref::<HtmlInputElement>().value(),
                    "textarea" => el.unchecked_ref::<HtmlTextAreaElement>().value(),
                    _ => el.unchecked_ref::<HtmlSelectElement>().value(),
                };
                InputChange { id, value: mask::field_value(class, &value), checked: None }
            }
        };
        if self.last_input.as_ref() == Some(&change) {
            return Vec::new();
        }
        self.last_input = Some(change.clone());
        vec![VisitorFrame::Input(change)]
    }

    fn on_scroll(&mut self, ev: &Event) {
        let target = ev.composed_path().get(0);
        let entry = if let Some(doc) = node_of_type::<Document>(&target, DOCUMENT) {
            if doc == self.document {
                let x = self.window.scroll_x().unwrap_or(0.0).round() as i32;
                let y = self.window.scroll_y().unwrap_or(0.0).round() as i32;
                Some((WINDOW, x, y))
            } else {
                // An iframe's window: sent as its root element's scroll.
                let root = doc.document_element();
                let win = doc.default_view();
                match (root.and_then(|r| self.id_of(r.as_ref())), win) {
                    (Some(id), Some(w)) => Some((
                        id,
                        w.scroll_x().unwrap_or(0.0).round() as i32,
                        w.scroll_y().unwrap_or(0.0).round() as i32,
                    )),
                    _ => None,
                }
            }
        } else if let Some(el) = node_of_type::<Element>(&target, ELEMENT) {
            self.id_of(el.as_ref()).map(|id| (id, el.scroll_left(), el.scroll_top()))
        } else {
            None
        };
        if let Some((id, x, y)) = entry {
            self.pending_scroll.retain(|s| s.0 != id);
            self.pending_scroll.push((id, x, y));
        }
    }

    fn on_load(&mut self, ev: &Event) -> Vec<VisitorFrame> {
        // A same-origin iframe got a new document: capture the frame again.
        let Some(el) = node_of_type::<Element>(&ev.composed_path().get(0), ELEMENT) else { return Vec::new() };
        let tag = el.local_name();
        if tag != "iframe" && tag != "frame" {
            return Vec::new();
        }
        let Some(id) = self.id_of(el.as_ref()) else { return Vec::new() };
        if self.snapshotting || self.placeholders.contains(&id) {
            return Vec::new();
        }
        let mut batch = Batch::default();
        let floor = self.next_id;
        let Some(parent) = el.parent_node() else { return Vec::new() };
        let (pid, shadow) = if parent.node_type() == FRAGMENT {
            (shadow_host(&parent).and_then(|h| self.id_of(h.as_ref())), true)
        } else {
            (self.id_of(&parent), false)
        };
        let Some(pid) = pid else { return Vec::new() };
        batch.remove(id);
        self.unmap(el.as_ref());
        let within = Within { editable: Self::in_editable(&parent), styled: self.edit_styles };
        if let Some(node) = self.serialize(el.as_ref(), within, floor) {
            let mut before = None;
            let mut sib = el.next_sibling();
            while let Some(s) = sib {
                if let Some(id) = self.id_of(&s) {
                    before = Some(id);
                    break;
                }
                sib = s.next_sibling();
            }
            batch.add(AddedNode { parent: pid, before, shadow, node });
        }
        for id in std::mem::take(&mut self.stale) {
            batch.remove(id);
        }
        self.frames_of(batch)
    }

    fn schedule_tick(&mut self, _shared: &Rc<Shared>) {
        if self.tick_pending {
            return;
        }
        if let Some(tick) = &self.tick {
            let ok = self
                .window
                .set_timeout_with_callback_and_timeout_and_arguments_0(
                    tick.as_ref().unchecked_ref(),
                    POINTER_COALESCE_MS as i32,
                )
                .is_ok();
            self.tick_pending = ok;
        }
    }

    fn flush_tick(&mut self) -> Vec<VisitorFrame> {
        self.tick_pending = false;
        let mut frames = Vec::new();
        if let Some((w, h)) = self.pending_viewport.take() {
            frames.push(VisitorFrame::Viewport { w, h });
        }
        for (id, x, y) in std::mem::take(&mut self.pending_scroll) {
            frames.push(VisitorFrame::Scroll { id, x, y });
        }
        if let Some((x, y)) = self.pending_pointer.take() {
            let on = self.pending_hover.take().and_then(|el| self.nearest_captured(el.into()));
            frames.push(VisitorFrame::Pointer { x, y, on });
        }
        if std::mem::take(&mut self.pending_selection) {
            let ranges = self.selection();
            if self.last_selection.as_ref() != Some(&ranges) {
                self.last_selection = Some(ranges.clone());
                frames.push(VisitorFrame::Selection { ranges });
            }
        }
        // While a snapshot is taken the toggled elements may have no ids
        // yet: its end looks at the whole top layer.
        if !self.snapshotting && !self.toggled.is_empty() {
            frames.extend(self.top_layer_changes());
        }
        if !self.snapshotting && std::mem::take(&mut self.pending_focus) {
            frames.extend(self.focus_changes());
        }
        frames
    }

    /// Where the focus is, when it moved since last sent: the innermost
    /// focused element, through shadow roots (open or closed) and
    /// same-origin frames, or its nearest captured ancestor.
    fn focus_changes(&mut self) -> Option<VisitorFrame> {
        self.pending_focus = false;
        let mut el = self.document.active_element();
        while let Some(outer) = el.clone() {
            let inner = match self.shadow_of(&outer) {
                Some(root) => root.active_element(),
                None if matches!(outer.local_name().as_str(), "iframe" | "frame") => outer
                    .unchecked_ref::<HtmlIFrameElement>()
                    .content_document()
                    .and_then(|d| d.active_element())
                    .filter(|e| !matches!(e.local_name().as_str(), "body" | "html")),
                None => None,
            };
            match inner {
                Some(inner) if inner != outer => el = Some(inner),
                _ => break,
            }
        }
        // The body (or no element) has the focus when nothing does.
        let on = el
            .filter(|e| !matches!(e.local_name().as_str(), "body" | "html"))
            .and_then(|e| self.nearest_captured(e.into()));
        if on == self.last_focus {
            return None;
        }
        self.last_focus = on;
        Some(VisitorFrame::Focus { on })
    }

    /// `node`'s id, or its nearest captured ancestor's (through shadow
    /// hosts): what the pointer is over may be inside a private block.
    fn nearest_captured(&self, node: DomNode) -> Option<NodeId> {
        let mut cur = Some(node);
        while let Some(node) = cur {
            if let Some(id) = self.id_of(&node) {
                return Some(id);
            }
            cur = parent_or_host(&node);
        }
        None
    }

    /// The pictures of captured canvases that changed since they were last
    /// sent, encoded until `budget_ms` is spent (canvases take turns, so
    /// each is looked at within a few polls). Never a protected one (as a
    /// command on it would be refused): in a private block, a protected
    /// subtree or an editable region, whose images are not sent either.
    fn canvas_changes(&mut self, budget_ms: f64) -> Vec<VisitorFrame> {
        let began = now();
        let mut found = self.captured_matching("canvas");
        found.retain(|(id, _)| !self.unreadable.contains(id));
        let mut frames = Vec::new();
        let first = self.canvas_cursor;
        for k in 0..found.len() {
            if k > 0 && now() - began >= budget_ms {
                break;
            }
            self.canvas_cursor = first + k + 1;
            let (id, node) = &found[(first + k) % found.len()];
            if self.canvases.get(id).is_some_and(|&(_, next)| next > began)
                || self.placeholders.contains(id)
                || self.protected_now(node)
            {
                continue;
            }
            let encoding = now();
            let src = match canvas_picture(node.unchecked_ref()) {
                Ok(Some(src)) => src,
                Ok(None) => continue,
                Err(()) => {
                    self.unreadable.insert(*id);
                    continue;
                }
            };
            let hash = {
                use std::hash::{DefaultHasher, Hash};
                let mut h = DefaultHasher::new();
                src.hash(&mut h);
                h.finish()
            };
            // At most about 1% of the page's main thread per canvas.
            let encoded = now();
            let next = encoded + (encoded - encoding) * CANVAS_SPACING;
            if self.canvases.insert(*id, (hash, next)).map(|(h, _)| h) != Some(hash) {
                frames.push(VisitorFrame::Canvas { id: *id, src });
            }
        }
        frames
    }

    /// The captured elements matching `selector` in every watched document
    /// and shadow root, in their order.
    fn captured_matching(&self, selector: &str) -> Vec<(NodeId, DomNode)> {
        let mut found = Vec::new();
        for root in &self.listened_roots {
            // Documents and shadow roots alike have `querySelectorAll`.
            let root: &web_sys::DocumentFragment = root.unchecked_ref();
            let Ok(list) = root.query_selector_all(selector) else { continue };
            for i in 0..list.length() {
                let Some(n) = list.item(i) else { continue };
                if let Some(id) = self.id_of(&n) {
                    found.push((id, n));
                }
            }
        }
        found
    }

    /// The top layer after a snapshot, in document order (the order it was
    /// built in is not to be read); a frame when anything is on it.
    fn top_layer_now(&mut self) -> Option<VisitorFrame> {
        self.toggled.clear();
        let shown: Vec<(NodeId, OnTop)> = self
            .captured_matching(":popover-open, dialog:modal")
            .into_iter()
            .filter_map(|(id, el)| Some((id, on_top_of(el.unchecked_ref())?)))
            .collect();
        self.on_top = shown.clone();
        (!shown.is_empty()).then_some(VisitorFrame::TopLayer { shown })
    }

    /// The top layer after `toggle` events: what was on it and still is,
    /// then each toggled element now shown, last shown on top; a frame when
    /// it changed.
    fn top_layer_changes(&mut self) -> Option<VisitorFrame> {
        let mut shown: Vec<(NodeId, OnTop)> = self
            .on_top
            .iter()
            .copied()
            .filter(|&(id, how)| {
                self.node_at(id).is_some_and(|n| n.node_type() == ELEMENT && on_top_of(n.unchecked_ref()) == Some(how))
            })
            .collect();
        for el in std::mem::take(&mut self.toggled) {
            let Some(id) = self.id_of(&el) else { continue };
            let how = on_top_of(&el);
            if how.is_some() && shown.last().is_some_and(|&(last, _)| last == id) {
                continue;
            }
            shown.retain(|&(i, _)| i != id);
            shown.extend(how.map(|how| (id, how)));
        }
        if shown == self.on_top {
            return None;
        }
        self.on_top = shown.clone();
        Some(VisitorFrame::TopLayer { shown })
    }

    /// The selection's ranges; none when any end is uncaptured or protected.
    fn selection(&self) -> Vec<SelectionRange> {
        let Ok(Some(sel)) = self.document.get_selection() else { return Vec::new() };
        let mut out = Vec::new();
        for i in 0..sel.range_count() {
            let Ok(r) = sel.get_range_at(i) else { return Vec::new() };
            if r.collapsed() {
                continue;
            }
            let (Ok(sc), Ok(ec)) = (r.start_container(), r.end_container()) else { return Vec::new() };
            let (Some(start), Some(end)) = (self.id_of(&sc), self.id_of(&ec)) else { return Vec::new() };
            if self.protected_node(&sc) || self.protected_node(&ec) {
                return Vec::new();
            }
            out.push(SelectionRange {
                start,
                start_offset: r.start_offset().unwrap_or(0),
                end,
                end_offset: r.end_offset().unwrap_or(0),
            });
        }
        out
    }
}

/// A canvas's picture as a `data:` URL: a PNG, or a WebP when the PNG is
/// long (photos, gradients). `Ok(None)`: nothing to send (empty, too
/// large); `Err`: the browser will not let it be read (drawn from another
/// site), now or later.
fn canvas_picture(canvas: &web_sys::HtmlCanvasElement) -> Result<Option<String>, ()> {
    let pixels = u64::from(canvas.width()) * u64::from(canvas.height());
    if pixels == 0 || pixels > MAX_CANVAS_PIXELS {
        return Ok(None);
    }
    let png = canvas.to_data_url_with_type("image/png").map_err(|_| ())?;
    let src = if png.len() < CANVAS_PNG_MAX {
        png
    } else {
        let quality = JsValue::from_f64(0.85);
        canvas.to_data_url_with_type_and_encoder_options("image/webp", &quality).map_err(|_| ())?
    };
    Ok((src.len() <= MAX_MIRROR_URL).then_some(src))
}

/// How an element is in the page's top layer now, if it is.
fn on_top_of(el: &Element) -> Option<OnTop> {
    if el.local_name() == "dialog" && el.matches(":modal").unwrap_or(false) {
        Some(OnTop::Modal)
    } else if el.matches(":popover-open").unwrap_or(false) {
        Some(OnTop::Popover)
    } else {
        None
    }
}

/// Where a field's live state comes from: the element, or (for a text
/// field) the value a bulk read already took off it.
enum Value<'a> {
    Live(&'a Element),
    Read(String),
}

/// The live text of an `<input>` or `<textarea>`.
fn text_value(el: &Element, tag: &str) -> Option<String> {
    match tag {
        "input" => Some(el.unchecked_ref::<HtmlInputElement>().value()),
        "textarea" => Some(el.unchecked_ref::<HtmlTextAreaElement>().value()),
        _ => None,
    }
}

/// Replaces a form control's `value`/`checked` attributes with its live
/// state, as the class allows.
/// `page_value`: a checkable input's `value` attribute, read with the rest.
fn live_value(
    source: Value,
    tag: &str,
    class: FieldClass,
    input_type: Option<&str>,
    page_value: Option<String>,
    a: &mut Vec<(String, String)>,
) {
    let had_value = a.iter().any(|(k, _)| k.eq_ignore_ascii_case("value"));
    a.retain(|(k, _)| {
        let k = k.to_ascii_lowercase();
        k != "value" && k != "checked"
    });
    if class == FieldClass::Secret {
        return;
    }
    let el = match source {
        Value::Live(el) => el,
        // Only text fields' values are read ahead.
        Value::Read(value) if mask::holds_text(tag, input_type) => {
            return push_value(class, &value, had_value, a);
        }
        Value::Read(_) => return,
    };
    let value = match tag {
        "input" if mask::is_checkable(input_type) => {
            if class == FieldClass::Safe && el.unchecked_ref::<HtmlInputElement>().checked() {
                a.push(("checked".into(), String::new()));
            }
            if let Some(v) = page_value {
                // A checkbox's value is the page's, not the user's.
                a.push(("value".into(), v));
            }
            return;
        }
        "input" => el.unchecked_ref::<HtmlInputElement>().value(),
        "textarea" => el.unchecked_ref::<HtmlTextAreaElement>().value(),
        "select" => {
            if class == FieldClass::Safe {
                a.push(("value".into(), el.unchecked_ref::<HtmlSelectElement>().value()));
            }
            return;
        }
        _ => return,
    };
    push_value(class, &value, had_value, a);
}

/// The value attribute as sent (masked unless safe; nothing for secrets).
fn push_value(class: FieldClass, value: &str, had_value: bool, a: &mut Vec<(String, String)>) {
    if let Some(v) = mask::field_value(class, value) {
        if !v.is_empty() || had_value {
            a.push(("value".into(), v));
        }
    }
}
