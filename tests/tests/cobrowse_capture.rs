//! The co-browsing capture engine in a real Chromium with the extension:
//! the recorder runs in the content script (through its diagnostic entry
//! points, called in the content script's isolated world over CDP) on pages
//! served from 127.0.0.1. Checked: the page's text, shadow roots (open and
//! closed), a same-origin iframe and CSSOM changes are captured; secrets
//! (password, card number, hidden input, private block) appear nowhere in
//! the frames, not even as a mask of their length; the private block is a
//! placeholder of its size; DOM changes and typing arrive as incremental
//! frames; a 10,000-node page is captured without a long task.

use std::time::{Duration, Instant};

use baton_e2e::cdp::Cdp;
use baton_e2e::{artifacts, pages, Browser, BrowserOptions, Reply, Session};
use baton_shared::cobrowse::{resolve_ids, Node, VisitorFrame, WINDOW};
use serde_json::{json, Value};

const LOAD_TIMEOUT: Duration = Duration::from_secs(15);
const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

const PASSWORD: &str = "hunter2-PASSWORD-VALUE";
const CARD: &str = "4111111111111111";
const HIDDEN: &str = "HIDDEN-INPUT-VALUE";
const PRIVATE_TEXT: &str = "PRIVATE-BLOCK-TEXT";
const PRIVATE_ALT: &str = "PRIVATE-IMAGE-ALT";
const PLAIN: &str = "plain typed words";
/// An inline image long enough to travel as an asset (not a decodable
/// PNG: only the capture of the attribute matters here).
fn data_png() -> String {
    format!("data:image/png;base64,{}", "QUJD".repeat(100))
}

const TABLE_ROWS: usize = 1_112; // 1 + 9 nodes per row → ~10,000 nodes

fn secrets_page() -> String {
    format!(
        r#"<!doctype html><html><head><meta charset=utf-8><title>Capture test</title>
<style id="st">body {{ margin: 8px }} .base-rule {{ color: red }}</style></head><body>
<h1 title="Heading title">Visible heading PLAIN-TEXT-MARKER</h1>
<form>
  <input id="pw" type="password">
  <input id="card" autocomplete="cc-number">
  <input id="hid" type="hidden" value="{HIDDEN}">
  <input id="plain" type="text" placeholder="Your words">
  <textarea id="note">NOTE-INITIAL</textarea>
  <input id="agree" type="checkbox" value="yes" checked>
</form>
<div id="priv" data-baton-private title="PRIVATE-TITLE" style="width:300px;height:120px;overflow:hidden">{PRIVATE_TEXT}
  <img alt="{PRIVATE_ALT}" width="10" height="10"></div>
<div id="open-host"></div>
<div id="closed-host"></div>
<iframe id="fr" src="/child" style="width:300px;height:100px"></iframe>
<ul id="list"><li>first item</li></ul>
<img id="d1" src="{png}"><img id="d2" src="{png}">
<form data-baton-safe><input id="site-safe" value="SITE-SAFE-VALUE"><input id="pw2" type="password" value="PW2-SECRET-VALUE"></form>
<script>
  document.getElementById('open-host').attachShadow({{ mode: 'open' }}).innerHTML = '<p>OPEN-SHADOW-TEXT</p>';
  document.getElementById('closed-host').attachShadow({{ mode: 'closed' }}).innerHTML = '<p>CLOSED-SHADOW-TEXT</p>';
  document.getElementById('st').sheet.insertRule('.inserted-before-capture {{ color: blue }}', 0);
</script>
</body></html>"#,
        png = data_png()
    )
}

fn table_page() -> String {
    let mut rows = String::with_capacity(TABLE_ROWS * 80);
    for r in 0..TABLE_ROWS {
        rows.push_str(&format!("<tr><td>r{r}c0</td><td>r{r}c1</td><td>r{r}c2</td><td>r{r}c3</td></tr>"));
    }
    format!(
        "<!doctype html><html><head><meta charset=utf-8><title>Big table</title></head><body>\
         <table id=\"t\"><tbody>{rows}</tbody></table></body></html>"
    )
}

/// One browser at a time in this file: the long-task test times slices,
/// and two more Chromiums on the same cores would stretch them.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn serve_pages() -> String {
    pages::serve(|request| match request.path() {
        "/secrets" => Reply::html(secrets_page()),
        "/child" => Reply::html("<!doctype html><html><body><p>IFRAME-TEXT</p></body></html>"),
        "/table" => Reply::html(table_page()),
        _ => Reply::not_found(),
    })
    .await
    .expect("start the page server")
}

async fn launch() -> (Browser, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let browser = Browser::launch(BrowserOptions {
        extension_dir: Some(artifacts::extension_dir().expect("built extension (cargo xtask build)")),
        env: vec![],
        user_data_dir: dir.path().to_path_buf(),
    })
    .await
    .expect("launch Chromium");
    (browser, dir)
}

/// A page with the Baton content script's isolated world.
struct Page {
    session: Session,
    context: i64,
}

impl Page {
    async fn open(cdp: &Cdp, url: &str) -> Page {
        let session = cdp.open_page("about:blank").await.expect("open a page");
        let mut events = cdp.events();
        session.call("Runtime.enable", json!({})).await.expect("Runtime.enable");
        session.navigate(url, LOAD_TIMEOUT).await.expect("load the page");
        let deadline = Instant::now() + LOAD_TIMEOUT;
        let context = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ev = Cdp::wait_event(&mut events, "Runtime.executionContextCreated", Some(session.id()), left)
                .await
                .expect("the content script's isolated world");
            let ctx = &ev.params["context"];
            let origin = ctx["origin"].as_str().unwrap_or("");
            if ctx["auxData"]["type"] == "isolated"
                && ctx["name"] == "Baton"
                && ctx["auxData"]["frameId"] == session.target_id()
                && !origin.is_empty()
            {
                break ctx["id"].as_i64().expect("context id");
            }
        };
        let page = Page { session, context };
        // The Wasm loads asynchronously after the script starts.
        let deadline = Instant::now() + LOAD_TIMEOUT;
        while page.eval("wasm_bindgen.debug_capture_stats()").await.is_err() {
            assert!(Instant::now() < deadline, "the content script's Wasm never loaded");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        page
    }

    /// Evaluates in the content script's isolated world.
    async fn eval(&self, expression: &str) -> Result<Value, String> {
        let reply = self
            .session
            .call(
                "Runtime.evaluate",
                json!({
                    "expression": expression,
                    "contextId": self.context,
                    "returnByValue": true,
                    "awaitPromise": true,
                }),
            )
            .await
            .map_err(|e| e.to_string())?;
        if let Some(details) = reply.get("exceptionDetails") {
            return Err(details.to_string());
        }
        Ok(reply["result"]["value"].clone())
    }

    /// Evaluates in the page's own world.
    async fn page_eval(&self, expression: &str) -> Value {
        self.session.evaluate(expression).await.expect("evaluate in the page")
    }

    async fn take(&self) -> Vec<Value> {
        let text = self.eval("wasm_bindgen.debug_capture_take()").await.expect("take frames");
        let text = text.as_str().unwrap_or("[]");
        let v: Value = serde_json::from_str(text).expect("frames JSON");
        v.as_array().cloned().unwrap_or_default()
    }

