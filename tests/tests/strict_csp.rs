//! A page whose Content-Security-Policy lacks `'wasm-unsafe-eval'` stops
//! Baton's content script from compiling its WebAssembly (the page's policy
//! binds content scripts too). Baton must say so instead of failing
//! silently: sharing such a tab is refused with a reason, and the page is
//! left untouched.

use std::time::Duration;

use baton_e2e::{pages, Device, DeviceOptions, OrReport, ServerProcess};
use serde_json::Value;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(15);

const PAGE: &str = "<!doctype html><html><head><meta charset=utf-8><title>Bank</title></head>\
<body><h1>Your accounts</h1><p>Balance: 1,234.56</p></body></html>";

/// Serves `PAGE` with a policy that allows no script but its own origin's.
async fn serve_strict_page() -> String {
    let origin = pages::serve_page(PAGE, &[("Content-Security-Policy", "script-src 'self'; object-src 'none'")])
        .await
        .expect("start the page server");
    format!("{origin}/accounts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_a_page_whose_policy_blocks_baton_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(dir.path().join("server.sqlite3")).await.expect("start baton-server");
    let device = Device::start(DeviceOptions::new("Strict Visitor", server.url()))
        .await
        .or_report("start the visitor", &[&server]);
    let parts: [&dyn baton_e2e::Diagnose; 2] = [&device, &server];

    let url = serve_strict_page().await;
    let page = device.browser().cdp().open_page(&url).await.or_report("open the page", &parts);
    page.wait_for("document.readyState === 'complete'", WAIT).await.or_report("page loaded", &parts);

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
    assert!(
        answer["text"].as_str().is_some_and(|t| t.contains("security policy")),
        "the popup says why: {answer}"
    );
    // Nothing of Baton's was put into the page.
    let injected = page
        .evaluate("document.querySelectorAll('[data-baton-ui]').length")
        .await
        .or_report("count injected elements", &parts);
    assert_eq!(injected, Value::from(0));
}
