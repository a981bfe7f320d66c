//! Startup, restart, shutdown and what the database holds.

use std::net::TcpListener;

use baton_shared::api::{DeviceRecord, PATH_DEVICE_SELF};

use crate::common::{client, run_to_exit, Server};

async fn read_self(server: &Server, token: &str) -> reqwest::Response {
    client().get(server.url(PATH_DEVICE_SELF)).bearer_auth(token).send().await.unwrap()
}

/// Every byte SQLite keeps for this database (main file, WAL, journal).
fn database_bytes(db: &std::path::Path) -> Vec<u8> {
    ["", "-wal", "-journal"]
        .iter()
        .filter_map(|suffix| std::fs::read(format!("{}{suffix}", db.display())).ok())
        .flatten()
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn restart_keeps_devices_and_never_stores_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nested").join("server.sqlite3");

    let server = Server::start_at(&db).await;
    let device = server.register("Keeper").await;
    let before: DeviceRecord = read_self(&server, &device.device_token).await.json().await.unwrap();
    assert!(!contains(&database_bytes(&db), device.device_token.as_bytes()), "token stored in plain text");
    assert!(server.terminate().await.success());

    assert!(!contains(&database_bytes(&db), device.device_token.as_bytes()), "token stored in plain text");

    let server = Server::start_at(&db).await;
    let response = read_self(&server, &device.device_token).await;
    assert_eq!(response.status(), 200);
    let after: DeviceRecord = response.json().await.unwrap();
    assert_eq!(after, before);
    assert!(server.terminate().await.success());
}

#[tokio::test]
async fn sigterm_exits_zero() {
    let server = Server::start().await;
    let status = server.terminate().await;
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn sigint_exits_zero() {
    let server = Server::start().await;
    let status = server.signal("-INT").await;
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn taken_port_is_a_clear_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.sqlite3");
    let out = run_to_exit(&["--listen", &addr, "--db", db.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("cannot listen on {addr}")), "{stderr}");
    assert!(out.stdout.is_empty(), "announced despite failing");
}

#[tokio::test]
async fn unusable_database_paths_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();

    // The database path is a directory.
    let as_dir = dir.path().join("is-a-dir");
    std::fs::create_dir(&as_dir).unwrap();
    let out = run_to_exit(&["--listen", "127.0.0.1:0", "--db", as_dir.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot open database") && stderr.contains("is-a-dir"), "{stderr}");

    // The parent directory cannot be created because a file is in the way.
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let under_file = file.join("server.sqlite3");
    let out = run_to_exit(&["--listen", "127.0.0.1:0", "--db", under_file.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot create database directory") && stderr.contains("plain-file"), "{stderr}");
}

#[tokio::test]
async fn database_from_a_newer_server_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.sqlite3");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.pragma_update(None, "user_version", 999).unwrap();
    drop(conn);

    let out = run_to_exit(&["--listen", "127.0.0.1:0", "--db", db.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("schema version 999"), "{stderr}");

    let conn = rusqlite::Connection::open(&db).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 999);
}

#[tokio::test]
async fn default_database_follows_xdg_data_home() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(crate::common::BIN)
        .args(["--listen", "127.0.0.1:0"])
        .env("XDG_DATA_HOME", dir.path())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    tokio::io::AsyncBufReadExt::read_line(&mut tokio::io::BufReader::new(stdout), &mut line).await.unwrap();
    assert!(line.starts_with("baton-server listening on http://127.0.0.1:"), "{line:?}");
    assert!(dir.path().join("baton-server").join("server.sqlite3").is_file());
    child.kill().await.unwrap();
}
