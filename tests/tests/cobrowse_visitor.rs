//! Co-browsing, the visitor's side, with real parts: one Chromium visitor
//! (the built extension and its own `baton-host`), a real `baton-server`,
//! and the operator played by a `baton-host` driven over pipes.
//!
//! The visitor shares a page from the popup, the operator joins with the
//! code, the visitor approves in the page's prompt (driven from the content
//! script's world, the only place that reaches Baton's closed shadow root),
//! frames reach the operator; control is refused before a grant and after a
//! revoke, a granted click lands on the right element (a counter in the
//! page); a pushed app appears, holds, resumes and disappears on pull; the
//! operator's marks show and annotations clear on scroll; the tab navigates
//! and the session follows (navigated, then a new snapshot); Stop removes
//! everything Baton injected.

use std::time::Duration;

use baton_e2e::{
    click_visitor_ui, in_content_world, pages, wait_in_content_world, Device, DeviceOptions, NativeHost, OrReport,
    Popup, ServerProcess, Session, BATON_IN_PAGE_JS, VISITOR_UI_JS,
};
use serde_json::{json, Value};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(15);
const OPERATOR: &str = "Sam Support";

const PAGE: &str = r#"<!doctype html><html><head><meta charset=utf-8><title>Shop</title></head><body>
<h1>Checkout</h1>
<button id="target" onclick="window.clicks = (window.clicks || 0) + 1; document.querySelector('#count').textContent = String(window.clicks)">Pay</button>
<button id="other" onclick="window.others = (window.others || 0) + 1">Other</button>
<p>Clicks: <span id="count">0</span></p>
<p><label>Name <input id="name" name="name" type="text"></label></p>
<div data-baton-private><input id="secret" name="secret" type="text"></div>
<div style="height: 3000px">Long content</div>
</body></html>"#;

async fn serve_page() -> String {
    let origin = pages::serve_page(PAGE, &[]).await.expect("start the page server");
    format!("{origin}/shop")
}

/// Polls the content script's world until `done` holds.
async fn wait_content(page: &Session, what: &str, expression: &str, done: impl Fn(&Value) -> bool) -> Value {
    wait_in_content_world(page, what, expression, WAIT, done).await.unwrap_or_else(|e| panic!("{e}"))
}

fn frame_of(event: &Value) -> Option<&Value> {
    (event["type"] == "cobrowse" && event["event"]["e"] == "frame" && event["event"]["frame"]["dir"] == "visitor")
        .then(|| &event["event"]["frame"]["frame"])
}

/// The id of the element whose `id` attribute is `dom_id`, in a snapshot's tree.
/// The node id of the element with this DOM id, with the ids the capture
/// left implicit filled in (`baton_shared::cobrowse::resolve_ids`).
fn node_id(node: &Value, dom_id: &str) -> Option<u64> {
    let mut root: baton_shared::cobrowse::Node = serde_json::from_value(node.clone()).ok()?;
    baton_shared::cobrowse::resolve_ids(&mut root);
    find_id(&serde_json::to_value(&root).ok()?, dom_id)
}

fn find_id(node: &Value, dom_id: &str) -> Option<u64> {
    let attrs = node["a"].as_array().map(Vec::as_slice).unwrap_or_default();
    if attrs.iter().any(|a| a[0] == "id" && a[1] == dom_id) {
        return node["i"].as_u64();
    }
    node["c"].as_array()?.iter().find_map(|c| find_id(c, dom_id))
}

async fn operator_send(op: &mut NativeHost, session: &str, frame: Value) {
    let reply = op
        .request(json!({"type": "cobrowse_send", "session_id": session, "frame": {"dir": "operator", "frame": frame}}))
        .await
        .expect("send an operator frame");
    assert_eq!(reply["type"], "ack", "operator frame accepted: {reply}");
}

async fn next_visitor_frame(op: &mut NativeHost, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let event =
        op.wait_event(what, WAIT, |e| frame_of(e).is_some_and(&pred)).await.unwrap_or_else(|e| panic!("{what}: {e}"));
    frame_of(&event).cloned().unwrap_or_default()
}

/// A server, the visitor's browser and the operator's host, registered.
async fn visitor_and_operator(dir: &std::path::Path) -> (ServerProcess, Device, NativeHost) {
    let server = ServerProcess::start(dir.join("server.sqlite3")).await.expect("start baton-server");
    let device = Device::start(DeviceOptions::new("Visitor Laptop", server.url()))
        .await
        .or_report("start the visitor", &[&server]);
    let parts: [&dyn baton_e2e::Diagnose; 2] = [&device, &server];
    let mut op = NativeHost::start(&dir.join("operator"), server.url(), OPERATOR)
        .await
        .or_report("start the operator's host", &parts);
    op.wait_status("operator registered", CONNECT_TIMEOUT, |s| {
        s["server"]["state"] == "connected" && !s["device"].is_null()
    })
    .await
    .or_report("operator registered", &parts);
    (server, device, op)
}

