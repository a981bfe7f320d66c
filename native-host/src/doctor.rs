//! `doctor`: checks that a browser can find and launch this host and that
//! the host can work, as a list of results; printing is separate so other
//! checks (store, vault, policy) can be appended to the list.

mod policy;
mod status_probe;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use baton_shared::ids;

use crate::config::{self, Config, ConfigFile, ExtensionChoice, ENV_SERVER_URL};
use crate::manifests::{self, Browser, HostManifest, Scope, UserDirs};
use crate::paths::HostPaths;

/// How long the server check may take in total.
pub const SERVER_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub status: Status,
    /// What was checked, e.g. `chrome (user level) manifest`.
    pub name: String,
    /// What was found; for failures, exactly what is wrong.
    pub detail: String,
    /// A command (or action) that fixes a failure or warning.
    pub fix: Option<String>,
}

impl CheckResult {
    pub fn ok(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { status: Status::Ok, name: name.into(), detail: detail.into(), fix: None }
    }

    pub fn warn(name: impl Into<String>, detail: impl Into<String>, fix: Option<String>) -> Self {
        Self { status: Status::Warn, name: name.into(), detail: detail.into(), fix }
    }

    pub fn fail(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { status: Status::Fail, name: name.into(), detail: detail.into(), fix: Some(fix.into()) }
    }
}

/// What to check: `browsers` empty means every browser found on this machine.
#[derive(Debug, Clone, Default)]
pub struct DoctorOptions {
    pub browsers: Vec<Browser>,
    /// Check only the manifest in this Chromium-family profile directory.
    pub user_data_dir: Option<PathBuf>,
}

/// The surroundings the checks look at, gathered once.
struct Environment {
    user: Option<UserDirs>,
    host_paths: Option<HostPaths>,
    current_exe: Option<PathBuf>,
}

impl Environment {
    fn from_process() -> Self {
        Self {
            user: UserDirs::from_env().ok(),
            host_paths: HostPaths::from_env().ok(),
            current_exe: std::env::current_exe().and_then(|p| p.canonicalize()).ok(),
        }
    }
}

pub fn run_checks(options: &DoctorOptions) -> Vec<CheckResult> {
    let env = Environment::from_process();
    let mut results = manifest_checks(options, &env);
    results.extend(policy_checks(options, &env));
    results.extend(data_dir_check(&env));
    results.extend(store_and_vault_checks(&env));
    results.extend(config_and_server_checks(&env, options));
    results
}

/// True when nothing failed (warnings do not count).
pub fn all_ok(results: &[CheckResult]) -> bool {
    results.iter().all(|r| r.status != Status::Fail)
}

pub fn print(results: &[CheckResult], out: &mut impl Write) -> std::io::Result<()> {
    for r in results {
        writeln!(out, "{:<5} {}: {}", r.status.label(), r.name, r.detail)?;
        if let Some(fix) = &r.fix {
            writeln!(out, "      fix: {fix}")?;
        }
    }
    let failed = results.iter().filter(|r| r.status == Status::Fail).count();
    let warned = results.iter().filter(|r| r.status == Status::Warn).count();
    match failed {
        0 => writeln!(out, "all checks passed ({warned} warning(s))"),
        n => writeln!(out, "{n} check(s) failed, {warned} warning(s)"),
    }
}

// ---- manifests -------------------------------------------------------------

/// One manifest location to look at.
struct Location {
    browser: Browser,
    scope: Scope,
    path: PathBuf,
}

impl Location {
    fn label(&self) -> String {
        format!("{} ({})", self.browser, self.scope.describe())
    }

    fn install_command(&self) -> String {
        let sudo = if self.scope == Scope::System { "sudo " } else { "" };
        format!("{sudo}baton-host install --browser {}{}", self.browser, self.scope.flags())
    }
}

fn manifest_checks(options: &DoctorOptions, env: &Environment) -> Vec<CheckResult> {
    let Some(user) = &env.user else {
        return vec![CheckResult::fail("manifests", "cannot determine the home directory", "set HOME and run again")];
    };
    if let Some(dir) = &options.user_data_dir {
        let browsers = if options.browsers.is_empty() { vec![Browser::Chromium] } else { options.browsers.clone() };
        let scope = Scope::UserDataDir(dir.clone());
        let mut results = Vec::new();
        for browser in browsers {
            match manifests::manifest_path(browser, &scope, user) {
                Ok(path) => results.extend(check_required(&[Location { browser, scope: scope.clone(), path }], env)),
                Err(e) => results.push(CheckResult::fail(
                    format!("{browser} manifest"),
                    e.to_string(),
                    format!("baton-host doctor --browser {browser}"),
                )),
            }
        }
        return results;
    }
    if !options.browsers.is_empty() {
        return options.browsers.iter().flat_map(|&browser| check_required(&locations(browser, user), env)).collect();
    }
    detect_and_check(user, env)
}

