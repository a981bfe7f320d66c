//! The shared tab's content script: drives one co-browsing session in the
//! page. The worker says the tab is shared (on start, and to every new page
//! of the tab); the visitor approves; the recorder captures; operator frames
//! are applied; Stop or the end of the session removes everything.
//!
//! The settings (policy over the person's own, [`SessionPolicy`]) are read
//! before the first message from the worker is handled and followed after:
//! private selectors become placeholders in capture, fields matching safe
//! selectors show their values (and take the operator's typing) like
//! `data-baton-safe`, scopes outside
//! `controlScopes` are never offered or granted (and revoked when the
//! policy narrows), recording is offered only when allowed, and with
//! `requireE2ePairing` capture waits for the operator's key to be confirmed.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use baton_shared::cobrowse::{App, AppState, AuditEvent, Command, OperatorFrame, Scope, SessionState, VisitorFrame};

use super::control;
use super::model::{
    self, app_ok, check_command, check_generation, check_policy, label_control_ok, Apps, Grants, InOrder, Outbox,
    Refusal, SessionPolicy,
};
use super::overlay::{Overlay, PushPrompt, UiAct};
use super::protocol::{FromPage, ShareView, ToPage};
use crate::chrome;
use crate::cobrowse::capture::{MaskPolicy, Recorder};
use crate::content::messages::ContentMessage;

struct Driver {
    share: ShareView,
    grants: Grants,
    overlay: Rc<Overlay>,
    recorder: Option<Rc<Recorder>>,
    apps: Apps,
    /// Console → app events, per app, in order.
    app_in: HashMap<String, InOrder>,
    /// App → console events, per app (the latest kept for keyframes).
    app_out: HashMap<String, Outbox>,
    /// The page loaded while the session was already active: the console
    /// learns of the navigation before the snapshot.
    navigated: bool,
}

impl Driver {
    /// A pulled app's event channels go with it.
    fn forget_app(&mut self, app_id: &str) {
        self.app_in.remove(app_id);
        self.app_out.remove(app_id);
    }
}

thread_local! {
    static DRIVER: RefCell<Option<Driver>> = const { RefCell::new(None) };
    /// The settings in force (`None` until first read).
    static POLICY: RefCell<Option<SessionPolicy>> = const { RefCell::new(None) };
    /// Messages from the worker that arrived before the settings were read.
    static WAITING: RefCell<Vec<ToPage>> = const { RefCell::new(Vec::new()) };
    /// The generation of the last snapshot sent ([`Snapshot::generation`]).
    /// It starts at random, so that a command meant for the page before a
    /// navigation does not match this page's.
    ///
    /// [`Snapshot::generation`]: baton_shared::cobrowse::Snapshot::generation
    static GENERATION: Cell<u64> = Cell::new((js_sys::Math::random() * (1u64 << 48) as f64) as u64 + 1);
}

/// The settings in force; the defaults if they could not be read at all.
fn policy() -> SessionPolicy {
    POLICY
        .with(|p| p.borrow().clone())
        .unwrap_or_else(|| SessionPolicy::from_settings(&crate::settings::Settings::default()))
}

/// The settings were read or changed.
fn on_settings(e: &crate::settings::Effective) {
    let next = SessionPolicy::from_settings(&e.settings);
    let before = POLICY.with(|p| p.borrow_mut().replace(next.clone()));
    let Some(before) = before else {
        for m in WAITING.with(|w| std::mem::take(&mut *w.borrow_mut())) {
            handle(m);
        }
        return;
    };
    // Grants the organisation no longer allows are taken back now.
    let narrowed = with(|d| next.disallowed_grants(&d.grants)).unwrap_or_default();
    if !narrowed.is_empty() {
        revoke(&narrowed);
    }
    // New private or safe selectors: capture again, from a fresh snapshot.
    let masking_changed =
        before.private_selectors != next.private_selectors || before.safe_selectors != next.safe_selectors;
    if masking_changed && with(|d| d.recorder.is_some()) == Some(true) {
        if let Some(r) = with(|d| d.recorder.take()).flatten() {
            stop_recorder(r);
        }
        start_recorder();
    }
}

