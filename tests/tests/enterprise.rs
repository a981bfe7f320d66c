//! Enterprise deployment with a real Chromium: a managed policy file in
//! Chromium's policy directory reaches the extension and locks what it
//! sets; a site the policy never allows leaves no captured state; a host
//! registered with `baton-host install --system` is reached with no
//! user-level manifest, also when policy disables user-level hosts, and
//! `baton-host doctor` reports that policy; a field a policy's
//! `safeSelectors` names shows its value in the operator's mirror, while a
//! plain field stays masked.
//!
//! These tests write files every Chromium on the machine reads
//! (`/etc/chromium/…`), so they live in this one test binary, take
//! [`SYSTEM`] for their whole run, and remove what they wrote through a
//! guard, also when they fail. They need root; without it they fail and
//! say so.

// Each test holds [`SYSTEM`] across its awaits on purpose: the tests run on
// runtimes of their own, and the lock only keeps them apart.
#![allow(clippy::await_holding_lock)]

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use baton_e2e::store::{local_records, Record};
use baton_e2e::{
    artifacts, click_visitor_ui, in_content_world, pages, wait_in_content_world, Browser, BrowserOptions, Device,
    DeviceOptions, OrReport, Reply, ServerProcess, Session,
};
use baton_shared::ids::EXTENSION_ID;
use serde_json::json;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(25);
const UI_TIMEOUT: Duration = Duration::from_secs(10);
const CAPTURE_TIMEOUT: Duration = Duration::from_secs(15);

const POLICY_DIR: &str = "/etc/chromium/policies/managed";
const POLICY_FILE: &str = "baton-e2e-enterprise.json";
const SYSTEM_MANIFEST: &str = "/etc/chromium/native-messaging-hosts/org.baton.host.json";

/// One test at a time touches system-wide files.
static SYSTEM: Mutex<()> = Mutex::new(());

fn system_lock() -> MutexGuard<'static, ()> {
    // A failed test poisons the lock; its guard has cleaned up already.
    SYSTEM.lock().unwrap_or_else(|e| e.into_inner())
}

/// System-wide files a test wrote: on drop each is put back as it was
/// (removed, or its earlier content restored), and directories it created
/// are removed again when empty.
#[derive(Default)]
struct SystemFiles {
    files: Vec<(PathBuf, Option<Vec<u8>>)>,
    created_dirs: Vec<PathBuf>,
}

impl SystemFiles {
    /// Remembers `path` (and missing parent directories) before anything writes it.
    fn track(&mut self, path: &Path) {
        if self.files.iter().any(|(p, _)| p == path) {
            return;
        }
        let mut missing = Vec::new();
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d.exists() {
                break;
            }
            missing.push(d.to_path_buf());
            dir = d.parent();
        }
        // Innermost first, so removal on drop works outward.
        self.created_dirs.extend(missing);
        self.files.push((path.to_path_buf(), std::fs::read(path).ok()));
    }

    fn write(&mut self, path: &Path, text: &str) {
        self.track(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {} (run as root): {e}", dir.display()));
        }
        std::fs::write(path, text).unwrap_or_else(|e| panic!("write {} (run as root): {e}", path.display()));
    }
}

