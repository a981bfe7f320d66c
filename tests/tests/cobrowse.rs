//! Co-browsing with real parts on both sides: a visitor profile and an
//! operator profile, each a headless Chromium with the built extension and
//! its own `baton-host`, and one `baton-server` behind a byte-recording
//! proxy (every byte between the hosts and the server is kept).
//!
//! The visitor shares a page served from 127.0.0.1 with the popup, the
//! operator joins from the console with the code, the visitor allows (with
//! recording) in the page's prompt. Checked: the page's text in the console's
//! mirror within a second of consent; a DOM change; a plain input shows
//! masked and a password nowhere (console DOM, the decrypted recording, the
//! bytes that crossed the proxy, the server's database files); the private
//! block is a placeholder; control is refused before a grant and after a
//! revoke, and a granted click lands on the right button; a form app is
//! pushed, held and pulled from the console's panel; Stop in the visitor's
//! bar ends the console's session and removes everything Baton injected;
//! the console replays the recording; the server's audit log holds every
//! step in a valid hash chain.
//!
//! A second test shares a hostile page from the real visitor browser, so the
//! hostile markup goes through the real capture engine, and checks that the
//! console runs and loads nothing of it.
//!
//! Code guessing is rate-limited per client and per code; the server's and
//! the host's tests cover it (server/tests/server/cobrowse.rs,
//! native-host/tests/cobrowse.rs), so it is not repeated here.

use std::time::{Duration, Instant};

use baton_e2e::pages::Reply;
use baton_e2e::{
    click_visitor_ui, in_content_world, pages, store, wait_in_content_world, CountingProxy, Device, Diagnose, OrReport,
    ServerProcess, Session, BATON_IN_PAGE_JS, VISITOR_UI_JS,
};
use baton_shared::cobrowse::{audit_hash_input, AuditEvent, Role, AUDIT_GENESIS};
use baton_shared::ids::EXTENSION_ID;
use serde_json::{json, Value};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(10);
/// A page's load, and steps that wait on a host sealing tens of megabytes:
/// the tests of very large pages run beside others on two cores.
const HEAVY_WAIT: Duration = Duration::from_secs(60);

/// Held by the tests of very large or very deep pages, one at a time: each
/// keeps two browsers and both hosts busy for seconds, and together they
/// starve one another on two cores.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const OPERATOR: &str = "Sam Support";
const VISITOR: &str = "Visitor Laptop";

const PAGE_TEXT: &str = "Order desk welcome 6021";
const PRIVATE_TEXT: &str = "PRIVATE-BLOCK-TEXT-3310";
const PLAIN_TYPED: &str = "plain words 4242";
const PASSWORD: &str = "Tr0ub4dor-SECRET-7781";

const PAGE: &str = r#"<!doctype html><html><head><meta charset=utf-8><title>Order desk</title></head><body>
<h1>Order desk</h1>
<p id="intro">Order desk welcome 6021</p>
<button id="buy" onclick="window.clicks = (window.clicks || 0) + 1; document.querySelector('#count').textContent = String(window.clicks)">Buy now</button>
<button id="other" onclick="window.others = (window.others || 0) + 1">Other</button>
<p>Clicks: <span id="count">0</span></p>
<p><label>Name <input id="name" name="name" type="text"></label></p>
<p><label>Password <input id="pw" name="pw" type="password"></label></p>
<div id="priv" data-baton-private style="width:240px;height:60px">PRIVATE-BLOCK-TEXT-3310</div>
<ul id="list"><li>first item</li></ul>
</body></html>"#;

/// Serves `body` at every path.
async fn serve(body: String) -> String {
    let origin = pages::serve_page(body, &[]).await.expect("start the page server");
    format!("{origin}/page")
}

fn console_url() -> String {
    format!("chrome-extension://{EXTENSION_ID}/console.html")
}

// ---- the visitor's page UI (closed shadow root, content-script world) -------

/// Polls the content script's world until `done` holds.
async fn wait_content(
    page: &Session,
    what: &str,
    expression: &str,
    parts: &[&dyn Diagnose],
    done: impl Fn(&Value) -> bool,
) -> Value {
    wait_in_content_world(page, what, expression, WAIT, done).await.or_report(&format!("waiting for {what}"), parts)
}

// ---- the console --------------------------------------------------------------

/// Everything the tests look at in the console, read in one go.
const CONSOLE_JS: &str = r#"(() => {
  const q = (s) => document.querySelector(s);
  const frame = q('#mirror');
  const d = frame && frame.contentDocument;
  const all = [];
  // Into shadow roots and the documents of the mirror's own frames.
  const walk = (root) => { for (const el of root.querySelectorAll('*')) { all.push(el); if (el.shadowRoot) walk(el.shadowRoot); if (el.localName === 'iframe' && el.contentDocument) walk(el.contentDocument); } };
  if (d) walk(d);
  const attrs = all.flatMap((el) => [...el.attributes].map((a) => [el.localName, a.name, a.value]));
  const priv = d?.querySelector('#priv');
  return {
    state: q('#console-state')?.dataset.state ?? null,
    mirror_status: q('#mirror-status')?.dataset.state ?? null,
    console_error: q('#console-error') && !q('#console-error').hidden ? q('#console-error').textContent : null,
    join_error: q('#join-error') && !q('#join-error').hidden ? [q('#join-error').dataset.code ?? '', q('#join-error').textContent] : null,
    replay_error: q('#replay-error') && !q('#replay-error').hidden ? q('#replay-error').textContent : null,
    recording_note: q('#recording-note') && !q('#recording-note').hidden ? q('#recording-note').textContent : null,
    grants: q('#grants')?.dataset.scopes ?? null,
    command_ok: q('#command-result')?.dataset.ok ?? null,
    command_text: q('#command-result')?.textContent ?? null,
    app_state: q('#app-state')?.dataset.state ?? null,
    app_text: q('#app-state')?.textContent ?? null,
    app_error: q('#app-error') && !q('#app-error').hidden ? q('#app-error').textContent : null,
    module_origins: q('#module-origins')?.textContent ?? null,
    app_events: [...(q('#app-events')?.children ?? [])].map((li) => li.textContent),
    page_url: q('#page-url')?.textContent ?? null,
    selected: q('#selected-node')?.dataset.id ?? '',
    highlight_top: q('#highlight-box') && !q('#highlight-box').hidden ? Math.round(parseFloat(q('#highlight-box').style.top)) : null,
    ink: q('#ink')?.querySelectorAll('polyline').length ?? 0,
    mirror_text: d?.body?.innerText ?? '',
    input_values: all.filter((e) => e.localName === 'input').map((i) => [i.getAttribute('name'), i.value]),
    private_block: priv ? { placeholder: priv.dataset.batonPlaceholder ?? null, text: priv.textContent,
      w: Math.round(priv.getBoundingClientRect().width), h: Math.round(priv.getBoundingClientRect().height) } : null,
    scripts: all.filter((e) => e.localName === 'script').length,
    handler_attrs: attrs.filter(([, n]) => n.toLowerCase().startsWith('on')).map((a) => a.join(' ')),
    js_urls: attrs.filter(([, , v]) => /^\s*(javascript|vbscript|data:text)/i.test(v)).map((a) => a.join(' ')),
    // A frame the mirror made for a same-origin frame's document is fine: no source, no scripts.
    forbidden: all.filter((e) => ['base', 'meta', 'iframe', 'object', 'embed', 'frame'].includes(e.localName)
      && !(e.localName === 'iframe' && e.hasAttribute('data-baton-frame') && e.getAttribute('sandbox') === 'allow-same-origin'
        && !e.hasAttribute('src') && !e.hasAttribute('srcdoc'))).map((e) => e.localName),
    srcdoc: attrs.filter(([, n]) => n === 'srcdoc' || n === 'action' || n === 'formaction').length,
    mirror_url: d?.URL ?? null,
    pwned: window.__pwned ?? (frame?.contentWindow?.__pwned) ?? null,
    title: document.title,
    zz_mirror_html: d?.documentElement?.outerHTML ?? '',
    zz_console_html: document.documentElement.outerHTML,
  };
})()"#;

/// Clicks, through the console's overlay, the middle of the mirror's
/// element matching `selector` (the way the operator clicks the page).
fn overlay_click_visitor_ui(selector: &str) -> String {
    format!(
        r#"(() => {{ const o = document.querySelector('#overlay');
  const d = document.querySelector('#mirror').contentDocument;
  const el = d.querySelector({sel}); if (!el) return false;
  const r = el.getBoundingClientRect();
  const box = o.getBoundingClientRect();
  const w = Number(document.querySelector('#visitor-viewport').dataset.w || box.width);
  const s = box.width / w;
  const x = box.left + (r.left + r.width / 2) * s, y = box.top + (r.top + r.height / 2) * s;
  o.dispatchEvent(new PointerEvent('pointermove', {{clientX: x, clientY: y, bubbles: true}}));
  o.dispatchEvent(new MouseEvent('click', {{clientX: x, clientY: y, bubbles: true}}));
  return true; }})()"#,
        sel = json!(selector)
    )
}

/// Asks the host, over the console's own port to the worker, for the
/// recording of `session` decrypted: what the visitor's frames carried in
/// plaintext. Returns the host's reply as JSON text.
fn recording_js(session: &str) -> String {
    format!(
        r#"new Promise((resolve, reject) => {{
  const port = chrome.runtime.connect({{ name: 'baton-ui' }});
  const rid = 990001;
  port.onMessage.addListener((m) => {{
    const v = typeof m === 'string' ? JSON.parse(m) : m;
    if (v && v.type === 'host_reply' && v.rid === rid) {{ port.disconnect(); resolve(JSON.stringify(v.reply)); }}
  }});
  port.postMessage({{ type: 'host', rid, request: {{ type: 'recording_fetch', session_id: {id} }} }});
  setTimeout(() => reject(new Error('no reply to recording_fetch')), 10000);
}})"#,
        id = json!(session)
    )
}

struct Console<'a> {
    session: Session,
    parts: &'a [&'a dyn Diagnose],
}

impl Console<'_> {
    async fn state(&self) -> Value {
        self.session.evaluate(CONSOLE_JS).await.or_report("read the console", self.parts)
    }

    async fn wait(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        self.session.wait_until(what, CONSOLE_JS, WAIT, done).await.or_report(&format!("console: {what}"), self.parts)
    }

    async fn run(&self, what: &str, js: &str) -> Value {
        self.session.evaluate(js).await.or_report(what, self.parts)
    }

    /// Waits until `done` holds for what `js` reads in the console.
    async fn wait_js(&self, what: &str, js: &str, done: impl Fn(&Value) -> bool) -> Value {
        self.session.wait_until(what, js, WAIT, done).await.or_report(&format!("console: {what}"), self.parts)
    }

    async fn assert_no_error(&self) {
        let state = self.state().await;
        assert!(state["console_error"].is_null(), "{}", state["console_error"]);
    }
}

/// Serves `html` as the one page of a site and shares it as
/// [`share_and_join`] does, once its `text` shows in the console.
async fn share_one_page<'a>(
    w: &'a World,
    parts: &'a [&'a dyn Diagnose],
    html: String,
    text: &str,
) -> (Session, Console<'a>) {
    let origin = baton_e2e::pages::serve(move |r: &baton_e2e::pages::Request| match r.path() {
        "/page" => Reply::html(html.clone()),
        _ => Reply::not_found(),
    })
    .await
    .or_report("start the page server", parts);
    let (page, console, _, _) = share_and_join(w, parts, &format!("{origin}/page"), text, false).await;
    (page, console)
}

fn text_of(v: &Value) -> &str {
    v["mirror_text"].as_str().unwrap_or("")
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The server's database files (main file, WAL), as bytes.
fn server_db_bytes(server: &ServerProcess) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-journal"] {
        let mut path = server.db_path().as_os_str().to_owned();
        path.push(suffix);
        if let Ok(bytes) = std::fs::read(&path) {
            all.extend(bytes);
        }
    }
    all
}

/// Two browsers, one server behind a recording proxy.
struct World {
    // Devices first: Chromium and hosts go before the server and the proxy.
    visitor: Device,
    operator: Device,
    proxy: CountingProxy,
    server: ServerProcess,
    _dir: tempfile::TempDir,
}

impl World {
    async fn start(tag: &str) -> World {
        World::start_with(tag, &[]).await
    }

    /// [`World::start`] with extra server arguments.
    async fn start_with(tag: &str, server_args: &[&str]) -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = ServerProcess::start_with(dir.path().join("server.sqlite3"), server_args)
            .await
            .expect("start baton-server");
        let proxy = CountingProxy::start_recording(server.addr()).await.or_report("start the proxy", &[&server]);
        let (visitor, operator) =
            Device::start_pair(&format!("{VISITOR}{tag}"), &format!("{OPERATOR}{tag}"), &proxy.url())
                .await
                .or_report("start the devices", &[&server]);
        World { visitor, operator, proxy, server, _dir: dir }
    }

    fn parts(&self) -> [&dyn Diagnose; 3] {
        [&self.visitor, &self.operator, &self.server]
    }
}

