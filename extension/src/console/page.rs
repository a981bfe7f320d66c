//! The console page: join, the live mirror, the operator's tools, pushes,
//! and replay. Browser glue only; decisions live in the plain-Rust modules.
//!
//! Test hooks: `#console-state[data-state]` (idle, joining,
//! awaiting-consent, active, ended, replay; `data-resume`: `resumed` or
//! `none` once the page has looked for a session to take up again), `#mirror` (the sandboxed
//! frame), `#mirror-status[data-state]` (waiting, live, resyncing),
//! `#last-seq` (text: last frame number; `data-requests`: keyframe requests
//! sent),
//! `#visitor-pointer[data-x][data-y]`, `#grants[data-scopes]`,
//! `#app-state[data-state]`, `#join-error[data-code]`, `#command-result[data-ok]`.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use web_sys::{Document, Element, Event, HtmlIFrameElement, MouseEvent};

use baton_shared::cobrowse::{
    App, AuditEvent, Command, Frame, NodeId, OperatorFrame, PushKind, Scope, VisitorFrame, WINDOW,
};
use baton_shared::native::{CobrowseEvent, HostMessage, RequestBody};

use crate::panel::client::{self, Client, PageEvent};

use super::frame_dom::FrameDom;
use super::mirror::{ApplyError, Mirror};
use super::model::{self, AppAction, Apps, Coalescer, Phase};
use super::sequence::{is_page_record, Sequencer};
use super::timeline::Timeline;
use super::ui;

const SVG_NS: &str = "http://www.w3.org/2000/svg";
const INK_COLOR: &str = "#e5534b";
const MAX_STROKE_POINTS: usize = 400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Pointer,
    Highlight,
    Draw,
}

struct State {
    phase: Phase,
    session_id: Option<String>,
    visitor: String,
    mirror: Mirror<FrameDom>,
    frame_ready: bool,
    queued: Vec<(u64, VisitorFrame)>,
    /// Events for a session id not known yet (while joining).
    early: Vec<(String, CobrowseEvent)>,
    seq: Sequencer,
    grants: Vec<Scope>,
    apps: Apps,
    pointer: Coalescer,
    pointer_timer: bool,
    viewport: (u32, u32),
    scale: f64,
    mode: Mode,
    stroke: Option<(Vec<(i32, i32)>, Element)>,
    selected: Option<NodeId>,
    /// The node the operator highlighted: the visitor's page keeps the
    /// outline on it while it moves (scroll, layout), so the console does too.
    highlighted: Option<NodeId>,
    next_cmd: u64,
    /// The generation of the snapshot the mirror shows: commands name it,
    /// so the page refuses ids from a snapshot it has since replaced.
    generation: u64,
    /// Commands in flight, for their results' wording and for reporting
    /// one that gets no answer.
    pending: model::PendingCommands,
    /// Wheel target not sent yet.
    wheel: Option<(i32, i32)>,
    wheel_timer: bool,
    replay: Option<Timeline>,
    playing: bool,
    /// Sessions other console pages showed when this one opened.
    shown_elsewhere: Vec<String>,
    /// Origins this device's settings let operators open app modules from
    /// (the visitor's side checks its own).
    app_origins: Vec<String>,
}

struct Console {
    doc: Document,
    client: Client,
    st: RefCell<State>,
}

pub fn start() {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return };
    let Some(frame) = ui::by_id(&doc, "mirror").and_then(|e| e.dyn_into::<HtmlIFrameElement>().ok()) else {
        return;
    };
    let slot: Rc<RefCell<Option<Rc<Console>>>> = Rc::new(RefCell::new(None));
    let events = slot.clone();
    let client = client::connect(move |event| {
        let console = events.borrow().clone();
        if let Some(c) = console {
            c.on_page_event(event);
        }
    });
    let ready = frame
        .content_document()
        .is_some_and(|d| d.ready_state() == "complete" && d.url().is_ok_and(|u| u == "about:srcdoc"));
    let console = Rc::new(Console {
        doc: doc.clone(),
        client,
        st: RefCell::new(State {
            phase: Phase::Idle,
            session_id: None,
            visitor: String::new(),
            mirror: Mirror::new(FrameDom::new(frame.clone())),
            frame_ready: ready,
            queued: Vec::new(),
            early: Vec::new(),
            seq: Sequencer::default(),
            grants: Vec::new(),
            apps: Apps::default(),
            pointer: Coalescer::default(),
            pointer_timer: false,
            viewport: (1280, 720),
            scale: 1.0,
            mode: Mode::Pointer,
            stroke: None,
            selected: None,
            highlighted: None,
            generation: 0,
            next_cmd: 1,
            pending: model::PendingCommands::default(),
            wheel: None,
            wheel_timer: false,
            replay: None,
            playing: false,
            shown_elsewhere: Vec::new(),
            app_origins: Vec::new(),
        }),
    });
    *slot.borrow_mut() = Some(console.clone());
    if !ready {
        let c = console.clone();
        ui::on(&frame, "load", move |_| c.frame_loaded());
    }
    console.wire();
    console.set_phase(Phase::Idle);
    console.resume();
    console.layout();
    let c = console.clone();
    crate::settings::watch(move |e| c.app_origins(&e.settings.app_origins));
    let c = console.clone();
    ui::every(1000, move || c.tick());
}

impl Console {
    // ---- plumbing -----------------------------------------------------------

    fn app_origins(&self, origins: &[String]) {
        let shown =
            if origins.is_empty() { "none (set them in Baton's options)".to_owned() } else { origins.join(", ") };
        ui::set_text(&self.doc, "module-origins", &shown);
        self.st.borrow_mut().app_origins = origins.to_vec();
    }

    fn frame_loaded(self: &Rc<Self>) {
        let queued = {
            let mut st = self.st.borrow_mut();
            if st.frame_ready {
                return;
            }
            st.frame_ready = true;
            std::mem::take(&mut st.queued)
        };
        for (seq, frame) in queued {
            self.on_frame(seq, frame);
        }
    }

    fn session_id(&self) -> Option<String> {
        self.st.borrow().session_id.clone()
    }

