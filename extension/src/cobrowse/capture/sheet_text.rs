//! A stylesheet's text as the mirror needs it: whole and readable without
//! the page. The CSSOM serialises each rule as the page wrote it, so two
//! things the page's browser knows would be lost on the way:
//! - **Imported sheets.** An `@import` rule's text names the sheet, not its
//!   rules, and the console fetches nothing on the visitor's behalf (it
//!   could not reach an intranet page, and would fetch as the operator).
//!   Each readable import is put in the import's place, inside the
//!   `@layer`, `@supports` and `@media` blocks its conditions make. One that
//!   cannot be read (another origin, not loaded yet, too deep) keeps its
//!   `@import` rule: the console drops it, and the masking checks that look
//!   for imports still see it (fail-closed).
//! - **Where relative URLs point.** A sheet's `url()`s are relative to the
//!   sheet, not to the page: `../fonts/icons.woff2` in `/static/css/a.css`.
//!   The console resolves against the page, so a sheet loaded from a URL
//!   (linked or imported) has its URLs made absolute here.

/// `@import`s followed into, one inside another.
pub const MAX_IMPORT_DEPTH: u32 = 4;

/// `text` with every `url("…")` resolved by `resolve`, which returns `None`
/// to leave one as it is. The CSSOM writes every URL as `url("…")`, with
/// `"` and `\` escaped inside, so the form is fixed; a URL with an escape
/// in it is left as it is (the console resolves it against the page).
pub fn absolute_urls(text: &str, mut resolve: impl FnMut(&str) -> Option<String>) -> String {
    const OPEN: &str = "url(\"";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(OPEN) {
        let body_at = at + OPEN.len();
        out.push_str(&rest[..body_at]);
        rest = &rest[body_at..];
        let Some(end) = closing_quote(rest) else { break };
        let raw = &rest[..end];
        let resolved = if raw.contains('\\') || is_absolute(raw) { None } else { resolve(raw) };
        match resolved {
            // A resolved URL has `"`, `\` and newlines percent-encoded.
            Some(url) if !url.contains(['"', '\\', '\n']) => out.push_str(&url),
            _ => out.push_str(raw),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Where the string that `s` begins inside ends: its unescaped `"`.
fn closing_quote(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Whether a URL needs no base: a scheme (`data:`, `https:`), `//host`,
/// or a fragment (`#filter`, the mirror's own document).
fn is_absolute(url: &str) -> bool {
    if url.starts_with("//") || url.starts_with('#') {
        return true;
    }
    let scheme_end = url.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')));
    matches!(scheme_end, Some(n) if n > 0 && url.as_bytes()[n] == b':' && url.as_bytes()[0].is_ascii_alphabetic())
}

/// An imported sheet's text in the place of its `@import`, inside the
/// blocks the import's conditions make: `layer` (`Some("")` for an
/// anonymous layer), `supports` (the condition, without `supports()`) and
/// `media` (the query list; empty or `all` for none).
pub fn in_import_conditions(text: &str, layer: Option<&str>, supports: Option<&str>, media: &str) -> String {
    let mut open = String::new();
    let mut blocks = 0;
    if let Some(layer) = layer {
        let space = if layer.is_empty() { "" } else { " " };
        open.push_str(&format!("@layer{space}{layer} {{\n"));
        blocks += 1;
    }
    if let Some(supports) = supports.filter(|s| !s.trim().is_empty()) {
        open.push_str(&format!("@supports ({supports}) {{\n"));
        blocks += 1;
    }
    let media = media.trim();
    if !media.is_empty() && !media.eq_ignore_ascii_case("all") {
        open.push_str(&format!("@media {media} {{\n"));
        blocks += 1;
    }
    let mut out = open;
    out.push_str(text);
    for _ in 0..blocks {
        out.push_str("\n}");
    }
    out
}

#[cfg(target_arch = "wasm32")]
pub use read::sheet_text;

#[cfg(target_arch = "wasm32")]
mod read {
    use wasm_bindgen::{JsCast, JsValue};
    use web_sys::{CssStyleSheet, MediaList, Url};

    use super::super::get;
    use super::{absolute_urls, in_import_conditions, MAX_IMPORT_DEPTH};

    /// A sheet's text (imports inlined, URLs absolute) and its own rule
    /// count; `None`: it cannot be read (another origin).
    pub fn sheet_text(sheet: &CssStyleSheet) -> Option<(String, u32)> {
        text_at(sheet, 0)
    }

    fn text_at(sheet: &CssStyleSheet, depth: u32) -> Option<(String, u32)> {
        let rules = sheet.css_rules().ok()?;
        let n = rules.length();
        let mut text = String::new();
        for i in 0..n {
            let Some(rule) = rules.item(i) else { continue };
            if !text.is_empty() {
                text.push('\n');
            }
            let css = rule.css_text();
            // Imports come first in a sheet; a look at the text is cheaper
            // than asking each rule its type.
            match css.starts_with("@import").then(|| imported(rule.as_ref(), depth)).flatten() {
                Some(inlined) => text.push_str(&inlined),
                None => text.push_str(&css),
            }
        }
        // A sheet without a URL of its own (`<style>`, constructed) is
        // relative to the page, as the console reads it.
        if text.contains("url(\"") {
            if let Some(href) = sheet.href().ok().flatten() {
                text = absolute_urls(&text, |raw| Url::new_with_base(raw, &href).ok().map(|u| u.href()));
            }
        }
        Some((text, n))
    }

    /// An `@import` rule's sheet, inlined; `None` when it cannot be read.
    fn imported(rule: &JsValue, depth: u32) -> Option<String> {
        if depth >= MAX_IMPORT_DEPTH {
            return None;
        }
        let get = |key: &str| get(rule, key);
        let sheet: CssStyleSheet = get("styleSheet")?.unchecked_into();
        let (text, _) = text_at(&sheet, depth + 1)?;
        let media = get("media").map(|m| m.unchecked_into::<MediaList>().media_text()).unwrap_or_default();
        let layer = get("layerName").and_then(|v| v.as_string());
        let supports = get("supportsText").and_then(|v| v.as_string());
        Some(in_import_conditions(&text, layer.as_deref(), supports.as_deref(), &media))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn against_sheet(raw: &str) -> Option<String> {
        Some(format!("https://site.example/static/css/{raw}"))
    }

    #[test]
    fn a_sheets_relative_urls_are_made_absolute_and_the_rest_left_alone() {
        let css = r##"@font-face { src: url("../fonts/i.woff2") format("woff2"); }
a { background: url("img/a.png"), url("data:image/png;base64,AAAA"); cursor: url("https://cdn.example/c.cur"), auto; }
b { filter: url("#blur"); mask: url("//cdn.example/m.svg"); content: "url(\"x.png\")"; --v: url(raw.png); }
c { background: image-set(url("one.png") 1x, url("two.png") 2x); }
d { background: url("we\"ird.png"); }"##;
        let out = absolute_urls(css, against_sheet);
        assert!(out.contains(r#"url("https://site.example/static/css/../fonts/i.woff2")"#), "{out}");
        assert!(out.contains(r#"url("https://site.example/static/css/img/a.png")"#));
        assert!(out.contains(r#"url("data:image/png;base64,AAAA")"#));
        assert!(out.contains(r#"url("https://cdn.example/c.cur")"#));
        assert!(out.contains(r##"url("#blur")"##));
        assert!(out.contains(r#"url("//cdn.example/m.svg")"#));
        // Inside a string the CSSOM escapes the quote: not a URL.
        assert!(out.contains(r#"content: "url(\"x.png\")""#));
        // Custom properties keep the page's own text; left to the console.
        assert!(out.contains("--v: url(raw.png)"));
        assert!(out.contains(r#"image-set(url("https://site.example/static/css/one.png") 1x, url("https://site.example/static/css/two.png") 2x)"#));
        assert!(out.contains(r#"url("we\"ird.png")"#));
    }

    #[test]
    fn a_url_the_resolver_refuses_or_cannot_quote_stays_as_written() {
        let out =
            absolute_urls(r#"a { b: url("x.png") } c { d: url("y.png") } e { f: url("unterminated"#, |raw| match raw {
                "x.png" => None,
                _ => Some("https://evil.example/\"){}body{x:url(".to_owned()),
            });
        assert_eq!(out, r#"a { b: url("x.png") } c { d: url("y.png") } e { f: url("unterminated"#);
    }

    #[test]
    fn an_imported_sheet_keeps_its_imports_conditions() {
        assert_eq!(in_import_conditions("p { x: 1; }", None, None, ""), "p { x: 1; }");
        assert_eq!(in_import_conditions("p { x: 1; }", None, None, "all"), "p { x: 1; }");
        assert_eq!(
            in_import_conditions("p { x: 1; }", Some("base"), Some("display: grid"), "screen and (min-width: 600px)"),
            "@layer base {\n@supports (display: grid) {\n@media screen and (min-width: 600px) {\np { x: 1; }\n}\n}\n}"
        );
        assert_eq!(
            in_import_conditions("p { x: 1; }", Some(""), None, "print"),
            "@layer {\n@media print {\np { x: 1; }\n}\n}"
        );
    }
}
