//! Logs go to stderr (the browser forwards it to its own log) and to
//! `host.log` in the data dir. Never to stdout: stdout carries frames only.

use std::fs::OpenOptions;
use std::path::Path;

use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::EnvFilter;

/// Beyond this size the log is rotated once at startup (host.log → host.log.1).
const MAX_LOG_BYTES: u64 = 5 * 1024 * 1024;

pub fn init(log_file: &Path) {
    let filter = EnvFilter::try_from_env("BATON_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    if let Some(dir) = log_file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if std::fs::metadata(log_file).map(|m| m.len() > MAX_LOG_BYTES).unwrap_or(false) {
        let _ = std::fs::rename(log_file, log_file.with_extension("log.1"));
    }
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false);
    let result = match OpenOptions::new().create(true).append(true).open(log_file) {
        Ok(file) => builder.with_writer(std::io::stderr.and(std::sync::Mutex::new(file))).try_init(),
        Err(_) => builder.with_writer(std::io::stderr).try_init(),
    };
    let _ = result;
}