/// Listens for the worker and says hello: on any page, excluded from
/// continuation or not (a shared tab works everywhere).
pub fn start() {
    let on_message = Closure::<dyn FnMut(JsValue, JsValue)>::new(on_message);
    let added = (|| -> Result<(), JsValue> {
        let runtime = runtime()?;
        let event = js_sys::Reflect::get(&runtime, &"onMessage".into())?;
        let add: js_sys::Function = js_sys::Reflect::get(&event, &"addListener".into())?.dyn_into()?;
        add.call1(&event, on_message.as_ref())?;
        Ok(())
    })();
    on_message.forget();
    if added.is_ok() {
        send(FromPage::Hello);
    }
    crate::settings::watch(on_settings);
    // Leaving the page: its apps go with it.
    let leaving = Closure::<dyn FnMut(web_sys::Event)>::new(|_: web_sys::Event| pull_all_apps());
    if let Some(w) = web_sys::window() {
        let _ = w.add_event_listener_with_callback("pagehide", leaving.as_ref().unchecked_ref());
    }
    leaving.forget();
}

fn runtime() -> Result<JsValue, JsValue> {
    js_sys::Reflect::get(&js_sys::global(), &"chrome".into()).and_then(|c| js_sys::Reflect::get(&c, &"runtime".into()))
}

fn on_message(message: JsValue, sender: JsValue) {
    let own_id = runtime().and_then(|r| js_sys::Reflect::get(&r, &"id".into())).ok().and_then(|v| v.as_string());
    let sender_id = js_sys::Reflect::get(&sender, &"id".into()).ok().and_then(|v| v.as_string());
    // Only the worker: messages from a tab carry `tab`.
    let from_tab = js_sys::Reflect::get(&sender, &"tab".into()).is_ok_and(|t| !t.is_undefined());
    if own_id.is_none() || sender_id != own_id || from_tab {
        return;
    }
    let Ok(ContentMessage::CobrowseToPage { m }) = chrome::from_js::<ContentMessage>(&message) else { return };
    if POLICY.with(|p| p.borrow().is_none()) {
        WAITING.with(|w| w.borrow_mut().push(m));
        return;
    }
    handle(m);
}

fn handle(m: ToPage) {
    match m {
        ToPage::Shared { share } => shared(share),
        ToPage::Frame { frame } => apply(frame),
        ToPage::Ended => teardown(),
        ToPage::Refused { message } => refused(&message),
    }
}

/// The settings refused the operator: the session is over; say why until
/// the visitor closes the notice.
fn refused(message: &str) {
    if let Some(r) = with(|d| d.recorder.take()).flatten() {
        stop_recorder(r);
    }
    let overlay = with(|d| {
        d.share.state = SessionState::Ended;
        d.overlay.clone()
    });
    let ended = ShareView { state: SessionState::Ended, ..ShareView::waiting(String::new(), String::new(), 0) };
    let overlay = match overlay {
        Some(o) => o,
        None => match mount(&ended) {
            Some(o) => o,
            None => return,
        },
    };
    overlay.show_state(&ended, &[]);
    overlay.close_dialog("consent");
    overlay.notice(message);
}

/// Mounts Baton's UI and the driver for `share`.
fn mount(share: &ShareView) -> Option<Rc<Overlay>> {
    let on_act: Rc<dyn Fn(UiAct)> = Rc::new(on_act);
    let app_events: super::overlay::AppEvents = Rc::new(on_app_event);
    let overlay = Overlay::mount(on_act, app_events)?;
    let navigated = share.state == SessionState::Active;
    let grants = Grants::from_scopes(&policy().allowed(&share.scopes));
    DRIVER.with(|d| {
        *d.borrow_mut() = Some(Driver {
            grants,
            share: share.clone(),
            overlay: overlay.clone(),
            recorder: None,
            apps: Apps::default(),
            app_in: HashMap::new(),
            app_out: HashMap::new(),
            navigated,
        })
    });
    Some(overlay)
}

