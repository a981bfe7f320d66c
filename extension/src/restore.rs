//! Opening another device's tabs here and restoring their state, and
//! opening tabs sent to this device.
//!
//! Restoring a page: the page state is fetched before the tab is created
//! and parked under the new tab's id; it is handed to the tab's content
//! script once that reports ready on the same page (or when the tab has
//! loaded and the content script answers), then dropped. Everything that
//! arrives from another device is outside input: only `http(s)` URLs open.

use std::cell::RefCell;
use std::collections::HashMap;

use baton_shared::native::{HostMessage, RequestBody};
use baton_shared::session::{PageState, RemoteDevice, TabState};

use crate::capture::api::{self, call, js};
use crate::capture::browser_types::{BrowserTab, BrowserWindow};
use crate::capture::exclude::is_web_url;
use crate::chrome;
use crate::content::messages::{same_page, ContentMessage};
use crate::worker::host;

/// A parked page state is dropped after this long.
const PENDING_TTL_MS: i64 = 120_000;

struct Pending {
    page: PageState,
    since_ms: i64,
    /// A `tabs.sendMessage` with this state is on its way to the tab.
    in_flight: bool,
    /// A load or ready signal came while it was: if that attempt is refused,
    /// try again (the ready signal may overtake the refusal of an attempt
    /// made before the content script listened).
    again: bool,
}

thread_local! {
    /// New tab id → the state to restore into it.
    static PENDING: RefCell<HashMap<i64, Pending>> = RefCell::new(HashMap::new());
    /// New tab id → `send_id` of the received tab it shows, until loaded.
    static RECEIVED: RefCell<HashMap<i64, String>> = RefCell::new(HashMap::new());
}

pub fn start() {
    host::subscribe(on_host_event);
}

/// Opens a URL (a history entry) in a new tab.
pub async fn open_url(url: &str) -> Result<(), String> {
    open_tab(url, true).await.map(|_| ())
}

/// Opens another device's tab here, then hands it its saved page state.
pub async fn open_remote_tab(device_id: &str, tab_id: i64) -> Result<(), String> {
    let devices = list_devices().await?;
    let tab = devices
        .iter()
        .filter(|d| d.id == device_id)
        .flat_map(|d| d.windows.iter().flat_map(|w| w.tabs.iter()))
        .find(|t| t.id == tab_id)
        .cloned()
        .ok_or("that tab is no longer open on the other device")?;
    let page = page_for(device_id, &tab).await;
    let new_tab = open_tab(&tab.url, true).await?;
    park(new_tab, page);
    Ok(())
}

/// Reopens another device's window here, tabs in order, each restored.
pub async fn continue_window(device_id: &str, window_id: i64) -> Result<(), String> {
    let devices = list_devices().await?;
    let window = devices
        .iter()
        .filter(|d| d.id == device_id)
        .flat_map(|d| d.windows.iter())
        .find(|w| w.id == window_id)
        .ok_or("that window is no longer open on the other device")?;
    let mut tabs: Vec<&TabState> = window.tabs.iter().filter(|t| is_web_url(&t.url)).collect();
    tabs.sort_by_key(|t| t.index);
    if tabs.is_empty() {
        return Err("that window has no tabs that can be opened here".into());
    }
    let mut pages = Vec::with_capacity(tabs.len());
    for tab in &tabs {
        pages.push(page_for(device_id, tab).await);
    }
    let urls: Vec<&str> = tabs.iter().map(|t| t.url.as_str()).collect();
    let created = call("windows.create", &[js(&serde_json::json!({ "url": urls, "focused": true }))]).await?;
    let created: BrowserWindow = chrome::from_js(&created)?;
    for ((tab, page), new_tab) in tabs.iter().zip(pages).zip(&created.tabs) {
        let Some(new_id) = new_tab.id else { continue };
        park(new_id, page);
        if tab.pinned || tab.active {
            let update = serde_json::json!({ "pinned": tab.pinned, "active": tab.active });
            let _ = call("tabs.update", &[api::id(new_id), js(&update)]).await;
        }
    }
    Ok(())
}

/// A tab finished loading: report received tabs, offer parked state.
pub fn tab_loaded(tab_id: i64, url: &str) {
    if let Some(send_id) = RECEIVED.with(|r| r.borrow_mut().remove(&tab_id)) {
        host::notify(RequestBody::TabOpened { send_id });
    }
    deliver(tab_id, url);
}

