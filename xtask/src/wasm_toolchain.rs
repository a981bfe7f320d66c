//! Compiling the extension for wasm32.
//!
//! Route A: rustup's prebuilt wasm32 standard library.
//! Route B: when rustup cannot provide it, Debian's `rustc-web` compiler builds
//! std for wasm32 from `rust-web-src` (`-Z build-std`).
//! The route is decided each run by trying; nothing is cached between runs.
//!
//! Each route builds the crate three times, at the same time (the final LTO
//! step of each is single-threaded), each in a target dir of its own so no
//! build invalidates another: for the worker and the extension's pages; for
//! the content script alone (without the `pages` feature, so the module
//! every page compiles holds only the content script's code); and that
//! again without reference types and multi-value, for the content script's
//! JavaScript build (`content_js.rs`).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::apt::{self, Apt};
use crate::error::{Error, Result};
use crate::process;
use crate::ui;
use crate::workspace::{Workspace, EXTENSION_ARTIFACT, EXTENSION_PACKAGE};

pub const TARGET: &str = "wasm32-unknown-unknown";
pub const PROFILE: &str = "wasm-release";
const RUSTUP_TIMEOUT: Duration = Duration::from_secs(120);
const DEBIAN_PACKAGES: [&str; 3] = ["rustc-web", "cargo-web", "rust-web-src"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Forced {
    A,
    B,
}

/// `BATON_WASM_ROUTE=a|b` pins a route (to test route B on a machine where A works).
fn forced_route() -> Result<Option<Forced>> {
    match env::var("BATON_WASM_ROUTE").as_deref() {
        Err(_) | Ok("") => Ok(None),
        Ok("a" | "A") => Ok(Some(Forced::A)),
        Ok("b" | "B") => Ok(Some(Forced::B)),
        Ok(other) => Err(Error::Usage(format!("BATON_WASM_ROUTE must be `a` or `b`, not `{other}`"))),
    }
}

enum Route {
    Rustup,
    Debian { linker: PathBuf },
}

/// The three builds of the extension crate.
pub struct ExtensionWasm {
    /// What the worker and the extension's pages run.
    pub wasm: PathBuf,
    /// What the content script runs.
    pub content: PathBuf,
    /// The input of the content script's JavaScript build.
    pub for_js: PathBuf,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Wasm,
    Content,
    ForJs,
}

/// Turned off for the JS build: wasm2js translates neither, and without
/// reference types wasm-bindgen keeps JS values in a JS-side heap.
const NO_POST_MVP_VALUES: &str = "-Ctarget-feature=-reference-types,-multivalue";

enum BuildFailure {
    /// The toolchain could not produce wasm32 at all: worth trying the other route.
    Toolchain,
    Other(Error),
}

/// Builds the extension crate (every flavor) and returns the paths of the `.wasm` files.
pub fn build_extension(ws: &Workspace, apt: &mut Apt) -> Result<ExtensionWasm> {
    let forced = forced_route()?;
    if forced != Some(Forced::B) {
        match prepare_rustup() {
            Ok(()) => match build_all(ws, &Route::Rustup) {
                Ok(wasm) => return Ok(wasm),
                Err(BuildFailure::Other(e)) => return Err(e),
                Err(BuildFailure::Toolchain) if forced == Some(Forced::A) => {
                    return Err(Error::Setup(
                        "rustup's wasm32 standard library is unusable (BATON_WASM_ROUTE=a)".into(),
                    ))
                }
                Err(BuildFailure::Toolchain) => ui::warn(
                    "rustup's wasm32 standard library is unusable; falling back to Debian's rustc-web (route B)",
                ),
            },
            Err(e) if forced == Some(Forced::A) => return Err(e),
            Err(e) => ui::warn(format!("{e}\n         falling back to Debian's rustc-web (route B)")),
        }
    } else {
        ui::step("BATON_WASM_ROUTE=b: using Debian's rustc-web for wasm32 (route B)");
    }
    let linker = prepare_debian(apt)?;
    build_all(ws, &Route::Debian { linker }).map_err(|failure| match failure {
        BuildFailure::Other(e) => e,
        BuildFailure::Toolchain => Error::Setup(
            "Debian's rustc-web could not build std for wasm32 either; check that rustc-web and \
             rust-web-src have the same version (`dpkg-query -W rustc-web rust-web-src`)"
                .into(),
        ),
    })
}

/// Route A: make sure rustup has the wasm32 target.
fn prepare_rustup() -> Result<()> {
    if !process::on_path("rustup") {
        return Err(Error::Setup("rustup is not installed, so it cannot provide the wasm32 standard library".into()));
    }
    let installed = process::capture(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if installed.lines().any(|line| line.trim() == TARGET) {
        return Ok(());
    }
    ui::step(format!("installing the {TARGET} target (rustup target add, up to {} s)", RUSTUP_TIMEOUT.as_secs()));
    process::run_with_timeout(Command::new("rustup").args(["target", "add", TARGET]), RUSTUP_TIMEOUT)
}

/// Route B: Debian's rustc-web, its std source, and a matching wasm linker.
fn prepare_debian(apt: &mut Apt) -> Result<PathBuf> {
    let versions = apt::installed_versions(&DEBIAN_PACKAGES);
    if versions.iter().any(Option::is_none) || !all_equal(&versions) {
        apt.install(&DEBIAN_PACKAGES, "building the extension without rustup's wasm32 target")?;
    }
    let versions = apt::installed_versions(&DEBIAN_PACKAGES);
    if !all_equal(&versions) || versions.iter().any(Option::is_none) {
        return Err(Error::Setup(format!(
            "rustc-web, cargo-web and rust-web-src must be installed at the same version; found {:?}. \
             Reinstall them together: apt-get install -y --no-install-recommends {}",
            versions,
            DEBIAN_PACKAGES.join(" ")
        )));
    }
    let verbose = process::capture(Command::new("/usr/bin/rustc").arg("-vV"))?;
    let llvm = llvm_major(&verbose)
        .ok_or_else(|| Error::Setup("cannot read the LLVM version from `/usr/bin/rustc -vV`".into()))?;
    let linker = PathBuf::from(format!("/usr/bin/wasm-ld-{llvm}"));
    if !linker.is_file() {
        apt.install(&[&format!("lld-{llvm}")], "linking wasm32 with Debian's rustc-web")?;
    }
    if !linker.is_file() {
        return Err(Error::Setup(format!("{} is still missing after installing lld-{llvm}", linker.display())));
    }
    Ok(linker)
}

fn all_equal(versions: &[Option<String>]) -> bool {
    versions.windows(2).all(|pair| pair[0] == pair[1])
}

/// `LLVM version: 19.1.7` → `19`.
fn llvm_major(rustc_verbose: &str) -> Option<&str> {
    let version = rustc_verbose.lines().find_map(|line| line.strip_prefix("LLVM version: "))?;
    let major = version.trim().split('.').next()?;
    (!major.is_empty() && major.bytes().all(|b| b.is_ascii_digit())).then_some(major)
}

/// Both flavors at once; the first failure (the usual build's first) wins.
fn build_all(ws: &Workspace, route: &Route) -> Result<ExtensionWasm, BuildFailure> {
    std::thread::scope(|scope| {
        let content = scope.spawn(|| build(ws, route, Flavor::Content));
        let for_js = scope.spawn(|| build(ws, route, Flavor::ForJs));
        let wasm = build(ws, route, Flavor::Wasm);
        let joined = |handle: std::thread::ScopedJoinHandle<'_, Result<PathBuf, BuildFailure>>| {
            handle.join().unwrap_or_else(|_| {
                Err(BuildFailure::Other(Error::Setup("a thread building the extension panicked".into())))
            })
        };
        let (content, for_js) = (joined(content), joined(for_js));
        Ok(ExtensionWasm { wasm: wasm?, content: content?, for_js: for_js? })
    })
}

fn build(ws: &Workspace, route: &Route, flavor: Flavor) -> Result<PathBuf, BuildFailure> {
    let what = match flavor {
        Flavor::Wasm => "the extension",
        Flavor::Content => "the content script's module (quietly)",
        Flavor::ForJs => "the content script for its JS build (quietly)",
    };
    let (mut cmd, base_dir) = match route {
        Route::Rustup => {
            ui::step(format!("building {what} for {TARGET} (profile {PROFILE}, rustup toolchain)"));
            let mut cmd = Command::new(cargo());
            cmd.arg("build");
            (cmd, ws.target.clone())
        }
        Route::Debian { linker } => {
            ui::step(format!("building {what} for {TARGET} (profile {PROFILE}, Debian rustc-web with build-std)"));
            // Its own target dir: a different compiler would otherwise invalidate
            // the rustup builds' artifacts on every switch.
            let target_dir = ws.target.join("debian-web");
            let mut cmd = Command::new("/usr/bin/cargo");
            cmd.env("RUSTC", "/usr/bin/rustc")
                .env("RUSTDOC", "/usr/bin/rustdoc")
                .env("RUSTC_BOOTSTRAP", "1")
                .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", linker)
                // Keep rustup's toolchain choice out of anything this cargo starts.
                .env_remove("RUSTUP_TOOLCHAIN")
                .env_remove("CARGO");
            cmd.args(["build", "-Z", "build-std=std,panic_abort"]);
            (cmd, target_dir)
        }
    };
    let target_dir = match flavor {
        Flavor::Wasm => base_dir,
        Flavor::Content => {
            cmd.arg("--no-default-features");
            base_dir.join("wasm-content")
        }
        Flavor::ForJs => {
            cmd.arg("--no-default-features");
            add_rustflag(&mut cmd, NO_POST_MVP_VALUES);
            base_dir.join("wasm-for-js")
        }
    };
    if target_dir != ws.target {
        cmd.arg("--target-dir").arg(&target_dir);
    }
    // `--target` is explicit on both routes: build-std without it silently builds for the host.
    cmd.args(["--package", EXTENSION_PACKAGE, "--lib", "--target", TARGET, "--profile", PROFILE]).current_dir(&ws.root);

    let (status, stderr) = match flavor {
        Flavor::Wasm => process::run_teeing_stderr(&mut cmd),
        // Cargos writing to one terminal at once are unreadable; these speak on failure.
        Flavor::Content | Flavor::ForJs => process::run_collecting_stderr(&mut cmd),
    }
    .map_err(BuildFailure::Other)?;
    if !status.success() {
        if flavor != Flavor::Wasm {
            eprint!("{stderr}");
        }
        return Err(if missing_std(&stderr) {
            BuildFailure::Toolchain
        } else {
            BuildFailure::Other(Error::Failed { command: process::describe(&cmd), status })
        });
    }
    let wasm = wasm_path(&target_dir);
    if !wasm.is_file() {
        return Err(BuildFailure::Other(Error::Setup(format!(
            "cargo succeeded but {} is missing; is {EXTENSION_PACKAGE} still a cdylib?",
            wasm.display()
        ))));
    }
    Ok(wasm)
}

/// Adds `flag` to whatever flags the caller's environment already passes.
fn add_rustflag(cmd: &mut Command, flag: &str) {
    match env::var("CARGO_ENCODED_RUSTFLAGS") {
        Ok(encoded) if !encoded.is_empty() => {
            cmd.env("CARGO_ENCODED_RUSTFLAGS", format!("{encoded}\x1f{flag}"));
        }
        _ => {
            let existing = env::var("RUSTFLAGS").unwrap_or_default();
            cmd.env_remove("CARGO_ENCODED_RUSTFLAGS").env("RUSTFLAGS", format!("{existing} {flag}").trim());
        }
    }
}

fn wasm_path(target_dir: &Path) -> PathBuf {
    target_dir.join(TARGET).join(PROFILE).join(format!("{EXTENSION_ARTIFACT}.wasm"))
}

/// Signs that the compiler has no usable std for the target, as opposed to a
/// mistake in our code.
fn missing_std(stderr: &str) -> bool {
    stderr.contains("can't find crate for `core`")
        || stderr.contains("can't find crate for `std`")
        || stderr.contains("target may not be installed")
        || stderr.contains("found crate `core` compiled by an incompatible version")
        || stderr.contains("found crate `std` compiled by an incompatible version")
}

/// The cargo that started us (so the same toolchain builds everything).
pub fn cargo() -> std::ffi::OsString {
    env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_llvm_major() {
        let verbose = "rustc 1.85.0\nbinary: rustc\nhost: x86_64-unknown-linux-gnu\nLLVM version: 19.1.7\n";
        assert_eq!(llvm_major(verbose), Some("19"));
        assert_eq!(llvm_major("rustc 1.85.0\n"), None);
    }

    #[test]
    fn tells_missing_std_from_code_errors() {
        assert!(missing_std("error[E0463]: can't find crate for `core`\n  = note: the `wasm32-unknown-unknown` target may not be installed"));
        assert!(!missing_std("error[E0308]: mismatched types"));
    }

    #[test]
    fn versions_must_match() {
        assert!(all_equal(&[Some("1".into()), Some("1".into())]));
        assert!(!all_equal(&[Some("1".into()), Some("2".into())]));
    }
}
