//! `baton-host`: started by the browser for native messaging, or run by a
//! person for `install`, `uninstall` and `doctor`.
//!
//! The browser passes the caller's origin as the first argument
//! (`chrome-extension://ID/` in Chromium-family browsers; the manifest path
//! and then the extension id in Firefox), so anything that is not a known
//! subcommand is treated as a native messaging launch.

mod caller;
mod cli;
mod cobrowse;
mod config;
mod context;
mod crypto;
mod doctor;
mod framing;
mod ingest;
mod install;
mod logging;
mod manifests;
mod messaging;
mod org;
mod pairing;
mod paths;
mod queries;
mod send_tab;
mod server_api;
mod server_link;
mod store;
mod sync_engine;
#[cfg(test)]
#[allow(dead_code)] // the process tests (tests/support) use the rest
mod test_server;
mod vault;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if cli::is_command_line(&args) {
        return cli::run(&args);
    }
    messaging::run(&args)
}
