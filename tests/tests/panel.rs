//! The continuation panel in a real browser: what it says without a host
//! and without other devices, pairing by code, and another device's session
//! (5,000 tabs) listed, searched and opened.

use std::time::{Duration, Instant};

use baton_e2e::{Device, DeviceOptions, OrReport, ServerProcess, Session};
use baton_shared::ids::EXTENSION_ID;
use serde_json::{json, Value};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
const UI_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything a test looks at, read in one go so a timeout shows it all.
const SNAPSHOT_JS: &str = r#"(() => {
  const q = (s) => document.querySelector(s);
  const shown = (s) => { const e = q(s); return e && !e.hidden ? e.textContent.trim() : null; };
  const list = q('#devices');
  return {
    host: q('#host-state')?.dataset.state ?? null,
    server: q('#server-state')?.dataset.state ?? null,
    empty: q('#empty') && !q('#empty').hidden ? q('#empty').dataset.state : null,
    devices: Number(list?.dataset.count ?? -1),
    tabs: Number(list?.dataset.tabs ?? -1),
    matched: Number(list?.dataset.matched ?? -1),
    rows: document.querySelectorAll('li.tab[data-tab-id]').length,
    device_names: [...document.querySelectorAll('[data-device-id] .device-name')].map((e) => e.textContent),
    result: q('#result-count')?.textContent ?? null,
    pair_code: q('#pair-code')?.textContent ?? null,
    pair_state: q('#pair-code')?.dataset.state ?? null,
    pair_expiry: q('#pair-expiry')?.textContent ?? null,
    pair_error: shown('#pair-error'),
    pair_error_code: q('#pair-error')?.dataset.code ?? null,
    pair_result: shown('#pair-result'),
    text: (document.body?.innerText ?? '').slice(0, 500),
  };
})()"#;

fn panel_url() -> String {
    format!("chrome-extension://{EXTENSION_ID}/panel.html")
}

async fn open_panel(device: &Device) -> Session {
    device.browser().cdp().open_page(&panel_url()).await.or_report("open the panel", &[device])
}

async fn wait(panel: &Session, what: &str, timeout: Duration, done: impl Fn(&Value) -> bool) -> Result<Value, String> {
    panel.wait_until(what, SNAPSHOT_JS, timeout, done).await.map_err(|e| e.to_string())
}

fn is(v: &Value, key: &str, want: &str) -> bool {
    v[key].as_str() == Some(want)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panel_says_when_the_baton_app_is_missing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(dir.path().join("server.sqlite3")).await.expect("start baton-server");
    let device =
        Device::start(DeviceOptions::new("E2E Alone", server.url())).await.or_report("start the device", &[&server]);
    device.uninstall_host().await.or_report("uninstall the host manifest", &[&device]);
    let _ = device.kill_host();

    let panel = open_panel(&device).await;
    let state = wait(&panel, "host disconnected, explained", CONNECT_TIMEOUT, |v| {
        is(v, "host", "disconnected") && is(v, "empty", "host-disconnected")
    })
    .await
    .or_report("panel without a host", &[&device, &server]);
    let text = state["text"].as_str().unwrap_or_default();
    assert!(text.contains("baton-host doctor"), "the panel says how to find out what is wrong: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panel_offers_pairing_and_rejects_a_wrong_code() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(dir.path().join("server.sqlite3")).await.expect("start baton-server");
    let device =
        Device::start(DeviceOptions::new("E2E First", server.url())).await.or_report("start the device", &[&server]);
    let parts: [&dyn baton_e2e::Diagnose; 2] = [&device, &server];
    let panel = open_panel(&device).await;

    wait(&panel, "no other devices yet", CONNECT_TIMEOUT, |v| {
        is(v, "host", "connected") && is(v, "server", "connected") && is(v, "empty", "no-devices")
    })
    .await
    .or_report("panel of a lone device", &parts);

    panel.evaluate("document.querySelector('#pair-start').click()").await.or_report("click Add a device", &parts);
    let state = wait(&panel, "a pairing code with its countdown", UI_TIMEOUT, |v| {
        is(v, "pair_state", "active") && v["pair_expiry"].as_str().is_some_and(|s| s.starts_with("Expires in"))
    })
    .await
    .or_report("pairing code shown", &parts);
    let code = state["pair_code"].as_str().unwrap_or_default();
    assert!(code.len() >= 6, "a code to type: {code:?}");

    panel
        .evaluate(
            "(() => { document.querySelector('#pair-input').value = 'WRONG-CODE42';
               document.querySelector('#pair-join').click(); })()",
        )
        .await
        .or_report("submit a wrong code", &parts);
    let state = wait(&panel, "the wrong code is refused", UI_TIMEOUT, |v| v["pair_error"].is_string())
        .await
        .or_report("wrong code", &parts);
    assert_eq!(state["pair_error_code"], "pairing_failed", "{state}");
    assert!(state["pair_error"].as_str().unwrap_or_default().contains("did not work"), "{state}");
    assert!(state["pair_result"].is_null(), "no success message: {state}");
}