    /// Sends a frame to the visitor.
    fn send(self: &Rc<Self>, frame: OperatorFrame) {
        let Some(session_id) = self.session_id() else { return };
        if self.st.borrow().phase != Phase::Active {
            return;
        }
        let me = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let request = RequestBody::CobrowseSend { session_id, frame: Frame::Operator { frame } };
            if let Err(e) = me.client.host(request).await {
                me.error(&format!("Could not reach the visitor: {e}"));
            }
        });
    }

    fn audit(self: &Rc<Self>, event: AuditEvent) {
        let Some(session_id) = self.session_id() else { return };
        let me = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(e) = me.client.host(RequestBody::CobrowseAudit { session_id, event }).await {
                me.error(&format!("Could not write the audit log: {e}"));
            }
        });
    }

    fn error(&self, text: &str) {
        ui::show_message(&self.doc, "console-error", text);
    }

    fn set_phase(&self, phase: Phase) {
        let visitor = {
            let mut st = self.st.borrow_mut();
            st.phase = phase;
            st.visitor.clone()
        };
        let doc = &self.doc;
        ui::set_state(
            doc,
            "console-state",
            phase.as_str(),
            &phase.label(if visitor.is_empty() { "the visitor" } else { &visitor }),
        );
        let in_session = matches!(phase, Phase::AwaitingConsent | Phase::Active | Phase::Ended | Phase::Replay);
        ui::set_hidden(doc, "join-view", in_session);
        ui::set_hidden(doc, "session-view", !in_session);
        ui::set_hidden(doc, "end", !matches!(phase, Phase::AwaitingConsent | Phase::Active));
        ui::set_hidden(doc, "leave-replay", phase != Phase::Replay);
        ui::set_hidden(doc, "replay-controls", phase != Phase::Replay);
        ui::set_hidden(doc, "tools", phase == Phase::Replay);
        ui::set_disabled(doc, "join", phase == Phase::Joining);
        if in_session {
            self.layout();
        }
    }

    // ---- host events ----------------------------------------------------------

    fn on_page_event(self: &Rc<Self>, event: PageEvent) {
        match event {
            PageEvent::Host(HostMessage::Cobrowse { session_id, event }) => {
                let mine = {
                    let mut st = self.st.borrow_mut();
                    match &st.session_id {
                        Some(id) => *id == session_id,
                        None => {
                            if st.phase == Phase::Joining {
                                st.early.push((session_id, event));
                            }
                            return;
                        }
                    }
                };
                if mine {
                    self.on_cobrowse(event);
                }
            }
            PageEvent::Lost => self.error("The Baton extension restarted; reopen this page"),
            PageEvent::Consoles(sessions) => self.st.borrow_mut().shown_elsewhere = sessions,
            PageEvent::View(_) | PageEvent::Host(_) => {}
        }
    }

    fn on_cobrowse(self: &Rc<Self>, event: CobrowseEvent) {
        let doc = &self.doc;
        match event {
            CobrowseEvent::State { state } => {
                let phase = Phase::from_session(state);
                if self.st.borrow().phase == Phase::Replay {
                    return;
                }
                self.set_phase(phase);
                if phase == Phase::Active && !self.st.borrow().mirror.has_snapshot() {
                    self.need_keyframe();
                }
            }
            CobrowseEvent::Frame { seq, frame: Frame::Visitor { frame } } => self.on_frame(seq, frame),
            CobrowseEvent::Frame { .. } | CobrowseEvent::OperatorJoined { .. } => {}
            CobrowseEvent::Peer { present, ends_at_ms } => {
                let text = match (present, ends_at_ms) {
                    (true, _) => String::new(),
                    (false, Some(at)) => {
                        format!(
                            "Visitor disconnected — the session ends at {} unless they come back",
                            crate::chrome::local_time(at)
                        )
                    }
                    (false, None) => "Visitor disconnected — waiting…".to_owned(),
                };
                ui::set_state(doc, "peer-state", if present { "present" } else { "away" }, &text);
                if present && self.st.borrow().phase == Phase::Active {
                    self.need_keyframe();
                }
            }
            CobrowseEvent::Resumed => self.need_keyframe(),
            CobrowseEvent::RecordingStopped { max_bytes } => {
                ui::show_message(doc, "recording-note", &model::recording_stopped_text(max_bytes));
            }
            CobrowseEvent::Ended { reason } => {
                self.client.operating(None);
                self.set_phase(Phase::Ended);
                if let Some(r) = reason {
                    self.error(&format!("The session ended: {r}"));
                }
            }
            CobrowseEvent::Error { message } => self.error(&message),
        }
    }

    fn need_keyframe(self: &Rc<Self>) {
        let send = {
            let mut st = self.st.borrow_mut();
            let send = st.seq.need_keyframe(ui::now_ms());
            self.render_seq(&st);
            send
        };
        if send {
            self.send(OperatorFrame::KeyframeRequest);
        }
    }

    fn tick(self: &Rc<Self>) {
        let (send, overdue) = {
            let mut st = self.st.borrow_mut();
            let now = ui::now_ms();
            (st.phase == Phase::Active && st.seq.tick(now), st.pending.overdue(now))
        };
        if let Some(label) = overdue.last() {
            self.refuse(&model::unanswered_text(label));
        }
        if send {
            self.send(OperatorFrame::KeyframeRequest);
            self.render_seq(&self.st.borrow());
        }
    }

    fn render_seq(&self, st: &State) {
        let doc = &self.doc;
        ui::set_text(doc, "last-seq", &st.seq.last_seq().unwrap_or(0).to_string());
        ui::set_attr(doc, "last-seq", "data-requests", &st.seq.requests.to_string());
        let (state, text) = if st.seq.awaiting_keyframe() && st.mirror.has_snapshot() {
            ("resyncing", "Catching up…")
        } else if st.mirror.has_snapshot() {
            ("live", "Live")
        } else {
            ("waiting", "Waiting for the page…")
        };
        ui::set_state(doc, "mirror-status", state, text);
    }

    fn on_frame(self: &Rc<Self>, seq: u64, frame: VisitorFrame) {
        let now = ui::now_ms();
        let mut request = false;
        {
            let mut st = self.st.borrow_mut();
            if !st.frame_ready {
                st.queued.push((seq, frame));
                return;
            }
            let decision = st.seq.on_frame(seq, &frame, now);
            request |= decision.requests();
            if decision.applies() {
                if let Err(e) = self.apply(&mut st, frame) {
                    crate::chrome::log(&format!("baton console: {e:?}; asking for a keyframe"));
                    request |= st.seq.need_keyframe(now);
                }
            }
            self.render_seq(&st);
        }
        if request {
            self.send(OperatorFrame::KeyframeRequest);
        }
    }

    /// Applies one visitor frame to the mirror and the panels.
    fn apply(&self, st: &mut State, frame: VisitorFrame) -> Result<(), ApplyError> {
        let doc = &self.doc;
        // Their ids name nodes of a snapshot.
        if is_page_record(&frame) && !st.mirror.has_snapshot() {
            return Err(ApplyError::NoSnapshot);
        }
        match frame {
            VisitorFrame::Snapshot(snap) => {
                // A keyframe of the same page keeps the visitor's outline
                // (ids are stable within a page); another page has none.
                let same_page = st.mirror.has_snapshot() && st.mirror.url() == snap.url;
                st.mirror.snapshot(&snap)?;
                st.generation = snap.generation;
                show_address(doc, &snap.url, &snap.title);
                st.selected = None;
                self.show_selected(st);
                self.clear_ink();
                if !same_page {
                    st.highlighted = None;
                }
                if st.viewport != snap.viewport {
                    st.viewport = snap.viewport;
                    self.layout_with(st);
                }
                self.place_highlight(st);
            }
            VisitorFrame::Assets { assets } => st.mirror.add_assets(assets),
            VisitorFrame::Mutations(m) => {
                st.mirror.apply(&m)?;
                self.place_highlight(st);
            }
            VisitorFrame::Input(change) => st.mirror.input(&change)?,
            VisitorFrame::Scroll { id, x, y } => {
                st.mirror.scroll(id, x, y);
                // Drawings belong to what was on screen: the visitor's page
                // drops them on any scroll (the window's or an element's);
                // the outline follows its element there, and here.
                self.clear_ink();
                self.place_highlight(st);
            }
            VisitorFrame::Pointer { x, y, on } => {
                // Ids from a snapshot the console is replacing name other nodes.
                if !st.seq.awaiting_keyframe() {
                    st.mirror.hover(on);
                }
                if let Some(p) = ui::by_id(doc, "visitor-pointer") {
                    let _ = p.set_attribute("style", &format!("transform:translate({x}px,{y}px)"));
                    let _ = p.set_attribute("data-x", &x.to_string());
                    let _ = p.set_attribute("data-y", &y.to_string());
                    let _ = p.remove_attribute("hidden");
                }
            }
            VisitorFrame::Selection { ranges } => st.mirror.select(&ranges),
            VisitorFrame::Focus { on } => st.mirror.focus(on),
            VisitorFrame::Canvas { id, src } => st.mirror.canvas(id, &src),
            VisitorFrame::TopLayer { shown } => {
                st.mirror.top_layer(&shown);
                self.place_highlight(st);
            }
            VisitorFrame::Viewport { w, h } => {
                st.viewport = (w, h);
                self.layout_with(st);
                self.place_highlight(st);
            }
            VisitorFrame::Address { url, title, base } => {
                st.mirror.moved(&url, base.as_deref());
                show_address(doc, &url, &title);
            }
            VisitorFrame::Navigated { url, title } => {
                show_address(doc, &url, &title);
                // The visitor's new page starts without Baton's marks.
                self.clear_marks(st);
            }
            VisitorFrame::Grants { scopes } => {
                st.grants = scopes;
                self.show_grants(st);
            }
            VisitorFrame::CommandResult { cmd_id, ok, error } => {
                let label = st.pending.answered(cmd_id);
                let text = model::result_text(label.as_deref(), cmd_id, ok, error.as_deref());
                self.say(Some(ok), &text);
            }
            VisitorFrame::PushAnswer { push_id, accepted, refused } => {
                if !st.apps.answered(&push_id, accepted, refused.clone()) {
                    let text = match (accepted, refused) {
                        (true, _) => "The visitor opened the page".to_owned(),
                        (false, None) => "The visitor declined the page".to_owned(),
                        (false, Some(why)) => format!("The visitor's Baton refused the page: {why}"),
                    };
                    ui::set_text(doc, "push-answer", &text);
                    ui::set_attr(doc, "push-answer", "data-accepted", if accepted { "true" } else { "false" });
                } else {
                    self.show_app(st);
                }
            }
            VisitorFrame::AppState { app_id, state } => {
                if st.apps.visitor_state(&app_id, state) {
                    self.show_app(st);
                }
            }
            VisitorFrame::Apps { apps } => {
                st.apps.in_page(apps);
                self.show_app(st);
            }
            VisitorFrame::AppEvent { app_id, seq, event } => {
                if st.apps.first_heard(&app_id, seq) {
                    show_app_event(doc, &app_id, seq, &event);
                }
            }
            VisitorFrame::TooLarge { bytes } => self.error(&model::too_large_text(bytes)),
        }
        Ok(())
    }

    // ---- layout and marks -----------------------------------------------------

    fn layout(&self) {
        let mut st = self.st.borrow_mut();
        self.layout_with(&mut st);
    }

    fn layout_with(&self, st: &mut State) {
        let doc = &self.doc;
        let (w, h) = st.viewport;
        let stage = ui::size(doc, "stage");
        let scale = if stage.0 > 0.0 && stage.1 > 0.0 { model::fit_scale(st.viewport, stage) } else { 1.0 };
        st.scale = scale;
        ui::style(doc, "stage-inner", &format!("width:{w}px;height:{h}px;transform:scale({scale})"));
        ui::style(
            doc,
            "stage-sizer",
            &format!("width:{}px;height:{}px", (w as f64 * scale).round(), (h as f64 * scale).round()),
        );
        ui::set_attr(doc, "ink", "viewBox", &format!("0 0 {w} {h}"));
        ui::set_text(doc, "visitor-viewport", &format!("{w} × {h}"));
        ui::set_attr(doc, "visitor-viewport", "data-w", &w.to_string());
        ui::set_attr(doc, "visitor-viewport", "data-h", &h.to_string());
    }

    /// Drops the drawings and the outline (the visitor's page does the same).
    fn clear_marks(&self, st: &mut State) {
        self.clear_ink();
        st.highlighted = None;
        self.place_highlight(st);
    }

    fn clear_ink(&self) {
        if let Some(ink) = ui::by_id(&self.doc, "ink") {
            ink.set_inner_html("");
        }
    }

    /// A point of the pointer event in the visitor's viewport.
    fn point(&self, e: &Event) -> Option<(i32, i32)> {
        let m = e.dyn_ref::<MouseEvent>()?;
        let overlay = ui::by_id(&self.doc, "overlay")?;
        let rect = overlay.get_bounding_client_rect();
        let scale = self.st.borrow().scale;
        Some(model::to_viewport(m.client_x() as f64 - rect.left(), m.client_y() as f64 - rect.top(), scale))
    }

    fn ripple(&self, (x, y): (i32, i32)) {
        let Some(layer) = ui::by_id(&self.doc, "ripple-layer") else { return };
        let r = ui::el(&self.doc, "div", "ripple");
        let _ = r.set_attribute("style", &format!("left:{x}px;top:{y}px"));
        let _ = layer.append_child(&r);
        ui::after(700, move || r.remove());
    }

    /// Draws the outline over the highlighted node where the mirror has it
    /// now (hidden when there is none, or it left the page).
    fn place_highlight(&self, st: &State) {
        let el = st
            .highlighted
            .and_then(|id| st.mirror.node(id))
            .and_then(super::frame_dom::as_element)
            .filter(|e| e.is_connected());
        let Some(el) = el else {
            ui::set_hidden(&self.doc, "highlight-box", true);
            return;
        };
        let (left, top, width, height) = st.mirror.dom.rect_in_mirror(el);
        ui::style(&self.doc, "highlight-box", &format!("left:{left}px;top:{top}px;width:{width}px;height:{height}px"));
        ui::set_hidden(&self.doc, "highlight-box", false);
    }

    /// What the operator's tools know about the mirror's node `id`.
    /// A text field whose value the mirror shows as a mask counts as
    /// masked (see [`model::Field::Masked`]).
    fn hit_of(st: &State, id: NodeId) -> model::Hit {
        let element = st.mirror.node(id).and_then(super::frame_dom::as_element);
        let field = element
            .map(|e| match model::field_kind(&e.local_name(), e.get_attribute("type").as_deref()) {
                model::Field::Text if Self::value_of(e).is_some_and(|v| model::shows_masked(&v)) => {
                    model::Field::Masked
                }
                kind => kind,
            })
            .unwrap_or(model::Field::Other);
        let actionable = field != model::Field::Masked && st.mirror.is_actionable(id);
        model::Hit { actionable, field }
    }

    /// A mirror field's current value (its `value` property; the element
    /// lives in the mirror frame's realm, so no `instanceof` casts).
    fn value_of(e: &Element) -> Option<String> {
        js_sys::Reflect::get(e, &"value".into()).ok()?.as_string()
    }

    /// Shows `text` in `#command-result`: `Some(false)` marks a refusal,
    /// `Some(true)` a success, `None` a note (nothing done or refused).
    fn say(&self, ok: Option<bool>, text: &str) {
        let state = match ok {
            Some(true) => "true",
            Some(false) => "false",
            None => "",
        };
        ui::set_attr(&self.doc, "command-result", "data-ok", state);
        ui::set_text(&self.doc, "command-result", text);
    }

    fn refuse(&self, text: &str) {
        self.say(Some(false), text);
    }

    fn note(&self, text: &str) {
        self.say(None, text);
    }

    fn show_grants(&self, st: &State) {
        let doc = &self.doc;
        let attr = model::scopes_attr(&st.grants);
        ui::set_attr(doc, "grants", "data-scopes", &attr);
        let shown = if attr.is_empty() { "nothing".to_owned() } else { attr.replace(',', ", ") };
        ui::set_text(doc, "grants", &shown);
        let has = |s| st.grants.contains(&s);
        ui::set_disabled(doc, "type-send", !has(Scope::Type));
        ui::set_disabled(doc, "nav-send", !has(Scope::Navigate));
        ui::set_attr(doc, "overlay", "data-click", if has(Scope::Click) { "granted" } else { "" });
    }

    fn show_selected(&self, st: &State) {
        let doc = &self.doc;
        match st.selected {
            Some(id) => {
                let label = st
                    .mirror
                    .node(id)
                    .and_then(|n| super::frame_dom::as_element(n).map(|e| e.local_name()))
                    .unwrap_or_else(|| "node".into());
                ui::set_text(doc, "selected-node", &format!("<{label}> #{id}"));
                ui::set_attr(doc, "selected-node", "data-id", &id.to_string());
            }
            None => {
                ui::set_text(doc, "selected-node", "nothing — click an element");
                ui::set_attr(doc, "selected-node", "data-id", "");
            }
        }
    }

    fn show_app(&self, st: &State) {
        let doc = &self.doc;
        let Some(app) = st.apps.current() else {
            ui::set_state(doc, "app-state", "none", "no app");
            for id in ["app-push", "app-hold", "app-resume", "app-pull"] {
                ui::set_disabled(doc, id, true);
            }
            return;
        };
        let name = model::app_state_name(app.state);
        let kind = match &app.app {
            App::Viewer { .. } => "Viewer",
            App::Form { .. } => "Form",
            App::Module { .. } => "Module",
        };
        let mut text = format!("{kind}: {name}");
        if let Some(why) = &app.refused {
            text.push_str(&format!(" (refused by the visitor's Baton: {why})"));
        }
        ui::set_state(doc, "app-state", name, &text);
        ui::set_attr(doc, "app-state", "data-app-id", &app.app_id);
        for (id, action) in [
            ("app-push", AppAction::Push),
            ("app-hold", AppAction::Hold),
            ("app-resume", AppAction::Resume),
            ("app-pull", AppAction::Pull),
        ] {
            ui::set_disabled(doc, id, model::app_transition(app.state, action).is_none());
        }
    }

    // ---- operator input -------------------------------------------------------

    fn wire(self: &Rc<Self>) {
        let doc = self.doc.clone();

        let me = self.clone();
        ui::on_id(&doc, "join-form", "submit", move |e| {
            e.prevent_default();
            me.join();
        });
        let me = self.clone();
        ui::on_id(&doc, "end", "click", move |_| me.end());
        let me = self.clone();
        ui::on_id(&doc, "replay-load", "click", move |_| me.load_replay());
        let me = self.clone();
        ui::on_id(&doc, "leave-replay", "click", move |_| {
            me.st.borrow_mut().playing = false;
            me.st.borrow_mut().replay = None;
            me.set_phase(Phase::Idle);
        });
        let me = self.clone();
        ui::on_id(&doc, "replay-play", "click", move |_| me.toggle_play());
        let me = self.clone();
        ui::on_id(&doc, "replay-scrub", "input", move |_| {
            let t: i64 = ui::value(&me.doc, "replay-scrub").parse().unwrap_or(0);
            me.st.borrow_mut().playing = false;
            ui::set_text(&me.doc, "replay-play", "Play");
            me.replay_to(t);
        });

        for (id, mode) in
            [("mode-pointer", Mode::Pointer), ("mode-highlight", Mode::Highlight), ("mode-draw", Mode::Draw)]
        {
            let me = self.clone();
            ui::on_id(&doc, id, "change", move |_| {
                me.st.borrow_mut().mode = mode;
                let name = match mode {
                    Mode::Pointer => "pointer",
                    Mode::Highlight => "highlight",
                    Mode::Draw => "draw",
                };
                ui::set_attr(&me.doc, "overlay", "data-mode", name);
            });
        }
        let me = self.clone();
        ui::on_id(&doc, "clear-annotations", "click", move |_| {
            me.clear_marks(&mut me.st.borrow_mut());
            me.send(OperatorFrame::ClearAnnotations);
            me.send(OperatorFrame::Highlight { id: None });
        });

        if let Some(overlay) = ui::by_id(&doc, "overlay") {
            let me = self.clone();
            ui::on(&overlay, "pointermove", move |e| me.pointer_move(&e));
            let me = self.clone();
            ui::on(&overlay, "pointerdown", move |e| me.pointer_down(&e));
            let me = self.clone();
            ui::on(&overlay, "pointerup", move |e| me.pointer_up(&e));
            let me = self.clone();
            ui::on(&overlay, "pointerleave", move |e| me.pointer_up(&e));
            let me = self.clone();
            ui::on(&overlay, "click", move |e| me.click(&e));
            let me = self.clone();
            ui::on_active(&overlay, "wheel", move |e| me.wheel(&e));
            // Nothing from the mirror's page may open a menu or start a drag.
            ui::on(&overlay, "contextmenu", |e| e.prevent_default());
            ui::on(&overlay, "dragstart", |e| e.prevent_default());
        }

        let me = self.clone();
        ui::on_id(&doc, "request-control", "click", move |_| {
            let scopes: Vec<Scope> = ["scroll", "click", "type", "navigate"]
                .into_iter()
                .filter(|s| ui::checked(&me.doc, &format!("scope-{s}")))
                .filter_map(model::scope_from_name)
                .collect();
            if scopes.is_empty() {
                me.refuse("Tick what you need to do first");
                return;
            }
            me.send(OperatorFrame::ControlRequest { scopes });
            me.note("Asked the visitor…");
        });
        let me = self.clone();
        ui::on_id(&doc, "type-form", "submit", move |e| {
            e.prevent_default();
            me.type_text();
        });
        let me = self.clone();
        ui::on_id(&doc, "nav-form", "submit", move |e| {
            e.prevent_default();
            match model::operator_url(&ui::value(&me.doc, "nav-url")) {
                Some(url) => me.command(Command::Navigate { url }),
                None => me.refuse("Enter an http(s) address"),
            }
        });
        let me = self.clone();
        ui::on_id(&doc, "push-url-form", "submit", move |e| {
            e.prevent_default();
            me.push_url();
        });

        let me = self.clone();
        ui::on_id(&doc, "app-kind", "change", move |_| {
            let kind = ui::value(&me.doc, "app-kind");
            ui::set_hidden(&me.doc, "app-viewer", kind != "viewer");
            ui::set_hidden(&me.doc, "app-form", kind != "form");
            ui::set_hidden(&me.doc, "app-module", kind != "module");
        });
        let me = self.clone();
        ui::on_id(&doc, "app-configure", "click", move |_| me.configure_app());
        let me = self.clone();
        ui::on_id(&doc, "app-send", "click", move |_| me.send_to_app());
        for (id, action) in [
            ("app-push", AppAction::Push),
            ("app-hold", AppAction::Hold),
            ("app-resume", AppAction::Resume),
            ("app-pull", AppAction::Pull),
        ] {
            let me = self.clone();
            ui::on_id(&doc, id, "click", move |_| me.app_action(action));
        }

        if let Some(w) = web_sys::window() {
            let me = self.clone();
            ui::on(&w, "resize", move |_| me.layout());
        }
    }

    fn join(self: &Rc<Self>) {
        let code = ui::value(&self.doc, "join-code").trim().to_owned();
        if code.is_empty() {
            ui::show_message(&self.doc, "join-error", "Enter the code the visitor reads to you");
            return;
        }
        ui::show_message(&self.doc, "join-error", "");
        ui::show_message(&self.doc, "recording-note", "");
        self.set_phase(Phase::Joining);
        let me = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            match me.client.host(RequestBody::OperatorJoin { code }).await {
                Ok(HostMessage::OperatorJoined { session_id, visitor_name, .. }) => {
                    let early = me.enter(session_id.clone(), visitor_name);
                    for (id, event) in early {
                        if id == session_id {
                            me.on_cobrowse(event);
                        }
                    }
                }
                Ok(other) => {
                    me.set_phase(Phase::Idle);
                    ui::show_message(&me.doc, "join-error", &format!("Unexpected answer: {other:?}"));
                }
                Err(e) => {
                    me.set_phase(Phase::Idle);
                    let code = e.code().map(|c| c.as_str()).unwrap_or("");
                    let text = if code == "cobrowse_code_invalid" {
                        "That code did not work. Check it with the visitor: codes work once and expire.".to_owned()
                    } else {
                        e.to_string()
                    };
                    ui::show_message(&me.doc, "join-error", &text);
                    ui::set_attr(&me.doc, "join-error", "data-code", code);
                }
            }
        });
    }

    /// Takes the session on: its events are this page's from now. Returns
    /// the events that came while joining.
    fn enter(&self, session_id: String, visitor_name: String) -> Vec<(String, CobrowseEvent)> {
        let early = {
            let mut st = self.st.borrow_mut();
            ui::remember_session(&session_id);
            self.client.operating(Some(&session_id));
            st.session_id = Some(session_id);
            st.visitor = visitor_name;
            std::mem::take(&mut st.early)
        };
        self.set_phase(Phase::AwaitingConsent);
        early
    }

    /// A console opened (or reloaded) while this device operates a live
    /// session picks it up: its state as the host last heard it, then a
    /// fresh keyframe from the visitor.
    fn resume(self: &Rc<Self>) {
        let me = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let answer = me.client.host(RequestBody::CobrowseSessions).await;
            let shown = std::mem::take(&mut me.st.borrow_mut().shown_elsewhere);
            let live = match answer {
                Ok(HostMessage::CobrowseSessions { sessions, .. }) => {
                    model::session_to_resume(sessions, ui::session_memory().as_deref(), &shown)
                }
                _ => None, // no host yet: nothing to pick up
            };
            // The operator may have started joining meanwhile.
            let live = live.filter(|_| me.st.borrow().phase == Phase::Idle);
            ui::set_attr(&me.doc, "console-state", "data-resume", if live.is_some() { "resumed" } else { "none" });
            let Some(live) = live else { return };
            me.enter(live.session_id, live.peer_name.unwrap_or_default());
            me.on_cobrowse(CobrowseEvent::State { state: live.state });
            me.on_cobrowse(CobrowseEvent::Peer { present: live.peer_present, ends_at_ms: live.peer_away_ends_at_ms });
            if let Some(max_bytes) = live.recording_stopped {
                me.on_cobrowse(CobrowseEvent::RecordingStopped { max_bytes });
            }
        });
    }

    fn end(self: &Rc<Self>) {
        let Some(session_id) = self.session_id() else { return };
        let me = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(e) = me.client.host(RequestBody::CobrowseEnd { session_id }).await {
                me.error(&format!("Could not end the session: {e}"));
            }
            me.set_phase(Phase::Ended);
        });
    }

    fn pointer_move(self: &Rc<Self>, e: &Event) {
        let Some(p) = self.point(e) else { return };
        let now = ui::now_ms();
        let (send, schedule) = {
            let mut st = self.st.borrow_mut();
            if let Some((points, line)) = st.stroke.as_mut() {
                let far = points.last().is_none_or(|l| (l.0 - p.0).abs() + (l.1 - p.1).abs() >= 3);
                if far && points.len() < MAX_STROKE_POINTS {
                    points.push(p);
                    let _ = line.set_attribute("points", &points_attr(points));
                }
            }
            let send = st.pointer.push(p, now);
            let schedule = match (send, st.pointer.due_in(now), st.pointer_timer) {
                (None, Some(ms), false) => {
                    st.pointer_timer = true;
                    Some(ms)
                }
                _ => None,
            };
            (send, schedule)
        };
        if let Some((x, y)) = send {
            self.send(OperatorFrame::Pointer { x, y });
        }
        if let Some(ms) = schedule {
            let me = self.clone();
            ui::after(ms as i32, move || {
                let p = {
                    let mut st = me.st.borrow_mut();
                    st.pointer_timer = false;
                    st.pointer.flush(ui::now_ms())
                };
                if let Some((x, y)) = p {
                    me.send(OperatorFrame::Pointer { x, y });
                }
            });
        }
    }

    fn pointer_down(self: &Rc<Self>, e: &Event) {
        let Some(p) = self.point(e) else { return };
        let mut st = self.st.borrow_mut();
        if st.mode != Mode::Draw {
            return;
        }
        e.prevent_default();
        let Some(ink) = ui::by_id(&self.doc, "ink") else { return };
        let Ok(line) = self.doc.create_element_ns(Some(SVG_NS), "polyline") else { return };
        let _ = line.set_attribute("stroke", INK_COLOR);
        let _ = line.set_attribute("points", &points_attr(&[p]));
        let _ = ink.append_child(&line);
        st.stroke = Some((vec![p], line));
    }

    fn pointer_up(self: &Rc<Self>, _e: &Event) {
        let stroke = self.st.borrow_mut().stroke.take();
        if let Some((points, _)) = stroke {
            if points.len() > 1 {
                self.send(OperatorFrame::Annotation { points, color: INK_COLOR.into() });
            }
        }
    }

    fn click(self: &Rc<Self>, e: &Event) {
        e.prevent_default();
        let Some((x, y)) = self.point(e) else { return };
        let (mode, id, decision) = {
            let mut st = self.st.borrow_mut();
            let id = st.mirror.dom.id_at(x, y).map(|(id, _)| id);
            let decision = model::point_click(id.map(|id| Self::hit_of(&st, id)), &st.grants);
            match st.mode {
                Mode::Pointer => {
                    st.selected = id;
                    self.show_selected(&st);
                }
                Mode::Highlight => {
                    st.highlighted = id;
                    self.place_highlight(&st);
                }
                Mode::Draw => {}
            }
            (st.mode, id, decision)
        };
        match mode {
            Mode::Pointer => {
                self.ripple((x, y));
                self.send(OperatorFrame::Ripple { x, y });
                self.point_click(id, decision);
            }
            Mode::Highlight => self.send(OperatorFrame::Highlight { id }),
            Mode::Draw => {}
        }
    }

    /// Acts on a Point-mode click as [`model::point_click`] decided; every
    /// refusal says why, so the operator never wonders where a click went.
    fn point_click(self: &Rc<Self>, id: Option<NodeId>, decision: model::PointClick) {
        use model::PointClick;
        match (decision, id) {
            // Without the click scope, `command` refuses it and says so.
            (PointClick::Click, Some(id)) => self.command(Command::Click { id }),
            (PointClick::SelectField, Some(_)) => self.note("Field selected: enter the text to type"),
            (PointClick::Password, _) => self.refuse("Baton never clicks or types in password fields"),
            (PointClick::MaskedField, _) => self.refuse(model::MASKED_FIELD),
            (PointClick::Private, _) => self.refuse("That part of the page is private: Baton does not act on it"),
            _ => {}
        }
    }

    fn wheel(self: &Rc<Self>, e: &Event) {
        let Some(w) = e.dyn_ref::<web_sys::WheelEvent>() else { return };
        e.prevent_default();
        let schedule = {
            let mut st = self.st.borrow_mut();
            if !st.grants.contains(&Scope::Scroll) || st.phase != Phase::Active {
                drop(st);
                self.refuse("Ask for the Scroll scope to scroll the visitor's page");
                return;
            }
            let (sx, sy) = st.wheel.unwrap_or_else(|| st.mirror.dom.window_scroll());
            let target = ((sx + w.delta_x() as i32).max(0), (sy + w.delta_y() as i32).max(0));
            st.wheel = Some(target);
            st.mirror.scroll(WINDOW, target.0, target.1);
            !std::mem::replace(&mut st.wheel_timer, true)
        };
        if schedule {
            let me = self.clone();
            ui::after(60, move || {
                let target = {
                    let mut st = me.st.borrow_mut();
                    st.wheel_timer = false;
                    st.wheel.take()
                };
                if let Some((x, y)) = target {
                    me.command(Command::ScrollTo { id: WINDOW, x, y });
                }
            });
        }
    }

    fn command(self: &Rc<Self>, command: Command) {
        let label = model::command_label(&command);
        let cmd_id = {
            let mut st = self.st.borrow_mut();
            if !st.grants.contains(&command.scope()) {
                drop(st);
                let scope = model::scope_name(command.scope());
                self.refuse(&format!("Ask for the {scope} scope first"));
                return;
            }
            // The ids shown may be about to change.
            if command.node().is_some() && st.seq.awaiting_keyframe() {
                drop(st);
                self.refuse("Catching up with the visitor's page; try again in a moment");
                return;
            }
            st.next_cmd += 1;
            let cmd_id = st.next_cmd - 1;
            st.pending.sent(cmd_id, label.clone(), ui::now_ms());
            (cmd_id, (st.generation != 0).then_some(st.generation))
        };
        let (cmd_id, generation) = cmd_id;
        self.note(&format!("{label}…"));
        self.send(OperatorFrame::Command { cmd_id, command, generation });
    }

    fn type_text(self: &Rc<Self>) {
        let text = ui::value(&self.doc, "type-text");
        let (target, refusal) = {
            let st = self.st.borrow();
            let hit = st.selected.map(|id| Self::hit_of(&st, id));
            (st.selected, model::type_refusal(hit, &text))
        };
        match (target, refusal) {
            (_, Some(why)) => self.refuse(why),
            (Some(id), None) => {
                self.command(Command::TypeText { id, text });
                ui::set_value(&self.doc, "type-text", "");
            }
            (None, None) => {}
        }
    }

    fn push_url(self: &Rc<Self>) {
        let Some(url) = model::operator_url(&ui::value(&self.doc, "push-url")) else {
            ui::set_text(&self.doc, "push-answer", "Enter an http(s) address");
            return;
        };
        let push_id = format!("url-{:x}", ui::now_ms());
        ui::set_text(&self.doc, "push-answer", &format!("Offered {url} — waiting for the visitor"));
        ui::set_attr(&self.doc, "push-answer", "data-accepted", "");
        self.send(OperatorFrame::PushUrl { push_id, url });
        self.audit(AuditEvent::Pushed { push: PushKind::Url });
    }

    /// The operator's event for the pushed app, numbered in order.
    fn send_to_app(self: &Rc<Self>) {
        let doc = &self.doc;
        let next = self.st.borrow_mut().apps.event_to_send(&ui::value(doc, "app-send-text"));
        match next {
            Ok((app_id, seq, event)) => {
                ui::show_message(doc, "app-error", "");
                ui::set_value(doc, "app-send-text", "");
                self.send(OperatorFrame::AppEvent { app_id, seq, event });
            }
            Err(e) => ui::show_message(doc, "app-error", &e.to_string()),
        }
    }

    fn configure_app(self: &Rc<Self>) {
        let doc = &self.doc;
        let app = match ui::value(doc, "app-kind").as_str() {
            "form" => model::form_app(&ui::value(doc, "app-form-title"), &ui::value(doc, "app-form-fields")),
            "module" => model::module_app(&ui::value(doc, "app-module-url"), &self.st.borrow().app_origins),
            _ => model::viewer_app(&ui::value(doc, "app-viewer-url"), &ui::value(doc, "app-viewer-title")),
        };
        match app {
            Ok(app) => {
                ui::show_message(doc, "app-error", "");
                let mut st = self.st.borrow_mut();
                st.apps.configure(app, ui::now_ms());
                self.show_app(&st);
            }
            Err(problem) => ui::show_message(doc, "app-error", &problem.to_string()),
        }
    }

    fn app_action(self: &Rc<Self>, action: AppAction) {
        let (app_id, app, state) = {
            let mut st = self.st.borrow_mut();
            let Some(current) = st.apps.current().cloned() else { return };
            let Some(state) = st.apps.act(&current.app_id, action) else { return };
            self.show_app(&st);
            (current.app_id, current.app, state)
        };
        match action {
            AppAction::Push => {
                let kind = app.kind();
                self.send(OperatorFrame::PushApp { app_id: app_id.clone(), app });
                self.audit(AuditEvent::Pushed { push: kind });
            }
            AppAction::Hold => self.send(OperatorFrame::HoldApp { app_id: app_id.clone() }),
            AppAction::Resume => self.send(OperatorFrame::ResumeApp { app_id: app_id.clone() }),
            AppAction::Pull => self.send(OperatorFrame::PullApp { app_id: app_id.clone() }),
        }
        if action != AppAction::Push {
            self.audit(AuditEvent::AppState { app_id, state });
        }
    }

    // ---- replay ---------------------------------------------------------------

    fn load_replay(self: &Rc<Self>) {
        let session_id = ui::value(&self.doc, "replay-session").trim().to_owned();
        if session_id.is_empty() {
            ui::show_message(&self.doc, "replay-error", "Enter a session id");
            return;
        }
        ui::show_message(&self.doc, "replay-error", "");
        let me = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            // The host answers a batch at a time; `next` asks for the rest.
            let mut frames = Vec::new();
            let mut after = None;
            let fetched = loop {
                let asked = RequestBody::RecordingFetch { session_id: session_id.clone(), after };
                match me.client.host(asked).await {
                    Ok(HostMessage::Recording { frames: batch, next, .. }) => {
                        frames.extend(batch);
                        match next {
                            Some(n) if after.is_none_or(|a| n > a) => {
                                after = Some(n);
                                let loading = format!("Loading the recording… {} frames", frames.len());
                                ui::show_message(&me.doc, "replay-error", &loading);
                            }
                            _ => break Ok(frames),
                        }
                    }
                    Ok(other) => break Err(format!("Unexpected answer: {other:?}")),
                    Err(e) => break Err(e.to_string()),
                }
            };
            ui::show_message(&me.doc, "replay-error", "");
            match fetched {
                Ok(frames) => {
                    if frames.is_empty() {
                        ui::show_message(&me.doc, "replay-error", "This session has no recording");
                        return;
                    }
                    let timeline = Timeline::new(frames);
                    let duration = timeline.duration_ms();
                    me.st.borrow_mut().replay = Some(timeline);
                    me.set_phase(Phase::Replay);
                    ui::set_attr(&me.doc, "replay-scrub", "max", &duration.to_string());
                    me.replay_to(0);
                }
                Err(e) => ui::show_message(&me.doc, "replay-error", &e),
            }
        });
    }

    fn replay_to(self: &Rc<Self>, t_ms: i64) {
        let mut st = self.st.borrow_mut();
        let Some(mut timeline) = st.replay.take() else { return };
        let (reset, range) = timeline.seek(t_ms);
        let mut frames: Vec<VisitorFrame> = Vec::new();
        if reset {
            frames.extend(timeline.assets_before(range.start).filter_map(visitor_frame));
            st.apps.forget_heard();
            if let Some(list) = ui::by_id(&self.doc, "app-events") {
                list.set_text_content(None);
            }
        }
        frames.extend(timeline.frames[range].iter().filter_map(visitor_frame));
        for frame in frames {
            let _ = self.apply(&mut st, frame);
        }
        let duration = timeline.duration_ms();
        st.replay = Some(timeline);
        drop(st);
        ui::set_value(&self.doc, "replay-scrub", &t_ms.to_string());
        ui::set_text(&self.doc, "replay-time", &format!("{} / {}", clock(t_ms), clock(duration)));
        self.render_seq(&self.st.borrow());
    }

    fn toggle_play(self: &Rc<Self>) {
        let playing = {
            let mut st = self.st.borrow_mut();
            st.playing = !st.playing;
            st.playing
        };
        ui::set_text(&self.doc, "replay-play", if playing { "Pause" } else { "Play" });
        if playing {
            let start: i64 = ui::value(&self.doc, "replay-scrub").parse().unwrap_or(0);
            let t0 = ui::now_ms() - start;
            self.play_step(t0);
        }
    }

    fn play_step(self: &Rc<Self>, t0: i64) {
        let (playing, duration) = {
            let st = self.st.borrow();
            (st.playing, st.replay.as_ref().map(Timeline::duration_ms).unwrap_or(0))
        };
        if !playing {
            return;
        }
        let t = (ui::now_ms() - t0).min(duration);
        self.replay_to(t);
        if t >= duration {
            self.st.borrow_mut().playing = false;
            ui::set_text(&self.doc, "replay-play", "Play");
            return;
        }
        let me = self.clone();
        ui::after(50, move || me.play_step(t0));
    }
}