/// Opens `url` in the visitor's browser and the console in the operator's,
/// and shares the page from the visitor's popup, with `settings` (an object
/// for `chrome.storage.local`, as JavaScript) set first. Returns the page,
/// the console (idle) and the code to join with.
async fn share<'a>(
    w: &'a World,
    parts: &'a [&'a dyn Diagnose],
    url: &str,
    settings: Option<&str>,
) -> (Session, Console<'a>, String) {
    let page = w.visitor.browser().cdp().open_page(url).await.or_report("open the page", parts);
    page.wait_for("document.readyState === 'complete'", HEAVY_WAIT).await.or_report("page loaded", parts);
    wait_content(&page, "the content script", "typeof chrome.runtime?.id === 'string'", parts, |v| v == &json!(true))
        .await;

    // The operator's console, ready while the visitor shares.
    let operator_popup = w.operator.popup().await.or_report("open the operator's popup", parts);
    let console = Console {
        session: w.operator.browser().cdp().open_page(&console_url()).await.or_report("open the console", parts),
        parts,
    };

    // Share from the popup (opened as a tab: "this tab" is the page, used last).
    let popup = w.visitor.popup().await.or_report("open the visitor's popup", parts);
    popup
        .wait_until("connected", CONNECT_TIMEOUT, |s| s.host_is("connected") && s.server_is("connected"))
        .await
        .or_report("visitor's popup connected", parts);
    if let Some(settings) = settings {
        popup
            .session()
            .evaluate(&format!("chrome.storage.local.set({settings}).then(() => true)"))
            .await
            .or_report("the visitor's settings", parts);
    }
    let code = popup.share_code(WAIT).await.or_report("share this tab", parts);
    popup.session().close().await.or_report("close the visitor's popup", parts);
    wait_content(&page, "the bar with the code", VISITOR_UI_JS, parts, |v| v["state"] == "waiting").await;

    operator_popup
        .wait_until("operator connected", CONNECT_TIMEOUT, |s| s.host_is("connected") && s.server_is("connected"))
        .await
        .or_report("operator's popup connected", parts);
    operator_popup.session().close().await.or_report("close the operator's popup", parts);
    console.wait("the console is ready", |v| v["state"] == "idle").await;
    (page, console, code)
}

/// Opens `url` in the visitor's browser, shares it from the popup, opens
/// the console, joins with the code and approves (recording as asked).
/// Returns the visitor's page, the console and the session id.
async fn share_and_join<'a>(
    w: &'a World,
    parts: &'a [&'a dyn Diagnose],
    url: &str,
    text: &str,
    record: bool,
) -> (Session, Console<'a>, String, Duration) {
    share_and_join_with(w, parts, url, text, record, &[]).await
}

/// [`share_and_join`] with more of the visitor's settings (`name: value`,
/// as JavaScript).
async fn share_and_join_with<'a>(
    w: &'a World,
    parts: &'a [&'a dyn Diagnose],
    url: &str,
    text: &str,
    record: bool,
    settings: &[String],
) -> (Session, Console<'a>, String, Duration) {
    // Recording is off unless the settings allow it.
    let fields: Vec<String> =
        record.then(|| "recordingAllowed: true".to_owned()).into_iter().chain(settings.iter().cloned()).collect();
    let settings = (!fields.is_empty()).then(|| format!("{{ {} }}", fields.join(", ")));
    let (page, console, code) = share(w, parts, url, settings.as_deref()).await;
    join_until_asked(&page, &console, &code, parts).await;
    // The visitor allows (with recording).
    if record {
        assert_eq!(in_content_world(&page, &click_visitor_ui("record")).await, Ok(json!(true)), "tick recording");
    }
    // Timed by the browsers' own clocks (one machine, so they agree): the
    // console looks at its mirror every few milliseconds from before the
    // click, so the time is the product's, not this harness's polling.
    let watch = format!(
        "(() => {{ window.__firstSeen = null; const text = {quoted};
           const look = () => {{ if (document.querySelector('#mirror')?.contentDocument?.body?.innerText?.includes(text))
             window.__firstSeen = performance.timeOrigin + performance.now(); else setTimeout(look, 2); }};
           look(); return true; }})()",
        quoted = json!(text)
    );
    console.session.evaluate(&watch).await.or_report("watch the mirror", parts);
    let allow = format!(
        "(() => {{ const at = performance.timeOrigin + performance.now(); return {} ? at : null; }})()",
        click_visitor_ui("allow")
    );
    let consented = in_content_world(&page, &allow).await;
    let consented = consented.and_then(|v| v.as_f64().ok_or(format!("no click: {v}"))).or_report("allow", parts);
    let v =
        console.wait("the page's text in the mirror", |v| v["state"] == "active" && text_of(v).contains(text)).await;
    // The watch notes it on its own next look, which may come after this
    // harness's.
    let seen = console.wait_js("the watch to note the text", "window.__firstSeen", Value::is_number).await;
    let seen = seen.as_f64().unwrap_or_default();
    let first_render = Duration::from_secs_f64((seen - consented).max(0.0) / 1e3);
    assert_eq!(v["mirror_status"], "live", "{}", v["mirror_status"]);

    let session = {
        let conn = store::open_read_only(w.server.db_path()).or_report("open the server's database", parts);
        conn.query_row("SELECT id FROM cobrowse_session ORDER BY created_ms DESC LIMIT 1", [], |r| {
            r.get::<_, String>(0)
        })
        .or_report("the session's id", parts)
    };
    (page, console, session, first_render)
}

/// The operator joins with `code`; the visitor is asked, by the operator's
/// name, and has not answered yet.
async fn join_until_asked(page: &Session, console: &Console<'_>, code: &str, parts: &[&dyn Diagnose]) {
    baton_e2e::console::join(&console.session, code).await.or_report("join", parts);
    console
        .wait("awaiting the visitor's consent", |v| v["state"] == "awaiting-consent" || v["join_error"].is_array())
        .await;
    let ui = wait_content(page, "the consent prompt", VISITOR_UI_JS, parts, |v| v["consent"] == true).await;
    assert!(ui["text"].as_str().is_some_and(|t| t.contains(OPERATOR)), "the prompt names the operator: {ui}");
}

struct AuditRow {
    seq: u64,
    role: Option<Role>,
    event: AuditEvent,
}

