//! The options page (`options.html`): every setting with its current value;
//! those the organisation manages are shown locked, marked "Managed by your
//! organization", and cannot be changed; the warnings about invalid policy
//! or saved values are listed on top.

pub mod fields;

#[cfg(target_arch = "wasm32")]
mod page;

#[cfg(target_arch = "wasm32")]
pub use page::start;
