//! Evaluating JavaScript in the extension's content-script world of a page.
//!
//! Baton's UI in a page lives in a closed shadow root that only the content
//! script's isolated world can open (`chrome.dom.openOrClosedShadowRoot`),
//! so tests that read or click it must run there rather than in the page.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::broadcast::error::TryRecvError;

use crate::cdp::{Event, Session};

/// What Baton put into a page, counted from the page: its elements, and the
/// outline's sheet the document adopts while shared (pages in these tests
/// adopt none of their own). Zero before sharing and after it ends.
pub const BATON_IN_PAGE_JS: &str =
    "document.querySelectorAll('[data-baton-ui]').length + document.adoptedStyleSheets.length";

/// How long a world that was not among the contexts replayed by
/// `Runtime.enable` gets to appear (a content script still being injected).
const CONTEXTS_REPLAYED: Duration = Duration::from_millis(400);
const POLL: Duration = Duration::from_millis(150);

/// Evaluates `expression` in the content-script world of `page`'s main
/// frame (the newest one, so it follows navigations), awaiting promises; the error says why
/// there was no value (no world yet, an exception, a CDP failure).
pub async fn in_content_world(page: &Session, expression: &str) -> Result<Value, String> {
    let mut events = page.cdp().events();
    // Re-enabling makes Chromium announce every live context again, before
    // it answers the command; the reader queues events in the order they
    // came, so the replayed ones are all queued once `enable` returns.
    let _ = page.call("Runtime.disable", json!({})).await;
    page.call("Runtime.enable", json!({})).await.map_err(|e| e.to_string())?;
    let baton_world = |event: &Event| {
        let c = &event.params["context"];
        // The page's own frame: capture reaching into a same-origin iframe
        // gives that frame a Baton world too.
        let ours = event.method == "Runtime.executionContextCreated"
            && event.session_id.as_deref() == Some(page.id())
            && c["auxData"]["type"] == "isolated"
            && c["name"] == "Baton"
            && c["auxData"]["frameId"] == page.target_id();
        ours.then(|| c["id"].as_i64()).flatten()
    };
    let mut context = None;
    loop {
        match events.try_recv() {
            Ok(event) => context = baton_world(&event).max(context),
            Err(TryRecvError::Lagged(_)) => continue,
            Err(_) => break,
        }
    }
    if context.is_none() {
        let deadline = tokio::time::Instant::now() + CONTEXTS_REPLAYED;
        while let Ok(Ok(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
            if let Some(id) = baton_world(&event) {
                context = Some(id);
                break;
            }
        }
    }
    let Some(context) = context else { return Err("no content-script world yet".into()) };
    let reply = page
        .call(
            "Runtime.evaluate",
            json!({"expression": expression, "contextId": context, "returnByValue": true, "awaitPromise": true}),
        )
        .await
        .map_err(|e| e.to_string())?;
    if let Some(details) = reply.get("exceptionDetails") {
        return Err(details.to_string());
    }
    Ok(reply["result"]["value"].clone())
}

/// Evaluates `expression` with [`in_content_world`] until `done` holds on
/// its value; on timeout the error names `what` and the last answer.
pub async fn wait_in_content_world(
    page: &Session,
    what: &str,
    expression: &str,
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) -> Result<Value, String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = match in_content_world(page, expression).await {
            Ok(v) if done(&v) => return Ok(v),
            Ok(v) => v.to_string(),
            Err(e) => e,
        };
        if tokio::time::Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}; last: {last}"));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// An expression for [`in_content_world`] that reads Baton's visitor UI
/// in the page (through its closed shadow root): `{mounted, state, scopes,
/// recorded, operator_away, text, consent, control, notice, pointer,
/// strokes, apps: [{id, state, sandbox, src}]}`, or `{mounted: false}`.
pub const VISITOR_UI_JS: &str = r#"(() => {
  const host = document.querySelector('[data-baton-ui=visitor]');
  if (!host) return { mounted: false };
  const ui = chrome.dom.openOrClosedShadowRoot(host);
  const bar = ui.querySelector('[data-baton-part=bar]');
  const q = (s) => ui.querySelector(s);
  const apps = [...ui.querySelectorAll('[data-baton-app]')].map((a) => ({ id: a.dataset.batonApp, state: a.dataset.state,
    sandbox: a.querySelector('iframe')?.getAttribute('sandbox'), src: a.querySelector('iframe')?.src ?? '' }));
  return { mounted: true, state: bar?.dataset.state ?? null, scopes: bar?.dataset.scopes ?? '', recorded: bar?.dataset.recorded === 'true',
    operator_away: bar?.dataset.operatorAway === 'true',
    text: bar?.textContent ?? '',
    consent: !!q('[data-baton-part=dialog-consent]'), control: !!q('[data-baton-part=dialog-control]'),
    notice: q('[data-baton-part=dialog-notice]')?.textContent ?? null,
    pointer: !!q('[data-baton-part=pointer]:not([hidden])'), strokes: ui.querySelectorAll('polyline').length, apps };
})()"#;

/// An expression for [`in_content_world`] that clicks the element of
/// Baton's visitor UI marked `data-baton-act="<act>"`; it yields whether
/// there was one to click.
pub fn click_visitor_ui(act: &str) -> String {
    format!(
        r#"(() => {{ const ui = chrome.dom.openOrClosedShadowRoot(document.querySelector('[data-baton-ui=visitor]'));
  const e = ui.querySelector('[data-baton-act="{act}"]'); if (!e) return false; e.click(); return true; }})()"#
    )
}
