//! The operator's console in a real browser, fed by a visitor played by a
//! `baton-host` over pipes: the console joins through its own UI, the
//! visitor approves and sends hand-written frames — a hostile page, then
//! mutations, input and pointer records. What the console shows is read
//! from its DOM; what it sends back is read at the visitor's host.
//!
//! The hostile page tries every way we know to run code or load things in
//! the console: script elements, `onerror`/`onload` handlers, `javascript:`
//! links, SVG `<script>`, `srcdoc`, meta refresh, `<base>`, form actions,
//! `expression()` and `javascript:` in CSS. Each attempt would call a
//! beacon on 127.0.0.1 or set `window.top.__pwned`; the test checks that
//! the beacon heard nothing and nothing was set.

use std::time::{Duration, Instant};

use baton_e2e::{pages, Device, DeviceOptions, NativeHost, OrReport, ServerProcess, Session};
use baton_shared::ids::EXTENSION_ID;
use serde_json::{json, Value};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
const UI_TIMEOUT: Duration = Duration::from_secs(10);
const FRAME_TIMEOUT: Duration = Duration::from_secs(10);
const PAGE_URL: &str = "http://hostile.invalid/account/page.html";
const BODY_TEXT: &str = "Hostile page body text 4417";
const TYPED_MASK: &str = "*******";
const PASSWORD: &str = "hunter2-PASSWORD-VALUE";

/// Everything the tests look at in the console, read in one go.
const SNAPSHOT_JS: &str = r#"(() => {
  const q = (s) => document.querySelector(s);
  const frame = q('#mirror');
  const d = frame && frame.contentDocument;
  const all = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      all.push(el);
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  if (d) walk(d);
  const attrs = all.flatMap((el) => [...el.attributes].map((a) => [el.localName, a.name, a.value]));
  const inputs = all.filter((el) => el.localName === 'input');
  return {
    state: q('#console-state')?.dataset.state ?? null,
    mirror_status: q('#mirror-status')?.dataset.state ?? null,
    last_seq: Number(q('#last-seq')?.textContent ?? -1),
    keyframe_requests: Number(q('#last-seq')?.dataset.requests ?? -1),
    join_error: q('#join-error') && !q('#join-error').hidden ? q('#join-error').textContent : null,
    recording_note: q('#recording-note') && !q('#recording-note').hidden ? q('#recording-note').textContent : null,
    grants: q('#grants')?.dataset.scopes ?? null,
    pointer: q('#visitor-pointer') && !q('#visitor-pointer').hidden
      ? [Number(q('#visitor-pointer').dataset.x), Number(q('#visitor-pointer').dataset.y)] : null,
    app_state: q('#app-state')?.dataset.state ?? null,
    sandbox: frame?.getAttribute('sandbox') ?? null,
    mirror_text: d?.body?.innerText ?? '',
    zz_mirror_html: d?.documentElement?.outerHTML ?? '',
    scripts: d ? d.querySelectorAll('script').length + all.filter((e) => e.localName === 'script').length : -1,
    handler_attrs: attrs.filter(([, n]) => n.toLowerCase().startsWith('on')).map((a) => a.join(' ')),
    js_urls: attrs.filter(([, , v]) => /^\s*(javascript|vbscript|data:text)/i.test(v)).map((a) => a.join(' ')),
    forbidden: all.filter((e) => ['base', 'meta', 'iframe', 'object', 'embed', 'frame'].includes(e.localName)).map((e) => e.localName),
    srcdoc: attrs.filter(([, n]) => n === 'srcdoc' || n === 'action' || n === 'formaction').length,
    input_values: inputs.map((i) => [i.getAttribute('name'), i.value]),
    mirror_url: d?.URL ?? null,
    pwned: window.__pwned ?? (frame?.contentWindow?.__pwned) ?? null,
    title: document.title,
    zz_console_html: document.documentElement.outerHTML,
  };
})()"#;

fn console_url() -> String {
    format!("chrome-extension://{EXTENSION_ID}/console.html")
}

fn el(i: u32, n: &str, a: Value, c: Value) -> Value {
    json!({"t": "e", "i": i, "n": n, "a": a, "c": c})
}

fn text(i: u32, v: &str) -> Value {
    json!({"t": "x", "i": i, "v": v})
}

