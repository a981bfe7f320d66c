//! Web addresses: which URLs count as http(s) pages, their origins, and
//! which origins may serve apps. One set of rules for the visitor's side,
//! the console and the settings.

/// `url` trimmed if it is an absolute `http(s)` URL with a host and nothing
/// a browser would reinterpret (controls, whitespace, backslashes).
pub fn web_url(url: &str) -> Option<String> {
    let url = url.trim();
    if url.len() > 8192 || url.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\') {
        return None;
    }
    let lower = url.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return None;
    }
    Some(url.to_owned())
}

/// `scheme://host[:port]` of an http(s) URL, lowercase.
pub fn origin_of(url: &str) -> Option<String> {
    let url = web_url(url)?.to_ascii_lowercase();
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.contains('@') {
        return None;
    }
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let authority = authority.strip_suffix(default_port).unwrap_or(authority);
    Some(format!("{scheme}://{authority}"))
}

/// Whether apps may come from `origin` (as [`origin_of`] gives it) at all:
/// over https, or over http from this computer (a local app server).
pub fn app_origin_ok(origin: &str) -> bool {
    if origin.starts_with("https://") {
        return true;
    }
    let Some(authority) = origin.strip_prefix("http://") else { return false };
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    matches!(host, "127.0.0.1" | "localhost" | "::1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_where_apps_may_come_from() {
        assert_eq!(origin_of("http://a.example:80/x").as_deref(), Some("http://a.example"));
        assert_eq!(origin_of("https://a.example:8443/x").as_deref(), Some("https://a.example:8443"));
        assert_eq!(origin_of("https://user@a.example/"), None);
        assert!(app_origin_ok("https://apps.example") && app_origin_ok("http://127.0.0.1:8080"));
        assert!(app_origin_ok("http://localhost:3000") && app_origin_ok("http://[::1]:3000"));
        assert!(!app_origin_ok("http://apps.example"));
        assert!(!app_origin_ok("http://127.0.0.1.evil.example") && !app_origin_ok("http://localhost.evil.example:80"));
    }
}