/// The session's audit log from the server's database, its hash chain checked.
fn audit_chain(server: &ServerProcess, session: &str) -> Result<Vec<AuditRow>, String> {
    let conn = store::open_read_only(server.db_path()).map_err(|e| e.to_string())?;
    let mut stmt = conn
        .prepare("SELECT seq, at_ms, role, event, hash FROM cobrowse_audit WHERE session_id = ?1 ORDER BY seq")
        .map_err(|e| e.to_string())?;
    let rows = stmt
        .query_map([session], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let mut prev = AUDIT_GENESIS.to_owned();
    let mut out = Vec::new();
    for (i, (seq, at_ms, role, event, hash)) in rows.into_iter().enumerate() {
        let seq = seq as u64;
        if seq != i as u64 + 1 {
            return Err(format!("entry {i} has seq {seq}"));
        }
        let role = match role.as_deref() {
            None => None,
            Some("visitor") => Some(Role::Visitor),
            Some("operator") => Some(Role::Operator),
            Some(other) => return Err(format!("entry {seq}: role {other:?}")),
        };
        let event: AuditEvent = serde_json::from_str(&event).map_err(|e| format!("entry {seq}: {e}: {event}"))?;
        let input = audit_hash_input(&prev, seq, at_ms, role, &event);
        let want: String =
            ring::digest::digest(&ring::digest::SHA256, &input).as_ref().iter().map(|b| format!("{b:02x}")).collect();
        if want != hash {
            return Err(format!("entry {seq} ({event:?}): hash {hash}, chain says {want}"));
        }
        prev = hash;
        out.push(AuditRow { seq, role, event });
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitor_and_operator_browsers_share_mask_control_push_stop_and_replay() {
    let w = World::start("").await;
    let parts = w.parts();
    let url = serve(PAGE.to_owned()).await;
    let (page, console, session, first_render) = share_and_join(&w, &parts, &url, PAGE_TEXT, true).await;
    eprintln!("the page's text showed {first_render:?} after consent");
    assert!(first_render < Duration::from_secs(1), "the page's text showed {first_render:?} after consent");
    // The bar says the session is recorded.
    let ui = wait_content(&page, "the active bar", VISITOR_UI_JS, &parts, |v| v["state"] == "active").await;
    assert_eq!(ui["recorded"], json!(true), "{ui}");
    assert!(ui["text"].as_str().is_some_and(|t| t.contains("recorded")), "{ui}");
    // Input events need a focused, rendering page.
    page.call("Page.bringToFront", json!({})).await.or_report("show the page", &parts);

    // The private block is a placeholder of its size, without its text.
    let v = console.state().await;
    let block = &v["private_block"];
    assert!(!block.is_null(), "the private block has a placeholder: {}", v["zz_mirror_html"]);
    assert_eq!(block["text"], "", "no private text: {block}");
    assert_eq!((block["w"].as_i64(), block["h"].as_i64()), (Some(240), Some(60)), "same size: {block}");
    assert!(!v["zz_console_html"].as_str().unwrap_or("").contains(PRIVATE_TEXT));

    // A DOM change on the visitor's side shows.
    page.evaluate(
        "document.querySelector('#list').insertAdjacentHTML('beforeend', '<li>Added later 5150</li>');
         document.querySelector('#intro').textContent = 'Changed text 7730'",
    )
    .await
    .or_report("change the page", &parts);
    console
        .wait("the DOM change", |v| text_of(v).contains("Added later 5150") && text_of(v).contains("Changed text 7730"))
        .await;

    // Typing: the plain input shows masked, the password nowhere.
    for (id, typed) in [("#name", PLAIN_TYPED), ("#pw", PASSWORD)] {
        page.evaluate(&format!("document.querySelector('{id}').focus()")).await.or_report("focus", &parts);
        page.call("Input.insertText", json!({"text": typed})).await.or_report("type", &parts);
    }
    let typed_back = page
        .evaluate("[document.querySelector('#name').value, document.querySelector('#pw').value]")
        .await
        .or_report("read the fields", &parts);
    assert_eq!(typed_back, json!([PLAIN_TYPED, PASSWORD]), "typing reached the visitor's fields");
    let mask: String = std::iter::repeat_n(baton_shared::cobrowse::MASK_CHAR, PLAIN_TYPED.chars().count()).collect();
    let v = console
        .wait("the masked input", |v| {
            v["input_values"].as_array().is_some_and(|a| a.iter().any(|p| p[0] == "name" && p[1] == mask.as_str()))
        })
        .await;
    assert!(
        v["input_values"].as_array().unwrap().iter().any(|p| p[0] == "pw" && p[1] == ""),
        "password field empty: {}",
        v["input_values"]
    );
    // A later change proves everything typed before it was relayed.
    page.evaluate("document.querySelector('#list').insertAdjacentHTML('beforeend', '<li>After typing 8841</li>')")
        .await
        .or_report("change", &parts);
    let v = console.wait("the change after typing", |v| text_of(v).contains("After typing 8841")).await;
    for html in [&v["zz_console_html"], &v["zz_mirror_html"]] {
        let html = html.as_str().unwrap_or("");
        assert!(!html.contains(PASSWORD), "the password is not in the console");
        assert!(!html.contains(PLAIN_TYPED), "the plain text is not in the console");
    }

    // Control, before any grant: refused, nothing clicked.
    let clicks = || page.evaluate("[window.clicks || 0, window.others || 0]");
    assert_eq!(console.run("click before a grant", &overlay_click_visitor_ui("#buy")).await, json!(true));
    let v = console.wait("refused before a grant", |v| v["command_ok"] == "false").await;
    assert_eq!(clicks().await.or_report("counter", &parts), json!([0, 0]), "{}", v["command_text"]);

    // The operator asks for the click scope; the visitor grants it in the page.
    console
        .run(
            "ask for click",
            "document.querySelector('#scope-click').click(); document.querySelector('#request-control').click()",
        )
        .await;
    wait_content(&page, "the control prompt", VISITOR_UI_JS, &parts, |v| v["control"] == true).await;
    assert_eq!(in_content_world(&page, &click_visitor_ui("scope-click")).await, Ok(json!(true)));
    assert_eq!(in_content_world(&page, &click_visitor_ui("grant")).await, Ok(json!(true)));
    console.wait("the click grant", |v| v["grants"] == "click").await;
    assert_eq!(console.run("granted click", &overlay_click_visitor_ui("#buy")).await, json!(true));
    let v =
        console.wait("the granted click's result", |v| v["command_ok"] == "true" || v["command_ok"] == "false").await;
    assert_eq!(v["command_ok"], "true", "granted click: {}", v["command_text"]);
    assert_eq!(clicks().await.or_report("counter", &parts), json!([1, 0]), "the click landed on the button");
    console.wait("the counter in the mirror", |v| text_of(v).contains("Clicks: 1")).await;

    // A command the visitor's page does not answer (its scripts paused here)
    // is reported to the operator as perhaps lost; once the page goes on it
    // runs, and its late answer still names it.
    page.call("Debugger.enable", json!({})).await.or_report("debugger", &parts);
    page.call("Debugger.pause", json!({})).await.or_report("pause the visitor's page", &parts);
    assert_eq!(console.run("click while the page is paused", &overlay_click_visitor_ui("#buy")).await, json!(true));
    let v = console
        .session
        .wait_until("the unanswered click reported", CONSOLE_JS, Duration::from_secs(25), |v| {
            v["command_ok"] == "false"
        })
        .await
        .or_report("console: the unanswered click reported", &parts);
    assert!(
        v["command_text"].as_str().is_some_and(|t| t.contains("no answer from the visitor's page")),
        "{}",
        v["command_text"]
    );
    page.call("Debugger.resume", json!({})).await.or_report("resume the visitor's page", &parts);
    page.call("Debugger.disable", json!({})).await.or_report("debugger off", &parts);
    let v = console.wait("the late answer", |v| v["command_ok"] == "true").await;
    assert!(v["command_text"].as_str().is_some_and(|t| t.ends_with(": done")), "{}", v["command_text"]);
    assert_eq!(clicks().await.or_report("counter", &parts), json!([2, 0]), "the late click landed");

    // Revoked in the visitor's bar: refused again.
    assert_eq!(in_content_world(&page, &click_visitor_ui("revoke-click")).await, Ok(json!(true)));
    console.wait("the grant revoked", |v| v["grants"] == "").await;
    assert_eq!(console.run("click after the revoke", &overlay_click_visitor_ui("#buy")).await, json!(true));
    let v = console.wait("refused after the revoke", |v| v["command_ok"] == "false").await;
    assert_eq!(clicks().await.or_report("counter", &parts), json!([2, 0]), "{}", v["command_text"]);

    // A form app, configured and pushed from the console: appears, holds, goes.
    console
        .run(
            "configure a form",
            r#"(() => { const k = document.querySelector('#app-kind'); k.value = 'form'; k.dispatchEvent(new Event('change'));
                document.querySelector('#app-form-title').value = 'Delivery address';
                document.querySelector('#app-form-fields').value = 'City = Lyon\nPostcode = 69001';
                document.querySelector('#app-configure').click(); })()"#,
        )
        .await;
    console.wait("the app configured", |v| v["app_state"] == "configure").await;
    console.run("push", "document.querySelector('#app-push').click()").await;
    wait_content(&page, "the app in the page", VISITOR_UI_JS, &parts, |v| v["apps"][0]["state"] == "pushed").await;
    console.wait("the app pushed", |v| v["app_state"] == "pushed").await;
    // The visitor sends the form from the app's frame: the console lists
    // the app's event.
    let cdp = w.visitor.browser().cdp();
    let target = cdp
        .wait_for_target("the app's frame", WAIT, |t| t.kind == "iframe" && t.url.contains("/app.html"))
        .await
        .or_report("find the app's frame", &parts);
    let app = cdp.attach(&target.target_id).await.or_report("attach to the app's frame", &parts);
    app.wait_for("document.querySelector('form button')", WAIT).await.or_report("the app's form", &parts);
    app.evaluate("document.querySelector('form input[name=city]').value = 'Grenoble'; document.querySelector('form').requestSubmit()")
        .await
        .or_report("send the app's form", &parts);
    let sent = |v: &Value| -> usize {
        let lines = v["app_events"].as_array().cloned().unwrap_or_default();
        lines
            .iter()
            .filter(|l| {
                l.as_str().is_some_and(|t| t.contains("#1: ") && t.contains("submitted") && t.contains("Grenoble"))
            })
            .count()
    };
    console.wait("the app's event", |v| sent(v) == 1).await;
    console.run("hold", "document.querySelector('#app-hold').click()").await;
    wait_content(&page, "the app held", VISITOR_UI_JS, &parts, |v| v["apps"][0]["state"] == "held").await;
    console.wait("the app held", |v| v["app_state"] == "held").await;
    // A reloaded console learns the app and what it said from the visitor's
    // page (once, though every keyframe brings it), and can pull it.
    console.session.reload(WAIT).await.or_report("reload the console", &parts);
    let v = console
        .wait("the held app after the reload", |v| v["state"] == "active" && v["app_state"] == "held" && sent(v) > 0)
        .await;
    assert_eq!(sent(&v), 1, "{}", v["app_events"]);
    console.run("pull", "document.querySelector('#app-pull').click()").await;
    wait_content(&page, "the app gone", VISITOR_UI_JS, &parts, |v| v["apps"] == json!([])).await;
    console.wait("the app pulled", |v| v["app_state"] == "pulled").await;

    // Stop in the visitor's bar: the console shows the end; nothing injected is left.
    assert_eq!(in_content_world(&page, &click_visitor_ui("stop")).await, Ok(json!(true)));
    let v = console.wait("the session ended", |v| v["state"] == "ended").await;
    page.wait_until("no Baton UI left", BATON_IN_PAGE_JS, WAIT, |v| v == &json!(0))
        .await
        .or_report("injected UI removed", &parts);
    let ended_error = v["console_error"].clone();

    // What crossed the relay: never the password or the typed text (the
    // frames are encrypted end to end; this guards against plaintext on the
    // side, e.g. in audit entries), nor in the server's database files.
    let (up, down) = w.proxy.recorded();
    assert!(up.len() > 1000 && down.len() > 1000, "the proxy saw the traffic ({} / {} bytes)", up.len(), down.len());
    for (what, bytes) in
        [("to the server", &up), ("from the server", &down), ("in the server's database", &server_db_bytes(&w.server))]
    {
        for secret in [PASSWORD, PLAIN_TYPED, PRIVATE_TEXT, PAGE_TEXT] {
            assert!(!contains(bytes, secret), "{secret:?} {what}");
        }
    }

    // The plaintext of every recorded frame, as the operator's host decrypts
    // it: the page is there, the password and the typed text are not.
    let reply = console.run("fetch the recording", &recording_js(&session)).await;
    let plain = reply.as_str().unwrap_or_default();
    assert!(plain.contains("\"type\":\"recording\""), "a recording: {}", &plain[..plain.len().min(500)]);
    assert!(plain.contains(PAGE_TEXT) && plain.contains("Added later 5150"), "the recording holds the page");
    for secret in [PASSWORD, PLAIN_TYPED, PRIVATE_TEXT] {
        assert!(!plain.contains(secret), "{secret:?} in the recorded frames");
    }

    // Replay in a fresh console: the recorded page text shows.
    console.session.reload(WAIT).await.or_report("reload the console", &parts);
    console.wait("the console is ready again", |v| v["state"] == "idle").await;
    console
        .run(
            "open the replay",
            &format!(
                "(() => {{ document.querySelector('#replay-open').open = true; document.querySelector('#replay-session').value = {};
                   document.querySelector('#replay-load').click(); }})()",
                json!(session)
            ),
        )
        .await;
    console
        .wait("the replay's first page", |v| {
            v["state"] == "replay" && text_of(v).contains(PAGE_TEXT) || v["replay_error"].is_string()
        })
        .await;
    console
        .run(
            "scrub to the end",
            "(() => { const s = document.querySelector('#replay-scrub'); s.value = s.max; s.dispatchEvent(new Event('input')); })()",
        )
        .await;
    let v = console
        .wait("the replay's end", |v| text_of(v).contains("Clicks: 2") && text_of(v).contains("After typing 8841"))
        .await;
    assert!(!v["zz_console_html"].as_str().unwrap_or("").contains(PASSWORD), "no password in the replay");

    // The audit log: every step, in a valid chain.
    let entries = audit_chain(&w.server, &session).or_report("the audit chain", &parts);
    let listed: Vec<String> = entries.iter().map(|e| format!("{} {:?} {:?}", e.seq, e.role, e.event)).collect();
    let has = |what: &str, f: &dyn Fn(&AuditRow) -> bool| {
        assert!(entries.iter().any(f), "audit has {what}: {listed:#?}");
    };
    has("started", &|e| e.event == AuditEvent::Started);
    has(
        "the operator's join",
        &|e| matches!(&e.event, AuditEvent::OperatorJoined { operator_name } if operator_name == OPERATOR),
    );
    has("consent", &|e| e.event == AuditEvent::Consent { approved: true } && e.role == Some(Role::Visitor));
    has("recording consent", &|e| e.event == AuditEvent::RecordingConsent { approved: true });
    has(
        "the grant",
        &|e| matches!(&e.event, AuditEvent::Granted { scopes } if scopes == &[baton_shared::cobrowse::Scope::Click]),
    );
    has("the revoke", &|e| matches!(&e.event, AuditEvent::Revoked { .. }));
    has("the click", &|e| matches!(&e.event, AuditEvent::Command { ok: true, .. }));
    has("the push", &|e| matches!(&e.event, AuditEvent::Pushed { .. }) && e.role == Some(Role::Operator));
    has("the end", &|e| e.event == AuditEvent::Ended { by: Role::Visitor });
    let once = |what: &str, f: &dyn Fn(&AuditRow) -> bool| {
        assert_eq!(entries.iter().filter(|e| f(e)).count(), 1, "audit has {what} once: {listed:#?}");
    };
    once("started", &|e| e.event == AuditEvent::Started);
    once("consent", &|e| matches!(e.event, AuditEvent::Consent { .. }));
    once("the push", &|e| matches!(e.event, AuditEvent::Pushed { .. }));
    assert!(matches!(entries.last().map(|e| &e.event), Some(AuditEvent::Ended { .. })), "ended last: {listed:#?}");
    assert!(
        ended_error.as_str().is_some_and(|e| e.contains("the visitor ended")),
        "the console says the visitor ended it, and nothing else went wrong: {ended_error}"
    );
}

// ---- the operator's tools, driven from the console --------------------------------

const TOOLS_TEXT: &str = "Help desk tools 5512";
const NEXT_TEXT: &str = "The next page arrived 7304";
const OPERATOR_TYPED: &str = "typed by the operator 19";

/// A page with a heading to highlight, a field the site marks safe, a plain
/// (masked) and a password field, and room to scroll.
const TOOLS_PAGE: &str = r#"<!doctype html><html><head><meta charset=utf-8><title>Help desk</title></head>
<body style="margin:0;font:16px sans-serif">
<h1 id="intro" style="margin:30px 20px;width:320px">Help desk tools 5512</h1>
<p style="margin:20px"><label>Order note <input id="note" name="note" data-baton-safe></label></p>
<p style="margin:20px"><label>Name <input id="name" name="name" type="text"></label></p>
<p style="margin:20px"><label>Password <input id="pw" name="pw" type="password"></label></p>
<div style="height:3000px"></div>
</body></html>"#;

const NEXT_PAGE: &str = r#"<!doctype html><html><head><meta charset=utf-8><title>Next</title></head>
<body><p id="next">The next page arrived 7304</p></body></html>"#;

/// The operator's marks in the visitor's page (content-script world):
/// the outline's and the heading's boxes as `[top, left]`, and the strokes.
const MARKS_JS: &str = r#"(() => {
  const host = document.querySelector('[data-baton-ui=visitor]');
  if (!host) return null;
  const ui = chrome.dom.openOrClosedShadowRoot(host);
  const h = ui.querySelector('[data-baton-part=highlight]');
  const box = (r) => [Math.round(r.top), Math.round(r.left)];
  const target = document.querySelector('#intro');
  return { highlight: h && !h.hidden ? box(h.getBoundingClientRect()) : null,
    target: target ? box(target.getBoundingClientRect()) : null,
    strokes: ui.querySelectorAll('[data-baton-part=annotations] polyline').length };
})()"#;

/// Draws a stroke over the console's overlay, in Draw mode.
const DRAW_JS: &str = r#"(() => {
  document.querySelector('#mode-draw').click();
  const o = document.querySelector('#overlay');
  const b = o.getBoundingClientRect();
  const at = (type, dx, dy) => o.dispatchEvent(new PointerEvent(type, {clientX: b.left + 60 + dx, clientY: b.top + 200 + dy, bubbles: true}));
  at('pointerdown', 0, 0);
  for (let i = 1; i <= 8; i++) at('pointermove', i * 12, i * 5);
  at('pointerup', 96, 40);
  document.querySelector('#mode-pointer').click();
  return document.querySelector('#ink').querySelectorAll('polyline').length;
})()"#;

