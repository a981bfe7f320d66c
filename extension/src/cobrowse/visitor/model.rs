//! The visitor's rules, without a browser: which scopes the operator holds,
//! whether a command may run, which URLs may open or load, the life of a
//! pushed app, and the ordering of app events. Everything the operator sends
//! is outside input and is checked here before the page is touched.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use baton_shared::cobrowse::{App, AppState, Command, LiveApp, NodeId, Scope, SessionState, WINDOW};

use crate::web::{app_origin_ok, origin_of, web_url};

/// The longest text a `type_text` command may type.
pub const MAX_TYPED_CHARS: usize = 10_000;

/// The largest app event (serialised JSON) passed either way.
pub const MAX_APP_EVENT_BYTES: usize = 64 * 1024;

/// Out-of-order app events held while an earlier one is missing.
pub const MAX_APP_EVENTS_WAITING: usize = 64;

/// Apps live in the page at once (each is a frame and its channel);
/// further pushes are refused until one is pulled.
pub const MAX_LIVE_APPS: usize = 8;

/// Prompts for pushed URLs open in the page at once; further pushes are
/// refused until the visitor answers one.
pub const MAX_PUSH_PROMPTS: usize = 3;

/// Console → app events held for an app frame that has not answered
/// `ready` yet, sent to it in order once it does.
pub const MAX_APP_EVENTS_BEFORE_READY: usize = 64;

/// An app's latest events to the console kept on the visitor's side, at
/// most this many and about [`APP_EVENT_BYTES_KEPT`] of them, and sent again
/// with every keyframe: a console that reopens, or that missed frames,
/// shows what the app said meanwhile.
pub const APP_EVENTS_KEPT: usize = 50;
pub const APP_EVENT_BYTES_KEPT: usize = 256 * 1024;

/// URLs the operator pushed that wait for the visitor's answer in the
/// worker, at most this many, each for at most [`PUSH_PENDING_TTL_MS`].
pub const MAX_PENDING_PUSHES: usize = 50;
pub const PUSH_PENDING_TTL_MS: f64 = 30.0 * 60.0 * 1000.0;

// ---- scopes -------------------------------------------------------------------

/// The scopes the operator asked for and those the visitor granted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grants {
    granted: BTreeSet<Scope>,
}

impl Grants {
    pub fn from_scopes(scopes: &[Scope]) -> Grants {
        Grants { granted: scopes.iter().copied().collect() }
    }

    pub fn allows(&self, scope: Scope) -> bool {
        self.granted.contains(&scope)
    }

    /// Granted scopes in a fixed order (`Scope::ALL`'s).
    pub fn scopes(&self) -> Vec<Scope> {
        self.granted.iter().copied().collect()
    }

    /// Of a request, the scopes worth asking the visitor about (not granted yet),
    /// without duplicates, in a fixed order.
    pub fn to_ask(&self, requested: &[Scope]) -> Vec<Scope> {
        let wanted: BTreeSet<Scope> = requested.iter().copied().collect();
        wanted.difference(&self.granted).copied().collect()
    }

    /// Grants `scopes`; returns those newly granted.
    pub fn grant(&mut self, scopes: &[Scope]) -> Vec<Scope> {
        let mut added: Vec<Scope> = scopes.iter().copied().filter(|s| self.granted.insert(*s)).collect();
        added.sort();
        added
    }

    /// Revokes `scopes`; returns those that were granted.
    pub fn revoke(&mut self, scopes: &[Scope]) -> Vec<Scope> {
        let mut removed: Vec<Scope> = scopes.iter().copied().filter(|s| self.granted.remove(s)).collect();
        removed.sort();
        removed
    }

    pub fn revoke_all(&mut self) -> Vec<Scope> {
        std::mem::take(&mut self.granted).into_iter().collect()
    }
}

// ---- the organisation's settings ----------------------------------------------------

/// What the settings (policy over the person's own) allow in a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Scopes that may be offered and granted; others never are.
    pub control_scopes: Vec<Scope>,
    /// Whether the consent prompt offers recording at all.
    pub recording_allowed: bool,
    /// Selectors whose content the operator sees only as placeholders.
    pub private_selectors: Vec<String>,
    /// Fields whose values the operator sees and may type into, like the
    /// site's `data-baton-safe` (capture never shows secret fields).
    pub safe_selectors: Vec<String>,
    /// Capture waits until a frame from the operator has been opened with
    /// the session key, which proves the operator derived it with the
    /// code's secret half (the server never sees it).
    pub require_key_confirmation: bool,
    /// Empty: any operator.
    pub operator_allowlist: Vec<String>,
    /// Origins pushed app modules may load from.
    pub app_origins: Vec<String>,
}

/// The wording next to a scope the organisation does not allow.
pub const NOT_ALLOWED: &str = "not allowed by your organization";

impl SessionPolicy {
    pub fn from_settings(s: &crate::settings::Settings) -> SessionPolicy {
        SessionPolicy {
            control_scopes: s.control_scopes.clone(),
            recording_allowed: s.recording_allowed,
            private_selectors: s.private_selectors.clone(),
            safe_selectors: s.safe_selectors.clone(),
            require_key_confirmation: s.require_e2e_pairing,
            operator_allowlist: s.operator_allowlist.clone(),
            app_origins: s.app_origins.clone(),
        }
    }

    pub fn allows(&self, scope: Scope) -> bool {
        self.control_scopes.contains(&scope)
    }

    /// Of `scopes`, those the organisation allows.
    pub fn allowed(&self, scopes: &[Scope]) -> Vec<Scope> {
        scopes.iter().copied().filter(|s| self.allows(*s)).collect()
    }

    /// A control request, split into the scopes to ask the visitor about
    /// and those shown as not allowed (each without duplicates, in order).
    pub fn split_request(&self, grants: &Grants, requested: &[Scope]) -> (Vec<Scope>, Vec<Scope>) {
        let wanted = grants.to_ask(requested);
        wanted.into_iter().partition(|s| self.allows(*s))
    }

    /// Granted scopes the organisation no longer allows.
    pub fn disallowed_grants(&self, grants: &Grants) -> Vec<Scope> {
        grants.scopes().into_iter().filter(|s| !self.allows(*s)).collect()
    }