/// Opens `url` in the visitor's browser and shares it from the popup
/// (opened as a tab: "this tab" is the page, used last): the page, the
/// popup and the session code.
async fn open_and_share(device: &Device, url: &str, parts: &[&dyn baton_e2e::Diagnose]) -> (Session, Popup, String) {
    let page = device.browser().cdp().open_page(url).await.or_report("open the page", parts);
    page.wait_for("document.readyState === 'complete'", WAIT).await.or_report("page loaded", parts);
    wait_content(&page, "the content script", "typeof chrome.runtime?.id === 'string'", |v| v == &json!(true)).await;
    let popup = device.popup().await.or_report("open the popup", parts);
    popup
        .wait_until("connected", CONNECT_TIMEOUT, |s| s.host_is("connected") && s.server_is("connected"))
        .await
        .or_report("popup connected", parts);
    let code = popup.share_code(WAIT).await.or_report("share this tab", parts);
    (page, popup, code)
}

async fn command(op: &mut NativeHost, session: &str, cmd_id: u64, command: Value) -> Value {
    operator_send(op, session, json!({"k": "command", "cmd_id": cmd_id, "command": command})).await;
    next_visitor_frame(op, &format!("result of command {cmd_id}"), |f| {
        f["k"] == "command_result" && f["cmd_id"] == cmd_id
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitor_shares_consents_controls_gets_apps_and_stops() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, device, mut op) = visitor_and_operator(dir.path()).await;
    let parts: [&dyn baton_e2e::Diagnose; 2] = [&device, &server];

    let url = serve_page().await;
    let (page, popup, code) = open_and_share(&device, &url, &parts).await;
    let ui = wait_content(&page, "the bar with the code", VISITOR_UI_JS, |v| v["state"] == "waiting").await;
    assert!(ui["text"].as_str().is_some_and(|t| t.contains(&code)), "the bar shows the code: {ui}");

    // The operator joins; the visitor is asked by name and approves (no recording).
    let joined = op.call(json!({"type": "operator_join", "code": code})).await.or_report("operator joins", &parts);
    let session = joined["session_id"].as_str().expect("session id").to_owned();
    let ui = wait_content(&page, "the consent prompt", VISITOR_UI_JS, |v| v["consent"] == true).await;
    assert!(ui["text"].as_str().is_some_and(|t| t.contains(OPERATOR)), "the prompt names the operator: {ui}");
    assert_eq!(in_content_world(&page, &click_visitor_ui("allow")).await, Ok(json!(true)));
    wait_content(&page, "the active bar", VISITOR_UI_JS, |v| v["state"] == "active" && v["consent"] == false).await;
    popup
        .session()
        .wait_until("popup active", "document.querySelector('#share-state')?.dataset.state", WAIT, |v| v == "active")
        .await
        .or_report("popup follows the session", &parts);

    // Frames reach the operator: a snapshot with the page's elements.
    let snapshot = next_visitor_frame(&mut op, "a snapshot", |f| f["k"] == "snapshot").await;
    let target = node_id(&snapshot["root"], "target").expect("the button is in the snapshot");
    let name = node_id(&snapshot["root"], "name").expect("the name field is in the snapshot");
    let clicks = || page.evaluate("window.clicks || 0");

    // Control: refused before a grant.
    let result = command(&mut op, &session, 1, json!({"c": "click", "id": target})).await;
    assert_eq!(result["ok"], false, "refused before a grant: {result}");
    assert_eq!(clicks().await.or_report("read the counter", &parts), json!(0));

    // The operator asks; the visitor grants click only.
    operator_send(&mut op, &session, json!({"k": "control_request", "scopes": ["click", "type"]})).await;
    wait_content(&page, "the control prompt", VISITOR_UI_JS, |v| v["control"] == true).await;
    assert_eq!(in_content_world(&page, &click_visitor_ui("scope-click")).await, Ok(json!(true)));
    assert_eq!(in_content_world(&page, &click_visitor_ui("grant")).await, Ok(json!(true)));
    let grants = next_visitor_frame(&mut op, "grants", |f| f["k"] == "grants").await;
    assert_eq!(grants["scopes"], json!(["click"]));

    // A granted click lands on the right element; typing was not granted.
    let result = command(&mut op, &session, 2, json!({"c": "click", "id": target})).await;
    assert_eq!(result["ok"], true, "granted click: {result}");
    assert_eq!(clicks().await.or_report("read the counter", &parts), json!(1));
    assert_eq!(page.evaluate("window.others || 0").await.or_report("other button", &parts), json!(0));
    let result = command(&mut op, &session, 3, json!({"c": "type_text", "id": name, "text": "x"})).await;
    assert_eq!(result["ok"], false, "type scope not granted: {result}");

    // Ids are given anew with each snapshot: a command naming a replaced
    // snapshot is refused; naming the current one, it runs.
    let generation = snapshot["generation"].as_u64().expect("the snapshot names its generation");
    operator_send(&mut op, &session, json!({"k": "keyframe_request"})).await;
    let fresh = next_visitor_frame(&mut op, "a fresh snapshot", |f| f["k"] == "snapshot").await;
    assert_eq!(fresh["generation"].as_u64(), Some(generation + 1), "{}", fresh["generation"]);
    let fresh_target = node_id(&fresh["root"], "target").expect("the button is in the fresh snapshot");
    for (cmd_id, g, ok) in [(20, generation, false), (21, generation + 1, true)] {
        let click =
            json!({"k": "command", "cmd_id": cmd_id, "generation": g, "command": {"c": "click", "id": fresh_target}});
        operator_send(&mut op, &session, click).await;
        let result =
            next_visitor_frame(&mut op, "a click's result", |f| f["k"] == "command_result" && f["cmd_id"] == cmd_id)
                .await;
        assert_eq!(result["ok"], ok, "click naming generation {g}: {result}");
    }
    assert_eq!(clicks().await.or_report("read the counter", &parts), json!(2), "only the current snapshot's click ran");

    // Revoked from the bar: refused again.
    assert_eq!(in_content_world(&page, &click_visitor_ui("revoke-click")).await, Ok(json!(true)));
    let grants = next_visitor_frame(&mut op, "grants after revoke", |f| f["k"] == "grants").await;
    assert_eq!(grants["scopes"], json!([]));
    let result = command(&mut op, &session, 4, json!({"c": "click", "id": target})).await;
    assert_eq!(result["ok"], false, "refused after revoke: {result}");
    assert_eq!(clicks().await.or_report("read the counter", &parts), json!(2));

    // The operator's marks: pointer, an annotation that clears on scroll.
    operator_send(&mut op, &session, json!({"k": "pointer", "x": 40, "y": 50})).await;
    operator_send(&mut op, &session, json!({"k": "annotation", "points": [[1, 2], [30, 40]], "color": "#ff0000"}))
        .await;
    wait_content(&page, "pointer and stroke", VISITOR_UI_JS, |v| v["pointer"] == true && v["strokes"] == 1).await;
    // Scroll events run with rendering, which a background tab does not do.
    page.call("Page.bringToFront", json!({})).await.or_report("show the page", &parts);
    page.evaluate("window.scrollTo(0, 400)").await.or_report("scroll", &parts);
    wait_content(&page, "strokes cleared on scroll", VISITOR_UI_JS, |v| v["strokes"] == 0).await;

    // A pushed app appears, holds, resumes and disappears on pull.
    let form =
        json!({"app": "form", "title": "Address", "fields": [{"name": "city", "label": "City", "value": "Lyon"}]});
    operator_send(&mut op, &session, json!({"k": "push_app", "app_id": "addr", "app": form})).await;
    let state = next_visitor_frame(&mut op, "app pushed", |f| f["k"] == "app_state").await;
    assert_eq!((state["app_id"].as_str(), state["state"].as_str()), (Some("addr"), Some("pushed")));
    let ui = wait_content(&page, "the app in the page", VISITOR_UI_JS, |v| v["apps"][0]["state"] == "pushed").await;
    assert_eq!(ui["apps"][0]["sandbox"], "allow-scripts allow-forms", "sandboxed without same-origin: {ui}");
    assert!(ui["apps"][0]["src"].as_str().is_some_and(|s| s.starts_with("chrome-extension://")), "{ui}");
    operator_send(&mut op, &session, json!({"k": "hold_app", "app_id": "addr"})).await;
    let state = next_visitor_frame(&mut op, "app held", |f| f["k"] == "app_state").await;
    assert_eq!(state["state"], "held");
    wait_content(&page, "the app held", VISITOR_UI_JS, |v| v["apps"][0]["state"] == "held").await;
    operator_send(&mut op, &session, json!({"k": "resume_app", "app_id": "addr"})).await;
    let state = next_visitor_frame(&mut op, "app resumed", |f| f["k"] == "app_state").await;
    assert_eq!(state["state"], "pushed");
    operator_send(&mut op, &session, json!({"k": "pull_app", "app_id": "addr"})).await;
    let state = next_visitor_frame(&mut op, "app pulled", |f| f["k"] == "app_state").await;
    assert_eq!(state["state"], "pulled");
    wait_content(&page, "the app gone", VISITOR_UI_JS, |v| v["apps"] == json!([])).await;

    // Leaving the page pulls every app and takes it out of the page (a page
    // kept in the back/forward cache comes back without it).
    operator_send(&mut op, &session, json!({"k": "push_app", "app_id": "addr2", "app": form})).await;
    next_visitor_frame(&mut op, "second app pushed", |f| f["k"] == "app_state" && f["app_id"] == "addr2").await;
    wait_content(&page, "the second app in the page", VISITOR_UI_JS, |v| v["apps"][0]["state"] == "pushed").await;
    page.evaluate("window.dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true })); true")
        .await
        .or_report("the page is left", &parts);
    let state =
        next_visitor_frame(&mut op, "apps pulled on leaving", |f| f["k"] == "app_state" && f["app_id"] == "addr2")
            .await;
    assert_eq!(state["state"], "pulled");
    wait_content(&page, "no app left in the page", VISITOR_UI_JS, |v| v["apps"] == json!([])).await;

    // The tab navigates while shared: the new page is told, the operator
    // learns of the navigation, then gets a fresh snapshot.
    let next = format!("{url}?page=2");
    page.navigate(&next, WAIT).await.or_report("navigate the shared tab", &parts);
    let navigated = next_visitor_frame(&mut op, "navigated", |f| f["k"] == "navigated").await;
    assert_eq!(navigated["url"], next.as_str());
    next_visitor_frame(&mut op, "the new page's snapshot", |f| f["k"] == "snapshot").await;
    wait_content(&page, "the bar on the new page", VISITOR_UI_JS, |v| v["state"] == "active").await;

    // Stop from the bar: the operator learns it ended, and nothing Baton
    // injected is left in the page.
    assert_eq!(in_content_world(&page, &click_visitor_ui("stop")).await, Ok(json!(true)));
    op.wait_event("the session ended", WAIT, |e| {
        e["type"] == "cobrowse" && e["session_id"] == session.as_str() && e["event"]["e"] == "ended"
    })
    .await
    .or_report("operator sees the end", &parts);
    let left = page
        .wait_until("no Baton UI left", BATON_IN_PAGE_JS, WAIT, |v| v == &json!(0))
        .await
        .or_report("injected UI removed", &parts);
    assert_eq!(left, json!(0));
    popup
        .session()
        .wait_until("popup off", "document.querySelector('#share-state')?.dataset.state", WAIT, |v| v == "off")
        .await
        .or_report("popup back to off", &parts);
}

/// A page shared and approved, with the operator joined over the real
/// server: what the tests below start from.
struct Active {
    _dir: tempfile::TempDir,
    server: ServerProcess,
    device: Device,
    op: NativeHost,
    page: Session,
    session: String,
    /// The first snapshot the operator got.
    snapshot: Value,
}

async fn active_session(html: &str) -> Active {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, device, mut op) = visitor_and_operator(dir.path()).await;
    let parts: [&dyn baton_e2e::Diagnose; 2] = [&device, &server];
    let origin = pages::serve_page(html, &[]).await.expect("start the page server");
    let (page, _popup, code) = open_and_share(&device, &format!("{origin}/page"), &parts).await;
    let joined = op.call(json!({"type": "operator_join", "code": code})).await.or_report("operator joins", &parts);
    let session = joined["session_id"].as_str().expect("session id").to_owned();
    wait_content(&page, "the consent prompt", VISITOR_UI_JS, |v| v["consent"] == true).await;
    assert_eq!(in_content_world(&page, &click_visitor_ui("allow")).await, Ok(json!(true)));
    wait_content(&page, "the active bar", VISITOR_UI_JS, |v| v["state"] == "active" && v["consent"] == false).await;
    let snapshot = next_visitor_frame(&mut op, "a snapshot", |f| f["k"] == "snapshot").await;
    Active { _dir: dir, server, device, op, page, session, snapshot }
}

