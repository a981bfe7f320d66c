//! Between the options page's form controls and stored values: what a
//! control shows for a setting, and the value a person's input stands for.

use serde_json::{json, Value};

use crate::settings::keys::{Key, Kind};
use crate::settings::Settings;

/// The text a text, number or list control shows.
pub fn text_of(key: Key, s: &Settings) -> String {
    match key {
        Key::ServerUrl => s.server_url.clone().unwrap_or_default(),
        Key::AllowedSites => s.allowed_sites.join("\n"),
        Key::ExcludedSites => s.excluded_sites.join("\n"),
        Key::PrivateSelectors => s.private_selectors.join("\n"),
        Key::SafeSelectors => s.safe_selectors.join("\n"),
        Key::OperatorAllowlist => s.operator_allowlist.join("\n"),
        Key::AppOrigins => s.app_origins.join("\n"),
        Key::RetentionDays => s.retention_days.to_string(),
        _ => String::new(),
    }
}

/// Whether a checkbox control is ticked.
pub fn checked(key: Key, s: &Settings) -> bool {
    match key {
        Key::ContinuationEnabled => s.continuation_enabled,
        Key::CobrowsingEnabled => s.cobrowsing_enabled,
        Key::RecordingAllowed => s.recording_allowed,
        Key::RequireE2ePairing => s.require_e2e_pairing,
        _ => false,
    }
}

/// The value to store for what was typed into a text, number or list control.
/// A number that does not parse is passed on as text, so validation names it.
pub fn value_from_text(key: Key, text: &str) -> Value {
    match key.kind() {
        Kind::List => Value::Array(
            text.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| Value::String(l.to_owned())).collect(),
        ),
        Kind::Integer => match text.trim().parse::<i64>() {
            Ok(n) => json!(n),
            Err(_) => Value::String(text.to_owned()),
        },
        Kind::Text => Value::String(text.trim().to_owned()),
        Kind::Bool | Kind::Scopes => Value::String(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_one_entry_per_line() {
        assert_eq!(
            value_from_text(Key::ExcludedSites, " a.example \n\n b.example\n"),
            json!(["a.example", "b.example"])
        );
        let mut s = Settings { excluded_sites: vec!["a.example".into(), "b.example".into()], ..Default::default() };
        assert_eq!(text_of(Key::ExcludedSites, &s), "a.example\nb.example");
        assert_eq!(value_from_text(Key::SafeSelectors, "#note\n\n.memo "), json!(["#note", ".memo"]));
        s.safe_selectors = vec!["#note".into(), ".memo".into()];
        assert_eq!(text_of(Key::SafeSelectors, &s), "#note\n.memo");
    }

    #[test]
    fn numbers_and_text() {
        assert_eq!(value_from_text(Key::RetentionDays, " 14 "), json!(14));
        assert_eq!(value_from_text(Key::RetentionDays, "two"), json!("two"));
        assert_eq!(value_from_text(Key::ServerUrl, " https://x.example "), json!("https://x.example"));
        assert_eq!(text_of(Key::RetentionDays, &Settings::default()), "30");
        assert!(checked(Key::CobrowsingEnabled, &Settings::default()));
    }
}
