//! What the worker and a shared tab's content script tell each other (inside
//! [`crate::content::messages::ContentMessage`]), and what the worker
//! publishes for the popup.

use serde::{Deserialize, Serialize};

use baton_shared::cobrowse::{AuditEvent, OperatorFrame, Scope, SessionState, VisitorFrame};
use baton_shared::limits::MAX_FRAME_FROM_BROWSER;

use crate::content::messages::ContentMessage;

/// `chrome.storage.session` key under which the worker keeps the shared
/// tabs (`{"<tab id>": ShareView}`); the popup reads and watches it.
pub const SHARES_KEY: &str = "cobrowseShares";

/// One shared tab, as the popup and the page show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShareView {
    pub session_id: String,
    pub code: String,
    pub expires_ms: i64,
    pub state: SessionState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Scopes the visitor granted (kept across navigations of the tab).
    #[serde(default)]
    pub scopes: Vec<Scope>,
    /// A frame from the operator has been opened with the session key (the
    /// operator derived it with the code's secret half).
    #[serde(default)]
    pub key_confirmed: bool,
    /// The session is being recorded: the visitor allowed it, and the
    /// server has not stopped at its cap.
    #[serde(default)]
    pub recorded: bool,
    /// The operator's side dropped off the relay (its connection or its
    /// app); nothing reaches it until it is back.
    #[serde(default)]
    pub operator_away: bool,
    /// While the operator is away: when the session ends unless they come
    /// back (ms since the epoch, this computer's clock).
    #[serde(default)]
    pub away_ends_at_ms: Option<i64>,
}

impl ShareView {
    /// A tab just shared: waiting for an operator with `code`.
    pub fn waiting(session_id: String, code: String, expires_ms: i64) -> ShareView {
        ShareView {
            session_id,
            code,
            expires_ms,
            state: SessionState::Waiting,
            operator: None,
            scopes: Vec::new(),
            key_confirmed: false,
            recorded: false,
            operator_away: false,
            away_ends_at_ms: None,
        }
    }
}

/// Worker → the shared tab's content script.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum ToPage {
    /// This tab is shared: show (or update) the bar; when `active`, capture.
    Shared { share: ShareView },
    /// An operator frame to apply.
    Frame { frame: OperatorFrame },
    /// Sharing ended: remove everything.
    Ended,
    /// The settings refused the operator who joined; the session is over.
    /// Show `message` until the visitor closes it, then remove everything.
    Refused { message: String },
}

/// The shared tab's content script → worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
// One value per message, decoded and moved a few times: boxing the large
// variant would save nothing worth an allocation.
#[allow(clippy::large_enum_variant)]
pub enum FromPage {
    /// Loaded (any page, excluded or not): is this tab shared?
    Hello,
    /// The visitor's answer to the consent prompt.
    Consent { approve: bool, record: bool },
    /// A frame for the operator (only sent while active).
    Frame { frame: VisitorFrame },
    /// An audit entry (grants, commands, pushes, app states).
    Audit { event: AuditEvent },
    /// The scopes granted now (kept by the worker for the next page).
    Scopes { scopes: Vec<Scope> },
    /// The visitor accepted a pushed URL: open it in a new tab, if `url`
    /// (what the prompt showed) is the one the operator pushed under the id.
    OpenPushed { push_id: String, url: String },
    /// The visitor declined a pushed URL: the worker forgets it.
    DeclinedPush { push_id: String },
    /// The visitor pressed Stop.
    Stop,
}

impl FromPage {
    /// The message as the JSON the content script sends the worker. One the
    /// browser would not pass on (over what the host takes, less room for
    /// the envelopes it travels in) goes as a `TooLarge` frame in its
    /// place, so the operator hears of it.
    pub fn into_message_text(self) -> serde_json::Result<String> {
        const ENVELOPES: usize = 4 * 1024;
        let text = serde_json::to_string(&ContentMessage::CobrowseFromPage { m: self })?;
        if text.len() <= MAX_FRAME_FROM_BROWSER - ENVELOPES {
            return Ok(text);
        }
        let frame = VisitorFrame::TooLarge { bytes: text.len() as u64 };
        serde_json::to_string(&ContentMessage::CobrowseFromPage { m: FromPage::Frame { frame } })
    }
}

