//! `install`, `uninstall` and `doctor` run as the real binary, with HOME and
//! the XDG directories pointed at a temporary directory.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_baton-host");
const ORIGIN: &str = "chrome-extension://iclfinohpipjahhnkmeiddmpdphogdem/";

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("temp dir") }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn profile(&self) -> PathBuf {
        self.path("profile")
    }

    fn manifest(&self) -> PathBuf {
        self.profile().join("NativeMessagingHosts/org.baton.host.json")
    }

    fn config_file(&self) -> PathBuf {
        self.path("config/baton/config.json")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env_remove("BATON_SERVER_URL")
            .env_remove("BATON_DEVICE_NAME")
            .env_remove("BATON_ALLOWED_EXTENSION_IDS");
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("run baton-host"))
    }

    fn doctor(&self, server_url: &str) -> Run {
        let profile = self.profile();
        let profile = profile.to_str().expect("utf-8 temp path");
        let mut cmd = self.command(&["doctor", "--browser", "chromium", "--user-data-dir", profile]);
        Run::from(cmd.env("BATON_SERVER_URL", server_url).output().expect("run doctor"))
    }

    fn install_profile(&self) -> Run {
        let profile = self.profile();
        let run = self.run(&["install", "--browser", "chromium", "--user-data-dir", profile.to_str().unwrap()]);
        assert_eq!(run.code, 0, "install failed: {run:?}");
        run
    }
}

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    /// The doctor line for the check whose name ends with `suffix`.
    fn line(&self, suffix: &str) -> &str {
        self.stdout
            .lines()
            .find(|l| l.split(": ").next().is_some_and(|head| head.ends_with(suffix)))
            .unwrap_or_else(|| panic!("no {suffix:?} line in:\n{}", self.stdout))
    }
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("read manifest")).expect("manifest is JSON")
}

/// A 127.0.0.1 URL where nothing listens.
fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

/// Answers one request with a Baton status reply.
fn status_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf);
            let body = r#"{"service":"baton-server","version":"9.9.9"}"#;
            let reply = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    url
}

#[test]
fn no_arguments_prints_help_and_exits_2() {
    let sb = Sandbox::new();
    let run = sb.run(&[]);
    assert_eq!(run.code, 2);
    assert!(run.stdout.contains("Usage: baton-host"), "{run:?}");
    assert!(run.stdout.contains("install") && run.stdout.contains("doctor"));
    assert!(run.stderr.contains("browser starts this program"), "{run:?}");
}

#[test]
fn install_writes_a_manifest_for_this_binary() {
    let sb = Sandbox::new();
    let run = sb.install_profile();
    assert!(run.stdout.contains(sb.manifest().to_str().unwrap()), "{run:?}");

    let manifest = read_json(&sb.manifest());
    let me = std::fs::canonicalize(BIN).unwrap();
    assert_eq!(manifest["name"], "org.baton.host");
    assert_eq!(manifest["type"], "stdio");
    assert_eq!(manifest["path"], me.to_str().unwrap());
    assert_eq!(manifest["allowed_origins"], serde_json::json!([ORIGIN]));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(sb.manifest()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }
    assert!(!sb.config_file().exists(), "config.json is only written for --server");
}

#[test]
fn user_level_installs_follow_xdg_config_home_and_home() {
    let sb = Sandbox::new();
    assert_eq!(sb.run(&["install", "--browser", "brave"]).code, 0);
    let brave = sb.path("config/BraveSoftware/Brave-Browser/NativeMessagingHosts/org.baton.host.json");
    assert_eq!(read_json(&brave)["allowed_origins"], serde_json::json!([ORIGIN]));

    assert_eq!(sb.run(&["install", "--browser", "firefox"]).code, 0);
    let firefox = read_json(&sb.path("home/.mozilla/native-messaging-hosts/org.baton.host.json"));
    assert_eq!(firefox["allowed_extensions"], serde_json::json!(["baton@baton.invalid"]));
    assert!(firefox.get("allowed_origins").is_none());
}

#[test]
fn install_saves_the_server_url() {
    let sb = Sandbox::new();
    let profile = sb.profile();
    let args = [
        "install",
        "--browser",
        "edge",
        "--user-data-dir",
        profile.to_str().unwrap(),
        "--server",
        "http://127.0.0.1:4000/",
    ];
    let run = sb.run(&args);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(read_json(&sb.config_file())["server_url"], "http://127.0.0.1:4000");
}

#[test]
fn bad_server_url_is_refused_and_nothing_is_written() {
    let sb = Sandbox::new();
    let profile = sb.profile();
    let args = ["install", "--browser", "chrome", "--user-data-dir", profile.to_str().unwrap(), "--server", "ftp://x"];
    let run = sb.run(&args);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("must start with http:// or https://"), "{run:?}");
    assert!(!sb.manifest().exists());
    assert!(!sb.config_file().exists());
}