/// A page that tries to run code and load things in every way we know.
fn hostile_snapshot(b: &str) -> Value {
    let pwn = |tag: &str| format!("window.top.__pwned='{tag}';fetch('{b}/{tag}')");
    let head = el(2, "head", json!([]), json!([
        el(3, "title", json!([]), json!([text(4, "Hostile page")])),
        el(5, "script", json!([]), json!([text(6, &pwn("script"))])),
        el(7, "meta", json!([["http-equiv", "refresh"], ["content", format!("0;url={b}/meta-refresh")]]), json!([])),
        el(8, "base", json!([["href", format!("{b}/base/")]]), json!([])),
        el(9, "style", json!([]), json!([text(10, &format!(
            "body{{background:url(javascript:{})}} .x{{width:expression({})}} .y{{background:url(\"java\\73 cript:{}\")}} @import url({b}/import.css);",
            pwn("css-url"), pwn("css-expr"), pwn("css-escaped")))])),
        el(11, "link", json!([["rel", "prefetch"], ["href", format!("{b}/prefetch")]]), json!([])),
        el(12, "link", json!([["rel", "stylesheet"], ["href", format!("javascript:{}", pwn("link-css"))]]), json!([])),
    ]));
    let body = el(
        20,
        "body",
        json!([["onload", pwn("body-onload")]]),
        json!([
            el(21, "p", json!([["id", "intro"]]), json!([text(22, BODY_TEXT)])),
            el(23, "img", json!([["src", "missing.png"], ["onerror", pwn("img-onerror")]]), json!([])),
            el(
                24,
                "a",
                json!([["id", "jslink"], ["href", format!("javascript:{}", pwn("js-link"))]]),
                json!([text(25, "Click me")])
            ),
            el(
                26,
                "svg",
                json!([["width", "40"], ["height", "40"], ["onload", pwn("svg-onload")]]),
                json!([
                    el(27, "script", json!([]), json!([text(28, &pwn("svg-script"))])),
                    el(
                        29,
                        "a",
                        json!([["xlink:href", format!("javascript:{}", pwn("svg-link"))]]),
                        json!([el(30, "text", json!([["x", "0"], ["y", "20"]]), json!([text(31, "svg link")])),])
                    ),
                    el(
                        32,
                        "set",
                        json!([["attributeName", "href"], ["to", format!("javascript:{}", pwn("svg-set"))]]),
                        json!([])
                    ),
                ])
            ),
            el(
                33,
                "iframe",
                json!([["srcdoc", format!("<script>{}</script>", pwn("srcdoc"))], ["src", format!("{b}/iframe")]]),
                json!([])
            ),
            el(34, "object", json!([["data", format!("{b}/object")]]), json!([])),
            el(35, "embed", json!([["src", format!("{b}/embed")]]), json!([])),
            el(
                36,
                "form",
                json!([["action", format!("{b}/form")], ["method", "post"]]),
                json!([
                    el(
                        37,
                        "input",
                        json!([["name", "plain"], ["type", "text"], ["autofocus", ""], ["onfocus", pwn("onfocus")]]),
                        json!([])
                    ),
                    el(38, "input", json!([["name", "pw"], ["type", "password"], ["value", PASSWORD]]), json!([])),
                    el(
                        39,
                        "button",
                        json!([["formaction", format!("javascript:{}", pwn("formaction"))]]),
                        json!([text(40, "Send")])
                    ),
                ])
            ),
            el(
                41,
                "div",
                json!([["style", format!("background-image:url(javascript:{})", pwn("style-attr"))]]),
                json!([text(42, "styled")])
            ),
            el(43, "details", json!([["open", ""], ["ontoggle", pwn("ontoggle")]]), json!([text(44, "details")])),
            el(45, "noscript", json!([]), json!([text(46, "NOSCRIPT-CONTENT")])),
        ]),
    );
    json!({"k": "snapshot", "url": PAGE_URL, "title": "Hostile page",
           "root": el(1, "html", json!([]), json!([head, body])), "viewport": [1000, 700], "scroll": []})
}

struct Joined {
    _dir: tempfile::TempDir,
    server: ServerProcess,
    device: Device,
    visitor: NativeHost,
    console: Session,
    session: String,
}

impl Joined {
    async fn state(&self) -> Value {
        self.console.evaluate(SNAPSHOT_JS).await.unwrap_or(Value::Null)
    }

    async fn wait(&self, what: &str, timeout: Duration, done: impl Fn(&Value) -> bool) -> Value {
        match self.console.wait_until(what, SNAPSHOT_JS, timeout, done).await {
            Ok(v) => v,
            Err(e) => panic!("{what}: {e}\nvisitor host log:\n{}", self.visitor.log_tail()),
        }
    }

    async fn send(&mut self, frame: Value) {
        let reply = self
            .visitor
            .call(json!({"type": "cobrowse_send", "session_id": self.session, "frame": {"dir": "visitor", "frame": frame}}))
            .await
            .or_report("visitor sends a frame", &[&self.device, &self.server]);
        assert_eq!(reply["type"], "ack", "{reply}");
    }

    /// The next operator frame of kind `k` the visitor's host receives.
    async fn operator_frame(&mut self, k: &str) -> Value {
        let session = self.session.clone();
        let event = self
            .visitor
            .wait_event(&format!("operator frame {k}"), FRAME_TIMEOUT, |m| {
                m["type"] == "cobrowse"
                    && m["session_id"] == session.as_str()
                    && m["event"]["e"] == "frame"
                    && m["event"]["frame"]["frame"]["k"] == k
            })
            .await
            .or_report(&format!("operator frame {k}"), &[&self.device, &self.server]);
        event["event"]["frame"]["frame"].clone()
    }
}

/// Server, an operator browser with the console open, and a visitor host
/// sharing; the console joins through its UI and the visitor approves.
async fn join(name: &str) -> Joined {
    join_with(name, &[], false).await
}

