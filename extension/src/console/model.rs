//! The console's browser-free logic: session phases, granted scopes, the
//! pushed apps' state machine, pointer coalescing, fitting the visitor's
//! viewport into the console, and the operator's inputs (form fields,
//! allowed module origins).

use std::collections::{BTreeSet, HashSet};

use baton_shared::cobrowse::{App, AppField, AppState, Command, LiveApp, Role, Scope, SessionState, MASK_CHAR};
use baton_shared::limits::COMMAND_ANSWER_MS;
use baton_shared::native::LiveSession;

use super::url::{resolve, safe_url, scheme, Base, UrlUse};
use crate::cobrowse::visitor::model::{module_allowed, MAX_APP_EVENT_BYTES};
use crate::web::origin_of;

/// What `#console-state[data-state]` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The join form.
    Idle,
    Joining,
    /// Joined; the visitor has not approved yet.
    AwaitingConsent,
    /// Approved; the mirror waits for or shows the page.
    Active,
    Ended,
    Replay,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Joining => "joining",
            Self::AwaitingConsent => "awaiting-consent",
            Self::Active => "active",
            Self::Ended => "ended",
            Self::Replay => "replay",
        }
    }

    pub fn from_session(state: SessionState) -> Phase {
        match state {
            SessionState::Waiting | SessionState::AwaitingConsent => Self::AwaitingConsent,
            SessionState::Active => Self::Active,
            SessionState::Ended => Self::Ended,
        }
    }

    pub fn label(self, visitor: &str) -> String {
        match self {
            Self::Idle => "Not connected".into(),
            Self::Joining => "Joining…".into(),
            Self::AwaitingConsent => format!("Waiting for {visitor} to approve"),
            Self::Active => format!("Viewing {visitor}'s tab"),
            Self::Ended => "The session ended".into(),
            Self::Replay => "Replaying a recording".into(),
        }
    }
}

/// `data-scopes` of `#grants`: sorted, comma-separated.
pub fn scopes_attr(scopes: &[Scope]) -> String {
    let set: BTreeSet<&str> = scopes.iter().map(|s| scope_name(*s)).collect();
    set.into_iter().collect::<Vec<_>>().join(",")
}

pub fn scope_name(s: Scope) -> &'static str {
    match s {
        Scope::Scroll => "scroll",
        Scope::Click => "click",
        Scope::Type => "type",
        Scope::Navigate => "navigate",
    }
}

pub fn scope_from_name(s: &str) -> Option<Scope> {
    Scope::ALL.into_iter().find(|x| scope_name(*x) == s)
}

/// An app the operator configured or pushed.
#[derive(Debug, Clone, PartialEq)]
pub struct AppEntry {
    pub app_id: String,
    pub app: App,
    pub state: AppState,
    /// Why the visitor's side refused it.
    pub refused: Option<String>,
    /// Events sent to it (the last one's number).
    pub sent: u64,
}

/// An operator action on an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppAction {
    Push,
    Hold,
    Resume,
    Pull,
}

/// The next state for `action` from `state`, if allowed:
/// configure → pushed ↔ held → pulled.
pub fn app_transition(state: AppState, action: AppAction) -> Option<AppState> {
    match (state, action) {
        (AppState::Configure, AppAction::Push) => Some(AppState::Pushed),
        (AppState::Pushed, AppAction::Hold) => Some(AppState::Held),
        (AppState::Held, AppAction::Resume) => Some(AppState::Pushed),
        (AppState::Pushed | AppState::Held, AppAction::Pull) => Some(AppState::Pulled),
        _ => None,
    }
}

pub fn app_state_name(s: AppState) -> &'static str {
    match s {
        AppState::Configure => "configure",
        AppState::Pushed => "pushed",
        AppState::Held => "held",
        AppState::Pulled => "pulled",
    }
}

#[derive(Debug, Default)]
pub struct Apps {
    pub entries: Vec<AppEntry>,
    next: u64,
    /// The app events shown, by app and number: keyframes bring the
    /// visitor's latest events again, for a console that missed them.
    heard: HashSet<(String, u64)>,
}

impl Apps {
    /// Whether event `seq` of `app_id` is new here (and now heard).
    pub fn first_heard(&mut self, app_id: &str, seq: u64) -> bool {
        self.heard.insert((app_id.to_owned(), seq))
    }

