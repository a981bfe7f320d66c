//! The visitor's sessions in the service worker: one per shared tab.
//!
//! `Action::ShareTab` asks the host for a session (`share_start`), keeps
//! session ↔ tab, and tells the tab's content script to show the bar with
//! the code. Host `cobrowse` events for the session go to that tab; the
//! tab's frames, answers and audit entries go to the host. A page loading
//! in a shared tab says hello and is told it is shared. Stop (the page's
//! bar, the popup, the operator, the tab closing) ends the session once.
//! The shared tabs are mirrored into `chrome.storage.session` for the popup.

use std::cell::RefCell;
use std::collections::HashMap;

use wasm_bindgen::prelude::*;

use baton_shared::cobrowse::{AuditEvent, Frame, OperatorFrame, Role, SessionState};
use baton_shared::native::{CobrowseEvent, HostMessage, RequestBody};

use super::model::{open_url, reported_state, PendingPushes, SessionPolicy};
use super::protocol::{page_may_audit, FromPage, ShareView, ToPage, SHARES_KEY};
use crate::capture::api::{self, call, js};
use crate::chrome;
use crate::content::messages::ContentMessage;
use crate::web::web_url;
use crate::worker::host;

struct Share {
    view: ShareView,
    /// URLs the operator offered, by push id, until answered.
    pushes: PendingPushes,
}

thread_local! {
    /// Tab id → its share.
    static SHARES: RefCell<HashMap<i64, Share>> = RefCell::new(HashMap::new());
    /// Tabs whose `share_start` is on its way.
    static STARTING: RefCell<Vec<i64>> = const { RefCell::new(Vec::new()) };
    /// Tabs whose page would not run Baton's content script.
    static UNAVAILABLE: RefCell<Vec<i64>> = const { RefCell::new(Vec::new()) };
}

/// Whether Baton's content script runs in the tab's current page (it says
/// so when it starts, or its loader reports that it could not).
pub fn page_runs_baton(tab_id: i64, runs: bool) {
    UNAVAILABLE.with(|u| {
        let mut u = u.borrow_mut();
        u.retain(|t| *t != tab_id);
        if !runs {
            u.push(tab_id);
        }
    });
}

pub fn start() {
    host::subscribe(on_host_event);
    host::on_link_lost(host_gone);
    // A closed tab ends its share. (The worker stays alive while the host
    // port is open, so a listener added now is enough.)
    let on_removed = Closure::<dyn FnMut(JsValue)>::new(|tab_id: JsValue| {
        if let Some(tab_id) = tab_id.as_f64() {
            end(tab_id as i64, Some(Role::Visitor));
        }
    });
    if let Ok(event) = event_of("tabs", "onRemoved") {
        add_listener(&event, on_removed.as_ref());
    }
    on_removed.forget();
    publish();
}

/// `Action::StopSharing`: the visitor stopped sharing from the popup.
pub fn stop_sharing(tab_id: i64) -> Result<(), String> {
    if !end(tab_id, Some(Role::Visitor)) {
        return Err("this tab is not shared".into());
    }
    Ok(())
}