/// `chrome.runtime.sendMessage`, fire and forget.
fn send(m: FromPage) {
    thread_local! {
        static IGNORE: Closure<dyn FnMut(JsValue)> = Closure::new(|_: JsValue| {});
    }
    let Some(message) = page_message(m) else { return };
    let result = (|| -> Result<JsValue, JsValue> {
        let runtime = runtime()?;
        let f: js_sys::Function = js_sys::Reflect::get(&runtime, &"sendMessage".into())?.dyn_into()?;
        f.call1(&runtime, &message)
    })();
    if let Ok(promise) = result.and_then(|r| r.dyn_into::<js_sys::Promise>().map_err(|_| JsValue::NULL)) {
        IGNORE.with(|ignore| {
            let _ = promise.catch(ignore);
        });
    }
}

/// The message as `send` hands it to the browser; the throwaway snapshot
/// goes through it too, so the first real frame runs compiled code.
fn page_message(m: FromPage) -> Option<JsValue> {
    m.into_message_text().ok().and_then(|text| js_sys::JSON::parse(&text).ok())
}

fn frame(mut frame: VisitorFrame) {
    if let VisitorFrame::Snapshot(snapshot) = &mut frame {
        snapshot.generation = GENERATION.with(|g| {
            g.set(g.get() + 1);
            g.get()
        });
    }
    send(FromPage::Frame { frame });
}

fn audit(event: AuditEvent) {
    send(FromPage::Audit { event });
}

fn with<R>(f: impl FnOnce(&mut Driver) -> R) -> Option<R> {
    DRIVER.with(|d| d.borrow_mut().as_mut().map(f))
}

fn shared(share: ShareView) {
    let exists = DRIVER.with(|d| d.borrow().is_some());
    if !exists && mount(&share).is_none() {
        return;
    }
    let policy = policy();
    let (overlay, start_capture, navigated) = match with(|d| {
        d.share = share.clone();
        let start = policy.may_capture(share.state, share.key_confirmed) && d.recorder.is_none();
        (d.overlay.clone(), start, std::mem::take(&mut d.navigated))
    }) {
        Some(v) => v,
        None => return,
    };
    let scopes = with(|d| d.grants.scopes()).unwrap_or_default();
    overlay.show_state(&share, &scopes);
    match share.state {
        SessionState::AwaitingConsent => {
            overlay.ask_consent(share.operator.as_deref().unwrap_or("An operator"), policy.recording_allowed)
        }
        SessionState::Ended => return teardown(),
        _ => {}
    }
    if !exists && !start_capture {
        prepare_capture();
    }
    if start_capture {
        if navigated {
            // Told as a snapshot tells them: a private page's title and path stay here.
            let (url, title) = mask_policy().page_label();
            frame(VisitorFrame::Navigated { url, title });
            if !scopes.is_empty() {
                frame(VisitorFrame::Grants { scopes });
            }
        }
        start_recorder();
    }
}

fn mask_policy() -> MaskPolicy {
    let p = policy();
    MaskPolicy { private_selectors: p.private_selectors, safe_selectors: p.safe_selectors }
}

/// While the visitor waits for the operator: one snapshot converted like a
/// real frame and dropped, so that the first real one runs compiled code
/// (see `capture::prepare`).
fn prepare_capture() {
    crate::cobrowse::capture::prepare(
        mask_policy(),
        Rc::new(|frame: VisitorFrame| {
            let _ = page_message(FromPage::Frame { frame });
        }),
    );
}

