//! The walking skeleton, end to end: Chromium runs the extension, which
//! starts baton-host over native messaging, which registers the device with
//! baton-server; the popup shows each link's state and recovers from a lost
//! host and from a server outage by itself.

use std::path::Path;
use std::time::Duration;

use baton_e2e::store::open_read_only;
use baton_e2e::{Device, DeviceOptions, OrReport, ServerProcess};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(10);

fn device_names(db: &Path) -> rusqlite::Result<Vec<String>> {
    let conn = open_read_only(db)?;
    let mut stmt = conn.prepare("SELECT name FROM device ORDER BY name")?;
    let names = stmt.query_map([], |row| row.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(names)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_registers_and_survives_losing_its_host() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(dir.path().join("server.sqlite3")).await.expect("start baton-server");
    let device =
        Device::start(DeviceOptions::new("E2E Laptop", server.url())).await.or_report("start the device", &[&server]);
    let parts: [&dyn baton_e2e::Diagnose; 2] = [&device, &server];

    let popup = device.popup().await.or_report("open the popup", &parts);
    let state = popup
        .wait_until("host and server connected, device registered", CONNECT_TIMEOUT, |s| {
            s.host_is("connected") && s.server_is("connected") && s.device_is("E2E Laptop")
        })
        .await
        .or_report("popup after start", &parts);
    eprintln!("popup after start: {state}");

    let names = device_names(&device.host_db_path()).or_report("read the host's device table", &parts);
    assert_eq!(names, vec!["E2E Laptop".to_owned()], "host store's device table");

    // Lose the host for good: without its manifest Chromium cannot restart it.
    device.uninstall_host().await.or_report("uninstall the host manifest", &parts);
    let killed = device.kill_host().or_report("kill the host", &parts);
    eprintln!("killed baton-host {killed:?}");
    assert!(
        !killed.is_empty(),
        "a baton-host was running for the device\n{}",
        baton_e2e::Diagnose::diagnostics(&device)
    );
    popup
        .wait_until("host disconnected", DISCONNECT_TIMEOUT, |s| s.host_is("disconnected"))
        .await
        .or_report("popup after the host was killed", &parts);

    // With the manifest back, the extension's backoff brings the host back.
    device.install_host().await.or_report("reinstall the host manifest", &parts);
    popup
        .wait_until("host connected again", CONNECT_TIMEOUT, |s| s.host_is("connected") && s.server_is("connected"))
        .await
        .or_report("popup after reinstalling the host", &parts);
    assert!(!device.host_pids().is_empty(), "Chromium restarted baton-host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_reports_server_outage_and_recovers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("server.sqlite3");
    // Start once to learn a free port, then stop: the device starts with
    // its server down and the same address comes back later.
    let mut server = ServerProcess::start(&db).await.expect("start baton-server");
    let status = server.stop().await.or_report("stop baton-server with SIGTERM", &[&server]);
    assert!(status.success(), "baton-server exits 0 on SIGTERM, got {status}\n{}", server.log_tail(40));

    let device =
        Device::start(DeviceOptions::new("E2E Desktop", server.url())).await.or_report("start the device", &[&server]);
    let popup = device.popup().await.or_report("open the popup", &[&device, &server]);
    popup
        .wait_until("host connected, server unreachable", CONNECT_TIMEOUT, |s| {
            s.host_is("connected") && s.server_is("unreachable")
        })
        .await
        .or_report("popup while the server is down", &[&device, &server]);

    server.restart().await.or_report("start baton-server again on the same port", &[&device, &server]);
    popup
        .wait_until("server connected, device registered", CONNECT_TIMEOUT, |s| {
            s.host_is("connected") && s.server_is("connected") && s.device_is("E2E Desktop")
        })
        .await
        .or_report("popup after the server came back", &[&device, &server]);
}
