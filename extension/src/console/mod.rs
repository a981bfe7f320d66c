//! The operator's console (an extension page): join with the visitor's
//! code, then a live mirror of the visitor's tab and the operator's tools.
//!
//! The mirror never runs page code: it lives in an `<iframe
//! sandbox="allow-same-origin">` (no scripts, no forms, no navigation of
//! the console), everything in it is sanitised first (`sanitize`, `url`,
//! `css`), and the page's CSP allows only the extension's own scripts. A
//! transparent layer over the frame takes every pointer event, so nothing
//! in the mirror can be clicked or focused.
//!
//! Plain Rust, tested natively: `url`, `css`, `sanitize`, `mirror` (the
//! node-id model, over a [`mirror::Dom`]), `sequence` (gaps and keyframe
//! requests), `model` (phases, scopes, apps, pointer coalescing) and
//! `timeline` (replay). The rest draws it with web-sys.

pub mod css;
pub mod mirror;
pub mod model;
pub mod sanitize;
pub mod sequence;
pub mod timeline;
pub mod url;

#[cfg(target_arch = "wasm32")]
mod frame_dom;
#[cfg(target_arch = "wasm32")]
mod page;
#[cfg(target_arch = "wasm32")]
mod ui;

#[cfg(target_arch = "wasm32")]
pub use page::start;
