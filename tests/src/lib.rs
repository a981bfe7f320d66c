//! End-to-end harness for Baton: real headless Chromium with the real
//! extension, the real `baton-host` started by Chromium over native
//! messaging, and a real `baton-server` on 127.0.0.1.
//!
//! Every fixture owns its temporary directories and kills its processes on
//! drop, so tests can run in parallel without sharing state.

pub mod artifacts;
pub mod bench;
pub mod browser;
pub mod cdp;
pub mod console;
pub mod content_world;
pub mod device;
pub mod error;
pub mod host;
pub mod logs;
pub mod native_client;
pub mod pages;
pub mod popup;
pub mod proxy;
pub mod server;
pub mod signal;
pub mod store;

pub use browser::{Browser, BrowserOptions};
pub use cdp::{Cdp, CdpError, Event, Session, TargetInfo};
pub use content_world::{click_visitor_ui, in_content_world, wait_in_content_world, BATON_IN_PAGE_JS, VISITOR_UI_JS};
pub use device::{Device, DeviceOptions, Diagnose, OrReport};
pub use error::HarnessError;
pub use native_client::NativeHost;
pub use pages::{Reply, Request};
pub use popup::{Popup, PopupState};
pub use proxy::{CountingProxy, Traffic};
pub use server::ServerProcess;
