//! Co-browsing live latency: from a DOM change in the visitor's page to the
//! change applied in the operator console's mirror, with real parts on both
//! sides (two headless Chromium profiles with the extension, their hosts,
//! one server, on loopback).
//!
//! The visitor's page changes one element's text `BATON_BENCH_MUTATIONS`
//! times (default 300), ~50 ms apart, each time writing
//! `performance.timeOrigin + performance.now()` into the text. A
//! MutationObserver in the console (installed over CDP) stamps each new
//! text as it lands in the mirror with the console's own
//! `performance.timeOrigin + performance.now()`; both browsers run on this
//! machine, so the two clocks agree. Changes the capture coalesced with a
//! later one are counted as `coalesced`, not as latencies. Target: p99 < 50 ms.
//! Writes `target/bench/cobrowse_latency.json`.

use std::time::Duration;

use baton_e2e::{
    click_visitor_ui, in_content_world, pages, wait_in_content_world, Device, Diagnose, ServerProcess, Session,
};
use baton_shared::ids::EXTENSION_ID;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);
const SPACING_MS: u64 = 50;

const PAGE: &str = r#"<!doctype html><html><head><meta charset=utf-8><title>Latency</title></head><body>
<h1>Latency bench page 5521</h1><p id="bench">m:-1:0</p><ul><li>one</li><li>two</li><li>three</li></ul>
</body></html>"#;

type R<T> = Result<T, String>;

fn e<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> String {
    move |err| format!("{what}: {err}")
}

async fn serve_page() -> R<String> {
    let origin = pages::serve_page(PAGE, &[]).await.map_err(|e| e.to_string())?;
    Ok(format!("{origin}/page"))
}

async fn wait_content(page: &Session, what: &str, expression: &str, done: impl Fn(&Value) -> bool) -> R<Value> {
    wait_in_content_world(page, what, expression, WAIT, done).await
}

const UI_JS: &str = r#"(() => { const h = document.querySelector('[data-baton-ui=visitor]'); if (!h) return {};
  const ui = chrome.dom.openOrClosedShadowRoot(h); return { state: ui.querySelector('[data-baton-part=bar]')?.dataset.state ?? null,
  consent: !!ui.querySelector('[data-baton-part=dialog-consent]') }; })()"#;

const MIRROR_TEXT: &str = "(() => { const s = document.querySelector('#console-state')?.dataset.state; const d = document.querySelector('#mirror')?.contentDocument; return { state: s, text: d?.body?.innerText ?? '' }; })()";

/// Stamps each `m:<i>:<sent>` text the first time it is in the mirror.
const OBSERVER_JS: &str = r#"(() => {
  const d = document.querySelector('#mirror').contentDocument;
  window.__lat = [];
  const seen = new Set();
  const look = () => {
    const now = performance.timeOrigin + performance.now();
    const t = d.querySelector('#bench')?.textContent ?? '';
    const m = /^m:(\d+):([\d.]+)$/.exec(t);
    if (m && !seen.has(m[1])) { seen.add(m[1]); window.__lat.push([Number(m[1]), now - Number(m[2])]); }
  };
  new MutationObserver(look).observe(d, { subtree: true, childList: true, characterData: true, attributes: true });
  return true;
})()"#;

fn mutations_js(n: usize) -> String {
    format!(
        "(() => {{ let i = 0; const el = () => document.querySelector('#bench');
           const step = () => {{ el().textContent = 'm:' + i + ':' + (performance.timeOrigin + performance.now()).toFixed(3);
             i += 1; if (i < {n}) setTimeout(step, {SPACING_MS}); else window.__done = true; }};
           step(); return true; }})()"
    )
}

async fn run(n: usize) -> R<Value> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let server = ServerProcess::start(dir.path().join("server.sqlite3")).await.map_err(|e| e.to_string())?;
    let (visitor, operator) = Device::start_pair("Bench Visitor", "Bench Operator", server.url())
        .await
        .map_err(|e| format!("start the devices: {e}"))?;
    measure(&visitor, &operator, n).await.map_err(|e| {
        format!("{e}\n\n{}\n\n{}\n\n{}", visitor.diagnostics(), operator.diagnostics(), server.diagnostics())
    })
}

