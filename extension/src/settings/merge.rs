//! Managed (policy) values over the person's own values over defaults.
//!
//! A managed value that passes validation wins and locks its setting. A
//! managed value that does not is ignored — the person's value or the
//! default applies — and a warning says so; the extension never breaks on
//! a bad policy. List entries that do not pass are dropped one by one, also
//! with a warning.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{Map, Value};

use super::keys::Key;
use super::validate::{self, Valid};
use super::values::Settings;

/// Where a warning's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Policy,
    User,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub key: Key,
    pub source: Source,
    pub message: String,
}

impl Warning {
    /// The sentence shown in the extension's pages.
    pub fn text(&self) -> String {
        let whose = match self.source {
            Source::Policy => "Your organization's setting",
            Source::User => "The saved setting",
        };
        format!("{whose} \u{201c}{}\u{201d} ({}) {}", self.key.label(), self.key.name(), self.message)
    }
}

/// The settings in force, which of them the organisation locked, and what
/// was wrong with the stored values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Effective {
    pub settings: Settings,
    pub locked: BTreeSet<Key>,
    pub warnings: Vec<Warning>,
}

impl Effective {
    pub fn is_locked(&self, key: Key) -> bool {
        self.locked.contains(&key)
    }

    /// True when the organisation manages at least one setting.
    pub fn is_managed(&self) -> bool {
        !self.locked.is_empty()
    }
}

/// `managed` is `chrome.storage.managed`'s content, `local` the person's
/// `chrome.storage.local` (other keys in it are ignored).
pub fn merge(managed: &Map<String, Value>, local: &Map<String, Value>) -> Effective {
    let mut out = Effective::default();
    for key in Key::ALL {
        let from_policy = managed.get(key.name()).filter(|v| !v.is_null());
        if let Some(value) = from_policy {
            if apply(&mut out, key, value, Source::Policy) {
                out.locked.insert(key);
                continue;
            }
        }
        if let Some(value) = local.get(key.name()).filter(|v| !v.is_null()) {
            apply(&mut out, key, value, Source::User);
        }
    }
    out
}

/// Sets `key` from `value` when it passes; records warnings either way.
fn apply(out: &mut Effective, key: Key, value: &Value, source: Source) -> bool {
    match validate::check(key, value) {
        Ok(checked) => {
            for reason in checked.dropped {
                out.warnings.push(Warning {
                    key,
                    source,
                    message: format!("has an entry that was left out: {reason}"),
                });
            }
            set(&mut out.settings, key, checked.value);
            true
        }
        Err(e) => {
            let message = format!("{e}; it is ignored");
            out.warnings.push(Warning { key, source, message });
            false
        }
    }
}

fn set(s: &mut Settings, key: Key, value: Valid) {
    match (key, value) {
        (Key::ServerUrl, Valid::Text(v)) => s.server_url = v,
        (Key::AllowedSites, Valid::List(v)) => s.allowed_sites = v,
        (Key::ExcludedSites, Valid::List(v)) => s.excluded_sites = v,
        (Key::PrivateSelectors, Valid::List(v)) => s.private_selectors = v,
        (Key::SafeSelectors, Valid::List(v)) => s.safe_selectors = v,
        (Key::OperatorAllowlist, Valid::List(v)) => s.operator_allowlist = v,
        (Key::AppOrigins, Valid::List(v)) => s.app_origins = v,
        (Key::ContinuationEnabled, Valid::Bool(v)) => s.continuation_enabled = v,
        (Key::CobrowsingEnabled, Valid::Bool(v)) => s.cobrowsing_enabled = v,
        (Key::RecordingAllowed, Valid::Bool(v)) => s.recording_allowed = v,
        (Key::RequireE2ePairing, Valid::Bool(v)) => s.require_e2e_pairing = v,
        (Key::ControlScopes, Valid::Scopes(v)) => s.control_scopes = v,
        (Key::RetentionDays, Valid::Integer(v)) => s.retention_days = v,
        // `validate::check` returns the shape of the key's kind.
        _ => {}
    }
}

/// Why a person's change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeError {
    Locked(Key),
    Invalid(Key, validate::Invalid),
}

impl std::fmt::Display for ChangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChangeError::Locked(key) => write!(f, "\u{201c}{}\u{201d} is managed by your organization", key.label()),
            ChangeError::Invalid(key, e) => write!(f, "\u{201c}{}\u{201d} {e}", key.label()),
        }
    }
}

impl std::error::Error for ChangeError {}