fn visitor_frame(f: &baton_shared::native::RecordedPlain) -> Option<VisitorFrame> {
    match &f.frame {
        Frame::Visitor { frame } => Some(frame.clone()),
        Frame::Operator { .. } => None,
    }
}

fn points_attr(points: &[(i32, i32)]) -> String {
    points.iter().map(|(x, y)| format!("{x},{y}")).collect::<Vec<_>>().join(" ")
}

fn clock(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    format!("{}:{:02}", s / 60, s % 60)
}

/// Lists an app's event, in order among that app's events (one sent again
/// with a keyframe may come after later ones).
/// App events listed in the console; older ones leave the list (a chatty
/// module must not grow the page, or each insertion's scan, without end).
const SHOWN_APP_EVENTS: u32 = 200;

/// The header's name of the visitor's page.
fn show_address(doc: &Document, url: &str, title: &str) {
    ui::set_text(doc, "page-title", title);
    ui::set_text(doc, "page-url", url);
}

fn show_app_event(doc: &Document, app_id: &str, seq: u64, event: &serde_json::Value) {
    let Some(list) = ui::by_id(doc, "app-events") else { return };
    let li = ui::el(doc, "li", "");
    li.set_text_content(Some(&model::event_line(app_id, seq, event)));
    let _ = li.set_attribute("data-app", app_id);
    let _ = li.set_attribute("data-seq", &seq.to_string());
    let children = list.children();
    let later = (0..children.length()).filter_map(|i| children.item(i)).find(|li| {
        li.get_attribute("data-app").as_deref() == Some(app_id)
            && li.get_attribute("data-seq").and_then(|s| s.parse::<u64>().ok()).is_some_and(|s| s > seq)
    });
    let _ = list.insert_before(&li, later.as_ref().map(|e| e.as_ref()));
    while list.child_element_count() > SHOWN_APP_EVENTS {
        match list.first_element_child() {
            Some(oldest) => oldest.remove(),
            None => break,
        }
    }
}
