//! Baton's settings: what the organisation manages by policy
//! (`chrome.storage.managed`, declared in `static/managed_schema.json`) over
//! what the person chose (`chrome.storage.local`) over the defaults.
//!
//! - `keys` — the settings, their storage names and wording.
//! - `values` — the effective values and their defaults.
//! - `validate` — what each setting accepts.
//! - `merge` — policy over person over default; locks and warnings.
//! - `store` (extension only) — reading, caching, watching and saving:
//!   [`store::load`], [`store::current`], [`store::watch`], [`store::set`].
//! - `marks` (extension only) — how pages show managed settings and hide
//!   what the organisation turned off.
//!
//! Other modules ask here instead of reading storage themselves.

pub mod keys;
pub mod merge;
pub mod validate;
pub mod values;

#[cfg(target_arch = "wasm32")]
pub mod marks;
#[cfg(target_arch = "wasm32")]
pub mod store;

pub use keys::Key;
pub use merge::{Effective, Warning};
pub use values::Settings;

#[cfg(target_arch = "wasm32")]
pub use store::{current, load, watch};

/// The wording pages use next to a locked setting.
pub const MANAGED_LABEL: &str = "Managed by your organization";
