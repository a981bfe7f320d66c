//! The content script's life: stay inert on pages never captured; else
//! capture on input, change and scroll (debounced) and when the page is
//! hidden, and restore what the worker sends.

use std::cell::Cell;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{AddEventListenerOptions, Document, Element, Window};

use baton_shared::limits::CAPTURE_DEBOUNCE_MS;
use baton_shared::session::{FieldKey, FieldState, PageState};

use super::messages::{same_page, ContentMessage};
use super::{dom, fill, matching, scroll};
use crate::capture::api::{self, js};
use crate::capture::debounce;
use crate::capture::sanitize::sanitize;
use crate::chrome;

/// Delays (ms) of the restore attempts, for pages still rendering.
const RESTORE_ATTEMPTS: [u32; 4] = [0, 300, 1_000, 2_500];

thread_local! {
    /// Something changed since the last capture.
    static DIRTY: Cell<bool> = const { Cell::new(false) };
}

pub fn start() {
    // Co-browsing listens on every page: a shared tab works on sites that
    // continuation leaves alone.
    crate::cobrowse::visitor::page::start();
    wasm_bindgen_futures::spawn_local(async {
        let Some(win) = web_sys::window() else { return };
        let Ok(href) = win.location().href() else { return };
        if !api::exclusions().await.allows(&href) {
            return;
        }
        if listen(&win).is_err() {
            return;
        }
        // Keeps the settings read above (private selectors) current.
        crate::settings::watch(|_| {});
        send(&ContentMessage::Ready { url: href });
    });
}

fn listen(win: &Window) -> Result<(), JsValue> {
    let doc = win.document().ok_or(JsValue::NULL)?;
    let changed = Closure::<dyn FnMut(web_sys::Event)>::new(|event: web_sys::Event| {
        note_secret_target(&event);
        DIRTY.with(|d| d.set(true));
        debounce::schedule("page", CAPTURE_DEBOUNCE_MS, capture_now);
    });
    let options = AddEventListenerOptions::new();
    options.set_capture(true);
    options.set_passive(true);
    let f = changed.as_ref().unchecked_ref();
    for name in ["input", "change"] {
        doc.add_event_listener_with_callback_and_add_event_listener_options(name, f, &options)?;
    }
    win.add_event_listener_with_callback_and_add_event_listener_options("scroll", f, &options)?;
    changed.forget();
    // A password field is known as one from the moment it is focused, so
    // that showing it as text before the next scan does not capture it.
    let focused = Closure::<dyn FnMut(web_sys::Event)>::new(|event: web_sys::Event| note_secret_target(&event));
    doc.add_event_listener_with_callback_and_add_event_listener_options(
        "focusin",
        focused.as_ref().unchecked_ref(),
        &options,
    )?;
    focused.forget();

    // Leaving or hiding the page: capture now, the debounce may not get to run.
    let leaving = Closure::<dyn FnMut()>::new(|| {
        let hidden = web_sys::window().and_then(|w| w.document()).is_none_or(|d| d.hidden());
        if hidden {
            capture_now();
        }
    });
    win.add_event_listener_with_callback("pagehide", leaving.as_ref().unchecked_ref())?;
    doc.add_event_listener_with_callback("visibilitychange", leaving.as_ref().unchecked_ref())?;
    leaving.forget();

    let on_message = Closure::<dyn FnMut(JsValue, JsValue, JsValue)>::new(on_message);
    let runtime = js_sys::Reflect::get(&js_sys::global(), &"chrome".into())
        .and_then(|c| js_sys::Reflect::get(&c, &"runtime".into()))?;
    let event = js_sys::Reflect::get(&runtime, &"onMessage".into())?;
    let add: js_sys::Function = js_sys::Reflect::get(&event, &"addListener".into())?.dyn_into()?;
    add.call1(&event, on_message.as_ref())?;
    on_message.forget();
    Ok(())
}

/// The element an event really happened on (inside shadow roots too),
/// remembered if it is a secret field ([`dom::once_secret`], or shown as
/// shapes: [`dom::disguised`]).
fn note_secret_target(event: &web_sys::Event) {
    if let Some(element) = event.composed_path().get(0).dyn_ref::<Element>() {
        if !dom::once_secret(element) {
            dom::disguised(element);
        }
    }
}