/// The operator asks for `scopes` and the visitor grants them all (besides
/// those granted before).
async fn grant(a: &mut Active, scopes: &[&str]) {
    operator_send(&mut a.op, &a.session, json!({"k": "control_request", "scopes": scopes})).await;
    wait_content(&a.page, "the control prompt", VISITOR_UI_JS, |v| v["control"] == true).await;
    for scope in scopes {
        assert_eq!(in_content_world(&a.page, &click_visitor_ui(&format!("scope-{scope}"))).await, Ok(json!(true)));
    }
    assert_eq!(in_content_world(&a.page, &click_visitor_ui("grant")).await, Ok(json!(true)));
    let grants = next_visitor_frame(&mut a.op, "grants", |f| f["k"] == "grants").await;
    let granted = grants["scopes"].as_array().cloned().unwrap_or_default();
    assert!(scopes.iter().all(|s| granted.contains(&json!(s))), "{grants}");
}

/// The URLs the open push prompts show, in order.
const PUSH_PROMPTS_JS: &str = r#"(() => {
  const ui = chrome.dom.openOrClosedShadowRoot(document.querySelector('[data-baton-ui=visitor]'));
  return [...ui.querySelectorAll('[data-baton-part=dialog-push]')].map((d) => d.querySelector('p')?.textContent ?? '');
})()"#;