/// Puts `text` in the console's input `#id` and clicks the button `#button`.
fn fill_and_click(id: &str, text: &str, button: &str) -> String {
    format!(
        "(() => {{ document.querySelector('#{id}').value = {}; document.querySelector('#{button}').click(); }})()",
        json!(text)
    )
}

/// The outline sits on the element (the visitor's overlay draws it at the
/// element's box).
fn outlined(v: &Value) -> bool {
    let (Some(h), Some(t)) = (v["highlight"].as_array(), v["target"].as_array()) else { return false };
    h.iter().zip(t).all(|(a, b)| (a.as_f64().unwrap_or(f64::MAX) - b.as_f64().unwrap_or(0.0)).abs() <= 2.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_highlights_draws_types_and_navigates_the_visitors_tab() {
    let origin = pages::serve(|r| Reply::html(if r.path().starts_with("/next") { NEXT_PAGE } else { TOOLS_PAGE }))
        .await
        .expect("start the page server");
    let w = World::start(" T").await;
    let parts = w.parts();
    let (page, console, _session, _) = share_and_join(&w, &parts, &format!("{origin}/page"), TOOLS_TEXT, false).await;
    let started = Instant::now();

    // The operator asks for Type and Navigate; the visitor grants both.
    console
        .run(
            "ask for type and navigate",
            "document.querySelector('#scope-type').click(); document.querySelector('#scope-navigate').click();
             document.querySelector('#request-control').click()",
        )
        .await;
    wait_content(&page, "the control prompt", VISITOR_UI_JS, &parts, |v| v["control"] == true).await;
    for act in ["scope-type", "scope-navigate", "grant"] {
        assert_eq!(in_content_world(&page, &click_visitor_ui(act)).await, Ok(json!(true)), "{act}");
    }
    console.wait("the grants", |v| v["grants"] == "navigate,type").await;

    // The operator reloads the console: it takes the session up again, with
    // a fresh mirror of the page and the scopes the visitor granted.
    console.session.reload(WAIT).await.or_report("reload the console", &parts);
    console
        .wait("the session resumed after the reload", |v| {
            v["state"] == "active" && text_of(v).contains(TOOLS_TEXT) && v["grants"] == "navigate,type"
        })
        .await;

    // (b) Typing: a click on the field the site marks safe selects it
    // (Click is not granted, so nothing is clicked), the text lands in the
    // visitor's field and shows as typed in the mirror.
    assert_eq!(console.run("select the safe field", &overlay_click_visitor_ui("#note")).await, json!(true));
    let v = console.wait("the field selected", |v| v["selected"] != "" && v["command_ok"] == "").await;
    assert!(v["command_text"].as_str().is_some_and(|t| t.contains("Field selected")), "{}", v["command_text"]);
    console.run("type", &fill_and_click("type-text", OPERATOR_TYPED, "type-send")).await;
    let v = console.wait("the typing's result", |v| v["command_ok"] == "true" || v["command_ok"] == "false").await;
    assert_eq!(v["command_ok"], "true", "typing: {}", v["command_text"]);
    let typed = page.evaluate("document.querySelector('#note').value").await.or_report("read the field", &parts);
    assert_eq!(typed, json!(OPERATOR_TYPED), "the text is in the visitor's field");
    console
        .wait("the typed value, unmasked", |v| {
            v["input_values"].as_array().is_some_and(|a| a.iter().any(|p| p[0] == "note" && p[1] == OPERATOR_TYPED))
        })
        .await;

    // A plain field is masked: typing into it is refused. Empty, the
    // console cannot tell it from a safe one, and the visitor's page refuses.
    assert_eq!(console.run("select the masked field", &overlay_click_visitor_ui("#name")).await, json!(true));
    console.wait("the masked field selected", |v| v["command_ok"] == "").await;
    console.run("type into the masked field", &fill_and_click("type-text", "not for masked 1", "type-send")).await;
    let v = console
        .wait("typing into the masked field refused", |v| {
            v["command_ok"] == "false"
                && v["command_text"].as_str().is_some_and(|t| t.contains("refused in the visitor's page"))
        })
        .await;
    assert!(v["command_text"].as_str().is_some_and(|t| t.contains("masked")), "the reason: {}", v["command_text"]);
    let name = page.evaluate("document.querySelector('#name').value").await.or_report("read the masked field", &parts);
    assert_eq!(name, json!(""), "nothing typed into the masked field");
    // Once the visitor typed in it, the mirror shows the mask and the
    // console refuses before sending anything.
    page.evaluate(
        "(() => { const i = document.querySelector('#name'); i.value = 'abc'; \
         i.dispatchEvent(new Event('input', {bubbles: true})); return true; })()",
    )
    .await
    .or_report("the visitor types", &parts);
    let mask: String = std::iter::repeat_n(baton_shared::cobrowse::MASK_CHAR, 3).collect();
    console
        .wait("the visitor's value, masked", |v| {
            v["input_values"].as_array().is_some_and(|a| a.iter().any(|p| p[0] == "name" && p[1] == mask.as_str()))
        })
        .await;
    assert_eq!(console.run("click the masked field", &overlay_click_visitor_ui("#name")).await, json!(true));
    let v = console
        .wait("the masked field refused", |v| {
            v["command_ok"] == "false" && v["command_text"].as_str().is_some_and(|t| t.contains("masked"))
        })
        .await;
    assert!(v["command_text"].as_str().is_some_and(|t| t.contains("marks safe")), "{}", v["command_text"]);
    console
        .run("type into the masked field again", &fill_and_click("type-text", "not for masked 2", "type-send"))
        .await;
    console
        .wait("typing refused in the console", |v| {
            v["command_ok"] == "false"
                && v["command_text"].as_str().is_some_and(|t| t.contains("types only into fields"))
        })
        .await;
    let name = page.evaluate("document.querySelector('#name').value").await.or_report("read the masked field", &parts);
    assert_eq!(name, json!("abc"), "the masked field is the visitor's alone");

    // A password field: selecting it and typing are refused, and say so.
    assert_eq!(console.run("select the password", &overlay_click_visitor_ui("#pw")).await, json!(true));
    let v = console.wait("the password refused", |v| v["command_ok"] == "false").await;
    assert!(v["command_text"].as_str().is_some_and(|t| t.contains("password")), "{}", v["command_text"]);
    console.run("type into the password", &fill_and_click("type-text", "not-a-secret-1", "type-send")).await;
    let v = console
        .wait("typing into the password refused", |v| {
            v["command_ok"] == "false" && v["command_text"].as_str().is_some_and(|t| t.contains("never types"))
        })
        .await;
    let pw = page.evaluate("document.querySelector('#pw').value").await.or_report("read the password", &parts);
    assert_eq!(pw, json!(""), "nothing typed into the password field: {}", v["command_text"]);

    // (a) A highlight and a drawing show in the visitor's page.
    console.run("highlight mode", "document.querySelector('#mode-highlight').click()").await;
    assert_eq!(console.run("highlight the heading", &overlay_click_visitor_ui("#intro")).await, json!(true));
    assert_eq!(console.run("draw", DRAW_JS).await, json!(1), "the stroke in the console");
    let before = console.wait("the outline in the console", |v| v["highlight_top"].is_number() && v["ink"] == 1).await;
    wait_content(&page, "the outline and the stroke in the page", MARKS_JS, &parts, |v| {
        outlined(v) && v["strokes"] == 1
    })
    .await;

    // The visitor scrolls: the stroke goes on both sides; the outline stays
    // on its element, which moved up (the design: strokes are drawn on the
    // screen, the outline on a node).
    page.evaluate("window.scrollTo(0, 200)").await.or_report("scroll the page", &parts);
    let marks =
        wait_content(&page, "the stroke gone after the scroll", MARKS_JS, &parts, |v| v["strokes"] == 0 && outlined(v))
            .await;
    assert!(marks["target"][0].as_i64().is_some_and(|top| top < 0), "the page scrolled: {marks}");
    let top_before = before["highlight_top"].as_i64().unwrap_or_default();
    console
        .wait("the stroke gone and the outline moved in the console", |v| {
            v["ink"] == 0 && v["highlight_top"].as_i64().is_some_and(|top| (top - (top_before - 200)).abs() <= 2)
        })
        .await;

    // (c) Navigation: the visitor's tab goes to the other page; the
    // session goes on there (the same tab stays shared, the grants kept).
    let next = format!("{origin}/next");
    console.run("navigate", &fill_and_click("nav-url", &next, "nav-send")).await;
    let v = console.wait("the navigation's result", |v| v["command_ok"] == "true" || v["command_ok"] == "false").await;
    assert_eq!(v["command_ok"], "true", "navigate: {}", v["command_text"]);
    page.wait_until("the visitor's tab on the next page", "location.href", WAIT, |v| v == &json!(next))
        .await
        .or_report("the visitor's tab navigated", &parts);
    let v = console
        .wait("the next page in the mirror", |v| text_of(v).contains(NEXT_TEXT) && v["page_url"] == next.as_str())
        .await;
    assert_eq!(v["state"], "active", "the session goes on");
    assert_eq!((v["highlight_top"].clone(), v["ink"].clone()), (Value::Null, json!(0)), "no marks from the old page");
    let ui = wait_content(&page, "the bar on the next page", VISITOR_UI_JS, &parts, |v| v["state"] == "active").await;
    assert!(ui["scopes"].as_str().is_some_and(|s| s.contains("type") && s.contains("navigate")), "grants kept: {ui}");
    wait_content(&page, "no marks on the next page", MARKS_JS, &parts, |v| {
        v["highlight"].is_null() && v["strokes"] == 0
    })
    .await;
    eprintln!("operator tools, after joining: {:?}", started.elapsed());
}

// ---- a hostile page, through the real capture engine ----------------------------

const HOSTILE_TEXT: &str = "Hostile page body text 4417";

/// The page tries every way we know to run code or load things; each
/// attempt sets `window.top.__pwned` or calls the beacon.
fn hostile_page(b: &str) -> String {
    let pwn = |tag: &str| format!("window.top.__pwned='{tag}';fetch('{b}/{tag}')");
    format!(
        r#"<!doctype html><html><head><meta charset=utf-8><title>Hostile page</title>
<script>{script}</script>
<meta http-equiv="refresh" content="3600;url={b}/meta-refresh">
<base href="{b}/base/">
<style>body {{ background: url(javascript:{css_url}) }} .x {{ width: expression({css_expr}) }} @import url({b}/import.css);</style>
<link rel="prefetch" href="{b}/prefetch">
</head><body onload="{body_onload}">
<p id="intro">{HOSTILE_TEXT}</p>
<img src="missing.png" onerror="{img_onerror}">
<a id="jslink" href="javascript:{js_link}">Click me</a>
<svg width="40" height="40" onload="{svg_onload}"><script>{svg_script}</script>
  <a href="javascript:{svg_link}"><text x="0" y="20">svg link</text></a>
  <set attributeName="href" to="javascript:{svg_set}"/></svg>
<iframe srcdoc="&lt;script&gt;{srcdoc}&lt;/script&gt;" src="{b}/iframe"></iframe>
<object data="{b}/object"></object>
<embed src="{b}/embed">
<form action="{b}/form" method="post">
  <input name="plain" type="text" onfocus="{onfocus}">
  <button formaction="javascript:{formaction}">Send</button>
</form>
<div style="background-image:url(javascript:{style_attr})">styled</div>
<details open ontoggle="{ontoggle}">details</details>
<noscript>NOSCRIPT-CONTENT</noscript>
<script>setTimeout(() => document.body.insertAdjacentHTML('beforeend',
  '<p id="later">Added later 9921</p><img src="x:" onerror="{late_img}"><script>{late_script}<\/script>'), 300);</script>
</body></html>"#,
        script = pwn("script"),
        css_url = pwn("css-url").replace('\'', "\\'"),
        css_expr = pwn("css-expr"),
        body_onload = pwn("body-onload"),
        img_onerror = pwn("img-onerror"),
        js_link = pwn("js-link"),
        svg_onload = pwn("svg-onload"),
        svg_script = pwn("svg-script"),
        svg_link = pwn("svg-link"),
        svg_set = pwn("svg-set"),
        srcdoc = pwn("srcdoc"),
        onfocus = pwn("onfocus"),
        formaction = pwn("formaction"),
        style_attr = pwn("style-attr"),
        ontoggle = pwn("ontoggle"),
        late_img = pwn("late-img").replace('\'', "\\'"),
        late_script = pwn("late-script").replace('\'', "\\'"),
    )
}

/// A recording the server stops at its cap (set to one byte here): the
/// visitor's bar stops saying the session is recorded, the console says
/// the recording stopped, and the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_recording_stops_at_its_cap_both_sides_are_told() {
    let w = World::start_with(" R", &["--cobrowse-recording-max-bytes", "1"]).await;
    let parts = w.parts();
    let url = serve(PAGE.to_owned()).await;
    let (page, console, _session, _) = share_and_join(&w, &parts, &url, PAGE_TEXT, true).await;
    let ui = wait_content(&page, "the bar without 'recorded'", VISITOR_UI_JS, &parts, |v| {
        v["state"] == "active" && v["recorded"] == false
    })
    .await;
    assert!(!ui["text"].as_str().unwrap_or("").contains("recorded"), "{ui}");
    let v = console.wait("the console's note", |v| v["recording_note"].is_string()).await;
    assert!(v["recording_note"].as_str().is_some_and(|t| t.contains("limit")), "{}", v["recording_note"]);
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p>AFTER-THE-CAP</p>'); true")
        .await
        .or_report("change the page", &parts);
    console.wait("the session goes on", |v| text_of(v).contains("AFTER-THE-CAP")).await;
}

/// A third-party app module: it speaks Baton's app channel (offered a port,
/// it says the second secret from its own URL fragment there as its
/// `hello`, takes the `init` with the first that follows on that port, says
/// `ready`, then numbered events both ways), greets with the origin it runs
/// in and echoes what the console sends.
const MODULE_APP: &str = r#"<!doctype html><html><body><p>Module app</p><script>
const [token, hello] = location.hash.slice(1).split('.');
let port = null, seq = 0;
addEventListener('message', (e) => {
  const offered = e.ports[0];
  if (port || !e.data || e.data.baton_app !== 'offer' || !offered) return;
  offered.onmessage = (ev) => {
    const m = ev.data;
    if (port === null && m && m.baton_app === 'init' && m.token === token) {
      port = offered;
      port.postMessage({ baton_app: 'ready' });
      port.postMessage({ baton_app: 'event', seq: ++seq, event: { type: 'hello', app: m.app_id, origin: String(self.origin) } });
    } else if (port === offered && m && m.baton_app === 'event') {
      port.postMessage({ baton_app: 'event', seq: ++seq, event: { type: 'echo', got: m.event } });
    }
  };
  offered.postMessage({ baton_app: 'hello', hello });
});
</script></body></html>"#;

/// The console's script that prepares a module app from `url`.
fn prepare_module(url: &str) -> String {
    format!(
        r#"(() => {{ const k = document.querySelector('#app-kind'); k.value = 'module'; k.dispatchEvent(new Event('change'));
            document.querySelector('#app-module-url').value = {url};
            document.querySelector('#app-configure').click(); return true; }})()"#,
        url = json!(url)
    )
}