    /// The recording answer sent: never `true` when recording is not allowed.
    pub fn record(&self, approve: bool, asked: bool) -> bool {
        approve && asked && self.recording_allowed
    }

    /// Whether capture may start in an active session.
    pub fn may_capture(&self, state: SessionState, key_confirmed: bool) -> bool {
        state == SessionState::Active && (key_confirmed || !self.require_key_confirmation)
    }

    /// `Err` with the sentence shown to the visitor when `operator` may not join.
    pub fn admit(&self, operator: &str) -> Result<(), String> {
        let name = operator.trim();
        if self.operator_allowlist.is_empty()
            || self.operator_allowlist.iter().any(|o| o.trim().eq_ignore_ascii_case(name))
        {
            return Ok(());
        }
        Err(format!(
            "Baton refused {}: your organization allows only the operators on its list to view your tabs.",
            if name.is_empty() { "an operator" } else { name }
        ))
    }
}

/// A command's scope against the organisation's settings, at execution time.
pub fn check_policy(command: &Command, policy: &SessionPolicy) -> Result<(), Refusal> {
    let scope = command.scope();
    if policy.allows(scope) {
        Ok(())
    } else {
        Err(Refusal::NotAllowed(scope))
    }
}

pub fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Scroll => "scroll",
        Scope::Click => "click",
        Scope::Type => "type",
        Scope::Navigate => "navigate",
    }
}

/// What the visitor reads next to a scope's toggle.
pub fn scope_label(scope: Scope) -> &'static str {
    match scope {
        Scope::Scroll => "Scroll the page",
        Scope::Click => "Click on the page",
        Scope::Type => "Type into fields",
        Scope::Navigate => "Go to other pages",
    }
}

// ---- commands -----------------------------------------------------------------

/// Why a command was refused; the text goes back in `CommandResult.error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotGranted(Scope),
    /// The organisation's settings do not allow the scope.
    NotAllowed(Scope),
    Protected,
    NoSuchNode,
    BadUrl,
    TooLong,
    NotEditable,
    NotActive,
    /// The command's node ids come from a snapshot since replaced.
    Stale,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotGranted(s) => write!(f, "scope {} not granted", scope_name(*s)),
            Self::NotAllowed(s) => write!(f, "scope {} {NOT_ALLOWED}", scope_name(*s)),
            Self::Protected => f.write_str("the element is private or masked"),
            Self::NoSuchNode => f.write_str("no such element"),
            Self::BadUrl => f.write_str("only http and https addresses may be opened"),
            Self::TooLong => f.write_str("text too long"),
            Self::NotEditable => f.write_str("the element does not take text"),
            Self::NotActive => f.write_str("the session is not active"),
            Self::Stale => f.write_str("the page changed since; try again"),
        }
    }
}

/// The checks that need no DOM, in order: the scope is granted now, the
/// target is not protected, the arguments are acceptable. `protected` says
/// whether a node id is masked, private or unknown (fail-closed).
pub fn check_command(command: &Command, grants: &Grants, protected: impl Fn(NodeId) -> bool) -> Result<(), Refusal> {
    let scope = command.scope();
    if !grants.allows(scope) {
        return Err(Refusal::NotGranted(scope));
    }
    match command {
        Command::Click { id } => node_ok(*id, &protected),
        Command::TypeText { id, text } => {
            node_ok(*id, &protected)?;
            if text.chars().count() > MAX_TYPED_CHARS {
                return Err(Refusal::TooLong);
            }
            Ok(())
        }
        Command::ScrollTo { id, .. } if *id == WINDOW => Ok(()),
        Command::ScrollTo { id, .. } => node_ok(*id, &protected),
        Command::Navigate { url } => open_url(url).map(|_| ()).ok_or(Refusal::BadUrl),
    }
}

/// A command naming a node must name the snapshot its id comes from
/// (`sent`), if it names one, and that must be the last one sent
/// (`current`): ids are given anew with each snapshot, so an id from an
/// older one may now be another element.
pub fn check_generation(command: &Command, sent: Option<u64>, current: u64) -> Result<(), Refusal> {
    match sent {
        Some(g) if command.node().is_some() && g != current => Err(Refusal::Stale),
        _ => Ok(()),
    }
}

/// A click on a label also operates the label's control, by its id in the
/// capture (`None`: never captured): refused when that control is
/// protected or unknown.
pub fn label_control_ok(control: Option<NodeId>, protected: impl Fn(NodeId) -> bool) -> Result<(), Refusal> {
    match control {
        Some(id) if id != WINDOW && !protected(id) => Ok(()),
        _ => Err(Refusal::Protected),
    }
}

fn node_ok(id: NodeId, protected: &impl Fn(NodeId) -> bool) -> Result<(), Refusal> {
    if id == WINDOW {
        return Err(Refusal::NoSuchNode);
    }
    if protected(id) {
        return Err(Refusal::Protected);
    }
    Ok(())
}

// ---- pushed URLs -----------------------------------------------------------------

/// The worker's pushed URLs waiting for the visitor's answer, by push id.
/// An id keeps the first URL pushed with it until the visitor answers, so
/// what opens is what the prompt showed.
#[derive(Debug, Clone, Default)]
pub struct PendingPushes {
    /// Push id → URL, when it was pushed (ms).
    by_id: HashMap<String, (String, f64)>,
}

impl PendingPushes {
    /// A push from the operator; `false` when it is not taken: its id is
    /// already waiting (the first URL stays), or too many are.
    pub fn offer(&mut self, push_id: &str, url: &str, now_ms: f64) -> bool {
        self.expire(now_ms);
        if self.by_id.contains_key(push_id) || self.by_id.len() >= MAX_PENDING_PUSHES {
            return false;
        }
        self.by_id.insert(push_id.to_owned(), (url.to_owned(), now_ms));
        true
    }

    /// The visitor accepted the prompt for `push_id`, which showed `shown`:
    /// the URL to open, only if that is the one waiting under the id.
    pub fn accept(&mut self, push_id: &str, shown: &str, now_ms: f64) -> Option<String> {
        self.expire(now_ms);
        let (url, _) = self.by_id.remove(push_id)?;
        (url == shown).then_some(url)
    }

