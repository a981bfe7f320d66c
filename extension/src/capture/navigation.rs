//! Per-tab back/forward lists from `webNavigation` events, kept in
//! `chrome.storage.session` (survives a worker restart, never written to
//! disk) and sent as `tab_history`, debounced per tab.
//!
//! Events are handled one at a time, in order, after the stored lists have
//! been loaded: each needs an async look at the tab and the exclusions.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

use baton_shared::limits::CAPTURE_DEBOUNCE_MS;
use baton_shared::native::RequestBody;

use super::api::{self, call, js};
use super::browser_types::{BrowserTab, NavDetails};
use super::debounce;
use super::history::{nav_kind, TabLog};
use crate::chrome;
use crate::worker::host;

const STORAGE_KEY: &str = "batonHistory";

enum Event {
    Committed(NavDetails, bool),
    Title { tab_id: i64, url: String, title: String },
    Forget(i64),
}

#[derive(Default)]
struct State {
    loaded: bool,
    running: bool,
    queue: VecDeque<Event>,
    logs: HashMap<i64, TabLog>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

pub fn start() {
    pump();
}

pub fn committed(details: NavDetails, same_document: bool) {
    push(Event::Committed(details, same_document));
}

pub fn title_changed(tab_id: i64, url: &str, title: &str) {
    push(Event::Title { tab_id, url: url.to_owned(), title: title.to_owned() });
}

pub fn forget(tab_id: i64) {
    push(Event::Forget(tab_id));
}

/// Sends every tab's history again (the host reconnected).
pub fn resend_all() {
    let ids: Vec<i64> = STATE.with(|s| s.borrow().logs.keys().copied().collect());
    for id in ids {
        schedule_send(id);
    }
}

fn push(event: Event) {
    STATE.with(|s| s.borrow_mut().queue.push_back(event));
    pump();
}

fn pump() {
    let start = STATE.with(|s| !std::mem::replace(&mut s.borrow_mut().running, true));
    if start {
        wasm_bindgen_futures::spawn_local(run());
    }
}

async fn run() {
    if !STATE.with(|s| s.borrow().loaded) {
        let logs = load().await;
        STATE.with(|s| {
            let mut s = s.borrow_mut();
            // Events handled before loading (none, normally) win over stored state.
            for (id, log) in logs {
                s.logs.entry(id).or_insert(log);
            }
            s.loaded = true;
        });
    }
    while let Some(event) = STATE.with(|s| s.borrow_mut().queue.pop_front()) {
        if let Some(tab_id) = handle(event).await {
            persist().await;
            schedule_send(tab_id);
        }
    }
    STATE.with(|s| s.borrow_mut().running = false);
}

/// Applies one event; returns the tab whose list changed.
async fn handle(event: Event) -> Option<i64> {
    match event {
        Event::Committed(d, same_document) => {
            let tab: BrowserTab = chrome::from_js(&call("tabs.get", &[api::id(d.tab_id)]).await.ok()?).ok()?;
            if tab.incognito {
                return None;
            }
            // Pages never captured become placeholders: the cursor stays
            // right without keeping the URL.
            let exclusions = api::exclusions().await;
            let url = if exclusions.allows(&d.url) { d.url.as_str() } else { "" };
            let kind = nav_kind(d.transition_type.as_deref().unwrap_or(""), &d.transition_qualifiers);
            let now = d.time_stamp.filter(|t| t.is_finite()).map_or_else(api::now_ms, |t| t as i64);
            STATE.with(|s| {
                let mut s = s.borrow_mut();
                let log = s.logs.entry(d.tab_id).or_default();
                if same_document {
                    log.commit_same_document(url, kind, now);
                } else {
                    log.commit(url, kind, now);
                }
            });
            if !tab.title.as_deref().unwrap_or("").is_empty() {
                let title = tab.title.unwrap_or_default();
                STATE.with(|s| s.borrow_mut().logs.get_mut(&d.tab_id).map(|l| l.set_title(url, &title)));
            }
            Some(d.tab_id)
        }
        Event::Title { tab_id, url, title } => STATE
            .with(|s| s.borrow_mut().logs.get_mut(&tab_id).map(|l| l.set_title(&url, &title)))
            .unwrap_or(false)
            .then_some(tab_id),
        Event::Forget(tab_id) => {
            let removed = STATE.with(|s| s.borrow_mut().logs.remove(&tab_id)).is_some();
            if removed {
                persist().await;
            }
            None
        }
    }
}

fn schedule_send(tab_id: i64) {
    debounce::schedule(&format!("history:{tab_id}"), CAPTURE_DEBOUNCE_MS, move || {
        wasm_bindgen_futures::spawn_local(send(tab_id));
    });
}

async fn send(tab_id: i64) {
    let exclusions = api::exclusions().await;
    let history =
        STATE.with(|s| s.borrow().logs.get(&tab_id).and_then(|l| l.to_history(tab_id, |u| exclusions.allows(u))));
    if let Some(history) = history {
        host::notify(RequestBody::TabHistory { history });
    }
}

async fn load() -> HashMap<i64, TabLog> {
    let Ok(items) = call("storage.session.get", &[STORAGE_KEY.into()]).await else {
        return HashMap::new();
    };
    let stored = js_sys::Reflect::get(&items, &STORAGE_KEY.into()).unwrap_or_default();
    if stored.is_undefined() {
        return HashMap::new();
    }
    // Keys are tab ids as strings (JSON object keys).
    chrome::from_js::<HashMap<String, TabLog>>(&stored)
        .map(|m| m.into_iter().filter_map(|(k, v)| Some((k.parse().ok()?, v))).collect())
        .unwrap_or_default()
}

async fn persist() {
    let logs: HashMap<String, TabLog> =
        STATE.with(|s| s.borrow().logs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect());
    let items = serde_json::json!({ STORAGE_KEY: logs });
    if let Err(e) = call("storage.session.set", &[js(&items)]).await {
        chrome::log(&format!("baton: cannot keep tab history: {e}"));
    }
}