/// Pushing modules: only from sites the settings list. One the visitor's
/// settings list opens in the page in a frame with an opaque origin and
/// talks with the console both ways; one only the operator's settings list
/// is refused by the visitor's side; one neither lists, by the console.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_app_from_an_allowed_site_talks_with_the_console_and_others_are_refused() {
    let w = World::start(" A").await;
    let parts = w.parts();
    let url = serve(PAGE.to_owned()).await;
    let origin = |u: &str| u.trim_end_matches("/page").to_owned();
    let (module, other) = (serve(MODULE_APP.to_owned()).await, serve(MODULE_APP.to_owned()).await);
    let visitor_list = format!("appOrigins: {}", json!([origin(&module)]));
    let (page, console, _session, _) = share_and_join_with(&w, &parts, &url, PAGE_TEXT, false, &[visitor_list]).await;
    let operator_list = json!([origin(&module), origin(&other)]);
    console
        .run("the operator's settings", &format!("chrome.storage.local.set({{ appOrigins: {operator_list} }})"))
        .await;
    console
        .wait("the console's app sites", |v| v["module_origins"].as_str().is_some_and(|t| t.contains(&origin(&other))))
        .await;

    // Neither side lists it: the console says so and prepares nothing.
    console.run("a module from nowhere", &prepare_module("https://apps.unlisted.example/app.html")).await;
    let v = console.wait("the console's refusal", |v| v["app_error"].is_string()).await;
    assert!(v["app_error"].as_str().is_some_and(|t| t.contains("https://apps.unlisted.example")), "{}", v["app_error"]);
    assert_eq!(v["app_state"], "none");

    // Only the operator lists it: the visitor's side refuses it.
    console.run("a module only the operator allows", &prepare_module(&format!("{}/app.html", origin(&other)))).await;
    console.wait("configured", |v| v["app_state"] == "configure").await;
    console.run("push", "document.querySelector('#app-push').click()").await;
    let v =
        console.wait("the visitor's refusal", |v| v["app_text"].as_str().is_some_and(|t| t.contains("refused"))).await;
    assert_eq!(v["app_state"], "pulled", "{}", v["app_text"]);
    let why = format!("apps from {} are not allowed there", origin(&other));
    assert!(v["app_text"].as_str().is_some_and(|t| t.contains(&why)), "says why: {}", v["app_text"]);
    let ui = wait_content(&page, "the page's apps", VISITOR_UI_JS, &parts, |v| v["apps"].is_array()).await;
    assert_eq!(ui["apps"], json!([]), "nothing was loaded: {ui}");

    // Both list it: it opens, sandboxed, and talks with the console.
    let module_url = format!("{}/app.html", origin(&module));
    console.run("a module both allow", &prepare_module(&module_url)).await;
    console.wait("configured", |v| v["app_state"] == "configure").await;
    console.run("push", "document.querySelector('#app-push').click()").await;
    let ui =
        wait_content(&page, "the module in the page", VISITOR_UI_JS, &parts, |v| v["apps"][0]["state"] == "pushed")
            .await;
    assert_eq!(ui["apps"][0]["sandbox"], "allow-scripts allow-forms", "no same-origin: {ui}");
    assert!(ui["apps"][0]["src"].as_str().is_some_and(|s| s.starts_with(&format!("{module_url}#"))), "{ui}");
    let said = |v: &Value, what: &str, and: &str| {
        v["app_events"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|l| l.as_str().is_some_and(|t| t.contains(what) && t.contains(and)))
    };
    console.wait("the module's hello, from an opaque origin", |v| said(v, "hello", r#""origin":"null""#)).await;
    let send = r#"document.querySelector('#app-send-text').value = '{"ping": 7}'; document.querySelector('#app-send').click(); true"#;
    console.run("send the module an event", send).await;
    console.wait("the module's echo", |v| said(v, "echo", r#""ping":7"#)).await;
    // Not JSON: the console says so and sends nothing.
    console.run("send nonsense", "document.querySelector('#app-send-text').value = '{ping'; document.querySelector('#app-send').click(); true").await;
    let v = console.wait("the console's complaint", |v| v["app_error"].is_string()).await;
    assert!(v["app_error"].as_str().is_some_and(|t| t.contains("JSON")), "{}", v["app_error"]);

    // A reloaded console numbers its events on from where the page is.
    console.session.reload(WAIT).await.or_report("reload the console", &parts);
    console.wait("the module after the reload", |v| v["state"] == "active" && v["app_state"] == "pushed").await;
    let send = r#"document.querySelector('#app-send-text').value = '{"ping": 8}'; document.querySelector('#app-send').click(); true"#;
    console.run("send the module another event", send).await;
    console.wait("the module's second echo", |v| said(v, "echo", r#""ping":8"#)).await;
}

/// A module that sends its frame elsewhere at once, and the page it goes to,
/// which takes any channel it is offered and says so.
fn hopping_module(request: &baton_e2e::Request) -> Reply {
    match request.path() {
        "/app.html" => Reply::html("<!doctype html><script>location.replace('/next.html')</script>".to_owned()),
        _ => Reply::html(
            r#"<!doctype html><p>Next</p><script>
addEventListener('message', (e) => {
  const port = e.ports[0];
  if (!port) return;
  port.postMessage({ baton_app: 'ready' });
  port.postMessage({ baton_app: 'event', seq: 1, event: { type: 'stolen' } });
});
for (const hello of ['', 'x', location.hash.slice(1)]) parent.postMessage({ baton_app: 'hello', hello }, '*');
</script>"#
                .to_owned(),
        ),
    }
}

/// The channel goes only to the document the app was pushed with: a page
/// the module navigates its frame to (which does not know the frame's
/// secret) is offered nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_a_module_navigates_to_gets_no_channel() {
    let w = World::start(" H").await;
    let parts = w.parts();
    let url = serve(PAGE.to_owned()).await;
    let module = pages::serve(hopping_module).await.expect("start the module's server");
    let allowed = json!([module]);
    let (page, console, _session, _) =
        share_and_join_with(&w, &parts, &url, PAGE_TEXT, false, &[format!("appOrigins: {allowed}")]).await;
    console.run("the operator's settings", &format!("chrome.storage.local.set({{ appOrigins: {allowed} }})")).await;
    console
        .wait("the console's app sites", |v| v["module_origins"].as_str().is_some_and(|t| t.contains(&module)))
        .await;
    console.run("a module that hops", &prepare_module(&format!("{module}/app.html"))).await;
    console.wait("configured", |v| v["app_state"] == "configure").await;
    console.run("push", "document.querySelector('#app-push').click()").await;
    wait_content(&page, "the module in the page", VISITOR_UI_JS, &parts, |v| v["apps"][0]["state"] == "pushed").await;
    // The module did go elsewhere, and the page there runs.
    let next = format!("{module}/next.html");
    w.visitor
        .browser()
        .cdp()
        .wait_for_target("the page the module went to", WAIT, |t| t.kind == "iframe" && t.url == next)
        .await
        .or_report("the module's frame navigated", &parts);
    // Long enough for many offers, had there been any.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let v = console.wait("the console", |v| v["app_state"] == "pushed").await;
    let events = v["app_events"].to_string();
    assert!(!events.contains("stolen"), "the page it went to got a channel: {events}");
}

/// An operator the visitor's settings do not list is refused before the
/// visitor is asked: the page says why, the console hears the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_not_on_the_visitors_allowlist_is_refused() {
    let w = World::start(" L").await;
    let parts = w.parts();
    let url = serve(PAGE.to_owned()).await;
    let (page, console, code) = share(&w, &parts, &url, Some("{ operatorAllowlist: ['Someone Else'] }")).await;
    baton_e2e::console::join(&console.session, &code).await.or_report("join", &parts);
    let ui = wait_content(&page, "the refusal", VISITOR_UI_JS, &parts, |v| v["notice"].is_string()).await;
    assert!(ui["notice"].as_str().is_some_and(|t| t.contains("refused") && t.contains(OPERATOR)), "{ui}");
    assert_eq!(ui["consent"], false, "the visitor is not asked: {ui}");
    // Told why, also when its relay socket only opened after the end.
    let v = console.wait("the console ended", |v| v["state"] == "ended").await;
    assert!(v["console_error"].as_str().is_some_and(|t| t.contains("the visitor declined")), "{}", v["console_error"]);
}

/// A killed host takes its sessions with it (they live in its memory):
/// its side ends at once and says why, and the extension has the next host
/// end the session at the server, so the other side is not left waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_host_ends_its_side_at_once_and_the_session_for_the_other_side() {
    let w = World::start(" K").await;
    let parts = w.parts();
    let url = serve(PAGE.to_owned()).await;

    // The operator's host dies, and cannot start again for now (its
    // manifest is moved away): the console says so; the visitor's bar says
    // the operator is disconnected.
    let (page, console, _session, _) = share_and_join(&w, &parts, &url, PAGE_TEXT, false).await;
    let manifests = w.operator.profile_dir().join("NativeMessagingHosts");
    let hidden = w.operator.profile_dir().join("NativeMessagingHosts.away");
    std::fs::rename(&manifests, &hidden).expect("move the operator's host manifest away");
    w.operator.kill_host().or_report("kill the operator's host", &parts);
    let v = console.wait("the console ended", |v| v["state"] == "ended").await;
    assert!(v["console_error"].as_str().is_some_and(|t| t.contains("Baton app")), "{}", v["console_error"]);
    // With when the session ends unless they come back.
    let ui = wait_content(&page, "the operator away", VISITOR_UI_JS, &parts, |v| v["operator_away"] == true).await;
    assert!(ui["text"].as_str().is_some_and(|t| t.contains("disconnected — the session ends at ")), "{ui}");
    assert_eq!(ui["state"], "active", "{ui}");
    // Once a host starts again on the operator's side, it ends the session
    // at the server, and the visitor's page is left clean.
    std::fs::rename(&hidden, &manifests).expect("put the operator's host manifest back");
    // The worker's next attempt comes after its backoff (at most 8 s).
    let backoff = Duration::from_millis(u64::from(baton_shared::limits::BACKOFF_MAX_MS));
    page.wait_until("the visitor's page without Baton's UI", BATON_IN_PAGE_JS, WAIT + backoff, |v| v == &json!(0))
        .await
        .or_report("the visitor's side ended", &parts);

    // The visitor's host dies: the page is clean at once; the console hears the end.
    let (page, console, _session, _) = share_and_join(&w, &parts, &url, PAGE_TEXT, false).await;
    w.visitor.kill_host().or_report("kill the visitor's host", &parts);
    page.wait_until("the page without Baton's UI", BATON_IN_PAGE_JS, WAIT, |v| v == &json!(0))
        .await
        .or_report("the visitor's side ended", &parts);
    let v = console.wait("the console ended", |v| v["state"] == "ended").await;
    assert!(v["console_error"].as_str().is_some_and(|t| t.contains("visitor")), "{}", v["console_error"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_page_shared_by_a_real_visitor_runs_nothing_in_the_console() {
    let (b, hits) = pages::beacon().await.expect("start the beacon");
    let w = World::start(" H").await;
    let parts = w.parts();
    let url = serve(hostile_page(&b)).await;
    let page_origin = url.trim_end_matches("/page").to_owned();
    let (_page, console, _session, _) = share_and_join(&w, &parts, &url, HOSTILE_TEXT, false).await;
    let v = console.wait("the late addition", |v| text_of(v).contains("Added later 9921")).await;

    // Clicking the mirror's link directly goes nowhere either.
    console
        .run(
            "click the mirror's link",
            "document.querySelector('#mirror').contentDocument.querySelector('#jslink')?.click()",
        )
        .await;
    // Give every trick time to fire.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let v2 = console.state().await;
    for v in [&v, &v2] {
        assert_eq!(v["scripts"], 0, "no script elements: {}", v["zz_mirror_html"]);
        assert_eq!(v["handler_attrs"], json!([]), "no event handler attributes: {}", v["zz_mirror_html"]);
        assert_eq!(v["js_urls"], json!([]), "no javascript: or HTML data: URLs");
        assert_eq!(v["forbidden"], json!([]), "no base, meta, frames or plugins: {}", v["zz_mirror_html"]);
        assert_eq!(v["srcdoc"], 0, "no srcdoc, action or formaction");
        assert!(v["pwned"].is_null(), "nothing ran: {}", v["pwned"]);
    }
    assert_eq!(v2["title"], "Baton — operator console", "the console's title is its own");
    assert_eq!(v2["mirror_url"], "about:srcdoc", "the mirror never navigated");
    assert_eq!(v2["state"], "active", "the console never navigated");
    let html = v2["zz_mirror_html"].as_str().unwrap_or_default();
    assert!(!html.contains("NOSCRIPT-CONTENT"), "noscript content is not shown: {html}");
    assert!(!html.contains("__pwned"), "no trace of the page's code in the mirror: {html}");
    // The visitor's own tab runs its page and calls the beacon, with the
    // page's origin as referrer; the console's mirror sends no referrer.
    // Each request as its request line, referrer and origin.
    let heard: Vec<String> = hits
        .requests()
        .iter()
        .map(|request| {
            let head: Vec<&str> = request
                .lines()
                .filter(|l| {
                    l.starts_with("GET")
                        || l.starts_with("POST")
                        || l.to_ascii_lowercase().starts_with("referer")
                        || l.to_ascii_lowercase().starts_with("origin")
                })
                .collect();
            head.join(" | ")
        })
        .collect();
    let visitor_own = format!("Referer: {page_origin}/");
    // The page's image named relative to its `<base>` loads from there in
    // the mirror as in the visitor's tab: the page could name any address
    // for an image. It is what it is, an image, and nothing else is heard.
    let relative_image = "GET /base/missing.png ";
    assert!(html.contains("/base/missing.png\""), "relative to the page's base: {html}");
    let from_console: Vec<&String> =
        heard.iter().filter(|h| !h.contains(&visitor_own) && !h.starts_with(relative_image)).collect();
    assert!(heard.iter().any(|h| h.contains("/script")), "the visitor's tab ran its own page (sanity): {heard:#?}");
    assert!(from_console.is_empty(), "the console reached the beacon: {from_console:#?}");
}

/// A page whose script nests `depth` elements (deeper than the HTML parser
/// would), the innermost with `text`; `window.nestMore(depth, text)` adds
/// another such chain later.
fn deep_page(depth: usize, text: &str) -> String {
    format!(
        r#"<!doctype html><html><head><title>Deep</title></head><body>
<p>A deeply nested page</p><div id="deep"></div>
<script>
  window.nestMore = (depth, text) => {{
    let el = document.createElement('section');
    const top = el;
    for (let i = 0; i < depth; i++) {{ const d = document.createElement('div'); el.appendChild(d); el = d; }}
    el.textContent = text;
    document.getElementById('deep').appendChild(top);
    return true;
  }};
  nestMore({depth}, {text:?});
</script></body></html>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_nested_deeper_than_a_frame_may_be_shows_whole_in_the_console() {
    let _heavy = HEAVY.lock().await;
    let w = World::start(" N").await;
    let parts = w.parts();
    let url = serve(deep_page(1_000, "Bottom of the deep page 4471")).await;
    let (page, console, _session, _) = share_and_join(&w, &parts, &url, "Bottom of the deep page 4471", false).await;
    // A chain added later is as deep again.
    page.evaluate("nestMore(600, 'Added deep later 5512')").await.or_report("nest more", &parts);
    let v = console.wait("the later chain", |v| text_of(v).contains("Added deep later 5512")).await;
    assert!(v["console_error"].is_null(), "{}", v["console_error"]);
    assert_eq!(v["mirror_status"], "live", "{}", v["mirror_status"]);
    let depth = console
        .session
        .evaluate(
            "(() => { let d = 0, el = document.querySelector('#mirror').contentDocument.getElementById('deep'); \
             while (el && el.firstElementChild) { el = el.firstElementChild; d++; } return d; })()",
        )
        .await
        .or_report("the mirror's depth", &parts);
    assert_eq!(depth, json!(1_001), "the whole first chain is mirrored, element for element");
    // Taken out whole, it goes from the mirror; the other stays.
    page.evaluate("document.getElementById('deep').firstElementChild.remove(); true")
        .await
        .or_report("remove the first chain", &parts);
    let v = console.wait("the first chain gone", |v| !text_of(v).contains("Bottom of the deep page 4471")).await;
    assert!(text_of(&v).contains("Added deep later 5512"), "{}", text_of(&v));
    assert!(v["console_error"].is_null(), "{}", v["console_error"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_whose_snapshot_is_over_eight_megabytes_shows_in_the_console() {
    let _heavy = HEAVY.lock().await;
    let w = World::start(" B").await;
    let parts = w.parts();
    // A long log shown in the page, as a support case often has.
    let page = r#"<!doctype html><html><head><title>Log</title></head><body><pre id="log"></pre><script>
      const lines = [];
      for (let i = 0; i < 160000; i++) lines.push(`2026-11-22 10:00:${String(i % 60).padStart(2, '0')} worker-${i % 7} handled request ${i} in ${i % 97} ms`);
      lines.push('End of the long log 7310');
      document.getElementById('log').textContent = lines.join('\n');
    </script></body></html>"#;
    let url = serve(page.to_owned()).await;
    let (page, console, code) = share(&w, &parts, &url, None).await;
    // Read far down the log: the operator must see the same place.
    page.evaluate("window.scrollTo(0, 60000); true").await.or_report("scroll the log", &parts);
    join_until_asked(&page, &console, &code, &parts).await;
    assert_eq!(in_content_world(&page, &click_visitor_ui("allow")).await, Ok(json!(true)), "allow");
    // Only what is needed is read back: the console's whole state would be
    // the log twice over.
    let look = "(() => { const d = document.querySelector('#mirror')?.contentDocument; \
                const t = d?.body?.innerText ?? ''; \
                return [t.length, t.includes('End of the long log 7310'), \
                document.querySelector('#console-error')?.hidden ?? true, d?.scrollingElement?.scrollTop ?? -1]; })()";
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let seen = loop {
        let v = console.session.evaluate(look).await.unwrap_or(Value::Null);
        if v[1] == true && v[3].as_f64().unwrap_or(0.0) > 59_000.0 {
            break v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the log never showed in the console where the visitor reads: {v}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // The snapshot is larger still (JSON), over what the host once took in one frame (8 MiB).
    assert!(seen[0].as_u64().unwrap_or(0) > 9_000_000, "the whole log: {seen}");
    assert_eq!(seen[2], true, "no error in the console");
}

/// Page script that makes `bytes` of random base64 (so nothing deflates it
/// much), for the pages below.
const RANDOM_BASE64: &str = "function randomBase64(bytes) {
      const raw = new Uint8Array(bytes);
      for (let o = 0; o < raw.length; o += 65536) crypto.getRandomValues(raw.subarray(o, Math.min(o + 65536, raw.length)));
      let s = ''; for (let k = 0; k < raw.length; k += 8192) s += String.fromCharCode(...raw.subarray(k, k + 8192));
      return btoa(s);
    }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_full_of_inline_images_shows_them_all_in_the_console() {
    let _heavy = HEAVY.lock().await;
    let w = World::start(" B").await;
    let parts = w.parts();
    // A report with its charts inline, as exported notebooks are: 30 images
    // of 720 KB each, over what the relay takes in one frame once sealed.
    let page = format!(
        r#"<!doctype html><html><head><title>Report</title></head><body><h1>Charts 4411</h1><div id="charts"></div><script>
      {RANDOM_BASE64}
      const charts = document.getElementById('charts');
      for (let i = 0; i < 30; i++) {{
        const img = document.createElement('img'); img.width = 10; img.height = 10;
        img.src = 'data:image/png;base64,' + randomBase64(540000);
        charts.append(img);
      }}
    </script></body></html>"#
    );
    let url = serve(page).await;
    let (page, console, code) = share(&w, &parts, &url, None).await;
    join_until_asked(&page, &console, &code, &parts).await;
    assert_eq!(in_content_world(&page, &click_visitor_ui("allow")).await, Ok(json!(true)), "allow");
    let look = "(() => { const d = document.querySelector('#mirror')?.contentDocument; \
                const imgs = [...(d?.querySelectorAll('img') ?? [])]; \
                return [d?.body?.innerText ?? '', imgs.length, \
                imgs.filter(i => (i.getAttribute('src') ?? '').length > 700000).length, \
                document.querySelector('#console-error')?.hidden ?? true]; })()";
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let v = console.session.evaluate(look).await.unwrap_or(Value::Null);
        if v[2] == 30 {
            assert_eq!(v[3], true, "no error in the console: {v}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the images never all showed in the console: {v}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_of_a_page_too_large_to_send_is_named_in_the_console_and_the_rest_goes_on() {
    let _heavy = HEAVY.lock().await;
    let w = World::start(" B").await;
    let parts = w.parts();
    // One text node of 20 MB that does not compress: once sealed, over what
    // the relay takes, and no cut can make it smaller. (Hidden: Chromium
    // takes minutes to lay out a line that long.)
    let page = format!(
        r#"<!doctype html><html><head><title>Dump</title></head><body><h1>Dump 6203</h1><pre id="dump" hidden></pre><script>
      {RANDOM_BASE64}
      document.getElementById('dump').textContent = randomBase64(15000000);
    </script></body></html>"#
    );
    let url = serve(page).await;
    let (page, console, code) = share(&w, &parts, &url, None).await;
    join_until_asked(&page, &console, &code, &parts).await;
    assert_eq!(in_content_world(&page, &click_visitor_ui("allow")).await, Ok(json!(true)), "allow");
    let look = "(() => { const e = document.querySelector('#console-error'), d = document.querySelector('#mirror')?.contentDocument; \
                return [d?.body?.innerText ?? '', e && !e.hidden ? e.textContent : '', \
                d?.getElementById('dump')?.textContent?.length ?? -1]; })()";
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let v = console.session.evaluate(look).await.unwrap_or(Value::Null);
        let text = v[0].as_str().unwrap_or("");
        let error = v[1].as_str().unwrap_or("");
        if text.contains("Dump 6203") && !error.is_empty() {
            assert!(error.contains("too large to send"), "{error}");
            assert_eq!(v[2], 0, "the dump's element is there, and its text cannot have come through");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the console never named what is missing: {v}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // What the page does next still shows: the console did not fall into
    // asking for keyframes as large as the first.
    page.evaluate("document.body.append(Object.assign(document.createElement('p'), { textContent: 'After the dump 8812' })); true")
        .await
        .or_report("change the page", &parts);
    let v = console
        .session
        .wait_until("the later change", CONSOLE_JS, HEAVY_WAIT, |v| text_of(v).contains("After the dump 8812"))
        .await
        .or_report("console: the later change", &parts);
    assert!(text_of(&v).contains("Dump 6203"), "{}", text_of(&v));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frameset_page_shows_its_frames_side_by_side_in_the_console() {
    let w = World::start(" F").await;
    let parts = w.parts();
    // An intranet application of the old kind: a frameset, one frame nested.
    let origin = baton_e2e::pages::serve(|r: &baton_e2e::pages::Request| match r.path() {
        "/page" => Reply::html(
            r#"<html><head><title>Intranet</title></head><frameset cols="30%,*"><frame src="/menu"><frameset rows="80,*"><frame src="/top"><frame src="/main"></frameset></frameset></html>"#,
        ),
        "/menu" => Reply::html("<html><body><p>Menu frame 6101</p></body></html>"),
        "/top" => Reply::html("<html><body><p>Top frame 6102</p></body></html>"),
        "/main" => Reply::html("<html><body><p>Main frame 6103</p></body></html>"),
        _ => Reply::not_found(),
    })
    .await
    .expect("start the page server");
    let (page, console, code) = share(&w, &parts, &format!("{origin}/page"), None).await;
    join_until_asked(&page, &console, &code, &parts).await;
    assert_eq!(in_content_world(&page, &click_visitor_ui("allow")).await, Ok(json!(true)), "allow");
    // Each frame's text, with the box the frame has in the mirror.
    let look = "(() => { const d = document.querySelector('#mirror')?.contentDocument; \
                return [...(d?.querySelectorAll('[data-baton-frameset] iframe') ?? [])].map((f) => { \
                  const r = f.getBoundingClientRect(); \
                  return [f.contentDocument?.body?.innerText ?? '', Math.round(r.left), Math.round(r.top), Math.round(r.width), Math.round(r.height)]; }); })()";
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let frames = loop {
        let v = console.session.evaluate(look).await.unwrap_or(Value::Null);
        let texts: Vec<&str> =
            v.as_array().map(|a| a.iter().filter_map(|f| f[0].as_str()).collect()).unwrap_or_default();
        if texts.len() == 3 && texts.iter().all(|t| !t.is_empty()) {
            break v;
        }
        assert!(std::time::Instant::now() < deadline, "the frames never showed in the console: {v}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let [menu, top, main] = [&frames[0], &frames[1], &frames[2]];
    assert_eq!(
        (menu[0].as_str(), top[0].as_str(), main[0].as_str()),
        (Some("Menu frame 6101"), Some("Top frame 6102"), Some("Main frame 6103"))
    );
    let n = |v: &Value| v.as_i64().unwrap_or(-1);
    // The menu on the left; the top frame 80 px high above the main one, both to its right.
    assert!(n(&menu[3]) > 50 && n(&menu[4]) > 200, "the menu has room: {frames}");
    assert!(n(&top[1]) >= n(&menu[1]) + n(&menu[3]) && n(&main[1]) == n(&top[1]), "side by side: {frames}");
    assert_eq!(n(&top[4]), 80, "the top row's height: {frames}");
    assert!(n(&main[2]) >= n(&top[2]) + 80 && n(&main[4]) > 100, "the main frame below: {frames}");
    let state = console.state().await;
    assert!(state["console_error"].is_null(), "{}", state["console_error"]);
}

/// What the mirror shows of the page's top layer: each element's state
/// and box, the mirror's viewport height and scroll.
const TOP_LAYER_JS: &str = r#"(() => { const d = document.querySelector('#mirror')?.contentDocument; if (!d?.body) return null;
  const look = (el) => { if (!el) return null; const r = el.getBoundingClientRect();
    return { open: el.matches(':popover-open'), modal: el.matches(':modal'), shown: r.width > 0 && r.height > 0,
      x: Math.round(r.left), y: Math.round(r.top), w: Math.round(r.width), h: Math.round(r.height),
      on_top: el.getRootNode().elementFromPoint(r.left + r.width / 2, r.top + r.height / 2) === el }; };
  return { menu: look(d.querySelector('#menu')), dialog: look(d.querySelector('#dlg')),
    tip: look(d.querySelector('x-tip')?.shadowRoot?.querySelector('#tip')),
    vh: d.defaultView.innerHeight, sy: Math.round(d.defaultView.scrollY) }; })()"#;

/// A popover menu, a modal dialog and a popover in a closed shadow root:
/// the page shows them in the browser's top layer, above everything and
/// where they sit in the viewport, which no attribute tells. The operator
/// sees each where the visitor does, and sees them go.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pages_open_popovers_and_modal_dialog_show_on_top_in_the_console() {
    let w = World::start(" L").await;
    let parts = w.parts();
    let page = r#"<!doctype html><html><head><meta charset=utf-8><title>Top layer</title><style>
  body { margin: 0; height: 6000px; }
  .cover { position: relative; z-index: 10; height: 6000px; background: #eee; }
  [popover], dialog { padding: 0; border: 0; }
  #menu { margin: 0; inset: auto; left: 20px; top: 30px; width: 200px; height: 120px; }
  #dlg { width: 300px; height: 150px; }
</style></head><body>
<div class="cover"><p>Top layer page 6201</p></div>
<div id="menu" popover>Menu 6202</div>
<dialog id="dlg">Dialog 6203</dialog>
<x-tip></x-tip>
<script>
  const root = document.querySelector('x-tip').attachShadow({ mode: 'closed' });
  root.innerHTML = '<div id="tip" popover="manual" style="margin:0;inset:auto;right:10px;bottom:10px;width:100px;height:40px">Tip 6204</div>';
  window.tip = root.firstElementChild;
  window.scrollTo(0, 3000);
  document.querySelector('#menu').showPopover();
</script></body></html>"#;
    let (page, console) = share_one_page(&w, &parts, page.into(), "Top layer page 6201").await;

    // Open before sharing: the menu, on top, where the page put it.
    let v = console
        .wait_js("the open menu in the mirror", TOP_LAYER_JS, |v| v["menu"]["open"] == true && v["sy"] == 3000)
        .await;
    let menu = &v["menu"];
    assert_eq!((&menu["x"], &menu["y"], &menu["w"], &menu["h"]), (&json!(20), &json!(30), &json!(200), &json!(120)));
    assert_eq!(menu["on_top"], true, "the menu above the page's cover: {v}");
    assert_eq!(v["dialog"]["shown"], false, "the closed dialog: {v}");

    // Shown while shared: a popover of a closed shadow tree, above the menu.
    page.evaluate("window.tip.showPopover(); true").await.or_report("open the tip", &parts);
    let v = console.wait_js("the tip in the mirror", TOP_LAYER_JS, |v| v["tip"]["open"] == true).await;
    assert_eq!((v["tip"]["on_top"].clone(), v["menu"]["open"].clone()), (json!(true), json!(true)), "{v}");

    // A modal dialog: in the middle of the viewport, above the tip; the
    // page's menu (an `auto` popover) closes, as it does for the visitor.
    page.evaluate("document.querySelector('#dlg').showModal(); true").await.or_report("open the dialog", &parts);
    let v = console
        .wait_js("the modal dialog in the mirror", TOP_LAYER_JS, |v| {
            v["dialog"]["modal"] == true && v["menu"]["open"] == false
        })
        .await;
    let (dialog, vh) = (&v["dialog"], v["vh"].as_i64().unwrap_or(0));
    let top = dialog["y"].as_i64().unwrap_or(-1);
    assert!(vh > 300 && (top - (vh - 150) / 2).abs() <= 2, "the dialog in the middle of the viewport: {v}");
    assert_eq!((dialog["on_top"].clone(), v["tip"]["open"].clone()), (json!(true), json!(true)), "{v}");
    let visitor = page
        .evaluate("[document.querySelector('#menu').matches(':popover-open'), window.tip.matches(':popover-open')]");
    assert_eq!(visitor.await.or_report("the visitor's popovers", &parts), json!([false, true]));

    // Closed on the visitor's page: gone from the mirror.
    page.evaluate("document.querySelector('#dlg').close(); window.tip.hidePopover(); true")
        .await
        .or_report("close them", &parts);
    let v = console
        .wait_js("nothing on top in the mirror", TOP_LAYER_JS, |v| {
            v["menu"]["open"] == false && v["dialog"]["modal"] == false && v["tip"]["open"] == false
        })
        .await;
    for part in ["menu", "dialog", "tip"] {
        assert_eq!(v[part]["shown"], false, "{part} hidden: {v}");
    }
    console.assert_no_error().await;
}

/// Moves the visitor's mouse to the middle of what `js` (an element, in
/// the page) is, through the browser's input: a real `:hover`.
async fn hover_over(page: &Session, js: &str, parts: &[&dyn Diagnose]) {
    let rect = format!("(() => {{ const r = ({js}).getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; }})()");
    let at = page.evaluate(&rect).await.or_report("where the element is", parts);
    let event = json!({"type": "mouseMoved", "x": at[0], "y": at[1]});
    page.call("Input.dispatchMouseEvent", event).await.or_report("move the mouse", parts);
}

/// A menu that opens on `:hover` and a button in a shadow tree styled on
/// `:hover`: the operator sees them as the visitor's pointer makes them,
/// not as the operator's own pointer would.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn what_the_visitors_pointer_hovers_shows_hovered_in_the_console() {
    let w = World::start(" H").await;
    let parts = w.parts();
    let page = r#"<!doctype html><html><head><meta charset=utf-8><title>Hover</title><style>
  body { margin: 0; }
  nav ul { margin: 0; padding: 0; }
  nav li { display: inline-block; position: relative; width: 160px; height: 40px; }
  nav li ul { display: none; position: absolute; top: 40px; left: 0; }
  nav li:hover > ul { display: block; }
  x-card { display: block; margin-top: 200px; }
</style></head><body>
<nav><ul><li id="products">Products 6301<ul id="sub"><li>Laptops 6302</li></ul></li><li id="help">Help 6303</li></ul></nav>
<x-card></x-card>
<script>
  const root = document.querySelector('x-card').attachShadow({ mode: 'open' });
  root.innerHTML = '<style>button { width: 120px; height: 40px; outline: none; } button:hover { outline: 3px solid red; }</style><button>Buy 6304</button>';
</script></body></html>"#;
    let (page, console) = share_one_page(&w, &parts, page.into(), "Products 6301").await;
    let look = "(() => { const d = document.querySelector('#mirror')?.contentDocument; if (!d?.body) return null;
      const w = d.defaultView; const button = d.querySelector('x-card')?.shadowRoot?.querySelector('button');
      return { menu: w.getComputedStyle(d.querySelector('#sub')).display,
               button: button ? w.getComputedStyle(button).outlineStyle : null }; })()";
    let v = console.wait_js("the mirror", look, |v| v["menu"].is_string() && v["button"].is_string()).await;
    assert_eq!(v, json!({"menu": "none", "button": "none"}), "nothing hovered yet");

    hover_over(&page, "document.querySelector('#products')", &parts).await;
    console.wait_js("the menu open in the mirror", look, |v| v["menu"] == "block").await;
    hover_over(&page, "document.querySelector('#help')", &parts).await;
    console.wait_js("the menu closed in the mirror", look, |v| v["menu"] == "none").await;
    hover_over(&page, "document.querySelector('x-card').shadowRoot.querySelector('button')", &parts).await;
    let v = console.wait_js("the button hovered in the mirror", look, |v| v["button"] == "solid").await;
    assert_eq!(v["menu"], "none");
    console.assert_no_error().await;
}

/// A chart drawn on a `<canvas>`, drawn again later; a canvas in a private
/// block; a canvas the browser will not let be read (an image from another
/// site drawn on it). Drawing changes no attribute: the operator sees the
/// chart's picture and its redrawing, and nothing of the other two.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chart_drawn_on_a_canvas_and_drawn_again_shows_in_the_console() {
    let w = World::start(" C").await;
    let parts = w.parts();
    let other = baton_e2e::pages::serve(|r: &baton_e2e::pages::Request| match r.path() {
        "/photo.svg" => Reply::ok(
            "image/svg+xml",
            br#"<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><rect width="40" height="40" fill="blue"/></svg>"#
                .to_vec(),
        ),
        _ => Reply::not_found(),
    })
    .await
    .expect("start the other site");
    let page = format!(
        r#"<!doctype html><html><head><meta charset=utf-8><title>Chart</title></head><body>
<p>Sales chart 6501</p>
<canvas id="chart" width="200" height="100"></canvas>
<div data-baton-private><canvas id="signature" width="100" height="50"></canvas></div>
<canvas id="tainted" width="40" height="40"></canvas>
<script>
  const fill = (id, color) => {{ const c = document.getElementById(id).getContext('2d'); c.fillStyle = color; c.fillRect(0, 0, 400, 400); }};
  fill('chart', 'rgb(128, 0, 128)');
  fill('signature', 'rgb(255, 0, 0)');
  const img = new Image(); img.onload = () => document.getElementById('tainted').getContext('2d').drawImage(img, 0, 0);
  img.src = '{other}/photo.svg';
  window.redraw = () => fill('chart', 'rgb(0, 160, 0)');
</script></body></html>"#
    );
    let (page, console) = share_one_page(&w, &parts, page, "Sales chart 6501").await;
    let look = "(() => { const d = document.querySelector('#mirror')?.contentDocument; if (!d?.body) return null;
      const pixel = (sel) => { const c = d.querySelector(sel); return c ? [...c.getContext('2d').getImageData(c.width / 2, c.height / 2, 1, 1).data] : null; };
      return { chart: pixel('#chart'), tainted: pixel('#tainted'), signature: d.querySelectorAll('#signature').length }; })()";
    let v = console.wait_js("the chart in the mirror", look, |v| v["chart"] == json!([128, 0, 128, 255])).await;
    assert_eq!(v["signature"], 0, "the private canvas is not in the mirror: {v}");
    page.evaluate("window.redraw(); true").await.or_report("draw the chart again", &parts);
    console.wait_js("the chart drawn again in the mirror", look, |v| v["chart"] == json!([0, 160, 0, 255])).await;
    let tainted = page.evaluate("(() => { try { document.getElementById('tainted').toDataURL(); return false; } catch (e) { return e.name; } })()");
    assert_eq!(tainted.await.or_report("the tainted canvas", &parts), json!("SecurityError"));
    let v = console.session.evaluate(look).await.or_report("the mirror", &parts);
    assert_eq!(v["tainted"], json!([0, 0, 0, 0]), "nothing of the unreadable canvas: {v}");
    console.assert_no_error().await;
}

/// A field styled on `:focus` and a menu that opens on `:focus-within`:
/// the operator sees them as the visitor's focus makes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn where_the_visitors_focus_is_shows_focused_in_the_console() {
    let w = World::start(" F2").await;
    let parts = w.parts();
    let page = r#"<!doctype html><html><head><meta charset=utf-8><title>Focus</title><style>
  input { outline: none; }
  input:focus-visible { outline: 3px solid blue; }
  .menu ul { display: none; }
  .menu:focus-within ul { display: block; }
</style></head><body>
<p>Focus page 6601</p>
<input id="name" name="name">
<div class="menu"><button id="open">Account 6602</button><ul id="items"><li>Sign out 6603</li></ul></div>
</body></html>"#;
    let (page, console) = share_one_page(&w, &parts, page.into(), "Focus page 6601").await;
    let look = "(() => { const d = document.querySelector('#mirror')?.contentDocument; if (!d?.body) return null;
      const w = d.defaultView;
      return { field: w.getComputedStyle(d.querySelector('#name')).outlineStyle,
               menu: w.getComputedStyle(d.querySelector('#items')).display }; })()";
    let v = console.wait_js("the mirror", look, |v| v["field"].is_string()).await;
    assert_eq!(v, json!({"field": "none", "menu": "none"}), "nothing focused yet");
    page.evaluate("document.querySelector('#name').focus(); true").await.or_report("focus the field", &parts);
    let v = console.wait_js("the field focused in the mirror", look, |v| v["field"] == "solid").await;
    assert_eq!(v["menu"], "none");
    page.evaluate("document.querySelector('#open').focus(); true").await.or_report("focus the menu", &parts);
    let v = console.wait_js("the menu open in the mirror", look, |v| v["menu"] == "block").await;
    assert_eq!(v["field"], "none");
    page.evaluate("document.activeElement.blur(); true").await.or_report("blur", &parts);
    console.wait_js("nothing focused in the mirror", look, |v| v["menu"] == "none" && v["field"] == "none").await;
    console.assert_no_error().await;
}

/// A page of web components that hides them until they are defined, as
/// component libraries advise (`:not(:defined)`): the mirror defines no
/// element (it runs no script), and must not hide them for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn web_components_hidden_until_defined_show_in_the_console() {
    let w = World::start(" D").await;
    let parts = w.parts();
    let page = r#"<!doctype html><html><head><meta charset=utf-8><title>Components</title><style>
  :not(:defined) { visibility: hidden; }
  x-badge:defined { display: inline-block; padding: 0 20px; }
</style></head><body>
<p>Components page 6701</p>
<x-badge>New 6702</x-badge>
<script>
  customElements.define('x-badge', class extends HTMLElement {
    constructor() { super(); this.attachShadow({ mode: 'open' }).innerHTML = '<b><slot></slot></b>'; }
  });
</script></body></html>"#;
    let (_page, console) = share_one_page(&w, &parts, page.into(), "Components page 6701").await;
    let look =
        "(() => { const d = document.querySelector('#mirror')?.contentDocument; const b = d?.querySelector('x-badge');
      if (!b) return null; const s = d.defaultView.getComputedStyle(b);
      return { visibility: s.visibility, display: s.display, padding: s.paddingLeft }; })()";
    let v = console.wait_js("the component in the mirror", look, |v| v.is_object()).await;
    assert_eq!(v, json!({"visibility": "visible", "display": "inline-block", "padding": "20px"}));
    console.assert_no_error().await;
}

/// Stylesheets and URLs as the visitor's browser reads them: a linked
/// sheet's relative URLs are relative to it, not to the page; imported
/// sheets hold rules, under their imports' conditions (media, layer); a
/// sheet linked later brings its imports too; the page's own relative
/// URLs resolve against its `<base href>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stylesheets_and_urls_resolve_as_in_the_visitors_browser() {
    let w = World::start(" S1").await;
    let parts = w.parts();
    let css = |text: &str| Reply::ok("text/css", text.as_bytes().to_vec());
    let origin = baton_e2e::pages::serve(move |r: &baton_e2e::pages::Request| match r.path() {
        "/shop/item/page.html" => Reply::html(
            r#"<!doctype html><html><head><meta charset=utf-8><title>Sheets</title>
<style>@import url(/css/a.css) screen; @import url(/css/print.css) print; @import url(/css/layered.css) layer(base);
  #l { color: rgb(0, 128, 0); }</style>
<link rel=stylesheet href=/static/css/site.css><base href="/assets/v2/">
<style>#b { background-image: url(bg.png); }</style>
</head><body><p>Sheets page 6801</p><img id=logo src="logo.png" alt=""><p id=b>b</p><p id=a>a</p><p id=n>n</p><p id=p>p</p><p id=l>l</p><p id=s>s</p><p id=late>late</p>
<script>window.later = () => { const l = document.createElement('link'); l.rel = 'stylesheet'; l.href = '/css/later.css'; document.head.append(l); };</script>
</body></html>"#,
        ),
        "/css/a.css" => css("@import url(nested.css); #a { color: rgb(1, 2, 3); }"),
        "/css/nested.css" => css("#n { color: rgb(7, 8, 9); background-image: url(img/n.png); }"),
        "/css/print.css" => css("#p { color: rgb(255, 0, 0); }"),
        "/css/layered.css" => css("html body #l { color: rgb(0, 0, 255); }"),
        "/static/css/site.css" => css("#s { background-image: url(../img/dot.png); }"),
        "/css/later.css" => css("@import url(later-inner.css);"),
        "/css/later-inner.css" => css("#late { color: rgb(4, 5, 6); }"),
        _ => Reply::not_found(),
    })
    .await
    .or_report("start the page server", &parts);
    let url = format!("{origin}/shop/item/page.html");
    let (page, console, _, _) = share_and_join(&w, &parts, &url, "Sheets page 6801", false).await;
    let look = "(() => { const d = document.querySelector('#mirror')?.contentDocument; if (!d?.body) return null;
      const s = (sel) => d.defaultView.getComputedStyle(d.querySelector(sel));
      return { a: s('#a').color, n: s('#n').color, n_bg: s('#n').backgroundImage, p: s('#p').color, l: s('#l').color,
        s_bg: s('#s').backgroundImage, late: s('#late').color, b_bg: s('#b').backgroundImage,
        logo: d.querySelector('#logo').getAttribute('src') }; })()";
    let v = console.wait_js("the imported rules in the mirror", look, |v| v["a"] == "rgb(1, 2, 3)").await;
    assert_eq!(v["n"], "rgb(7, 8, 9)", "an import inside an import: {v}");
    assert_eq!(v["n_bg"], format!("url(\"{origin}/css/img/n.png\")"), "relative to the imported sheet: {v}");
    assert_ne!(v["p"], "rgb(255, 0, 0)", "a print-only import stays print-only: {v}");
    assert_eq!(v["l"], "rgb(0, 128, 0)", "an import into a layer stays below unlayered rules: {v}");
    assert_eq!(v["s_bg"], format!("url(\"{origin}/static/img/dot.png\")"), "relative to the linked sheet: {v}");
    assert_eq!(v["logo"], format!("{origin}/assets/v2/logo.png"), "relative to the page's base: {v}");
    assert_eq!(v["b_bg"], format!("url(\"{origin}/assets/v2/bg.png\")"), "a page's sheet, relative to its base: {v}");
    page.evaluate("window.later(); true").await.or_report("link a sheet later", &parts);
    console.wait_js("a later sheet's import in the mirror", look, |v| v["late"] == "rgb(4, 5, 6)").await;
    console.assert_no_error().await;
}