/// The audit events a visitor's page may ask the worker to append. Start
/// and end are the server's, consent the host's, pushes the operator's.
pub fn page_may_audit(event: &AuditEvent) -> bool {
    matches!(
        event,
        AuditEvent::Granted { .. }
            | AuditEvent::Revoked { .. }
            | AuditEvent::Command { .. }
            | AuditEvent::AppState { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_shared::cobrowse::{CommandKind, Node, Snapshot};

    #[test]
    fn a_frame_the_browser_would_not_pass_goes_as_a_notice() {
        let frame = |text: String| FromPage::Frame {
            frame: VisitorFrame::Mutations(baton_shared::cobrowse::Mutations {
                texts: vec![(3, text)],
                ..Default::default()
            }),
        };
        let small = frame("x".repeat(1000));
        let text = small.clone().into_message_text().unwrap();
        assert_eq!(
            serde_json::from_str::<ContentMessage>(&text).unwrap(),
            ContentMessage::CobrowseFromPage { m: small }
        );
        let text = frame("x".repeat(MAX_FRAME_FROM_BROWSER)).into_message_text().unwrap();
        let Ok(ContentMessage::CobrowseFromPage { m: FromPage::Frame { frame: VisitorFrame::TooLarge { bytes } } }) =
            serde_json::from_str::<ContentMessage>(&text)
        else {
            panic!("not a notice: {}", &text[..100.min(text.len())])
        };
        assert!(bytes > MAX_FRAME_FROM_BROWSER as u64, "{bytes}");
    }

    #[test]
    fn round_trips() {
        let share = ShareView {
            session_id: "s".into(),
            code: "AB-CD".into(),
            expires_ms: 5,
            state: SessionState::Active,
            operator: Some("Sam".into()),
            scopes: vec![Scope::Click],
            key_confirmed: true,
            recorded: true,
            operator_away: true,
            away_ends_at_ms: Some(1_800_000_000_000),
        };
        let to = [
            ToPage::Shared { share },
            ToPage::Frame { frame: OperatorFrame::Ripple { x: 1, y: 2 } },
            ToPage::Ended,
            ToPage::Refused { message: "no".into() },
        ];
        for m in to {
            let text = serde_json::to_string(&m).unwrap();
            assert_eq!(serde_json::from_str::<ToPage>(&text).unwrap(), m, "{text}");
        }
        let snapshot = Snapshot {
            url: "https://a/".into(),
            title: "A".into(),
            doctype: None,
            root: Node::Comment { i: 1 },
            viewport: (1, 2),
            scroll: vec![],
            prefers: vec![],
            base: None,
            generation: 7,
        };
        let from = [
            FromPage::Hello,
            FromPage::Consent { approve: true, record: false },
            FromPage::Frame { frame: VisitorFrame::Snapshot(Box::new(snapshot)) },
            FromPage::Audit { event: AuditEvent::Command { command: CommandKind::Click, ok: false } },
            FromPage::Scopes { scopes: vec![Scope::Type] },
            FromPage::OpenPushed { push_id: "p".into(), url: "https://a/".into() },
            FromPage::DeclinedPush { push_id: "p".into() },
            FromPage::Stop,
        ];
        for m in from {
            let text = serde_json::to_string(&m).unwrap();
            assert_eq!(serde_json::from_str::<FromPage>(&text).unwrap(), m, "{text}");
        }
    }

    #[test]
    fn pages_cannot_forge_consent_or_end() {
        assert!(!page_may_audit(&AuditEvent::Consent { approved: true }));
        assert!(!page_may_audit(&AuditEvent::Started));
        assert!(page_may_audit(&AuditEvent::Granted { scopes: vec![Scope::Click] }));
        assert!(!page_may_audit(&AuditEvent::Pushed { push: baton_shared::cobrowse::PushKind::Url }));
    }
}