    /// The events list starts over (a replay from its start).
    pub fn forget_heard(&mut self) {
        self.heard.clear();
    }

    /// A new app in `configure`; returns its id.
    pub fn configure(&mut self, app: App, now_ms: i64) -> String {
        self.next += 1;
        let app_id = format!("app-{now_ms:x}-{}", self.next);
        self.entries.push(AppEntry { app_id: app_id.clone(), app, state: AppState::Configure, refused: None, sent: 0 });
        app_id
    }

    pub fn get(&self, app_id: &str) -> Option<&AppEntry> {
        self.entries.iter().find(|e| e.app_id == app_id)
    }

    /// The operator acts: the new state if the action is allowed.
    pub fn act(&mut self, app_id: &str, action: AppAction) -> Option<AppState> {
        let e = self.entries.iter_mut().find(|e| e.app_id == app_id)?;
        let next = app_transition(e.state, action)?;
        e.state = next;
        Some(next)
    }

    /// The visitor's side reports a state: it is authoritative.
    pub fn visitor_state(&mut self, app_id: &str, state: AppState) -> bool {
        match self.entries.iter_mut().find(|e| e.app_id == app_id) {
            Some(e) => {
                e.state = state;
                true
            }
            None => false,
        }
    }

    /// The visitor's list of the apps in the page (sent with keyframes):
    /// apps this console did not know are taken on, and those it thought
    /// live but the page no longer has are pulled.
    pub fn in_page(&mut self, live: Vec<LiveApp>) {
        for e in &mut self.entries {
            if matches!(e.state, AppState::Pushed | AppState::Held) && !live.iter().any(|l| l.app_id == e.app_id) {
                e.state = AppState::Pulled;
            }
        }
        for l in live {
            match self.entries.iter_mut().find(|e| e.app_id == l.app_id) {
                Some(e) => {
                    e.state = l.state;
                    e.sent = e.sent.max(l.console_events);
                }
                None => self.entries.push(AppEntry {
                    app_id: l.app_id,
                    app: l.app,
                    state: l.state,
                    refused: None,
                    sent: l.console_events,
                }),
            }
        }
    }

    /// The visitor's side answered a push of an app; `false` if it is not
    /// one of this console's apps (a URL push).
    pub fn answered(&mut self, push_id: &str, accepted: bool, refused: Option<String>) -> bool {
        match self.entries.iter_mut().find(|e| e.app_id == push_id) {
            Some(e) => {
                if !accepted {
                    e.state = AppState::Pulled;
                    e.refused = Some(refused.unwrap_or_else(|| "not allowed there".to_owned()));
                }
                true
            }
            None => false,
        }
    }

    /// The app whose state `#app-state` shows: the latest one.
    pub fn current(&self) -> Option<&AppEntry> {
        self.entries.last()
    }

    /// The operator's text as the next event for the current app: its id,
    /// the event's number and the event. Only a pushed app takes events.
    pub fn event_to_send(&mut self, text: &str) -> Result<(String, u64, serde_json::Value), AppProblem> {
        let event: serde_json::Value = serde_json::from_str(text.trim()).map_err(|_| AppProblem::NotJson)?;
        if event.to_string().len() > MAX_APP_EVENT_BYTES {
            return Err(AppProblem::TooLarge);
        }
        let app = self.entries.last_mut().filter(|e| e.state == AppState::Pushed).ok_or(AppProblem::NotLive)?;
        app.sent += 1;
        Ok((app.app_id.clone(), app.sent, event))
    }
}

/// Why an app cannot be pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppProblem {
    BadUrl,
    NotAllowedOrigin(String),
    NoFields,
    Empty,
    NotJson,
    TooLarge,
    NotLive,
}

impl std::fmt::Display for AppProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadUrl => f.write_str("Enter an http(s) address"),
            Self::NotAllowedOrigin(o) => {
                write!(f, "{o} is not among the sites this device lets operators open apps from (Baton's options)")
            }
            Self::NoFields => f.write_str("Add at least one field, one per line: Label = value"),
            Self::Empty => f.write_str("Fill in the app first"),
            Self::NotJson => f.write_str(
                "An event for the app is JSON, e.g. {\"type\": \"set\", \"name\": \"city\", \"value\": \"Lyon\"}",
            ),
            Self::TooLarge => write!(f, "An event for the app is at most {} KB", MAX_APP_EVENT_BYTES / 1024),
            Self::NotLive => f.write_str("Only a pushed app (not held or pulled) takes events"),
        }
    }
}

