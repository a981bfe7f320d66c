//! Browser policy that decides whether Baton can work: read from the
//! Chromium-family managed-policy directories (Linux), and judged against
//! what is installed.
//!
//! - `NativeMessagingUserLevelHosts: false` — user-level manifests are
//!   ignored, so only a system-level one (`install --system`) works.
//! - `NativeMessagingBlocklist` / `NativeMessagingAllowlist` — whether the
//!   host `org.baton.host` may be started at all.
//! - `ExtensionInstallBlocklist` / `ExtensionInstallAllowlist` /
//!   `ExtensionInstallForcelist` / `ExtensionSettings` — whether Baton's
//!   extension may be installed, and whether it is force-installed.
//! - `3rdparty.extensions.<id>` — Baton's managed settings are present.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use baton_shared::ids;

use super::CheckResult;
use crate::manifests::Browser;

/// The merged managed policy of one browser, with what could not be read.
#[derive(Debug, Clone, Default)]
pub struct BrowserPolicy {
    pub values: Map<String, Value>,
    /// Files that are not JSON objects, with the reason.
    pub unreadable: Vec<(PathBuf, String)>,
    /// The files that were read.
    pub files: Vec<PathBuf>,
}

/// Where a Chromium-family browser reads mandatory policy on Linux.
#[cfg(not(any(target_os = "macos", windows)))]
pub fn managed_dir(browser: Browser) -> Option<PathBuf> {
    Some(PathBuf::from(match browser {
        Browser::Chromium => "/etc/chromium/policies/managed",
        Browser::Chrome => "/etc/opt/chrome/policies/managed",
        Browser::Edge => "/etc/opt/edge/policies/managed",
        Browser::Brave => "/etc/brave/policies/managed",
        Browser::Firefox => return None,
    }))
}

/// macOS and Windows keep policy in managed preferences and the registry.
#[cfg(any(target_os = "macos", windows))]
pub fn managed_dir(_browser: Browser) -> Option<PathBuf> {
    None
}

/// Reads every `*.json` in `dir`, in name order; later files win per
/// policy, as in Chromium (which does not define an order either).
pub fn load(dir: &Path) -> BrowserPolicy {
    let mut policy = BrowserPolicy::default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return policy;
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && p.is_file())
        .collect();
    files.sort();
    for file in files {
        let parsed = std::fs::read_to_string(&file)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string()));
        match parsed {
            Ok(Value::Object(map)) => {
                policy.values.extend(map);
                policy.files.push(file);
            }
            Ok(_) => policy.unreadable.push((file, "not a JSON object".to_owned())),
            Err(e) => policy.unreadable.push((file, e)),
        }
    }
    policy
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

