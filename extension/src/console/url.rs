//! URLs in the mirror: resolved here against the visitor's page's base URL
//! (its address, or its `<base href>` as the visitor's browser read it; the
//! mirror itself has no `<base>`), then allowed or refused by what they are
//! used for.
//!
//! Allowed, by use:
//! - [`UrlUse::Image`] (`img src`, `srcset`, `poster`, `background`, SVG
//!   `image` and `feImage`, CSS `url()`): `http`, `https`, and `data:image/*` — including
//!   `data:image/svg+xml`, since an SVG loaded as an image never runs script.
//! - [`UrlUse::Resource`] (stylesheets, media, `<use>`): `http` and `https`.
//! - [`UrlUse::Link`] (`a href`): `http`, `https`, `mailto`, `tel` — kept only
//!   as `data-baton-href` for display; links in the mirror never navigate.
//! - URLs longer than [`MAX_MIRROR_URL`] are refused whatever they are.
//! - Everything else (`javascript:`, `vbscript:`, HTML `data:`, `blob:`,
//!   `file:`, `chrome-extension:`, …) is refused.

use std::cell::Cell;

use baton_shared::limits::{MAX_MIRROR_RESOLVED_BYTES, MAX_MIRROR_URL};

use super::css::Prefers;

/// The visitor's page as the mirror reads it: its URL, which the mirror's
/// relative URLs resolve against, the visitor's media preferences, which
/// its media queries are answered with ([`Prefers`]), and what resolving
/// may still cost in the frame being applied.
/// Each relative reference draws the base's length (at most what resolving
/// it adds, and the work it takes) from [`MAX_MIRROR_RESOLVED_BYTES`], so a
/// page cannot multiply a long address by the number of its references;
/// once the budget is spent only absolute URLs resolve.
#[derive(Debug)]
pub struct Base {
    url: String,
    prefers: Prefers,
    budget: Cell<usize>,
}

impl Base {
    pub fn new(url: impl Into<String>) -> Base {
        Base { url: url.into(), prefers: Prefers::default(), budget: Cell::new(MAX_MIRROR_RESOLVED_BYTES) }
    }

    /// This page as seen by a visitor with these preferences.
    pub fn with_prefers(self, prefers: Prefers) -> Base {
        Base { prefers, ..self }
    }

    pub fn prefers(&self) -> &Prefers {
        &self.prefers
    }

    /// No page: only absolute URLs resolve.
    pub fn none() -> Base {
        Base::new("about:blank")
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// A new frame: the whole budget again.
    pub fn renew(&self) {
        self.budget.set(MAX_MIRROR_RESOLVED_BYTES);
    }

    /// `reference` resolved against this base, as [`resolve`] does, within
    /// the budget.
    pub fn resolve(&self, reference: &str) -> Option<String> {
        if let Some(absolute) = resolve("about:blank", reference) {
            return Some(absolute);
        }
        self.budget.set(self.budget.get().checked_sub(self.url.len())?);
        resolve(&self.url, reference)
    }
}

/// What a URL is for; decides which schemes are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlUse {
    Image,
    Resource,
    Link,
    /// Fonts and images from CSS `url()`.
    Css,
}

/// Browsers drop ASCII tab and newline anywhere in a URL and trim leading
/// and trailing C0 controls and spaces; so do we, before looking at the
/// scheme (`java\tscript:` is `javascript:`).
pub fn clean(raw: &str) -> String {
    raw.trim_matches(|c: char| c <= ' ').chars().filter(|c| !matches!(c, '\t' | '\n' | '\r')).collect()
}

/// The scheme of an absolute URL, lowercase.
pub fn scheme(url: &str) -> Option<String> {
    let colon = url.find(':')?;
    let s = &url[..colon];
    let mut chars = s.chars();
    let first = chars.next()?;
    if !first.is_ascii_alphabetic() || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) {
        return None;
    }
    Some(s.to_ascii_lowercase())
}