/// The tab's content script is ready on `url`.
pub fn content_ready(tab_id: i64, url: &str) {
    deliver(tab_id, url);
}

pub fn forget(tab_id: i64) {
    PENDING.with(|p| p.borrow_mut().remove(&tab_id));
    RECEIVED.with(|r| r.borrow_mut().remove(&tab_id));
}

fn park(tab_id: i64, page: Option<PageState>) {
    let now = api::now_ms();
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        p.retain(|_, pending| now - pending.since_ms < PENDING_TTL_MS);
        if let Some(page) = page {
            p.insert(tab_id, Pending { page, since_ms: now, in_flight: false, again: false });
        }
    });
}

/// Hands the parked state to the tab if it shows the page the state is for.
/// Kept parked while the tab is elsewhere (a redirect on the way) or its
/// content script is not listening yet. One attempt at a time, so the load
/// and ready signals never deliver twice; a signal that arrives during an
/// attempt that is then refused starts another one, since the content script
/// listens before it reports ready.
fn deliver(tab_id: i64, url: &str) {
    let page = PENDING.with(|p| {
        let mut p = p.borrow_mut();
        let pending = p.get_mut(&tab_id).filter(|pending| same_page(&pending.page.url, url))?;
        if pending.in_flight {
            pending.again = true;
            return None;
        }
        pending.in_flight = true;
        Some(pending.page.clone())
    });
    let Some(page) = page else { return };
    wasm_bindgen_futures::spawn_local(async move {
        let url = page.url.clone();
        let message = js(&ContentMessage::Restore { page });
        let options = js(&serde_json::json!({ "frameId": 0 }));
        let accepted =
            call("tabs.sendMessage", &[api::id(tab_id), message, options]).await.is_ok_and(|r| r.is_truthy());
        let retry = PENDING.with(|p| {
            let mut p = p.borrow_mut();
            if accepted {
                p.remove(&tab_id);
                return false;
            }
            // Refused: not listening yet; stays parked for its ready signal.
            match p.get_mut(&tab_id) {
                Some(pending) => {
                    pending.in_flight = false;
                    std::mem::take(&mut pending.again)
                }
                None => false,
            }
        });
        if retry {
            deliver(tab_id, &url);
        }
    });
}

async fn list_devices() -> Result<Vec<RemoteDevice>, String> {
    match host::request(RequestBody::ListDevices).await {
        Ok(HostMessage::Devices { devices, .. }) => Ok(devices),
        Ok(other) => Err(format!("unexpected reply from the Baton app: {other:?}")),
        Err(e) => Err(e.message),
    }
}

/// The remote tab's page state, if it belongs to the page the tab shows.
/// A failure only loses the refill, not the tab.
async fn page_for(device_id: &str, tab: &TabState) -> Option<PageState> {
    let request = RequestBody::TabDetails { device_id: device_id.to_owned(), tab_id: tab.id };
    match host::request(request).await {
        Ok(HostMessage::TabDetails { page: Some(page), .. }) if same_page(&page.url, &tab.url) => Some(page),
        Ok(_) => None,
        Err(e) => {
            chrome::log(&format!("baton: no page state for the tab: {e}"));
            None
        }
    }
}

async fn open_tab(url: &str, active: bool) -> Result<i64, String> {
    if !is_web_url(url) {
        return Err("only web pages (http and https) can be opened".into());
    }
    let tab = call("tabs.create", &[js(&serde_json::json!({ "url": url, "active": active }))]).await?;
    let tab: BrowserTab = chrome::from_js(&tab)?;
    tab.id.ok_or_else(|| "the browser did not open the tab".to_owned())
}

fn on_host_event(message: &HostMessage) {
    if let HostMessage::TabReceived { send_id, url, .. } = message {
        let (send_id, url) = (send_id.clone(), url.clone());
        wasm_bindgen_futures::spawn_local(async move {
            match open_tab(&url, true).await {
                Ok(tab_id) => {
                    RECEIVED.with(|r| r.borrow_mut().insert(tab_id, send_id));
                }
                Err(e) => chrome::log(&format!("baton: cannot open a received tab: {e}")),
            }
        });
    }
}