/// [`join`] with extra server arguments, and the visitor's answer to recording.
async fn join_with(name: &str, server_args: &[&str], record: bool) -> Joined {
    let dir = tempfile::tempdir().expect("temp dir");
    let server =
        ServerProcess::start_with(dir.path().join("server.sqlite3"), server_args).await.expect("start baton-server");
    let mut visitor = NativeHost::start(&dir.path().join("visitor"), server.url(), "E2E Visitor")
        .await
        .or_report("start the visitor's host", &[&server]);
    let device =
        Device::start(DeviceOptions::new(name, server.url())).await.or_report("start the operator", &[&server]);
    let parts: [&dyn baton_e2e::Diagnose; 2] = [&device, &server];
    visitor
        .wait_status("visitor registered", CONNECT_TIMEOUT, |s| {
            s["server"]["state"] == "connected" && s["device"].is_object()
        })
        .await
        .or_report("visitor registration", &parts);
    let popup = device.popup().await.or_report("open the popup", &parts);
    popup
        .wait_until("operator registered", CONNECT_TIMEOUT, |s| s.server_is("connected") && s.device_is(name))
        .await
        .or_report("operator registration", &parts);

    let started = visitor.call(json!({"type": "share_start"})).await.or_report("share_start", &parts);
    let session = started["session_id"].as_str().expect("session id").to_owned();
    let code = started["code"].as_str().expect("code").to_owned();

    let console = device.browser().cdp().open_page(&console_url()).await.or_report("open the console", &parts);
    console
        .wait_until("the console is ready", SNAPSHOT_JS, UI_TIMEOUT, |v| v["state"] == "idle")
        .await
        .or_report("console start", &parts);
    baton_e2e::console::join(&console, &code).await.or_report("join", &parts);
    console
        .wait_until("waiting for the visitor's approval", SNAPSHOT_JS, UI_TIMEOUT, |v| v["state"] == "awaiting-consent")
        .await
        .or_report("joined", &parts);
    let s = session.clone();
    visitor
        .wait_event("operator joined", FRAME_TIMEOUT, |m| {
            m["type"] == "cobrowse" && m["session_id"] == s.as_str() && m["event"]["e"] == "operator_joined"
        })
        .await
        .or_report("visitor hears the operator", &parts);
    visitor
        .call(json!({"type": "share_respond", "session_id": session, "approve": true, "record": record}))
        .await
        .or_report("approve", &parts);
    console.wait_until("active", SNAPSHOT_JS, UI_TIMEOUT, |v| v["state"] == "active").await.or_report("active", &parts);
    let mut joined = Joined { _dir: dir, server, device, visitor, console, session };
    // A fresh console asks for a keyframe.
    joined.operator_frame("keyframe_request").await;
    joined
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_page_runs_nothing_in_the_console_and_changes_show_masked() {
    let (b, hits) = pages::beacon().await.expect("start the beacon");
    let mut j = join("E2E Operator").await;

    j.send(json!({"k": "viewport", "w": 1000, "h": 700})).await;
    j.send(hostile_snapshot(&b)).await;
    let v = j
        .wait("the page text in the mirror", UI_TIMEOUT, |v| {
            v["mirror_text"].as_str().unwrap_or("").contains(BODY_TEXT)
        })
        .await;
    assert_eq!(v["sandbox"], "allow-same-origin", "the mirror frame runs no script");
    assert_eq!(v["mirror_status"], "live", "{v}");

    // Give every trick time to fire.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let v = j.state().await;
    assert_eq!(v["scripts"], 0, "no script elements: {}", v["zz_mirror_html"]);
    assert_eq!(v["handler_attrs"], json!([]), "no event handler attributes");
    assert_eq!(v["js_urls"], json!([]), "no javascript: or HTML data: URLs");
    assert_eq!(v["forbidden"], json!([]), "no base, meta, frames or plugins: {}", v["zz_mirror_html"]);
    assert_eq!(v["srcdoc"], 0, "no srcdoc, action or formaction");
    assert!(v["pwned"].is_null(), "nothing ran: {}", v["pwned"]);
    assert_eq!(v["title"], "Baton — operator console", "the console's title is its own");
    assert_eq!(v["mirror_url"], "about:srcdoc", "the mirror never navigated");
    assert_eq!(v["state"], "active", "the console never navigated");
    let html = v["zz_mirror_html"].as_str().unwrap_or_default();
    assert!(!html.contains("NOSCRIPT-CONTENT"), "noscript content is not shown");
    assert!(!html.contains("__pwned"), "no trace of the page's code in the mirror");
    assert!(html.contains("data-baton-placeholder=\"iframe\""), "frames are placeholders: {html}");
    assert!(html.contains("http://hostile.invalid/account/missing.png"), "URLs resolved against the page, not <base>");
    assert!(!v["zz_console_html"].as_str().unwrap_or_default().contains(PASSWORD), "the password never shows");

    // Clicking the mirror's link directly goes nowhere either.
    j.console
        .evaluate("document.querySelector('#mirror').contentDocument.querySelector('#jslink')?.click()")
        .await
        .or_report("click the mirror's link", &[&j.device, &j.server]);

    // A DOM change shows, applied in place.
    j.send(json!({"k": "mutations",
        "adds": [{"parent": 20, "before": 23, "node": el(50, "p", json!([["id", "later"], ["onclick", "x()"]]), json!([text(51, "Added later 9921")]))},
                 {"parent": 20, "node": el(52, "script", json!([]), json!([text(53, "window.top.__pwned='late-script'")]))},
                 {"parent": 20, "node": el(54, "img", json!([["src", "javascript:x"], ["onerror", "window.top.__pwned='late-img'"]]), json!([]))}],
        "texts": [[22, "Changed text 5573"]],
        "attrs": [{"id": 21, "name": "class", "value": "big"}, {"id": 24, "name": "onmouseover", "value": "window.top.__pwned='attr'"}]}))
    .await;
    let v = j
        .wait("the mutation in the mirror", UI_TIMEOUT, |v| {
            let t = v["mirror_text"].as_str().unwrap_or("");
            t.contains("Added later 9921") && t.contains("Changed text 5573")
        })
        .await;
    assert_eq!(v["scripts"], 0, "{}", v["zz_mirror_html"]);
    assert_eq!(v["handler_attrs"], json!([]));
    assert_eq!(v["js_urls"], json!([]));

    // Typing: a plain input's masked value is shown as given; a password never is.
    j.send(json!({"k": "input", "id": 37, "value": TYPED_MASK})).await;
    j.send(json!({"k": "input", "id": 38, "value": PASSWORD})).await;
    j.send(json!({"k": "pointer", "x": 120, "y": 80})).await;
    j.send(json!({"k": "grants", "scopes": ["scroll", "click"]})).await;
    let v = j
        .wait("input, pointer and grants shown", UI_TIMEOUT, |v| {
            v["input_values"].as_array().is_some_and(|a| a.iter().any(|p| p[1] == TYPED_MASK))
                && v["pointer"] == json!([120, 80])
                && v["grants"] == "click,scroll"
        })
        .await;
    assert!(
        v["input_values"].as_array().unwrap().iter().any(|p| p[0] == "pw" && p[1] == ""),
        "the password field stays empty: {}",
        v["input_values"]
    );
    assert!(!v["zz_console_html"].as_str().unwrap_or_default().contains(PASSWORD));
    assert!(!v["zz_mirror_html"].as_str().unwrap_or_default().contains(PASSWORD));

    // The operator's pointer and clicks go to the visitor: a ripple, and with
    // the click scope, a click command on the element under the pointer.
    j.console
        .evaluate(
            "(() => { const o = document.querySelector('#overlay');
                const d = document.querySelector('#mirror').contentDocument;
                const r = d.querySelector('#later').getBoundingClientRect();
                const s = o.getBoundingClientRect().width / 1000;
                const box = o.getBoundingClientRect();
                const x = box.left + (r.left + 5) * s, y = box.top + (r.top + 5) * s;
                o.dispatchEvent(new PointerEvent('pointermove', {clientX: x, clientY: y, bubbles: true}));
                o.dispatchEvent(new MouseEvent('click', {clientX: x, clientY: y, bubbles: true})); })()",
        )
        .await
        .or_report("click in the mirror", &[&j.device, &j.server]);
    let pointer = j.operator_frame("pointer").await;
    assert!(pointer["x"].as_i64().is_some(), "{pointer}");
    j.operator_frame("ripple").await;
    let command = j.operator_frame("command").await;
    assert_eq!(command["command"], json!({"c": "click", "id": 50}), "{command}");

    tokio::time::sleep(Duration::from_millis(500)).await;
    let v = j.state().await;
    assert!(v["pwned"].is_null(), "nothing ran: {}", v["pwned"]);
    let heard: Vec<String> =
        hits.requests().iter().map(|r| r.split_whitespace().nth(1).unwrap_or("?").to_owned()).collect();
    assert!(heard.is_empty(), "the hostile page reached the beacon: {heard:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_asks_for_a_keyframe_after_an_unknown_node_and_a_reconnect() {
    let mut j = join("E2E Operator Two").await;
    j.send(json!({"k": "snapshot", "url": "https://shop.example/", "title": "Shop",
        "root": el(1, "html", json!([]), json!([el(2, "body", json!([]), json!([el(3, "p", json!([]), json!([text(4, "First")]))]))])),
        "viewport": [800, 600], "scroll": []}))
    .await;
    j.wait("first snapshot", UI_TIMEOUT, |v| v["mirror_text"].as_str().unwrap_or("").contains("First")).await;

    // A record naming a node the console never saw: it asks for a keyframe
    // and ignores page records until the snapshot comes.
    j.send(json!({"k": "mutations", "texts": [[999, "lost"]]})).await;
    j.operator_frame("keyframe_request").await;
    j.send(json!({"k": "mutations", "texts": [[4, "Not applied"]]})).await;
    let v = j.wait("resyncing", UI_TIMEOUT, |v| v["mirror_status"] == "resyncing").await;
    assert!(v["mirror_text"].as_str().unwrap_or("").contains("First"), "{}", v["mirror_text"]);
    j.send(json!({"k": "snapshot", "url": "https://shop.example/", "title": "Shop",
        "root": el(1, "html", json!([]), json!([el(2, "body", json!([]), json!([el(3, "p", json!([]), json!([text(4, "Second")]))]))])),
        "viewport": [800, 600], "scroll": []}))
    .await;
    j.wait("second snapshot, live", UI_TIMEOUT, |v| {
        v["mirror_text"].as_str().unwrap_or("").contains("Second") && v["mirror_status"] == "live"
    })
    .await;

    // The relay drops (server restart): the console asks again when it is back.
    j.server.restart().await.or_report("restart the server", &[&j.device]);
    j.operator_frame("keyframe_request").await;
}

