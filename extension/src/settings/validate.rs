//! Checking one stored value against what its setting accepts. A value of
//! the wrong shape is refused whole; a list keeps its good entries and
//! reports the others, so one typo does not drop a whole policy.

use baton_shared::cobrowse::Scope;
use serde_json::Value;

use super::keys::Key;
use super::values::RETENTION_DAYS;

/// Longest string entry accepted (a host pattern, selector or operator).
pub const MAX_ENTRY_LEN: usize = 500;
/// Most entries in one list.
pub const MAX_ENTRIES: usize = 1000;

/// A value that passed, in the shape `Settings` stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Valid {
    Bool(bool),
    /// `None` for an empty text (means "not set").
    Text(Option<String>),
    Integer(u32),
    List(Vec<String>),
    Scopes(Vec<Scope>),
}

/// The outcome: a usable value, with what was dropped from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub value: Valid,
    /// Entries left out of a list, each with the reason.
    pub dropped: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    NotBool,
    NotText,
    NotInteger,
    NotList,
    OutOfRange,
    BadUrl,
    TooMany,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Invalid::NotBool => f.write_str("must be true or false"),
            Invalid::NotText => f.write_str("must be a text"),
            Invalid::NotInteger => f.write_str("must be a whole number"),
            Invalid::NotList => f.write_str("must be a list of texts"),
            Invalid::OutOfRange => {
                write!(f, "must be between {} and {}", RETENTION_DAYS.start(), RETENTION_DAYS.end())
            }
            Invalid::BadUrl => f.write_str("must be an http:// or https:// address without spaces"),
            Invalid::TooMany => write!(f, "has more than {MAX_ENTRIES} entries"),
        }
    }
}

impl std::error::Error for Invalid {}

pub fn check(key: Key, value: &Value) -> Result<Checked, Invalid> {
    let plain = |value| Ok(Checked { value, dropped: Vec::new() });
    match key {
        Key::ContinuationEnabled | Key::CobrowsingEnabled | Key::RecordingAllowed | Key::RequireE2ePairing => {
            plain(Valid::Bool(value.as_bool().ok_or(Invalid::NotBool)?))
        }
        Key::ServerUrl => plain(Valid::Text(server_url(value)?)),
        Key::RetentionDays => {
            let n = value.as_i64().ok_or(Invalid::NotInteger)?;
            if !RETENTION_DAYS.contains(&n) {
                return Err(Invalid::OutOfRange);
            }
            plain(Valid::Integer(u32::try_from(n).map_err(|_| Invalid::OutOfRange)?))
        }
        Key::AllowedSites | Key::ExcludedSites => list(value, site_pattern).map(list_value),
        Key::PrivateSelectors | Key::SafeSelectors => list(value, selector).map(list_value),
        Key::OperatorAllowlist => list(value, operator).map(list_value),
        Key::AppOrigins => list(value, app_origin).map(list_value),
        Key::ControlScopes => {
            let (names, dropped) = list(value, |s| Ok(s.trim().to_ascii_lowercase()))?;
            let mut scopes = Vec::new();
            let mut dropped = dropped;
            for name in names {
                match serde_json::from_value::<Scope>(Value::String(name.clone())) {
                    Ok(scope) if !scopes.contains(&scope) => scopes.push(scope),
                    Ok(_) => {}
                    Err(_) => dropped.push(format!("{name:?} is not a scope (scroll, click, type, navigate)")),
                }
            }
            scopes.sort();
            Ok(Checked { value: Valid::Scopes(scopes), dropped })
        }
    }
}

fn list_value((items, dropped): (Vec<String>, Vec<String>)) -> Checked {
    Checked { value: Valid::List(items), dropped }
}

