//! The continuation panel: other devices' windows and tabs, search, history,
//! sending a tab and pairing. `model` is plain Rust; the rest draws it with
//! web-sys and is shared with the popup (`client`, `send`, `pairing`).

pub mod model;
