//! The continuation panel: other devices' windows and tabs, search, history,
//! sending a tab and pairing. `model` is plain Rust; the rest draws it with
//! web-sys and is shared with the popup (`client`, `send`, `pairing`).

pub mod model;

#[cfg(target_arch = "wasm32")]
mod browser;
#[cfg(target_arch = "wasm32")]
pub mod client;
#[cfg(target_arch = "wasm32")]
mod dom;
#[cfg(target_arch = "wasm32")]
mod list;
#[cfg(target_arch = "wasm32")]
mod page;
#[cfg(target_arch = "wasm32")]
pub mod pairing;
#[cfg(target_arch = "wasm32")]
pub mod send;

#[cfg(target_arch = "wasm32")]
pub use browser::{open_panel, remember_window};
#[cfg(target_arch = "wasm32")]
pub use page::start;