/// An array of strings; each entry normalised by `entry` or dropped with its reason.
fn list(value: &Value, entry: impl Fn(&str) -> Result<String, String>) -> Result<(Vec<String>, Vec<String>), Invalid> {
    let items = value.as_array().ok_or(Invalid::NotList)?;
    if items.len() > MAX_ENTRIES {
        return Err(Invalid::TooMany);
    }
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    for item in items {
        let Some(text) = item.as_str() else {
            dropped.push(format!("{item} is not a text"));
            continue;
        };
        if text.trim().is_empty() {
            continue;
        }
        if text.len() > MAX_ENTRY_LEN {
            dropped.push(format!("an entry longer than {MAX_ENTRY_LEN} characters"));
            continue;
        }
        match entry(text) {
            Ok(v) if !kept.contains(&v) => kept.push(v),
            Ok(_) => {}
            Err(reason) => dropped.push(reason),
        }
    }
    Ok((kept, dropped))
}

fn server_url(value: &Value) -> Result<Option<String>, Invalid> {
    let text = value.as_str().ok_or(Invalid::NotText)?.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let lower = text.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://")).ok_or(Invalid::BadUrl)?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || text.chars().any(char::is_whitespace) || text.len() > MAX_ENTRY_LEN {
        return Err(Invalid::BadUrl);
    }
    Ok(Some(text.trim_end_matches('/').to_owned()))
}

/// `bank.example`, `*.bank.example` or a URL; kept as written, lowercased.
fn site_pattern(text: &str) -> Result<String, String> {
    let t = text.trim().to_ascii_lowercase();
    let host = match t.split_once("://") {
        Some((_, rest)) => rest.split(['/', '?', '#']).next().unwrap_or_default(),
        None => t.split(['/', '?', '#']).next().unwrap_or_default(),
    };
    let host = host.trim_start_matches("*.");
    let ok = !host.is_empty() && host != "*" && host.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(c));
    if ok {
        Ok(t)
    } else {
        Err(format!("{text:?} is not a host name"))
    }
}

/// A CSS selector, checked for what would break the combined selector
/// (the entries are joined with `, `): an entry that ends inside an escape,
/// a string or a comment, or leaves a bracket open, would swallow the
/// entries after it without the browser finding anything to refuse. The
/// browser is the final judge of the rest (an unparseable selector masks
/// everything).
fn selector(text: &str) -> Result<String, String> {
    let t = text.trim();
    if t.ends_with(',') || t.starts_with(',') || !self_contained(t) {
        return Err(format!("{text:?} is not a CSS selector"));
    }
    Ok(t.to_owned())
}

/// Whether `t` closes everything it opens: escapes, strings and brackets;
/// no comments, and no `{`, `}` or `;` outside strings.
fn self_contained(t: &str) -> bool {
    let mut open = Vec::new();
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // An escape takes the next character, whatever it is (the
            // guard consumes it).
            '\\' if chars.next().is_none() => return false,
            '"' | '\'' => loop {
                match chars.next() {
                    None | Some('\n') => return false,
                    Some('\\') => {
                        if chars.next().is_none() {
                            return false;
                        }
                    }
                    Some(q) if q == c => break,
                    Some(_) => {}
                }
            },
            '/' if chars.peek() == Some(&'*') => return false,
            '*' if chars.peek() == Some(&'/') => return false,
            '{' | '}' | ';' => return false,
            '[' | '(' => open.push(if c == '[' { ']' } else { ')' }),
            // The guard pops what it closes.
            ']' | ')' if open.pop() != Some(c) => return false,
            _ => {}
        }
    }
    open.is_empty()
}

/// `https://apps.example` (or `http://` on this computer), normalised; a
/// path, query or credentials are refused rather than ignored.
fn app_origin(text: &str) -> Result<String, String> {
    use crate::web::{app_origin_ok, origin_of};
    let t = text.trim();
    let after_authority =
        t.split_once("://").map(|(_, rest)| &rest[rest.find(['/', '?', '#']).unwrap_or(rest.len())..]);
    match (origin_of(t).filter(|o| app_origin_ok(o)), after_authority) {
        (Some(origin), Some("" | "/")) => Ok(origin),
        _ => Err(format!("{text:?} is not an https:// origin (scheme, host and port only)")),
    }
}

