//! The effective settings, with the defaults that apply when neither the
//! organisation nor the person set a value.

use baton_shared::cobrowse::Scope;
use serde::Serialize;

/// Fewest and most days a retention period may be.
pub const RETENTION_DAYS: std::ops::RangeInclusive<i64> = 1..=3650;
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// `None`: the host's own configuration decides. Sent to the host
    /// (`configure`), where it wins over `BATON_SERVER_URL` and `config.json`.
    pub server_url: Option<String>,
    /// Empty: every site not excluded may be captured.
    pub allowed_sites: Vec<String>,
    pub excluded_sites: Vec<String>,
    pub private_selectors: Vec<String>,
    /// Co-browsing: fields whose values the operator sees (and may type
    /// into) like `data-baton-safe`; never password, `cc-*` or one-time-code
    /// fields.
    pub safe_selectors: Vec<String>,
    pub continuation_enabled: bool,
    pub cobrowsing_enabled: bool,
    pub control_scopes: Vec<Scope>,
    pub recording_allowed: bool,
    pub retention_days: u32,
    /// Empty: any operator of the organisation.
    pub operator_allowlist: Vec<String>,
    /// Co-browsing: the visitor's page captures nothing until a frame from
    /// the operator has been opened with the session key, proving the
    /// operator derived it with the code's secret half, which the server
    /// never sees. Continuation is end-to-end encrypted by construction
    /// (the account key moves only through pairing), so this adds nothing
    /// there.
    #[serde(rename = "requireE2ePairing")]
    pub require_e2e_pairing: bool,
    /// Co-browsing: origins pushed app modules may load from (normalised,
    /// `https://`, or `http://` on this computer). Empty: no modules; the
    /// built-in viewer and form still work.
    pub app_origins: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server_url: None,
            allowed_sites: Vec::new(),
            excluded_sites: Vec::new(),
            private_selectors: Vec::new(),
            safe_selectors: Vec::new(),
            continuation_enabled: true,
            cobrowsing_enabled: true,
            control_scopes: Scope::ALL.to_vec(),
            recording_allowed: false,
            retention_days: DEFAULT_RETENTION_DAYS,
            operator_allowlist: Vec::new(),
            require_e2e_pairing: false,
            app_origins: Vec::new(),
        }
    }
}

impl Settings {
    /// The selector that marks private elements: Baton's attribute plus the
    /// configured selectors, for `Element.closest`.
    pub fn private_selector(&self) -> String {
        std::iter::once("[data-baton-private]")
            .chain(self.private_selectors.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn scope_allowed(&self, scope: Scope) -> bool {
        self.control_scopes.contains(&scope)
    }

    /// Whether `operator` may join: always when the allowlist is empty.
    pub fn operator_allowed(&self, operator: &str) -> bool {
        self.operator_allowlist.is_empty()
            || self.operator_allowlist.iter().any(|o| o.eq_ignore_ascii_case(operator.trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_helpers() {
        let mut s = Settings::default();
        assert!(s.continuation_enabled && s.cobrowsing_enabled && !s.recording_allowed);
        assert_eq!(s.private_selector(), "[data-baton-private]");
        assert!(s.operator_allowed("anyone"));
        s.private_selectors = vec![".secret".into(), "#ssn".into()];
        assert_eq!(s.private_selector(), "[data-baton-private], .secret, #ssn");
        s.operator_allowlist = vec!["Ops@Corp.example".into()];
        assert!(s.operator_allowed(" ops@corp.example"));
        assert!(!s.operator_allowed("eve@corp.example"));
        s.control_scopes = vec![Scope::Scroll];
        assert!(s.scope_allowed(Scope::Scroll) && !s.scope_allowed(Scope::Type));
    }
}