fn capture_now() {
    if !DIRTY.with(|d| d.replace(false)) {
        return;
    }
    let Some(win) = web_sys::window() else { return };
    let Some(doc) = win.document() else { return };
    let Ok(url) = win.location().href() else { return };
    let fields = dom::fields(&doc)
        .into_iter()
        .filter_map(|f| {
            let value = dom::value_of(&f.element, f.key.kind)?;
            // Only a value about to be captured is worth the style lookup.
            if dom::disguised(&f.element) {
                return None;
            }
            Some(FieldState { value, key: f.key })
        })
        .collect();
    let mut page =
        PageState { tab_id: 0, url, fields, scroll: Some(scroll::capture(&win, &doc)), captured_ms: api::now_ms() };
    sanitize(&mut page);
    send(&ContentMessage::PageState { page });
}

/// `chrome.runtime.sendMessage`, synchronously (it must leave during
/// `pagehide`); a worker that is gone or an invalidated extension is not
/// the page's problem, so failures are swallowed.
fn send(message: &ContentMessage) {
    thread_local! {
        static IGNORE: Closure<dyn FnMut(JsValue)> = Closure::new(|_: JsValue| {});
    }
    let result = (|| -> Result<JsValue, JsValue> {
        let runtime = js_sys::Reflect::get(&js_sys::global(), &"chrome".into())
            .and_then(|c| js_sys::Reflect::get(&c, &"runtime".into()))?;
        let f: js_sys::Function = js_sys::Reflect::get(&runtime, &"sendMessage".into())?.dyn_into()?;
        f.call1(&runtime, &js(message))
    })();
    if let Ok(promise) = result.and_then(|r| r.dyn_into::<js_sys::Promise>().map_err(|_| JsValue::NULL)) {
        IGNORE.with(|ignore| {
            let _ = promise.catch(ignore);
        });
    }
}

/// Answers `true` to a restore it accepted, so the worker knows it arrived.
fn on_message(message: JsValue, sender: JsValue, send_response: JsValue) {
    let own_id = js_sys::Reflect::get(&js_sys::global(), &"chrome".into())
        .and_then(|c| js_sys::Reflect::get(&c, &"runtime".into()))
        .and_then(|r| js_sys::Reflect::get(&r, &"id".into()))
        .ok()
        .and_then(|id| id.as_string());
    let sender_id = js_sys::Reflect::get(&sender, &"id".into()).ok().and_then(|id| id.as_string());
    if own_id.is_none() || sender_id != own_id {
        return;
    }
    if let Ok(ContentMessage::Restore { page }) = chrome::from_js::<ContentMessage>(&message) {
        if let Some(respond) = send_response.dyn_ref::<js_sys::Function>() {
            let _ = respond.call1(&JsValue::NULL, &JsValue::TRUE);
        }
        wasm_bindgen_futures::spawn_local(restore(page));
    }
}

async fn restore(page: PageState) {
    let Some(win) = web_sys::window() else { return };
    if !win.location().href().is_ok_and(|href| same_page(&href, &page.url)) {
        return;
    }
    let mut remaining = page.fields;
    let mut filled: Vec<Element> = Vec::new();
    let mut scrolled = page.scroll.is_none();
    for delay in RESTORE_ATTEMPTS {
        if delay > 0 {
            api::sleep(delay).await;
        }
        let Some(doc) = win.document() else { return };
        remaining = fill_fields(&doc, remaining, &mut filled);
        if !scrolled {
            if let Some(state) = &page.scroll {
                scrolled = scroll::restore(&win, &doc, state);
            }
        }
        if remaining.is_empty() && scrolled {
            break;
        }
    }
}

/// Fills what matches now; returns the fields still without a match.
fn fill_fields(doc: &Document, saved: Vec<FieldState>, filled: &mut Vec<Element>) -> Vec<FieldState> {
    if saved.is_empty() {
        return saved;
    }
    let candidates: Vec<dom::Field> = dom::fields(doc)
        .into_iter()
        .filter(|c| !filled.iter().any(|f| JsValue::from(f) == JsValue::from(&c.element)))
        .collect();
    let saved_keys: Vec<FieldKey> = saved.iter().map(|f| f.key.clone()).collect();
    let candidate_keys: Vec<FieldKey> = candidates.iter().map(|c| c.key.clone()).collect();
    let mut done = vec![false; saved.len()];
    for (s, c) in matching::assign(&saved_keys, &candidate_keys) {
        let candidate = &candidates[c];
        if fill::fill(&candidate.element, candidate.key.kind, &saved[s].value) {
            done[s] = true;
            filled.push(candidate.element.clone());
        }
    }
    saved.into_iter().zip(done).filter(|(_, d)| !d).map(|(f, _)| f).collect()
}
