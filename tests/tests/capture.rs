//! Capture and restore in one real profile: a form page served from
//! 127.0.0.1 is filled in, and what reaches the host's store is checked —
//! the ordinary fields and the scroll anchor are there, the password (also
//! one the page shows as text right after it is typed), a text field the
//! page shows as dots (`-webkit-text-security`), card number, hidden input
//! and `data-baton-private` field are nowhere in the host's data, and the
//! scroll anchor is never text the settings' private selectors name. The captured state is then restored into a reordered
//! copy of the form through the content script.

use std::path::Path;
use std::time::Duration;

use baton_e2e::store::{self, field, files_containing, local_records};
use baton_e2e::{pages, Device, DeviceOptions, OrReport, Reply, ServerProcess};
use baton_shared::ids::EXTENSION_ID;
use serde_json::{json, Value};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
const CAPTURE_TIMEOUT: Duration = Duration::from_secs(15);
const LOAD_TIMEOUT: Duration = Duration::from_secs(10);

const NAME: &str = "Ada Lovelace";
const MESSAGE: &str = "The printer is on fire.\nSecond line.";
const PASSWORD: &str = "hunter2-PASSWORD-VALUE";
/// Typed into a second password field that the page then shows as text
/// (a "show password" button), before Baton's next look at the form.
const SHOWN_PASSWORD: &str = "shown-secret-VALUE-77";
const CARD: &str = "4111111111111111";
/// Typed into a text field the page shows as dots, as PIN fields do.
const DOTTED: &str = "DOTTED-PIN-8642";
const HIDDEN: &str = "HIDDEN-INPUT-VALUE";
const PRIVATE: &str = "PRIVATE-BLOCK-VALUE";
/// Four paragraphs in five carry it; the settings name it as private.
const ASIDE_SELECTOR: &str = ".aside";

fn paragraphs() -> String {
    (0..80)
        .map(|i| {
            let class = if i % 5 != 2 { " class=\"aside\"" } else { "" };
            format!("<p{class}>Paragraph number {i} of the long article about printers.</p>\n")
        })
        .collect()
}

/// The form; `reordered` moves every field elsewhere in the markup and puts
/// a tall banner above the article, so neither paths nor raw `y` fit.
fn form_page(reordered: bool) -> String {
    let name = r#"<p><label for="name">Your name</label> <input id="name" name="name" type="text"></p>"#;
    let message = r#"<p><label>Message <textarea name="message"></textarea></label></p>"#;
    let topic = r#"<p><label for="topic">Topic</label> <select id="topic" name="topic">
        <option value="">Choose</option><option value="billing">Billing</option><option value="bug">Bug</option>
        </select></p>"#;
    let urgent = r#"<p><label><input type="checkbox" name="urgent" value="yes"> Urgent</label></p>"#;
    let password = r#"<p><label for="pw">Password</label> <input id="pw" name="pw" type="password">
        <input id="pw2" name="pw2" type="password"></p>"#;
    let card = r#"<p><input name="payment" autocomplete="cc-number" type="text"></p>"#;
    let dotted = r#"<p><input name="access" type="text" style="-webkit-text-security: disc"></p>"#;
    let hidden = r#"<input type="hidden" name="token" value="">"#;
    let private = r#"<div data-baton-private><input name="note" type="text"></div>"#;
    let (fields, banner) = if reordered {
        (
            [urgent, private, topic, dotted, card, hidden, "<div><div>", message, "</div></div>", password, name]
                .concat(),
            r#"<div style="height:700px">Banner</div>"#,
        )
    } else {
        ([name, message, topic, urgent, password, card, dotted, hidden, private].concat(), "")
    };
    format!(
        "<!doctype html><html><head><meta charset=utf-8><title>Support form</title></head><body>\n\
         <h1>Support request</h1><form action=\"/submit\" method=\"post\">{fields}</form>\n{banner}{}</body></html>",
        paragraphs()
    )
}

/// The form, and its reordered copy.
async fn serve_pages() -> String {
    pages::serve(|request| match request.path() {
        "/form" | "/form?excluded" => Reply::html(form_page(false)),
        "/reordered" => Reply::html(form_page(true)),
        _ => Reply::not_found(),
    })
    .await
    .expect("start the page server")
}

fn page_record(db: &Path, url: &str) -> Option<Value> {
    store::page_record(&local_records(db).ok()?, url).cloned()
}

