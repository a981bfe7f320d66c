//! Co-browsing in the extension.
//!
//! - `capture/` — the visitor's capture engine (content script): a
//!   time-sliced snapshot with stable node ids, then incremental records,
//!   masked at capture (fail-closed).
//! - `visitor/` — the visitor's session: sharing from the popup, the routing
//!   in the worker, and in the page the consent prompt, the "being viewed"
//!   bar, the operator's pointer and annotations, consented control and
//!   pushed apps.
//!
//! The operator's console is its own page (`crate::console`).

/// Pure rules (masking, encoding, batching) are tested natively; the DOM
/// glue inside compiles only for wasm32.
pub mod capture;
pub mod visitor;