fn operator(text: &str) -> Result<String, String> {
    let t = text.trim();
    if t.chars().any(char::is_control) {
        return Err(format!("{text:?} contains control characters"));
    }
    Ok(t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(key: Key, v: Value) -> Checked {
        check(key, &v).unwrap()
    }

    #[test]
    fn booleans_and_numbers() {
        assert_eq!(ok(Key::CobrowsingEnabled, json!(false)).value, Valid::Bool(false));
        assert_eq!(check(Key::CobrowsingEnabled, &json!("false")), Err(Invalid::NotBool));
        assert_eq!(ok(Key::RetentionDays, json!(90)).value, Valid::Integer(90));
        assert_eq!(check(Key::RetentionDays, &json!(0)), Err(Invalid::OutOfRange));
        assert_eq!(check(Key::RetentionDays, &json!(-5)), Err(Invalid::OutOfRange));
        assert_eq!(check(Key::RetentionDays, &json!(1.5)), Err(Invalid::NotInteger));
    }

    #[test]
    fn server_urls() {
        assert_eq!(
            ok(Key::ServerUrl, json!("https://baton.corp.example/")).value,
            Valid::Text(Some("https://baton.corp.example".into()))
        );
        assert_eq!(ok(Key::ServerUrl, json!(" ")).value, Valid::Text(None));
        for bad in ["ftp://x", "https://", "http://a b", "baton.example"] {
            assert_eq!(check(Key::ServerUrl, &json!(bad)), Err(Invalid::BadUrl), "{bad}");
        }
    }

    #[test]
    fn lists_keep_good_entries() {
        let c = ok(Key::ExcludedSites, json!(["Bank.example", 3, "*.corp.example", "not a host", "", "bank.example"]));
        assert_eq!(c.value, Valid::List(vec!["bank.example".into(), "*.corp.example".into()]));
        assert_eq!(c.dropped.len(), 2, "{:?}", c.dropped);
        assert_eq!(check(Key::ExcludedSites, &json!("bank.example")), Err(Invalid::NotList));
        let c = ok(Key::PrivateSelectors, json!([".ssn", "a{color:red}", "[data-x"]));
        assert_eq!(c.value, Valid::List(vec![".ssn".into()]));
        assert_eq!(c.dropped.len(), 2);
        // Entries that would swallow the ones joined after them.
        let c = ok(
            Key::PrivateSelectors,
            json!([".a\\", ".x /*", "[d=\"]", "[d='x]", ".y */", "(.z]", ":is(.b)", "[title=\"a;]\"]", ".ssn"]),
        );
        assert_eq!(c.value, Valid::List(vec![":is(.b)".into(), "[title=\"a;]\"]".into(), ".ssn".into()]));
        assert_eq!(c.dropped.len(), 6, "{:?}", c.dropped);
        let c = ok(Key::SafeSelectors, json!([" #order-note ", "x}", ".note, ", ".note"]));
        assert_eq!(c.value, Valid::List(vec!["#order-note".into(), ".note".into()]));
        assert_eq!(c.dropped.len(), 2);
    }

    #[test]
    fn app_origins_are_normalised_origins() {
        let c = ok(
            Key::AppOrigins,
            json!([
                "HTTPS://Apps.Example:443/",
                "https://apps.example",
                "http://127.0.0.1:8080",
                "http://apps.example",
                "https://apps.example/widget",
                "https://user@apps.example",
                "apps.example",
                "javascript:alert(1)"
            ]),
        );
        assert_eq!(c.value, Valid::List(vec!["https://apps.example".into(), "http://127.0.0.1:8080".into()]));
        assert_eq!(c.dropped.len(), 5, "{:?}", c.dropped);
    }

    #[test]
    fn scopes() {
        let c = ok(Key::ControlScopes, json!(["Click", "scroll", "teleport", "click"]));
        assert_eq!(c.value, Valid::Scopes(vec![Scope::Scroll, Scope::Click]));
        assert_eq!(c.dropped.len(), 1);
    }
}