    /// The visitor declined (or the prompt went away): the id is free again.
    pub fn decline(&mut self, push_id: &str) {
        self.by_id.remove(push_id);
    }

    /// A new page in the tab: no prompt is left to answer.
    pub fn clear(&mut self) {
        self.by_id.clear();
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Prompts nobody answered in time are forgotten.
    fn expire(&mut self, now_ms: f64) {
        self.by_id.retain(|_, (_, at)| now_ms - *at < PUSH_PENDING_TTL_MS);
    }
}

// ---- URLs ---------------------------------------------------------------------

/// A web address the visitor's tab may go to or open for the operator:
/// http(s), without user info (`https://bank.example@evil.example/` reads
/// as one site and is another).
pub fn open_url(url: &str) -> Option<String> {
    let url = web_url(url)?;
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    (!authority.contains('@')).then_some(url)
}

/// A module URL loads only from an origin on `allowlist` (the `appOrigins`
/// setting).
pub fn module_allowed(url: &str, allowlist: &[String]) -> bool {
    match origin_of(url) {
        Some(origin) => app_origin_ok(&origin) && allowlist.iter().any(|a| a.eq_ignore_ascii_case(&origin)),
        None => false,
    }
}

/// What a viewer may show: a web document or image, or an inline raster
/// image (never SVG or HTML data, which can carry script).
pub fn viewer_url_ok(url: &str) -> bool {
    if web_url(url).is_some() {
        return true;
    }
    let lower = url.trim().to_ascii_lowercase();
    ["data:image/png;", "data:image/jpeg;", "data:image/gif;", "data:image/webp;"].iter().any(|p| lower.starts_with(p))
}

/// Whether a viewer URL is shown as an image rather than a document.
pub fn viewer_shows_image(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("data:image/") {
        return true;
    }
    let path = lower.split(['?', '#']).next().unwrap_or("");
    [".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".bmp"].iter().any(|e| path.ends_with(e))
}

/// Checks a pushed app before anything is created for it; modules only
/// from `origins`.
pub fn app_ok(app: &App, origins: &[String]) -> Result<(), String> {
    match app {
        App::Viewer { url, title } if viewer_url_ok(url) && title.len() <= 500 => Ok(()),
        App::Viewer { .. } => Err("the viewer's address is not a web document or image".into()),
        App::Form { title, fields } if title.len() <= 500 && fields.len() <= 100 => {
            if fields.iter().all(|f| f.name.len() <= 200 && f.label.len() <= 500 && f.value.len() <= 10_000) {
                Ok(())
            } else {
                Err("a form field is too large".into())
            }
        }
        App::Form { .. } => Err("the form is too large".into()),
        App::Module { url } if module_allowed(url, origins) => Ok(()),
        App::Module { url } => Err(match origin_of(url) {
            Some(origin) => format!("apps from {origin} are not allowed there"),
            None => "the module's address is not a web address".to_owned(),
        }),
    }
}

// ---- pushed apps --------------------------------------------------------------

/// Why a pushed app was refused; the text goes back in `PushAnswer.refused`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppRefusal {
    BadId,
    AlreadyLive(AppState),
    /// [`MAX_LIVE_APPS`] are in the page.
    TooMany,
}

impl std::fmt::Display for AppRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadId => f.write_str("bad app id"),
            Self::AlreadyLive(state) => write!(f, "the app is already {}", app_state_name(*state)),
            Self::TooMany => write!(f, "{MAX_LIVE_APPS} apps are open already; pull one first"),
        }
    }
}

/// The visitor's side of each app's life: `pushed ↔ held → pulled`
/// (`configure` happens only on the operator's side).
#[derive(Debug, Clone, Default)]
pub struct Apps {
    /// Each app by id: what it was pushed as, and its state.
    apps: HashMap<String, LiveApp>,
}

impl Apps {
    pub fn state(&self, app_id: &str) -> Option<AppState> {
        self.apps.get(app_id).map(|a| a.state)
    }

    /// The apps currently in the page (pushed or held), in id order.
    pub fn in_page(&self) -> Vec<LiveApp> {
        let mut live: Vec<LiveApp> =
            self.apps.values().filter(|a| matches!(a.state, AppState::Pushed | AppState::Held)).cloned().collect();
        live.sort_by(|a, b| a.app_id.cmp(&b.app_id));
        live
    }

    /// The ids of [`Apps::in_page`].
    pub fn live(&self) -> Vec<String> {
        self.in_page().into_iter().map(|a| a.app_id).collect()
    }

    /// A push: new ids (or pulled ones, pushed again) become `pushed`,
    /// while fewer than [`MAX_LIVE_APPS`] are in the page.
    pub fn push(&mut self, app_id: &str, app: &App) -> Result<AppState, AppRefusal> {
        if app_id.is_empty() || app_id.len() > 100 {
            return Err(AppRefusal::BadId);
        }
        match self.state(app_id) {
            None | Some(AppState::Pulled) | Some(AppState::Configure) => {
                if self.in_page().len() >= MAX_LIVE_APPS {
                    return Err(AppRefusal::TooMany);
                }
                // Pulled apps are forgotten, so ids pushed over time do not pile up.
                self.apps.retain(|_, a| a.state != AppState::Pulled);
                let state = AppState::Pushed;
                self.apps.insert(
                    app_id.to_owned(),
                    LiveApp { app_id: app_id.to_owned(), app: app.clone(), state, console_events: 0 },
                );
                Ok(state)
            }
            Some(state) => Err(AppRefusal::AlreadyLive(state)),
        }
    }

    pub fn hold(&mut self, app_id: &str) -> Result<AppState, String> {
        match self.state(app_id) {
            Some(AppState::Pushed) => Ok(self.set(app_id, AppState::Held)),
            s => Err(format!("cannot hold app {app_id} ({s:?})")),
        }
    }

    pub fn resume(&mut self, app_id: &str) -> Result<AppState, String> {
        match self.state(app_id) {
            Some(AppState::Held) => Ok(self.set(app_id, AppState::Pushed)),
            s => Err(format!("cannot resume app {app_id} ({s:?})")),
        }
    }

