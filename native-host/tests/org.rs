//! `baton-host join-org`, with real parts: a `baton-server`, a host as the
//! browser starts it, and the command run beside it with the same home.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;
use support::{http, Host, Server};

fn join_org(home: &Path, server: &Server, code: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_baton-host"))
        .args(["join-org", code])
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("HOME", home)
        .env("BATON_SERVER_URL", &server.url)
        .output()
        .expect("run baton-host join-org")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[test]
fn join_org_makes_this_devices_account_a_member_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&dir.path().join("server.sqlite3"), "127.0.0.1:0");
    let mut host = Host::start(&server.url, "Laptop");
    let device_id = host.wait_connected();

    // An admin, on a device of its own, makes an invitation.
    let (status, admin) = http(&server, "POST", "/v1/devices", None, &json!({"name": "Admin", "kind": "desktop"}));
    assert_eq!(status, 200, "{admin}");
    let token = admin["device_token"].as_str().expect("token");
    let (status, org) = http(&server, "POST", "/v1/orgs", Some(token), &json!({"name": "Support desk"}));
    assert_eq!(status, 200, "{org}");
    let org_id = org["org_id"].as_str().expect("org id");
    let (status, invite) =
        http(&server, "POST", &format!("/v1/orgs/{org_id}/invites"), Some(token), &json!({"role": "operator"}));
    assert_eq!(status, 200, "{invite}");
    let code = invite["code"].as_str().expect("code");

    // Accepted beside the running host, as this device.
    let out = join_org(host.home.path(), &server, code);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains(org_id) && said.contains("as operator"), "{said}");
    let db = rusqlite::Connection::open(&server.db).expect("server db");
    let role: String = db
        .query_row(
            "SELECT m.role FROM org_member m JOIN device d ON d.account_id = m.account_id WHERE d.id = ?1",
            [&device_id],
            |r| r.get(0),
        )
        .expect("a member");
    assert_eq!(role, "operator");
    assert_eq!(host.request(json!({"type": "ping"}))["type"], "pong", "the running host is undisturbed");

    // The code was single use; a typo and a home that never registered are
    // told clearly.
    let again = join_org(host.home.path(), &server, code);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("unknown, used or expired"), "{}", text(&again.stderr));
    let typo = join_org(host.home.path(), &server, "not-a-code!");
    assert!(!typo.status.success());
    assert!(text(&typo.stderr).contains("not an invitation code"), "{}", text(&typo.stderr));
    let nowhere = tempfile::tempdir().expect("temp dir");
    let unregistered = join_org(nowhere.path(), &server, code);
    assert!(!unregistered.status.success());
    assert!(text(&unregistered.stderr).contains("open Baton in the browser once"), "{}", text(&unregistered.stderr));
    assert!(!nowhere.path().join("data").exists(), "nothing was created there");
}
