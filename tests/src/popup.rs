//! The extension's popup page as a test sees it: a few stable hooks
//! (`#host-state`, `#server-state`, `#device-name`) read as one snapshot.

use std::fmt;
use std::time::Duration;

use baton_shared::ids::EXTENSION_ID;
use serde_json::Value;

use crate::cdp::{CdpError, Session};

/// The popup's page path inside the extension.
pub const POPUP_PATH: &str = "popup.html";

/// Reads every hook at once, plus some page text so a timeout shows what
/// the popup displayed instead.
const SNAPSHOT_JS: &str = r#"(() => {
  const q = (s) => document.querySelector(s);
  return {
    url: location.href,
    ready: document.readyState,
    host: q('#host-state')?.getAttribute('data-state') ?? null,
    server: q('#server-state')?.getAttribute('data-state') ?? null,
    device: q('#device-name')?.textContent?.trim() ?? null,
    text: (document.body?.innerText ?? '').slice(0, 600),
  };
})()"#;

pub fn popup_url() -> String {
    format!("chrome-extension://{EXTENSION_ID}/{POPUP_PATH}")
}

/// One reading of the popup's hooks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PopupState {
    /// `#host-state[data-state]`: connecting | connected | disconnected.
    pub host: Option<String>,
    /// `#server-state[data-state]`: unknown | connecting | connected | unreachable | rejected.
    pub server: Option<String>,
    /// `#device-name` text.
    pub device: Option<String>,
    /// The start of the page's visible text.
    pub text: String,
}

impl PopupState {
    fn from_json(v: &Value) -> PopupState {
        let field = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        PopupState {
            host: field("host"),
            server: field("server"),
            device: field("device"),
            text: field("text").unwrap_or_default(),
        }
    }

    pub fn host_is(&self, state: &str) -> bool {
        self.host.as_deref() == Some(state)
    }

    pub fn server_is(&self, state: &str) -> bool {
        self.server.as_deref() == Some(state)
    }

    pub fn device_is(&self, name: &str) -> bool {
        self.device.as_deref() == Some(name)
    }
}

impl fmt::Display for PopupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "host={:?} server={:?} device={:?} text={:?}", self.host, self.server, self.device, self.text)
    }
}

/// A page showing the popup.
#[derive(Clone)]
pub struct Popup {
    session: Session,
}

impl Popup {
    pub fn new(session: Session) -> Popup {
        Popup { session }
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub async fn state(&self) -> Result<PopupState, CdpError> {
        Ok(PopupState::from_json(&self.session.evaluate(SNAPSHOT_JS).await?))
    }

    /// Polls until `done` holds; a timeout reports the last snapshot.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&PopupState) -> bool,
    ) -> Result<PopupState, CdpError> {
        let v = self.session.wait_until(what, SNAPSHOT_JS, timeout, |v| done(&PopupState::from_json(v))).await?;
        Ok(PopupState::from_json(&v))
    }

    /// Presses "Share this tab" once and waits for the code the visitor
    /// reads out to the operator (the share's state is then `waiting`).
    pub async fn share_code(&self, timeout: Duration) -> Result<String, CdpError> {
        let v = self
            .session
            .wait_until("a share code", SHARE_JS, timeout, |v| {
                v["state"] == "waiting" && v["code"].as_str().is_some_and(|c| c.len() > 4)
            })
            .await?;
        Ok(v["code"].as_str().unwrap_or_default().to_owned())
    }
}

/// Clicks the share button once it is enabled (the popup enables it when
/// its module has wired it), on the first such run only; reports the state.
const SHARE_JS: &str = "(() => { const b = document.querySelector('#share-tab'); if (b && !b.disabled && !window.__clicked) { window.__clicked = true; b.click(); }
   return { state: document.querySelector('#share-state')?.dataset.state, code: document.querySelector('#share-code')?.textContent ?? '' }; })()";
