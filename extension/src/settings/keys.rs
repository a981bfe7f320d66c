//! The settings an organisation can manage and a person can change: their
//! storage names (the same in `chrome.storage.managed`, the policy's
//! `3rdparty` section and `chrome.storage.local`), and their wording.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Key {
    #[serde(rename = "serverUrl")]
    ServerUrl,
    #[serde(rename = "allowedSites")]
    AllowedSites,
    #[serde(rename = "excludedSites")]
    ExcludedSites,
    #[serde(rename = "privateSelectors")]
    PrivateSelectors,
    #[serde(rename = "safeSelectors")]
    SafeSelectors,
    #[serde(rename = "continuationEnabled")]
    ContinuationEnabled,
    #[serde(rename = "cobrowsingEnabled")]
    CobrowsingEnabled,
    #[serde(rename = "controlScopes")]
    ControlScopes,
    #[serde(rename = "recordingAllowed")]
    RecordingAllowed,
    #[serde(rename = "retentionDays")]
    RetentionDays,
    #[serde(rename = "operatorAllowlist")]
    OperatorAllowlist,
    #[serde(rename = "requireE2ePairing")]
    RequireE2ePairing,
    #[serde(rename = "appOrigins")]
    AppOrigins,
}

/// What kind of control edits a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Text,
    Integer,
    /// A list of strings, one per line in the options page.
    List,
    /// A subset of the remote-control scopes.
    Scopes,
}

impl Key {
    pub const ALL: [Key; 13] = [
        Key::ServerUrl,
        Key::AllowedSites,
        Key::ExcludedSites,
        Key::PrivateSelectors,
        Key::SafeSelectors,
        Key::ContinuationEnabled,
        Key::CobrowsingEnabled,
        Key::ControlScopes,
        Key::RecordingAllowed,
        Key::RetentionDays,
        Key::OperatorAllowlist,
        Key::RequireE2ePairing,
        Key::AppOrigins,
    ];

    /// The storage and policy name.
    pub fn name(self) -> &'static str {
        match self {
            Key::ServerUrl => "serverUrl",
            Key::AllowedSites => "allowedSites",
            Key::ExcludedSites => "excludedSites",
            Key::PrivateSelectors => "privateSelectors",
            Key::SafeSelectors => "safeSelectors",
            Key::ContinuationEnabled => "continuationEnabled",
            Key::CobrowsingEnabled => "cobrowsingEnabled",
            Key::ControlScopes => "controlScopes",
            Key::RecordingAllowed => "recordingAllowed",
            Key::RetentionDays => "retentionDays",
            Key::OperatorAllowlist => "operatorAllowlist",
            Key::RequireE2ePairing => "requireE2ePairing",
            Key::AppOrigins => "appOrigins",
        }
    }

    pub fn from_name(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn kind(self) -> Kind {
        match self {
            Key::ServerUrl => Kind::Text,
            Key::AllowedSites
            | Key::ExcludedSites
            | Key::PrivateSelectors
            | Key::SafeSelectors
            | Key::OperatorAllowlist
            | Key::AppOrigins => Kind::List,
            Key::ContinuationEnabled | Key::CobrowsingEnabled | Key::RecordingAllowed | Key::RequireE2ePairing => {
                Kind::Bool
            }
            Key::ControlScopes => Kind::Scopes,
            Key::RetentionDays => Kind::Integer,
        }
    }

    /// The label in the options page.
    pub fn label(self) -> &'static str {
        match self {
            Key::ServerUrl => "Baton server",
            Key::AllowedSites => "Only capture these sites",
            Key::ExcludedSites => "Never capture these sites",
            Key::PrivateSelectors => "Also keep private (CSS selectors)",
            Key::SafeSelectors => "Fields shown to operators (CSS selectors)",
            Key::ContinuationEnabled => "Continue on my other devices",
            Key::CobrowsingEnabled => "Co-browsing with a support operator",
            Key::ControlScopes => "What an operator may be allowed to do",
            Key::RecordingAllowed => "Co-browsing sessions may be recorded",
            Key::RetentionDays => "Keep recordings and logs for (days)",
            Key::OperatorAllowlist => "Operators who may join",
            Key::RequireE2ePairing => "Require end-to-end pairing",
            Key::AppOrigins => "Sites an operator may open apps from",
        }
    }

    /// One sentence under the label.
    pub fn help(self) -> &'static str {
        match self {
            Key::ServerUrl => "http:// or https:// address of the server; empty uses the Baton app's configuration.",
            Key::AllowedSites => "One host per line; when the list is not empty, no other site is captured.",
            Key::ExcludedSites => "One host per line; a host covers its subdomains.",
            Key::PrivateSelectors => "One selector per line; matching elements are masked like data-baton-private.",
            Key::SafeSelectors => {
                "One selector per line; matching fields show their values to the operator like data-baton-safe. Passwords, card numbers and one-time codes are never shown."
            }
            Key::ContinuationEnabled => "Capture this browser's tabs so your other devices can continue them.",
            Key::CobrowsingEnabled => "Show \"Share this tab\" so an operator can see a masked mirror of it.",
            Key::ControlScopes => "Scopes you may grant: scroll, click, type, navigate.",
            Key::RecordingAllowed => "Whether a co-browsing session may be recorded on the server.",
            Key::RetentionDays => "From 1 to 3650 days.",
            Key::OperatorAllowlist => "One operator per line; when not empty, only these operators may join.",
            Key::RequireE2ePairing => "Co-browsing starts only after the operator's key is confirmed end to end.",
            Key::AppOrigins => {
                "One origin per line (https://apps.example.com); apps from these open in a sandboxed frame in the shared page, which cannot read the page."
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for key in Key::ALL {
            assert_eq!(Key::from_name(key.name()), Some(key));
            assert_eq!(serde_json::to_value(key).unwrap(), key.name());
        }
        assert_eq!(Key::from_name("nope"), None);
    }
}

#[cfg(test)]
mod schema_tests {
    use super::*;
    use serde_json::Value;

    /// `static/managed_schema.json` declares exactly these settings, with
    /// the JSON types the validation expects.
    #[test]
    fn managed_schema_matches_the_keys() {
        let schema: Value = serde_json::from_str(include_str!("../../static/managed_schema.json")).unwrap();
        assert_eq!(schema["type"], "object");
        let props = schema["properties"].as_object().unwrap();
        assert_eq!(props.len(), Key::ALL.len());
        for key in Key::ALL {
            let p = &props[key.name()];
            let want = match key.kind() {
                Kind::Bool => "boolean",
                Kind::Text => "string",
                Kind::Integer => "integer",
                Kind::List | Kind::Scopes => "array",
            };
            assert_eq!(p["type"], want, "{}", key.name());
            if want == "array" {
                assert_eq!(p["items"]["type"], "string", "{}", key.name());
            }
        }
    }
}