/// A push id is bound to the URL the visitor's prompt shows: pushing
/// another URL under the same id changes nothing, and accepting opens the
/// URL shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_url_opens_only_as_the_visitor_saw_it() {
    let mut a = active_session(PAGE).await;
    let parts: [&dyn baton_e2e::Diagnose; 2] = [&a.device, &a.server];
    let other =
        pages::serve_page("<!doctype html><title>Other</title><p>other", &[]).await.expect("start a page server");
    let (help, evil, later) = (format!("{other}/help"), format!("{other}/evil"), format!("{other}/later"));
    operator_send(&mut a.op, &a.session, json!({"k": "push_url", "push_id": "p", "url": help})).await;
    wait_content(&a.page, "the push prompt", PUSH_PROMPTS_JS, |v| v == &json!([help])).await;
    operator_send(&mut a.op, &a.session, json!({"k": "push_url", "push_id": "p", "url": evil})).await;
    // Frames arrive in order: once the next push shows, the swap was handled.
    operator_send(&mut a.op, &a.session, json!({"k": "push_url", "push_id": "q", "url": later})).await;
    wait_content(&a.page, "the second push's prompt", PUSH_PROMPTS_JS, |v| v.as_array().is_some_and(|p| p.len() >= 2))
        .await;
    assert_eq!(
        in_content_world(&a.page, PUSH_PROMPTS_JS).await,
        Ok(json!([help, later])),
        "no prompt for the swapped URL"
    );

    // The visitor accepts the prompt that shows the help page.
    assert_eq!(in_content_world(&a.page, &click_visitor_ui("push-open")).await, Ok(json!(true)));
    let answer = next_visitor_frame(&mut a.op, "the push answer", |f| f["k"] == "push_answer").await;
    assert_eq!((answer["push_id"].as_str(), answer["accepted"].as_bool()), (Some("p"), Some(true)), "{answer}");
    let cdp = a.device.browser().cdp();
    cdp.wait_for_target("the pushed page", WAIT, |t| t.kind == "page" && t.url == help)
        .await
        .or_report("the accepted page opens", &parts);
    let targets = cdp.targets().await.or_report("list the tabs", &parts);
    assert!(!targets.iter().any(|t| t.url == evil), "the swapped URL never opens: {targets:?}");

    // Declined: the prompt goes and the operator is told.
    assert_eq!(in_content_world(&a.page, &click_visitor_ui("push-decline")).await, Ok(json!(true)));
    let answer = next_visitor_frame(&mut a.op, "the decline", |f| f["k"] == "push_answer").await;
    assert_eq!((answer["push_id"].as_str(), answer["accepted"].as_bool()), (Some("q"), Some(false)), "{answer}");
    wait_content(&a.page, "no prompt left", PUSH_PROMPTS_JS, |v| v == &json!([])).await;
}