/// The server stops recording at its cap: the console says so, the visitor's
/// host hears of it too, and the live session goes on; a console reloaded
/// afterwards resumes the session and says so as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_says_when_the_recording_stops_at_its_cap() {
    let mut j = join_with("E2E Operator Cap", &["--cobrowse-recording-max-bytes", "2000"], true).await;
    let page = |n: u32| {
        json!({"k": "snapshot", "url": "https://shop.example/", "title": "Shop",
            "root": el(1, "html", json!([]), json!([el(2, "body", json!([]), json!([el(3, "p", json!([]), json!([text(4, &format!("Page {n}"))]))]))])),
            "viewport": [800, 600], "scroll": []})
    };
    for n in 1..=12 {
        j.send(page(n)).await;
    }
    // The note comes when the cap is reached, a few pages in; the pages after
    // it still show: the recording stops, the live view does not.
    j.wait("the recording note and the last page", UI_TIMEOUT, |v| {
        v["recording_note"].as_str().is_some_and(|t| t.contains("2000 bytes"))
            && v["mirror_text"].as_str().unwrap_or("").contains("Page 12")
    })
    .await;
    let session = j.session.clone();
    j.visitor
        .wait_event("the visitor's host hears the recording stopped", FRAME_TIMEOUT, |m| {
            m["type"] == "cobrowse" && m["session_id"] == session.as_str() && m["event"]["e"] == "recording_stopped"
        })
        .await
        .or_report("recording stopped at the visitor", &[&j.device, &j.server]);
    j.send(page(13)).await;
    j.wait("still live", UI_TIMEOUT, |v| v["mirror_text"].as_str().unwrap_or("").contains("Page 13")).await;

    // A reloaded console picks the session up again, note included, and
    // asks the visitor for a keyframe.
    j.console.reload(UI_TIMEOUT).await.or_report("reload the console", &[&j.device, &j.server]);
    j.operator_frame("keyframe_request").await;
    j.send(page(14)).await;
    let v = j
        .wait("the session, resumed", UI_TIMEOUT, |v| {
            v["state"] == "active" && v["mirror_text"].as_str().unwrap_or("").contains("Page 14")
        })
        .await;
    assert!(v["recording_note"].as_str().is_some_and(|t| t.contains("2000 bytes")), "{}", v["recording_note"]);
    let label = j.console.evaluate("document.querySelector('#console-state').textContent").await.unwrap_or_default();
    assert_eq!(label, "Viewing E2E Visitor's tab");

    // A second console tab leaves the session to the first and stays free
    // to join another visitor.
    let parts: [&dyn baton_e2e::Diagnose; 2] = [&j.device, &j.server];
    let second = j.device.browser().cdp().open_page(&console_url()).await.or_report("open a second console", &parts);
    let resume = "[document.querySelector('#console-state')?.dataset.state, document.querySelector('#console-state')?.dataset.resume]";
    let seen = second
        .wait_until("the second console decided", resume, UI_TIMEOUT, |v| v[1].is_string())
        .await
        .or_report("second console", &parts);
    assert_eq!(seen, json!(["idle", "none"]));
}