/// Resolves `reference` against the absolute `base` (RFC 3986 §5, with the
/// WHATWG habit of reading `\` as `/` in http(s) URLs). `None` when the
/// base is not absolute hierarchical and the reference is relative, or
/// when either is longer than [`MAX_MIRROR_URL`].
pub fn resolve(base: &str, reference: &str) -> Option<String> {
    if reference.len() > MAX_MIRROR_URL || base.len() > MAX_MIRROR_URL {
        return None;
    }
    let reference = clean(reference);
    if let Some(s) = scheme(&reference) {
        if s == "http" || s == "https" {
            let rest = reference[s.len() + 1..].replace('\\', "/");
            // `http:foo` relative to an http base is legal but odd: `foo` is
            // a relative reference, whatever it looks like (`http:http:x`
            // is the path `http:x`, as in the browser; never read again).
            if !rest.starts_with("//") {
                return resolve_relative(base, &rest).filter(|r| r.starts_with(&format!("{s}:")));
            }
            return Some(format!("{s}:{rest}"));
        }
        return Some(reference);
    }
    resolve_relative(base, &reference)
}

/// Resolves a reference without a scheme (already [`clean`]) against `base`.
fn resolve_relative(base: &str, reference: &str) -> Option<String> {
    let base = clean(base);
    let base_scheme = scheme(&base)?;
    let special = base_scheme == "http" || base_scheme == "https";
    let reference = if special { reference.replace('\\', "/") } else { reference.to_owned() };
    let after_scheme = &base[base_scheme.len() + 1..];
    if !after_scheme.starts_with("//") {
        return None;
    }
    let authority_end = after_scheme[2..].find(['/', '?', '#']).map(|i| i + 2).unwrap_or(after_scheme.len());
    let origin = format!("{}:{}", base_scheme, &after_scheme[..authority_end]);
    let base_rest = &after_scheme[authority_end..];
    let base_no_frag = base_rest.split('#').next().unwrap_or("");
    let (base_path, base_query) = match base_no_frag.find('?') {
        Some(q) => (&base_no_frag[..q], &base_no_frag[q..]),
        None => (base_no_frag, ""),
    };
    let base_path = if base_path.is_empty() { "/" } else { base_path };

    if reference.starts_with("//") {
        return Some(format!("{base_scheme}:{reference}"));
    }
    if reference.is_empty() {
        return Some(format!("{origin}{base_path}{base_query}"));
    }
    if reference.starts_with('#') {
        return Some(format!("{origin}{base_path}{base_query}{reference}"));
    }
    if reference.starts_with('?') {
        return Some(format!("{origin}{base_path}{reference}"));
    }
    let (ref_path, tail) = match reference.find(['?', '#']) {
        Some(i) => (&reference[..i], &reference[i..]),
        None => (reference.as_str(), ""),
    };
    let merged = if ref_path.starts_with('/') {
        ref_path.to_owned()
    } else {
        let dir = &base_path[..base_path.rfind('/').map(|i| i + 1).unwrap_or(0)];
        format!("{dir}{ref_path}")
    };
    Some(format!("{origin}{}{tail}", remove_dot_segments(&merged)))
}

fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." | "%2e" | "%2E" => {
                if i == last {
                    out.push("");
                }
            }
            ".." | ".%2e" | "%2e." | "%2e%2e" | ".%2E" | "%2E." | "%2E%2E" => {
                if out.len() > 1 {
                    out.pop();
                }
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    if joined.starts_with('/') {
        joined
    } else {
        format!("/{joined}")
    }
}

/// A `data:` URL's MIME type (lowercase) and whether its data is base64;
/// `None` for any other URL.
pub fn data_url_type(url: &str) -> Option<(String, bool)> {
    let rest = url.get(..5).filter(|s| s.eq_ignore_ascii_case("data:")).map(|_| &url[5..])?;
    let mut meta = rest.split(',').next().unwrap_or("").split(';');
    let mime = meta.next().unwrap_or("").trim().to_ascii_lowercase();
    let base64 = meta.any(|p| p.trim().eq_ignore_ascii_case("base64"));
    Some((mime, base64))
}

/// Whether a `data:` URL's MIME type is an image type.
fn data_is_image(url: &str) -> bool {
    let Some((mime, _)) = data_url_type(url) else { return false };
    mime.starts_with("image/") && mime.len() > 6 && !mime.contains(char::is_whitespace)
}