/// A tiny red square, so favicons show in screenshots without network.
const ICON: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAYAAABytg0kAAAAEklEQVR4nGP4z8DwHwyBNAMDAE7GB/kqw2yIAAAAAElFTkSuQmCC";

/// `windows` windows of `per_window` tabs, as the capture code would report them.
fn session(windows: i64, per_window: i64, now_ms: i64) -> Value {
    let mut tabs = Vec::new();
    for w in 0..windows {
        for i in 0..per_window {
            let n = w * per_window + i;
            let mut tab = json!({
                "id": 10_000 + n,
                "window_id": w + 1,
                "index": i,
                "url": format!("https://site{w}.example/article/{n}"),
                "title": format!("Article {n}: notes on topic{}", n % 7),
                "pinned": i == 0,
                "active": i == 1,
                "last_accessed_ms": now_ms - n * 1000,
            });
            if n % 3 == 0 {
                tab["fav_icon_url"] = json!(ICON);
            }
            if i == 2 || i == 3 {
                tab["group"] = json!({"name": "Research", "color": "blue"});
            }
            tabs.push(tab);
        }
    }
    let windows: Vec<Value> = (0..windows).map(|w| json!({"id": w + 1, "focused": w == 0})).collect();
    json!({"type": "session_snapshot", "windows": windows, "tabs": tabs})
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Standard base64 (CDP's screenshot encoding), without pulling in a crate for it.
fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let (mut out, mut acc, mut bits) = (Vec::with_capacity(text.len() * 3 / 4), 0u32, 0);
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// Waits until the browser has a tab showing (or trying to show) `url`.
async fn wait_for_tab(device: &Device, url: &str) -> Result<(), String> {
    let deadline = Instant::now() + UI_TIMEOUT;
    loop {
        let targets = device.browser().cdp().targets().await.map_err(|e| e.to_string())?;
        if targets.iter().any(|t| t.kind == "page" && t.url == url) {
            return Ok(());
        }
        if Instant::now() > deadline {
            let urls: Vec<&str> = targets.iter().map(|t| t.url.as_str()).collect();
            return Err(format!("no tab with {url} after {UI_TIMEOUT:?}; tabs: {urls:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sets the search box as a person typing would (an `input` event).
fn search_js(query: &str) -> String {
    format!(
        "(() => {{ const s = document.querySelector('#search'); s.value = {}; s.dispatchEvent(new Event('input')); }})()",
        json!(query)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_devices_tabs_list_search_history_and_send() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(dir.path().join("server.sqlite3")).await.expect("start baton-server");
    // The laptop is a host driven over native messaging, standing in for its browser.
    let mut laptop = baton_e2e::NativeHost::start(&dir.path().join("laptop"), server.url(), "E2E Laptop")
        .await
        .or_report("start the laptop's host", &[&server]);
    laptop
        .wait_status("laptop registered", CONNECT_TIMEOUT, |s| {
            s["server"]["state"] == "connected" && s["device"].is_object()
        })
        .await
        .or_report("laptop registration", &[&server]);
    let desk =
        Device::start(DeviceOptions::new("E2E Desk", server.url())).await.or_report("start the desk", &[&server]);
    let parts: [&dyn baton_e2e::Diagnose; 2] = [&desk, &server];
    let panel = open_panel(&desk).await;
    wait(&panel, "no other devices yet", CONNECT_TIMEOUT, |v| is(v, "empty", "no-devices"))
        .await
        .or_report("desk's panel before pairing", &parts);

    let now = now_ms();
    // Pairing: the laptop shows a code, the desk types it.
    let code = laptop.call(json!({"type": "pair_start"})).await.or_report("laptop pair_start", &parts);
    let code = code["code"].as_str().unwrap_or_default().to_owned();
    panel
        .evaluate(&format!(
            "(() => {{ document.querySelector('#pair-input').value = {};
               document.querySelector('#pair-join').click(); }})()",
            json!(code)
        ))
        .await
        .or_report("type the code", &parts);
    wait(&panel, "joined the laptop's account", CONNECT_TIMEOUT, |v| v["pair_result"].is_string())
        .await
        .or_report("pairing", &parts);

    laptop.call(session(1, 2, now)).await.or_report("laptop's first snapshot", &parts);
    wait(&panel, "the laptop's 2 tabs", CONNECT_TIMEOUT, |v| v["tabs"] == 2)
        .await
        .or_report("desk lists the laptop's tabs once paired", &parts);

    // A change on the laptop: listed within 2 s, with no manual sync.
    laptop.call(session(1, 3, now)).await.or_report("laptop's first snapshot", &parts);
    let started = Instant::now();
    wait(&panel, "the laptop's 3 tabs", UI_TIMEOUT, |v| v["tabs"] == 3 && v["rows"] == 3)
        .await
        .or_report("desk lists the laptop's tabs", &parts);
    let first_listing = started.elapsed();
    eprintln!("3 tabs listed {first_listing:?} after the laptop's snapshot");
    assert!(first_listing <= Duration::from_secs(2), "listed after {first_listing:?}");

    // 5,000 tabs in 50 windows: all counted, a preview rendered, the rest one click away.
    laptop.call(session(50, 100, now)).await.or_report("laptop's big snapshot", &parts);
    let started = Instant::now();
    let state = wait(&panel, "the laptop's 5,000 tabs", Duration::from_secs(30), |v| v["tabs"] == 5000)
        .await
        .or_report("desk lists 5,000 tabs", &parts);
    eprintln!("5,000 tabs listed {:?} after the snapshot; {} rows drawn", started.elapsed(), state["rows"]);
    assert_eq!(state["result"], "5,000 tabs on 1 device", "{state}");
    assert_eq!(state["device_names"], json!(["E2E Laptop"]));
    let reachable = panel
        .evaluate(
            "[...document.querySelectorAll('li.tab')].length +
             [...document.querySelectorAll('[data-hidden-tabs]')].reduce((n, b) => n + Number(b.dataset.hiddenTabs), 0)",
        )
        .await
        .or_report("count rows and hidden tabs", &parts);
    assert_eq!(reachable, 5000, "every tab is drawn or counted behind a Show all button");
    let windows =
        panel.evaluate("document.querySelectorAll('[data-window-id]').length").await.or_report("windows", &parts);
    assert_eq!(windows, 50);

    // Search is case-insensitive over titles and URLs (its speed is the
    // `panel_search` benchmark's).
    panel.evaluate(&search_js("ARTICLE/4242")).await.or_report("search by URL", &parts);
    let state = wait(&panel, "one match", UI_TIMEOUT, |v| v["matched"] == 1 && v["rows"] == 1)
        .await
        .or_report("search", &parts);
    assert_eq!(state["result"], "1 of 5,000 tabs match “ARTICLE/4242”");
    panel.evaluate(&search_js("Topic3")).await.or_report("search by title", &parts);
    wait(&panel, "a seventh of the tabs", UI_TIMEOUT, |v| v["matched"] == 714).await.or_report("search", &parts);
    panel.evaluate(&search_js("")).await.or_report("clear the search", &parts);
    wait(&panel, "everything again", UI_TIMEOUT, |v| v["matched"] == 5000).await.or_report("cleared", &parts);

    // "Show all" draws a window's remaining tabs.
    let shown = panel
        .evaluate(
            "(() => { const w = document.querySelector('[data-window-id=\"1\"]');
               w.querySelector('[data-action=show-all]').click(); return w.querySelectorAll('li.tab').length; })()",
        )
        .await
        .or_report("show all", &parts);
    assert_eq!(shown, 100, "the window's 100 tabs");

    // History: the laptop recorded three pages for its first tab.
    let history = json!({"type": "tab_history", "history": {"tab_id": 10_000, "current": 1, "entries": [
        {"url": "https://site0.example/", "title": "Home", "visited_ms": now - 60_000},
        {"url": "https://site0.example/article/0", "title": "Article 0", "visited_ms": now - 30_000},
        {"url": "https://site0.example/article/0/comments", "title": "Comments", "visited_ms": now - 10_000},
    ]}});
    laptop.call(history).await.or_report("laptop's tab history", &parts);
    let entries = panel
        .wait_until(
            "three history entries, the middle one current",
            "(async () => {
               const row = document.querySelector('[data-window-id=\"1\"] li.tab[data-tab-id=\"10000\"]');
               const drawer = row.querySelector('.history');
               if (drawer && drawer.dataset.state === 'loading') return null;
               if (!drawer || drawer.dataset.state !== 'loaded') {
                 if (drawer) drawer.remove();
                 row.querySelector('[data-action=history]').click();
                 return null;
               }
               return [...drawer.querySelectorAll('.history-entry')].map((e) => [e.dataset.url, e.hasAttribute('data-current')]);
             })()",
            CONNECT_TIMEOUT,
            |v| v.as_array().is_some_and(|a| a.len() == 3),
        )
        .await
        .or_report("history drawer", &parts);
    assert_eq!(entries[1], json!(["https://site0.example/article/0", true]), "{entries}");
    assert_eq!(entries[0][1], false);

    // Opening: a click on a tab, and on a history entry, opens it here.
    panel
        .evaluate("document.querySelector('li.tab[data-tab-id=\"10005\"] .tab-open').click()")
        .await
        .or_report("click a tab", &parts);
    wait_for_tab(&desk, "https://site0.example/article/5").await.or_report("the clicked tab opens", &parts);
    // The list may be redrawing (the drawer reloads with it): click once the entry is there.
    panel
        .wait_for(
            "(() => { const e = document.querySelector('.history-entry[data-index=\"2\"] .history-open');
               if (e) e.click(); return !!e; })()",
            UI_TIMEOUT,
        )
        .await
        .or_report("click a history entry", &parts);
    wait_for_tab(&desk, "https://site0.example/article/0/comments").await.or_report("the history entry opens", &parts);

    if let Some(path) = std::env::var_os("BATON_E2E_SCREENSHOT") {
        panel
            .call(
                "Emulation.setDeviceMetricsOverride",
                json!({"width": 420, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
            )
            .await
            .or_report("viewport", &parts);
        let shot = panel.call("Page.captureScreenshot", json!({"format": "png"})).await.or_report("screenshot", &parts);
        let png = decode_base64(shot["data"].as_str().unwrap_or_default());
        std::fs::write(&path, png).expect("write the screenshot");
    }

    // Send to device: the desk sends the web page active in the panel's window
    // (one of those it just opened); the laptop opens it.
    panel
        .wait_for(
            "(() => { const chosen = document.querySelector('#send-device option');
               if (chosen) document.querySelector('#send-tab').click(); return !!chosen; })()",
            UI_TIMEOUT,
        )
        .await
        .or_report("send the tab", &parts);
    // The host took it (a refusal or a wrong tab shows in the status line).
    panel
        .wait_until(
            "the send taken",
            "(() => { const s = document.querySelector('#send-status'); return s.dataset.state + ': ' + s.textContent; })()",
            UI_TIMEOUT,
            |v| v.as_str().is_some_and(|v| ["sent", "delivered", "opened"].iter().any(|s| v.starts_with(&format!("{s}:")))),
        )
        .await
        .or_report("send status", &parts);
    let received = laptop
        .wait_event("tab_received", UI_TIMEOUT, |e| e["type"] == "tab_received")
        .await
        .or_report("the laptop receives the tab", &parts);
    let opened_here = ["https://site0.example/article/5", "https://site0.example/article/0/comments"];
    assert!(opened_here.iter().any(|u| received["url"] == *u), "one of the pages opened here: {received}");
    laptop
        .call(json!({"type": "tab_opened", "send_id": received["send_id"]}))
        .await
        .or_report("the laptop opened it", &parts);
    panel
        .wait_until("opened on the laptop", "document.querySelector('#send-status')?.dataset.state", UI_TIMEOUT, |v| {
            v == "opened"
        })
        .await
        .or_report("send status", &parts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tabs_open_before_pairing_are_listed_after_joining() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(dir.path().join("server.sqlite3")).await.expect("start baton-server");
    let mut laptop = baton_e2e::NativeHost::start(&dir.path().join("laptop"), server.url(), "E2E Laptop")
        .await
        .or_report("start the laptop's host", &[&server]);
    laptop
        .wait_status("laptop registered", CONNECT_TIMEOUT, |s| {
            s["server"]["state"] == "connected" && s["device"].is_object()
        })
        .await
        .or_report("laptop registration", &[&server]);
    laptop.call(session(1, 2, now_ms())).await.or_report("laptop's snapshot before pairing", &[&server]);
    let desk =
        Device::start(DeviceOptions::new("E2E Desk", server.url())).await.or_report("start the desk", &[&server]);
    let parts: [&dyn baton_e2e::Diagnose; 2] = [&desk, &server];
    let panel = open_panel(&desk).await;
    wait(&panel, "no other devices yet", CONNECT_TIMEOUT, |v| is(v, "empty", "no-devices"))
        .await
        .or_report("desk's panel before pairing", &parts);
    let code = laptop.call(json!({"type": "pair_start"})).await.or_report("laptop pair_start", &parts);
    panel
        .evaluate(&format!(
            "(() => {{ document.querySelector('#pair-input').value = {};
               document.querySelector('#pair-join').click(); }})()",
            json!(code["code"])
        ))
        .await
        .or_report("type the code", &parts);
    wait(&panel, "the laptop's tabs from before pairing", CONNECT_TIMEOUT, |v| v["tabs"] == 2)
        .await
        .or_report("desk lists the laptop's earlier tabs", &parts);
}
