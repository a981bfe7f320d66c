//! `cargo xtask test`: installs what the tests need, builds everything they
//! drive (debug binaries, the extension in dist/), then runs the workspace tests.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::apt::Apt;
use crate::error::{Error, Result};
use crate::process;
use crate::report::Report;
use crate::tasks::build::build;
use crate::ui;
use crate::wasm_toolchain::cargo;
use crate::workspace::{Workspace, EXTENSION_PACKAGE};

/// The end-to-end tests drive this exact browser binary.
pub const CHROMIUM: &str = "/usr/bin/chromium";

pub fn test(ws: &Workspace, apt: &mut Apt) -> Result<()> {
    let mut report = Report::default();
    let outcome = run_steps(ws, apt, &mut report);
    report.print("summary");
    match outcome {
        Err(e) => Err(e),
        Ok(()) if report.failed() => Err(Error::Setup("some tests failed (see above)".into())),
        Ok(()) => {
            println!("all good");
            Ok(())
        }
    }
}

/// Installs the browser the end-to-end tests and benchmarks drive, unless it is there.
pub fn ensure_chromium(apt: &mut Apt, report: &mut Report) -> Result<()> {
    if Path::new(CHROMIUM).is_file() {
        report.skipped("install chromium", "already installed");
        Ok(())
    } else {
        report.time("install chromium", || apt.install(&["chromium"], "the end-to-end tests and benchmarks"))
    }
}

fn run_steps(ws: &Workspace, apt: &mut Apt, report: &mut Report) -> Result<()> {
    ensure_chromium(apt, report)?;
    build(ws, apt, false, report)?;

    // The extension crate targets wasm32; its pure-Rust tests, if any, run on the host below.
    // Test failures are recorded, not returned, so every suite runs and shows in the summary.
    let _ = report.time("cargo test --workspace", || {
        ui::step(format!("running the workspace tests (all crates but {EXTENSION_PACKAGE})"));
        process::run(
            Command::new(cargo())
                .args(["test", "--workspace", "--exclude", EXTENSION_PACKAGE, "--no-fail-fast"])
                .current_dir(&ws.root),
        )
    });

    let label = format!("cargo test -p {EXTENSION_PACKAGE}");
    if has_tests(&ws.root.join("extension")) {
        let _ = report.time(&label, || {
            ui::step(format!("running {EXTENSION_PACKAGE}'s host-side tests"));
            process::run(
                Command::new(cargo())
                    .args(["test", "--package", EXTENSION_PACKAGE, "--no-fail-fast"])
                    .current_dir(&ws.root),
            )
        });
    } else {
        report.skipped(&label, "no tests in the crate");
    }
    Ok(())
}

/// Whether any Rust file under `crate_dir/src` or `crate_dir/tests` declares a test.
fn has_tests(crate_dir: &Path) -> bool {
    ["src", "tests"].iter().any(|sub| dir_has_tests(&crate_dir.join(sub)))
}

fn dir_has_tests(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else { return false };
    entries.flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            dir_has_tests(&path)
        } else {
            path.extension().is_some_and(|ext| ext == "rs")
                && fs::read_to_string(&path).is_ok_and(|text| text.contains("#[test]") || text.contains("#[cfg(test)]"))
        }
    })
}
