//! Where the built programs live. `cargo xtask test` builds them before
//! `cargo test` runs; a missing one is an error that says so, never a skip.

use std::path::{Path, PathBuf};

use crate::error::HarnessError;

/// The workspace root (this crate lives in `tests/`).
pub fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().unwrap_or(manifest_dir);
    root.canonicalize().unwrap_or_else(|_| root.to_path_buf())
}

/// Cargo's target directory, honouring `CARGO_TARGET_DIR` when it is set.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                repo_root().join(dir)
            }
        }
        None => repo_root().join("target"),
    }
}

/// The cargo profile whose binaries the harness drives: `debug` for tests,
/// `release` for benchmarks (`BATON_BIN_PROFILE`, set by `cargo xtask bench`).
fn bin_profile() -> String {
    std::env::var("BATON_BIN_PROFILE").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "debug".to_owned())
}

pub fn host_binary() -> Result<PathBuf, HarnessError> {
    existing("baton-host binary", target_dir().join(bin_profile()).join("baton-host"))
}

pub fn server_binary() -> Result<PathBuf, HarnessError> {
    existing("baton-server binary", target_dir().join(bin_profile()).join("baton-server"))
}

/// The unpacked extension (`dist/extension/`, with its manifest.json).
pub fn extension_dir() -> Result<PathBuf, HarnessError> {
    let dir = repo_root().join("dist").join("extension");
    existing("unpacked extension manifest", dir.join("manifest.json"))?;
    Ok(dir)
}

/// The Chromium executable: `BATON_CHROMIUM` or Debian's `/usr/bin/chromium`.
pub fn chromium_binary() -> Result<PathBuf, HarnessError> {
    let path =
        std::env::var_os("BATON_CHROMIUM").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if path.is_file() {
        Ok(path)
    } else {
        Err(HarnessError::MissingArtifact {
            what: "Chromium (set BATON_CHROMIUM or install the `chromium` package)",
            path,
        })
    }
}

fn existing(what: &'static str, path: PathBuf) -> Result<PathBuf, HarnessError> {
    if path.is_file() {
        Ok(path)
    } else {
        Err(HarnessError::MissingArtifact { what, path })
    }
}

/// Writes a benchmark's results to `target/bench/<name>.json` and says
/// where; a failed write is reported but does not fail the run, whose
/// results are already printed.
pub fn write_bench_report(name: &str, report: &serde_json::Value) {
    let out = target_dir().join("bench");
    let _ = std::fs::create_dir_all(&out);
    let path = out.join(format!("{name}.json"));
    match serde_json::to_vec_pretty(report).map(|bytes| std::fs::write(&path, bytes)) {
        Ok(Ok(())) => println!("  written to {}", path.display()),
        _ => eprintln!("  could not write {}", path.display()),
    }
}