impl Drop for SystemFiles {
    fn drop(&mut self) {
        for (path, before) in self.files.iter().rev() {
            match before {
                Some(bytes) => {
                    let _ = std::fs::write(path, bytes);
                }
                None => {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        for dir in &self.created_dirs {
            // Only when empty: someone else may have put something there since.
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Every system-level manifest `install --system` writes on Linux.
fn system_manifests() -> Vec<PathBuf> {
    [
        "/etc/chromium/native-messaging-hosts",
        "/etc/opt/chrome/native-messaging-hosts",
        "/etc/opt/edge/native-messaging-hosts",
        "/usr/lib/mozilla/native-messaging-hosts",
    ]
    .iter()
    .map(|d| Path::new(d).join("org.baton.host.json"))
    .collect()
}

/// Pages on 127.0.0.1 (never captured by the policy below) and the same
/// server as `localhost` (captured), so the test knows capture is running.
async fn serve_pages() -> u16 {
    let origin = pages::serve(|request| {
        let path = request.path();
        Reply::html(format!(
            "<!doctype html><html><head><meta charset=utf-8><title>Page {path}</title></head>\
             <body><h1>{path}</h1><form><input name=\"note\" type=\"text\"></form></body></html>"
        ))
    })
    .await
    .expect("start the page server");
    origin.rsplit(':').next().and_then(|p| p.parse().ok()).expect("the page server's port")
}

/// The host's live local records (none while the store cannot be read).
fn host_records(db: &Path) -> Vec<Record> {
    local_records(db).unwrap_or_default()
}

/// What the popup shows about co-browsing and managed settings.
const POPUP_JS: &str = r#"(() => {
  const q = (s) => document.querySelector(s);
  const share = q('#share-tab');
  const notice = q('#managed-notice');
  return {
    share_present: !!share,
    share_visible: !!share && getComputedStyle(share).display !== 'none' && !share.hidden,
    cobrowsing: document.body?.dataset.cobrowsing ?? null,
    notice_visible: !!notice && !notice.hidden,
    notice: [...document.querySelectorAll('#managed-notice [data-managed="true"]')]
      .map((p) => ({ setting: p.dataset.setting, text: p.textContent })),
    warnings: [...document.querySelectorAll('#settings-warnings li')].map((li) => li.dataset.setting),
    text: (document.body?.innerText ?? '').slice(0, 800),
  };
})()"#;

/// The options page's view of one setting and the page's warnings.
const OPTIONS_JS: &str = r#"(() => {
  const row = (k) => {
    const r = document.querySelector(`[data-setting="${k}"].setting`);
    const input = document.querySelector(`#input-${k}`);
    return r && {
      managed: r.dataset.managed,
      badge: r.querySelector('.managed')?.textContent ?? null,
      disabled: input ? (input.disabled ?? null) : null,
      checked: input?.checked ?? null,
    };
  };
  return {
    cobrowsing: row('cobrowsingEnabled'),
    excluded: row('excludedSites'),
    continuation: row('continuationEnabled'),
    warnings: [...document.querySelectorAll('#warnings li')].map((li) => li.textContent),
    summary: document.querySelector('#managed-summary')?.textContent ?? null,
  };
})()"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_policy_locks_settings_and_never_captured_sites_leave_no_state() {
    let _lock = system_lock();
    let mut files = SystemFiles::default();
    let policy = json!({
        "3rdparty": { "extensions": { EXTENSION_ID: {
            "cobrowsingEnabled": false,
            "excludedSites": ["127.0.0.1"],
            // Out of range: ignored, with a warning in the extension's pages.
            "retentionDays": -5,
        }}}
    });
    files.write(&Path::new(POLICY_DIR).join(POLICY_FILE), &policy.to_string());

    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(dir.path().join("server.sqlite3")).await.expect("start baton-server");
    let device =
        Device::start(DeviceOptions::new("E2E Managed", server.url())).await.or_report("start the device", &[&server]);
    let parts: [&dyn baton_e2e::Diagnose; 2] = [&device, &server];

    // The popup: no "Share this tab", a notice that says who turned it off,
    // and the invalid value named in a warning.
    let popup = device.popup().await.or_report("open the popup", &parts);
    let shown = popup
        .session()
        .wait_until("co-browsing hidden and marked managed", POPUP_JS, UI_TIMEOUT, |v| {
            v["cobrowsing"] == "off"
                && v["notice"].as_array().is_some_and(|n| n.iter().any(|p| p["setting"] == "cobrowsingEnabled"))
                && v["warnings"].as_array().is_some_and(|w| w.contains(&json!("retentionDays")))
        })
        .await
        .or_report("popup under policy", &parts);
    eprintln!("popup: {shown}");
    assert_eq!(shown["share_visible"], false, "Share this tab is hidden: {shown}");
    assert_eq!(shown["notice_visible"], true);
    let notice = shown["notice"][0]["text"].as_str().unwrap_or_default();
    assert!(notice.contains("Managed by your organization"), "{notice}");

    // The options page: the setting is locked and marked; the others are not.
    let options = device
        .browser()
        .cdp()
        .open_page(&format!("chrome-extension://{EXTENSION_ID}/options.html"))
        .await
        .or_report("open the options page", &parts);
    let view = options
        .wait_until("options page drawn with the policy", OPTIONS_JS, UI_TIMEOUT, |v| {
            v["cobrowsing"]["managed"] == "true" && v["excluded"]["managed"] == "true"
        })
        .await
        .or_report("options page", &parts);
    eprintln!("options: {view}");
    assert_eq!(view["cobrowsing"]["disabled"], true, "a locked setting cannot be changed");
    assert_eq!(view["cobrowsing"]["checked"], false);
    assert_eq!(view["cobrowsing"]["badge"], "Managed by your organization");
    assert_eq!(view["continuation"]["managed"], "false");
    assert_eq!(view["continuation"]["disabled"], false);
    assert!(
        view["warnings"]
            .as_array()
            .is_some_and(|w| w.iter().any(|t| t.as_str().is_some_and(|t| t.contains("retentionDays")))),
        "the invalid policy value is reported: {view}"
    );

    // The person's own value cannot override the policy.
    let worker = device
        .browser()
        .cdp()
        .attach_service_worker(EXTENSION_ID, CONNECT_TIMEOUT)
        .await
        .or_report("attach to the service worker", &parts);
    worker
        .evaluate(r#"chrome.storage.local.set({ cobrowsingEnabled: true, excludedSites: [] }).then(() => true)"#)
        .await
        .or_report("try to override the policy", &parts);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = popup.session().evaluate(POPUP_JS).await.or_report("popup after the override", &parts);
    assert_eq!(after["cobrowsing"], "off", "policy wins over storage.local: {after}");
    assert_eq!(after["share_visible"], false);

    // Capture: a never-captured site leaves nothing; an allowed one is captured.
    let port = serve_pages().await;
    let never = format!("http://127.0.0.1:{port}/never-captured");
    let allowed = format!("http://localhost:{port}/captured");
    let cdp = device.browser().cdp();
    let never_page = cdp.open_page(&never).await.or_report("open the never-captured page", &parts);
    let allowed_page = cdp.open_page(&allowed).await.or_report("open the captured page", &parts);
    for page in [&never_page, &allowed_page] {
        page.wait_for("document.readyState === 'complete'", UI_TIMEOUT).await.or_report("page loaded", &parts);
        page.evaluate(
            "(() => { const i = document.querySelector('[name=note]'); i.value = 'typed'; \
             i.dispatchEvent(new Event('input', {bubbles: true})); return true; })()",
        )
        .await
        .or_report("type into the page", &parts);
    }
    let db = device.host_db_path();
    let deadline = tokio::time::Instant::now() + CAPTURE_TIMEOUT;
    loop {
        let records = host_records(&db);
        if records.iter().any(|r| r.collection == "tabs" && r.body["url"] == allowed.as_str()) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the allowed page was never captured; records: {records:?}\n{}",
            baton_e2e::Diagnose::diagnostics(&device)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // A little longer for anything about the other page to arrive.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let leaked: Vec<_> =
        host_records(&db).into_iter().filter(|r| r.body.to_string().contains("never-captured")).collect();
    assert!(leaked.is_empty(), "records of a never-captured site: {leaked:?}");
    drop(files);
}

/// Runs the built `baton-host` with `args`; returns (success, stdout + stderr).
fn host_command(args: &[&str], env: &[(String, String)]) -> (bool, String) {
    let exe = artifacts::host_binary().expect("baton-host is built");
    let out = std::process::Command::new(exe)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run baton-host");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_install_is_reached_without_a_user_level_manifest() {
    let _lock = system_lock();
    let mut files = SystemFiles::default();
    for manifest in system_manifests() {
        files.track(&manifest);
    }

    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(dir.path().join("server.sqlite3")).await.expect("start baton-server");
    let home = dir.path().join("home");
    let profile = dir.path().join("profile");
    for d in [&home, &profile, &dir.path().join("data"), &dir.path().join("config")] {
        std::fs::create_dir_all(d).expect("create a directory");
    }
    let env = vec![
        ("HOME".to_owned(), home.display().to_string()),
        ("XDG_DATA_HOME".to_owned(), dir.path().join("data").display().to_string()),
        ("XDG_CONFIG_HOME".to_owned(), dir.path().join("config").display().to_string()),
        ("BATON_SERVER_URL".to_owned(), server.url().to_owned()),
        ("BATON_DEVICE_NAME".to_owned(), "E2E System".to_owned()),
    ];

    // Every browser's system location at once.
    let (ok, out) = host_command(&["install", "--system"], &env);
    assert!(ok, "baton-host install --system: {out}");
    for manifest in system_manifests() {
        assert!(manifest.is_file(), "{} written: {out}", manifest.display());
    }
    assert!(!profile.join("NativeMessagingHosts").exists(), "no user-level manifest");

    // User-level hosts disabled by policy: the system manifest still works.
    files.write(&Path::new(POLICY_DIR).join(POLICY_FILE), &json!({"NativeMessagingUserLevelHosts": false}).to_string());
    let browser = Browser::launch(BrowserOptions {
        extension_dir: Some(artifacts::extension_dir().expect("built extension")),
        env: env.clone(),
        user_data_dir: profile.clone(),
    })
    .await
    .or_report("launch Chromium", &[&server]);
    let popup: Session =
        browser.cdp().open_page(&baton_e2e::popup::popup_url()).await.or_report("open the popup", &[&browser, &server]);
    let popup = baton_e2e::Popup::new(popup);
    popup
        .wait_until("host and server connected through the system manifest", CONNECT_TIMEOUT, |s| {
            s.host_is("connected") && s.server_is("connected") && s.device_is("E2E System")
        })
        .await
        .or_report("popup with a system-level host", &[&browser, &server]);

    // doctor sees the policy and accepts the system manifest…
    let (ok, out) = host_command(&["doctor", "--browser", "chromium"], &env);
    eprintln!("{out}");
    assert!(out.contains("chromium policy user-level hosts"), "doctor reports the policy: {out}");
    assert!(ok, "doctor passes with the system manifest: {out}");

    // …and fails, saying how to fix it, once only a user-level manifest is left.
    let (ok, out) = host_command(&["uninstall", "--system"], &env);
    assert!(ok, "baton-host uninstall --system: {out}");
    assert!(!Path::new(SYSTEM_MANIFEST).exists());
    let (ok, out) =
        host_command(&["install", "--browser", "chromium", "--user-data-dir", &profile.display().to_string()], &env);
    assert!(ok, "user-level install: {out}");
    let profile_arg = profile.display().to_string();
    let (ok, out) = host_command(&["doctor", "--browser", "chromium", "--user-data-dir", &profile_arg], &env);
    eprintln!("{out}");
    assert!(!ok, "doctor fails: {out}");
    assert!(out.contains("user-level manifest is ignored"), "{out}");
    assert!(
        out.contains("blocked by NativeMessagingUserLevelHosts") && out.contains("install --system"),
        "doctor explains the blocked user-level host: {out}"
    );
    drop(browser);
    drop(files);
}

/// Only this page's field matches, so the policy changes nothing for any
/// other Chromium reading it meanwhile.
const SAFE_SELECTOR: &str = "#baton-e2e-policy-safe-5802";
const SAFE_VALUE: &str = "order 5802 shown";
const MASKED_VALUE: &str = "plain 4417 hidden";
const SHARED_TEXT: &str = "Policy desk 3390";

/// The mirror's inputs as `[name, value]` (the console's page).
const MIRROR_INPUTS_JS: &str = r#"(() => {
  const d = document.querySelector('#mirror')?.contentDocument;
  return { state: document.querySelector('#console-state')?.dataset.state ?? null,
    text: d?.body?.innerText ?? '',
    inputs: d ? [...d.querySelectorAll('input')].map((i) => [i.getAttribute('name'), i.value]) : [] };
})()"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_safe_selector_shows_the_field_to_the_operator() {
    let _lock = system_lock();
    let mut files = SystemFiles::default();
    let policy = json!({ "3rdparty": { "extensions": { EXTENSION_ID: { "safeSelectors": [SAFE_SELECTOR] } } } });
    files.write(&Path::new(POLICY_DIR).join(POLICY_FILE), &policy.to_string());

    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(dir.path().join("server.sqlite3")).await.expect("start baton-server");
    let (visitor, operator) = Device::start_pair("E2E Policy Visitor", "E2E Policy Operator", server.url())
        .await
        .or_report("start the devices", &[&server]);
    let parts: [&dyn baton_e2e::Diagnose; 3] = [&visitor, &operator, &server];