fn locations(browser: Browser, user: &UserDirs) -> Vec<Location> {
    manifests::default_dirs(browser, user)
        .into_iter()
        .map(|(scope, dir)| Location { browser, scope, path: dir.join(manifests::manifest_file_name()) })
        .collect()
}

/// The browser was asked for: checks every manifest it has, and fails when
/// it has none.
fn check_required(locations: &[Location], env: &Environment) -> Vec<CheckResult> {
    let present: Vec<&Location> = locations.iter().filter(|l| l.path.exists()).collect();
    match (present.is_empty(), locations.first()) {
        (_, None) => Vec::new(),
        (true, Some(first)) => vec![CheckResult::fail(
            format!("{} manifest", first.label()),
            format!("missing: {}", first.path.display()),
            first.install_command(),
        )],
        (false, _) => present.into_iter().flat_map(|l| check_manifest(l, env)).collect(),
    }
}

/// No browser named: looks at every browser installed here.
fn detect_and_check(user: &UserDirs, env: &Environment) -> Vec<CheckResult> {
    let mut results = Vec::new();
    let mut detected = Vec::new();
    let mut with_manifest = 0;
    for browser in Browser::ALL {
        let locs = locations(browser, user);
        // The NativeMessagingHosts directory itself may not exist yet; the
        // browser's own directory above it says the browser is installed.
        let installed = locs.iter().any(|l| l.path.parent().and_then(Path::parent).is_some_and(Path::is_dir));
        let present: Vec<&Location> = locs.iter().filter(|l| l.path.exists()).collect();
        if present.is_empty() {
            if installed {
                detected.push(browser);
                if let Some(first) = locs.first() {
                    results.push(CheckResult::warn(
                        format!("{browser} manifest"),
                        format!("{browser} is installed but has no Baton manifest ({})", first.path.display()),
                        Some(first.install_command()),
                    ));
                }
            }
            continue;
        }
        with_manifest += 1;
        for loc in present {
            results.extend(check_manifest(loc, env));
        }
    }
    if with_manifest == 0 {
        let browser = detected.first().copied().unwrap_or(Browser::Chrome);
        let detail = match detected.is_empty() {
            true => "no supported browser found and no Baton manifest installed".to_owned(),
            false => "no Baton manifest is installed for any browser".to_owned(),
        };
        results.push(CheckResult::fail("manifests", detail, format!("baton-host install --browser {browser}")));
    }
    results
}

/// Every check on one manifest file that exists.
fn check_manifest(loc: &Location, env: &Environment) -> Vec<CheckResult> {
    let label = loc.label();
    let fix = loc.install_command();
    let text = match std::fs::read_to_string(&loc.path) {
        Ok(t) => t,
        Err(e) => {
            return vec![CheckResult::fail(
                format!("{label} manifest"),
                format!("cannot read {}: {e}", loc.path.display()),
                fix,
            )]
        }
    };
    let mut results = vec![CheckResult::ok(format!("{label} manifest"), loc.path.display().to_string())];
    let manifest = match HostManifest::parse(&text) {
        Ok(m) => m,
        Err(e) => {
            results.push(CheckResult::fail(format!("{label} manifest JSON"), format!("not valid: {e}"), fix));
            return results;
        }
    };

    results.push(match manifest.name.as_deref() {
        Some(ids::HOST_NAME) => CheckResult::ok(format!("{label} name"), ids::HOST_NAME),
        other => CheckResult::fail(
            format!("{label} name"),
            format!("is {other:?}, must be {:?} (the browser matches it to the file name)", ids::HOST_NAME),
            fix.clone(),
        ),
    });

    results.push(host_path_check(&label, manifest.path.as_deref(), &fix, env));

    let field = loc.browser.allow_list_field();
    let wanted = loc.browser.allowed_entry();
    results.push(match manifest.allow_list(loc.browser) {
        Some(list) if list.contains(&wanted) => {
            CheckResult::ok(format!("{label} {field}"), format!("contains {wanted}"))
        }
        Some(list) => CheckResult::fail(
            format!("{label} {field}"),
            format!("does not contain {wanted} (has {list:?}), so the browser refuses Baton's extension"),
            fix.clone(),
        ),
        None => CheckResult::fail(format!("{label} {field}"), format!("missing; it must list {wanted}"), fix.clone()),
    });

    results.push(match manifest.kind.as_deref() {
        Some(manifests::HOST_TYPE) => CheckResult::ok(format!("{label} type"), manifests::HOST_TYPE),
        other => CheckResult::fail(
            format!("{label} type"),
            format!("is {other:?}, must be {:?}", manifests::HOST_TYPE),
            fix.clone(),
        ),
    });
    results
}