/// Checks a viewer app: the document or image must be http(s) or a data: image.
pub fn viewer_app(url: &str, title: &str) -> Result<App, AppProblem> {
    let url = safe_url(&Base::none(), url.trim(), UrlUse::Image).ok_or(AppProblem::BadUrl)?;
    Ok(App::Viewer { url, title: title.trim().to_owned() })
}

/// Checks a module app against the allowed origins, with the same rule the
/// visitor's side applies before loading it.
pub fn module_app(url: &str, allowed: &[String]) -> Result<App, AppProblem> {
    let url = url.trim();
    let origin = origin_of(url).ok_or(AppProblem::BadUrl)?;
    if !module_allowed(url, allowed) {
        return Err(AppProblem::NotAllowedOrigin(origin));
    }
    Ok(App::Module { url: url.to_owned() })
}

/// Form fields from the operator's text, one per line: `Label = value`
/// (`= value` optional). Names are derived from labels.
pub fn form_app(title: &str, text: &str) -> Result<App, AppProblem> {
    let mut fields: Vec<AppField> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (label, value) = match line.split_once('=') {
            Some((l, v)) => (l.trim(), v.trim()),
            None => (line, ""),
        };
        if label.is_empty() {
            continue;
        }
        let mut name: String = label
            .chars()
            .map(|c| if c.is_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
            .collect::<String>()
            .trim_matches('_')
            .to_owned();
        if name.is_empty() {
            name = "field".into();
        }
        let base = name.clone();
        let mut n = 2;
        while fields.iter().any(|f| f.name == name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        fields.push(AppField { name, label: label.to_owned(), value: value.to_owned() });
    }
    if fields.is_empty() {
        return Err(AppProblem::NoFields);
    }
    Ok(App::Form { title: title.trim().to_owned(), fields })
}

/// A URL the operator typed for navigation or a push: absolute http(s)
/// (a bare host gets `https://`).
pub fn operator_url(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let candidate = if scheme(raw).is_some() { raw.to_owned() } else { format!("https://{raw}") };
    let url = resolve("about:blank", &candidate)?;
    origin_of(&url).map(|_| url)
}

/// Sends the operator's pointer at most once per `interval_ms`, always
/// ending with the last position.
#[derive(Debug, Default)]
pub struct Coalescer {
    last_sent_ms: Option<i64>,
    pending: Option<(i32, i32)>,
    last_value: Option<(i32, i32)>,
}

pub const POINTER_INTERVAL_MS: i64 = 30;

impl Coalescer {
    /// A new position: `Some` to send now, else it waits for [`flush`](Self::flush).
    pub fn push(&mut self, p: (i32, i32), now_ms: i64) -> Option<(i32, i32)> {
        if self.last_value == Some(p) {
            return None;
        }
        match self.last_sent_ms {
            Some(t) if now_ms - t < POINTER_INTERVAL_MS => {
                self.pending = Some(p);
                None
            }
            _ => {
                self.last_sent_ms = Some(now_ms);
                self.pending = None;
                self.last_value = Some(p);
                Some(p)
            }
        }
    }

    /// Milliseconds until a pending position is due, if one waits.
    pub fn due_in(&self, now_ms: i64) -> Option<i64> {
        self.pending?;
        Some((self.last_sent_ms.unwrap_or(now_ms) + POINTER_INTERVAL_MS - now_ms).max(0))
    }

    pub fn flush(&mut self, now_ms: i64) -> Option<(i32, i32)> {
        let p = self.pending.take()?;
        self.last_sent_ms = Some(now_ms);
        self.last_value = Some(p);
        Some(p)
    }
}

/// The scale that fits a `viewport` into `stage` (never enlarging).
pub fn fit_scale(viewport: (u32, u32), stage: (f64, f64)) -> f64 {
    let (w, h) = (viewport.0.max(1) as f64, viewport.1.max(1) as f64);
    let s = (stage.0 / w).min(stage.1 / h).min(1.0);
    if s.is_finite() && s > 0.0 {
        s
    } else {
        1.0
    }
}

/// A point on the scaled stage → the visitor's viewport coordinates.
pub fn to_viewport(x: f64, y: f64, scale: f64) -> (i32, i32) {
    ((x / scale).round() as i32, (y / scale).round() as i32)
}

/// One line of the app event log.
pub fn event_line(app_id: &str, seq: u64, event: &serde_json::Value) -> String {
    let mut text = event.to_string();
    if text.len() > 300 {
        let mut cut = 300;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    format!("{app_id} #{seq}: {text}")
}

/// What kind of field a mirror element is, for the operator's typing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// A password input: the visitor's side never types or clicks there.
    Password,
    /// Something the visitor's side types into (the input types its
    /// `control::type_text` accepts, or a textarea).
    Text,
    /// A text field whose value the mirror shows masked: neither the site
    /// nor the organisation marked it safe, so the visitor's side refuses
    /// to act on it. (An empty masked field looks like [`Field::Text`]
    /// here; the visitor's side refuses it all the same.)
    Masked,
    Other,
}

/// The field kind of an element named `local_name` with `type` attribute `kind`.
pub fn field_kind(local_name: &str, kind: Option<&str>) -> Field {
    let kind = kind.map(|k| k.trim().to_ascii_lowercase()).unwrap_or_default();
    match local_name {
        "input" if kind == "password" => Field::Password,
        "input" if matches!(kind.as_str(), "" | "text" | "search" | "email" | "url" | "tel" | "number") => Field::Text,
        "textarea" => Field::Text,
        _ => Field::Other,
    }
}

/// Whether a field's value, as the mirror shows it, is a mask: capture
/// replaced every character with [`MASK_CHAR`].
pub fn shows_masked(value: &str) -> bool {
    !value.is_empty() && value.chars().all(|c| c == MASK_CHAR)
}

/// The element under the operator's click in Point mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Control may target it (not masked, private or a password).
    pub actionable: bool,
    pub field: Field,
}