    // The visitor's page: a field the policy names, a plain one, both filled in.
    let html = format!(
        "<!doctype html><html><head><meta charset=utf-8><title>Policy desk</title></head><body>\
         <p>{SHARED_TEXT}</p><p><input id=\"{id}\" name=\"ticket\"></p><p><input id=\"plain\" name=\"plain\"></p></body></html>",
        id = SAFE_SELECTOR.trim_start_matches('#')
    );
    let url = format!("{}/page", pages::serve_page(html, &[]).await.expect("start the page server"));
    let page = visitor.browser().cdp().open_page(&url).await.or_report("open the page", &parts);
    page.wait_for("document.readyState === 'complete'", UI_TIMEOUT).await.or_report("page loaded", &parts);
    page.evaluate(&format!(
        "(() => {{ for (const [s, v] of [[{safe}, {sv}], ['#plain', {mv}]]) {{ const i = document.querySelector(s); i.value = v; \
         i.dispatchEvent(new Event('input', {{bubbles: true}})); }} return true; }})()",
        safe = json!(SAFE_SELECTOR),
        sv = json!(SAFE_VALUE),
        mv = json!(MASKED_VALUE)
    ))
    .await
    .or_report("fill in the fields", &parts);
    wait_in_content_world(&page, "the content script", "typeof chrome.runtime?.id === 'string'", UI_TIMEOUT, |v| {
        v == &json!(true)
    })
    .await
    .or_report("the content script", &parts);