    pub fn pull(&mut self, app_id: &str) -> Result<AppState, String> {
        match self.state(app_id) {
            Some(AppState::Pushed | AppState::Held) => Ok(self.set(app_id, AppState::Pulled)),
            s => Err(format!("cannot pull app {app_id} ({s:?})")),
        }
    }

    /// Everything live becomes pulled (stop, navigation); returns those ids.
    pub fn pull_all(&mut self) -> Vec<String> {
        let live = self.live();
        for id in &live {
            self.set(id, AppState::Pulled);
        }
        live
    }

    /// A known app's new state.
    fn set(&mut self, app_id: &str, state: AppState) -> AppState {
        if let Some(a) = self.apps.get_mut(app_id) {
            a.state = state;
        }
        state
    }
}

/// Numbers outgoing events 1, 2, 3…
#[derive(Debug, Clone, Default)]
pub struct Sequencer {
    last: u64,
}

impl Sequencer {
    pub fn next_seq(&mut self) -> u64 {
        self.last += 1;
        self.last
    }
}

/// One app's events to the console: numbered 1, 2, 3…, the latest kept to
/// send again ([`APP_EVENTS_KEPT`]).
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    seq: Sequencer,
    /// Event number, event, its size as JSON.
    kept: VecDeque<(u64, Value, usize)>,
    kept_bytes: usize,
}

impl Outbox {
    /// Numbers and keeps `event`; returns its number. The latest event is
    /// always kept.
    pub fn add(&mut self, event: &Value) -> u64 {
        let seq = self.seq.next_seq();
        let size = event.to_string().len();
        self.kept.push_back((seq, event.clone(), size));
        self.kept_bytes += size;
        while self.kept.len() > APP_EVENTS_KEPT || (self.kept_bytes > APP_EVENT_BYTES_KEPT && self.kept.len() > 1) {
            if let Some((_, _, gone)) = self.kept.pop_front() {
                self.kept_bytes -= gone;
            }
        }
        seq
    }

    /// The kept events, oldest first.
    pub fn kept(&self) -> impl Iterator<Item = (u64, &Value)> {
        self.kept.iter().map(|(seq, event, _)| (*seq, event))
    }
}

/// Delivers incoming events in sequence order exactly once: early ones wait
/// (a bounded number), duplicates and stale ones are dropped.
#[derive(Debug, Clone)]
pub struct InOrder {
    expected: u64,
    waiting: BTreeMap<u64, Value>,
}

impl Default for InOrder {
    fn default() -> Self {
        InOrder { expected: 1, waiting: BTreeMap::new() }
    }
}

impl InOrder {
    /// How many events were delivered (all numbers up to this one).
    pub fn delivered(&self) -> u64 {
        self.expected - 1
    }

    /// Accepts event `seq`; returns the events now deliverable, in order.
    pub fn accept(&mut self, seq: u64, event: Value) -> Vec<Value> {
        if seq < self.expected || self.waiting.contains_key(&seq) {
            return Vec::new();
        }
        if seq > self.expected {
            if self.waiting.len() < MAX_APP_EVENTS_WAITING {
                self.waiting.insert(seq, event);
            }
            return Vec::new();
        }
        let mut out = vec![event];
        self.expected += 1;
        while let Some(next) = self.waiting.remove(&self.expected) {
            out.push(next);
            self.expected += 1;
        }
        out
    }

    /// [`InOrder::accept`], but while `held` the events it makes
    /// deliverable are counted and dropped: an app's events while it is on
    /// hold go nowhere, and the ones after it still arrive.
    pub fn accept_unless_held(&mut self, seq: u64, event: Value, held: bool) -> Vec<Value> {
        let events = self.accept(seq, event);
        if held {
            Vec::new()
        } else {
            events
        }
    }
}

// ---- the app frame's channel -----------------------------------------------------

/// What passes between the content script and an app's frame. The frame's
/// URL fragment holds two secrets, `token.hello`, which the page around it
/// cannot read. Once the frame loads, the content script offers it bare
/// ports (`Offer`, to the frame's window, which the page cannot reach: the
/// frame sits in a closed shadow root); the frame says `hello` on one, the
/// `init` with `token` follows on that port, and everything else uses it.
/// Nothing passes through the page's window: a frame that told the page its
/// `hello` would let the page navigate the frame (through the message's
/// `source`) to a document of its own that says it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "baton_app", rename_all = "snake_case")]
pub enum AppChannel {
    /// Frame → content script, on an offered port: asks for the channel.
    Hello { hello: String },
    /// Content script → frame, on the port, in answer to its `hello`.
    Init { token: String, app_id: String, app: App },
    /// Content script → frame, to the frame's window with a bare port:
    /// answer `hello` on it to get the `init` there.
    Offer,
    /// Either way: an ordered event.
    Event { seq: u64, event: Value },
    /// Content script → frame: the app's state changed.
    State { state: AppState },
    /// Frame → content script, on the port: the init arrived.
    Ready,
}

impl AppChannel {
    /// Parses and checks a message that claims to be from the channel.
    pub fn parse(raw: &Value) -> Option<AppChannel> {
        let text = raw.to_string();
        if text.len() > MAX_APP_EVENT_BYTES {
            return None;
        }
        let message: AppChannel = serde_json::from_value(raw.clone()).ok()?;
        match &message {
            AppChannel::Event { seq, .. } if *seq == 0 => None,
            _ => Some(message),
        }
    }
}

/// A stroke colour the overlay accepts: `#rgb`, `#rrggbb` or `#rrggbbaa`.
pub fn stroke_color(color: &str) -> &str {
    let hex = color.strip_prefix('#').unwrap_or("");
    if matches!(hex.len(), 3 | 6 | 8) && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        color
    } else {
        "#e63946"
    }
}

/// The most points of one annotation stroke drawn.
pub const MAX_STROKE_POINTS: usize = 2_000;

/// A stroke as an SVG `points` attribute (numbers only), capped.
pub fn svg_points(points: &[(i32, i32)]) -> String {
    points.iter().take(MAX_STROKE_POINTS).map(|(x, y)| format!("{x},{y}")).collect::<Vec<_>>().join(" ")
}