/// `Action::ShareTab`.
pub async fn share(tab_id: i64) -> Result<(), String> {
    // The organisation (or the person) may have turned co-browsing off.
    let settings = crate::settings::store::load_or_default().await;
    if !settings.settings.cobrowsing_enabled {
        return Err(match settings.is_locked(crate::settings::Key::CobrowsingEnabled) {
            true => "co-browsing is turned off by your organization".into(),
            false => "co-browsing is turned off in Baton's settings".into(),
        });
    }
    if let Some(view) = with_share(tab_id, |s| s.view.clone()) {
        to_page(tab_id, ToPage::Shared { share: view });
        return Ok(());
    }
    if UNAVAILABLE.with(|u| u.borrow().contains(&tab_id)) {
        return Err("this page's security policy does not let Baton run in it, so it cannot be shared".into());
    }
    if STARTING.with(|s| s.borrow().contains(&tab_id)) {
        return Ok(());
    }
    let tab = call("tabs.get", &[api::id(tab_id)]).await?;
    let tab: crate::capture::browser_types::BrowserTab = chrome::from_js(&tab)?;
    if web_url(tab.url()).is_none() || tab.incognito {
        return Err("only web pages (http and https) can be shared".into());
    }
    STARTING.with(|s| s.borrow_mut().push(tab_id));
    let reply = host::request(RequestBody::ShareStart).await;
    STARTING.with(|s| s.borrow_mut().retain(|t| *t != tab_id));
    let (session_id, code, expires_ms) = match reply {
        Ok(HostMessage::ShareStarted { session_id, code, expires_ms, .. }) => (session_id, code, expires_ms),
        Ok(other) => return Err(format!("unexpected answer from the Baton app: {other:?}")),
        Err(e) => return Err(e.message),
    };
    let view = ShareView::waiting(session_id.clone(), code, expires_ms);
    // The server records the start itself.
    SHARES.with(|s| s.borrow_mut().insert(tab_id, Share { view: view.clone(), pushes: PendingPushes::default() }));
    to_page(tab_id, ToPage::Shared { share: view });
    publish();
    Ok(())
}

/// Ends the share of `tab_id` (if any): tells the host unless the other side
/// ended it, clears the page, forgets the session. `by` is who ended it
/// (`None`: the server).
fn end(tab_id: i64, by: Option<Role>) -> bool {
    let Some(share) = SHARES.with(|s| s.borrow_mut().remove(&tab_id)) else {
        return false;
    };
    let session_id = share.view.session_id;
    // The server records the end itself. Asked while the host is away (it
    // stopped, and lost the session), the next one ends it at the server.
    if by == Some(Role::Visitor) {
        host::notify_when_connected(RequestBody::CobrowseEnd { session_id });
    }
    to_page(tab_id, ToPage::Ended);
    publish();
    true
}

/// The host went away, and its sessions with it: every share ends here
/// (the bar and everything else injected leave the page), and at the server
/// once a host is back.
fn host_gone() {
    let tabs: Vec<i64> = SHARES.with(|s| s.borrow().keys().copied().collect());
    for tab_id in tabs {
        end(tab_id, Some(Role::Visitor));
    }
}

fn tab_of(session_id: &str) -> Option<i64> {
    SHARES.with(|s| s.borrow().iter().find(|(_, share)| share.view.session_id == session_id).map(|(t, _)| *t))
}

fn with_share<R>(tab_id: i64, f: impl FnOnce(&mut Share) -> R) -> Option<R> {
    SHARES.with(|s| s.borrow_mut().get_mut(&tab_id).map(f))
}