/// The manifest's `path` must be an absolute path to an executable baton-host.
fn host_path_check(label: &str, path: Option<&str>, fix: &str, env: &Environment) -> CheckResult {
    let name = format!("{label} path");
    let fail = |detail: String| CheckResult::fail(name.clone(), detail, fix.to_owned());
    let Some(path) = path else {
        return fail("missing: the manifest has no \"path\"".to_owned());
    };
    let p = Path::new(path);
    if !p.is_absolute() {
        return fail(format!("{path} is not absolute (Linux and macOS browsers require an absolute path)"));
    }
    let meta = match std::fs::metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return fail(format!("{path} does not exist")),
        Err(e) => return fail(format!("cannot inspect {path}: {e}")),
    };
    if !meta.is_file() {
        return fail(format!("{path} is not a file"));
    }
    if !is_executable(&meta) {
        return fail(format!("{path} is not executable"));
    }
    if p.file_stem().and_then(|s| s.to_str()) != Some("baton-host") {
        return fail(format!("{path} is not baton-host"));
    }
    let target = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    match &env.current_exe {
        Some(me) if *me != target => CheckResult::warn(
            name,
            format!("{path} is another baton-host than this one ({})", me.display()),
            Some(format!("{fix}   (to use this one)")),
        ),
        _ => CheckResult::ok(name, format!("{path} (executable baton-host)")),
    }
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &std::fs::Metadata) -> bool {
    true
}

// ---- browser policy ----------------------------------------------------------

/// Policy problems of the browsers asked for (default: every browser with a
/// managed-policy directory): blocked user-level hosts without a system
/// manifest, a blocked host or extension; Baton's managed settings.
fn policy_checks(options: &DoctorOptions, env: &Environment) -> Vec<CheckResult> {
    let browsers = if options.browsers.is_empty() { Browser::ALL.to_vec() } else { options.browsers.clone() };
    let mut results = Vec::new();
    for browser in browsers {
        let Some(dir) = policy::managed_dir(browser) else { continue };
        // Brave on Linux without its own directory: nothing to read.
        if !dir.is_dir() {
            continue;
        }
        let found = policy::load(&dir);
        if found.values.is_empty() && found.unreadable.is_empty() {
            continue;
        }
        let exists = |scope: &Scope| {
            env.user.as_ref().and_then(|u| manifests::manifest_path(browser, scope, u).ok()).is_some_and(|p| p.exists())
        };
        let user_scope = options.user_data_dir.clone().map(Scope::UserDataDir).unwrap_or(Scope::User);
        let files: Vec<String> = found.files.iter().map(|f| f.display().to_string()).collect();
        if !files.is_empty() {
            results.push(CheckResult::ok(format!("{browser} policy"), files.join(", ")));
        }
        results.extend(policy::assess(browser, &found, exists(&user_scope), exists(&Scope::System)));
    }
    results
}

// ---- host data and configuration -------------------------------------------

fn data_dir_check(env: &Environment) -> Option<CheckResult> {
    let Some(paths) = &env.host_paths else {
        return Some(CheckResult::fail("data dir", "cannot determine it", "set HOME or XDG_DATA_HOME"));
    };
    let dir = &paths.data_dir;
    // The host creates this directory on first start anyway.
    let probe = dir.join(format!(".doctor-{}.tmp", std::process::id()));
    let result = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&probe, b"probe"));
    let _ = std::fs::remove_file(&probe);
    Some(match result {
        Ok(()) => CheckResult::ok("data dir", format!("{} is writable", dir.display())),
        Err(e) => CheckResult::fail(
            "data dir",
            format!("cannot write in {}: {e}", dir.display()),
            format!(
                "make it writable for this user: chown -R \"$USER\" {}",
                manifests::shell_quote(&dir.display().to_string())
            ),
        ),
    })
}

/// The store must open (and migrate) and the vault key must be private; a
/// missing store or key is fine: the host creates both on first start.
fn store_and_vault_checks(env: &Environment) -> Vec<CheckResult> {
    let Some(paths) = &env.host_paths else {
        return Vec::new();
    };
    let mut results = Vec::new();
    let db = paths.database();
    if db.exists() {
        results.push(match crate::store::Store::open(&db).and_then(|s| s.schema_version()) {
            Ok(version) => CheckResult::ok("store", format!("{} opens (schema version {version})", db.display())),
            Err(e) => CheckResult::fail(
                "store",
                e.to_string(),
                format!(
                    "move the damaged file aside (this device will register again): mv {0} {0}.broken",
                    manifests::shell_quote(&db.display().to_string())
                ),
            ),
        });
    } else {
        results.push(CheckResult::ok("store", format!("{} will be created on first start", db.display())));
    }
    let key = paths.vault_key();
    if key.exists() {
        results.push(match crate::vault::Vault::load_or_create(&key) {
            Ok(_) => CheckResult::ok("vault key", format!("{} is private", key.display())),
            Err(e) => CheckResult::fail(
                "vault key",
                e.to_string(),
                format!("chmod 600 {}", manifests::shell_quote(&key.display().to_string())),
            ),
        });
    }
    results
}

