//! Everything Baton draws in a shared page, in one closed shadow root.
//!
//! The host element (`<div data-baton-ui="visitor">`) is appended to the document
//! element; a mutation observer puts it back when the page removes it or
//! touches its attributes, and `:host` rules marked `!important` win over
//! the page's own (shadow context wins for important declarations). The
//! host is a manual popover, so it sits in the top layer above every z-index,
//! and is raised again whenever the page shows a popover or dialog after it
//! or changes fullscreen. (A modal dialog or a fullscreen element still
//! makes the rest of the page inert, Baton's UI included, until it closes:
//! the bar stays in sight, and the popup stops the session.) Events
//! from inside stop at the shadow root, so the page's bubbling listeners do
//! not see them. Operator text only ever goes through `textContent`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Document, Element, Event, HtmlIFrameElement, MutationObserver, MutationObserverInit, ShadowRoot};

use baton_shared::cobrowse::{App, AppState, Scope, SessionState};

use super::model::{self, app_state_name, scope_label, scope_name, state_name, AppChannel, InOrder, Sequencer};
use super::protocol::ShareView;

/// The host element's `data-baton-ui` value (the recorder's own elements carry other values).
pub const HOST_MARK: &str = "visitor";
const SVG_NS: &str = "http://www.w3.org/2000/svg";
/// How many of an app frame's loads are offered a channel.
const APP_INIT_TRIES: u32 = 100;
/// After a frame loads, ports are offered at these delays (ms) until it
/// takes one: its script may still be starting.
const APP_OFFER_DELAYS_MS: [i32; 11] = [0, 50, 100, 200, 400, 800, 1_600, 3_200, 6_400, 12_800, 25_600];

const CSS: &str = r#"
:host { all: initial !important; display: block !important; position: fixed !important; inset: 0 !important;
  z-index: 2147483647 !important; pointer-events: none !important; visibility: visible !important;
  opacity: 1 !important; transform: none !important; clip-path: none !important; filter: none !important; }
* { box-sizing: border-box; }
.bar { position: fixed; left: 50%; bottom: 14px; transform: translateX(-50%); pointer-events: auto;
  display: flex; gap: 10px; align-items: center; max-width: calc(100vw - 24px); padding: 8px 12px;
  background: #1d3557; color: #fff; font: 14px/1.3 system-ui, sans-serif; border-radius: 10px;
  box-shadow: 0 4px 18px rgba(0,0,0,.35); }