const LABELS_PAGE: &str = r#"<!doctype html><html><head><meta charset=utf-8><title>Terms</title></head><body>
<label id="wrap"><input type="checkbox" id="agree"> I agree</label>
<label id="for" for="agree"><span id="inner">Agree too</span></label>
<label id="safe"><input type="checkbox" id="news" data-baton-safe> News</label>
</body></html>"#;

/// A click on a label operates its control: refused when the control is
/// protected (the label around it, one pointing at it, or text inside
/// one), allowed when it is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_click_never_operates_a_protected_control() {
    let mut a = active_session(LABELS_PAGE).await;
    grant(&mut a, &["click"]).await;
    let parts: [&dyn baton_e2e::Diagnose; 2] = [&a.device, &a.server];
    let ids: Vec<u64> = ["wrap", "for", "inner", "safe"]
        .iter()
        .map(|d| node_id(&a.snapshot["root"], d).unwrap_or_else(|| panic!("#{d} in the snapshot")))
        .collect();
    for (n, id) in ids[..3].iter().enumerate() {
        let result = command(&mut a.op, &a.session, n as u64 + 1, json!({"c": "click", "id": id})).await;
        assert_eq!(result["ok"], false, "refused: {result}");
    }
    let agreed = a.page.evaluate("document.querySelector('#agree').checked").await.or_report("read the box", &parts);
    assert_eq!(agreed, json!(false), "the protected box is unchanged");
    let result = command(&mut a.op, &a.session, 9, json!({"c": "click", "id": ids[3]})).await;
    assert_eq!(result["ok"], true, "a label whose control the operator may use: {result}");
    let news = a.page.evaluate("document.querySelector('#news').checked").await.or_report("read the box", &parts);
    assert_eq!(news, json!(true));
}

