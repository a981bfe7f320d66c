//! A page whose Content-Security-Policy lacks `'wasm-unsafe-eval'` stops
//! Baton's content script from compiling its WebAssembly (the page's policy
//! binds content scripts too). The worker then injects the same Rust built
//! as JavaScript (`wasm/content-js/`, made by `cargo xtask build`), which
//! needs no eval and so runs under the page's policy.
//!
//! The first test proves the JavaScript build does the content script's
//! work on such a page: the form is captured for continuation, the tab is
//! shared, and an operator in a second browser joins and sees the page's
//! text. The second breaks the JavaScript build in a copy of the extension
//! and checks that Baton still says why it cannot share the page, and
//! leaves the page untouched.

use std::path::{Path, PathBuf};
use std::time::Duration;

use baton_e2e::store::{field, local_records, page_record};
use baton_e2e::{
    click_visitor_ui, in_content_world, pages, wait_in_content_world, Device, DeviceOptions, Diagnose, OrReport,
    ServerProcess, Session, BATON_IN_PAGE_JS,
};
use serde_json::{json, Value};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(15);
const POLICY: &str = "script-src 'self'; object-src 'none'; style-src 'self'";

const PAGE_TEXT: &str = "Balance: 1,234.56";
const TYPED: &str = "Ada Lovelace";
const PAGE: &str = "<!doctype html><html><head><meta charset=utf-8><title>Bank</title></head>\
<body><h1>Your accounts</h1><p>Balance: 1,234.56</p>\
<form><label>Name <input id=name name=name type=text></label></form></body></html>";

/// Serves `PAGE` with a policy that allows no script and no style but its own origin's.
async fn serve_strict_page() -> String {
    let origin = pages::serve_page(PAGE, &[("Content-Security-Policy", POLICY)]).await.expect("start the page server");
    format!("{origin}/accounts")
}

/// Baton's visitor UI in the page (closed shadow root, content-script world).
const UI_JS: &str = r#"(() => {
  const host = document.querySelector('[data-baton-ui=visitor]');
  if (!host) return { mounted: false };
  const ui = chrome.dom.openOrClosedShadowRoot(host);
  const bar = ui.querySelector('[data-baton-part=bar]');
  return { mounted: true, state: bar?.dataset.state ?? null, consent: !!ui.querySelector('[data-baton-part=dialog-consent]') };
})()"#;

/// The operator console's state and the text of its mirror of the page.
const CONSOLE_JS: &str = r#"(() => {
  const q = (s) => document.querySelector(s);
  const d = q('#mirror')?.contentDocument;
  return {
    state: q('#console-state')?.dataset.state ?? null,
    join_error: q('#join-error') && !q('#join-error').hidden ? q('#join-error').textContent : null,
    mirror_text: d?.body?.innerText ?? '',
  };
})()"#;

/// Which build runs in the page's content-script world: the JavaScript
/// build's glue defines `baton_content_js`, the Wasm glue `wasm_bindgen`.
const WHICH_BUILD_JS: &str = "typeof baton_content_js === 'undefined' ? 'wasm' : 'js'";