.bar .dot { width: 10px; height: 10px; border-radius: 50%; background: #e63946; flex: none; }
.bar[data-state=waiting] .dot { background: #f4a261; }
.bar .code { font: 600 16px ui-monospace, monospace; letter-spacing: .08em; }
.scopes { display: flex; gap: 6px; flex-wrap: wrap; }
.scope { display: inline-flex; gap: 4px; align-items: center; background: rgba(255,255,255,.15);
  border-radius: 12px; padding: 2px 8px; font-size: 12px; }
button { font: inherit; cursor: pointer; border-radius: 6px; border: 1px solid #888; padding: 4px 10px;
  background: #fff; color: #111; }
.scope button { padding: 0 4px; border: 0; background: transparent; color: #fff; }
button.stop { background: #e63946; color: #fff; border-color: #e63946; font-weight: 600; }
.dialog { position: fixed; left: 50%; top: 18%; transform: translateX(-50%); pointer-events: auto;
  width: min(420px, calc(100vw - 24px)); padding: 16px; background: #fff; color: #111;
  font: 14px/1.4 system-ui, sans-serif; border-radius: 10px; box-shadow: 0 8px 30px rgba(0,0,0,.4); }
.dialog h2 { font-size: 16px; margin: 0 0 8px; }
.dialog p { margin: 0 0 10px; word-break: break-all; }
.dialog label { display: block; margin: 6px 0; }
.dialog .row { display: flex; gap: 8px; justify-content: flex-end; margin-top: 12px; }
.pointer { position: fixed; left: 0; top: 0; width: 16px; height: 16px; margin: -8px 0 0 -8px;
  border-radius: 50%; background: rgba(230,57,70,.85); border: 2px solid #fff; box-shadow: 0 0 4px #000; }
.ripple { position: fixed; width: 44px; height: 44px; margin: -22px 0 0 -22px; border-radius: 50%;
  border: 3px solid #e63946; animation: ripple .7s ease-out forwards; }
@keyframes ripple { from { transform: scale(.2); opacity: 1; } to { transform: scale(1.6); opacity: 0; } }
.highlight { position: fixed; outline: 3px solid #f4a261; outline-offset: 2px; border-radius: 3px;
  background: rgba(244,162,97,.12); }
svg.annotations { position: fixed; inset: 0; width: 100vw; height: 100vh; overflow: visible; }
.apps { position: fixed; right: 12px; top: 12px; display: flex; flex-direction: column; gap: 10px;
  pointer-events: auto; max-height: calc(100vh - 90px); }
.app { width: min(400px, calc(100vw - 24px)); height: min(480px, calc(100vh - 100px)); display: flex;
  flex-direction: column; background: #fff; color: #111; border-radius: 10px; overflow: hidden;
  box-shadow: 0 8px 30px rgba(0,0,0,.4); font: 13px system-ui, sans-serif; }
.app header { padding: 6px 10px; background: #457b9d; color: #fff; }
.app iframe { flex: 1; border: 0; width: 100%; background: #fff; }
.app[data-state=held] { height: auto; }
.app[data-state=held] iframe { display: none; }
.app .held { display: none; padding: 8px 10px; }
.app[data-state=held] .held { display: block; }
"#;

/// What the visitor did in Baton's UI.
#[derive(Debug, Clone, PartialEq)]
pub enum UiAct {
    Stop,
    Consent {
        approve: bool,
        record: bool,
    },
    Grant(Vec<Scope>),
    DeclineControl,
    Revoke(Scope),
    /// The visitor's answer to a pushed URL's prompt, with the URL it showed.
    PushAnswer {
        push_id: String,
        url: String,
        accepted: bool,
    },
    /// The visitor closed a notice (e.g. an operator refused by policy).
    Dismiss,
}

/// What became of a pushed URL's prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushPrompt {
    Shown,
    /// A prompt for the same push id is open.
    AlreadyOpen,
    /// [`model::MAX_PUSH_PROMPTS`] are open.
    TooMany,
}

/// Where an app frame's events go: `(app id, event)`.
pub type AppEvents = Rc<dyn Fn(String, serde_json::Value)>;

struct AppFrame {
    panel: Element,
    iframe: HtmlIFrameElement,
    token: String,
    /// The fragment's second part, which the frame's `hello` carries.
    hello: String,
    app: App,
    /// The channel, once the frame answered `ready`.
    port: Option<web_sys::MessagePort>,
    /// Ports offered since the frame last loaded and not taken yet.
    offered: Vec<Offer>,
    /// Console events that came before the channel, in order (the page
    /// already counted them delivered).
    before_ready: Vec<serde_json::Value>,
    /// Loads that were offered a channel.
    tries: u32,
    /// Moves on at each load and each channel taken: an offer loop runs
    /// only within the round it began in, so one load's loop stops when the
    /// frame loads again or takes a port.
    round: u32,
    to_frame: Sequencer,
    from_frame: InOrder,
    /// The channel's listener.
    _on_port: Option<Closure<dyn FnMut(web_sys::MessageEvent)>>,
    _on_load: Closure<dyn FnMut()>,
}

/// A port offered to an app's frame.
struct Offer {
    port: web_sys::MessagePort,
    /// Whether the `init` went out on it (once the frame said `hello` there).
    sent: bool,
    _on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
}

impl Offer {
    fn is(&self, port: &web_sys::MessagePort) -> bool {
        JsValue::from(&self.port) == JsValue::from(port)
    }
}

/// A listener the overlay added: target, event, handler, capture.
type Listener = (web_sys::EventTarget, &'static str, Closure<dyn FnMut(Event)>, bool);

pub struct Overlay {
    doc: Document,
    host: Element,
    root: ShadowRoot,
    bar: Element,
    bar_text: Element,
    code: Element,
    scopes: Element,
    pointer: Element,
    highlight: Element,
    highlighted: RefCell<Option<web_sys::Node>>,
    annotations: Element,
    dialogs: Element,
    apps_box: Element,
    apps: RefCell<HashMap<String, AppFrame>>,
    app_events: AppEvents,
    observers: Vec<MutationObserver>,
    listeners: RefCell<Vec<Listener>>,
    _observe: Closure<dyn FnMut(js_sys::Array, MutationObserver)>,
    timers: RefCell<Vec<i32>>,
}

impl Overlay {
    pub fn mount(on_act: Rc<dyn Fn(UiAct)>, app_events: AppEvents) -> Option<Rc<Overlay>> {
        let win = web_sys::window()?;
        let doc = win.document()?;
        let html = doc.document_element()?;
        let host = doc.create_element("div").ok()?;
        let _ = host.set_attribute("data-baton-ui", HOST_MARK);
        let _ = host.set_attribute("popover", "manual");
        let init = web_sys::ShadowRootInit::new(web_sys::ShadowRootMode::Closed);
        let root = host.attach_shadow(&init).ok()?;
        let style = doc.create_element("style").ok()?;
        style.set_text_content(Some(CSS));
        let _ = root.append_child(&style);

        let el = |tag: &str, class: &str| -> Element {
            let e = doc.create_element(tag).unwrap_throw();
            if !class.is_empty() {
                e.set_class_name(class);
            }
            e
        };
        let annotations = doc.create_element_ns(Some(SVG_NS), "svg").ok()?;
        let _ = annotations.set_attribute("class", "annotations");
        let _ = annotations.set_attribute("data-baton-part", "annotations");
        let highlight = el("div", "highlight");
        part(&highlight, "highlight");
        hide(&highlight, true);
        let pointer = el("div", "pointer");
        part(&pointer, "pointer");
        hide(&pointer, true);
        let apps_box = el("div", "apps");
        let dialogs = el("div", "dialogs");

        let bar = el("div", "bar");
        part(&bar, "bar");
        let _ = bar.set_attribute("role", "status");
        let dot = el("span", "dot");
        let bar_text = el("span", "text");
        let code = el("span", "code");
        let scopes = el("span", "scopes");
        let stop = el("button", "stop");
        stop.set_text_content(Some("Stop sharing"));
        act(&stop, "stop");
        for child in [&dot, &bar_text, &code, &scopes, &stop] {
            let _ = bar.append_child(child);
        }
        for child in [&annotations, &highlight, &pointer, &apps_box, &dialogs, &bar] {
            let _ = root.append_child(child);
        }
        let _ = html.append_child(&host);
        raise(&host);

        // Put the host back whenever the page removes it or edits it.
        let watched = host.clone();
        let observe = Closure::<dyn FnMut(js_sys::Array, MutationObserver)>::new(move |_: js_sys::Array, _| {
            reattach(&watched);
        });
        let mut observers = Vec::new();
        let targets: [(web_sys::Node, bool); 3] =
            [(doc.clone().into(), false), (html.clone().into(), false), (host.clone().into(), true)];
        for (target, attributes) in targets {
            if let Ok(observer) = MutationObserver::new(observe.as_ref().unchecked_ref()) {
                let options = MutationObserverInit::new();
                if attributes {
                    options.set_attributes(true);
                } else {
                    options.set_child_list(true);
                }
                let _ = observer.observe_with_options(&target, &options);
                observers.push(observer);
            }
        }

        let overlay = Rc::new(Overlay {
            doc: doc.clone(),
            host,
            root: root.clone(),
            bar,
            bar_text,
            code,
            scopes,
            pointer,
            highlight,
            highlighted: RefCell::new(None),
            annotations,
            dialogs,
            apps_box,
            apps: RefCell::new(HashMap::new()),
            app_events,
            observers,
            listeners: RefCell::new(Vec::new()),
            _observe: observe,
            timers: RefCell::new(Vec::new()),
        });

        // The page never sees what happens in Baton's UI.
        let root_target: web_sys::EventTarget = root.clone().into();
        for name in [
            "click",
            "dblclick",
            "mousedown",
            "mouseup",
            "pointerdown",
            "pointerup",
            "keydown",
            "keyup",
            "keypress",
            "input",
            "change",
            "beforeinput",
            "focusin",
            "focusout",
            "contextmenu",
            "wheel",
            "submit",
        ] {
            overlay.listen(&root_target, name, false, |e| e.stop_propagation());
        }
        let me = Rc::downgrade(&overlay);
        overlay.listen(&root_target, "click", false, move |e| {
            if let Some(me) = me.upgrade() {
                if let Some(a) = me.act_of(&e) {
                    on_act(a);
                }
            }
        });
        let me = Rc::downgrade(&overlay);
        let on_scroll = move |_: Event| {
            if let Some(me) = me.upgrade() {
                me.clear_annotations();
                me.place_highlight();
            }
        };
        // Stay above what the page puts in the top layer later (its own
        // closed shadow roots' popovers included: `toggle` is not composed,
        // but the host's own closing is seen, and fullscreen is).
        let host = overlay.host.clone();
        overlay.listen(&win.clone().into(), "toggle", true, move |e| {
            let ours = e.target().is_some_and(|t| JsValue::from(t) == JsValue::from(&host));
            let opened = js_sys::Reflect::get(&e, &"newState".into()).ok().and_then(|s| s.as_string()).as_deref()
                == Some("open");
            if ours && !is_raised(&host) || !ours && opened {
                raise(&host);
            }
        });
        let host = overlay.host.clone();
        overlay.listen(&doc.clone().into(), "fullscreenchange", true, move |_| raise(&host));
        overlay.listen(&win.clone().into(), "scroll", true, on_scroll.clone());
        overlay.listen(&win.into(), "resize", false, on_scroll);
        Some(overlay)
    }

    fn listen(&self, target: &web_sys::EventTarget, name: &'static str, capture: bool, f: impl FnMut(Event) + 'static) {
        let f = Closure::<dyn FnMut(Event)>::new(f);
        let _ = target.add_event_listener_with_callback_and_bool(name, f.as_ref().unchecked_ref(), capture);
        self.listeners.borrow_mut().push((target.clone(), name, f, capture));
    }

    fn el(&self, tag: &str, class: &str) -> Element {
        let e = self.doc.create_element(tag).unwrap_throw();
        if !class.is_empty() {
            e.set_class_name(class);
        }
        e
    }

    fn text(&self, tag: &str, class: &str, text: &str) -> Element {
        let e = self.el(tag, class);
        e.set_text_content(Some(text));
        e
    }

    /// The action behind a click inside the shadow root.
    fn act_of(&self, event: &Event) -> Option<UiAct> {
        let target: Element = event.target()?.dyn_into().ok()?;
        let button = target.closest("[data-baton-act]").ok()??;
        let name = button.get_attribute("data-baton-act")?;
        let dialog = button.closest(".dialog").ok().flatten();
        let checked = |sel: &str| -> bool {
            dialog
                .as_ref()
                .and_then(|d| d.query_selector(sel).ok().flatten())
                .and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok())
                .is_some_and(|i| i.checked())
        };
        let close = || {
            if let Some(d) = &dialog {
                d.remove();
            }
        };
        let act = match name.as_str() {
            "stop" => UiAct::Stop,
            "allow" | "deny" => {
                let record = checked("[data-baton-act=record]");
                close();
                UiAct::Consent { approve: name == "allow", record: name == "allow" && record }
            }
            "grant" => {
                let scopes: Vec<Scope> = Scope::ALL
                    .into_iter()
                    .filter(|s| checked(&format!("[data-baton-act=scope-{}]", scope_name(*s))))
                    .collect();
                close();
                UiAct::Grant(scopes)
            }
            "notice-ok" => {
                close();
                UiAct::Dismiss
            }
            "decline" => {
                close();
                UiAct::DeclineControl
            }
            "push-open" | "push-decline" => {
                let push_id = dialog.as_ref()?.get_attribute("data-push-id")?;
                let url = dialog.as_ref()?.get_attribute("data-push-url")?;
                close();
                UiAct::PushAnswer { push_id, url, accepted: name == "push-open" }
            }
            other => {
                let scope = other.strip_prefix("revoke-")?;
                UiAct::Revoke(Scope::ALL.into_iter().find(|s| scope_name(*s) == scope)?)
            }
        };
        Some(act)
    }

    // ---- the bar and prompts ------------------------------------------------------

    /// The bar for `share`, with the scopes granted now.
    pub fn show_state(&self, share: &ShareView, scopes: &[Scope]) {
        let (state, code) = (share.state, share.code.as_str());
        let _ = self.bar.set_attribute("data-state", state_name(state));
        let recorded = share.recorded && state == SessionState::Active;
        let _ = self.bar.set_attribute("data-recorded", if recorded { "true" } else { "false" });
        let away = share.operator_away && state == SessionState::Active;
        let _ = self.bar.set_attribute("data-operator-away", if away { "true" } else { "false" });
        let ends_at = share.away_ends_at_ms.map(crate::chrome::local_time);
        let text = model::bar_text(state, "", share.operator.as_deref(), away.then_some(ends_at.as_deref()));
        let text = text.trim_end_matches([':', ' ']);
        self.bar_text.set_text_content(Some(&if recorded { format!("{text} · recorded") } else { text.to_owned() }));
        let waiting = state == SessionState::Waiting;
        self.code.set_text_content(Some(if waiting { code } else { "" }));
        hide(&self.code, !waiting);
        let names: Vec<&str> = scopes.iter().map(|s| scope_name(*s)).collect();
        let _ = self.bar.set_attribute("data-scopes", &names.join(" "));
        self.scopes.set_text_content(None);
        for scope in scopes {
            let chip = self.text("span", "scope", scope_label(*scope));
            let revoke = self.text("button", "", "✕");
            let _ = revoke.set_attribute("title", &format!("Revoke: {}", scope_label(*scope)));
            act(&revoke, &format!("revoke-{}", scope_name(*scope)));
            let _ = chip.append_child(&revoke);
            let _ = self.scopes.append_child(&chip);
        }
        if state != SessionState::AwaitingConsent {
            self.close_dialog("consent");
        }
    }

    /// The consent prompt; without a recording checkbox when the settings
    /// do not allow recording.
    pub fn ask_consent(&self, operator: &str, offer_recording: bool) {
        if self.dialog("consent").is_some() {
            return;
        }
        let d = self.new_dialog("consent");
        let _ = d.append_child(&self.text("h2", "", &format!("{operator} wants to view this tab")));
        let _ = d.append_child(&self.text(
            "p",
            "",
            "They will see this tab as you do, without passwords, card numbers or private fields. You can stop at any time.",
        ));
        if offer_recording {
            let label = self.el("label", "");
            let record = self.el("input", "");
            let _ = record.set_attribute("type", "checkbox");
            act(&record, "record");
            let _ = label.append_child(&record);
            let _ = label.append_child(&self.doc.create_text_node(" Allow recording of this session"));
            let _ = d.append_child(&label);
        }
        let row = self.el("div", "row");
        let deny = self.text("button", "", "Deny");
        act(&deny, "deny");
        let allow = self.text("button", "", "Allow");
        act(&allow, "allow");
        let _ = row.append_child(&deny);
        let _ = row.append_child(&allow);
        let _ = d.append_child(&row);
    }

    /// The control prompt: a toggle per scope the visitor may grant, and
    /// the requested scopes the organisation does not allow, without one.
    pub fn ask_control(&self, operator: &str, scopes: &[Scope], not_allowed: &[Scope]) {
        self.close_dialog("control");
        let d = self.new_dialog("control");
        let _ = d.append_child(&self.text("h2", "", &format!("{operator} asks to control this tab")));
        let _ =
            d.append_child(&self.text("p", "", "Choose what to allow. You can take it back from the bar at any time."));
        for scope in scopes {
            let label = self.el("label", "");
            let toggle = self.el("input", "");
            let _ = toggle.set_attribute("type", "checkbox");
            act(&toggle, &format!("scope-{}", scope_name(*scope)));
            let _ = label.append_child(&toggle);
            let _ = label.append_child(&self.doc.create_text_node(&format!(" {}", scope_label(*scope))));
            let _ = d.append_child(&label);
        }
        for scope in not_allowed {
            let line = self.text("p", "not-allowed", &format!("{} — {}", scope_label(*scope), model::NOT_ALLOWED));
            let _ = line.set_attribute("data-baton-not-allowed", scope_name(*scope));
            let _ = d.append_child(&line);
        }
        let row = self.el("div", "row");
        let decline = self.text("button", "", "Decline");
        act(&decline, "decline");
        let grant = self.text("button", "", "Allow selected");
        act(&grant, "grant");
        let _ = row.append_child(&decline);
        let _ = row.append_child(&grant);
        let _ = d.append_child(&row);
    }

    /// A message the visitor closes with OK.
    pub fn notice(&self, text: &str) {
        self.close_dialog("notice");
        let d = self.new_dialog("notice");
        let _ = d.append_child(&self.text("p", "", text));
        let row = self.el("div", "row");
        let ok = self.text("button", "", "OK");
        act(&ok, "notice-ok");
        let _ = row.append_child(&ok);
        let _ = d.append_child(&row);
    }

    /// Asks the visitor about a pushed URL, unless a prompt for `push_id`
    /// is already open (the id stays bound to the URL the visitor sees) or
    /// [`model::MAX_PUSH_PROMPTS`] are.
    pub fn ask_push_url(&self, operator: &str, push_id: &str, url: &str) -> PushPrompt {
        let open = self.push_dialogs();
        if open.iter().any(|d| d.get_attribute("data-push-id").as_deref() == Some(push_id)) {
            return PushPrompt::AlreadyOpen;
        }
        if open.len() >= model::MAX_PUSH_PROMPTS {
            return PushPrompt::TooMany;
        }
        let d = self.new_dialog("push");
        let _ = d.set_attribute("data-push-id", push_id);
        let _ = d.set_attribute("data-push-url", url);
        let _ = d.append_child(&self.text("h2", "", &format!("{operator} suggests opening a page")));
        let _ = d.append_child(&self.text("p", "", url));
        let row = self.el("div", "row");
        let no = self.text("button", "", "No thanks");
        act(&no, "push-decline");
        let open = self.text("button", "", "Open in a new tab");
        act(&open, "push-open");
        let _ = row.append_child(&no);
        let _ = row.append_child(&open);
        let _ = d.append_child(&row);
        PushPrompt::Shown
    }

    /// The open prompts for pushed URLs.
    fn push_dialogs(&self) -> Vec<Element> {
        let Ok(list) = self.root.query_selector_all("[data-baton-part=dialog-push]") else { return Vec::new() };
        (0..list.length()).filter_map(|i| list.get(i)?.dyn_into::<Element>().ok()).collect()
    }

    fn new_dialog(&self, kind: &str) -> Element {
        let d = self.el("div", "dialog");
        part(&d, &format!("dialog-{kind}"));
        let _ = d.set_attribute("role", "dialog");
        let _ = self.dialogs.append_child(&d);
        d
    }

    fn dialog(&self, kind: &str) -> Option<Element> {
        self.root.query_selector(&format!("[data-baton-part=dialog-{kind}]")).ok()?
    }

    pub fn close_dialog(&self, kind: &str) {
        while let Some(d) = self.dialog(kind) {
            d.remove();
        }
    }

    // ---- the operator's marks -------------------------------------------------

    pub fn pointer(&self, x: i32, y: i32) {
        hide(&self.pointer, false);
        let _ = self.pointer.set_attribute("style", &format!("transform: translate({x}px, {y}px)"));
    }

    pub fn ripple(self: &Rc<Self>, x: i32, y: i32) {
        let r = self.el("div", "ripple");
        part(&r, "ripple");
        let _ = r.set_attribute("style", &format!("left: {x}px; top: {y}px"));
        let _ = self.root.append_child(&r);
        let f = Closure::once_into_js(move || r.remove());
        if let Some(w) = web_sys::window() {
            if let Ok(t) = w.set_timeout_with_callback_and_timeout_and_arguments_0(f.unchecked_ref(), 700) {
                self.timers.borrow_mut().push(t);
            }
        }
    }

    pub fn highlight(&self, node: Option<web_sys::Node>) {
        *self.highlighted.borrow_mut() = node;
        self.place_highlight();
    }

    fn place_highlight(&self) {
        let element = self.highlighted.borrow().clone().and_then(|n| n.dyn_into::<Element>().ok());
        match element.filter(|e| e.is_connected()) {
            Some(e) => {
                let r = e.get_bounding_client_rect();
                let _ = self.highlight.set_attribute(
                    "style",
                    &format!(
                        "left: {}px; top: {}px; width: {}px; height: {}px",
                        r.left(),
                        r.top(),
                        r.width(),
                        r.height()
                    ),
                );
                hide(&self.highlight, false);
            }
            None => hide(&self.highlight, true),
        }
    }

    pub fn annotate(&self, points: &[(i32, i32)], color: &str) {
        let Ok(line) = self.doc.create_element_ns(Some(SVG_NS), "polyline") else { return };
        let _ = line.set_attribute("points", &model::svg_points(points));
        let _ = line.set_attribute("fill", "none");
        let _ = line.set_attribute("stroke", model::stroke_color(color));
        let _ = line.set_attribute("stroke-width", "3");
        let _ = line.set_attribute("stroke-linecap", "round");
        let _ = line.set_attribute("stroke-linejoin", "round");
        let _ = self.annotations.append_child(&line);
    }

    pub fn clear_annotations(&self) {
        self.annotations.set_text_content(None);
    }

    // ---- pushed apps ------------------------------------------------------------

    /// Shows an app in a sandboxed frame (scripts and forms, never the
    /// page's or the extension's origin).
    pub fn add_app(self: &Rc<Self>, app_id: &str, app: &App, src: &str, title: &str) {
        let panel = self.el("section", "app");
        let _ = panel.set_attribute("data-baton-app", app_id);
        let _ = panel.set_attribute("data-state", app_state_name(AppState::Pushed));
        let _ = panel.append_child(&self.text("header", "", title));
        let _ = panel.append_child(&self.text("div", "held", "On hold"));
        let Ok(iframe) = self.doc.create_element("iframe").map(|e| e.unchecked_into::<HtmlIFrameElement>()) else {
            return;
        };
        let _ = iframe.set_attribute("sandbox", "allow-scripts allow-forms");
        let _ = iframe.set_attribute("referrerpolicy", "no-referrer");
        let _ = iframe.set_attribute("allow", "");
        let (token, hello) = (random_token(), random_token());
        // `load` is not composed: the page cannot see it, nor stop it.
        let me = Rc::downgrade(self);
        let (id, frame_token) = (app_id.to_owned(), token.clone());
        let on_load = Closure::<dyn FnMut()>::new(move || {
            if let Some(me) = me.upgrade() {
                me.offer_until_taken(&id, &frame_token, 0);
            }
        });
        let _ = iframe.add_event_listener_with_callback("load", on_load.as_ref().unchecked_ref());
        iframe.set_src(&format!("{src}#{token}.{hello}"));
        let _ = panel.append_child(&iframe);
        let _ = self.apps_box.append_child(&panel);
        self.apps.borrow_mut().insert(
            app_id.to_owned(),
            AppFrame {
                panel,
                iframe,
                token,
                hello,
                app: app.clone(),
                port: None,
                offered: Vec::new(),
                before_ready: Vec::new(),
                tries: 0,
                round: 0,
                to_frame: Sequencer::default(),
                from_frame: InOrder::default(),
                _on_port: None,
                _on_load: on_load,
            },
        );
    }

    /// After the frame with `token` loaded: offers it a port at each of
    /// [`APP_OFFER_DELAYS_MS`] from `step` on, until it takes one or loads
    /// again (see `AppFrame::round`). A document that has its channel ignores
    /// offers, so only a new one (the frame loaded again) takes one.
    fn offer_until_taken(self: &Rc<Self>, app_id: &str, token: &str, step: usize) {
        let round = {
            let mut apps = self.apps.borrow_mut();
            match apps.get_mut(app_id) {
                Some(frame) if frame.token == token => {
                    if step == 0 {
                        // What was offered to the document before is of no use now.
                        frame.offered.retain(|o| {
                            if !o.sent {
                                o.port.close();
                            }
                            o.sent
                        });
                        // A frame that keeps loading gets offers only so often.
                        if frame.tries >= APP_INIT_TRIES {
                            return;
                        }
                        frame.tries += 1;
                        frame.round += 1;
                    }
                    frame.round
                }
                _ => return,
            }
        };
        self.offer_bare(app_id);
        let Some(&delay) = APP_OFFER_DELAYS_MS.get(step + 1) else { return };
        let me = Rc::downgrade(self);
        let (id, token) = (app_id.to_owned(), token.to_owned());
        let next = Closure::once_into_js(move || {
            let Some(me) = me.upgrade() else { return };
            let current = me.apps.borrow().get(&id).is_some_and(|f| f.token == token && f.round == round);
            if current {
                me.offer_until_taken(&id, &token, step + 1);
            }
        });
        if let Some(w) = web_sys::window() {
            let wait = delay - APP_OFFER_DELAYS_MS[step];
            if let Ok(t) = w.set_timeout_with_callback_and_timeout_and_arguments_0(next.unchecked_ref(), wait) {
                self.timers.borrow_mut().push(t);
            }
        }
    }

    /// Offers the frame a bare port ([`AppChannel::Offer`]): the `init` goes
    /// out on it once the frame says `hello` there. Only Baton reaches the
    /// frame, and the frame never posts to the page, so the page learns
    /// neither secret nor the frame's window (with which it could navigate
    /// the frame to a document of its own that says the `hello` it heard).
    fn offer_bare(self: &Rc<Self>, app_id: &str) {
        let mut apps = self.apps.borrow_mut();
        let Some(frame) = apps.get_mut(app_id) else { return };
        let (Ok(channel), Some(target)) = (web_sys::MessageChannel::new(), frame.iframe.content_window()) else {
            return;
        };
        let port = channel.port1();
        let me = Rc::downgrade(self);
        let id = app_id.to_owned();
        let this_port = port.clone();
        let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            if let Some(me) = me.upgrade() {
                me.on_app_message(&id, &this_port, e.data());
            }
        });
        port.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        let transfer = js_sys::Array::of1(&channel.port2());
        if let Some(message) = crate::chrome::to_js(&AppChannel::Offer) {
            let _ = target.post_message_with_transfer(&message, "*", &transfer);
        }
        frame.offered.push(Offer { port, sent: false, _on_message: on_message });
    }

    fn on_app_message(&self, app_id: &str, port: &web_sys::MessagePort, data: JsValue) {
        let Ok(raw) = crate::chrome::from_js::<serde_json::Value>(&data) else { return };
        let Some(message) = AppChannel::parse(&raw) else { return };
        let events = {
            let mut apps = self.apps.borrow_mut();
            let Some(frame) = apps.get_mut(app_id) else { return };
            match message {
                AppChannel::Hello { hello } if hello == frame.hello => {
                    let Some(k) = frame.offered.iter().position(|o| !o.sent && o.is(port)) else { return };
                    if let Some(old) = frame.port.take() {
                        // A document with its channel says no hello: this is
                        // the frame loaded again, and the old channel is dead.
                        old.close();
                        frame._on_port = None;
                        frame.to_frame = Sequencer::default();
                        frame.from_frame = InOrder::default();
                    }
                    frame.offered[k].sent = true;
                    let init = AppChannel::Init {
                        token: frame.token.clone(),
                        app_id: app_id.to_owned(),
                        app: frame.app.clone(),
                    };
                    post(port, &init);
                    return;
                }
                AppChannel::Ready if frame.port.is_none() && frame.offered.iter().any(|o| o.sent && o.is(port)) => {
                    frame.round += 1;
                    for offer in frame.offered.drain(..) {
                        if offer.is(port) {
                            frame._on_port = Some(offer._on_message);
                        } else {
                            offer.port.close();
                        }
                    }
                    frame.port = Some(port.clone());
                    let state = frame.panel.get_attribute("data-state").unwrap_or_default();
                    if state == "held" {
                        post(port, &AppChannel::State { state: AppState::Held });
                    }
                    for event in std::mem::take(&mut frame.before_ready) {
                        let seq = frame.to_frame.next_seq();
                        post(port, &AppChannel::Event { seq, event });
                    }
                    return;
                }
                AppChannel::Event { seq, event }
                    if frame.port.as_ref().is_some_and(|p| JsValue::from(p) == JsValue::from(port)) =>
                {
                    let held = frame.panel.get_attribute("data-state").as_deref() == Some("held");
                    frame.from_frame.accept_unless_held(seq, event, held)
                }
                _ => return,
            }
        };
        for event in events {
            (self.app_events)(app_id.to_owned(), event);
        }
    }

    /// An event from the console to the app, in order.
    pub fn to_app(&self, app_id: &str, event: serde_json::Value) {
        let mut apps = self.apps.borrow_mut();
        let Some(frame) = apps.get_mut(app_id) else { return };
        let Some(port) = frame.port.clone() else {
            // Sent on once the frame is ready.
            if frame.before_ready.len() < model::MAX_APP_EVENTS_BEFORE_READY {
                frame.before_ready.push(event);
            } else {
                crate::chrome::log("baton: too many events for an app that is not ready; one was dropped");
            }
            return;
        };
        let seq = frame.to_frame.next_seq();
        post(&port, &AppChannel::Event { seq, event });
    }

    pub fn set_app_state(&self, app_id: &str, state: AppState) {
        let mut apps = self.apps.borrow_mut();
        if state == AppState::Pulled {
            if let Some(frame) = apps.remove(app_id) {
                if let Some(port) = &frame.port {
                    port.close();
                }
                frame.panel.remove();
            }
            return;
        }
        if let Some(frame) = apps.get(app_id) {
            let _ = frame.panel.set_attribute("data-state", app_state_name(state));
            if let Some(port) = &frame.port {
                post(port, &AppChannel::State { state });
            }
        }
    }

    /// Removes everything: the host element, observers, listeners, timers.
    pub fn remove(&self) {
        for observer in &self.observers {
            observer.disconnect();
        }
        for (target, name, f, capture) in self.listeners.borrow_mut().drain(..) {
            let _ = target.remove_event_listener_with_callback_and_bool(name, f.as_ref().unchecked_ref(), capture);
        }
        if let Some(w) = web_sys::window() {
            for t in self.timers.borrow_mut().drain(..) {
                w.clear_timeout_with_handle(t);
            }
        }
        for (_, frame) in self.apps.borrow_mut().drain() {
            if let Some(port) = &frame.port {
                port.close();
            }
        }
        self.host.remove();
    }
}

fn post(port: &web_sys::MessagePort, message: &AppChannel) {
    if let Some(value) = crate::chrome::to_js(message) {
        let _ = port.post_message(&value);
    }
}

fn reattach(host: &Element) {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return };
    for name in host.get_attribute_names().iter().filter_map(|n| n.as_string()) {
        if name != "data-baton-ui" && name != "popover" {
            let _ = host.remove_attribute(&name);
        }
    }
    for (name, value) in [("data-baton-ui", HOST_MARK), ("popover", "manual")] {
        if host.get_attribute(name).as_deref() != Some(value) {
            let _ = host.set_attribute(name, value);
        }
    }
    let Some(html) = doc.document_element() else { return };
    let misplaced = host.parent_node().map(JsValue::from) != Some(JsValue::from(&html));
    if !host.is_connected() || misplaced {
        let _ = html.append_child(host);
    }
    if !is_raised(host) {
        raise(host);
    }
}

fn is_raised(host: &Element) -> bool {
    host.matches(":popover-open").unwrap_or(false)
}

/// Shows the host last in the top layer, above everything shown before.
fn raise(host: &Element) {
    let Some(h) = host.dyn_ref::<web_sys::HtmlElement>() else { return };
    if is_raised(host) {
        let _ = h.hide_popover();
    }
    let _ = h.show_popover();
}

fn part(e: &Element, name: &str) {
    let _ = e.set_attribute("data-baton-part", name);
}

fn act(e: &Element, name: &str) {
    let _ = e.set_attribute("data-baton-act", name);
}

fn hide(e: &Element, hidden: bool) {
    let _ = if hidden { e.set_attribute("hidden", "") } else { e.remove_attribute("hidden") };
}

/// 16 random bytes as hex, from `crypto.getRandomValues`.
fn random_token() -> String {
    let bytes = js_sys::Uint8Array::new_with_length(16);
    let crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into()).unwrap_or(JsValue::UNDEFINED);
    if let Ok(f) =
        js_sys::Reflect::get(&crypto, &"getRandomValues".into()).and_then(|f| f.dyn_into::<js_sys::Function>())
    {
        let _ = f.call1(&crypto, &bytes);
    }
    model::token_from(&bytes.to_vec())
}
