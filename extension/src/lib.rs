//! Baton's extension logic. The JavaScript files in `static/` only load this
//! module and call one entry point per context:
//!
//! - `start_service_worker` / `on_connect` — the background service worker:
//!   holds the native messaging port to `baton-host` and serves the UI pages.
//! - `start_popup` — the toolbar popup.
//! - `start_panel` — the panel listing other devices' tabs (side panel or tab).
//! - `start_console` — the operator's co-browsing console (`console.html`).
//! - `start_options` — the options page (settings, with those managed by policy locked).
//! - `start_app` — a pushed app's sandboxed frame (`app.html`).
//! - `start_content_script` — the content script in web pages (loaded
//!   through wasm-bindgen's classic-script glue).
//! - `on_browser_event` — browser events the worker's loader queued.
//!
//! The modules that touch browser APIs compile only for wasm32; the view
//! model is plain Rust and tested on the host. Every entry point but the
//! content script's needs the `pages` feature (on by default): the content
//! script's own module is built without it, so it holds only the code that
//! script reaches, and every page the browser loads compiles less.

pub mod capture;
pub mod cobrowse;
pub mod console;
pub mod content;
pub mod options;
pub mod panel;
pub mod settings;
pub mod view;
pub mod web;

#[cfg(target_arch = "wasm32")]
mod chrome;
// Reached only from the `pages` entry points: dead in the content script's build.
#[cfg(target_arch = "wasm32")]
#[cfg_attr(not(feature = "pages"), allow(dead_code))]
mod popup;
#[cfg(target_arch = "wasm32")]
#[cfg_attr(not(feature = "pages"), allow(dead_code))]
mod restore;
#[cfg(target_arch = "wasm32")]
#[cfg_attr(not(feature = "pages"), allow(dead_code))]
mod worker;

#[cfg(target_arch = "wasm32")]
pub use entry::*;

#[cfg(target_arch = "wasm32")]
mod entry {
    use wasm_bindgen::prelude::*;

    #[cfg(feature = "pages")]
    #[wasm_bindgen]
    pub fn start_service_worker() {
        crate::worker::start();
    }

    /// Called by the loader for every `chrome.runtime.onConnect`, including
    /// ports that arrived before the module finished loading.
    #[cfg(feature = "pages")]
    #[wasm_bindgen]
    pub fn on_connect(port: JsValue) {
        crate::worker::ui::on_connect(port.unchecked_into());
    }

    #[cfg(feature = "pages")]
    #[wasm_bindgen]
    pub fn start_popup() {
        crate::popup::start();
    }

    #[cfg(feature = "pages")]
    #[wasm_bindgen]
    pub fn start_panel() {
        crate::panel::start();
    }

    #[cfg(feature = "pages")]
    #[wasm_bindgen]
    pub fn start_console() {
        crate::console::start();
    }

    #[cfg(feature = "pages")]
    #[wasm_bindgen]
    pub fn start_options() {
        crate::options::start();
    }

    /// A pushed app's frame (`app.html`): the built-in viewer and form.
    #[cfg(feature = "pages")]
    #[wasm_bindgen]
    pub fn start_app() {
        crate::cobrowse::visitor::app_frame::start();
    }

    #[wasm_bindgen]
    pub fn start_content_script() {
        crate::content::start();
    }

    /// A browser event (`"tabs.onUpdated"`, …) with its listener arguments,
    /// forwarded by the worker's loader.
    #[cfg(feature = "pages")]
    #[wasm_bindgen]
    pub fn on_browser_event(name: &str, args: js_sys::Array) {
        crate::capture::events::dispatch(name, &args);
    }
}