/// A random-looking token for an app frame's URL fragment, from caller-given entropy.
pub fn token_from(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---- the session as the page shows it -----------------------------------------

/// The state the share takes when the host reports `told`. The visitor is
/// asked only once the operator has been admitted (named and checked against
/// the allowlist): the relay's "awaiting consent" comes separately and may
/// come first, and alone it must not put up a prompt that could be answered.
/// The visitor's own consent moves the share to active before the relay
/// says so, so it never goes back from active.
pub fn reported_state(current: SessionState, told: SessionState, operator_admitted: bool) -> SessionState {
    match told {
        SessionState::AwaitingConsent if !operator_admitted => current,
        SessionState::Waiting | SessionState::AwaitingConsent if current == SessionState::Active => current,
        told => told,
    }
}

/// The words of the "being viewed" bar. `away`: the operator's side
/// dropped off the relay, and when known, the time (as shown) the session
/// ends unless they come back.
pub fn bar_text(state: SessionState, code: &str, operator: Option<&str>, away: Option<Option<&str>>) -> String {
    if let (Some(ends_at), SessionState::Active) = (away, state) {
        let op = operator.unwrap_or("The operator");
        return match ends_at {
            Some(at) => format!("{op} is disconnected — the session ends at {at} unless they come back"),
            None => format!("{op} is disconnected — waiting for them to come back"),
        };
    }
    match (state, operator) {
        (SessionState::Waiting, _) => format!("Sharing this tab. Read this code to the operator: {code}"),
        (SessionState::AwaitingConsent, Some(op)) => format!("{op} asks to view this tab"),
        (SessionState::AwaitingConsent, None) => "An operator asks to view this tab".to_owned(),
        (SessionState::Active, Some(op)) => format!("{op} is viewing this tab"),
        (SessionState::Active, None) => "An operator is viewing this tab".to_owned(),
        (SessionState::Ended, _) => "Sharing has ended".to_owned(),
    }
}

pub fn state_name(state: SessionState) -> &'static str {
    match state {
        SessionState::Waiting => "waiting",
        SessionState::AwaitingConsent => "awaiting_consent",
        SessionState::Active => "active",
        SessionState::Ended => "ended",
    }
}

