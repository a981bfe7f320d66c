//! Continuing on another device, with real parts: one `baton-server`, and
//! `baton-host` processes in separate homes standing in for the devices.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{pair, snapshot, tab, urls, window, Host, Server};

/// How long a change may take to reach another device by push. Generous for
/// loaded machines, yet well under the hosts' one-minute poll, so whatever
/// arrives in time came by push.
const PUSH_WAIT: Duration = Duration::from_secs(15);

fn server() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&dir.path().join("server.sqlite3"), "127.0.0.1:0");
    (dir, server)
}

fn pending(host: &mut Host) -> u64 {
    host.status()["sync"]["pending_changes"].as_u64().expect("pending_changes")
}

fn device<'a>(devices: &'a [Value], id: &str) -> Option<&'a Value> {
    devices.iter().find(|d| d["id"] == id)
}

#[test]
fn a_paired_device_sees_tabs_by_push_and_the_server_sees_only_ciphertext() {
    let (_dir, server) = server();
    let mut a = Host::start(&server.url, "Laptop");
    let mut b = Host::start(&server.url, "Desktop");
    let mut c = Host::start(&server.url, "Stranger");
    let a_id = a.wait_connected();
    b.wait_connected();
    c.wait_connected();
    pair(&mut a, &mut b);

    let windows = vec![window(1, true), window(2, false)];
    let tabs = vec![
        tab(11, 1, 0, "https://secret-docs.example/plan", "Quarterly plan draft"),
        tab(12, 1, 1, "https://news.example/article", "Long article"),
        tab(21, 2, 0, "https://mail.example/inbox", "Inbox"),
    ];
    assert_eq!(a.request(snapshot(windows.clone(), tabs.clone()))["type"], "ack");
    // No sync_now: the server's push brings it, long before B's next poll
    // (a minute after the one it made on starting).
    let devices = b.wait_devices("A's tabs on B", PUSH_WAIT, |d| device(d, &a_id).is_some_and(|a| urls(a).len() == 3));
    let listed = device(&devices, &a_id).expect("A listed");
    assert_eq!(listed["name"], "Laptop");
    // Window 1 holds the most recently used tab; tabs in index order.
    assert_eq!(listed["windows"][0]["id"], 2);
    assert_eq!(
        urls(listed),
        ["https://mail.example/inbox", "https://secret-docs.example/plan", "https://news.example/article"]
    );
    b.wait_event("remote_changed", Duration::from_secs(5), |m| m["type"] == "remote_changed");

    // An unchanged snapshot stores and uploads nothing.
    a.wait_status("outbox drained", |s| s["sync"]["pending_changes"] == 0);
    assert_eq!(a.request(snapshot(windows.clone(), tabs.clone()))["type"], "ack");
    assert_eq!(pending(&mut a), 0);

    // History and page state; a secret field never leaves A.
    let history = json!({"type": "tab_history", "history": {"tab_id": 12, "current": 1, "entries": [
        {"url": "https://news.example/", "title": "Front page", "visited_ms": 1},
        {"url": "https://news.example/article", "title": "Long article", "visited_ms": 2}]}});
    assert_eq!(a.request(history)["type"], "ack");
    let page = json!({"type": "page_state", "page": {"tab_id": 12, "url": "https://news.example/article", "captured_ms": 3,
    "scroll": {"x": 0, "y": 4200, "anchor": {"text": "Chapter two", "offset_px": 12}},
    "fields": [
        {"key": {"kind": "text", "name": "comment", "path": "body>form>input"}, "value": {"t": "text", "v": "half-written remark"}},
        {"key": {"kind": "text", "name": "card", "autocomplete": "cc-number", "path": "body>form>input[2]"}, "value": {"t": "text", "v": "4111111111111111"}}
    ]}});
    assert_eq!(a.request(page)["type"], "ack");
    let deadline = Instant::now() + PUSH_WAIT;
    let details = loop {
        let d = b.request(json!({"type": "tab_details", "device_id": a_id, "tab_id": 12}));
        if !d["page"].is_null() && !d["history"].is_null() {
            break d;
        }
        assert!(Instant::now() < deadline, "tab details never arrived: {d}");
        std::thread::sleep(Duration::from_millis(25));
    };
    assert_eq!(details["history"]["entries"].as_array().map(Vec::len), Some(2));
    assert_eq!(details["page"]["scroll"]["anchor"]["text"], "Chapter two");
    assert_eq!(details["page"]["fields"].as_array().map(Vec::len), Some(1));
    let unknown = b.request(json!({"type": "tab_details", "device_id": "nobody", "tab_id": 12}));
    assert_eq!(unknown["code"], "unknown_device", "{unknown}");

    // A third device that never paired sees nothing of A.
    assert_eq!(c.request(json!({"type": "sync_now"}))["type"], "ack");
    let c_devices = c.request(json!({"type": "list_devices"}));
    assert_eq!(c_devices["devices"], json!([]), "{c_devices}");

    // The server holds ciphertext only.
    a.wait_status("outbox drained", |s| s["sync"]["pending_changes"] == 0);
    let mut bytes = std::fs::read(&server.db).expect("server db");
    bytes.extend(std::fs::read(server.db.with_extension("sqlite3-wal")).unwrap_or_default());
    let text = String::from_utf8_lossy(&bytes);
    for plain in ["secret-docs.example", "Quarterly plan", "news.example", "half-written", "Chapter two", "4111111111"]
    {
        assert!(!text.contains(plain), "the server's database contains {plain:?}");
    }
    // Nor does A's store keep the card number it was handed.
    let mut a_bytes = std::fs::read(a.data_dir().join("host.sqlite3")).expect("host db");
    a_bytes.extend(std::fs::read(a.data_dir().join("host.sqlite3-wal")).unwrap_or_default());
    assert!(!String::from_utf8_lossy(&a_bytes).contains("4111111111"));

    // A closed tab disappears from B, with its history and page.
    assert_eq!(a.request(snapshot(windows, vec![tabs[0].clone(), tabs[2].clone()]))["type"], "ack");
    b.wait_devices("tab 12 gone on B", PUSH_WAIT, |d| device(d, &a_id).is_some_and(|a| urls(a).len() == 2));
    let deadline = Instant::now() + PUSH_WAIT;
    loop {
        let gone = b.request(json!({"type": "tab_details", "device_id": a_id, "tab_id": 12}));
        if gone["history"].is_null() && gone["page"].is_null() {
            break;
        }
        assert!(Instant::now() < deadline, "history and page of a closed tab stay: {gone}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn send_to_device_reports_delivered_then_opened() {
    let (_dir, server) = server();
    let mut a = Host::start(&server.url, "Laptop");
    let mut b = Host::start(&server.url, "Desktop");
    a.wait_connected();
    let b_id = b.wait_connected();
    pair(&mut a, &mut b);
    a.wait_status("A knows B", |s| s["sync"]["other_devices"] == 1);
    // B names the sender from A's device record: wait until B has it too.
    b.wait_status("B knows A", |s| s["sync"]["other_devices"] == 1);

    let sent =
        a.request(json!({"type": "send_tab", "device_id": b_id, "url": "https://shared.example/x", "title": "Look"}));
    assert_eq!(sent["type"], "tab_sent", "{sent}");
    let send_id = sent["send_id"].as_str().expect("send id").to_owned();
    let received = b.wait_event("tab_received", Duration::from_secs(5), |m| m["type"] == "tab_received");
    assert_eq!(received["send_id"], send_id.as_str());
    assert_eq!(received["url"], "https://shared.example/x");
    assert_eq!(received["from_device"], "Laptop");
    let delivered = a.wait_event("delivered", Duration::from_secs(5), |m| m["type"] == "delivery");
    assert_eq!(
        (delivered["send_id"].as_str(), delivered["state"].as_str()),
        (Some(send_id.as_str()), Some("delivered"))
    );
    assert_eq!(b.request(json!({"type": "tab_opened", "send_id": send_id}))["type"], "ack");
    let opened = a.wait_event("opened", Duration::from_secs(5), |m| m["type"] == "delivery");
    assert_eq!(opened["state"], "opened");

    let unknown = a.request(json!({"type": "send_tab", "device_id": "nobody", "url": "https://x", "title": ""}));
    assert_eq!(unknown["code"], "unknown_device", "{unknown}");
    let bogus = b.request(json!({"type": "tab_opened", "send_id": "never-sent"}));
    assert_eq!(bogus["code"], "invalid_request", "{bogus}");
}

#[test]
fn wrong_pairing_codes_fail_clearly() {
    let (_dir, server) = server();
    let mut a = Host::start(&server.url, "Laptop");
    let mut b = Host::start(&server.url, "Desktop");
    a.wait_connected();
    b.wait_connected();
    let malformed = b.request(json!({"type": "pair_join", "code": "hello"}));
    assert_eq!(malformed["code"], "pairing_failed", "{malformed}");
    assert!(malformed["message"].as_str().unwrap_or("").contains("looks like"), "{malformed}");
    let unknown = b.request(json!({"type": "pair_join", "code": "ZZZZZZ-7KQ2M9"}));
    assert_eq!(unknown["code"], "pairing_failed", "{unknown}");
    assert!(unknown["message"].as_str().unwrap_or("").contains("wrong or has expired"), "{unknown}");

    // The right lookup with a wrong secret (someone who guessed the short
    // lookup): the server matches the devices, but A finds B's proof of the
    // secret part wrong, refuses, and hands nothing over.
    let b_id = b.wait_connected();
    let code = a.request(json!({"type": "pair_start"}));
    let code = code["code"].as_str().expect("code").to_owned();
    let (lookup, secret) = code.rsplit_once('-').expect("dash");
    let rest: String = secret.chars().skip(1).collect();
    let first = if secret.starts_with('Z') { 'Y' } else { 'Z' };
    let wrong = format!("{lookup}-{first}{rest}");
    let started = Instant::now();
    let failed = b.request(json!({"type": "pair_join", "code": wrong}));
    assert_eq!(failed["code"], "pairing_failed", "{failed}");
    assert!(
        failed["message"].as_str().unwrap_or("").contains("refused: the code's secret part does not match"),
        "{failed}"
    );
    assert!(started.elapsed() < Duration::from_secs(30), "B heard of the refusal, not of its own deadline");
    let devices = a.wait_devices("A's account", Duration::from_secs(5), |_| true);
    assert!(device(&devices, &b_id).is_none(), "B joined A's account: {devices:?}");
    // The right code still pairs, on a new code.
    pair(&mut a, &mut b);
    a.wait_devices("B in A's account", Duration::from_secs(5), |d| device(d, &b_id).is_some());
}

#[test]
fn changes_made_offline_and_across_a_kill_reach_the_other_device() {
    let (_dir, mut server) = server();
    let mut a = Host::start(&server.url, "Laptop");
    let mut b = Host::start(&server.url, "Desktop");
    let a_id = a.wait_connected();
    b.wait_connected();
    pair(&mut a, &mut b);
    let w = vec![window(1, true)];
    assert_eq!(a.request(snapshot(w.clone(), vec![tab(1, 1, 0, "https://one.example/", "One")]))["type"], "ack");
    b.wait_devices("first state", Duration::from_secs(5), |d| {
        device(d, &a_id).is_some_and(|a| urls(a) == ["https://one.example/"])
    });

    server.stop();
    a.wait_status("server down", |s| s["server"]["state"] != "connected");
    let states = [
        vec![tab(1, 1, 0, "https://one.example/", "One"), tab(2, 1, 1, "https://two.example/", "Two")],
        vec![tab(2, 1, 0, "https://two.example/", "Two"), tab(3, 1, 1, "https://three.example/", "Three")],
        vec![tab(2, 1, 0, "https://two.example/b", "Two b"), tab(3, 1, 1, "https://three.example/", "Three")],
    ];
    for tabs in &states {
        assert_eq!(a.request(snapshot(w.clone(), tabs.clone()))["type"], "ack");
    }
    // t:2 added; t:2 moved, t:3 added, t:1 removed; t:2 changed: every change queued, in order.
    assert_eq!(pending(&mut a), 5);
    // Acknowledged means durable: a SIGKILL now loses nothing.
    let home = a.kill();
    server.restart();
    let mut a = Host::start_in(home, &server.url, "Laptop");
    let devices = b.wait_devices("final state after restart", Duration::from_secs(20), |d| {
        device(d, &a_id).is_some_and(|a| urls(a) == ["https://two.example/b", "https://three.example/"])
    });
    assert_eq!(device(&devices, &a_id).map(urls).map(|u| u.len()), Some(2));
    a.wait_status("outbox drained", |s| s["sync"]["pending_changes"] == 0);

    // B killed while it syncs: after a restart it has everything, once.
    let many: Vec<Value> =
        (0..300).map(|i| tab(100 + i, 1, i as u32, &format!("https://many.example/{i}"), "Many")).collect();
    assert_eq!(a.request(snapshot(w.clone(), many))["type"], "ack");
    std::thread::sleep(Duration::from_millis(30));
    let b_home = b.kill();
    let mut b = Host::start_in(b_home, &server.url, "Desktop");
    let devices = b.wait_devices("300 tabs on B", Duration::from_secs(20), |d| {
        device(d, &a_id).is_some_and(|a| urls(a).len() == 300)
    });
    let mut listed = urls(device(&devices, &a_id).expect("A"));
    listed.dedup();
    assert_eq!(listed.len(), 300);
}

#[test]
fn five_thousand_tabs_sync_and_list_without_truncation() {
    let (_dir, server) = server();
    let mut a = Host::start(&server.url, "Laptop");
    let mut b = Host::start(&server.url, "Desktop");
    let a_id = a.wait_connected();
    b.wait_connected();
    pair(&mut a, &mut b);
    let windows: Vec<Value> = (0..50).map(|w| window(w, w == 0)).collect();
    let tabs: Vec<Value> = (0..5_000)
        .map(|i| {
            let w = i / 100;
            tab(
                i,
                w,
                (i % 100) as u32,
                &format!("https://site-{i}.example/path/to/a/page?q={i}"),
                &format!("Page number {i} with a title"),
            )
        })
        .collect();
    let started = Instant::now();
    assert_eq!(a.request(snapshot(windows, tabs))["type"], "ack");
    let devices = b.wait_devices("5,000 tabs on B", Duration::from_secs(60), |d| {
        device(d, &a_id).is_some_and(|a| urls(a).len() == 5_000)
    });
    eprintln!("5,000 tabs ingested, synced and listed in {:?}", started.elapsed());
    let listed = device(&devices, &a_id).expect("A");
    assert_eq!(listed["windows"].as_array().map(Vec::len), Some(50));
    assert!(listed["windows"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|w| w["tabs"].as_array().map(Vec::len) == Some(100)));

    // One changed tab among 5,000 arrives on its own.
    let one = json!({"type": "session_snapshot", "windows": (0..50).map(|w| window(w, w == 0)).collect::<Vec<_>>(),
        "tabs": (0..5_000).map(|i| {
            let w = i / 100;
            let url = if i == 4_321 { "https://changed.example/".to_owned() } else { format!("https://site-{i}.example/path/to/a/page?q={i}") };
            tab(i, w, (i % 100) as u32, &url, &format!("Page number {i} with a title"))
        }).collect::<Vec<_>>()});
    assert_eq!(a.request(one)["type"], "ack");
    assert!(pending(&mut a) <= 1);
    b.wait_devices("the changed tab", Duration::from_secs(5), |d| {
        device(d, &a_id).is_some_and(|a| urls(a).iter().any(|u| u == "https://changed.example/"))
    });
}

#[test]
fn a_joining_device_brings_its_own_tabs_into_the_account() {
    let (_dir, server) = server();
    let mut a = Host::start(&server.url, "Laptop");
    let mut b = Host::start(&server.url, "Desktop");
    a.wait_connected();
    let b_id = b.wait_connected();
    // B uploads under its own account first; joining re-keys and re-sends.
    assert_eq!(
        b.request(snapshot(vec![window(7, true)], vec![tab(70, 7, 0, "https://b-own.example/", "B's own")]))["type"],
        "ack"
    );
    b.wait_status("B uploaded", |s| s["sync"]["pending_changes"] == 0);
    pair(&mut a, &mut b);
    let devices = a.wait_devices("B's tabs on A", Duration::from_secs(5), |d| {
        device(d, &b_id).is_some_and(|b| urls(b) == ["https://b-own.example/"])
    });
    assert_eq!(device(&devices, &b_id).map(|b| b["name"].clone()), Some(json!("Desktop")));
}

#[test]
fn without_a_server_captures_are_kept_and_server_requests_say_offline() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let mut host = Host::start(&url, "Laptop");
    assert_eq!(
        host.request(snapshot(vec![window(1, true)], vec![tab(1, 1, 0, "https://a.example/", "A")]))["type"],
        "ack"
    );
    assert_eq!(pending(&mut host), 2);
    let code = host.request(json!({"type": "pair_start"}));
    assert_eq!(code["code"], "offline", "{code}");
    let join = host.request(json!({"type": "pair_join", "code": "ABCD-7KQ2M9"}));
    assert_eq!(join["code"], "offline", "{join}");
    let sync = host.request(json!({"type": "sync_now"}));
    assert_eq!(sync["code"], "offline", "{sync}");
    assert_eq!(host.request(json!({"type": "list_devices"}))["devices"], json!([]));
    let bad = host.request(json!({"type": "page_state", "page": {"tab_id": 1}}));
    assert_eq!(bad["code"], "invalid_request", "{bad}");
}

/// Fault injection: the host's idea of what the server holds is wrong (as
/// after restoring an old backup); the upload is refused, the host
/// reconciles and the change still arrives.
#[test]
fn a_stale_upload_is_refused_then_reconciled() {
    let (_dir, server) = server();
    let mut a = Host::start(&server.url, "Laptop");
    let mut b = Host::start(&server.url, "Desktop");
    let a_id = a.wait_connected();
    b.wait_connected();
    pair(&mut a, &mut b);
    let w = vec![window(1, true)];
    assert_eq!(a.request(snapshot(w.clone(), vec![tab(1, 1, 0, "https://before.example/", "Before")]))["type"], "ack");
    a.wait_status("uploaded", |s| s["sync"]["pending_changes"] == 0);
    let home = a.kill();
    let db = rusqlite::Connection::open(home.path().join("data/baton/host.sqlite3")).expect("host db");
    db.execute("UPDATE local_record SET server_token = NULL", []).expect("forget server tokens");
    drop(db);
    let mut a = Host::start_in(home, &server.url, "Laptop");
    assert_eq!(a.request(snapshot(w, vec![tab(1, 1, 0, "https://after.example/", "After")]))["type"], "ack");
    b.wait_devices("the change after a conflict", Duration::from_secs(10), |d| {
        device(d, &a_id).is_some_and(|a| urls(a) == ["https://after.example/"])
    });
    a.wait_status("outbox drained", |s| s["sync"]["pending_changes"] == 0);
    let log = std::fs::read_to_string(a.data_dir().join("host.log")).unwrap_or_default();
    assert!(log.contains("upload conflict"), "the upload was not refused: {log}");
}

/// Over the server's quota its refusal (507) says why in the sync status;
/// closing the tabs that did not fit lets sync go on, although their
/// additions were queued first (a full batch of them, so the closing comes
/// in a later batch).
#[test]
fn over_the_servers_quota_closing_tabs_lets_sync_go_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server =
        Server::start_with(&dir.path().join("server.sqlite3"), "127.0.0.1:0", &["--device-quota-records", "5"]);
    let mut host = Host::start(&server.url, "Laptop");
    host.wait_connected();
    let w = vec![window(1, true)];
    let few = vec![tab(1, 1, 0, "https://one.example/", "One")];
    assert_eq!(host.request(snapshot(w.clone(), few.clone()))["type"], "ack");
    host.wait_status("first sync", |s| s["sync"]["pending_changes"] == 0 && s["sync"]["last_sync_ms"].is_i64());

    let many: Vec<Value> =
        (1..=1_001).map(|i| tab(i, 1, (i - 1) as u32, &format!("https://t{i}.example/"), "T")).collect();
    assert_eq!(host.request(snapshot(w.clone(), many))["type"], "ack");
    let refused = host.wait_status("refused for the quota", |s| {
        s["sync"]["error"].as_str().is_some_and(|e| e.contains("quota_exceeded"))
    });
    assert!(refused["sync"]["pending_changes"].as_u64().unwrap_or(0) >= 1_000, "{refused}");

    // The person closes those tabs: the additions give way to the closings.
    assert_eq!(host.request(snapshot(w, few))["type"], "ack");
    let done = host.wait_status("in sync again", |s| {
        s["sync"]["pending_changes"] == 0 && s["sync"].get("error").is_none_or(Value::is_null)
    });
    assert!(done["sync"]["last_sync_ms"].is_i64(), "{done}");
}
