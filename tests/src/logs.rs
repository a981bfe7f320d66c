//! Reading the ends of log files for error reports.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// How far back from the end of a file [`tail`] reads.
const TAIL_BYTES: u64 = 64 * 1024;

/// The last `max_lines` lines of the file at `path`, or a note saying why
/// there are none. Never fails: it is used while reporting other failures.
pub fn tail(path: &Path, max_lines: usize) -> String {
    tail_without(path, max_lines, &[])
}

/// Like [`tail`], leaving out lines that contain any of `noise`.
pub fn tail_without(path: &Path, max_lines: usize, noise: &[&str]) -> String {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return format!("({}: {e})", path.display()),
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(TAIL_BYTES);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return format!("({}: cannot seek)", path.display());
    }
    let mut bytes = Vec::new();
    if let Err(e) = file.read_to_end(&mut bytes) {
        return format!("({}: {e})", path.display());
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().filter(|line| !noise.iter().any(|n| line.contains(n))).collect();
    if lines.is_empty() {
        return format!("({} is empty)", path.display());
    }
    lines[lines.len().saturating_sub(max_lines)..].join("\n")
}
