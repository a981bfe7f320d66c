//! Self-tests of the harness: real Chromium, a plain page and a throwaway
//! extension carrying Baton's key, plus the host-process lookup.

use std::path::Path;
use std::time::Duration;

use baton_e2e::popup::popup_url;
use baton_e2e::{host, Browser, BrowserOptions, CdpError, OrReport, Popup};
use baton_shared::ids::EXTENSION_ID;
use serde_json::json;

async fn launch(dir: &Path, extension_dir: Option<&Path>) -> Browser {
    let profile = dir.join("profile");
    std::fs::create_dir_all(&profile).expect("create the profile directory");
    Browser::launch(BrowserOptions {
        extension_dir: extension_dir.map(Path::to_path_buf),
        env: Vec::new(),
        user_data_dir: profile,
    })
    .await
    .expect("launch Chromium")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drives_a_plain_page() {
    let dir = tempfile::tempdir().expect("temp dir");
    let browser = launch(dir.path(), None).await;
    let cdp = browser.cdp();

    let page = cdp
        .open_page(
            "data:text/html,<p id=greeting>hello</p>\
             <script>setTimeout(() => document.body.dataset.late = 'yes', 300)</script>",
        )
        .await
        .or_report("open a data: page", &[&browser]);

    let late = page
        .wait_for("document.body && document.body.dataset.late", Duration::from_secs(10))
        .await
        .or_report("the page's timer fires", &[&browser]);
    assert_eq!(late, json!("yes"));

    let text =
        page.evaluate("document.getElementById('greeting').textContent").await.or_report("read the DOM", &[&browser]);
    assert_eq!(text, json!("hello"));

    let awaited = page
        .evaluate("new Promise(r => setTimeout(() => r({sum: 1 + 2}), 50))")
        .await
        .or_report("await a promise", &[&browser]);
    assert_eq!(awaited, json!({ "sum": 3 }));

    assert_eq!(page.evaluate("undefined").await.expect("undefined"), json!(null));

    match page.evaluate("(() => { throw new TypeError('boom'); })()").await {
        Err(CdpError::JsException { description, .. }) => {
            let description = description.unwrap_or_default();
            assert!(description.contains("TypeError: boom"), "{description}");
        }
        other => panic!("expected a JS exception, got {other:?}"),
    }
    match page.evaluate("Promise.reject('nope')").await {
        Err(CdpError::JsException { description, .. }) => {
            assert!(description.unwrap_or_default().contains("nope"));
        }
        other => panic!("expected a rejected promise to be an exception, got {other:?}"),
    }

    // A timed-out wait says what it saw last.
    match page
        .wait_until("a count of 5", "document.querySelectorAll('p').length", Duration::from_millis(400), |v| {
            v == &json!(5)
        })
        .await
    {
        Err(CdpError::WaitTimeout { what, last, .. }) => {
            assert_eq!(what, "a count of 5");
            assert_eq!(last, "1");
        }
        other => panic!("expected a wait timeout, got {other:?}"),
    }

    // Events arrive on flattened sessions.
    page.navigate("data:text/html,<title>second</title>", Duration::from_secs(10))
        .await
        .or_report("navigate", &[&browser]);
    assert_eq!(page.evaluate("document.title").await.expect("title"), json!("second"));
}

/// A throwaway MV3 extension with Baton's public key (so Baton's id), a
/// service worker and a popup.html that imitates the real popup's hooks.
fn write_keyed_extension(dir: &Path) {
    let key_path = baton_e2e::artifacts::repo_root().join("manifest/keys/dev-extension-key.pub.b64");
    let key = std::fs::read_to_string(&key_path).unwrap_or_else(|e| panic!("read {}: {e}", key_path.display()));
    let manifest = json!({
        "manifest_version": 3,
        "name": "Harness probe",
        "version": "0.0.1",
        "key": key.trim(),
        "background": { "service_worker": "sw.js" },
    });
    std::fs::create_dir_all(dir).expect("create extension dir");
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("write {name}: {e}"));
    };
    write("manifest.json", &manifest.to_string());
    write("sw.js", "self.answer = 42;\n");
    write(
        "popup.html",
        r#"<!doctype html><meta charset="utf-8">
<p>Host: <span id="host-state" data-state="connecting">…</span></p>
<p>Server: <span id="server-state" data-state="unknown">…</span></p>
<p>Device: <span id="device-name"></span></p>
<script src="popup.js"></script>
"#,
    );
    write(
        "popup.js",
        r#"setTimeout(() => {
  document.getElementById('host-state').dataset.state = 'connected';
  document.getElementById('server-state').dataset.state = 'connected';
  document.getElementById('device-name').textContent = 'Probe Device';
}, 400);
"#,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_an_extension_with_batons_id() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ext = dir.path().join("extension");
    write_keyed_extension(&ext);
    let browser = launch(dir.path(), Some(&ext)).await;
    let cdp = browser.cdp();

    let worker = cdp
        .attach_service_worker(EXTENSION_ID, Duration::from_secs(20))
        .await
        .or_report("the extension's service worker starts under Baton's id", &[&browser]);
    // The target is listed as soon as the worker registers, possibly
    // before its script has run.
    let answer =
        worker.wait_for("self.answer", Duration::from_secs(10)).await.or_report("the worker's script ran", &[&browser]);
    assert_eq!(answer, json!(42));

    let popup = Popup::new(cdp.open_page(&popup_url()).await.or_report("open popup.html", &[&browser]));
    let state = popup
        .wait_until("the probe popup to connect", Duration::from_secs(10), |s| {
            s.host_is("connected") && s.server_is("connected") && s.device_is("Probe Device")
        })
        .await
        .or_report("popup hooks", &[&browser]);
    assert!(state.text.contains("Device"), "{state}");

    let failed = popup.wait_until("an impossible state", Duration::from_millis(300), |s| s.host_is("rejected")).await;
    match failed {
        Err(CdpError::WaitTimeout { last, .. }) => {
            assert!(last.contains("\"host\":\"connected\""), "last snapshot: {last}")
        }
        other => panic!("expected a wait timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn finds_and_kills_host_processes_by_profile() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Any long-running program will do, as long as it is named like the host.
    let fake_host = dir.path().join("baton-host");
    std::fs::copy("/bin/sleep", &fake_host).expect("copy /bin/sleep");
    let mine = dir.path().join("data-mine");
    let other = dir.path().join("data-other");

    // A process another test forks while the copy is being written keeps a
    // writable descriptor until it execs, and exec then fails with "text
    // file busy" (ETXTBSY, 26) for a moment: retry briefly.
    let spawn = |data_home: &Path| {
        let mut attempts = 0;
        loop {
            match std::process::Command::new(&fake_host).arg("60").env("XDG_DATA_HOME", data_home).spawn() {
                Ok(child) => break child,
                Err(e) if e.raw_os_error() == Some(26) && attempts < 50 => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => panic!("spawn the stand-in host: {e}"),
            }
        }
    };
    let mut mine_child = spawn(&mine);
    let mut other_child = spawn(&other);

    // /proc may show a just-started process a moment late on a busy machine.
    let shows = |data_home: &Path, pid: u32| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while host::pids(data_home) != [pid] && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    shows(&mine, mine_child.id());
    shows(&other, other_child.id());
    assert_eq!(host::pids(&mine), vec![mine_child.id()]);
    assert_eq!(host::kill(&mine).expect("kill"), vec![mine_child.id()]);
    let status = mine_child.wait().expect("wait");
    assert!(!status.success(), "killed by a signal: {status}");
    assert_eq!(other_child.try_wait().expect("try_wait"), None, "the other profile's host lives");
    assert!(host::pids(&mine).is_empty());
    assert_eq!(host::pids(&other), vec![other_child.id()]);

    other_child.kill().expect("kill the other stand-in");
    let _ = other_child.wait();
}