/// Judges `policy` for `browser`, given which manifests exist.
pub fn assess(
    browser: Browser,
    policy: &BrowserPolicy,
    user_manifest: bool,
    system_manifest: bool,
) -> Vec<CheckResult> {
    let name = |what: &str| format!("{browser} policy {what}");
    let mut out = Vec::new();
    for (file, reason) in &policy.unreadable {
        out.push(CheckResult::warn(
            name("file"),
            format!("{} is ignored by the browser: {reason}", file.display()),
            Some(format!("correct or remove {}", file.display())),
        ));
    }
    let v = &policy.values;

    // Native messaging.
    let user_blocked = v.get("NativeMessagingUserLevelHosts") == Some(&Value::Bool(false));
    if user_blocked {
        out.push(if system_manifest {
            CheckResult::ok(name("user-level hosts"), "blocked by NativeMessagingUserLevelHosts; the system-level manifest is used")
        } else {
            CheckResult::fail(
                name("user-level hosts"),
                format!(
                    "blocked by NativeMessagingUserLevelHosts{}; there is no system-level manifest, so {browser} cannot start baton-host",
                    if user_manifest { " (the user-level manifest is ignored)" } else { "" }
                ),
                format!("sudo baton-host install --system --browser {browser}"),
            )
        });
    }
    let host = ids::HOST_NAME;
    let blocked = strings(v.get("NativeMessagingBlocklist"));
    let allowed = strings(v.get("NativeMessagingAllowlist"));
    if (blocked.contains(&"*") || blocked.contains(&host)) && !allowed.contains(&host) {
        out.push(CheckResult::fail(
            name("native messaging"),
            format!("NativeMessagingBlocklist blocks {host} and NativeMessagingAllowlist does not list it"),
            format!("add \"{host}\" to NativeMessagingAllowlist in the browser's policy"),
        ));
    } else if !blocked.is_empty() || !allowed.is_empty() {
        out.push(CheckResult::ok(name("native messaging"), format!("{host} may be started")));
    }

    // The extension.
    let id = ids::EXTENSION_ID;
    let forced = strings(v.get("ExtensionInstallForcelist")).iter().any(|e| e.split(';').next() == Some(id));
    let settings = v.get("ExtensionSettings").and_then(Value::as_object);
    let mode =
        |key: &str| settings.and_then(|s| s.get(key)).and_then(|e| e.get("installation_mode")).and_then(Value::as_str);
    let own_mode = mode(id);
    let forced = forced || matches!(own_mode, Some("force_installed" | "normal_installed"));
    let ext_blocked = strings(v.get("ExtensionInstallBlocklist"));
    let ext_allowed = strings(v.get("ExtensionInstallAllowlist")).contains(&id);
    let blocked_by_list = (ext_blocked.contains(&"*") || ext_blocked.contains(&id)) && !ext_allowed;
    let blocked_by_settings =
        own_mode == Some("blocked") || (own_mode.is_none() && mode("*") == Some("blocked") && !ext_allowed);
    if own_mode == Some("blocked") || (!forced && (blocked_by_list || blocked_by_settings)) {
        out.push(CheckResult::fail(
            name("extension"),
            format!("policy blocks Baton's extension ({id})"),
            format!("allow or force-install {id} (ExtensionInstallForcelist or ExtensionSettings)"),
        ));
    } else if forced {
        out.push(CheckResult::ok(name("extension"), format!("Baton's extension is force-installed ({id})")));
    }

    // Baton's managed settings.
    let third = v.get("3rdparty").and_then(|t| t.get("extensions")).and_then(|e| e.get(id));
    match third {
        Some(Value::Object(m)) => out.push(CheckResult::ok(
            name("managed settings"),
            format!("{} setting(s) for Baton: {}", m.len(), m.keys().cloned().collect::<Vec<_>>().join(", ")),
        )),
        Some(_) => out.push(CheckResult::warn(
            name("managed settings"),
            format!("3rdparty.extensions.{id} is not an object; the browser ignores it"),
            None,
        )),
        None => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::Status;
    use super::*;
    use serde_json::json;

    fn policy(v: Value) -> BrowserPolicy {
        BrowserPolicy { values: v.as_object().cloned().unwrap_or_default(), ..Default::default() }
    }

    fn statuses(r: &[CheckResult]) -> Vec<(String, Status)> {
        r.iter().map(|c| (c.name.rsplit("policy ").next().unwrap_or_default().to_owned(), c.status)).collect()
    }

    #[test]
    fn no_policy_no_findings() {
        assert!(assess(Browser::Chromium, &policy(json!({})), true, false).is_empty());
    }

    #[test]
    fn user_level_hosts_blocked() {
        let p = policy(json!({"NativeMessagingUserLevelHosts": false}));
        let r = assess(Browser::Chromium, &p, true, false);
        assert_eq!(statuses(&r), [("user-level hosts".to_owned(), Status::Fail)]);
        assert!(r[0].detail.contains("ignored"), "{}", r[0].detail);
        assert_eq!(r[0].fix.as_deref(), Some("sudo baton-host install --system --browser chromium"));
        let r = assess(Browser::Chromium, &p, false, true);
        assert_eq!(statuses(&r), [("user-level hosts".to_owned(), Status::Ok)]);
    }

    #[test]
    fn native_messaging_block_and_allow_lists() {
        let r = assess(Browser::Chrome, &policy(json!({"NativeMessagingBlocklist": ["*"]})), false, true);
        assert_eq!(r[0].status, Status::Fail);
        let p = policy(json!({"NativeMessagingBlocklist": ["*"], "NativeMessagingAllowlist": ["org.baton.host"]}));
        assert_eq!(assess(Browser::Chrome, &p, false, true)[0].status, Status::Ok);
    }

    #[test]
    fn extension_blocked_or_forced() {
        let id = ids::EXTENSION_ID;
        let r = assess(Browser::Chrome, &policy(json!({"ExtensionInstallBlocklist": ["*"]})), true, false);
        assert_eq!(statuses(&r), [("extension".to_owned(), Status::Fail)]);
        let p = policy(
            json!({"ExtensionInstallBlocklist": ["*"], "ExtensionInstallForcelist": [format!("{id};https://u.example/x.xml")]}),
        );
        assert_eq!(statuses(&assess(Browser::Chrome, &p, true, false)), [("extension".to_owned(), Status::Ok)]);
        let p = policy(json!({"ExtensionSettings": {"*": {"installation_mode": "blocked"}}}));
        assert_eq!(assess(Browser::Chrome, &p, true, false)[0].status, Status::Fail);
        let p = policy(
            json!({"ExtensionSettings": {"*": {"installation_mode": "blocked"}, id: {"installation_mode": "force_installed"}}}),
        );
        assert_eq!(assess(Browser::Chrome, &p, true, false)[0].status, Status::Ok);
    }

    #[test]
    fn managed_settings_and_unreadable_files() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("a.json"), "{ nope").unwrap();
        std::fs::write(
            tmp.path().join("b.json"),
            json!({"3rdparty": {"extensions": {ids::EXTENSION_ID: {"cobrowsingEnabled": false}}}}).to_string(),
        )
        .unwrap();
        std::fs::write(tmp.path().join("c.txt"), "ignored").unwrap();
        let p = load(tmp.path());
        assert_eq!(p.files.len(), 1);
        let r = assess(Browser::Chromium, &p, true, false);
        assert_eq!(statuses(&r), [("file".to_owned(), Status::Warn), ("managed settings".to_owned(), Status::Ok)]);
        assert!(r[1].detail.contains("cobrowsingEnabled"));
        assert!(load(&tmp.path().join("absent")).values.is_empty());
    }
}