fn config_and_server_checks(env: &Environment, options: &DoctorOptions) -> Vec<CheckResult> {
    let Some(paths) = &env.host_paths else {
        return vec![CheckResult::fail("config", "cannot determine the config dir", "set HOME or XDG_CONFIG_HOME")];
    };
    let path = paths.config_file();
    let shown = path.display().to_string();
    let install_hint = {
        let browser = options.browsers.first().map_or("BROWSER", |b| b.name());
        let scope = options.user_data_dir.clone().map(Scope::UserDataDir).unwrap_or(Scope::User);
        format!("baton-host install --browser {browser}{} --server URL", scope.flags())
    };
    let file = match ConfigFile::load(&path) {
        Ok(file) => file,
        Err(e) => {
            return vec![CheckResult::fail(
                "config",
                e.to_string(),
                format!("correct or delete {} and run `{install_hint}`", manifests::shell_quote(&shown)),
            )]
        }
    };
    let mut results = vec![CheckResult::ok(
        "config",
        if path.exists() { format!("{shown} parses") } else { format!("{shown} absent, using defaults") },
    )];
    let from_env = std::env::var(ENV_SERVER_URL).is_ok_and(|v| !v.is_empty());
    let config = match Config::resolve(file) {
        Ok(c) => c,
        Err(e) => {
            let fix = match from_env {
                true => format!("correct or unset {ENV_SERVER_URL}"),
                false => install_hint,
            };
            results.push(CheckResult::fail("server", e.to_string(), fix));
            return results;
        }
    };
    // The extension's remembered choice wins over both, as in the host.
    let choice_path = config::choice_file(&path);
    let chosen = ExtensionChoice::load(&choice_path).server_url;
    let url = &config::server_for(chosen.as_deref(), &config.server_url);
    let (source, install_hint) = match (&chosen, from_env) {
        (Some(_), _) => (
            format!(" (the extension's server setting, remembered in {})", choice_path.display()),
            "change the server in Baton's options (or the managed serverUrl policy)".to_owned(),
        ),
        (None, true) => (format!(" (from {ENV_SERVER_URL})"), install_hint),
        (None, false) => (String::new(), install_hint),
    };
    results.push(if url.starts_with("https://") {
        CheckResult::warn(
            "server",
            format!("{url}{source} not checked (https is checked by the host at run time)"),
            None,
        )
    } else {
        match status_probe::probe(url, SERVER_TIMEOUT) {
            Ok(info) => CheckResult::ok("server", format!("{url}{source} is {} {}", info.service, info.version)),
            Err(e) => CheckResult::fail(
                "server",
                format!("{url}{source} is not reachable: {e}"),
                format!("start baton-server there, or point Baton at the right server: {install_hint}"),
            ),
        }
    });
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printing() {
        let results =
            vec![CheckResult::ok("a", "fine"), CheckResult::fail("b", "broken", "baton-host install --browser chrome")];
        let mut out = Vec::new();
        print(&results, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("ok    a: fine\n"));
        assert!(text.contains("FAIL  b: broken\n      fix: baton-host install --browser chrome\n"));
        assert!(!all_ok(&results));
        assert!(all_ok(&results[..1]));
    }

    #[test]
    fn manifest_problems_are_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("org.baton.host.json");
        let loc = Location { browser: Browser::Chrome, scope: Scope::UserDataDir(tmp.path().into()), path };
        let env = Environment { user: None, host_paths: None, current_exe: None };
        std::fs::write(&loc.path, r#"{"name":"x","type":"stdio","allowed_origins":["chrome-extension://other/"]}"#)
            .unwrap();
        let results = check_manifest(&loc, &env);
        let failed: Vec<&str> =
            results.iter().filter(|r| r.status == Status::Fail).map(|r| r.name.rsplit(' ').next().unwrap()).collect();
        assert_eq!(failed, ["name", "path", "allowed_origins"]);
        std::fs::write(&loc.path, "{").unwrap();
        let results = check_manifest(&loc, &env);
        assert_eq!(results.last().map(|r| r.status), Some(Status::Fail));
    }
}