/// An event the console sends a pushed app right after the push, before
/// the app's frame is ready, still reaches it; so does one sent after the
/// app's frame loaded again (the page moved Baton's UI).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_an_app_before_it_is_ready_and_after_it_loads_again() {
    let mut a = active_session(PAGE).await;
    app_gets_events_before_ready_and_after_loading_again(&mut a).await;
}

/// Pushes a form app with an event sent before it can be ready, checks it
/// arrives; then has the page take Baton's UI out, so that (put back) its
/// frames load again, and checks that the app's new document gets a
/// channel of its own.
async fn app_gets_events_before_ready_and_after_loading_again(a: &mut Active) {
    let form = json!({"app": "form", "title": "Address", "fields": [{"name": "city", "label": "City", "value": ""}]});
    operator_send(&mut a.op, &a.session, json!({"k": "push_app", "app_id": "addr", "app": form})).await;
    let set = json!({"type": "set", "name": "city", "value": "Lyon"});
    operator_send(&mut a.op, &a.session, json!({"k": "app_event", "app_id": "addr", "seq": 1, "event": set})).await;
    let parts: [&dyn baton_e2e::Diagnose; 2] = [&a.device, &a.server];
    let cdp = a.device.browser().cdp();
    let frame = cdp
        .wait_for_target("the app's frame", WAIT, |t| t.kind == "iframe" && t.url.contains("/app.html#"))
        .await
        .or_report("the app's frame", &parts);
    let app = cdp.attach(&frame.target_id).await.or_report("attach to the app's frame", &parts);
    let city = app
        .wait_until("the field set", "document.querySelector('input[name=city]')?.value ?? null", WAIT, |v| v == "Lyon")
        .await
        .or_report("the console's event applied", &parts);
    assert_eq!(city, json!("Lyon"));

    a.page
        .evaluate("document.querySelector('[data-baton-ui=visitor]').remove(); true")
        .await
        .or_report("remove", &parts);
    let again = cdp
        .wait_for_target("the app's frame loaded again", WAIT, |t| {
            t.kind == "iframe" && t.url.contains("/app.html#") && t.target_id != frame.target_id
        })
        .await
        .or_report("the app's frame again", &parts);
    let app = cdp.attach(&again.target_id).await.or_report("attach to the app's frame", &parts);
    app.wait_until("the app drawn", "document.querySelector('input[name=city]') !== null", WAIT, |v| v == true)
        .await
        .or_report("the app again", &parts);
    let set = json!({"type": "set", "name": "city", "value": "Paris"});
    operator_send(&mut a.op, &a.session, json!({"k": "app_event", "app_id": "addr", "seq": 2, "event": set})).await;
    let city = app
        .wait_until("the field set", "document.querySelector('input[name=city]')?.value ?? null", WAIT, |v| {
            v == "Paris"
        })
        .await
        .or_report("the console's event applied in the app loaded again", &parts);
    assert_eq!(city, json!("Paris"));
}

/// A document that says the `hello` secret from its fragment to its parent
/// and hands on whatever `init` it gets.
const THIEF: &str = r#"<script>addEventListener('message', (e) => { if (e.data && e.data.baton_app === 'init')
  parent.postMessage({ stolen: e.data.token, app: JSON.stringify(e.data.app) }, '*'); });
parent.postMessage({ baton_app: 'hello', hello: location.hash.slice(1).split('.')[1] }, '*');</script>"#;

/// A page with its own capturing `message` listener, registered before
/// Baton's: it keeps every message, swallows it, and should it ever hear an
/// app's `hello`, sends that frame to [`THIEF`] with the secret.
fn eavesdropping_page() -> String {
    // As a JS string inside the page's own script element.
    let thief = serde_json::to_string(THIEF).unwrap_or_default().replace('<', "\\u003c");
    let script = format!(
        "<script>window.heard = []; addEventListener('message', (e) => {{
  window.heard.push(JSON.stringify(e.data)); e.stopImmediatePropagation();
  if (e.data && e.data.baton_app === 'hello' && e.source)
    e.source.location.href = 'data:text/html,' + encodeURIComponent({thief}) + '#x.' + e.data.hello;
}}, true);</script>"
    );
    PAGE.replace("<title>Shop</title>", &format!("<title>Shop</title>{script}"))
}