const FILL_JS: &str = r#"(() => {
  const set = (sel, v) => { const e = document.querySelector(sel); e.value = v; e.dispatchEvent(new Event('input', {bubbles: true})); };
  set('#name', NAME);
  set('[name=message]', MESSAGE);
  set('#pw', PASSWORD);
  // Run again and again until the content script is there: a password
  // field each time it is typed into, then shown.
  document.querySelector('#pw2').type = 'password';
  set('#pw2', SHOWN_PW);
  document.querySelector('#pw2').type = 'text';
  set('[name=payment]', CARD);
  set('[name=access]', DOTTED);
  set('[name=note]', PRIVATE);
  document.querySelector('[name=token]').value = HIDDEN;
  const topic = document.querySelector('#topic'); topic.value = 'bug'; topic.dispatchEvent(new Event('change', {bubbles: true}));
  const urgent = document.querySelector('[name=urgent]'); urgent.checked = true; urgent.dispatchEvent(new Event('change', {bubbles: true}));
  window.scrollTo(0, 1500);
  const p = [...document.querySelectorAll('p')].find((p) => p.textContent.startsWith('Paragraph') && p.getBoundingClientRect().top >= 0);
  return { paragraph: p.textContent, top: p.getBoundingClientRect().top };
})()"#;

fn fill_js() -> String {
    FILL_JS
        .replace("NAME", &json!(NAME).to_string())
        .replace("MESSAGE", &json!(MESSAGE).to_string())
        .replace("PASSWORD", &json!(PASSWORD).to_string())
        .replace("CARD", &json!(CARD).to_string())
        .replace("DOTTED", &json!(DOTTED).to_string())
        .replace("PRIVATE", &json!(PRIVATE).to_string())
        .replace("HIDDEN", &json!(HIDDEN).to_string())
        .replace("SHOWN_PW", &json!(SHOWN_PASSWORD).to_string())
}

