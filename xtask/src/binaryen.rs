//! Binaryen's `wasm-opt` and `wasm2js`, from the npm package `binaryen`
//! (a JavaScript build, run with node), pinned and kept in .tools.
//!
//! Not Debian's `binaryen` package: its version (108) produces modules that
//! fail at run time.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::apt::Apt;
use crate::error::{Error, Result};
use crate::process;
use crate::ui;
use crate::workspace::Workspace;

/// The pinned npm version. Changing it rebuilds the content script's JS build.
pub const VERSION: &str = "132.0.0";

pub struct Binaryen {
    node: PathBuf,
    bin: PathBuf,
}

impl Binaryen {
    /// Finds the pinned package in .tools or installs it there (node and npm
    /// from Debian when missing).
    pub fn ensure(ws: &Workspace, apt: &mut Apt) -> Result<Binaryen> {
        let prefix = ws.tools().join(format!("binaryen-{VERSION}"));
        let package = prefix.join("node_modules").join("binaryen");
        if !process::on_path("node") || !process::on_path("npm") {
            apt.install(&["nodejs", "npm"], "translating the content script to JavaScript (binaryen's wasm2js)")?;
        }
        let node = process::find_on_path("node")
            .ok_or_else(|| Error::Setup("node is still missing after installing nodejs".into()))?;
        if installed_version(&package).as_deref() != Some(VERSION) {
            ui::step(format!("installing binaryen {VERSION} from npm into .tools (once)"));
            fs::create_dir_all(&prefix).map_err(|e| Error::io(format!("creating {}", prefix.display()), e))?;
            process::run(
                Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund", "--no-save", "--prefix"])
                    .arg(&prefix)
                    .arg(format!("binaryen@{VERSION}"))
                    .stdin(Stdio::null()),
            )?;
            match installed_version(&package) {
                Some(found) if found == VERSION => {}
                found => {
                    return Err(Error::Setup(format!(
                        "npm installed binaryen but {} says version {found:?}, expected {VERSION}",
                        package.display()
                    )))
                }
            }
        }
        Ok(Binaryen { node, bin: package.join("bin") })
    }

    /// `wasm-opt <args>`.
    pub fn wasm_opt(&self, args: &[&str], input: &Path, output: &Path) -> Result<()> {
        self.run("wasm-opt", args, input, output)
    }

    /// `wasm2js <args>`.
    pub fn wasm2js(&self, args: &[&str], input: &Path, output: &Path) -> Result<()> {
        self.run("wasm2js", args, input, output)
    }

    fn run(&self, tool: &str, args: &[&str], input: &Path, output: &Path) -> Result<()> {
        let mut cmd = Command::new(&self.node);
        cmd.arg(self.bin.join(tool)).args(args).arg(input).arg("-o").arg(output);
        run_quietly(&mut cmd)
    }
}

/// `"version"` of an installed npm package, read without a JSON parser: the
/// first `"version": "…"` in its package.json.
fn installed_version(package: &Path) -> Option<String> {
    let text = fs::read_to_string(package.join("package.json")).ok()?;
    let after = text.split("\"version\"").nth(1)?;
    let value = after.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    Some(value.split('"').next()?.to_string())
}

/// Runs with stderr collected; on failure the error carries its end. The
/// tools are an Emscripten build whose crash reports print a whole line of
/// their own source (megabytes), so every line is cut short.
fn run_quietly(cmd: &mut Command) -> Result<()> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Spawn { program: process::describe(cmd), source: e })?;
    let mut stderr = Vec::new();
    if let Some(mut pipe) = child.stderr.take() {
        pipe.read_to_end(&mut stderr).map_err(|e| Error::io("reading binaryen's output", e))?;
    }
    let status = child.wait().map_err(|e| Error::io("waiting for binaryen", e))?;
    if status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&stderr);
    let lines: Vec<String> = text.lines().map(|l| l.chars().take(240).collect()).collect();
    let tail = lines[lines.len().saturating_sub(12)..].join("\n    ");
    Err(Error::Setup(format!("`{}` failed ({status}):\n    {tail}", process::describe(cmd))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_version_of_a_package() {
        let dir = std::env::temp_dir().join(format!("xtask-binaryen-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("package.json"), "{\n  \"name\": \"binaryen\",\n  \"version\" : \"132.0.0\",\n}").unwrap();
        assert_eq!(installed_version(&dir).as_deref(), Some("132.0.0"));
        assert_eq!(installed_version(&dir.join("missing")), None);
        fs::remove_dir_all(&dir).unwrap();
    }
}