/// An app frame speaks only with Baton: the page around it hears nothing
/// (no secret, no window to navigate the frame with), and the app gets its
/// channel all the same, and a new one when its frame loads again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_hears_nothing_of_an_app_and_cannot_take_its_channel() {
    let mut a = active_session(&eavesdropping_page()).await;
    app_gets_events_before_ready_and_after_loading_again(&mut a).await;
    let parts: [&dyn baton_e2e::Diagnose; 2] = [&a.device, &a.server];
    // The eavesdropper is there and hears what reaches the window.
    a.page.evaluate("postMessage('probe', '*'); true").await.or_report("post to the page", &parts);
    let heard = a
        .page
        .wait_until("the page hears its own message", "JSON.stringify(window.heard ?? null)", WAIT, |v| {
            v.as_str().is_some_and(|h| h.contains("probe"))
        })
        .await
        .or_report("what the page heard", &parts);
    let heard = heard.as_str().unwrap_or_default().to_owned();
    assert!(!heard.contains("baton_app") && !heard.contains("stolen"), "the page heard the app: {heard}");
}

/// In the content script's world: the moment the page sends a command's
/// result, the visitor revokes navigation (as a person could, before the
/// page goes away).
const REVOKE_ON_RESULT_JS: &str = r#"(() => {
  const send = chrome.runtime.sendMessage.bind(chrome.runtime);
  chrome.runtime.sendMessage = (m, ...rest) => {
    if (JSON.stringify(m).includes('"command_result"')) {
      queueMicrotask(() => chrome.dom.openOrClosedShadowRoot(document.querySelector('[data-baton-ui=visitor]'))
        .querySelector('[data-baton-act="revoke-navigate"]')?.click());
    }
    return send(m, ...rest);
  };
  return true;
})()"#;

/// A navigation the operator ordered waits a moment for its result to
/// leave; revoked in that moment, it does not happen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_navigation_revoked_before_it_happens_does_not_happen() {
    let mut a = active_session(PAGE).await;
    grant(&mut a, &["navigate"]).await;
    let parts: [&dyn baton_e2e::Diagnose; 2] = [&a.device, &a.server];
    let here = a.page.evaluate("location.href").await.or_report("read the address", &parts);
    assert_eq!(in_content_world(&a.page, REVOKE_ON_RESULT_JS).await, Ok(json!(true)));
    let elsewhere =
        format!("{}elsewhere", here.as_str().and_then(|h| h.strip_suffix("page")).expect("the page's address"));
    let result = command(&mut a.op, &a.session, 1, json!({"c": "navigate", "url": elsewhere})).await;
    assert_eq!(result["ok"], true, "allowed when it ran: {result}");
    let grants = next_visitor_frame(&mut a.op, "grants after the revoke", |f| f["k"] == "grants").await;
    assert_eq!(grants["scopes"], json!([]));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let now = a.page.evaluate("location.href").await.or_report("read the address", &parts);
    assert_eq!(now, here, "the page stayed");
}

const FAR_PAGE: &str = r#"<!doctype html><html><head><meta charset=utf-8><title>Long</title></head><body>
<div style="height:3000px">Top</div>
<button id="far" onclick="this.dataset.clicked = (+(this.dataset.clicked || 0) + 1)">Far away</button>
<input id="note" type="text" data-baton-safe>
<div style="height:3000px"></div>
</body></html>"#;

/// The page's scroll, the far button's clicks and the field's value.
async fn far_page_state(a: &Active) -> Value {
    let parts: [&dyn baton_e2e::Diagnose; 2] = [&a.device, &a.server];
    let read = "[window.scrollY, document.querySelector('#far').dataset.clicked ?? '0', document.querySelector('#note').value]";
    a.page.evaluate(read).await.or_report("read the page", &parts)
}

/// Clicking and typing move the visitor's page only with the Scroll grant:
/// without it the command still lands and the page stays where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn click_and_type_scroll_the_page_only_with_the_scroll_grant() {
    let mut a = active_session(FAR_PAGE).await;
    let far = node_id(&a.snapshot["root"], "far").expect("#far in the snapshot");
    let note = node_id(&a.snapshot["root"], "note").expect("#note in the snapshot");
    grant(&mut a, &["click", "type"]).await;

    let result = command(&mut a.op, &a.session, 1, json!({"c": "click", "id": far})).await;
    assert_eq!(result["ok"], true, "{result}");
    let result = command(&mut a.op, &a.session, 2, json!({"c": "type_text", "id": note, "text": "hi"})).await;
    assert_eq!(result["ok"], true, "{result}");
    let seen = far_page_state(&a).await;
    assert_eq!(seen, json!([0, "1", "hi"]), "both landed and the page did not scroll");

    grant(&mut a, &["scroll"]).await;
    let result = command(&mut a.op, &a.session, 3, json!({"c": "click", "id": far})).await;
    assert_eq!(result["ok"], true, "{result}");
    let seen = far_page_state(&a).await;
    assert!(seen[0].as_f64().is_some_and(|y| y > 1_000.0), "with the grant the target is brought into view: {seen}");
    assert_eq!(seen[1], "2");
}

