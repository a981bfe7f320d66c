//! The service worker: the extension's hub.
//!
//! - `host` owns the native messaging port to `baton-host`: reconnects with
//!   backoff, correlates requests with replies, and hands host events to
//!   whoever subscribed.
//! - `ui` serves the extension's pages (popup, panel) over runtime ports.
//!
//! Capture and restore plug in through [`host::request`], [`host::notify`]
//! and [`host::subscribe`].

pub mod host;
pub mod ui;

pub fn start() {
    crate::chrome::log("baton: service worker started");
    host::subscribe(ui::forward_host_event);
    crate::capture::start();
    crate::restore::start();
    crate::cobrowse::visitor::worker::start();
    host::connect();
}
