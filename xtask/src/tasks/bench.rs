//! `cargo xtask bench`: release build, then the benchmarks in
//! `tests/benches/`, which drive the release binaries, and the extension's
//! own (plain Rust, no browser).

use std::process::Command;

use crate::apt::Apt;
use crate::error::Result;
use crate::process;
use crate::report::Report;
use crate::tasks::build::build;
use crate::tasks::test::ensure_chromium;
use crate::ui;
use crate::wasm_toolchain::cargo;
use crate::workspace::Workspace;

/// Benchmarks run, in order: (package, `[[bench]]` name).
const BENCHES: &[(&str, &str)] = &[
    ("baton-e2e", "continuation"),
    ("baton-e2e", "rrweb"),
    ("baton-e2e", "cobrowse_latency"),
    ("baton-e2e", "page_load"),
    ("baton-extension", "panel_search"),
];

pub fn bench(ws: &Workspace, apt: &mut Apt) -> Result<()> {
    let mut report = Report::default();
    ensure_chromium(apt, &mut report)?;
    build(ws, apt, true, &mut report)?;
    for (package, name) in BENCHES {
        report.time(&format!("bench {name}"), || {
            ui::step(format!("running the {name} benchmark"));
            process::run(
                Command::new(cargo())
                    .args(["bench", "--package", package, "--bench", name])
                    // The harness picks host and server binaries from this profile.
                    .env("BATON_BIN_PROFILE", "release")
                    .current_dir(&ws.root),
            )
        })?;
    }
    report.print("bench");
    println!("results: {}", ws.root.join("target/bench").display());
    Ok(())
}