/// Closing the console (and not reopening it) ends the operator's session
/// once `CONSOLE_GONE_MS` has passed; the visitor's side hears it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_console_ends_the_session_after_a_grace_period() {
    let mut j = join("E2E Operator Leaves").await;
    let closed = Instant::now();
    j.console.close().await.or_report("close the console", &[&j.device, &j.server]);
    let session = j.session.clone();
    let is_end =
        |m: &Value| m["type"] == "cobrowse" && m["session_id"] == session.as_str() && m["event"]["e"] == "ended";
    let grace = Duration::from_millis(u64::from(baton_shared::limits::CONSOLE_GONE_MS));
    // Not at once: a reload would have come back by now.
    let early = j.visitor.wait_event("no end while a reload could come back", Duration::from_secs(3), is_end).await;
    assert!(early.is_err(), "ended at once: {early:?}");
    let ended = j
        .visitor
        .wait_event("the end after the grace period", grace + Duration::from_secs(15), is_end)
        .await
        .or_report("the session ends once the console is gone", &[&j.device, &j.server]);
    assert!(closed.elapsed() >= grace - Duration::from_millis(500), "ended after {:?}", closed.elapsed());
    assert!(ended["event"]["reason"].as_str().unwrap_or_default().contains("operator"), "{ended}");
}

