//! The visitor's side of co-browsing.
//!
//! - [`model`] — the rules, browser-free: scopes, command checks, URL and
//!   origin checks, the pushed apps' states, ordered app events.
//! - [`protocol`] — worker ↔ content script messages and the popup's view.
//! - `worker` — in the service worker: starts and stops shares
//!   (`Action::ShareTab` / `StopSharing`), remembers which tab a session
//!   belongs to, relays host events to that tab and the tab's frames, audit
//!   entries and answers to the host; tells a shared tab's new page that it
//!   is shared.
//! - `page` — in the shared tab's content script: the session's driver
//!   (consent, capture through the recorder, operator frames).
//! - `overlay` — everything drawn in the page, inside one closed shadow
//!   root on a `data-baton-ui="visitor"` host element that is put back if the page
//!   removes it: the "being viewed" bar with Stop, consent and control
//!   prompts, the operator's pointer, ripples, highlight and annotations,
//!   and pushed apps in sandboxed frames.
//! - `control` — running the operator's commands (scope and protection
//!   re-checked at execution time).
//! - `app_frame` — the built-in viewer and form inside `app.html`.
//! - `share_ui` — the popup's "Share this tab" control.
//!
//! Test hooks: the page cannot reach the closed shadow root; code running in
//! the content script's world can, through
//! `chrome.dom.openOrClosedShadowRoot(document.querySelector('[data-baton-ui=visitor]'))`.
//! Inside, actionable elements carry `data-baton-act` (`stop`, `allow`,
//! `deny`, `record`, `grant`, `decline`, `revoke-<scope>`, `scope-<scope>`,
//! `push-open`, `push-decline`), the bar is `[data-baton-part=bar]` with
//! `data-state` (`waiting`, `awaiting_consent`, `active`) and
//! `data-scopes`; pointer, ripples, highlight and annotations are
//! `[data-baton-part=pointer|ripple|highlight|annotations]`, and each app is
//! `[data-baton-app=<id>]` with `data-state` (`pushed`, `held`).

pub mod model;
pub mod protocol;

#[cfg(target_arch = "wasm32")]
pub mod app_frame;
#[cfg(target_arch = "wasm32")]
mod control;
#[cfg(target_arch = "wasm32")]
mod overlay;
#[cfg(target_arch = "wasm32")]
pub mod page;
#[cfg(target_arch = "wasm32")]
pub mod share_ui;
#[cfg(target_arch = "wasm32")]
pub mod worker;
