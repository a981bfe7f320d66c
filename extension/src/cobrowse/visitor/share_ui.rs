//! The popup's "Share this tab": `#share-tab` starts sharing the window's
//! web page (the active one, else the last used), `#share-code` shows the
//! code to read to the operator, `#share-state[data-state]` follows the
//! session (`off`, `starting`, `waiting`, `awaiting_consent`, `active`,
//! `error`), `#stop-share` ends it. The state comes from what the worker
//! publishes in `chrome.storage.session`.

use std::cell::Cell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::Document;

use baton_shared::cobrowse::SessionState;

use super::model::state_name;
use super::protocol::{ShareView, SHARES_KEY};
use crate::capture::api::{call, js};
use crate::capture::browser_types::BrowserTab;
use crate::chrome;
use crate::panel::client::Client;
use crate::view::Action;
use crate::web::web_url;

pub fn mount(doc: &Document, client: Client) {
    let tab: Rc<Cell<Option<i64>>> = Rc::new(Cell::new(None));
    {
        let (doc, tab) = (doc.clone(), tab.clone());
        wasm_bindgen_futures::spawn_local(async move {
            tab.set(target_tab().await);
            refresh(&doc, tab.get()).await;
        });
    }
    // Follow the worker's updates.
    let (d, t) = (doc.clone(), tab.clone());
    let on_changed = Closure::<dyn FnMut(JsValue, JsValue)>::new(move |_: JsValue, area: JsValue| {
        if area.as_string().as_deref() == Some("session") {
            let (doc, tab) = (d.clone(), t.get());
            wasm_bindgen_futures::spawn_local(async move { refresh(&doc, tab).await });
        }
    });
    if let Ok(event) = js_sys::Reflect::get(&js_sys::global(), &"chrome".into())
        .and_then(|c| js_sys::Reflect::get(&c, &"storage".into()))
        .and_then(|s| js_sys::Reflect::get(&s, &"onChanged".into()))
    {
        if let Ok(add) =
            js_sys::Reflect::get(&event, &"addListener".into()).and_then(|f| f.dyn_into::<js_sys::Function>())
        {
            let _ = add.call1(&event, on_changed.as_ref());
        }
    }
    on_changed.forget();

    let action = |make: fn(i64) -> Action, busy: &'static str| {
        let (doc, tab, client) = (doc.clone(), tab.clone(), client.clone());
        move || {
            let Some(tab_id) = tab.get() else {
                return show(&doc, "error", "Open the web page you want to share, then try again.", None);
            };
            show(&doc, "starting", busy, None);
            let (doc, client) = (doc.clone(), client.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match client.action(make(tab_id)).await {
                    Ok(()) => refresh(&doc, Some(tab_id)).await,
                    Err(e) => show(&doc, "error", &format!("Not shared: {e}"), None),
                }
            });
        }
    };
    on_click(doc, "share-tab", action(|tab_id| Action::ShareTab { tab_id }, "Starting…"));
    on_click(doc, "stop-share", action(|tab_id| Action::StopSharing { tab_id }, "Stopping…"));
}

/// The tab "this tab" means: the window's active web page, else the one
/// used last (the popup may itself be a tab).
async fn target_tab() -> Option<i64> {
    let tabs = call("tabs.query", &[js(&serde_json::json!({ "currentWindow": true }))]).await.ok()?;
    let tabs: Vec<BrowserTab> = chrome::from_js(&tabs).ok()?;
    let web = |t: &&BrowserTab| web_url(t.url()).is_some() && !t.incognito;
    tabs.iter()
        .filter(|t| t.active)
        .find(web)
        .or_else(|| {
            tabs.iter()
                .filter(web)
                .max_by(|a, b| a.last_accessed.unwrap_or(0.0).total_cmp(&b.last_accessed.unwrap_or(0.0)))
        })
        .and_then(|t| t.id)
}

async fn refresh(doc: &Document, tab: Option<i64>) {
    let Some(tab_id) = tab else {
        return show(doc, "off", "Open a web page to share it.", None);
    };
    let share = match call("storage.session.get", &[SHARES_KEY.into()]).await {
        Ok(items) => js_sys::Reflect::get(&items, &SHARES_KEY.into())
            .ok()
            .and_then(|all| js_sys::Reflect::get(&all, &tab_id.to_string().into()).ok())
            .filter(|v| !v.is_undefined() && !v.is_null())
            .and_then(|v| chrome::from_js::<ShareView>(&v).ok()),
        Err(_) => None,
    };
    match share {
        None => show(doc, "off", "This tab is not shared.", None),
        Some(s) => {
            let line = match s.state {
                SessionState::Waiting => "Read this code to the operator (valid 10 minutes):".to_owned(),
                SessionState::AwaitingConsent => {
                    format!(
                        "{} asks to view this tab: answer in the page.",
                        s.operator.as_deref().unwrap_or("An operator")
                    )
                }
                SessionState::Active => {
                    format!("{} is viewing this tab.", s.operator.as_deref().unwrap_or("An operator"))
                }
                SessionState::Ended => "Sharing has ended.".to_owned(),
            };
            let code = (s.state == SessionState::Waiting).then_some(s.code.as_str());
            show(doc, state_name(s.state), &line, code);
        }
    }
}

fn show(doc: &Document, state: &str, line: &str, code: Option<&str>) {
    if let Some(e) = doc.get_element_by_id("share-state") {
        let _ = e.set_attribute("data-state", state);
        e.set_text_content(Some(line));
    }
    if let Some(e) = doc.get_element_by_id("share-code") {
        e.set_text_content(code);
        set_hidden(&e, code.is_none());
    }
    let shared = matches!(state, "waiting" | "awaiting_consent" | "active");
    if let Some(e) = doc.get_element_by_id("stop-share") {
        set_hidden(&e, !shared);
    }
    if let Some(e) = doc.get_element_by_id("share-tab") {
        set_hidden(&e, shared);
    }
}

fn set_hidden(e: &web_sys::Element, hidden: bool) {
    let _ = if hidden { e.set_attribute("hidden", "") } else { e.remove_attribute("hidden") };
}

/// Wires a button and only then enables it: the page's HTML ships it
/// disabled, so a click before the module has loaded is never lost silently.
fn on_click(doc: &Document, id: &str, mut f: impl FnMut() + 'static) {
    if let Some(button) = doc.get_element_by_id(id) {
        let on_click = Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| f());
        let _ = button.add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref());
        on_click.forget();
        let _ = button.remove_attribute("disabled");
    }
}