fn data_is_font(url: &str) -> bool {
    let Some((mime, _)) = data_url_type(url) else { return false };
    mime.starts_with("font/") || mime.starts_with("application/font-") || mime == "application/x-font-woff"
}

/// Resolves and checks a URL for `use`; `None` means drop it.
pub fn safe_url(base: &Base, raw: &str, use_: UrlUse) -> Option<String> {
    let url = base.resolve(raw).filter(|u| u.len() <= MAX_MIRROR_URL)?;
    let s = scheme(&url)?;
    let ok = match s.as_str() {
        "http" | "https" => true,
        "data" => match use_ {
            UrlUse::Image => data_is_image(&url),
            UrlUse::Css => data_is_image(&url) || data_is_font(&url),
            UrlUse::Resource | UrlUse::Link => false,
        },
        "mailto" | "tel" => use_ == UrlUse::Link,
        _ => false,
    };
    ok.then_some(url)
}

/// A `srcset` with every candidate's URL checked; candidates that fail are
/// dropped. `None` when none is left.
pub fn safe_srcset(base: &Base, raw: &str) -> Option<String> {
    let mut out = Vec::new();
    for candidate in split_srcset(raw) {
        let candidate = candidate.trim();
        if candidate.is_empty() {
            continue;
        }
        let (url, descriptor) = match candidate.find(char::is_whitespace) {
            Some(i) => (&candidate[..i], candidate[i..].trim()),
            None => (candidate, ""),
        };
        if let Some(url) = safe_url(base, url, UrlUse::Image) {
            // Commas inside a URL are fine (the URL ends at whitespace); a trailing one is not.
            let url = if url.ends_with(',') { format!("{}%2C", url.trim_end_matches(',')) } else { url };
            out.push(if descriptor.is_empty() { url } else { format!("{url} {descriptor}") });
        }
    }
    (!out.is_empty()).then(|| out.join(", "))
}

