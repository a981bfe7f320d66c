//! Errors of the harness itself (processes, files, artifacts). Protocol-level
//! failures live in [`crate::cdp::CdpError`].

use std::path::PathBuf;
use std::time::Duration;

use crate::cdp::CdpError;

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("{what} not found at {}; run `cargo xtask test` (it builds baton-host, baton-server and dist/extension/) first", path.display())]
    MissingArtifact { what: &'static str, path: PathBuf },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("timed out after {after:?} waiting for {what}{}", tail_suffix(log_tail))]
    Timeout { what: String, after: Duration, log_tail: String },

    #[error("{what} exited early ({status}){}", tail_suffix(log_tail))]
    Exited { what: String, status: String, log_tail: String },

    #[error("`{command}` failed ({status}){}", tail_suffix(output))]
    Command { command: String, status: String, output: String },

    #[error("unexpected output from {what}: {detail}")]
    Unexpected { what: String, detail: String },

    #[error(transparent)]
    Cdp(#[from] CdpError),
}

impl HarnessError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        HarnessError::Io { context: context.into(), source }
    }
}

fn tail_suffix(tail: &str) -> String {
    if tail.trim().is_empty() {
        String::new()
    } else {
        format!("\n--- log tail ---\n{tail}")
    }
}