/// Starts capture with the settings' private selectors.
fn start_recorder() {
    let mask = mask_policy();
    let sink: crate::cobrowse::capture::Sink = Rc::new(frame);
    match Recorder::start(mask, sink) {
        Ok(recorder) => {
            recorder.set_outlines(true);
            with(|d| d.recorder = Some(Rc::new(recorder)));
        }
        Err(e) => chrome::log(&format!("baton: cannot capture this page: {e:?}")),
    }
}

fn stop_recorder(recorder: Rc<Recorder>) {
    match Rc::try_unwrap(recorder) {
        Ok(r) => r.stop(),
        Err(r) => r.set_outlines(false),
    }
}

fn operator() -> String {
    with(|d| d.share.operator.clone()).flatten().unwrap_or_else(|| "The operator".to_owned())
}

/// Applies one operator frame.
fn apply(f: OperatorFrame) {
    let Some((overlay, recorder)) = with(|d| (d.overlay.clone(), d.recorder.clone())) else { return };
    if with(|d| d.share.state) != Some(SessionState::Active) {
        return;
    }
    match f {
        OperatorFrame::KeyframeRequest => {
            if let Some(r) = recorder {
                r.keyframe();
            }
            // A console that (re)opened mid-session learns what it may do,
            // which apps are in the page and what they said lately (it
            // drops the events it has).
            frame(VisitorFrame::Grants { scopes: with(|d| d.grants.scopes()).unwrap_or_default() });
            let (apps, said) = with(|d| {
                let mut apps = d.apps.in_page();
                for a in &mut apps {
                    a.console_events = d.app_in.get(&a.app_id).map_or(0, InOrder::delivered);
                }
                let said: Vec<VisitorFrame> = apps
                    .iter()
                    .filter_map(|a| Some((&a.app_id, d.app_out.get(&a.app_id)?)))
                    .flat_map(|(app_id, out)| {
                        out.kept().map(|(seq, event)| VisitorFrame::AppEvent {
                            app_id: app_id.clone(),
                            seq,
                            event: event.clone(),
                        })
                    })
                    .collect();
                (apps, said)
            })
            .unwrap_or_default();
            frame(VisitorFrame::Apps { apps });
            said.into_iter().for_each(frame);
        }
        OperatorFrame::Pointer { x, y } => overlay.pointer(x, y),
        OperatorFrame::Ripple { x, y } => overlay.ripple(x, y),
        OperatorFrame::Highlight { id } => overlay.highlight(id.and_then(|id| recorder.as_ref()?.node(id))),
        OperatorFrame::Annotation { points, color } => overlay.annotate(&points, &color),
        OperatorFrame::ClearAnnotations => overlay.clear_annotations(),
        OperatorFrame::ControlRequest { scopes } => {
            let (ask, not_allowed) = with(|d| policy().split_request(&d.grants, &scopes)).unwrap_or_default();
            if ask.is_empty() && not_allowed.is_empty() {
                send_grants();
            } else {
                overlay.ask_control(&operator(), &ask, &not_allowed);
            }
        }
        OperatorFrame::Command { cmd_id, command, generation } => {
            run_command(cmd_id, &command, generation, recorder.as_deref())
        }
        OperatorFrame::PushUrl { push_id, url } => {
            if model::open_url(&url).is_none() || push_id.len() > 100 {
                let refused = Some("not a web address".to_owned());
                frame(VisitorFrame::PushAnswer { push_id, accepted: false, refused });
            } else {
                match overlay.ask_push_url(&operator(), &push_id, &url) {
                    PushPrompt::Shown => {}
                    // Its prompt is open and will answer for it.
                    PushPrompt::AlreadyOpen => chrome::log("baton: ignored a pushed URL whose prompt is already open"),
                    PushPrompt::TooMany => {
                        send(FromPage::DeclinedPush { push_id: push_id.clone() });
                        let refused =
                            Some(format!("{} pages are waiting for an answer already", model::MAX_PUSH_PROMPTS));
                        frame(VisitorFrame::PushAnswer { push_id, accepted: false, refused });
                    }
                }
            }
        }
        OperatorFrame::PushApp { app_id, app } => push_app(&overlay, app_id, app),
        OperatorFrame::HoldApp { app_id } => app_transition(&overlay, &app_id, Apps::hold),
        OperatorFrame::ResumeApp { app_id } => app_transition(&overlay, &app_id, Apps::resume),
        OperatorFrame::PullApp { app_id } => app_transition(&overlay, &app_id, Apps::pull),
        OperatorFrame::AppEvent { app_id, seq, event } => {
            let live = with(|d| d.apps.state(&app_id) == Some(AppState::Pushed)).unwrap_or(false);
            if !live || event.to_string().len() > model::MAX_APP_EVENT_BYTES {
                return;
            }
            let events = with(|d| d.app_in.entry(app_id.clone()).or_default().accept(seq, event)).unwrap_or_default();
            for event in events {
                overlay.to_app(&app_id, event);
            }
        }
    }
}

