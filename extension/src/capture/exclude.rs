//! Which pages may be captured at all.
//!
//! Only `http:` and `https:` pages are captured: browser pages (`chrome:`,
//! `about:`, `devtools:`), extension pages, `file:`, `data:`, `blob:` and
//! `javascript:` URLs are private to this machine or meaningless elsewhere.
//!
//! Excluded sites come from `chrome.storage.local["excludedSites"]`, a list
//! of host patterns. `bank.example` and `*.bank.example` both exclude the
//! domain and every subdomain (fail-closed: a wildcard never narrows what is
//! excluded). A pattern written as a URL (`https://bank.example/login`)
//! counts by its host. When the settings cannot be read at all, nothing is
//! captured; entries that are not host names are left out with a warning
//! (`crate::settings::validate`).
//!
//! The lists come from the merged settings (`crate::settings`): an
//! organisation's policy may set them (and lock them), and may also set
//! `allowedSites` — when that is not empty, only those sites are captured.

use serde_json::Value;

/// Storage key of the user's (and later the policy's) excluded sites.
pub const STORAGE_KEY: &str = "excludedSites";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exclusions {
    /// Domains excluded with their subdomains, lowercase, no trailing dot.
    Domains(Vec<String>),
    /// The list was unreadable: capture nothing.
    Everything,
    /// Only the `allowed` domains (with subdomains), minus the `excluded` ones.
    Only { allowed: Vec<String>, excluded: Vec<String> },
}

impl Exclusions {
    /// From the stored value: absent or `null` is an empty list; anything
    /// but an array of strings excludes everything.
    pub fn from_stored(value: &Value) -> Exclusions {
        let items = match value {
            Value::Null => return Exclusions::Domains(Vec::new()),
            Value::Array(items) => items,
            _ => return Exclusions::Everything,
        };
        let mut domains = Vec::with_capacity(items.len());
        for item in items {
            let Some(pattern) = item.as_str() else {
                return Exclusions::Everything;
            };
            if let Some(domain) = pattern_domain(pattern) {
                domains.push(domain);
            }
        }
        Exclusions::Domains(domains)
    }

    /// From the settings' site lists (patterns as `from_stored` reads them).
    pub fn from_sites(allowed: &[String], excluded: &[String]) -> Exclusions {
        let domains = |list: &[String]| list.iter().filter_map(|p| pattern_domain(p)).collect::<Vec<_>>();
        let excluded = domains(excluded);
        if allowed.is_empty() {
            return Exclusions::Domains(excluded);
        }
        match domains(allowed) {
            // An allow-list with no usable entry allows nothing (fail-closed).
            allowed if allowed.is_empty() => Exclusions::Everything,
            allowed => Exclusions::Only { allowed, excluded },
        }
    }

    pub fn excludes_host(&self, host: &str) -> bool {
        match self {
            Exclusions::Everything => true,
            Exclusions::Domains(domains) => covers(domains, host),
            Exclusions::Only { allowed, excluded } => !covers(allowed, host) || covers(excluded, host),
        }
    }

    /// Whether the page at `url` may be captured.
    pub fn allows(&self, url: &str) -> bool {
        is_web_url(url) && host_of(url).is_some_and(|host| !self.excludes_host(&host))
    }
}

/// Whether `host` is one of `domains` or a subdomain of one.
fn covers(domains: &[String], host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    domains.iter().any(|d| host == *d || host.strip_suffix(d.as_str()).is_some_and(|rest| rest.ends_with('.')))
}

/// `http:` or `https:` (case-insensitive).
pub fn is_web_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// The lowercase host of an absolute URL, without userinfo or port.
pub fn host_of(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#', '\\']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        format!("[{}]", v6.split(']').next()?)
    } else {
        host_port.split(':').next()?.to_owned()
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

/// `*.corp.example`, `corp.example`, `https://corp.example/x` → `corp.example`.
fn pattern_domain(pattern: &str) -> Option<String> {
    let pattern = pattern.trim();
    let host = if pattern.contains("://") { host_of(pattern)? } else { host_of(&format!("x://{pattern}"))? };
    let domain = host.trim_start_matches("*.").trim_start_matches('.').to_owned();
    (!domain.is_empty() && domain != "*").then_some(domain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list(v: Value) -> Exclusions {
        Exclusions::from_stored(&v)
    }

    #[test]
    fn only_web_pages_are_captured() {
        let none = list(Value::Null);
        assert!(none.allows("https://example.com/a"));
        assert!(none.allows("HTTP://127.0.0.1:8080/form"));
        for private in [
            "chrome://settings",
            "chrome-extension://abc/popup.html",
            "devtools://devtools/x",
            "about:blank",
            "file:///etc/passwd",
            "data:text/html,hi",
            "javascript:alert(1)",
            "blob:https://a/1",
            "",
        ] {
            assert!(!none.allows(private), "{private}");
        }
    }

    #[test]
    fn patterns_exclude_domain_and_subdomains() {
        let ex = list(json!(["bank.example", "*.corp.example", "https://Mail.Example.org/inbox", "  "]));
        for excluded in [
            "https://bank.example/",
            "https://www.bank.example/login",
            "https://user:pw@bank.example:8443/x",
            "https://corp.example/",
            "https://a.b.corp.example/",
            "https://mail.example.org./",
        ] {
            assert!(!ex.allows(excluded), "{excluded}");
        }
        for fine in ["https://notbank.example/", "https://bank.example.com/", "https://example.org/"] {
            assert!(ex.allows(fine), "{fine}");
        }
    }

    #[test]
    fn unreadable_lists_exclude_everything() {
        assert_eq!(list(json!("bank.example")), Exclusions::Everything);
        assert_eq!(list(json!([1])), Exclusions::Everything);
        assert!(!list(json!({})).allows("https://example.com/"));
    }

    #[test]
    fn allow_lists_capture_only_their_sites() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let ex = Exclusions::from_sites(&s(&["corp.example", "*.intranet.example"]), &s(&["hr.corp.example"]));
        assert!(ex.allows("https://corp.example/"));
        assert!(ex.allows("https://wiki.intranet.example/page"));
        assert!(!ex.allows("https://hr.corp.example/payroll"));
        assert!(!ex.allows("https://example.com/"));
        assert_eq!(Exclusions::from_sites(&[], &s(&["a.example"])), Exclusions::Domains(s(&["a.example"])));
        assert_eq!(Exclusions::from_sites(&s(&["*"]), &[]), Exclusions::Everything);
    }

    #[test]
    fn hosts() {
        assert_eq!(host_of("https://[::1]:8080/x").as_deref(), Some("[::1]"));
        assert_eq!(host_of("http://127.0.0.1:9/").as_deref(), Some("127.0.0.1"));
        assert_eq!(host_of("https://a.example?q").as_deref(), Some("a.example"));
        assert_eq!(host_of("nonsense"), None);
    }
}
