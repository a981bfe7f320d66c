//! The wasm-bindgen CLI, at exactly the version Cargo.lock pins for the
//! extension (the CLI refuses modules from any other version).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::process;
use crate::ui;
use crate::wasm_toolchain::cargo;
use crate::workspace::{Workspace, EXTENSION_ARTIFACT, EXTENSION_PACKAGE};

/// The wasm-bindgen version the extension uses, or None while it uses none.
pub fn required_version(ws: &Workspace) -> Result<Option<String>> {
    Ok(ws.read_lock()?.dependency_version(EXTENSION_PACKAGE, "wasm-bindgen"))
}

/// Finds a matching CLI (ours in .tools, then PATH) or installs one into .tools.
pub fn ensure_cli(ws: &Workspace, version: &str) -> Result<PathBuf> {
    let ours = ws.tools().join("bin").join("wasm-bindgen");
    let candidates = [Some(ours.clone()), process::find_on_path("wasm-bindgen")];
    for candidate in candidates.into_iter().flatten() {
        if cli_version(&candidate).as_deref() == Some(version) {
            return Ok(candidate);
        }
    }
    ui::step(format!("installing wasm-bindgen-cli {version} into .tools (takes about two minutes, once)"));
    let install = |locked: bool| {
        let mut cmd = Command::new(cargo());
        cmd.args(["install", "wasm-bindgen-cli", "--version", &format!("={version}"), "--root"])
            .arg(ws.tools())
            .env_remove("CARGO_TARGET_DIR");
        if locked {
            cmd.arg("--locked");
        }
        process::run(&mut cmd)
    };
    if let Err(e) = install(true) {
        // The CLI's own lockfile can name a crate version the index no longer serves.
        ui::warn(format!("{e}; retrying without --locked"));
        install(false)?;
    }
    match cli_version(&ours) {
        Some(found) if found == version => Ok(ours),
        found => Err(Error::Setup(format!(
            "installed wasm-bindgen-cli but {} reports version {found:?}, expected {version}",
            ours.display()
        ))),
    }
}

/// `wasm-bindgen 0.2.100` (possibly followed by a commit hash) → `0.2.100`.
fn cli_version(program: &Path) -> Option<String> {
    let out = process::capture(Command::new(program).arg("--version")).ok()?;
    parse_version(&out)
}

fn parse_version(output: &str) -> Option<String> {
    let mut words = output.split_whitespace();
    (words.next()? == "wasm-bindgen").then_some(())?;
    words.next().map(str::to_string)
}

/// Writes the ES-module glue and the processed module into `out_dir`.
pub fn generate(cli: &Path, wasm: &Path, out_dir: &Path) -> Result<()> {
    generate_target(cli, wasm, out_dir, "web")
}

/// Writes classic-script glue (a global `wasm_bindgen`) for content scripts,
/// which cannot be ES modules, into `out_dir`.
pub fn generate_classic(cli: &Path, wasm: &Path, out_dir: &Path) -> Result<()> {
    generate_target(cli, wasm, out_dir, "no-modules")
}

fn generate_target(cli: &Path, wasm: &Path, out_dir: &Path, target: &str) -> Result<()> {
    process::run(
        Command::new(cli)
            .args(["--target", target, "--no-typescript", "--out-name", EXTENSION_ARTIFACT, "--out-dir"])
            .arg(out_dir)
            .arg(wasm),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cli_version() {
        assert_eq!(parse_version("wasm-bindgen 0.2.100\n").as_deref(), Some("0.2.100"));
        assert_eq!(parse_version("wasm-bindgen 0.2.93 (abc1234)").as_deref(), Some("0.2.93"));
        assert_eq!(parse_version("something else 1.0"), None);
    }
}