/// True once the page at `url` (not the initial about:blank) has loaded.
fn loaded_js(url: &str) -> String {
    format!("location.href === {} && document.readyState === 'complete'", serde_json::Value::from(url))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_capture_masks_secrets_and_restores_into_reordered_markup() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(dir.path().join("server.sqlite3")).await.expect("start baton-server");
    let device =
        Device::start(DeviceOptions::new("E2E Capture", server.url())).await.or_report("start the device", &[&server]);
    let parts: [&dyn baton_e2e::Diagnose; 2] = [&device, &server];
    let popup = device.popup().await.or_report("open the popup", &parts);
    popup
        .wait_until("host and server connected, device registered", CONNECT_TIMEOUT, |s| {
            s.host_is("connected") && s.server_is("connected") && s.device_is("E2E Capture")
        })
        .await
        .or_report("popup after start", &parts);

    let worker = device
        .browser()
        .cdp()
        .attach_service_worker(EXTENSION_ID, CONNECT_TIMEOUT)
        .await
        .or_report("attach to the service worker", &parts);
    worker
        .evaluate(&format!(
            "chrome.storage.local.set({{ privateSelectors: [{}] }}).then(() => true)",
            json!(ASIDE_SELECTOR)
        ))
        .await
        .or_report("name a private selector", &parts);

    let base = serve_pages().await;
    let form_url = format!("{base}/form");
    let page = device.browser().cdp().open_page(&form_url).await.or_report("open the form", &parts);
    // The new target starts on about:blank, which is "complete" too.
    page.wait_for(&loaded_js(&form_url), LOAD_TIMEOUT).await.or_report("form loaded", &parts);

    // The content script loads asynchronously: type until the host has the
    // state (typing again is harmless).
    let db = device.host_db_path();
    let mut scrolled;
    let deadline = tokio::time::Instant::now() + CAPTURE_TIMEOUT;
    let captured = loop {
        scrolled = page.evaluate(&fill_js()).await.or_report("fill the form", &parts);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        if let Some(p) =
            page_record(&db, &form_url).filter(|p| field(p, "urgent").is_some() && p["scroll"]["anchor"].is_object())
        {
            break p;
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "the host never stored the form's page state; records: {:?}\n{}",
                local_records(&db),
                baton_e2e::Diagnose::diagnostics(&device)
            );
        }
    };
    eprintln!("captured page state: {captured}");

    assert_eq!(field(&captured, "name"), Some(&json!({"t": "text", "v": NAME})));
    assert_eq!(field(&captured, "message"), Some(&json!({"t": "text", "v": MESSAGE})));
    assert_eq!(field(&captured, "topic"), Some(&json!({"t": "selected", "v": ["bug"]})));
    assert_eq!(field(&captured, "urgent"), Some(&json!({"t": "checked", "v": true})));
    for never in ["pw", "pw2", "payment", "access", "token", "note"] {
        assert_eq!(field(&captured, never), None, "field {never} must not be captured");
    }
    assert_eq!(captured["fields"].as_array().map(Vec::len), Some(4), "only the four ordinary fields");
    let label = captured["fields"][1]["key"]["label"].as_str().unwrap_or_default();
    assert!(label.starts_with("Message"), "wrapping label becomes the textarea's label: {label:?}");
    let anchor = &captured["scroll"]["anchor"];
    assert!(
        anchor["text"].as_str().is_some_and(|t| t.starts_with("Paragraph number")),
        "scroll anchor is article text: {anchor}"
    );
    let number = anchor["text"].as_str().and_then(|t| t.split_whitespace().nth(2)).and_then(|n| n.parse::<u32>().ok());
    assert!(number.is_some_and(|n| n % 5 == 2), "the anchor is not a private ({ASIDE_SELECTOR}) paragraph: {anchor}");

    // The tab and its history reached the host too.
    let records = local_records(&db).or_report("read the host's records", &parts);
    assert!(
        records.iter().any(|r| r.collection == "tabs" && r.body["kind"] == "tab" && r.body["url"] == form_url.as_str()),
        "tab record for the form: {records:?}"
    );
    let history_has_form = || {
        local_records(&db).unwrap_or_default().iter().any(|r| {
            r.collection == "history"
                && r.body["entries"].as_array().is_some_and(|e| e.iter().any(|e| e["url"] == form_url.as_str()))
        })
    };
    let deadline = tokio::time::Instant::now() + CAPTURE_TIMEOUT;
    while !history_has_form() {
        assert!(tokio::time::Instant::now() < deadline, "history record for the form: {:?}", local_records(&db));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Secrets are nowhere in the host's files (store, WAL, logs).
    for secret in [PASSWORD, SHOWN_PASSWORD, CARD, DOTTED, HIDDEN, PRIVATE] {
        let hits = files_containing(device.data_home(), secret);
        assert!(hits.is_empty(), "{secret:?} found in {hits:?}");
    }

    // Restore into a reordered copy of the form through the content script.
    let reordered_url = format!("{base}/reordered");
    let mut restore = captured.clone();
    restore["url"] = json!(reordered_url);
    let open_js = format!(
        r#"(async () => {{
  const message = {{ baton: "restore", page: {restore} }};
  const tab = await chrome.tabs.create({{ url: {url} }});
  for (let i = 0; i < 100; i++) {{
    try {{ if (await chrome.tabs.sendMessage(tab.id, message, {{ frameId: 0 }})) return tab.id; }} catch (e) {{}}
    await new Promise((r) => setTimeout(r, 100));
  }}
  return null;
}})()"#,
        url = json!(reordered_url)
    );
    let tab_id = worker.evaluate(&open_js).await.or_report("open the reordered form and send it the state", &parts);
    assert!(tab_id.is_number(), "the content script accepted the restore: {tab_id}");

    let target = device
        .browser()
        .cdp()
        .wait_for_target("reordered form tab", LOAD_TIMEOUT, |t| t.kind == "page" && t.url == reordered_url)
        .await
        .or_report("find the reordered tab", &parts);
    let restored_page = device.browser().cdp().attach(&target.target_id).await.or_report("attach to it", &parts);
    let expected_paragraph = scrolled["paragraph"].as_str().unwrap_or_default().to_owned();
    let state_js = format!(
        r#"(() => {{
  const q = (s) => document.querySelector(s);
  const p = [...document.querySelectorAll('p')].find((p) => p.textContent === {paragraph});
  return {{
    name: q('#name').value, message: q('[name=message]').value, topic: q('#topic').value,
    urgent: q('[name=urgent]').checked, pw: q('#pw').value, payment: q('[name=payment]').value,
    note: q('[name=note]').value, top: p ? p.getBoundingClientRect().top : null, y: scrollY,
  }};
}})()"#,
        paragraph = json!(expected_paragraph)
    );
    let want_top = scrolled["top"].as_f64().unwrap_or(0.0);
    let state = restored_page
        .wait_until("fields refilled and scrolled", &state_js, LOAD_TIMEOUT, |s| {
            s["name"] == NAME && s["urgent"] == true && s["top"].as_f64().is_some_and(|t| (t - want_top).abs() < 30.0)
        })
        .await
        .or_report("restored form", &parts);
    eprintln!("restored: {state}");
    assert_eq!(state["message"], MESSAGE);
    assert_eq!(state["topic"], "bug");
    assert_eq!((&state["pw"], &state["payment"], &state["note"]), (&json!(""), &json!(""), &json!("")));

    // Excluded sites: no tab, no history, no page state.
    worker
        .evaluate(r#"chrome.storage.local.set({ excludedSites: ["127.0.0.1"] }).then(() => true)"#)
        .await
        .or_report("exclude 127.0.0.1", &parts);
    let excluded_url = format!("{base}/form?excluded");
    let excluded = device.browser().cdp().open_page(&excluded_url).await.or_report("open an excluded page", &parts);
    excluded.wait_for(&loaded_js(&excluded_url), LOAD_TIMEOUT).await.or_report("excluded page loaded", &parts);
    for _ in 0..3 {
        excluded.evaluate(&fill_js()).await.or_report("fill the excluded form", &parts);
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    let records = local_records(&db).or_report("read the host's records", &parts);
    let leaked: Vec<_> = records.iter().filter(|r| r.body.to_string().contains("?excluded")).collect();
    assert!(leaked.is_empty(), "records of an excluded page: {leaked:?}");
    assert!(
        !records.iter().any(|r| r.collection == "tabs"
            && r.body["kind"] == "tab"
            && r.body["url"].as_str().is_some_and(|u| u.starts_with(&base))),
        "tabs on an excluded site leave the snapshot: {records:?}"
    );
}