    /// Collects frames until `done` accepts the collection so far.
    async fn frames_until(&self, all: &mut Vec<Value>, what: &str, done: impl Fn(&[Value]) -> bool) {
        let deadline = Instant::now() + FRAME_TIMEOUT;
        loop {
            all.extend(self.take().await);
            if done(all) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; frames: {}", truncate(all));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn type_into(&self, selector: &str, text: &str) {
        self.page_eval(&format!("document.querySelector({selector:?}).focus()")).await;
        self.session.call("Input.insertText", json!({ "text": text })).await.expect("type");
    }
}

fn truncate(frames: &[Value]) -> String {
    let s = serde_json::to_string(frames).unwrap_or_default();
    s.chars().take(4000).collect()
}

fn kinds(frames: &[Value]) -> Vec<String> {
    frames.iter().map(|f| f["frame"]["k"].as_str().unwrap_or("?").to_owned()).collect()
}

fn has_kind(frames: &[Value], k: &str) -> bool {
    frames.iter().any(|f| f["frame"]["k"] == k)
}

/// The snapshot frames (the first and every keyframe), in order.
fn snapshots(frames: &[Value]) -> Vec<&Value> {
    frames.iter().filter(|f| f["frame"]["k"] == "snapshot").collect()
}

/// Runs `script` in the page, then collects frames until a keyframe shows
/// `text`: a shadow root attached to a captured element is no mutation.
async fn keyframe_after(page: &Page, frames: &mut Vec<Value>, script: &str, text: &str) {
    page.page_eval(script).await;
    page.frames_until(frames, &format!("a keyframe showing {text}"), |f| {
        snapshots(f).iter().any(|x| x.to_string().contains(text))
    })
    .await;
}

/// Every element node with attribute `name` = `value`, anywhere in `v`.
fn find_elements<'a>(v: &'a Value, name: &str, value: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(map) => {
            // Elements are the node objects with a tag name.
            if map.get("n").and_then(Value::as_str).is_some() {
                let attrs = map.get("a").and_then(Value::as_array);
                if attrs.is_some_and(|a| a.iter().any(|p| p[0] == name && p[1] == value)) {
                    out.push(v);
                }
            }
            for child in map.values() {
                find_elements(child, name, value, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| find_elements(i, name, value, out)),
        _ => {}
    }
}

/// Lengths of every run of mask characters in `text`.
fn mask_runs(text: &str) -> Vec<usize> {
    let mut runs = Vec::new();
    let mut n = 0;
    for c in text.chars() {
        if c == baton_shared::cobrowse::MASK_CHAR {
            n += 1;
        } else if n > 0 {
            runs.push(n);
            n = 0;
        }
    }
    if n > 0 {
        runs.push(n);
    }
    runs
}

/// The secrets page in a fresh browser, its iframe loaded.
async fn open_secrets_page() -> (Browser, tempfile::TempDir, Page) {
    let base = serve_pages().await;
    let (browser, dir) = launch().await;
    let page = Page::open(browser.cdp(), &format!("{base}/secrets")).await;
    page.page_eval(
        "new Promise(r => { const f = document.getElementById('fr'); \
         if (f.contentDocument && f.contentDocument.readyState === 'complete' && f.contentDocument.body) r(true); \
         else f.addEventListener('load', () => r(true)); })",
    )
    .await;
    (browser, dir, page)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_masks_secrets_and_streams_changes() {
    let _one = ONE_BROWSER.lock().await;
    let (_browser, _dir, page) = open_secrets_page().await;
    // Secrets typed before capture starts.
    page.type_into("#pw", PASSWORD).await;
    page.type_into("#card", CARD).await;

    page.eval("wasm_bindgen.debug_capture_start('', '')").await.expect("start the recorder");
    let mut frames = Vec::new();
    page.frames_until(&mut frames, "the snapshot", |f| has_kind(f, "snapshot")).await;
    let order = kinds(&frames);
    let assets_at = order.iter().position(|k| k == "assets").expect("an assets frame");
    let snapshot_at = order.iter().position(|k| k == "snapshot").expect("a snapshot frame");
    assert!(assets_at < snapshot_at, "assets come before the snapshot: {order:?}");

    // Incremental records: a DOM change, a CSSOM change, typing.
    page.page_eval(
        "const li = document.createElement('li'); li.textContent = 'DYNAMIC-ADDED-TEXT'; \
         document.getElementById('list').appendChild(li); \
         document.querySelector('h1').setAttribute('data-state', 'changed'); \
         document.getElementById('st').sheet.insertRule('.inserted-after-capture { color: green }', 0); true",
    )
    .await;
    page.type_into("#plain", PLAIN).await;
    page.type_into("#pw", "-more").await;
    page.frames_until(&mut frames, "mutations, styles and input", |f| {
        let text = serde_json::to_string(f).unwrap_or_default();
        text.contains("DYNAMIC-ADDED-TEXT")
            && text.contains("inserted-after-capture")
            && text.contains("\"styles\"")
            && has_kind(f, "input")
    })
    .await;
    let protected = |sel: &str| format!("wasm_bindgen.debug_capture_protected({sel:?})");
    assert_eq!(page.eval(&protected("#pw")).await.unwrap(), json!(true), "password protected");
    assert_eq!(page.eval(&protected("#plain")).await.unwrap(), json!(true), "masked input protected");
    assert_eq!(page.eval(&protected("#priv")).await.unwrap(), json!(true), "private block protected");
    assert_eq!(page.eval(&protected("h1")).await.unwrap(), json!(false), "heading not protected");
    page.eval("wasm_bindgen.debug_capture_stop()").await.expect("stop");

    let text = serde_json::to_string(&frames).expect("frames text");
    for wanted in [
        "PLAIN-TEXT-MARKER",
        "Heading title",
        "Your words",
        "OPEN-SHADOW-TEXT",
        "CLOSED-SHADOW-TEXT",
        "IFRAME-TEXT",
        "inserted-before-capture",
        "base-rule",
        "first item",
        "\"data-state\"",
        "SITE-SAFE-VALUE",
    ] {
        assert!(text.contains(wanted), "{wanted} captured; frames: {}", truncate(&frames));
    }
    for secret in
        [PASSWORD, "-more", CARD, "411111", HIDDEN, PRIVATE_TEXT, PRIVATE_ALT, "PRIVATE-TITLE", PLAIN, "PW2-SECRET"]
    {
        assert!(!text.contains(secret), "{secret} leaked into the frames");
    }
    let runs = mask_runs(&text);
    for secret in [PASSWORD, CARD] {
        let n = secret.chars().count();
        assert!(!runs.contains(&n), "a mask as long as a secret ({n}) was sent: {runs:?}");
    }
    assert!(!runs.contains(&(PASSWORD.len() + "-more".len())), "a mask as long as the password was sent: {runs:?}");

    // The plain input's typing arrives masked, same length.
    let input = frames.iter().map(|f| &f["frame"]).rfind(|f| f["k"] == "input").expect("an input frame").clone();
    assert_eq!(input["value"], json!("*".repeat(PLAIN.chars().count())), "masked input: {input}");

    // The private block: a placeholder of its size, nothing inside.
    let snapshot = frames.iter().find(|f| f["frame"]["k"] == "snapshot").expect("snapshot");
    let mut privs = Vec::new();
    find_elements(&snapshot["frame"], "id", "priv", &mut privs);
    let private = privs.first().expect("the private block in the snapshot");
    assert_eq!(private["m"], json!([300, 120]), "placeholder size: {private}");
    assert!(private.get("c").is_none(), "no children captured: {private}");
    // Secret fields carry no value attribute at all.
    for id in ["pw", "card", "hid"] {
        let mut found = Vec::new();
        find_elements(&snapshot["frame"], "id", id, &mut found);
        let el = found.first().unwrap_or_else(|| panic!("#{id} in the snapshot"));
        let attrs = el["a"].as_array().cloned().unwrap_or_default();
        assert!(!attrs.iter().any(|p| p[0] == "value"), "#{id} has no value: {el}");
    }
    // The inline image repeated twice travels once, as an asset.
    assert_eq!(text.matches(&data_png()).count(), 1, "the data URL is sent once");
    let assets = frames.iter().find(|f| f["frame"]["k"] == "assets").expect("assets");
    let image = assets["frame"]["assets"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["mime"] == "image/png"))
        .unwrap_or_else(|| panic!("an image asset: {assets}"));
    let reference = format!("baton-asset:{}", image["hash"].as_str().unwrap_or_default());
    for id in ["d1", "d2"] {
        let mut found = Vec::new();
        find_elements(&snapshot["frame"], "id", id, &mut found);
        let el = found.first().unwrap_or_else(|| panic!("#{id} in the snapshot"));
        assert!(el["a"].to_string().contains(&reference), "#{id} refers to the asset: {el}");
    }
    // Closed shadow content sits in the host's shadow children.
    let mut hosts = Vec::new();
    find_elements(&snapshot["frame"], "id", "closed-host", &mut hosts);
    assert!(hosts.first().is_some_and(|h| h["s"].to_string().contains("CLOSED-SHADOW-TEXT")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10000_node_page_is_captured_without_long_tasks() {
    let _one = ONE_BROWSER.lock().await;
    let base = serve_pages().await;
    let (browser, _dir) = launch().await;
    let page = Page::open(browser.cdp(), &format!("{base}/table")).await;
    let nodes =
        page.page_eval("document.getElementsByTagName('*').length + document.querySelectorAll('td').length").await;
    eprintln!("elements + text nodes: {nodes}");
    assert!(nodes.as_u64().unwrap_or(0) >= 10_000, "{nodes} nodes");
    // Let the load settle, then watch for long tasks.
    tokio::time::sleep(Duration::from_millis(500)).await;
    page.page_eval(
        "window.__longtasks = []; \
         new PerformanceObserver(l => l.getEntries().forEach(e => window.__longtasks.push(e.duration))) \
           .observe({ type: 'longtask' }); true",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    page.eval("wasm_bindgen.debug_capture_start('', '')").await.expect("start the recorder");
    let deadline = Instant::now() + FRAME_TIMEOUT;
    let stats = loop {
        let s = page.eval("wasm_bindgen.debug_capture_stats()").await.expect("stats");
        let s: Value = serde_json::from_str(s.as_str().unwrap_or("{}")).expect("stats JSON");
        if s["snapshot_ms"].as_f64().unwrap_or(0.0) > 0.0 {
            break s;
        }
        assert!(Instant::now() < deadline, "no snapshot: {s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let long = page.page_eval("window.__longtasks").await;
    eprintln!("stats {stats}; long tasks {long}");
    let frames = page.take().await;
    let snapshot = frames.iter().find(|f| f["frame"]["k"] == "snapshot").expect("a snapshot frame");
    let text = snapshot["frame"].to_string();
    eprintln!("snapshot bytes {}", text.len());
    assert!(text.contains(&format!("r{}c3", TABLE_ROWS - 1)), "every row captured");
    assert!(stats["max_slice_ms"].as_f64().unwrap_or(f64::MAX) <= 50.0, "slices: {stats}");
    assert_eq!(long, json!([]), "long tasks during the capture");
}

/// The snapshot frame without node ids (the bulk read and the per-node walk
/// number shadow and iframe content differently).
fn without_ids(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            Value::Object(map.iter().filter(|(k, _)| *k != "i").map(|(k, v)| (k.clone(), without_ids(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(without_ids).collect()),
        other => other.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bulk_read_captures_what_the_per_node_walk_does() {
    let _one = ONE_BROWSER.lock().await;
    let (_browser, _dir, page) = open_secrets_page().await;
    page.type_into("#pw", PASSWORD).await;
    page.type_into("#plain", PLAIN).await;
    page.type_into("#note", "-TYPED").await;
    let mut snapshots = Vec::new();
    for bulk in [true, false] {
        choose_walk(&page, bulk).await;
        // A policy private selector and a safe field, as policy sets them.
        page.eval("wasm_bindgen.debug_capture_start('#list', '#plain')").await.expect("start the recorder");
        let mut frames = Vec::new();
        page.frames_until(&mut frames, "the snapshot", |f| has_kind(f, "snapshot")).await;
        let protected = page.eval("wasm_bindgen.debug_capture_protected('#list')").await.expect("protected");
        let stats = page.eval("wasm_bindgen.debug_capture_stats()").await.expect("stats");
        let stats: Value = serde_json::from_str(stats.as_str().unwrap_or("{}")).expect("stats JSON");
        assert_eq!(stats["bulk"], json!(bulk), "read in bulk: {stats}");
        page.eval("wasm_bindgen.debug_capture_stop()").await.expect("stop");
        let snapshot = frames.iter().find(|f| f["frame"]["k"] == "snapshot").expect("snapshot")["frame"].clone();
        let assets = frames.iter().find(|f| f["frame"]["k"] == "assets").map(|f| f["frame"].clone());
        snapshots.push((without_ids(&snapshot), assets, protected));
    }
    let (bulk, walked) = (&snapshots[0], &snapshots[1]);
    assert_eq!(bulk.0, walked.0, "the same tree either way");
    assert_eq!(bulk.1, walked.1, "the same assets either way");
    assert_eq!(bulk.2, json!(true), "the private selector's element is protected");
    assert_eq!(bulk.2, walked.2);
    let text = bulk.0.to_string();
    assert!(text.contains(PLAIN), "the safe field's value is shown: {text}");
    assert!(!text.contains("first item"), "the private selector's text is hidden");
    assert!(!text.contains(PASSWORD));
    // The textarea's live value (typed), masked to its length; no text inside.
    assert!(!text.contains("NOTE-INITIAL") && !text.contains("TYPED"), "textarea text leaked: {text}");
    let mut notes = Vec::new();
    find_elements(&bulk.0, "id", "note", &mut notes);
    let note_value = notes.first().and_then(|n| n["a"].as_array()).and_then(|a| a.iter().find(|p| p[0] == "value"));
    let typed = "NOTE-INITIAL".len() + "-TYPED".len();
    assert_eq!(note_value, Some(&json!(["value", "*".repeat(typed)])), "the textarea's masked value: {notes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snapshot_has_the_scroll_of_the_window_and_of_scrolled_elements() {
    let _one = ONE_BROWSER.lock().await;
    let scroller = |id: &str| {
        format!("<div id={id} style='height:100px;width:100px;overflow:scroll'><div style='height:900px;width:900px'>S</div></div>")
    };
    let html = format!(
        "<!doctype html><html id=html-root><body style='height:3000px'>{}<section id=host></section><span>inline</span>\
         <div data-baton-private>{}</div>\
         <script>\
           window.scrollTo(0, 250);\
           const s = document.getElementById('scroller'); s.scrollTop = 120; s.scrollLeft = 30;\
           const r = document.getElementById('host').attachShadow({{ mode: 'closed' }});\
           r.innerHTML = \"{}\"; r.getElementById('inner').scrollTop = 77;\
           document.getElementById('private-scroller').scrollTop = 55;\
         </script></body></html>",
        scroller("scroller"),
        scroller("private-scroller"),
        scroller("inner"),
    );
    let (_browser, _dir, page) = open_pages(vec![("/t", html)]).await;
    for bulk in [true, false] {
        choose_walk(&page, bulk).await;
        let frames = start_capture(&page, "", "").await;
        page.eval("wasm_bindgen.debug_capture_stop()").await.expect("stop");
        let frame = snapshots(&frames).first().expect("snapshot")["frame"].clone();
        let Ok(VisitorFrame::Snapshot(mut snapshot)) = serde_json::from_value::<VisitorFrame>(frame.clone()) else {
            panic!("a snapshot frame: {frame}");
        };
        assert!(resolve_ids(&mut snapshot.root), "the root's id: {frame}");
        fn id_of(node: &Node, attr: &str) -> Option<u32> {
            let Node::Element { i, a, c, s, f, .. } = node else { return None };
            if a.iter().any(|(k, v)| k == "id" && v == attr) {
                return Some(*i);
            }
            c.iter().chain(s.iter().flatten()).chain(f.as_deref()).find_map(|n| id_of(n, attr))
        }
        let id = |attr: &str| id_of(&snapshot.root, attr).unwrap_or_else(|| panic!("#{attr} in {frame}"));
        let mut scroll = snapshot.scroll.clone();
        scroll.sort_unstable();
        // The document element reports the viewport's scroll as its own. The
        // private block's scroller is a placeholder's content: not sent.
        let mut want = vec![(WINDOW, 0, 250), (id("html-root"), 0, 250)];
        want.extend([(id("scroller"), 30, 120), (id("inner"), 0, 77)]);
        want.sort_unstable();
        assert_eq!(scroll, want, "bulk read {bulk}: {frame}");
    }
}

/// Serves `routes` (path → HTML): the server's base URL.
async fn serve_routes(routes: Vec<(&'static str, String)>) -> String {
    pages::serve(move |request| match routes.iter().find(|(p, _)| *p == request.path()) {
        Some((_, html)) => Reply::html(html.clone()),
        None => Reply::not_found(),
    })
    .await
    .expect("start the page server")
}

/// Serves `routes` (path → HTML) and opens the first in a fresh browser.
async fn open_pages(routes: Vec<(&'static str, String)>) -> (Browser, tempfile::TempDir, Page) {
    let first = routes.first().map(|(p, _)| *p).unwrap_or("/");
    let base = serve_routes(routes.clone()).await;
    let (browser, dir) = launch().await;
    let page = Page::open(browser.cdp(), &format!("{base}{first}")).await;
    (browser, dir, page)
}

/// Starts the recorder with policy selectors and waits for the snapshot.
async fn start_capture(page: &Page, private: &str, safe: &str) -> Vec<Value> {
    page.eval(&format!("wasm_bindgen.debug_capture_start({private:?}, {safe:?})")).await.expect("start the recorder");
    let mut frames = Vec::new();
    page.frames_until(&mut frames, "the snapshot", |f| has_kind(f, "snapshot")).await;
    frames
}

/// Appends `marker` to the page's body and collects frames until it arrives:
/// everything the page did before is in `frames` then.
async fn settle(page: &Page, frames: &mut Vec<Value>, marker: &str) {
    page.page_eval(&format!(
        "{{ const m = document.createElement('p'); m.textContent = {marker:?}; document.body.appendChild(m); true }}"
    ))
    .await;
    page.frames_until(frames, marker, |f| serde_json::to_string(f).unwrap_or_default().contains(marker)).await;
}

/// Starts a capture with the given private and safe selectors, makes
/// `change` in the page, waits until it is recorded and stops: the frames,
/// and all of them as one text.
async fn capture_change(page: &Page, private: &str, safe: &str, change: &str) -> (Vec<Value>, String) {
    static MARKERS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let mut frames = start_capture(page, private, safe).await;
    page.page_eval(change).await;
    let marker = format!("CHANGE-MARKER-{}", MARKERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    settle(page, &mut frames, &marker).await;
    page.eval("wasm_bindgen.debug_capture_stop()").await.expect("stop");
    let text = serde_json::to_string(&frames).expect("frames text");
    (frames, text)
}

/// [`capture_change`] with the bulk read on or off, the `change` made in the
/// first run on a page only (a later run snapshots what it left).
async fn capture_change_once(page: &Page, bulk: bool, change: &str) -> (Vec<Value>, String) {
    choose_walk(page, bulk).await;
    capture_change(page, "", "", &format!("if (!window.once) {{ window.once = 1; {change} }} true")).await
}

async fn choose_walk(page: &Page, bulk: bool) {
    page.eval(&format!("wasm_bindgen.debug_capture_bulk({bulk})")).await.expect("choose the walk");
}

/// Fails on the first of `secrets` found in the frames' `text`; `context`
/// says which run it was.
fn assert_not_sent(frames: &[Value], text: &str, secrets: &[&str], context: &str) {
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} sent{context}: {}", truncate(frames));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_shown_as_text_stays_secret() {
    let _one = ONE_BROWSER.lock().await;
    let html = r#"<!doctype html><html><body>
<form data-baton-safe><input type=password name=pass id=pass></form>
<form><input type=password id=pass2></form>
</body></html>"#;
    let (_browser, _dir, page) = open_pages(vec![("/t", html.into())]).await;
    page.type_into("#pass", "hunter2").await;
    page.type_into("#pass2", "SWORDFISH9").await;
    let mut frames = start_capture(&page, "", "").await;
    // The page's "show password" button.
    page.page_eval("pass.type = 'text'; pass2.type = 'text'; true").await;
    settle(&page, &mut frames, "FLIPPED-MARKER").await;
    page.type_into("#pass", "-more").await;
    page.type_into("#pass2", "-MORE").await;
    // Flipped back and forth, captured again by a keyframe.
    page.page_eval("pass.type = 'password'; pass.type = 'email'; true").await;
    page.eval("wasm_bindgen.debug_capture_keyframe()").await.expect("keyframe");
    page.frames_until(&mut frames, "a second snapshot", |f| {
        f.iter().filter(|x| x["frame"]["k"] == "snapshot").count() == 2
    })
    .await;
    settle(&page, &mut frames, "END-MARKER").await;
    page.eval("wasm_bindgen.debug_capture_stop()").await.expect("stop");
    let text = serde_json::to_string(&frames).expect("frames text");
    for secret in ["hunter2", "-more", "SWORDFISH9", "-MORE"] {
        assert!(!text.contains(secret), "{secret} leaked: {}", truncate(&frames));
    }
    let runs = mask_runs(&text);
    for n in ["hunter2".len(), "hunter2-more".len(), "SWORDFISH9".len(), "SWORDFISH9-MORE".len()] {
        assert!(!runs.contains(&n), "a mask of a secret's length ({n}): {runs:?}");
    }
    assert!(!has_kind(&frames, "input"), "no input frames for a secret: {:?}", kinds(&frames));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_inside_a_private_block_is_never_sent() {
    let _one = ONE_BROWSER.lock().await;
    let html = r#"<!doctype html><html><body>
<div data-baton-private><input id=a data-baton-safe></div>
<div id=w1><input id=b data-baton-safe></div>
<div id=w2><input id=c data-baton-safe></div>
<div id=w3><input id=d class=keep></div>
</body></html>"#;
    let (_browser, _dir, page) = open_pages(vec![("/t", html.into())]).await;
    // The block turns private and the field changes in the same task, before
    // the recorder hears of the attribute.
    let (frames, text) = capture_change(
        &page,
        ".pii",
        ".keep",
        "const send = (el, v) => { el.value = v; el.dispatchEvent(new Event('input', { bubbles: true })); }; \
         send(a, 'PRIV-A'); \
         w1.setAttribute('data-baton-private', ''); send(b, 'PRIV-B'); \
         w2.className = 'pii'; send(c, 'PRIV-C'); \
         w3.className = 'pii'; send(d, 'PRIV-D'); true",
    )
    .await;
    assert_not_sent(&frames, &text, &["PRIV-A", "PRIV-B", "PRIV-C", "PRIV-D"], "");
    assert!(!has_kind(&frames, "input"), "no input frames: {:?}", kinds(&frames));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_markup_in_attributes_is_not_sent() {
    let _one = ONE_BROWSER.lock().await;
    let html = r#"<!doctype html><html><body>
<iframe id=s srcdoc="<p>SRCDOC-TEXT</p><div data-baton-private>SRCDOC-PRIVATE</div>"></iframe>
<iframe id=u src="data:text/html,<p>DATAURL-IFRAME-SECRET</p>"></iframe>
<object id=o data="data:text/html,<p>DATAURL-OBJECT-SECRET</p>"></object>
<iframe id=k src="about:blank"></iframe>
</body></html>"#;
    let (_browser, _dir, page) = open_pages(vec![("/t", html.into())]).await;
    page.page_eval(
        "new Promise(r => { const f = document.getElementById('s'); \
         if (f.contentDocument && f.contentDocument.body && f.contentDocument.body.firstChild) r(true); \
         else f.addEventListener('load', () => r(true)); })",
    )
    .await;
    let (frames, text) = capture_change(
        &page,
        "",
        "",
        "s.setAttribute('srcdoc', '<div data-baton-private>LATER-SRCDOC-SECRET</div>'); \
         k.setAttribute('src', 'data:text/html,<p>LATER-DATAURL-SECRET</p>'); true",
    )
    .await;
    let secrets = [
        "SRCDOC-PRIVATE",
        "DATAURL-IFRAME-SECRET",
        "DATAURL-OBJECT-SECRET",
        "LATER-SRCDOC-SECRET",
        "LATER-DATAURL-SECRET",
    ];
    assert_not_sent(&frames, &text, &secrets, "");
    assert!(text.contains("SRCDOC-TEXT"), "the srcdoc frame's document is captured node by node");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_user_put_in_an_editable_region_sends_layout_only() {
    let _one = ONE_BROWSER.lock().await;
    let html = r#"<!doctype html><html><body>
<div id=ed contenteditable><p>typed words</p><img id=pasted src="data:image/png;base64,UEFTVEVELVNDUkVFTlNIT1Q=" width=10 height=12 alt="PASTED-ALT"><a id=link href="https://private.example/PASTED-LINK">link</a></div>
<img id=outside src="https://public.example/OUTSIDE-IMAGE.png">
</body></html>"#;
    let (_browser, _dir, page) = open_pages(vec![("/t", html.into())]).await;
    for bulk in [true, false] {
        let (frames, text) = capture_change_once(
            &page,
            bulk,
            "link.setAttribute('href', 'https://private.example/LATER-LINK'); \
             const i = document.createElement('img'); i.src = 'https://private.example/LATER-PASTED.png'; ed.appendChild(i);",
        )
        .await;
        let secrets = ["UEFTVEVELVNDUkVFTlNIT1Q", "PASTED-ALT", "PASTED-LINK", "LATER-LINK", "LATER-PASTED"];
        assert_not_sent(&frames, &text, &secrets, &format!(" (bulk {bulk})"));
        assert!(text.contains("OUTSIDE-IMAGE"), "bulk {bulk}: images outside the region are sent");
        assert!(
            text.contains("\"width\",\"10\""),
            "bulk {bulk}: the pasted image keeps its size: {}",
            truncate(&frames)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_choice_of_a_masked_or_secret_select_is_not_sent() {
    let _one = ONE_BROWSER.lock().await;
    let html = r#"<!doctype html><html><body>
<select id=m autocomplete="cc-exp-month"><option value="01">Jan</option><optgroup label=g><option value="07" selected>Jul</option></optgroup></select>
<select id=c><option value="red">Red</option><option value="blue" selected>Blue</option></select>
<select id=s data-baton-safe><option value="x">X</option><option value="SAFE-CHOICE">Y</option></select>
</body></html>"#;
    let (_browser, _dir, page) = open_pages(vec![("/t", html.into())]).await;
    for bulk in [true, false] {
        let (frames, text) = capture_change_once(
            &page,
            bulk,
            "m.options[0].setAttribute('selected', ''); m.options[0].setAttribute('value', '09'); \
             const o = document.createElement('option'); o.value = '12'; o.selected = true; o.setAttribute('selected', ''); m.appendChild(o); \
             c.options[0].setAttribute('selected', '');",
        )
        .await;
        let secrets = ["\"07\"", "\"09\"", "\"12\"", "\"selected\"", "\"red\"", "\"blue\""];
        assert_not_sent(&frames, &text, &secrets, &format!(" (bulk {bulk})"));
        assert!(text.contains("SAFE-CHOICE"), "a safe select's options stay");
    }
}

/// Waits until the iframe `#id` of the page has loaded its document.
async fn frame_loaded(page: &Page, id: &str) {
    page.page_eval(&format!(
        "new Promise(r => {{ const f = document.getElementById({id:?}); \
         if (f.contentDocument && f.contentDocument.readyState === 'complete' && f.contentDocument.body) r(true); \
         else f.addEventListener('load', () => r(true)); }})"
    ))
    .await;
}

const FRAME_CHILD: &str =
    "<!doctype html><html><body><div id=d><span>public</span></div><input id=fi><p id=q>other</p></body></html>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_same_origin_frame_follows_masking_changes_and_reports_input() {
    let _one = ONE_BROWSER.lock().await;
    let html = r#"<!doctype html><html><body>
<iframe id=fr src="/child"></iframe>
<div id=wrap><iframe id=fr2 src="/child"></iframe></div>
</body></html>"#;
    let (_browser, _dir, page) = open_pages(vec![("/t", html.into()), ("/child", FRAME_CHILD.into())]).await;
    frame_loaded(&page, "fr").await;
    frame_loaded(&page, "fr2").await;
    let mut frames = start_capture(&page, "", "").await;
    // Private inside the frame, then its text changes.
    page.page_eval(
        "const d1 = fr.contentDocument; d1.getElementById('d').setAttribute('data-baton-private', ''); true",
    )
    .await;
    settle(&page, &mut frames, "PRIVATE-SET-MARKER").await;
    page.page_eval("fr.contentDocument.querySelector('#d span').firstChild.data = 'IFRAME-SECRET'; true").await;
    // The frame's wrapper turns private, then the frame's text changes.
    page.page_eval("wrap.setAttribute('data-baton-private', ''); true").await;
    settle(&page, &mut frames, "WRAP-SET-MARKER").await;
    page.page_eval("fr2.contentDocument.getElementById('q').firstChild.data = 'WRAPPED-SECRET'; true").await;
    // Typing in the frame arrives, masked.
    page.page_eval("fr.contentDocument.getElementById('fi').focus(); true").await;
    page.session.call("Input.insertText", json!({ "text": "abcd" })).await.expect("type");
    page.frames_until(&mut frames, "the frame's input", |f| has_kind(f, "input")).await;
    settle(&page, &mut frames, "END-MARKER").await;
    page.eval("wasm_bindgen.debug_capture_stop()").await.expect("stop");
    let text = serde_json::to_string(&frames).expect("frames text");
    for secret in ["IFRAME-SECRET", "WRAPPED-SECRET", "abcd"] {
        assert!(!text.contains(secret), "{secret} leaked: {}", truncate(&frames));
    }
    let input = frames.iter().map(|f| &f["frame"]).rfind(|f| f["k"] == "input").expect("an input frame");
    assert_eq!(input["value"], json!("****"), "{input}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_selector_matched_later_through_an_ancestor_hides_text() {
    let _one = ONE_BROWSER.lock().await;
    let html = r#"<!doctype html><html><body>
<div id=box><span id=s>hello</span><span id=t title="public">x</span></div>
</body></html>"#;
    let (_browser, _dir, page) = open_pages(vec![("/t", html.into())]).await;
    let mut frames = start_capture(&page, ".pii span", "").await;
    page.page_eval("box.className = 'pii'; true").await;
    settle(&page, &mut frames, "CLASS-MARKER").await;
    page.page_eval("s.firstChild.data = 'ACCT 5555'; t.setAttribute('title', 'TITLE-SECRET'); true").await;
    settle(&page, &mut frames, "END-MARKER").await;
    let protected = page.eval("wasm_bindgen.debug_capture_protected('#s')").await.expect("protected");
    page.eval("wasm_bindgen.debug_capture_stop()").await.expect("stop");
    let text = serde_json::to_string(&frames).expect("frames text");
    for secret in ["ACCT 5555", "TITLE-SECRET"] {
        assert!(!text.contains(secret), "{secret} leaked: {}", truncate(&frames));
    }
    assert_ne!(protected, json!(false), "a command on the span is refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_blocks_style_keeps_layout_but_no_images() {
    let _one = ONE_BROWSER.lock().await;
    let html = r#"<!doctype html><html><body>
<div id=p data-baton-private style="width: 120px; background-image: url(https://cdn.example/u/8812/license.jpg); --photo: url(data:image/png;base64,QUJD); height: 30px">x</div>
</body></html>"#;
    let (_browser, _dir, page) = open_pages(vec![("/t", html.into())]).await;
    let change =
        "p.setAttribute('style', 'width: 50px; background: image-set(\"https://cdn.example/LATER.jpg\" 1x)'); true";
    let (frames, text) = capture_change(&page, "", "", change).await;
    assert_not_sent(&frames, &text, &["license.jpg", "QUJD", "LATER.jpg", "--photo"], "");
    assert!(
        text.contains("width: 120px") && text.contains("height: 30px") && text.contains("width: 50px"),
        "layout kept: {}",
        truncate(&frames)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn light_dom_slotted_into_a_private_shadow_element_is_hidden() {
    let _one = ONE_BROWSER.lock().await;
    let html = r#"<!doctype html><html><body>
<x-card id=card><span>4111-SLOTTED-SECRET</span></x-card>
<script>
  card.attachShadow({ mode: 'open' }).innerHTML = '<p>CARD-CHROME</p><div data-baton-private><slot></slot></div>';
</script>
</body></html>"#;
    let (_browser, _dir, page) = open_pages(vec![("/t", html.into())]).await;
    for bulk in [true, false] {
        let (frames, text) = capture_change_once(
            &page,
            bulk,
            "const s = document.createElement('b'); s.textContent = 'ADDED-SLOTTED-SECRET'; card.appendChild(s); \
             card.querySelector('span').firstChild.data = '4111-CHANGED-SECRET';",
        )
        .await;
        assert_not_sent(&frames, &text, &["4111-", "SLOTTED-SECRET", "CHANGED-SECRET"], &format!(" (bulk {bulk})"));
        assert!(text.contains("CARD-CHROME"), "the shadow tree's own text stays");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_made_private_while_the_snapshot_is_taken_is_hidden_in_it() {
    let _one = ONE_BROWSER.lock().await;
    // The block comes first, so that it is read early in a long snapshot.
    let html = table_page().replace(
        "<body>",
        "<body><div id=late><p>LATE-PRIVATE-TEXT</p></div><div id=later><p>LATER-POLICY-TEXT</p></div>",
    );
    let (_browser, _dir, page) = open_pages(vec![("/t", html)]).await;
    let mut hit = 0;
    for attempt in 0..6 {
        let bulk = attempt % 2 == 0;
        choose_walk(&page, bulk).await;
        page.page_eval("late.removeAttribute('data-baton-private'); later.className = ''; true").await;
        // Started and flipped from the recorder's world: the flip runs in the
        // first task the page gets (ahead of the snapshot's continuations),
        // while the snapshot is being taken.
        let flipped = page
            .eval(
                "new Promise(r => { wasm_bindgen.debug_capture_start('.pii', ''); const started = performance.now(); \
                 scheduler.postTask(() => { document.getElementById('late').setAttribute('data-baton-private', ''); \
                 document.getElementById('later').className = 'pii'; r([started, performance.now()]); }, { priority: 'user-blocking' }); })",
            )
            .await
            .expect("start and flip");
        let mut frames = Vec::new();
        page.frames_until(&mut frames, "the snapshot", |f| has_kind(f, "snapshot")).await;
        settle(&page, &mut frames, &format!("END-MARKER-{attempt}")).await;
        page.eval("wasm_bindgen.debug_capture_stop()").await.expect("stop");
        let snapshot = frames.iter().find(|f| f["frame"]["k"] == "snapshot").expect("snapshot");
        let flipped_at = flipped[1].as_f64().unwrap_or(f64::MAX);
        if flipped_at < snapshot["at"].as_f64().unwrap_or(0.0) {
            hit += 1;
            let text = snapshot["frame"].to_string();
            for secret in ["LATE-PRIVATE-TEXT", "LATER-POLICY-TEXT"] {
                assert!(
                    !text.contains(secret),
                    "{secret} in the snapshot (bulk {bulk}, flipped at {flipped}, sent at {})",
                    snapshot["at"]
                );
            }
        }
        // Whenever it was sent, what follows hides it.
        let after = serde_json::to_string(
            &frames[frames.iter().position(|f| f["frame"]["k"] == "snapshot").unwrap_or(0) + 1..],
        )
        .unwrap_or_default();
        assert!(
            !after.contains("LATE-PRIVATE-TEXT") && !after.contains("LATER-POLICY-TEXT"),
            "after the snapshot: {after}"
        );
    }
    eprintln!("the flip fell inside the snapshot {hit} times out of 6");
    assert!(hit > 0, "the flip never fell inside a snapshot");
}

/// Puts the caret at the end of `element` (a page expression) and focuses
/// it, so that `Input.insertText` types there.
async fn caret_at_end(page: &Page, element: &str) {
    page.page_eval(&format!(
        "{{ const el = {element}; const d = el.ownerDocument; d.defaultView.focus(); el.focus(); \
         const s = d.getSelection(); s.removeAllRanges(); const r = d.createRange(); r.selectNodeContents(el); r.collapse(false); \
         s.addRange(r); true }}"
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_user_types_in_design_mode_or_a_user_modify_region_is_masked() {
    let _one = ONE_BROWSER.lock().await;
    let html = r#"<!doctype html><html><head><style>.editor { -webkit-user-modify: read-write }</style></head><body>
<div id=styled class=editor><p>STYLED-DRAFT</p><img id=pasted src="https://private.example/STYLED-IMAGE.png" width=10></div>
<div id=inline style="-webkit-user-modify: read-write-plaintext-only">INLINE-DRAFT</div>
<div id=later><p id=lp>plain words</p></div>
<iframe id=rich src="/rich"></iframe>
<iframe id=plainframe src="/plain"></iframe>
<p id=outside>OUTSIDE-TEXT</p>
</body></html>"#;
    let rich =
        "<!doctype html><html><body><p id=r>RICH-DRAFT</p><script>document.designMode = 'on'</script></body></html>";
    let plain = "<!doctype html><html><body><p id=q>PLAIN-FRAME-TEXT</p></body></html>";
    let (_browser, _dir, page) =
        open_pages(vec![("/t", html.into()), ("/rich", rich.into()), ("/plain", plain.into())]).await;
    frame_loaded(&page, "rich").await;
    frame_loaded(&page, "plainframe").await;
    let secrets = [
        "STYLED-DRAFT",
        "STYLED-IMAGE",
        "INLINE-DRAFT",
        "RICH-DRAFT",
        "STYLED-TYPED",
        "INLINE-TYPED",
        "RICH-TYPED",
        "LATER-TYPED",
        "SWITCHED-TYPED",
    ];
    for bulk in [true, false] {
        // After the snapshot: edits in each region, a region made editable
        // by a class, and a frame switched into design mode.
        let (frames, text) = capture_change_once(
            &page,
            bulk,
            "styled.querySelector('p').firstChild.data = 'STYLED-TYPED'; \
             inline.appendChild(document.createTextNode('INLINE-TYPED')); \
             rich.contentDocument.getElementById('r').firstChild.data = 'RICH-TYPED'; \
             later.className = 'editor'; lp.firstChild.data = 'LATER-TYPED'; \
             const d = plainframe.contentDocument; d.designMode = 'on'; d.getElementById('q').firstChild.data = 'SWITCHED-TYPED';",
        )
        .await;
        assert_not_sent(&frames, &text, &secrets, &format!(" (bulk {bulk})"));
        // Switching the frame into design mode (first run only) took a keyframe.
        let snapshots = frames.iter().filter(|f| f["frame"]["k"] == "snapshot").count();
        assert_eq!(snapshots, if bulk { 2 } else { 1 }, "bulk {bulk}: snapshots");
        assert!(text.contains("OUTSIDE-TEXT"), "bulk {bulk}: text outside the regions is sent");
        assert!(text.contains("\"width\",\"10\""), "bulk {bulk}: the image keeps its layout: {}", truncate(&frames));
    }
    // Typed for real, into the design-mode frame and the styled region.
    let mut frames = start_capture(&page, "", "").await;
    caret_at_end(&page, "rich.contentDocument.body").await;
    page.session.call("Input.insertText", json!({ "text": "KEYS-IN-FRAME" })).await.expect("type");
    caret_at_end(&page, "styled").await;
    page.session.call("Input.insertText", json!({ "text": "KEYS-IN-STYLED" })).await.expect("type");
    settle(&page, &mut frames, "TYPED-MARKER").await;
    let protected = page.eval("wasm_bindgen.debug_capture_protected('#lp')").await.expect("protected");
    page.eval("wasm_bindgen.debug_capture_stop()").await.expect("stop");
    let typed = page.page_eval("rich.contentDocument.body.textContent + styled.textContent").await;
    assert!(
        typed.as_str().is_some_and(|t| t.contains("KEYS-IN-FRAME") && t.contains("KEYS-IN-STYLED")),
        "typed: {typed}"
    );
    let text = serde_json::to_string(&frames).expect("frames text");
    assert_not_sent(&frames, &text, &["KEYS-IN-FRAME", "KEYS-IN-STYLED"], " (typed)");
    assert_eq!(protected, json!(true), "a command inside a region made editable by style is refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_field_shown_as_shapes_is_secret() {
    let _one = ONE_BROWSER.lock().await;
    let html = r#"<!doctype html><html><head><style>.dots { -webkit-text-security: circle }</style></head><body>
<form data-baton-safe>
<input id=dotted type=text style="-webkit-text-security: disc">
<input id=card2 type=tel class=dots>
<textarea id=memo style="-webkit-text-security: square"></textarea>
<input id=shown type=text>
</form>
</body></html>"#;
    let (_browser, _dir, page) = open_pages(vec![("/t", html.into())]).await;
    page.type_into("#dotted", "DOT-4321").await;
    page.type_into("#card2", "CARD-5555").await;
    page.type_into("#memo", "MEMO-SECRET").await;
    page.type_into("#shown", "SHOWN-VALUE").await;
    let typed = page.page_eval("[dotted.value, card2.value, memo.value, shown.value].join()").await;
    assert_eq!(typed, json!("DOT-4321,CARD-5555,MEMO-SECRET,SHOWN-VALUE"), "typed into the fields");
    for bulk in [true, false] {
        choose_walk(&page, bulk).await;
        let mut frames = start_capture(&page, "", "").await;
        let protected = page.eval("wasm_bindgen.debug_capture_protected('#dotted')").await.expect("protected");
        // Typed after the snapshot; then the page shows the field as text.
        page.type_into("#dotted", "-TYPED").await;
        page.type_into("#card2", "-TYPED").await;
        page.page_eval("dotted.style.webkitTextSecurity = 'none'; card2.className = ''; true").await;
        page.type_into("#dotted", "-SHOWN").await;
        page.type_into("#card2", "-SHOWN").await;
        page.type_into("#shown", "-MORE").await;
        page.frames_until(&mut frames, "the safe field's input", |f| {
            serde_json::to_string(f).unwrap_or_default().contains("-MORE")
        })
        .await;
        settle(&page, &mut frames, &format!("END-MARKER-{bulk}")).await;
        page.eval("wasm_bindgen.debug_capture_stop()").await.expect("stop");
        let text = serde_json::to_string(&frames).expect("frames text");
        let context = format!(" (bulk {bulk})");
        assert_not_sent(&frames, &text, &["DOT-4321", "CARD-5555", "MEMO-SECRET", "-TYPED", "-SHOWN"], &context);
        assert!(text.contains("SHOWN-VALUE"), "the safe field's value is shown{context}");
        let runs = mask_runs(&text);
        for n in
            ["DOT-4321".len(), "CARD-5555".len(), "MEMO-SECRET".len(), "DOT-4321-TYPED".len(), "CARD-5555-TYPED".len()]
        {
            assert!(!runs.contains(&n), "a mask of a secret's length ({n}){context}: {runs:?}");
        }
        assert_eq!(protected, json!(true), "a command on the field is refused{context}");
        page.page_eval("dotted.style.webkitTextSecurity = 'disc'; card2.className = 'dots'; true").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_page_sends_no_title_and_only_its_origin() {
    let _one = ONE_BROWSER.lock().await;
    let all_private =
        "<!doctype html><html data-baton-private><head><title>SECRET-TITLE-ROOT</title></head><body>x</body></html>";
    let head_private = "<!doctype html><html><head data-baton-private><title>SECRET-TITLE-HEAD</title></head><body><p>PUBLIC-BODY</p></body></html>";
    let plain =
        "<!doctype html><html><head><title>SECRET-TITLE-POLICY</title></head><body><p>PUBLIC-BODY</p></body></html>";
    let base = serve_routes(vec![
        ("/account/SECRET-PATH", all_private.into()),
        ("/head", head_private.into()),
        ("/plain", plain.into()),
    ])
    .await;
    let (browser, _dir) = launch().await;
    // (page, private selector, the URL the snapshot may tell)
    let cases = [
        ("/account/SECRET-PATH", "", base.clone()),
        ("/head", "", format!("{base}/head")),
        ("/plain", "title", format!("{base}/plain")),
    ];
    for (path, private, url) in cases {
        let page = Page::open(browser.cdp(), &format!("{base}{path}")).await;
        let mut frames = start_capture(&page, private, "").await;
        // A title changed after the snapshot, then a keyframe (nothing
        // appended to an all-private page would ever arrive to wait for).
        page.page_eval("document.title = 'LATER-SECRET-TITLE'; true").await;
        page.eval("wasm_bindgen.debug_capture_keyframe()").await.expect("keyframe");
        page.frames_until(&mut frames, "a second snapshot", |f| {
            f.iter().filter(|x| x["frame"]["k"] == "snapshot").count() == 2
        })
        .await;
        page.eval("wasm_bindgen.debug_capture_stop()").await.expect("stop");
        for snapshot in frames.iter().filter(|f| f["frame"]["k"] == "snapshot") {
            let snapshot = &snapshot["frame"];
            assert_eq!((&snapshot["url"], &snapshot["title"]), (&json!(url), &json!("")), "{path}");
        }
        let text = serde_json::to_string(&frames).expect("frames text");
        assert_not_sent(&frames, &text, &["SECRET-TITLE", "SECRET-PATH"], &format!(" ({path})"));
        assert_eq!(
            text.contains("PUBLIC-BODY"),
            path != "/account/SECRET-PATH",
            "{path}: the body is sent unless private"
        );
    }
}

/// The page-world script the outline test reads each element's outline with.
const OUTLINE_STYLES_JS: &str = r#"(() => {
  const o = document.getElementById('open-host').shadowRoot;
  const f = document.getElementById('fr').contentDocument;
  const style = el => el ? getComputedStyle(el).outlineStyle : 'missing';
  return {
    priv: style(document.getElementById('priv')), plain: style(document.getElementById('plain')),
    open_input: style(o.getElementById('oi')), open_text: style(o.getElementById('op')),
    closed_field: style(window.closedRoot.getElementById('ct')),
    frame_input: style(f.getElementById('fi')), frame_text: style(f.getElementById('fp')),
    design_mode: style(document.getElementById('rich').contentDocument.documentElement),
    later: style(document.getElementById('later-host')?.shadowRoot.getElementById('li')),
    last_child: o.querySelector('b:last-child')?.id ?? null,
    adopted: [document, o, window.closedRoot, f].map(r => r.adoptedStyleSheets.length),
    one_sheet_per_document: document.adoptedStyleSheets.some(s => window.closedRoot.adoptedStyleSheets.includes(s)),
  };
})()"#;

/// [`OUTLINE_STYLES_JS`] once `done` accepts it.
async fn outlines_until(page: &Page, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    page.session.wait_until(what, OUTLINE_STYLES_JS, FRAME_TIMEOUT, done).await.expect(what)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_visitor_sees_an_outline_on_what_is_hidden_in_shadow_trees_and_frames() {
    let _one = ONE_BROWSER.lock().await;
    let html = r#"<!doctype html><html><body>
<div id=priv data-baton-private>private words</div><p id=plain>plain words</p>
<div id=open-host></div><div id=closed-host></div>
<iframe id=fr src="/frame"></iframe><iframe id=rich src="/rich"></iframe>
<script>
  const o = document.getElementById('open-host').attachShadow({ mode: 'open' });
  o.innerHTML = '<input id=oi><p id=op>shadow words</p><b id=last>last</b>';
  window.closedRoot = document.getElementById('closed-host').attachShadow({ mode: 'closed' });
  window.closedRoot.innerHTML = '<textarea id=ct></textarea>';
</script></body></html>"#;
    let frame = "<!doctype html><html><body><input id=fi><p id=fp>frame words</p></body></html>";
    let rich = "<!doctype html><html><body><p>draft</p><script>document.designMode = 'on'</script></body></html>";
    let (_browser, _dir, page) =
        open_pages(vec![("/t", html.into()), ("/frame", frame.into()), ("/rich", rich.into())]).await;
    frame_loaded(&page, "fr").await;
    frame_loaded(&page, "rich").await;
    let before = page.page_eval(OUTLINE_STYLES_JS).await;
    assert_eq!(before["adopted"], json!([0, 0, 0, 0]), "nothing adopted before: {before}");

    let mut frames = start_capture(&page, "", "").await;
    page.eval("wasm_bindgen.debug_capture_outlines(true)").await.expect("outlines on");
    // A shadow root that comes after the outlines did.
    page.page_eval(
        "{ const h = document.createElement('div'); h.id = 'later-host'; \
         h.attachShadow({ mode: 'open' }).innerHTML = '<input id=li>'; document.body.appendChild(h); true }",
    )
    .await;
    let on = outlines_until(&page, "the outlines", |v| v["later"] == "dashed").await;
    for hidden in ["priv", "open_input", "closed_field", "frame_input", "design_mode", "later"] {
        assert_eq!(on[hidden], "dashed", "{hidden} is outlined: {on}");
    }
    for shown in ["plain", "open_text", "frame_text"] {
        assert_eq!(on[shown], "none", "{shown} is not outlined: {on}");
    }
    // A sheet, not an element: the shadow tree's `:last-child` is unchanged.
    assert_eq!(on["last_child"], "last", "{on}");
    assert_eq!(on["one_sheet_per_document"], true, "shadow roots share their document's sheet: {on}");

    // The page sets a root's sheets anew: its own sheet is captured, and the
    // outline comes back (with the style poll), never captured.
    page.page_eval(
        "{ const s = new CSSStyleSheet(); s.replaceSync('p { color: rgb(1, 2, 3) }'); \
         document.getElementById('open-host').shadowRoot.adoptedStyleSheets = [s]; true }",
    )
    .await;
    page.frames_until(&mut frames, "the page's own sheet", |f| {
        serde_json::to_string(f).unwrap_or_default().contains("rgb(1, 2, 3)")
    })
    .await;
    let back = outlines_until(&page, "the outline back", |v| v["open_input"] == "dashed").await;
    assert_eq!(back["adopted"][1], 2, "the page's sheet and the outline: {back}");
    settle(&page, &mut frames, "OUTLINE-MARKER").await;
    let text = serde_json::to_string(&frames).expect("frames text");
    assert!(!text.contains("dashed"), "the outline is never captured: {}", truncate(&frames));

    // Stopping takes every outline away and leaves the page's own sheet.
    page.eval("wasm_bindgen.debug_capture_stop()").await.expect("stop");
    let off = page.page_eval(OUTLINE_STYLES_JS).await;
    for el in ["priv", "open_input", "closed_field", "frame_input", "design_mode", "later"] {
        assert_eq!(off[el], "none", "{el} after stop: {off}");
    }
    assert_eq!(off["adopted"], json!([0, 1, 0, 0]), "only the page's sheet is left: {off}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_root_attached_when_an_element_is_defined_is_captured() {
    let _one = ONE_BROWSER.lock().await;
    // Defined after the snapshot, as a component library loaded on demand
    // does: the constructor attaches a closed shadow root to an element
    // already captured, which no mutation reports.
    let html = "<!doctype html><html><body><x-card id=card><span>LIGHT-TEXT</span></x-card>\
                <x-plain id=plain>PLAIN-CUSTOM</x-plain></body></html>";
    let (_browser, _dir, page) = open_pages(vec![("/t", html.into())]).await;
    let mut frames = start_capture(&page, "", "").await;
    page.eval("wasm_bindgen.debug_capture_outlines(true)").await.expect("outlines on");
    let first = serde_json::to_string(&frames).expect("frames text");
    assert!(first.contains("LIGHT-TEXT") && !first.contains("SHADOW-AFTER-UPGRADE"), "{}", truncate(&frames));
    // Defined without a shadow root: no keyframe, over more than one poll
    // (the marker is appended after the poll has had its look).
    page.page_eval("customElements.define('x-plain', class extends HTMLElement {}); true").await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    settle(&page, &mut frames, "AFTER-PLAIN-DEFINED").await;
    assert_eq!(snapshots(&frames).len(), 1, "no keyframe for an element defined without a shadow root");
    keyframe_after(
        &page,
        &mut frames,
        "customElements.define('x-card', class extends HTMLElement { constructor() { super(); \
           window.cardRoot = this.attachShadow({ mode: 'closed' }); \
           window.cardRoot.innerHTML = '<p>SHADOW-AFTER-UPGRADE</p><input id=si><slot></slot>'; } }); true",
        "SHADOW-AFTER-UPGRADE",
    )
    .await;
    // The new shadow tree is watched like any other: outlined, and its
    // field's typing masked.
    page.session
        .wait_until(
            "the outline in the new shadow tree",
            "getComputedStyle(window.cardRoot.getElementById('si')).outlineStyle",
            FRAME_TIMEOUT,
            |v| v == "dashed",
        )
        .await
        .expect("outlined");
    page.page_eval("window.cardRoot.getElementById('si').focus(); true").await;
    page.session.call("Input.insertText", json!({ "text": "TYPED-IN-UPGRADED" })).await.expect("type");
    page.frames_until(&mut frames, "the masked input", |f| has_kind(f, "input")).await;
    page.eval("wasm_bindgen.debug_capture_stop()").await.expect("stop");
    let text = serde_json::to_string(&frames).expect("frames text");
    assert_not_sent(&frames, &text, &["TYPED-IN-UPGRADED"], " (upgraded shadow tree)");
    assert_eq!(snapshots(&frames).len(), 2, "one keyframe for the upgrade");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_root_attached_later_to_a_plain_or_defined_element_is_captured() {
    let _one = ONE_BROWSER.lock().await;
    // A script may give a captured `div` (or a custom element defined long
    // ago) a shadow root at any time; no mutation reports it. The first
    // `div` comes after 1,500 others, so finding it takes more than one poll.
    let fillers = "<div class=filler>f</div>".repeat(1_500);
    let html = format!(
        "<!doctype html><html><body><x-defined id=defined>DEFINED-LIGHT</x-defined>\
         {fillers}<div id=plain-host><span>PLAIN-LIGHT</span></div><div id=second-host>SECOND-LIGHT</div>\
         <script>customElements.define('x-defined', class extends HTMLElement {{}});</script></body></html>"
    );
    let (_browser, _dir, page) = open_pages(vec![("/t", html)]).await;
    let mut frames = start_capture(&page, "", "").await;
    let first = serde_json::to_string(&frames).expect("frames text");
    assert!(first.contains("PLAIN-LIGHT") && !first.contains("PLAIN-SHADOW"), "{}", truncate(&frames));
    keyframe_after(
        &page,
        &mut frames,
        "window.plainRoot = document.getElementById('plain-host').attachShadow({ mode: 'closed' }); \
         window.plainRoot.innerHTML = '<p>PLAIN-SHADOW-TEXT</p><input id=pi><slot></slot>'; true",
        "PLAIN-SHADOW-TEXT",
    )
    .await;
    // The late root is watched like any other shadow tree: typing in it is masked.
    page.page_eval("window.plainRoot.getElementById('pi').focus(); true").await;
    page.session.call("Input.insertText", json!({ "text": "TYPED-IN-LATE-ROOT" })).await.expect("type");
    page.frames_until(&mut frames, "the masked input", |f| has_kind(f, "input")).await;
    // Found once: the keyframe that captured a root does not look for it again.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    settle(&page, &mut frames, "AFTER-LATE-ROOT").await;
    page.eval("wasm_bindgen.debug_capture_stop()").await.expect("stop");
    let text = serde_json::to_string(&frames).expect("frames text");
    assert_not_sent(&frames, &text, &["TYPED-IN-LATE-ROOT"], " (late shadow root)");
    assert_eq!(snapshots(&frames).len(), 2, "one keyframe for the attached root");

    // Two roots soon after one another, on a small page now: the second
    // waits out the gap after the first one's keyframe, so a page giving
    // roots out all the time is not captured anew each second. (It is
    // attached past the poll after that keyframe, which looks once at every
    // custom element captured without a root, for upgrades.)
    page.page_eval("document.querySelectorAll('.filler').forEach(f => f.remove()); true").await;
    let mut frames = start_capture(&page, "", "").await;
    let second =
        "document.getElementById('second-host').attachShadow({ mode: 'open' }).innerHTML = 'SECOND-ROOT'; true";
    keyframe_after(&page, &mut frames, second, "SECOND-ROOT").await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let defined =
        "document.getElementById('defined').attachShadow({ mode: 'open' }).innerHTML = '<b>DEFINED-SHADOW-TEXT</b>'; true";
    keyframe_after(&page, &mut frames, defined, "DEFINED-SHADOW-TEXT").await;
    page.eval("wasm_bindgen.debug_capture_stop()").await.expect("stop");
    let taken = snapshots(&frames);
    assert_eq!(taken.len(), 3, "one keyframe per attached root");
    let at = |i: usize| taken[i]["at"].as_f64().unwrap_or(0.0);
    assert!(at(2) - at(1) >= 4_900.0, "the second keyframe came {:.0} ms after the first", at(2) - at(1));
}

/// JSON nesting of `v`: objects and arrays.
fn nesting(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(nesting).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(nesting).max().unwrap_or(0),
        _ => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_nested_deeper_than_a_frame_may_be_comes_in_pieces_from_both_walks() {
    let _one = ONE_BROWSER.lock().await;
    let html = r#"<!doctype html><html><body><p>Deep page</p><div id=top></div><script>
      let el = document.getElementById('top');
      for (let i = 0; i < 1500; i++) { const d = document.createElement('div'); el.appendChild(d); el = d; }
      el.textContent = 'BOTTOM-OF-THE-PAGE';
    </script></body></html>"#;
    let (_browser, _dir, page) = open_pages(vec![("/", html.to_owned())]).await;
    for bulk in [true, false] {
        choose_walk(&page, bulk).await;
        let mut frames = start_capture(&page, "", "").await;
        settle(&page, &mut frames, &format!("SETTLED-{bulk}")).await;
        page.eval("wasm_bindgen.debug_capture_stop()").await.expect("stop");
        let at = frames.iter().position(|f| f["frame"]["k"] == "snapshot").expect("a snapshot");
        // The cut-off part follows the snapshot at once, as additions.
        let next = &frames[at + 1]["frame"];
        assert_eq!(next["k"], "mutations", "bulk read {bulk}: {}", truncate(&frames[at + 1..]));
        assert!(serde_json::to_string(next).unwrap_or_default().contains("BOTTOM-OF-THE-PAGE"), "bulk read {bulk}");
        let adds = next["adds"].as_array().map_or(0, Vec::len);
        assert!(adds >= 1_400 / baton_shared::limits::MAX_NODE_NESTING, "bulk read {bulk}: {adds} additions");
        for f in &frames {
            // Well under what JSON readers take (128), envelope included.
            assert!(nesting(f) <= 2 * baton_shared::limits::MAX_NODE_NESTING + 12, "bulk read {bulk}: {}", nesting(f));
        }
    }
}