/// Mutations sent one at a time, each after the last one showed, through both
/// hosts and the server's relay, each land in the console's mirror with its
/// frame number. (The latency is the `cobrowse_latency` benchmark's.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_sent_one_at_a_time_each_land_in_the_mirror() {
    let mut j = join("E2E Operator Mutations").await;
    j.send(json!({"k": "snapshot", "url": "https://shop.example/", "title": "Shop",
        "root": el(1, "html", json!([]), json!([el(2, "body", json!([]), json!([el(3, "p", json!([]), json!([text(4, "start")]))]))])),
        "viewport": [800, 600], "scroll": []}))
    .await;
    j.wait("snapshot", UI_TIMEOUT, |v| v["mirror_text"].as_str().unwrap_or("").contains("start")).await;
    const READ: &str = "[Number(document.querySelector('#last-seq').textContent), document.querySelector('#mirror').contentDocument.body.innerText.trim()]";
    let mut seq = j.console.evaluate(READ).await.unwrap_or(Value::Null)[0].as_i64().unwrap_or(0);
    for i in 0..60 {
        let want = format!("text {i}");
        j.send(json!({"k": "mutations", "texts": [[4, want]]})).await;
        let deadline = Instant::now() + UI_TIMEOUT;
        loop {
            let v = j.console.evaluate(READ).await.unwrap_or(Value::Null);
            if v[1] == want.as_str() {
                let now = v[0].as_i64().unwrap_or(0);
                assert!(now > seq, "mutation {i} showed without a newer frame number: {v}, was {seq}");
                seq = now;
                break;
            }
            assert!(Instant::now() < deadline, "mutation {i} never showed: {v}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

const FRAME_TEXT: &str = "Text inside the frame 6203";
const NESTED_TEXT: &str = "Text two frames down 8815";

/// The mirror's own frames and what is in them, read in one go.
const FRAMES_JS: &str = r#"(() => {
  const top = document.querySelector('#mirror');
  const d = top && top.contentDocument;
  const docs = [];
  const all = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      all.push(el);
      if (el.shadowRoot) walk(el.shadowRoot);
      if (el.localName === 'iframe' && el.contentDocument) {
        docs.push(el.contentDocument);
        walk(el.contentDocument);
      }
    }
  };
  if (d) { docs.push(d); walk(d); }
  const frames = d ? [...d.querySelectorAll('iframe')] : [];
  const inner = frames[0]?.contentDocument ?? null;
  const nestedFrame = inner ? inner.querySelector('iframe') : null;
  const nested = nestedFrame?.contentDocument ?? null;
  const attrs = all.flatMap((el) => [...el.attributes].map((a) => [el.localName, a.name, a.value]));
  const wins = [window, top?.contentWindow, frames[0]?.contentWindow, nestedFrame?.contentWindow];
  return {
    frames: frames.map((f) => Object.fromEntries([...f.attributes].map((a) => [a.name, a.value]))),
    nested_frame: nestedFrame ? Object.fromEntries([...nestedFrame.attributes].map((a) => [a.name, a.value])) : null,
    placeholders: d ? [...d.querySelectorAll('[data-baton-placeholder]')].map((e) => e.dataset.batonPlaceholder) : [],
    mirror_text: d?.body?.innerText ?? '',
    inner_text: inner?.body?.innerText ?? '',
    inner_url: inner?.URL ?? null,
    modes: [d?.compatMode ?? null, inner?.compatMode ?? null, nested?.compatMode ?? null],
    nested_text: nested?.body?.innerText ?? '',
    inner_scroll: frames[0]?.contentWindow?.scrollY ?? -1,
    top_scroll: top?.contentWindow?.scrollY ?? -1,
    inner_selection: inner?.getSelection()?.toString() ?? null,
    documents: docs.length,
    scripts: docs.reduce((n, x) => n + x.querySelectorAll('script').length, 0) + all.filter((e) => e.localName === 'script').length,
    handler_attrs: attrs.filter(([, n]) => n.toLowerCase().startsWith('on')).map((a) => a.join(' ')),
    js_urls: attrs.filter(([, , v]) => /^\s*(javascript|vbscript|data:text)/i.test(v)).map((a) => a.join(' ')),
    pwned: wins.map((w) => { try { return w?.__pwned ?? null; } catch (e) { return 'unreadable'; } }).find((p) => p !== null) ?? null,
    mirror_url: d?.URL ?? null,
    state: document.querySelector('#console-state')?.dataset.state ?? null,
    zz_inner_html: inner?.documentElement?.outerHTML ?? '',
  };
})()"#;

/// A page with a same-origin iframe (captured document, `f`) holding text,
/// a hostile snippet and another same-origin iframe, next to a cross-origin
/// iframe (no document captured).
fn framed_snapshot() -> Value {
    let pwn = |tag: &str| format!("window.top.__pwned='{tag}';fetch('http://127.0.0.1:9/{tag}')");
    let nested_doc = el(30, "html", json!([]), json!([el(31, "body", json!([]), json!([text(32, NESTED_TEXT)]))]));
    let mut nested =
        el(29, "iframe", json!([["srcdoc", format!("<script>{}</script>", pwn("nested-srcdoc"))]]), json!([]));
    nested["f"] = nested_doc;
    let frame_doc = el(
        10,
        "html",
        json!([]),
        json!([
            el(11, "head", json!([]), json!([el(12, "script", json!([]), json!([text(13, &pwn("frame-script"))]))])),
            el(
                14,
                "body",
                json!([["onload", pwn("frame-body-onload")]]),
                json!([
                    el(15, "p", json!([["id", "in-frame"]]), json!([text(16, FRAME_TEXT)])),
                    el(17, "img", json!([["src", "missing.png"], ["onerror", pwn("frame-img-onerror")]]), json!([])),
                    el(
                        18,
                        "a",
                        json!([["href", format!("javascript:{}", pwn("frame-js-link"))]]),
                        json!([text(19, "frame link")])
                    ),
                    el(20, "div", json!([["style", "height:2000px"]]), json!([text(21, "tall")])),
                    nested,
                ])
            ),
        ]),
    );
    let mut frame = el(
        4,
        "iframe",
        json!([
            ["src", "http://127.0.0.1:9/frame-src"],
            ["srcdoc", format!("<script>{}</script>", pwn("frame-srcdoc"))],
            ["sandbox", "allow-scripts allow-same-origin"],
            ["onload", pwn("frame-onload")],
            ["width", "400"],
            ["height", "300"],
            ["class", "embedded"]
        ]),
        json!([text(5, "fallback content")]),
    );
    frame["f"] = frame_doc;
    let body = el(
        2,
        "body",
        json!([]),
        json!([
            el(3, "p", json!([]), json!([text(6, "Top of the page")])),
            frame,
            el(
                40,
                "iframe",
                json!([["src", "https://other.invalid/"], ["width", "200"], ["height", "100"]]),
                json!([])
            ),
        ]),
    );
    json!({"k": "snapshot", "url": PAGE_URL, "title": "Framed page",
           "root": el(1, "html", json!([]), json!([body])), "viewport": [1000, 700], "scroll": []})
}