/// The page styled for the visitor's settings, not the operator's: a
/// dark theme by media query, by `light-dark()` and by `<picture>`, and
/// the mirror following when the visitor switches.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_page_shows_in_the_visitors_color_scheme_not_the_operators() {
    let w = World::start(" S2").await;
    let parts = w.parts();
    let page = r#"<!doctype html><html><head><meta charset=utf-8><title>Theme</title>
<meta name="color-scheme" content="light dark">
<style>#m { color: rgb(0, 0, 1); } @media screen and (prefers-color-scheme: dark) { #m { color: rgb(0, 0, 2); } }
  #ld { color: light-dark(rgb(0, 1, 0), rgb(0, 2, 0)); }</style>
</head><body><p>Theme page 6901</p><p id=m>m</p><p id=ld>ld</p>
<picture><source media="(prefers-color-scheme: dark)" srcset="/dark.png"><img id=pic src="/light.png" alt=""></picture>
</body></html>"#;
    let (visitor, console) = share_one_page(&w, &parts, page.into(), "Theme page 6901").await;
    let scheme = |on: &Session, value: &'static str| {
        let features = json!({"features": [{"name": "prefers-color-scheme", "value": value}]});
        let on = on.clone();
        async move { on.call("Emulation.setEmulatedMedia", features).await }
    };
    scheme(&console.session, "dark").await.or_report("the operator's dark theme", &parts);
    let look = "(() => { const d = document.querySelector('#mirror')?.contentDocument; if (!d?.body) return null;
      const s = (sel) => d.defaultView.getComputedStyle(d.querySelector(sel));
      return { m: s('#m').color, ld: s('#ld').color, pic: (d.querySelector('#pic').currentSrc || '').split('/').pop() }; })()";
    let light = json!({"m": "rgb(0, 0, 1)", "ld": "rgb(0, 1, 0)", "pic": "light.png"});
    let v = console
        .wait_js("the visitor's light page", look, |v| v.is_object() && !v["pic"].as_str().unwrap_or("").is_empty())
        .await;
    assert_eq!(v, light, "the operator's dark theme does not reach the mirror");
    scheme(&visitor, "dark").await.or_report("the visitor's dark theme", &parts);
    let dark = json!({"m": "rgb(0, 0, 2)", "ld": "rgb(0, 2, 0)", "pic": "dark.png"});
    console.wait_js("the visitor's dark page", look, |v| *v == dark).await;
    scheme(&console.session, "light").await.or_report("the operator's light theme", &parts);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(console.session.evaluate(look).await.or_report("the mirror", &parts), dark);
    console.assert_no_error().await;
}

