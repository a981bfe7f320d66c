//! The extension's server URL preference (`configure`), with real parts:
//! two `baton-server`s and one `baton-host` that starts on the first.

mod support;

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use serde_json::{json, Value};
use support::{snapshot, tab, window, Host, Server};

/// The host's device rows: server URL → device id.
fn device_rows(db: &Path) -> Vec<(String, String)> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open the host database");
    let mut stmt = conn.prepare("SELECT server_url, id FROM device ORDER BY server_url").expect("query devices");
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).expect("devices");
    rows.map(|r| r.expect("device row")).collect()
}

/// The devices a server registered.
fn server_devices(db: &Path) -> Vec<String> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open the server database");
    let mut stmt = conn.prepare("SELECT id FROM device").expect("query server devices");
    let rows = stmt.query_map([], |r| r.get(0)).expect("devices");
    rows.map(|r| r.expect("device id")).collect()
}

fn connected_to(host: &mut Host, url: &str) -> Value {
    host.wait_status(&format!("connected to {url}"), |s| {
        s["server"]["url"] == url && s["server"]["state"] == "connected" && s["device"]["id"].is_string()
    })
}

#[test]
fn configure_moves_the_link_to_the_chosen_server_and_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let a = Server::start(&dir.path().join("a.sqlite3"), "127.0.0.1:0");
    let b = Server::start(&dir.path().join("b.sqlite3"), "127.0.0.1:0");
    let mut host = Host::start(&a.url, "Managed laptop");
    let on_a = connected_to(&mut host, &a.url);
    let a_id = on_a["device"]["id"].as_str().expect("device id").to_owned();

    // No preference changes nothing.
    assert_eq!(host.request(json!({"type": "configure", "server_url": null}))["type"], "ack");
    assert_eq!(host.request(json!({"type": "configure"}))["type"], "ack");
    assert_eq!(host.status()["server"]["url"], a.url.as_str());

    // A bad URL is refused with a typed error; the link stays where it was.
    for bad in ["javascript:alert(1)", "b.example", "ftp://b.example", "http://"] {
        let reply = host.request(json!({"type": "configure", "server_url": bad}));
        assert_eq!(reply["type"], "error", "{bad}: {reply}");
        assert_eq!(reply["code"], "invalid_request", "{bad}: {reply}");
    }
    assert_eq!(host.status()["server"]["url"], a.url.as_str());

    // The chosen server: registered there, connected, and where sync goes.
    let reply = host.request(json!({"type": "configure", "server_url": format!("{}/", b.url)}));
    assert_eq!(reply["type"], "ack", "{reply}");
    let on_b = connected_to(&mut host, &b.url);
    let b_id = on_b["device"]["id"].as_str().expect("device id").to_owned();
    assert_ne!(a_id, b_id, "a device of its own on B");
    let db = host.data_dir().join("host.sqlite3");
    assert_eq!(device_rows(&db), {
        let mut rows = vec![(a.url.clone(), a_id.clone()), (b.url.clone(), b_id.clone())];
        rows.sort();
        rows
    });
    assert!(server_devices(&b.db).contains(&b_id), "B registered the device");
    assert!(!server_devices(&b.db).contains(&a_id));
    // The extension heard of the move without asking.
    host.wait_event("status event for B", Duration::from_secs(5), |m| {
        m["type"] == "status" && m.get("id").is_none() && m["server"]["url"] == b.url.as_str()
    });
    // Captured state now syncs to B.
    let tabs = vec![tab(1, 1, 0, "https://intranet.example/ticket", "Ticket")];
    assert_eq!(host.request(snapshot(vec![window(1, true)], tabs))["type"], "ack");
    host.wait_status("uploaded to B", |s| s["server"]["url"] == b.url.as_str() && s["sync"]["pending_changes"] == 0);

    // Sending the same preference again is a no-op.
    assert_eq!(host.request(json!({"type": "configure", "server_url": b.url}))["type"], "ack");
    assert_eq!(host.status()["device"]["id"], b_id.as_str());

    // The preference is remembered: the next start goes straight to B.
    let home = host.kill();
    let mut host = Host::start_in(home, &a.url, "Managed laptop");
    assert_eq!(host.status()["server"]["url"], b.url.as_str(), "no detour through A");
    let again = connected_to(&mut host, &b.url);
    assert_eq!(again["device"]["id"], b_id.as_str(), "the registration with B is reused");

    // No preference any more: back to the host's own configuration (A),
    // with the device A already knows.
    assert_eq!(host.request(json!({"type": "configure", "server_url": null}))["type"], "ack");
    let back = connected_to(&mut host, &a.url);
    assert_eq!(back["device"]["id"], a_id.as_str());
    let home = host.kill();
    let mut host = Host::start_in(home, &a.url, "Managed laptop");
    assert_eq!(host.status()["server"]["url"], a.url.as_str(), "the preference was forgotten");
    host.close();
}
