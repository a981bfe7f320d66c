//! What Baton captures of a browsing session, and how another device sees it.
//!
//! These are the plaintext shapes exchanged between the extension and the
//! host. The host turns them into records (see [`crate::records`]), encrypts
//! the bodies, and syncs them; the server never sees them in the clear.
//!
//! Never captured (enforced in the extension's capture code, re-checked by
//! the host on ingest): incognito windows, password fields, `cc-*`,
//! `one-time-code`, `new-password`, `current-password` autocomplete, hidden
//! inputs, anything inside `[data-baton-private]`, excluded sites.

use serde::{Deserialize, Serialize};

use crate::api::DeviceKind;

/// A browser window (normal windows only; never incognito).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowState {
    /// The browser's window id (stable while the browser runs).
    pub id: i64,
    pub focused: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabGroup {
    pub name: String,
    /// Chrome's group colour name ("grey", "blue", …).
    pub color: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabState {
    /// The browser's tab id (stable while the browser runs).
    pub id: i64,
    pub window_id: i64,
    pub index: u32,
    pub url: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fav_icon_url: Option<String>,
    pub pinned: bool,
    pub active: bool,
    /// Unix ms of the last time the tab was active.
    pub last_accessed_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<TabGroup>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub url: String,
    pub title: String,
    pub visited_ms: i64,
}

/// A tab's back/forward list as recorded from navigation events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabHistory {
    pub tab_id: i64,
    /// Oldest first, at most [`crate::limits::MAX_HISTORY_ENTRIES`].
    pub entries: Vec<HistoryEntry>,
    /// Index into `entries` of the page the tab shows.
    pub current: u32,
}

/// The kinds of form field Baton captures. Anything else is never captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Email,
    Search,
    Url,
    Tel,
    Number,
    Date,
    DatetimeLocal,
    Month,
    Week,
    Time,
    Textarea,
    Select,
    SelectMultiple,
    Checkbox,
    Radio,
    Contenteditable,
}

/// Everything known about a field's identity, so it can be found again on a
/// reloaded page whose markup order changed. Matching prefers `id`, then
/// `name` (+ `value_attr` for radios/checkboxes), `autocomplete`, `label`,
/// and finally the structural `path`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldKey {
    pub kind: FieldKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autocomplete: Option<String>,
    /// Text of the associated `<label>` (or aria-label), whitespace-collapsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The owning form's `action`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_action: Option<String>,
    /// The `value` attribute of a radio or checkbox (which option it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_attr: Option<String>,
    /// Structural fallback: tag names and sibling indexes from `<body>`.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", content = "v", rename_all = "snake_case")]
pub enum FieldValue {
    Text(String),
    Checked(bool),
    Selected(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldState {
    pub key: FieldKey,
    pub value: FieldValue,
}

/// A text anchor near the top of the viewport: restoring scrolls the element
/// containing this text back to `offset_px` below the viewport's top, which
/// survives layout shifts that a raw `y` does not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrollAnchor {
    /// Up to [`crate::limits::MAX_ANCHOR_TEXT`] characters of the element's text.
    pub text: String,
    pub offset_px: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrollState {
    pub x: i64,
    pub y: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<ScrollAnchor>,
}

/// A page's form contents and scroll position, captured by the content script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageState {
    pub tab_id: i64,
    /// The page the state belongs to; a restore only applies to this URL.
    pub url: String,
    pub fields: Vec<FieldState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scroll: Option<ScrollState>,
    pub captured_ms: i64,
}

/// One of the user's devices as another device lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteDevice {
    pub id: String,
    pub name: String,
    pub kind: DeviceKind,
    pub last_seen_ms: i64,
    /// Windows, most recently used first; tabs in index order.
    pub windows: Vec<RemoteWindow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteWindow {
    pub id: i64,
    pub focused: bool,
    pub tabs: Vec<TabState>,
}

/// Delivery progress of a tab sent to another device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Sent,
    Delivered,
    Opened,
}

/// Whether an autocomplete token marks a field that is never captured.
pub fn is_secret_autocomplete(autocomplete: &str) -> bool {
    autocomplete.split_ascii_whitespace().any(|token| {
        let t = token.to_ascii_lowercase();
        t.starts_with("cc-") || t == "one-time-code" || t == "new-password" || t == "current-password"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_autocomplete_tokens() {
        for secret in ["cc-number", "section-a cc-csc", "one-time-code", "new-password", "CURRENT-PASSWORD"] {
            assert!(is_secret_autocomplete(secret), "{secret}");
        }
        for fine in ["email", "name", "street-address", "off", ""] {
            assert!(!is_secret_autocomplete(fine), "{fine}");
        }
    }

    #[test]
    fn field_value_shape() {
        let v = serde_json::to_value(FieldValue::Selected(vec!["a".into()])).unwrap();
        assert_eq!(v, serde_json::json!({"t": "selected", "v": ["a"]}));
    }
}