/// Splits on commas that end a candidate (a comma right after the URL's
/// first character run is part of a data: URL only if no whitespace came).
fn split_srcset(raw: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_url = true;
    for c in raw.chars() {
        if in_url {
            if c.is_whitespace() {
                if !cur.trim().is_empty() {
                    in_url = false;
                }
                cur.push(c);
            } else {
                cur.push(c);
            }
        } else if c == ',' {
            out.push(std::mem::take(&mut cur));
            in_url = true;
        } else {
            cur.push(c);
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    // A URL ending in ',' without descriptors (`a.png, b.png`): split those too.
    out.into_iter()
        .flat_map(|c| {
            let t = c.trim().to_owned();
            if !t.contains(char::is_whitespace) && t.contains(", ") {
                t.split(", ").map(str::to_owned).collect::<Vec<_>>()
            } else if let Some(stripped) = t.strip_suffix(',') {
                vec![stripped.to_owned()]
            } else {
                vec![t]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://shop.example/a/b/page.html?x=1#top";

    #[test]
    fn resolves_like_a_browser() {
        assert_eq!(resolve(BASE, "img.png").unwrap(), "https://shop.example/a/b/img.png");
        assert_eq!(resolve(BASE, "../c.css").unwrap(), "https://shop.example/a/c.css");
        assert_eq!(resolve(BASE, "../../../../c.css").unwrap(), "https://shop.example/c.css");
        assert_eq!(resolve(BASE, "/root.png").unwrap(), "https://shop.example/root.png");
        assert_eq!(resolve(BASE, "//cdn.example/x.js").unwrap(), "https://cdn.example/x.js");
        assert_eq!(resolve(BASE, "?q=2").unwrap(), "https://shop.example/a/b/page.html?q=2");
        assert_eq!(resolve(BASE, "#frag").unwrap(), "https://shop.example/a/b/page.html?x=1#frag");
        assert_eq!(resolve(BASE, "./").unwrap(), "https://shop.example/a/b/");
        assert_eq!(resolve(BASE, "").unwrap(), "https://shop.example/a/b/page.html?x=1");
        assert_eq!(resolve("https://h.example", "x").unwrap(), "https://h.example/x");
        assert_eq!(resolve(BASE, "/\\evil.example/x").unwrap(), "https://evil.example/x");
        assert_eq!(resolve(BASE, "HTTP://Other.example/").unwrap(), "http://Other.example/");
        assert_eq!(resolve("about:blank", "x"), None);
    }

    #[test]
    fn scripts_urls_are_refused_however_spelled() {
        for bad in [
            "javascript:alert(1)",
            " JavaScript:alert(1)",
            "java\tscript:alert(1)",
            "java\nscript:alert(1)",
            "\u{1}javascript:alert(1)",
            "vbscript:msgbox",
            "data:text/html,<script>alert(1)</script>",
            "data:text/html;base64,PHNjcmlwdD4=",
            "blob:https://shop.example/uuid",
            "file:///etc/passwd",
            "chrome-extension://abc/popup.html",
        ] {
            for use_ in [UrlUse::Image, UrlUse::Resource, UrlUse::Link, UrlUse::Css] {
                assert_eq!(safe_url(&Base::new(BASE), bad, use_), None, "{bad:?} as {use_:?}");
            }
        }
    }

    #[test]
    fn allowed_by_use() {
        assert!(safe_url(&Base::new(BASE), "data:image/png;base64,AAAA", UrlUse::Image).is_some());
        assert!(safe_url(&Base::new(BASE), "data:image/svg+xml,<svg/>", UrlUse::Image).is_some());
        assert!(safe_url(&Base::new(BASE), "data:image/png;base64,AAAA", UrlUse::Resource).is_none());
        assert!(safe_url(&Base::new(BASE), "data:font/woff2;base64,AAAA", UrlUse::Css).is_some());
        assert!(safe_url(&Base::new(BASE), "data:font/woff2;base64,AAAA", UrlUse::Image).is_none());
        assert!(safe_url(&Base::new(BASE), "mailto:a@b", UrlUse::Link).is_some());
        assert!(safe_url(&Base::new(BASE), "mailto:a@b", UrlUse::Image).is_none());
        assert_eq!(safe_url(&Base::new(BASE), "p.png", UrlUse::Image).unwrap(), "https://shop.example/a/b/p.png");
    }

    #[test]
    fn repeated_scheme_prefixes_resolve_in_one_pass() {
        // Once read recursively, one level (and one copy) per prefix.
        let reference = format!("{}x.png", "http:".repeat(20_000));
        let expected = format!("http://h.example/a/{}", &reference[5..]);
        assert_eq!(resolve("http://h.example/a/b", &reference), Some(expected));
        assert_eq!(resolve(BASE, &reference), None, "an http: reference on an https page");
        assert_eq!(resolve("http://h.example/", "http:x.png").unwrap(), "http://h.example/x.png");
        assert_eq!(resolve("http://h.example/", "http:javascript:x").unwrap(), "http://h.example/javascript:x");
    }

    #[test]
    fn overlong_urls_are_refused() {
        let long = format!("data:image/png;base64,{}", "A".repeat(MAX_MIRROR_URL));
        assert_eq!(safe_url(&Base::new(BASE), &long, UrlUse::Image), None);
        assert_eq!(safe_url(&Base::new(BASE), &"a/".repeat(MAX_MIRROR_URL), UrlUse::Image), None);
        assert_eq!(
            safe_url(&Base::new(format!("https://h.example/{}", "a".repeat(MAX_MIRROR_URL))), "x.png", UrlUse::Image),
            None
        );
        assert!(safe_url(&Base::new(BASE), "data:image/png;base64,AAAA", UrlUse::Image).is_some());
    }

    #[test]
    fn srcset_keeps_only_safe_candidates() {
        assert_eq!(
            safe_srcset(&Base::new(BASE), "a.png 1x, javascript:x 2x, /b.png 3x").unwrap(),
            "https://shop.example/a/b/a.png 1x, https://shop.example/b.png 3x"
        );
        assert_eq!(safe_srcset(&Base::new(BASE), "javascript:alert(1)"), None);
        assert_eq!(
            safe_srcset(&Base::new(BASE), "data:image/png;base64,AA,AA 1x").unwrap(),
            "data:image/png;base64,AA,AA 1x"
        );
    }
}