fn on_host_event(message: &HostMessage) {
    let HostMessage::Cobrowse { session_id, event } = message else { return };
    let Some(tab_id) = tab_of(session_id) else { return };
    match event {
        CobrowseEvent::OperatorJoined { operator_name } => {
            let (session_id, operator_name) = (session_id.clone(), operator_name.clone());
            wasm_bindgen_futures::spawn_local(async move {
                // The operator allowlist (policy or the person's) decides before the visitor is asked.
                let settings = crate::settings::store::load_or_default().await;
                if let Err(message) = SessionPolicy::from_settings(&settings.settings).admit(&operator_name) {
                    return refuse(tab_id, session_id, message).await;
                }
                let view = with_share(tab_id, |s| {
                    s.view.state = SessionState::AwaitingConsent;
                    s.view.operator = Some(operator_name.clone());
                    s.view.clone()
                });
                if let Some(share) = view {
                    to_page(tab_id, ToPage::Shared { share });
                    publish();
                }
            });
        }
        CobrowseEvent::State { state: SessionState::Ended } | CobrowseEvent::Ended { .. } => {
            end(tab_id, None);
        }
        CobrowseEvent::State { state } => {
            // `operator` is set only once the operator is admitted (above).
            let view = with_share(tab_id, |s| {
                s.view.state = reported_state(s.view.state, *state, s.view.operator.is_some());
                s.view.clone()
            });
            if let Some(share) = view {
                to_page(tab_id, ToPage::Shared { share });
                publish();
            }
        }
        CobrowseEvent::Frame { frame: Frame::Operator { frame }, .. } => {
            let seen = with_share(tab_id, |s| {
                let active = s.view.state == SessionState::Active;
                // A push the worker does not keep is never shown: its id
                // is already waiting (the visitor sees the first URL), or
                // too many are.
                let taken = match frame {
                    OperatorFrame::PushUrl { push_id, url } if active => {
                        s.pushes.offer(push_id, url, js_sys::Date::now())
                    }
                    _ => true,
                };
                // The host opened it with the session key: the operator holds it.
                let confirmed_now = active && !std::mem::replace(&mut s.view.key_confirmed, true);
                (active && taken, confirmed_now.then(|| s.view.clone()))
            });
            let Some((active, confirmed)) = seen else { return };
            if let Some(share) = confirmed {
                to_page(tab_id, ToPage::Shared { share });
                publish();
            }
            if active {
                to_page(tab_id, ToPage::Frame { frame: frame.clone() });
            }
        }
        CobrowseEvent::Resumed => to_page(tab_id, ToPage::Frame { frame: OperatorFrame::KeyframeRequest }),
        CobrowseEvent::Peer { present, ends_at_ms } => {
            let view = with_share(tab_id, |s| {
                let ends_at_ms = if *present { None } else { *ends_at_ms };
                let changed = s.view.operator.is_some()
                    && (s.view.operator_away == *present || s.view.away_ends_at_ms != ends_at_ms);
                if changed {
                    s.view.operator_away = !present;
                    s.view.away_ends_at_ms = ends_at_ms;
                }
                changed.then(|| s.view.clone())
            });
            if let Some(share) = view.flatten() {
                to_page(tab_id, ToPage::Shared { share });
                publish();
            }
        }
        CobrowseEvent::Frame { .. } => {}
        CobrowseEvent::Error { message } => chrome::log(&format!("baton: co-browsing: {message}")),
        // The bar stops saying the session is recorded.
        CobrowseEvent::RecordingStopped { .. } => {
            let view = with_share(tab_id, |s| {
                s.view.recorded = false;
                s.view.clone()
            });
            if let Some(share) = view {
                to_page(tab_id, ToPage::Shared { share });
                publish();
            }
        }
    }
}

