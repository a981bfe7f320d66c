//! Capture in the service worker: windows and tabs, per-tab history, and
//! page state relayed from the content script, each sent to the host
//! debounced by [`CAPTURE_DEBOUNCE_MS`](baton_shared::limits::CAPTURE_DEBOUNCE_MS).
//!
//! Browser events reach [`events::dispatch`] through `background.js`,
//! which registers the listeners synchronously (so the event that woke the
//! worker is not lost) and queues them until the Wasm is ready.

pub mod browser_types;
pub mod exclude;
pub mod history;
pub mod sanitize;

#[cfg(target_arch = "wasm32")]
pub mod api;
#[cfg(target_arch = "wasm32")]
pub mod debounce;
#[cfg(target_arch = "wasm32")]
pub mod events;
#[cfg(target_arch = "wasm32")]
mod navigation;
#[cfg(target_arch = "wasm32")]
mod pages;
#[cfg(target_arch = "wasm32")]
mod tabs;

#[cfg(target_arch = "wasm32")]
pub use worker_start::start;

#[cfg(target_arch = "wasm32")]
mod worker_start {
    use std::cell::Cell;

    use crate::view::{HostState, View};
    use crate::worker::host;

    thread_local! {
        static CONNECTED: Cell<bool> = const { Cell::new(false) };
    }

    /// Takes a first snapshot and resends everything whenever the host
    /// (re)connects: a snapshot is complete state, so missed events do not matter.
    pub fn start() {
        host::on_view_change(on_view);
        super::navigation::start();
        super::tabs::changed();
    }

    fn on_view(view: &View) {
        let connected = view.host == HostState::Connected;
        if connected && !CONNECTED.with(|c| c.replace(true)) {
            super::tabs::resend();
            super::navigation::resend_all();
        } else if !connected {
            CONNECTED.with(|c| c.set(false));
        }
    }
}