#[test]
fn firefox_with_user_data_dir_is_refused() {
    let sb = Sandbox::new();
    let profile = sb.profile();
    let run = sb.run(&["install", "--browser", "firefox", "--user-data-dir", profile.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("--user-data-dir applies to Chromium-family browsers only"), "{run:?}");
    assert!(!profile.exists());
}

#[test]
fn system_and_user_data_dir_conflict() {
    let sb = Sandbox::new();
    let run = sb.run(&["install", "--browser", "chrome", "--system", "--user-data-dir", "/tmp/x"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("cannot be used with"), "{run:?}");
}

#[test]
fn doctor_passes_the_manifest_and_reports_an_unreachable_server() {
    let sb = Sandbox::new();
    sb.install_profile();
    let url = closed_port_url();
    let run = sb.doctor(&url);
    assert_eq!(run.code, 1, "{run:?}");
    for check in ["manifest", "name", "path", "allowed_origins", "type", "data dir", "config"] {
        assert!(run.line(check).starts_with("ok "), "{check}: {}", run.stdout);
    }
    let server = run.line("server");
    assert!(server.starts_with("FAIL "), "{server}");
    assert!(server.contains(&url) && server.contains("not reachable"), "{server}");
    assert!(run.stdout.contains("fix: start baton-server there"), "{}", run.stdout);
}

#[test]
fn doctor_passes_with_a_running_server() {
    let sb = Sandbox::new();
    sb.install_profile();
    let run = sb.doctor(&status_server());
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.line("server").contains("baton-server 9.9.9"), "{}", run.stdout);
    assert!(!run.stdout.contains("FAIL"), "{}", run.stdout);
}

/// The host goes to the server the extension chose (`extension.json`)
/// before its own configuration; so does the doctor.
#[test]
fn doctor_checks_the_server_the_extension_chose() {
    let sb = Sandbox::new();
    sb.install_profile();
    let chosen = closed_port_url();
    let choice = sb.config_file().with_file_name("extension.json");
    std::fs::create_dir_all(choice.parent().unwrap()).unwrap();
    std::fs::write(&choice, serde_json::to_vec(&serde_json::json!({"server_url": chosen})).unwrap()).unwrap();
    let run = sb.doctor(&status_server());
    assert_eq!(run.code, 1, "{run:?}");
    let server = run.line("server");
    assert!(server.starts_with("FAIL ") && server.contains(&chosen), "{server}");
    assert!(server.contains("extension.json"), "{server}");
    assert!(
        run.stdout.contains(
            "fix: start baton-server there, or point Baton at the right server: change the server in Baton's options"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn doctor_reports_a_tampered_manifest() {
    let sb = Sandbox::new();
    sb.install_profile();
    let mut manifest = read_json(&sb.manifest());
    manifest["allowed_origins"] = serde_json::json!(["chrome-extension://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/"]);
    manifest.as_object_mut().unwrap().remove("path");
    std::fs::write(sb.manifest(), serde_json::to_vec(&manifest).unwrap()).unwrap();

    let run = sb.doctor(&status_server());
    assert_eq!(run.code, 1, "{run:?}");
    let origins = run.line("allowed_origins");
    assert!(origins.starts_with("FAIL ") && origins.contains(ORIGIN), "{origins}");
    let path = run.line("path");
    assert!(path.starts_with("FAIL ") && path.contains("no \"path\""), "{path}");
    assert!(run.stdout.contains("fix: baton-host install --browser chromium --user-data-dir"), "{}", run.stdout);

    // A path that does not exist is named.
    manifest["path"] = serde_json::json!("/nonexistent/baton-host");
    std::fs::write(sb.manifest(), serde_json::to_vec(&manifest).unwrap()).unwrap();
    let run = sb.doctor(&status_server());
    assert!(run.line("path").contains("/nonexistent/baton-host does not exist"), "{}", run.stdout);

    std::fs::write(sb.manifest(), "{not json").unwrap();
    let run = sb.doctor(&status_server());
    assert!(run.line("manifest JSON").starts_with("FAIL "), "{}", run.stdout);
}

#[test]
fn doctor_reports_a_missing_manifest_and_a_broken_config() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.config_file().parent().unwrap()).unwrap();
    std::fs::write(sb.config_file(), "{oops").unwrap();
    let run = sb.doctor(&status_server());
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.line("manifest").starts_with("FAIL ") && run.line("manifest").contains("missing"), "{}", run.stdout);
    assert!(run.line("config").starts_with("FAIL "), "{}", run.stdout);
}

#[test]
fn uninstall_removes_and_then_has_nothing_to_remove() {
    let sb = Sandbox::new();
    sb.install_profile();
    let profile = sb.profile();
    let args = ["uninstall", "--browser", "chromium", "--user-data-dir", profile.to_str().unwrap()];
    let run = sb.run(&args);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("removed"), "{run:?}");
    assert!(!sb.manifest().exists());
    let run = sb.run(&args);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("nothing to remove"), "{run:?}");
}

#[cfg(unix)]
#[test]
fn doctor_reports_a_loose_vault_key_and_a_damaged_store() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    sb.install_profile();
    let run = sb.doctor(&status_server());
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.line("store").starts_with("ok "), "{}", run.stdout);

    let key = sb.path("config/baton/vault.key");
    std::fs::create_dir_all(key.parent().unwrap()).unwrap();
    std::fs::write(&key, [9u8; 32]).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let db = sb.path("data/baton/host.sqlite3");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    std::fs::write(&db, vec![0x42u8; 4096]).unwrap();
    let run = sb.doctor(&status_server());
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.line("vault key").starts_with("FAIL ") && run.stdout.contains("chmod 600"), "{}", run.stdout);
    assert!(run.line("store").starts_with("FAIL ") && run.stdout.contains(".broken"), "{}", run.stdout);
}

#[test]
fn doctor_reports_a_store_with_a_damaged_schema_version() {
    let sb = Sandbox::new();
    sb.install_profile();
    let db = sb.path("data/baton/host.sqlite3");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    rusqlite::Connection::open(&db).unwrap().pragma_update(None, "user_version", -1).unwrap();
    let run = sb.doctor(&status_server());
    assert_eq!(run.code, 1, "{run:?}");
    let store = run.line("store");
    assert!(store.starts_with("FAIL ") && store.contains("schema version -1 is not one this host knows"), "{store}");
    assert!(run.stdout.contains(".broken"), "{}", run.stdout);
}