async fn wait_frames(console: &Session, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    match console.wait_until(what, FRAMES_JS, UI_TIMEOUT, done).await {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_same_origin_frame_shows_in_a_nested_sandboxed_frame_and_runs_nothing() {
    let mut j = join("E2E Operator Frames").await;
    j.send(json!({"k": "viewport", "w": 1000, "h": 700})).await;
    j.send(framed_snapshot()).await;
    let v = wait_frames(&j.console, "the frame's text in a nested frame", |v| {
        v["inner_text"].as_str().unwrap_or("").contains(FRAME_TEXT)
            && v["nested_text"].as_str().unwrap_or("").contains(NESTED_TEXT)
    })
    .await;
    let frame = &v["frames"][0];
    assert_eq!(frame["sandbox"], "allow-same-origin", "the nested frame runs no script: {frame}");
    assert!(frame.get("src").is_none() && frame.get("srcdoc").is_none(), "no source from the page: {frame}");
    assert_eq!(
        (frame["width"].as_str(), frame["height"].as_str()),
        (Some("400"), Some("300")),
        "sized like the original"
    );
    assert_eq!(frame["class"], "embedded");
    assert_eq!(v["nested_frame"]["sandbox"], "allow-same-origin", "{}", v["nested_frame"]);
    assert!(v["nested_frame"].get("srcdoc").is_none(), "{}", v["nested_frame"]);
    assert_eq!(v["placeholders"], json!(["iframe"]), "the cross-origin frame stays a placeholder");
    assert_eq!(v["documents"], 3, "the mirror, the frame and the frame in it");
    assert!(v["mirror_text"].as_str().unwrap_or("").contains("Top of the page"));
    assert!(!v["mirror_text"].as_str().unwrap_or("").contains("fallback content"));
    // The mirror writes its frames' doctype itself (`document.open` gives
    // them the console's URL); the page's address or source never gets in.
    let inner_url = v["inner_url"].as_str().unwrap_or_default();
    assert!(
        inner_url == "about:blank" || inner_url == console_url(),
        "the frame's document is the mirror's own: {inner_url}"
    );
    // The captured frames are standards-mode documents, and so are the
    // mirror's (an initial about:blank document would be in quirks mode).
    assert_eq!(v["modes"], json!(["CSS1Compat", "CSS1Compat", "CSS1Compat"]), "mirror, frame, frame in it");

    // Give every trick time to fire.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let v = j.console.evaluate(FRAMES_JS).await.unwrap_or(Value::Null);
    assert_eq!(v["scripts"], 0, "no script elements in any document: {}", v["zz_inner_html"]);
    assert_eq!(v["handler_attrs"], json!([]), "no event handler attributes");
    assert_eq!(v["js_urls"], json!([]), "no javascript: or HTML data: URLs");
    assert!(v["pwned"].is_null(), "nothing ran: {}", v["pwned"]);
    assert_eq!(v["mirror_url"], "about:srcdoc", "the mirror never navigated");
    assert_eq!(v["state"], "active", "the console never navigated");
    assert!(!v["zz_inner_html"].as_str().unwrap_or("").contains("__pwned"), "{}", v["zz_inner_html"]);

    // Records for nodes inside the frame apply there.
    j.send(json!({"k": "mutations",
        "adds": [{"parent": 14, "before": 15, "node": el(50, "p", json!([["onclick", "x()"]]), json!([text(51, "Added in the frame 3391")]))},
                 {"parent": 14, "node": el(52, "script", json!([]), json!([text(53, "window.top.__pwned='frame-late-script'")]))}],
        "texts": [[16, "Changed in the frame 7710"]],
        "attrs": [{"id": 4, "name": "src", "value": "http://127.0.0.1:9/late-src"},
                  {"id": 4, "name": "sandbox", "value": "allow-scripts"},
                  {"id": 4, "name": "height", "value": "320"}]}))
    .await;
    let v = wait_frames(&j.console, "the mutation inside the frame", |v| {
        let t = v["inner_text"].as_str().unwrap_or("");
        t.contains("Added in the frame 3391") && t.contains("Changed in the frame 7710")
    })
    .await;
    let frame = &v["frames"][0];
    assert_eq!(frame["sandbox"], "allow-same-origin", "{frame}");
    assert!(frame.get("src").is_none(), "{frame}");
    assert_eq!(frame["height"], "320", "{frame}");
    assert_eq!(v["scripts"], 0, "{}", v["zz_inner_html"]);
    assert_eq!(v["handler_attrs"], json!([]));

    // The frame's window scrolls by its document element's id; the
    // visitor's selection inside it shows there.
    j.send(json!({"k": "scroll", "id": 10, "x": 0, "y": 150})).await;
    j.send(json!({"k": "selection", "ranges": [{"start": 16, "start_offset": 0, "end": 16, "end_offset": 7}]})).await;
    let v = wait_frames(&j.console, "the frame scrolled and the selection shown", |v| {
        v["inner_scroll"] == 150 && v["inner_selection"] == "Changed"
    })
    .await;
    assert_eq!(v["top_scroll"], 0, "the mirror's own window did not scroll");

    // The operator's click inside the frame names the node under it.
    j.send(json!({"k": "scroll", "id": 10, "x": 0, "y": 0})).await;
    j.send(json!({"k": "grants", "scopes": ["click"]})).await;
    wait_frames(&j.console, "scrolled back", |v| v["inner_scroll"] == 0).await;
    j.console
        .wait_until("click granted", "document.querySelector('#grants')?.dataset.scopes ?? ''", UI_TIMEOUT, |v| {
            v == "click"
        })
        .await
        .or_report("grants shown", &[&j.device, &j.server]);
    j.console
        .evaluate(
            "(() => { const o = document.querySelector('#overlay');
                const f = document.querySelector('#mirror').contentDocument.querySelector('iframe');
                const fr = f.getBoundingClientRect();
                const r = f.contentDocument.querySelector('#in-frame').getBoundingClientRect();
                const s = o.getBoundingClientRect().width / 1000;
                const box = o.getBoundingClientRect();
                const x = box.left + (fr.left + f.clientLeft + r.left + 5) * s;
                const y = box.top + (fr.top + f.clientTop + r.top + 5) * s;
                o.dispatchEvent(new MouseEvent('click', {clientX: x, clientY: y, bubbles: true})); })()",
        )
        .await
        .or_report("click in the frame", &[&j.device, &j.server]);
    let command = j.operator_frame("command").await;
    assert_eq!(command["command"], json!({"c": "click", "id": 15}), "{command}");

    let v = j.console.evaluate(FRAMES_JS).await.unwrap_or(Value::Null);
    assert!(v["pwned"].is_null(), "nothing ran: {}", v["pwned"]);
}