fn run_command(cmd_id: u64, command: &Command, generation: Option<u64>, recorder: Option<&Recorder>) {
    // Checked now, at execution time, against the grants of this moment.
    let result = match (with(|d| d.grants.clone()), recorder) {
        (Some(grants), Some(r)) => check_policy(command, &policy())
            .and_then(|()| check_command(command, &grants, |id| r.is_protected(id)))
            .and_then(|()| check_generation(command, generation, GENERATION.with(Cell::get)))
            .and_then(|()| {
                let node = match command {
                    Command::Click { id } | Command::TypeText { id, .. } | Command::ScrollTo { id, .. } => r.node(*id),
                    Command::Navigate { .. } => None,
                };
                // A click on a label operates its control: that must not be protected either.
                if let (Command::Click { .. }, Some(Some(control))) =
                    (command, node.as_ref().and_then(control::labelled_control))
                {
                    label_control_ok(r.id_of(&control), |id| r.is_protected(id))?;
                }
                let may_scroll = grants.allows(Scope::Scroll) && policy().allows(Scope::Scroll);
                control::run(command, node, may_scroll, may_still_navigate)
            }),
        _ => Err(Refusal::NotActive),
    };
    let ok = result.is_ok();
    frame(VisitorFrame::CommandResult { cmd_id, ok, error: result.err().map(|e| e.to_string()) });
    audit(AuditEvent::Command { command: command.kind(), ok });
}

/// When a navigation command's moment comes: the session is still on, and
/// navigation still granted and allowed.
fn may_still_navigate() -> bool {
    let live = with(|d| d.share.state == SessionState::Active && d.grants.allows(Scope::Navigate));
    live == Some(true) && policy().allows(Scope::Navigate)
}

fn push_app(overlay: &Rc<Overlay>, app_id: String, app: App) {
    // Pushes are audited by the operator's side, which makes them.
    let checked = app_ok(&app, &policy().app_origins).and_then(|()| match with(|d| d.apps.push(&app_id, &app)) {
        Some(pushed) => pushed.map_err(|e| e.to_string()),
        None => Err("no session".into()),
    });
    match checked {
        Ok(state) => {
            let (src, title) = match &app {
                App::Viewer { title, .. } => (extension_url("app.html"), title.clone()),
                App::Form { title, .. } => (extension_url("app.html"), title.clone()),
                App::Module { url } => (url.split('#').next().unwrap_or("").to_owned(), "App".to_owned()),
            };
            overlay.add_app(&app_id, &app, &src, &title);
            frame(VisitorFrame::AppState { app_id: app_id.clone(), state });
            audit(AuditEvent::AppState { app_id, state });
        }
        Err(e) => {
            chrome::log(&format!("baton: refused a pushed app: {e}"));
            frame(VisitorFrame::PushAnswer { push_id: app_id, accepted: false, refused: Some(e) });
        }
    }
}