async fn measure(visitor: &Device, operator: &Device, n: usize) -> R<Value> {
    let url = serve_page().await?;
    let page = visitor.browser().cdp().open_page(&url).await.map_err(e("open the page"))?;
    page.wait_for("document.readyState === 'complete'", WAIT).await.map_err(e("page load"))?;
    wait_content(&page, "the content script", "typeof chrome.runtime?.id === 'string'", |v| v == &json!(true)).await?;

    let console = operator
        .browser()
        .cdp()
        .open_page(&format!("chrome-extension://{EXTENSION_ID}/console.html"))
        .await
        .map_err(e("open the console"))?;
    let popup = visitor.popup().await.map_err(e("open the popup"))?;
    popup
        .wait_until("connected", WAIT, |s| s.host_is("connected") && s.server_is("connected"))
        .await
        .map_err(e("visitor connected"))?;
    let code = popup.share_code(WAIT).await.map_err(e("share"))?;
    popup.session().close().await.map_err(e("close the popup"))?;

    console
        .wait_until("console idle", "document.querySelector('#console-state')?.dataset.state", WAIT, |v| v == "idle")
        .await
        .map_err(e("console ready"))?;
    console
        .evaluate(&format!(
            "(() => {{ document.querySelector('#join-code').value = {}; document.querySelector('#join-form').requestSubmit(); }})()",
            json!(code)
        ))
        .await
        .map_err(e("join"))?;
    wait_content(&page, "the consent prompt", UI_JS, |v| v["consent"] == true).await?;
    in_content_world(&page, &click_visitor_ui("allow")).await?;
    console
        .wait_until("the page in the mirror", MIRROR_TEXT, WAIT, |v| {
            v["state"] == "active" && v["text"].as_str().unwrap_or("").contains("5521")
        })
        .await
        .map_err(e("mirror"))?;

    // Both tabs in front: no background timer throttling on either side.
    page.call("Page.bringToFront", json!({})).await.map_err(e("visitor tab to front"))?;
    console.call("Page.bringToFront", json!({})).await.map_err(e("console tab to front"))?;
    console.evaluate(OBSERVER_JS).await.map_err(e("install the observer"))?;
    page.evaluate(&mutations_js(n)).await.map_err(e("start the mutations"))?;
    let budget = Duration::from_millis(SPACING_MS * n as u64) * 2 + WAIT;
    page.wait_for("window.__done === true", budget).await.map_err(e("the mutations"))?;
    // The last change, then what is left in flight.
    let last = format!("(window.__lat.some(([i]) => i === {}))", n - 1);
    let _ = console.wait_for(&last, Duration::from_secs(5)).await;
    let got = console.evaluate("window.__lat").await.map_err(e("read the latencies"))?;
    let mut lat: Vec<f64> =
        got.as_array().map(|a| a.iter().filter_map(|p| p[1].as_f64()).collect()).unwrap_or_default();
    if lat.is_empty() {
        return Err(format!("no change reached the mirror: {got}"));
    }
    lat.sort_by(f64::total_cmp);
    let p = |q: f64| lat[((lat.len() as f64 - 1.0) * q).round() as usize];
    let round = |x: f64| (x * 100.0).round() / 100.0;
    Ok(json!({
        "setup": "two headless Chromium profiles (visitor, operator console), two baton-host, one baton-server, loopback",
        "binaries": std::env::var("BATON_BIN_PROFILE").unwrap_or_else(|_| "debug".into()),
        "mutations": n,
        "spacing_ms": SPACING_MS,
        "rendered": lat.len(),
        "coalesced": n - lat.len(),
        "latency_ms": {"p50": round(p(0.5)), "p99": round(p(0.99)), "max": round(p(1.0)), "min": round(p(0.0))},
        "target_p99_ms": 50,
    }))
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument that is not ours means skip.
    if std::env::args().skip(1).any(|a| !a.starts_with('-') && !"cobrowse_latency".contains(a.as_str())) {
        return;
    }
    let n =
        std::env::var("BATON_BENCH_MUTATIONS").ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(300usize);
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    match runtime.block_on(run(n)) {
        Ok(report) => {
            let l = &report["latency_ms"];
            println!(
                "co-browsing latency benchmark ({} binaries, loopback)",
                report["binaries"].as_str().unwrap_or("?")
            );
            println!(
                "  visitor mutation → console mirror over {} changes ({} coalesced): p50 {} ms, p99 {} ms, max {} ms (target p99 < 50 ms)",
                report["rendered"], report["coalesced"], l["p50"], l["p99"], l["max"]
            );
            baton_e2e::artifacts::write_bench_report("cobrowse_latency", &report);
        }
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            std::process::exit(1);
        }
    }
}
