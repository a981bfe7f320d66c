//! The content script: captures a page's form fields and scroll position
//! (masking at the source, fail-closed) and restores them on request.
//!
//! Pure rules live in [`classify`], [`matching`], [`text`] and
//! [`messages`]; the DOM code compiles only for wasm32.

pub mod classify;
pub mod matching;
pub mod messages;
pub mod text;

#[cfg(target_arch = "wasm32")]
pub(crate) mod dom;
#[cfg(target_arch = "wasm32")]
mod fill;
#[cfg(target_arch = "wasm32")]
mod script;
#[cfg(target_arch = "wasm32")]
mod scroll;

#[cfg(target_arch = "wasm32")]
pub use script::start;