/// What a click in Point mode does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointClick {
    /// A pointer gesture only (nothing under it, or nothing granted to act).
    Nothing,
    /// Click it in the visitor's page (`command` refuses it, saying why,
    /// without the Click scope).
    Click,
    /// Pick it as the field to type into: Type is granted, Click is not, so
    /// a click would only be refused.
    SelectField,
    /// Refused here: a password field.
    Password,
    /// Refused here: a field whose value is masked (not marked safe).
    MaskedField,
    /// Refused here: a private or masked part of the page.
    Private,
}

/// Decides a Point-mode click. Refusals are only reported once the operator
/// may act at all (Click or Type granted); before that a click on the page
/// is either a pointer gesture or, on something clickable, the refused
/// click that tells the operator to ask for the scope.
pub fn point_click(hit: Option<Hit>, grants: &[Scope]) -> PointClick {
    let Some(hit) = hit else { return PointClick::Nothing };
    let click = grants.contains(&Scope::Click);
    let may_act = click || grants.contains(&Scope::Type);
    match hit {
        Hit { field: Field::Password, .. } if may_act => PointClick::Password,
        Hit { field: Field::Masked, .. } if may_act => PointClick::MaskedField,
        Hit { actionable: false, .. } if may_act => PointClick::Private,
        Hit { actionable: false, .. } => PointClick::Nothing,
        _ if click => PointClick::Click,
        Hit { field: Field::Text, .. } if grants.contains(&Scope::Type) => PointClick::SelectField,
        _ => PointClick::Click,
    }
}

/// Why the operator may not act on a field shown masked.
pub const MASKED_FIELD: &str =
    "That field is masked: Baton acts only on fields the site or your organization marks safe; ask the visitor to type it";

/// Why typing into the selected element is refused before anything is
/// sent, if it is.
pub fn type_refusal(selected: Option<Hit>, text: &str) -> Option<&'static str> {
    match selected {
        None => Some("Click a field in the page first"),
        Some(Hit { field: Field::Password, .. }) => Some("Baton never types into password fields: ask the visitor to type it"),
        Some(Hit { field: Field::Masked, .. }) => {
            Some("That field is masked: Baton types only into fields the site or your organization marks safe; ask the visitor to type it")
        }
        Some(Hit { actionable: false, .. }) => Some("That field is private: Baton does not type into it"),
        Some(_) if text.is_empty() => Some("Enter the text to type"),
        Some(_) => None,
    }
}

/// What the console says about a command while it runs and when its
/// result comes back.
pub fn command_label(command: &Command) -> String {
    match command {
        Command::Click { .. } => "Click".into(),
        Command::TypeText { text, .. } => format!("Typing {} characters", text.chars().count()),
        Command::ScrollTo { .. } => "Scroll".into(),
        Command::Navigate { url } => format!("Opening {url}"),
    }
}