pub fn app_state_name(state: AppState) -> &'static str {
    match state {
        AppState::Configure => "configure",
        AppState::Pushed => "pushed",
        AppState::Held => "held",
        AppState::Pulled => "pulled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_is_asked_only_once_the_operator_is_admitted() {
        use SessionState::*;
        // The relay's word arrives before the operator is admitted: nothing to answer yet.
        assert_eq!(reported_state(Waiting, AwaitingConsent, false), Waiting);
        assert_eq!(reported_state(Waiting, AwaitingConsent, true), AwaitingConsent);
        assert_eq!(reported_state(AwaitingConsent, AwaitingConsent, true), AwaitingConsent);
        // Consent given here first: the relay catching up does not undo it.
        assert_eq!(reported_state(Active, AwaitingConsent, true), Active);
        assert_eq!(reported_state(Active, Waiting, true), Active);
        assert_eq!(reported_state(AwaitingConsent, Active, true), Active);
        assert_eq!(reported_state(Active, Ended, true), Ended);
        assert_eq!(reported_state(Waiting, Ended, false), Ended);
    }

    fn policy(scopes: &[Scope]) -> SessionPolicy {
        let s = crate::settings::Settings { control_scopes: scopes.to_vec(), ..Default::default() };
        SessionPolicy::from_settings(&s)
    }

    #[test]
    fn control_scopes_outside_the_policy_are_never_offered_or_granted() {
        let p = policy(&[Scope::Scroll, Scope::Click]);
        let grants = Grants::from_scopes(&p.allowed(&[Scope::Click, Scope::Type]));
        assert_eq!(grants.scopes(), vec![Scope::Click], "a remembered grant outside the policy is dropped");
        let (ask, refused) =
            p.split_request(&grants, &[Scope::Type, Scope::Scroll, Scope::Click, Scope::Navigate, Scope::Type]);
        assert_eq!(ask, vec![Scope::Scroll]);
        assert_eq!(refused, vec![Scope::Type, Scope::Navigate]);
        assert_eq!(p.allowed(&[Scope::Type, Scope::Scroll]), vec![Scope::Scroll]);
        let typed = Command::TypeText { id: 3, text: "x".into() };
        assert_eq!(check_policy(&typed, &p), Err(Refusal::NotAllowed(Scope::Type)));
        assert_eq!(Refusal::NotAllowed(Scope::Type).to_string(), "scope type not allowed by your organization");
        assert_eq!(check_policy(&Command::Click { id: 3 }, &p), Ok(()));
        let narrower = policy(&[Scope::Scroll]);
        assert_eq!(
            narrower.disallowed_grants(&Grants::from_scopes(&[Scope::Click, Scope::Scroll])),
            vec![Scope::Click]
        );
        assert!(policy(&[]).split_request(&Grants::default(), &[Scope::Click]).0.is_empty());
    }

    #[test]
    fn recording_operators_and_key_confirmation() {
        let mut s = crate::settings::Settings::default();
        let p = SessionPolicy::from_settings(&s);
        assert!(!p.record(true, true), "recording is off by default");
        s.recording_allowed = true;
        let p = SessionPolicy::from_settings(&s);
        assert!(p.record(true, true) && !p.record(true, false) && !p.record(false, true));
        assert!(p.admit("anyone").is_ok());
        assert!(p.may_capture(SessionState::Active, false));
        assert!(!p.may_capture(SessionState::AwaitingConsent, true));

        s.operator_allowlist = vec!["Ops@Corp.example".into()];
        s.require_e2e_pairing = true;
        let p = SessionPolicy::from_settings(&s);
        assert!(p.admit(" ops@corp.example ").is_ok());
        let refused = p.admit("eve@corp.example").unwrap_err();
        assert!(refused.contains("eve@corp.example") && refused.contains("organization"), "{refused}");
        assert!(p.admit("").is_err());
        assert!(!p.may_capture(SessionState::Active, false), "waits for the operator's key");
        assert!(p.may_capture(SessionState::Active, true));
    }

    #[test]
    fn private_and_safe_selectors_come_from_the_settings() {
        let mut s = crate::settings::Settings::default();
        assert!(SessionPolicy::from_settings(&s).safe_selectors.is_empty());
        s.private_selectors = vec![".ssn".into()];
        s.safe_selectors = vec!["#order-note".into()];
        let p = SessionPolicy::from_settings(&s);
        assert_eq!(p.private_selectors, vec![".ssn".to_owned()]);
        assert_eq!(p.safe_selectors, vec!["#order-note".to_owned()]);
    }
    use baton_shared::cobrowse::AppField;
    use serde_json::json;

    #[test]
    fn scopes_grant_and_revoke_one_by_one() {
        let mut g = Grants::default();
        assert_eq!(g.to_ask(&[Scope::Click, Scope::Scroll, Scope::Click]), vec![Scope::Scroll, Scope::Click]);
        assert_eq!(g.grant(&[Scope::Click]), vec![Scope::Click]);
        assert_eq!(g.grant(&[Scope::Click]), Vec::<Scope>::new());
        assert_eq!(g.to_ask(&[Scope::Click, Scope::Type]), vec![Scope::Type]);
        assert!(g.allows(Scope::Click) && !g.allows(Scope::Type));
        assert_eq!(g.revoke(&[Scope::Type, Scope::Click]), vec![Scope::Click]);
        assert!(!g.allows(Scope::Click));
        g.grant(&[Scope::Navigate, Scope::Scroll]);
        assert_eq!(g.scopes(), vec![Scope::Scroll, Scope::Navigate]);
        assert_eq!(g.revoke_all(), vec![Scope::Scroll, Scope::Navigate]);
        assert!(g.scopes().is_empty());
    }

    #[test]
    fn commands_need_their_scope_at_the_time_they_run() {
        let click = Command::Click { id: 7 };
        let open = |_: NodeId| false;
        let mut g = Grants::default();
        assert_eq!(check_command(&click, &g, open), Err(Refusal::NotGranted(Scope::Click)));
        g.grant(&[Scope::Click]);
        assert_eq!(check_command(&click, &g, open), Ok(()));
        g.revoke(&[Scope::Click]);
        assert_eq!(check_command(&click, &g, open), Err(Refusal::NotGranted(Scope::Click)));
    }

    #[test]
    fn node_commands_from_a_replaced_snapshot_are_refused() {
        let click = Command::Click { id: 5 };
        assert_eq!(check_generation(&click, Some(3), 3), Ok(()));
        assert_eq!(check_generation(&click, Some(2), 3), Err(Refusal::Stale));
        assert_eq!(check_generation(&Command::TypeText { id: 5, text: "x".into() }, Some(4), 3), Err(Refusal::Stale));
        assert_eq!(check_generation(&Command::ScrollTo { id: 5, x: 0, y: 0 }, Some(2), 3), Err(Refusal::Stale));
        // The window and a URL are the same in every snapshot.
        assert_eq!(check_generation(&Command::ScrollTo { id: WINDOW, x: 0, y: 9 }, Some(2), 3), Ok(()));
        assert_eq!(check_generation(&Command::Navigate { url: "https://a.example/".into() }, Some(2), 3), Ok(()));
        // A command that names no snapshot (an older console) is not checked.
        assert_eq!(check_generation(&click, None, 3), Ok(()));
    }

    #[test]
    fn commands_never_touch_protected_nodes() {
        let g = Grants::from_scopes(&Scope::ALL);
        let protected = |id: NodeId| id == 9;
        assert_eq!(check_command(&Command::Click { id: 9 }, &g, protected), Err(Refusal::Protected));
        assert_eq!(
            check_command(&Command::TypeText { id: 9, text: "x".into() }, &g, protected),
            Err(Refusal::Protected)
        );
        assert_eq!(check_command(&Command::ScrollTo { id: 9, x: 0, y: 1 }, &g, protected), Err(Refusal::Protected));
        assert_eq!(check_command(&Command::ScrollTo { id: WINDOW, x: 0, y: 1 }, &g, protected), Ok(()));
        assert_eq!(check_command(&Command::Click { id: WINDOW }, &g, protected), Err(Refusal::NoSuchNode));
        assert_eq!(label_control_ok(Some(9), protected), Err(Refusal::Protected), "a label's protected control");
        assert_eq!(label_control_ok(None, protected), Err(Refusal::Protected), "a control never captured");
        assert_eq!(label_control_ok(Some(3), protected), Ok(()));
        let long = "a".repeat(MAX_TYPED_CHARS + 1);
        assert_eq!(check_command(&Command::TypeText { id: 3, text: long }, &g, protected), Err(Refusal::TooLong));
    }

    #[test]
    fn navigation_only_to_web_urls() {
        let g = Grants::from_scopes(&[Scope::Navigate]);
        let nav = |u: &str| check_command(&Command::Navigate { url: u.into() }, &g, |_| true);
        assert_eq!(nav("https://example.com/a?b#c"), Ok(()));
        assert_eq!(nav("http://127.0.0.1:8080/"), Ok(()));
        for bad in [
            "javascript:alert(1)",
            "JAVASCRIPT:alert(1)",
            " javascript:alert(1)",
            "data:text/html,<script>",
            "file:///etc/passwd",
            "https://",
            "https:///x",
            "http://a b/",
            "https://a\\b",
            "chrome://settings",
            "//example.com",
            "https://bank.example@evil.example/",
            "https://user:pw@a.example/x",
            "http://@a.example/",
        ] {
            assert_eq!(nav(bad), Err(Refusal::BadUrl), "{bad}");
        }
        let none = Grants::default();
        assert_eq!(
            check_command(&Command::Navigate { url: "https://a".into() }, &none, |_| false),
            Err(Refusal::NotGranted(Scope::Navigate))
        );
    }

    #[test]
    fn a_pushed_url_opens_only_as_first_pushed_and_shown() {
        let mut p = PendingPushes::default();
        assert!(p.offer("p", "https://help.example/", 0.0));
        assert!(!p.offer("p", "https://evil.example/", 1.0), "a repeated id keeps its first URL");
        assert_eq!(p.accept("p", "https://evil.example/", 2.0), None, "only what the prompt showed opens");
        assert_eq!(p.accept("p", "https://help.example/", 3.0), None, "answered once");
        assert!(p.offer("p", "https://help.example/", 4.0));
        assert_eq!(p.accept("p", "https://help.example/", 5.0).as_deref(), Some("https://help.example/"));
        // A decline frees the id; a later push under it is a new prompt.
        assert!(p.offer("q", "https://a.example/", 6.0));
        p.decline("q");
        assert!(p.is_empty());
        assert!(p.offer("q", "https://b.example/", 7.0));
        assert_eq!(p.accept("q", "https://a.example/", 8.0), None);
        // Bounded, and unanswered ones expire.
        for i in 0..MAX_PENDING_PUSHES + 5 {
            p.offer(&i.to_string(), "https://x.example/", 10.0);
        }
        assert_eq!(p.len(), MAX_PENDING_PUSHES);
        assert!(!p.offer("late", "https://x.example/", 11.0));
        assert!(p.offer("late", "https://x.example/", 10.0 + PUSH_PENDING_TTL_MS));
        assert_eq!(p.len(), 1);
        assert_eq!(p.accept("0", "https://x.example/", 10.0 + PUSH_PENDING_TTL_MS), None, "expired");
        p.clear();
        assert!(p.is_empty());
    }

    #[test]
    fn opened_addresses_carry_no_user_info() {
        assert_eq!(open_url(" https://help.example/a?b=c@d#e@f ").as_deref(), Some("https://help.example/a?b=c@d#e@f"));
        assert_eq!(open_url("https://bank.example@evil.example/"), None);
        assert_eq!(open_url("HTTPS://x:y@evil.example"), None);
        assert_eq!(open_url("javascript:alert(1)"), None);
    }

    #[test]
    fn modules_only_from_the_allowlist() {
        let list = &["https://apps.baton.example".to_owned(), "http://127.0.0.1:8080".to_owned()][..];
        assert!(module_allowed("https://apps.baton.example/widget/index.html", list));
        assert!(module_allowed("https://APPS.baton.example:443/x", list));
        assert!(!module_allowed("http://apps.baton.example/x", list));
        assert!(!module_allowed("https://apps.baton.example.evil.example/x", list));
        assert!(!module_allowed("https://apps.baton.example@evil.example/x", list));
        assert!(!module_allowed("https://evil.example/?https://apps.baton.example", list));
        assert!(!module_allowed("javascript:alert(1)", list));
        assert!(module_allowed("http://127.0.0.1:8080/app.html", list), "http from this computer");
        assert!(!module_allowed("http://127.0.0.1:8081/app.html", list));
        assert!(!module_allowed("https://apps.baton.example/x", &[]), "none without the setting");
    }

    #[test]
    fn viewers_show_web_documents_and_raster_images() {
        assert!(viewer_url_ok("https://example.com/manual.pdf"));
        assert!(viewer_url_ok("data:image/png;base64,AAAA"));
        assert!(!viewer_url_ok("data:image/svg+xml;base64,AAAA"));
        assert!(!viewer_url_ok("data:text/html,hi"));
        assert!(!viewer_url_ok("javascript:1"));
        assert!(viewer_shows_image("https://x/a.PNG?v=1"));
        assert!(!viewer_shows_image("https://x/a.pdf"));
        let form = App::Form {
            title: "T".into(),
            fields: vec![AppField { name: "n".into(), label: "L".into(), value: "v".into() }],
        };
        assert!(app_ok(&form, &[]).is_ok());
        let origins = ["https://apps.example".to_owned()];
        assert!(app_ok(&App::Module { url: "https://evil.example/m".into() }, &origins).is_err());
        assert!(app_ok(&App::Module { url: "https://apps.example/m".into() }, &origins).is_ok());
    }

    #[test]
    fn apps_go_pushed_held_pulled() {
        let mut apps = Apps::default();
        let viewer = App::Viewer { url: "https://docs.example/a.pdf".into(), title: "Guide".into() };
        let form = App::Form { title: "Address".into(), fields: vec![] };
        assert!(apps.hold("a").is_err());
        assert_eq!(apps.push("a", &viewer), Ok(AppState::Pushed));
        assert!(apps.push("a", &viewer).is_err(), "a live app is not pushed twice");
        assert!(apps.resume("a").is_err());
        assert_eq!(apps.hold("a"), Ok(AppState::Held));
        assert!(apps.hold("a").is_err());
        assert_eq!(apps.resume("a"), Ok(AppState::Pushed));
        assert_eq!(apps.hold("a"), Ok(AppState::Held));
        assert_eq!(apps.pull("a"), Ok(AppState::Pulled));
        assert!(apps.pull("a").is_err());
        assert!(apps.in_page().is_empty());
        assert_eq!(apps.push("a", &form), Ok(AppState::Pushed), "pushed again after a pull");
        apps.push("b", &viewer).unwrap();
        apps.hold("b").unwrap();
        assert_eq!(apps.live(), vec!["a".to_owned(), "b".to_owned()]);
        let live = |app_id: &str, app: &App, state| LiveApp {
            app_id: app_id.into(),
            app: app.clone(),
            state,
            console_events: 0,
        };
        assert_eq!(apps.in_page(), vec![live("a", &form, AppState::Pushed), live("b", &viewer, AppState::Held)]);
        assert_eq!(apps.pull_all(), vec!["a".to_owned(), "b".to_owned()]);
        assert!(apps.live().is_empty());
        assert!(apps.in_page().is_empty());
        assert_eq!(apps.push("", &viewer), Err(AppRefusal::BadId));
    }

    #[test]
    fn live_apps_are_bounded() {
        let mut apps = Apps::default();
        let viewer = App::Viewer { url: "https://docs.example/a.pdf".into(), title: "Guide".into() };
        for i in 0..MAX_LIVE_APPS {
            assert_eq!(apps.push(&format!("a{i}"), &viewer), Ok(AppState::Pushed));
        }
        apps.hold("a0").unwrap();
        assert_eq!(apps.push("one more", &viewer), Err(AppRefusal::TooMany), "held apps count");
        assert!(AppRefusal::TooMany.to_string().contains("pull one first"));
        assert_eq!(apps.push("a1", &viewer), Err(AppRefusal::AlreadyLive(AppState::Pushed)));
        apps.pull("a1").unwrap();
        assert_eq!(apps.push("one more", &viewer), Ok(AppState::Pushed), "room again after a pull");
        assert_eq!(apps.push("another", &viewer), Err(AppRefusal::TooMany));
    }

    #[test]
    fn app_events_arrive_in_order_once() {
        let mut seq = Sequencer::default();
        assert_eq!((seq.next_seq(), seq.next_seq()), (1, 2));
        let mut inbox = InOrder::default();
        assert!(inbox.accept(2, json!("b")).is_empty());
        assert!(inbox.accept(3, json!("c")).is_empty());
        assert_eq!(inbox.accept(1, json!("a")), vec![json!("a"), json!("b"), json!("c")]);
        assert!(inbox.accept(2, json!("b again")).is_empty());
        assert_eq!(inbox.accept(4, json!("d")), vec![json!("d")]);
        assert_eq!(inbox.delivered(), 4);
        for s in 6..200 {
            inbox.accept(s, json!(s));
        }
        let flushed = inbox.accept(5, json!(5));
        assert_eq!(flushed.len(), 1 + MAX_APP_EVENTS_WAITING, "bounded wait");
    }

    #[test]
    fn events_while_held_are_dropped_and_numbering_goes_on() {
        let mut inbox = InOrder::default();
        assert_eq!(inbox.accept_unless_held(1, json!("a"), false), vec![json!("a")]);
        assert!(inbox.accept_unless_held(2, json!("while held"), true).is_empty());
        assert_eq!(inbox.accept_unless_held(3, json!("resumed"), false), vec![json!("resumed")]);
        assert_eq!(inbox.delivered(), 3);
    }

    #[test]
    fn an_outbox_keeps_the_latest_events_within_its_bounds() {
        let mut out = Outbox::default();
        assert_eq!((out.add(&json!("a")), out.add(&json!("b"))), (1, 2));
        assert_eq!(out.kept().collect::<Vec<_>>(), vec![(1, &json!("a")), (2, &json!("b"))]);
        for n in 3..=(APP_EVENTS_KEPT as u64 + 10) {
            assert_eq!(out.add(&json!(n)), n);
        }
        let seqs: Vec<u64> = out.kept().map(|(seq, _)| seq).collect();
        assert_eq!(seqs, (11..=APP_EVENTS_KEPT as u64 + 10).collect::<Vec<_>>(), "the latest, in order");
        // Large events: bounded by bytes too, but the latest is always kept.
        let big = json!("x".repeat(APP_EVENT_BYTES_KEPT / 3));
        for _ in 0..5 {
            out.add(&big);
        }
        assert_eq!(out.kept().count(), 2);
        let huge = json!("y".repeat(APP_EVENT_BYTES_KEPT * 2));
        let last = out.add(&huge);
        assert_eq!(out.kept().map(|(seq, _)| seq).collect::<Vec<_>>(), vec![last]);
    }

    #[test]
    fn app_channel_shapes() {
        let init = AppChannel::Init {
            token: "t".into(),
            app_id: "a".into(),
            app: App::Viewer { url: "https://x/y.png".into(), title: "Y".into() },
        };
        let v = serde_json::to_value(&init).unwrap();
        assert_eq!(v["baton_app"], "init");
        assert_eq!(AppChannel::parse(&v), Some(init));
        let ev = json!({"baton_app": "event", "seq": 1, "event": {"type": "submitted"}});
        assert!(matches!(AppChannel::parse(&ev), Some(AppChannel::Event { seq: 1, .. })));
        assert_eq!(AppChannel::parse(&json!({"baton_app": "event", "seq": 0, "event": 1})), None);
        assert_eq!(AppChannel::parse(&json!({"baton_app": "evil"})), None);
        assert_eq!(AppChannel::parse(&json!("x")), None);
        let hello = json!({"baton_app": "hello", "hello": "h"});
        assert_eq!(AppChannel::parse(&hello), Some(AppChannel::Hello { hello: "h".into() }));
        assert_eq!(AppChannel::parse(&json!({"baton_app": "hello"})), None, "a hello carries its secret");
        assert_eq!(serde_json::to_value(AppChannel::Offer).unwrap(), json!({"baton_app": "offer"}));
        assert_eq!(AppChannel::parse(&json!({"baton_app": "offer"})), Some(AppChannel::Offer));
        let big = json!({"baton_app": "event", "seq": 1, "event": "x".repeat(MAX_APP_EVENT_BYTES)});
        assert_eq!(AppChannel::parse(&big), None);
        assert_eq!(token_from(&[0, 255, 16]), "00ff10");
    }

    #[test]
    fn strokes_are_numbers_and_colours() {
        assert_eq!(stroke_color("#0af"), "#0af");
        assert_eq!(stroke_color("red;background:url(x)"), "#e63946");
        assert_eq!(svg_points(&[(1, 2), (3, -4)]), "1,2 3,-4");
        assert_eq!(svg_points(&vec![(0, 0); MAX_STROKE_POINTS + 5]).split(' ').count(), MAX_STROKE_POINTS);
    }

    #[test]
    fn bar_words() {
        assert!(bar_text(SessionState::Waiting, "AB-CD", None, None).contains("AB-CD"));
        assert_eq!(bar_text(SessionState::Active, "", Some("Sam"), None), "Sam is viewing this tab");
        assert!(
            bar_text(SessionState::Active, "", Some("Sam"), Some(None)).starts_with("Sam is disconnected — waiting")
        );
        assert_eq!(
            bar_text(SessionState::Active, "", Some("Sam"), Some(Some("10:42"))),
            "Sam is disconnected — the session ends at 10:42 unless they come back"
        );
        assert!(
            bar_text(SessionState::Waiting, "AB-CD", None, Some(None)).contains("AB-CD"),
            "away only matters while active"
        );
    }
}
