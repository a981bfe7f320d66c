//! Baton's protocol crate: the wire types, the canonical encoding and the
//! record tokens, defined once for the Wasm extension, the host and the server.
//!
//! Invariant: this crate performs no I/O. It builds for `wasm32-unknown-unknown`
//! and for the host platform alike.

pub mod api;
pub mod canonical;
pub mod chunk;
pub mod cobrowse;
pub mod ids;
pub mod limits;
pub mod native;
pub mod records;
pub mod session;
pub mod sync;
pub mod token;

/// The version every Baton program reports (`pong.version`, `/v1/status`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