/// The text of `#command-result` for a command's result.
pub fn result_text(label: Option<&str>, cmd_id: u64, ok: bool, error: Option<&str>) -> String {
    let what = label.map(str::to_owned).unwrap_or_else(|| format!("Command {cmd_id}"));
    match (ok, error) {
        (true, _) => format!("{what}: done"),
        (false, Some(e)) => format!("{what}: refused in the visitor's page — {e}"),
        (false, None) => format!("{what}: refused in the visitor's page"),
    }
}

/// Commands sent to the visitor's page and not answered yet, oldest first:
/// their labels word the answers, and each one unanswered for
/// [`COMMAND_ANSWER_MS`] is reported once, since a command lost with a
/// dropped connection is not sent again.
#[derive(Debug, Default)]
pub struct PendingCommands(Vec<PendingCommand>);

#[derive(Debug)]
struct PendingCommand {
    id: u64,
    label: String,
    sent_ms: i64,
    reported: bool,
}

impl PendingCommands {
    /// Commands kept at most; the oldest go first (their answer is then
    /// worded by number).
    const MAX: usize = 32;

    pub fn sent(&mut self, id: u64, label: String, now_ms: i64) {
        if self.0.len() >= Self::MAX {
            self.0.remove(0);
        }
        self.0.push(PendingCommand { id, label, sent_ms: now_ms, reported: false });
    }

    /// The answered command's label, if it is still kept.
    pub fn answered(&mut self, id: u64) -> Option<String> {
        let i = self.0.iter().position(|c| c.id == id)?;
        Some(self.0.remove(i).label)
    }

    /// Labels of the commands unanswered for [`COMMAND_ANSWER_MS`], each
    /// once; a late answer still finds its label.
    pub fn overdue(&mut self, now_ms: i64) -> Vec<String> {
        let limit = i64::from(COMMAND_ANSWER_MS);
        self.0
            .iter_mut()
            .filter(|c| !c.reported && now_ms - c.sent_ms >= limit)
            .map(|c| {
                c.reported = true;
                c.label.clone()
            })
            .collect()
    }
}

pub fn unanswered_text(label: &str) -> String {
    format!("{label}: no answer from the visitor's page yet; it may have been lost — try again if nothing happened")
}

/// The note shown when the server stopped recording at its cap.
/// Which of the host's live sessions a console that just opened takes on:
/// the one this tab showed before a reload (`remembered`), else the only
/// one this device operates that no other console page shows (`shown`): a
/// console closed by mistake. A new tab next to one showing a session
/// stays free to join another visitor.
pub fn session_to_resume(
    sessions: Vec<LiveSession>,
    remembered: Option<&str>,
    shown: &[String],
) -> Option<LiveSession> {
    let mut mine: Vec<_> =
        sessions.into_iter().filter(|s| s.role == Role::Operator && s.state != SessionState::Ended).collect();
    if let Some(i) = remembered.and_then(|id| mine.iter().position(|s| s.session_id == id)) {
        return Some(mine.swap_remove(i));
    }
    mine.retain(|s| !shown.contains(&s.session_id));
    if mine.len() == 1 {
        mine.pop()
    } else {
        None
    }
}