/// The mirror loads the visitor's images and stylesheets from the
/// operator's browser. Those requests carry none of the operator's cookies
/// for the site named: a hostile page could otherwise make the operator's
/// browser call any site signed in as the operator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mirrors_requests_carry_none_of_the_operators_cookies() {
    const COOKIE: &str = "OPERATOR-SESSION-COOKIE";
    let (b, hits) = pages::beacon().await.expect("start the beacon");
    let mut j = join("E2E Operator").await;
    // The operator is signed in at the beacon's site.
    for (name, same_site) in [("lax", "Lax"), ("strict", "Strict")] {
        let cookie = json!({"name": name, "value": COOKIE, "url": b, "sameSite": same_site});
        j.console.call("Network.setCookie", cookie).await.or_report("set a cookie", &[&j.device, &j.server]);
    }

    // A same-origin frame's document: the mirror builds a frame of its own.
    let mut framed = el(30, "iframe", json!([["width", "100"], ["height", "100"]]), json!([]));
    framed["f"] = el(
        31,
        "html",
        json!([]),
        json!([el(
            32,
            "body",
            json!([]),
            json!([el(33, "img", json!([["src", format!("{b}/in-frame.png")]]), json!([]))])
        )]),
    );
    let body = el(
        20,
        "body",
        json!([]),
        json!([
            el(21, "p", json!([]), json!([text(22, BODY_TEXT)])),
            el(23, "img", json!([["src", format!("{b}/image.png")]]), json!([])),
            el(
                24,
                "div",
                json!([["style", format!("background-image:url({b}/background.png);width:10px;height:10px")]]),
                json!([])
            ),
            framed,
        ]),
    );
    let head = el(
        2,
        "head",
        json!([]),
        json!([el(3, "link", json!([["rel", "stylesheet"], ["href", format!("{b}/sheet.css")]]), json!([]))]),
    );
    j.send(
        json!({"k": "snapshot", "url": PAGE_URL, "title": "Page", "root": el(1, "html", json!([]), json!([head, body])),
                  "viewport": [1000, 700], "scroll": []}),
    )
    .await;
    j.wait("the page text in the mirror", UI_TIMEOUT, |v| v["mirror_text"].as_str().unwrap_or("").contains(BODY_TEXT))
        .await;
    let deadline = Instant::now() + UI_TIMEOUT;
    let heard_all = || {
        ["/image.png", "/background.png", "/sheet.css", "/in-frame.png"]
            .iter()
            .all(|path| hits.requests().iter().any(|h| h.starts_with(&format!("GET {path} "))))
    };
    while !heard_all() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let heard = hits.requests();
    assert!(heard_all(), "the mirror loaded the page's images (in the page and in its frame) and styles: {heard:?}");
    for head in &heard {
        assert!(!head.contains(COOKIE), "a request from the mirror carried the operator's cookie:\n{head}");
    }
}