/// A single-page app moving with `history.pushState` and setting its
/// title: the console names the page as the visitor's tab does, and what
/// the app adds after moving resolves against its new address.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_app_that_moves_without_loading_shows_its_new_address_in_the_console() {
    let w = World::start(" A1").await;
    let parts = w.parts();
    let page = r#"<!doctype html><html><head><meta charset=utf-8><title>Inbox</title></head><body>
<p>App page 7001</p><main id=view></main>
<script>window.go = () => {
  history.pushState({}, '', '/app/settings/profile');
  document.title = 'Settings';
  document.getElementById('view').innerHTML = '<img id=avatar src="avatar.png" alt=""><p>Settings view 7002</p>';
};</script></body></html>"#;
    let (visitor, console) = share_one_page(&w, &parts, page.into(), "App page 7001").await;
    let origin = visitor.evaluate("location.origin").await.or_report("the page's origin", &parts);
    let origin = origin.as_str().unwrap_or_default().to_owned();
    visitor.evaluate("window.go(); true").await.or_report("move the app", &parts);
    let look = "(() => ({ url: document.querySelector('#page-url')?.textContent, title: document.querySelector('#page-title')?.textContent,
      avatar: document.querySelector('#mirror')?.contentDocument?.querySelector('#avatar')?.getAttribute('src') ?? null }))()";
    let want = json!({"url": format!("{origin}/app/settings/profile"), "title": "Settings",
        "avatar": format!("{origin}/app/settings/avatar.png")});
    console.wait_js("the app's new address in the console", look, |v| *v == want).await;
    console.assert_no_error().await;
}