async fn open_strict_page(device: &Device, parts: &[&dyn Diagnose]) -> Session {
    let url = serve_strict_page().await;
    let page = device.browser().cdp().open_page(&url).await.or_report("open the page", parts);
    page.wait_for(&format!("location.href === {} && document.readyState === 'complete'", json!(url)), WAIT)
        .await
        .or_report("page loaded", parts);
    page
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_whose_policy_forbids_webassembly_runs_the_javascript_build() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(dir.path().join("server.sqlite3")).await.expect("start baton-server");
    let (visitor, operator) = Device::start_pair("Strict Visitor", "Strict Operator", server.url())
        .await
        .or_report("start the devices", &[&server]);
    let parts: [&dyn Diagnose; 3] = [&visitor, &operator, &server];

    let page = open_strict_page(&visitor, &parts).await;
    let url = page.evaluate("location.href").await.or_report("the page's url", &parts);
    let url = url.as_str().unwrap_or_default().to_owned();
    let build =
        wait_in_content_world(&page, "the content script's JavaScript build", WHICH_BUILD_JS, WAIT, |v| v == "js")
            .await
            .or_report("the JavaScript build runs", &parts);
    assert_eq!(build, "js");

    // Continuation: what is typed reaches the host's store.
    let db = visitor.host_db_path();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        page.evaluate(&format!(
            "(() => {{ const e = document.querySelector('#name'); e.value = {}; e.dispatchEvent(new Event('input', {{bubbles: true}})); }})()",
            json!(TYPED)
        ))
        .await
        .or_report("type into the form", &parts);
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let records = local_records(&db).unwrap_or_default();
        if page_record(&records, &url).and_then(|p| field(p, "name")) == Some(&json!({"t": "text", "v": TYPED})) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the host never stored the form's state; records: {records:?}\n{}",
            visitor.diagnostics()
        );
    }

    // Co-browsing: share from the popup, join from the operator's console.
    let console = operator.console().await.or_report("open the console", &parts);
    let code = visitor.share_from_popup(CONNECT_TIMEOUT, WAIT).await.or_report("share this tab", &parts);
    wait_in_content_world(&page, "the bar with the code", UI_JS, WAIT, |v| v["state"] == "waiting")
        .await
        .or_report("the visitor's bar", &parts);

    let operator_popup = operator.popup().await.or_report("open the operator's popup", &parts);
    operator_popup
        .wait_until("operator connected", CONNECT_TIMEOUT, |s| s.host_is("connected") && s.server_is("connected"))
        .await
        .or_report("operator's popup connected", &parts);
    operator_popup.session().close().await.or_report("close the operator's popup", &parts);
    console
        .wait_until("the console is ready", CONSOLE_JS, WAIT, |v| v["state"] == "idle")
        .await
        .or_report("console", &parts);
    baton_e2e::console::join(&console, &code).await.or_report("join", &parts);
    let v = console
        .wait_until("awaiting consent", CONSOLE_JS, WAIT, |v| {
            v["state"] == "awaiting-consent" || !v["join_error"].is_null()
        })
        .await
        .or_report("console joins", &parts);
    assert_eq!(v["state"], "awaiting-consent", "{v}");

    wait_in_content_world(&page, "the consent prompt", UI_JS, WAIT, |v| v["consent"] == true)
        .await
        .or_report("the consent prompt", &parts);
    assert_eq!(in_content_world(&page, &click_visitor_ui("allow")).await, Ok(json!(true)), "allow");
    let v = console
        .wait_until("the page's text in the mirror", CONSOLE_JS, WAIT, |v| {
            v["state"] == "active" && v["mirror_text"].as_str().is_some_and(|t| t.contains(PAGE_TEXT))
        })
        .await
        .or_report("the operator sees the page", &parts);
    assert!(v["mirror_text"].as_str().is_some_and(|t| t.contains("Your accounts")), "{v}");
    // The visitor's outline and bar are styled under the page's policy too.
    let styled = "(() => { const bar = chrome.dom.openOrClosedShadowRoot(document.querySelector('[data-baton-ui=visitor]')).querySelector('[data-baton-part=bar]'); \
        return { outline: getComputedStyle(document.getElementById('name')).outlineStyle, bar: getComputedStyle(bar).position }; })()";
    let s = wait_in_content_world(&page, "the outline on the field", styled, WAIT, |v| v["outline"] == "dashed")
        .await
        .or_report("the outline", &parts);
    assert_eq!(s["bar"], "fixed", "the bar has its own styles: {s}");
}

/// A copy of the built extension whose JavaScript build fails to load.
fn extension_with_broken_js_build(into: &Path) -> PathBuf {
    let from = baton_e2e::artifacts::extension_dir().expect("the built extension");
    let to = into.join("extension");
    copy_tree(&from, &to);
    std::fs::write(to.join("wasm/content-js/baton_extension_asm.js"), "throw new Error('broken on purpose');\n")
        .expect("break the JavaScript build");
    to
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for entry in std::fs::read_dir(from).expect("read the extension") {
        let entry = entry.expect("read the extension");
        let dest = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).expect("copy the extension");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_javascript_build_fails_too_sharing_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(dir.path().join("server.sqlite3")).await.expect("start baton-server");
    let mut options = DeviceOptions::new("Strict Visitor", server.url());
    options.extension_dir = Some(extension_with_broken_js_build(dir.path()));
    let device = Device::start(options).await.or_report("start the visitor", &[&server]);
    let parts: [&dyn Diagnose; 2] = [&device, &server];

    let page = open_strict_page(&device, &parts).await;
    let popup = device.popup().await.or_report("open the popup", &parts);
    popup
        .wait_until("connected", CONNECT_TIMEOUT, |s| s.host_is("connected") && s.server_is("connected"))
        .await
        .or_report("popup connected", &parts);
    // The loader's report may arrive a moment after the load: retry the
    // share until the popup settles on an answer.
    let answer = popup
        .session()
        .wait_until(
            "an answer to sharing",
            "(() => { const b = document.querySelector('#share-tab'); const s = document.querySelector('#share-state');
               if (b && s && s.dataset.state !== 'error' && s.dataset.state !== 'waiting' && !window.__pending) {
                 window.__pending = true; setTimeout(() => { window.__pending = false; }, 700); b.click(); }
               return { state: s?.dataset.state, text: s?.textContent ?? '' }; })()",
            WAIT,
            |v| v["state"] == "error" || v["state"] == "waiting",
        )
        .await
        .or_report("share this tab", &parts);
    assert_eq!(answer["state"], "error", "sharing is refused: {answer}");
    assert!(answer["text"].as_str().is_some_and(|t| t.contains("security policy")), "the popup says why: {answer}");
    // Nothing of Baton's was put into the page.
    let injected = page.evaluate(BATON_IN_PAGE_JS).await.or_report("count injected elements", &parts);
    assert_eq!(injected, Value::from(0));
}