    // Share from the visitor's popup; join from the operator's console.
    let console = operator.console().await.or_report("open the console", &parts);
    let code = visitor.share_from_popup(CONNECT_TIMEOUT, UI_TIMEOUT).await.or_report("share this tab", &parts);
    console
        .wait_until("the console ready", MIRROR_INPUTS_JS, CONNECT_TIMEOUT, |v| v["state"] == "idle")
        .await
        .or_report("console ready", &parts);
    baton_e2e::console::join(&console, &code).await.or_report("join", &parts);
    wait_in_content_world(&page, "the consent prompt", &click_visitor_ui("allow"), CONNECT_TIMEOUT, |v| {
        v == &json!(true)
    })
    .await
    .or_report("allow in the page", &parts);

    // The mirror: the policy's field as typed, the plain one masked.
    let mask: String = std::iter::repeat_n(baton_shared::cobrowse::MASK_CHAR, MASKED_VALUE.chars().count()).collect();
    let v = console
        .wait_until("the mirror with both fields", MIRROR_INPUTS_JS, UI_TIMEOUT, |v| {
            v["text"].as_str().is_some_and(|t| t.contains(SHARED_TEXT))
                && v["inputs"].as_array().is_some_and(|a| a.iter().any(|p| p[0] == "plain" && p[1] == mask.as_str()))
        })
        .await
        .or_report("the mirror", &parts);
    eprintln!("mirror: {v}");
    let inputs = v["inputs"].as_array().cloned().unwrap_or_default();
    assert!(inputs.contains(&json!(["ticket", SAFE_VALUE])), "the policy's field shows its value: {inputs:?}");
    assert!(!v.to_string().contains(MASKED_VALUE), "the plain field stays masked: {v}");
    let _ = in_content_world(&page, &click_visitor_ui("stop")).await;
    drop((visitor, operator));
    drop(files);
}
