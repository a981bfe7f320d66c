//! What the service worker tells its UI pages: the state of the host link
//! and the host's last status. Internal to the extension.

use serde::{Deserialize, Serialize};

use baton_shared::native::{HostMessage, HostStatus, RequestBody, ServerState};

/// Name of the runtime port UI pages open to the service worker.
pub const UI_PORT: &str = "baton-ui";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    Connecting,
    Connected,
    Disconnected,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct View {
    pub host: HostState,
    /// Why the host is not connected, in words for the user.
    pub host_error: Option<String>,
    /// When disconnected: milliseconds until the next automatic attempt.
    pub retry_in_ms: Option<u32>,
    /// The host's last status; `None` while it is not connected.
    pub status: Option<HostStatus>,
}

/// UI page → service worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
// One value per message, decoded and moved a few times: boxing the large
// variant would save nothing worth an allocation.
#[allow(clippy::large_enum_variant)]
pub enum UiRequest {
    /// Try to reach the host now instead of waiting for the backoff.
    Reconnect,
    /// Forward a request to the host; answered by [`UiEvent::HostReply`]
    /// with the same `rid` (an `error` reply when it failed).
    Host { rid: u64, request: RequestBody },
    /// Something only the worker can do (open tabs, restore state);
    /// answered by [`UiEvent::ActionDone`] with the same `rid`.
    Action { rid: u64, action: Action },
    /// A console page shows this operator session (`None`: no longer). A
    /// session no page shows for [`CONSOLE_GONE_MS`] is ended. Not answered.
    ///
    /// [`CONSOLE_GONE_MS`]: baton_shared::limits::CONSOLE_GONE_MS
    Operating { session_id: Option<String> },
}

/// Browser-side actions a page asks the worker to perform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Open another device's tab here, then refill its forms and scroll.
    OpenRemoteTab { device_id: String, tab_id: i64 },
    /// Reopen another device's window here, tabs in order, each restored.
    ContinueWindow { device_id: String, window_id: i64 },
    /// Open a URL in a new tab (a history entry).
    OpenUrl { url: String },
    /// Share this tab with an operator: starts a co-browsing session whose
    /// code the page's "being viewed" bar and the popup show.
    ShareTab { tab_id: i64 },
    /// Stop sharing a tab.
    StopSharing { tab_id: i64 },
}

/// Service worker → UI page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UiEvent {
    View(View),
    HostReply {
        rid: u64,
        reply: HostMessage,
    },
    /// An event from the host (`remote_changed`, `delivery`, …). A struct
    /// variant: the host message carries its own `type` key.
    HostEvent {
        event: HostMessage,
    },
    ActionDone {
        rid: u64,
        error: Option<String>,
    },
    /// The operator sessions console pages show, told to a page as it
    /// connects: a new console leaves those to the tabs showing them.
    Consoles {
        sessions: Vec<String>,
    },
}

/// The server line of the popup: a `data-state` value and a sentence.
pub fn server_line(view: &View) -> (&'static str, String) {
    let Some(status) = view.status.as_ref().filter(|_| view.host == HostState::Connected) else {
        return ("unknown", "Unknown until the Baton app is connected".to_owned());
    };
    let server = &status.server;
    let why = || server.error.clone().unwrap_or_default();
    match server.state {
        ServerState::Connecting => ("connecting", format!("Connecting to {}…", server.url)),
        ServerState::Connected => ("connected", format!("Connected to {}", server.url)),
        ServerState::Unreachable => ("unreachable", format!("Unreachable: {}", why())),
        ServerState::Rejected => ("rejected", format!("Refused: {}", why())),
    }
}

/// The host line of the popup.
pub fn host_line(view: &View) -> (&'static str, String) {
    match view.host {
        HostState::Connecting => ("connecting", "Connecting to the Baton app…".to_owned()),
        HostState::Connected => {
            let version = view.status.as_ref().map(|s| s.host.version.as_str()).unwrap_or("?");
            ("connected", format!("Connected (baton-host {version})"))
        }
        HostState::Disconnected => {
            let why = view.host_error.as_deref().unwrap_or("the Baton app is not running");
            let mut text = format!("Disconnected: {}", why.trim_end_matches('.'));
            if let Some(ms) = view.retry_in_ms {
                text.push_str(&format!(". Retrying in {} s", ms.div_ceil(1000)));
            }
            ("disconnected", text)
        }
    }
}

/// The device line: a `data-state` value and the device's name once the
/// host has registered it.
pub fn device_line(view: &View) -> (&'static str, String) {
    match view.status.as_ref().filter(|_| view.host == HostState::Connected) {
        None => ("unknown", "Unknown until the Baton app is connected".to_owned()),
        Some(status) => match &status.device {
            Some(device) => ("registered", device.name.clone()),
            None => ("unregistered", "Not registered yet".to_owned()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_shared::api::DeviceKind;
    use baton_shared::native::{DeviceInfo, HostInfo, ServerLink};

    fn connected() -> View {
        View {
            host: HostState::Connected,
            host_error: None,
            retry_in_ms: None,
            status: Some(HostStatus {
                host: HostInfo { version: "1.2".into() },
                server: ServerLink {
                    url: "http://s".into(),
                    state: ServerState::Unreachable,
                    error: Some("down".into()),
                    error_code: None,
                },
                device: Some(DeviceInfo { id: "d".into(), name: "Laptop".into(), kind: DeviceKind::Laptop }),
                sync: Default::default(),
            }),
        }
    }

    #[test]
    fn ui_events_round_trip() {
        let events = [
            UiEvent::HostEvent { event: HostMessage::RemoteChanged },
            UiEvent::HostReply { rid: 3, reply: HostMessage::Ack { id: serde_json::json!(9) } },
            UiEvent::ActionDone { rid: 4, error: Some("no".into()) },
            UiEvent::Consoles { sessions: vec!["s1".into()] },
            UiEvent::View(connected()),
        ];
        for event in events {
            let text = serde_json::to_string(&event).unwrap();
            assert_eq!(serde_json::from_str::<UiEvent>(&text).unwrap(), event, "{text}");
        }
    }

    #[test]
    fn lines() {
        let v = connected();
        assert_eq!(host_line(&v).0, "connected");
        assert_eq!(server_line(&v), ("unreachable", "Unreachable: down".to_owned()));
        assert_eq!(device_line(&v), ("registered", "Laptop".to_owned()));
        let d = View {
            host: HostState::Disconnected,
            host_error: Some("gone.".into()),
            retry_in_ms: Some(1500),
            status: None,
        };
        assert_eq!(host_line(&d), ("disconnected", "Disconnected: gone. Retrying in 2 s".to_owned()));
        assert_eq!(server_line(&d).0, "unknown");
        assert_eq!(device_line(&d).0, "unknown");
    }
}