/// Checks a person's change before it is stored: locked settings never change.
pub fn check_change(current: &Effective, key: Key, value: &Value) -> Result<(), ChangeError> {
    if current.is_locked(key) {
        return Err(ChangeError::Locked(key));
    }
    if value.is_null() {
        return Ok(());
    }
    validate::check(key, value).map(|_| ()).map_err(|e| ChangeError::Invalid(key, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_shared::cobrowse::Scope;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn nothing_stored_is_the_defaults() {
        let e = merge(&Map::new(), &Map::new());
        assert_eq!(e, Effective::default());
        assert!(!e.is_managed());
    }

    #[test]
    fn policy_overrides_and_locks() {
        let managed = map(json!({"cobrowsingEnabled": false, "retentionDays": 7, "controlScopes": ["scroll"]}));
        let local = map(
            json!({"cobrowsingEnabled": true, "continuationEnabled": false, "excludedSites": ["a.example"], "other": 1}),
        );
        let e = merge(&managed, &local);
        assert!(!e.settings.cobrowsing_enabled);
        assert_eq!(e.settings.retention_days, 7);
        assert_eq!(e.settings.control_scopes, vec![Scope::Scroll]);
        assert!(!e.settings.continuation_enabled, "unmanaged: the person's value");
        assert_eq!(e.settings.excluded_sites, vec!["a.example".to_owned()]);
        assert_eq!(
            e.locked.iter().copied().collect::<Vec<_>>(),
            vec![Key::CobrowsingEnabled, Key::ControlScopes, Key::RetentionDays]
        );
        assert!(e.warnings.is_empty());
        assert_eq!(
            check_change(&e, Key::CobrowsingEnabled, &json!(true)),
            Err(ChangeError::Locked(Key::CobrowsingEnabled))
        );
        assert!(check_change(&e, Key::ContinuationEnabled, &json!(true)).is_ok());
        assert!(matches!(check_change(&e, Key::RetentionDays, &json!(30)), Err(ChangeError::Locked(_))));
        assert!(matches!(check_change(&e, Key::ServerUrl, &json!("ftp://x")), Err(ChangeError::Invalid(..))));
    }

    #[test]
    fn invalid_policy_values_are_ignored_with_a_warning() {
        let managed = map(json!({"retentionDays": -5, "serverUrl": "ftp://x", "cobrowsingEnabled": "no"}));
        let local = map(json!({"retentionDays": 10}));
        let e = merge(&managed, &local);
        assert_eq!(e.settings.retention_days, 10, "the person's value applies");
        assert_eq!(e.settings.server_url, None);
        assert!(e.settings.cobrowsing_enabled);
        assert!(e.locked.is_empty());
        assert_eq!(e.warnings.len(), 3);
        assert!(e.warnings.iter().all(|w| w.source == Source::Policy));
        let text = e.warnings[0].text();
        assert!(text.starts_with("Your organization's setting"), "{text}");
    }

    #[test]
    fn bad_list_entries_are_dropped_but_the_list_applies() {
        let managed = map(json!({"excludedSites": ["bank.example", 42]}));
        let e = merge(&managed, &Map::new());
        assert_eq!(e.settings.excluded_sites, vec!["bank.example".to_owned()]);
        assert!(e.is_locked(Key::ExcludedSites));
        assert_eq!(e.warnings.len(), 1);
    }

    #[test]
    fn safe_selectors_are_managed_like_private_ones() {
        let managed = map(json!({"safeSelectors": ["#order-note", "a{b}"], "privateSelectors": [".ssn"]}));
        let local = map(json!({"safeSelectors": ["input"]}));
        let e = merge(&managed, &local);
        assert_eq!(e.settings.safe_selectors, vec!["#order-note".to_owned()]);
        assert_eq!(e.settings.private_selectors, vec![".ssn".to_owned()]);
        assert!(e.is_locked(Key::SafeSelectors) && e.is_locked(Key::PrivateSelectors));
        assert_eq!(e.warnings.len(), 1, "{:?}", e.warnings);
        assert!(matches!(check_change(&e, Key::SafeSelectors, &json!([])), Err(ChangeError::Locked(_))));
        let mine = merge(&Map::new(), &local);
        assert_eq!(mine.settings.safe_selectors, vec!["input".to_owned()]);
        assert!(!mine.is_managed());
    }

    #[test]
    fn null_means_unset() {
        let e = merge(&map(json!({"cobrowsingEnabled": null})), &map(json!({"cobrowsingEnabled": false})));
        assert!(!e.settings.cobrowsing_enabled);
        assert!(e.locked.is_empty());
    }
}