/// A message from a tab's content script (already checked to be ours, top frame).
pub fn on_page(tab_id: i64, _url: &str, message: FromPage) {
    let Some((session_id, state)) = with_share(tab_id, |s| (s.view.session_id.clone(), s.view.state)) else {
        return;
    };
    match message {
        FromPage::Hello => {
            // A new page: the previous one's push prompts are gone with it.
            if let Some(share) = with_share(tab_id, |s| {
                s.pushes.clear();
                s.view.clone()
            }) {
                to_page(tab_id, ToPage::Shared { share });
            }
        }
        FromPage::Consent { approve, record } => {
            if state != SessionState::AwaitingConsent {
                return;
            }
            // The host records consent (and recording consent, as finally
            // decided below) when it answers the server.
            // Never recorded when the settings do not allow it, whatever the page says.
            let policy = crate::settings::current().map(|e| SessionPolicy::from_settings(&e.settings));
            let record = policy.is_some_and(|p| p.record(approve, record));
            let respond = RequestBody::ShareRespond { session_id: session_id.clone(), approve, record };
            if approve {
                let share = with_share(tab_id, |s| {
                    s.view.state = SessionState::Active;
                    s.view.recorded = record;
                    s.view.clone()
                });
                host::notify(respond);
                if let Some(share) = share {
                    to_page(tab_id, ToPage::Shared { share });
                }
                publish();
            } else {
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = host::request(respond).await;
                    end(tab_id, Some(Role::Visitor));
                });
            }
        }
        FromPage::Frame { frame } => {
            if state == SessionState::Active {
                host::notify(RequestBody::CobrowseSend { session_id, frame: Frame::Visitor { frame } });
            }
        }
        FromPage::Audit { event } => {
            if state == SessionState::Active && page_may_audit(&event) {
                audit(&session_id, event);
            }
        }
        FromPage::Scopes { scopes } => {
            with_share(tab_id, |s| s.view.scopes = scopes);
            publish();
        }
        FromPage::DeclinedPush { push_id } => {
            with_share(tab_id, |s| s.pushes.decline(&push_id));
        }
        FromPage::OpenPushed { push_id, url } => {
            let url = with_share(tab_id, |s| s.pushes.accept(&push_id, &url, js_sys::Date::now())).flatten();
            if let Some(url) = url.as_deref().and_then(open_url) {
                wasm_bindgen_futures::spawn_local(async move {
                    let created = call("tabs.create", &[js(&serde_json::json!({ "url": url, "active": true }))]).await;
                    if let Err(e) = created {
                        chrome::log(&format!("baton: cannot open the pushed page: {e}"));
                    }
                });
            }
        }
        FromPage::Stop => {
            end(tab_id, Some(Role::Visitor));
        }
    }
}

/// The settings refused the operator who joined: deny at the host, forget
/// the share, and tell the page why (it shows it until closed).
async fn refuse(tab_id: i64, session_id: String, message: String) {
    chrome::log(&format!("baton: co-browsing: {message}"));
    let respond = RequestBody::ShareRespond { session_id, approve: false, record: false };
    if let Err(e) = host::request(respond).await {
        chrome::log(&format!("baton: co-browsing: refusing the operator failed: {e}"));
    }
    SHARES.with(|s| s.borrow_mut().remove(&tab_id));
    to_page(tab_id, ToPage::Refused { message });
    publish();
}

fn audit(session_id: &str, event: AuditEvent) {
    host::notify(RequestBody::CobrowseAudit { session_id: session_id.to_owned(), event });
}

fn to_page(tab_id: i64, m: ToPage) {
    let message = js(&ContentMessage::CobrowseToPage { m });
    wasm_bindgen_futures::spawn_local(async move {
        let options = js(&serde_json::json!({ "frameId": 0 }));
        // A tab between pages has no listener; its next page says hello.
        let _ = call("tabs.sendMessage", &[api::id(tab_id), message, options]).await;
    });
}

/// Mirrors the shares into `chrome.storage.session` for the popup.
fn publish() {
    let shares: serde_json::Map<String, serde_json::Value> = SHARES.with(|s| {
        s.borrow()
            .iter()
            .filter_map(|(tab, share)| Some((tab.to_string(), serde_json::to_value(&share.view).ok()?)))
            .collect()
    });
    let items = serde_json::json!({ SHARES_KEY: shares });
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = call("storage.session.set", &[js(&items)]).await {
            chrome::log(&format!("baton: cannot publish the shared tabs: {e}"));
        }
    });
}

fn event_of(api_name: &str, event: &str) -> Result<JsValue, JsValue> {
    let chrome = js_sys::Reflect::get(&js_sys::global(), &"chrome".into())?;
    let api = js_sys::Reflect::get(&chrome, &api_name.into())?;
    js_sys::Reflect::get(&api, &event.into())
}

fn add_listener(event: &JsValue, f: &JsValue) {
    use wasm_bindgen::JsCast;
    if let Ok(add) = js_sys::Reflect::get(event, &"addListener".into()).and_then(|f| f.dyn_into::<js_sys::Function>()) {
        let _ = add.call1(event, f);
    }
}