const COVERING_PAGE: &str = r#"<!doctype html><html><head><meta charset=utf-8><title>Covers</title></head><body>
<p>Cover everything</p>
<div id="menu" popover="manual" style="inset:0;width:100vw;height:100vh;max-width:none;max-height:none;margin:0;background:#c00">menu</div>
<div id="cover" style="position:fixed;inset:0;z-index:2147483647;background:#0c0">cover</div>
</body></html>"#;

/// Where the visitor's Stop button is, and whether a click there reaches it.
const STOP_HIT_JS: &str = r#"(() => {
  const host = document.querySelector('[data-baton-ui=visitor]');
  if (!host) return { mounted: false };
  const stop = chrome.dom.openOrClosedShadowRoot(host).querySelector('[data-baton-act=stop]');
  const r = stop.getBoundingClientRect();
  const [x, y] = [r.left + r.width / 2, r.top + r.height / 2];
  return { mounted: true, x, y, ours: document.elementFromPoint(x, y) === host };
})()"#;

/// The page cannot cover Baton's bar: not with the highest z-index, even
/// after Baton's UI in the tree, nor with a popover of its own shown later,
/// nor by hiding Baton's; a real click on Stop stops the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_cannot_cover_the_stop_button() {
    let a = active_session(COVERING_PAGE).await;
    let parts: [&dyn baton_e2e::Diagnose; 2] = [&a.device, &a.server];
    wait_content(&a.page, "Stop above a z-index cover", STOP_HIT_JS, |v| v["ours"] == true).await;
    let after = "document.documentElement.append(document.querySelector('#cover')); true";
    a.page.evaluate(after).await.or_report("move the cover after Baton's UI", &parts);
    wait_content(&a.page, "Stop above a cover after it", STOP_HIT_JS, |v| v["ours"] == true).await;
    a.page
        .evaluate("document.querySelector('#menu').showPopover(); true")
        .await
        .or_report("open the page's popover", &parts);
    wait_content(&a.page, "Stop above the page's popover", STOP_HIT_JS, |v| v["ours"] == true).await;
    let open =
        a.page.evaluate("document.querySelector('#menu').matches(':popover-open')").await.or_report("read", &parts);
    assert_eq!(open, json!(true), "the page's popover stays open");
    let hide = "document.querySelector('[data-baton-ui=visitor]').hidePopover(); true";
    a.page.evaluate(hide).await.or_report("hide Baton's UI", &parts);
    let hit = wait_content(&a.page, "Stop shown again", STOP_HIT_JS, |v| v["ours"] == true).await;

    for kind in ["mousePressed", "mouseReleased"] {
        let event = json!({"type": kind, "x": hit["x"], "y": hit["y"], "button": "left", "clickCount": 1});
        a.page.call("Input.dispatchMouseEvent", event).await.or_report("click Stop", &parts);
    }
    wait_content(&a.page, "the bar gone after Stop", STOP_HIT_JS, |v| v["mounted"] == false).await;
}

/// A page that makes itself private as a whole on its `/account/` paths.
const GOES_PRIVATE_PAGE: &str = r#"<!doctype html><html><head><meta charset=utf-8><title>Shop</title>
<script>if (location.pathname.startsWith('/account/')) { document.documentElement.setAttribute('data-baton-private', ''); document.title = 'SECRET-TITLE'; }</script>
</head><body><p>Welcome</p></body></html>"#;

/// When the visitor goes on to a page that is private as a whole, the
/// operator is told only its origin and no title: in the navigation and in
/// the snapshot after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_navigation_to_a_private_page_tells_only_its_origin() {
    let mut a = active_session(GOES_PRIVATE_PAGE).await;
    let parts: [&dyn baton_e2e::Diagnose; 2] = [&a.device, &a.server];
    let first = a.snapshot["url"].as_str().expect("the snapshot's address").to_owned();
    let origin = first.trim_end_matches("/page").to_owned();
    a.page.evaluate("location.href = '/account/SECRET-PATH'; true").await.or_report("navigate", &parts);
    let navigated = next_visitor_frame(&mut a.op, "the navigation", |f| f["k"] == "navigated").await;
    let snapshot = next_visitor_frame(&mut a.op, "the new page's snapshot", |f| f["k"] == "snapshot").await;
    for told in [&navigated, &snapshot] {
        assert_eq!((told["url"].as_str(), told["title"].as_str().unwrap_or("")), (Some(origin.as_str()), ""), "{told}");
        assert!(!told.to_string().contains("SECRET"), "{told}");
    }
}