fn app_transition(overlay: &Rc<Overlay>, app_id: &str, f: fn(&mut Apps, &str) -> Result<AppState, String>) {
    match with(|d| f(&mut d.apps, app_id)) {
        Some(Ok(state)) => {
            overlay.set_app_state(app_id, state);
            if state == AppState::Pulled {
                with(|d| d.forget_app(app_id));
            }
            frame(VisitorFrame::AppState { app_id: app_id.to_owned(), state });
            audit(AuditEvent::AppState { app_id: app_id.to_owned(), state });
        }
        Some(Err(e)) => chrome::log(&format!("baton: {e}")),
        None => {}
    }
}

/// An event from an app's frame, already in order: on to the console.
fn on_app_event(app_id: String, event: serde_json::Value) {
    let Some(Some(seq)) = with(|d| {
        (d.apps.state(&app_id) == Some(AppState::Pushed))
            .then(|| d.app_out.entry(app_id.clone()).or_default().add(&event))
    }) else {
        return;
    };
    frame(VisitorFrame::AppEvent { app_id, seq, event });
}

/// Leaving the page: every app is pulled, and taken out of the page as a
/// pull does (a page kept in the back/forward cache would otherwise come
/// back showing apps both sides count as pulled).
fn pull_all_apps() {
    let Some((overlay, pulled)) = with(|d| {
        let pulled = d.apps.pull_all();
        pulled.iter().for_each(|app_id| d.forget_app(app_id));
        (d.overlay.clone(), pulled)
    }) else {
        return;
    };
    for app_id in pulled {
        overlay.set_app_state(&app_id, AppState::Pulled);
        frame(VisitorFrame::AppState { app_id: app_id.clone(), state: AppState::Pulled });
        audit(AuditEvent::AppState { app_id, state: AppState::Pulled });
    }
}

fn send_grants() {
    let scopes = with(|d| d.grants.scopes()).unwrap_or_default();
    frame(VisitorFrame::Grants { scopes: scopes.clone() });
    send(FromPage::Scopes { scopes: scopes.clone() });
    if let Some((overlay, share)) = with(|d| (d.overlay.clone(), d.share.clone())) {
        overlay.show_state(&share, &scopes);
    }
}

fn on_act(act: UiAct) {
    match act {
        UiAct::Stop => {
            send(FromPage::Stop);
            teardown();
        }
        UiAct::Consent { approve, record } => {
            send(FromPage::Consent { approve, record });
            if !approve {
                teardown();
            }
        }
        UiAct::Grant(scopes) => {
            let scopes = policy().allowed(&scopes);
            let added = with(|d| d.grants.grant(&scopes)).unwrap_or_default();
            if !added.is_empty() {
                audit(AuditEvent::Granted { scopes: added });
            }
            send_grants();
        }
        UiAct::DeclineControl => send_grants(),
        UiAct::Dismiss => teardown(),
        UiAct::Revoke(scope) => revoke(&[scope]),
        UiAct::PushAnswer { push_id, url, accepted } => {
            send(match accepted {
                true => FromPage::OpenPushed { push_id: push_id.clone(), url },
                false => FromPage::DeclinedPush { push_id: push_id.clone() },
            });
            frame(VisitorFrame::PushAnswer { push_id, accepted, refused: None });
        }
    }
}

fn revoke(scopes: &[Scope]) {
    let removed = with(|d| d.grants.revoke(scopes)).unwrap_or_default();
    if !removed.is_empty() {
        audit(AuditEvent::Revoked { scopes: removed });
    }
    send_grants();
}

/// Removes everything Baton put in the page and forgets the session.
fn teardown() {
    let Some(driver) = DRIVER.with(|d| d.borrow_mut().take()) else { return };
    if let Some(recorder) = driver.recorder {
        stop_recorder(recorder);
    }
    driver.overlay.remove();
}

fn extension_url(path: &str) -> String {
    runtime()
        .and_then(|r| {
            let f: js_sys::Function = js_sys::Reflect::get(&r, &"getURL".into())?.dyn_into()?;
            f.call1(&r, &path.into())
        })
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_default()
}