fn size_text(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

pub fn recording_stopped_text(max_bytes: u64) -> String {
    let size = size_text(max_bytes);
    format!("Recording stopped: this session reached the recording limit ({size}). The live session goes on.")
}

/// The visitor's side could not send part of the page (`VisitorFrame::TooLarge`).
pub fn too_large_text(bytes: u64) -> String {
    let size = size_text(bytes);
    format!("Part of the visitor's page is too large to send ({size}) and is missing from this view.")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_visitors_list_of_apps_is_taken_on() {
        use super::{AppEntry, Apps};
        use baton_shared::cobrowse::{App, AppState, LiveApp};
        let viewer = App::Viewer { url: "https://docs.example/a.pdf".into(), title: "Guide".into() };
        let mut apps = Apps::default();
        let mine = apps.configure(viewer.clone(), 1);
        let gone = apps.configure(viewer.clone(), 2);
        apps.act(&gone, super::AppAction::Push).unwrap();
        apps.in_page(vec![LiveApp {
            app_id: "theirs".into(),
            app: viewer.clone(),
            state: AppState::Held,
            console_events: 0,
        }]);
        let states: Vec<_> = apps.entries.iter().map(|e: &AppEntry| (e.app_id.as_str(), e.state)).collect();
        assert_eq!(
            states,
            [(mine.as_str(), AppState::Configure), (gone.as_str(), AppState::Pulled), ("theirs", AppState::Held)],
            "configured apps stay, missing live ones are pulled, new ones are taken on"
        );
        assert_eq!(apps.current().map(|e| e.app.clone()), Some(viewer));
        apps.in_page(vec![]);
        assert_eq!(apps.get("theirs").map(|e| e.state), Some(AppState::Pulled));
    }

    #[test]
    fn a_console_resumes_its_own_session_or_the_only_one() {
        use baton_shared::cobrowse::{Role, SessionState};
        use baton_shared::native::LiveSession;
        let live = |id: &str, role: Role, state: SessionState| LiveSession {
            session_id: id.into(),
            role,
            peer_name: None,
            state,
            peer_present: true,
            peer_away_ends_at_ms: None,
            recording_stopped: None,
        };
        let pick = |sessions: Vec<LiveSession>, remembered: Option<&str>| {
            super::session_to_resume(sessions, remembered, &[]).map(|s| s.session_id)
        };
        let a = live("a", Role::Operator, SessionState::Active);
        let b = live("b", Role::Operator, SessionState::AwaitingConsent);
        let shared = live("v", Role::Visitor, SessionState::Active);
        let ended = live("e", Role::Operator, SessionState::Ended);
        assert_eq!(pick(vec![shared.clone(), a.clone(), ended.clone()], None).as_deref(), Some("a"));
        assert_eq!(pick(vec![a.clone(), b.clone()], Some("b")).as_deref(), Some("b"));
        assert_eq!(pick(vec![a.clone(), b.clone()], None), None, "another tab's session");
        assert_eq!(pick(vec![a.clone(), b], Some("gone")), None);
        assert_eq!(pick(vec![shared, ended], None), None);
        assert_eq!(pick(vec![a.clone()], Some("gone")).as_deref(), Some("a"));
        // Another console page shows it: a new tab stays free; its own tab takes it back.
        let shown = ["a".to_owned()];
        assert_eq!(super::session_to_resume(vec![a.clone()], None, &shown), None);
        assert_eq!(super::session_to_resume(vec![a], Some("a"), &shown).map(|s| s.session_id).as_deref(), Some("a"));
    }

    #[test]
    fn recording_stopped_names_the_limit() {
        assert!(super::recording_stopped_text(256 << 20).contains("(256 MiB)"));
        assert!(super::recording_stopped_text(20).contains("(20 bytes)"));
        assert!(super::too_large_text(70 << 20).contains("too large to send (70 MiB)"));
    }

    use super::*;

    #[test]
    fn scopes_are_listed_in_order() {
        assert_eq!(scopes_attr(&[Scope::Type, Scope::Click, Scope::Click]), "click,type");
        assert_eq!(scopes_attr(&[]), "");
        assert_eq!(scope_from_name("navigate"), Some(Scope::Navigate));
    }

    #[test]
    fn app_states_follow_the_machine() {
        let mut apps = Apps::default();
        let id = apps.configure(App::Viewer { url: "https://a/b.pdf".into(), title: "B".into() }, 5);
        assert_eq!(apps.act(&id, AppAction::Hold), None, "not pushed yet");
        assert_eq!(apps.act(&id, AppAction::Push), Some(AppState::Pushed));
        assert_eq!(apps.act(&id, AppAction::Push), None);
        assert_eq!(apps.act(&id, AppAction::Hold), Some(AppState::Held));
        assert_eq!(apps.act(&id, AppAction::Resume), Some(AppState::Pushed));
        assert_eq!(apps.act(&id, AppAction::Pull), Some(AppState::Pulled));
        assert_eq!(apps.act(&id, AppAction::Resume), None, "pulled is final");
        assert!(apps.visitor_state(&id, AppState::Held));
        assert_eq!(apps.current().unwrap().state, AppState::Held);
        assert!(apps.answered(&id, false, Some("apps from https://x are not allowed there".into())));
        assert_eq!(apps.current().unwrap().state, AppState::Pulled);
        assert_eq!(apps.current().unwrap().refused.as_deref(), Some("apps from https://x are not allowed there"));
        assert!(!apps.answered("url-1", false, None), "a URL push is not an app");
        assert!(!apps.visitor_state("nope", AppState::Held));
    }

    #[test]
    fn apps_are_checked() {
        assert!(viewer_app("https://docs.example/a.pdf", " A ").is_ok());
        assert!(viewer_app("data:image/png;base64,AA", "").is_ok());
        assert_eq!(viewer_app("javascript:alert(1)", ""), Err(AppProblem::BadUrl));
        assert_eq!(viewer_app("data:text/html,x", ""), Err(AppProblem::BadUrl));
        let allowed = &["https://widgets.example".to_owned()];
        assert!(module_app("https://widgets.example/calc.html", allowed).is_ok());
        assert_eq!(
            module_app("https://evil.example/x", allowed),
            Err(AppProblem::NotAllowedOrigin("https://evil.example".into()))
        );
        assert_eq!(module_app("https://widgets.example@evil.example/", allowed), Err(AppProblem::BadUrl));
        match form_app("Claim", "Name = Ada\nPolicy number\n\nName = again").unwrap() {
            App::Form { fields, .. } => {
                assert_eq!(fields.len(), 3);
                assert_eq!((fields[0].name.as_str(), fields[0].value.as_str()), ("name", "Ada"));
                assert_eq!(fields[1].name, "policy_number");
                assert_eq!(fields[2].name, "name_2");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(form_app("x", "  \n"), Err(AppProblem::NoFields));
        let mut apps = Apps::default();
        assert_eq!(apps.event_to_send("{}"), Err(AppProblem::NotLive));
        let id = apps.configure(App::Module { url: "https://widgets.example/a".into() }, 1);
        assert_eq!(apps.event_to_send("{}"), Err(AppProblem::NotLive), "configured, not pushed");
        apps.act(&id, AppAction::Push);
        assert_eq!(apps.event_to_send("{ping"), Err(AppProblem::NotJson));
        assert_eq!(apps.event_to_send(&format!("{:?}", "x".repeat(MAX_APP_EVENT_BYTES))), Err(AppProblem::TooLarge));
        assert_eq!(apps.event_to_send(r#" {"ping": 1} "#), Ok((id.clone(), 1, serde_json::json!({"ping": 1}))));
        assert_eq!(apps.event_to_send("2").map(|e| e.1), Ok(2));
        // A reopened console learns how far the page got and numbers on.
        let live = |n| LiveApp {
            app_id: id.clone(),
            app: App::Module { url: "https://widgets.example/a".into() },
            state: AppState::Pushed,
            console_events: n,
        };
        apps.in_page(vec![live(5)]);
        assert_eq!(apps.event_to_send("3").map(|e| e.1), Ok(6));
        apps.in_page(vec![live(1)]);
        assert_eq!(apps.event_to_send("4").map(|e| e.1), Ok(7), "never back");
        assert!(module_app("http://widgets.example/x", allowed).is_err(), "https only");
    }

    #[test]
    fn operator_urls() {
        assert_eq!(operator_url("example.com/help").unwrap(), "https://example.com/help");
        assert_eq!(operator_url("http://a.example").unwrap(), "http://a.example");
        assert_eq!(operator_url("javascript:alert(1)"), None);
        assert_eq!(operator_url(""), None);
    }

    #[test]
    fn pointer_is_coalesced() {
        let mut c = Coalescer::default();
        assert_eq!(c.push((1, 1), 0), Some((1, 1)));
        assert_eq!(c.push((2, 2), 10), None);
        assert_eq!(c.push((3, 3), 20), None);
        assert_eq!(c.due_in(20), Some(10));
        assert_eq!(c.flush(30), Some((3, 3)));
        assert_eq!(c.flush(31), None);
        assert_eq!(c.push((3, 3), 100), None, "unchanged");
        assert_eq!(c.push((4, 4), 100), Some((4, 4)));
    }

    #[test]
    fn fitting() {
        assert_eq!(fit_scale((1000, 500), (500.0, 500.0)), 0.5);
        assert_eq!(fit_scale((100, 100), (500.0, 500.0)), 1.0);
        assert_eq!(to_viewport(50.0, 25.0, 0.5), (100, 50));
        assert!(event_line("a", 1, &serde_json::json!({"k": "x".repeat(400)})).ends_with('…'));
    }

    #[test]
    fn phases() {
        assert_eq!(Phase::from_session(SessionState::Active).as_str(), "active");
        assert_eq!(Phase::from_session(SessionState::AwaitingConsent).as_str(), "awaiting-consent");
    }

    #[test]
    fn point_clicks() {
        let text = Some(Hit { actionable: true, field: Field::Text });
        let button = Some(Hit { actionable: true, field: Field::Other });
        let password = Some(Hit { actionable: false, field: Field::Password });
        let private = Some(Hit { actionable: false, field: Field::Other });
        let masked = Some(Hit { actionable: false, field: Field::Masked });
        assert_eq!(point_click(masked, &[]), PointClick::Nothing);
        assert_eq!(point_click(masked, &[Scope::Type]), PointClick::MaskedField);
        assert_eq!(point_click(masked, &[Scope::Click]), PointClick::MaskedField);
        // Nothing granted: clickable things are refused clicks, the rest gestures.
        assert_eq!(point_click(button, &[]), PointClick::Click);
        assert_eq!(point_click(password, &[]), PointClick::Nothing);
        assert_eq!(point_click(private, &[]), PointClick::Nothing);
        assert_eq!(point_click(None, &[Scope::Click]), PointClick::Nothing);
        // Type only: a text field is selected, not clicked.
        assert_eq!(point_click(text, &[Scope::Type]), PointClick::SelectField);
        assert_eq!(point_click(button, &[Scope::Type]), PointClick::Click);
        assert_eq!(point_click(password, &[Scope::Type]), PointClick::Password);
        assert_eq!(point_click(private, &[Scope::Type]), PointClick::Private);
        // Click granted: clicked, fields included.
        assert_eq!(point_click(text, &[Scope::Click, Scope::Type]), PointClick::Click);
        assert_eq!(point_click(password, &[Scope::Click]), PointClick::Password);
    }

    #[test]
    fn fields_and_typing() {
        assert_eq!(field_kind("input", Some(" PassWord ")), Field::Password);
        assert_eq!(field_kind("input", None), Field::Text);
        assert_eq!(field_kind("input", Some("email")), Field::Text);
        assert_eq!(field_kind("input", Some("checkbox")), Field::Other);
        assert_eq!(field_kind("textarea", None), Field::Text);
        assert_eq!(field_kind("div", Some("password")), Field::Other);
        let text = Some(Hit { actionable: true, field: Field::Text });
        assert_eq!(type_refusal(text, "abc"), None);
        assert!(type_refusal(text, "").is_some());
        assert!(type_refusal(None, "abc").is_some());
        assert!(type_refusal(Some(Hit { actionable: false, field: Field::Password }), "abc")
            .unwrap()
            .contains("password"));
        assert!(type_refusal(Some(Hit { actionable: false, field: Field::Text }), "abc").unwrap().contains("private"));
        assert!(type_refusal(Some(Hit { actionable: false, field: Field::Masked }), "abc").unwrap().contains("masked"));
        assert!(shows_masked("***"));
        assert!(!shows_masked("") && !shows_masked("a*") && !shows_masked("abc"));
    }

    #[test]
    fn command_results_name_the_command() {
        let nav = command_label(&Command::Navigate { url: "https://example.com/next".into() });
        assert_eq!(result_text(Some(&nav), 3, true, None), "Opening https://example.com/next: done");
        assert_eq!(
            result_text(None, 4, false, Some("not granted")),
            "Command 4: refused in the visitor's page — not granted"
        );
    }

    #[test]
    fn an_unanswered_command_is_reported_once_and_a_late_answer_keeps_its_label() {
        let mut pending = PendingCommands::default();
        pending.sent(1, "Click".into(), 0);
        pending.sent(2, "Scroll".into(), 5_000);
        assert!(pending.overdue(9_999).is_empty());
        assert_eq!(pending.overdue(10_000), ["Click"]);
        assert!(pending.overdue(12_000).is_empty(), "reported once");
        assert_eq!(pending.answered(2).as_deref(), Some("Scroll"));
        assert!(pending.overdue(20_000).is_empty(), "answered in time");
        assert_eq!(pending.answered(1).as_deref(), Some("Click"), "a late answer");
        assert_eq!(pending.answered(1), None);
        for id in 10..50 {
            pending.sent(id, format!("Type {id}"), 0);
        }
        assert_eq!(pending.answered(10), None, "the oldest went");
        assert_eq!(pending.answered(49).as_deref(), Some("Type 49"));
    }
}
