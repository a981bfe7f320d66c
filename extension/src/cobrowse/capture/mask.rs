//! Masking decisions, given facts read off an element. Fail-closed: a
//! field is masked unless a safe selector names it, and a secret field
//! (password, hidden, `cc-*`, one-time code, a name that looks like one,
//! or a text field whose style shows it as shapes) never yields any value,
//! not even its length. An editable region (`contenteditable`, a document
//! in design mode, `-webkit-user-modify: read-write`) is input too.

use baton_shared::cobrowse::MASK_CHAR;
use baton_shared::session::is_secret_autocomplete;

use crate::content::classify::{looks_secret, may_disguise};

/// Marks the element holding Baton's own UI; it and everything inside are
/// never captured.
pub const UI_ATTR: &str = "data-baton-ui";
/// Marks a block whose text, values, attributes and images are hidden.
pub const PRIVATE_ATTR: &str = "data-baton-private";
/// Marks a form field, or a block of them, whose value the site lets the
/// operator see (and type into, when granted). Never a password, card or
/// one-time-code field: those stay secret whatever marks them.
pub const SAFE_ATTR: &str = "data-baton-safe";

/// The fields a site marked safe ([`SAFE_ATTR`] on them or around them).
pub fn site_safe_selector() -> String {
    format!("[{SAFE_ATTR}], [{SAFE_ATTR}] input, [{SAFE_ATTR}] textarea, [{SAFE_ATTR}] select")
}

/// The selector of private blocks: [`PRIVATE_ATTR`] and the policy's
/// private selectors (joined, see [`join_selectors`]).
pub fn private_selector(policy: Option<&str>) -> String {
    match policy {
        Some(p) => format!("[{PRIVATE_ATTR}], {p}"),
        None => format!("[{PRIVATE_ATTR}]"),
    }
}

/// How a form control's value is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldClass {
    /// Never sent in any form: no value, no length, no checked state.
    Secret,
    /// Sent as [`MASK_CHAR`]s of the same length; checked state withheld.
    Masked,
    /// A safe selector names it: sent as is.
    Safe,
}

/// What is read off a form control before deciding.
#[derive(Debug, Clone, Default)]
pub struct FieldFacts<'a> {
    /// Lowercase local name.
    pub tag: &'a str,
    pub input_type: Option<&'a str>,
    pub autocomplete: Option<&'a str>,
    pub id: Option<&'a str>,
    pub name: Option<&'a str>,
    /// Marked safe by the site ([`SAFE_ATTR`]) or a policy's safe selector
    /// (or the check failed: `false`).
    pub safe: bool,
}

/// `None` for elements that hold no user-entered value (including buttons,
/// whose `value` is the page's own label).
pub fn field_class(f: &FieldFacts) -> Option<FieldClass> {
    let input_type = f.input_type.map(|t| t.trim().to_ascii_lowercase()).unwrap_or_default();
    match f.tag {
        "input" | "textarea" | "select" => {}
        _ => return None,
    }
    if f.tag == "input" && matches!(input_type.as_str(), "password" | "hidden") {
        return Some(FieldClass::Secret);
    }
    if f.autocomplete.is_some_and(is_secret_autocomplete) || looks_secret(f.id, f.name, f.autocomplete) {
        return Some(FieldClass::Secret);
    }
    if f.tag == "input" && matches!(input_type.as_str(), "submit" | "button" | "reset" | "image") {
        return None;
    }
    Some(if f.safe { FieldClass::Safe } else { FieldClass::Masked })
}

/// [`field_class`] of an element with this local name and these attributes
/// (`type`, `autocomplete`, `id` and `name` are looked up, any case).
pub fn class_of(tag: &str, attrs: &[(String, String)], safe: bool) -> Option<FieldClass> {
    if !matches!(tag, "input" | "textarea" | "select") {
        return None;
    }
    let get = |n: &str| attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.as_str());
    field_class(&FieldFacts {
        tag,
        input_type: get("type"),
        autocomplete: get("autocomplete"),
        id: get("id"),
        name: get("name"),
        safe,
    })
}

/// Whether a field's computed `-webkit-text-security` must be read before
/// its value goes out: it would send one (masked or safe), and CSS can show
/// its text as shapes, which makes it secret
/// ([`crate::content::classify::disguises`]). Read only then: it costs a
/// style lookup per field.
pub fn reads_style(class: FieldClass, tag: &str, input_type: Option<&str>) -> bool {
    class != FieldClass::Secret && may_disguise(tag, input_type)
}

/// Whether a field's state is the text in its `value` (a textarea, an
/// input other than a checkbox or radio button).
pub fn holds_text(tag: &str, input_type: Option<&str>) -> bool {
    tag == "textarea" || tag == "input" && !is_checkable(input_type)
}

/// Whether the input type carries its state in `checked` rather than `value`.
pub fn is_checkable(input_type: Option<&str>) -> bool {
    input_type.is_some_and(|t| {
        let t = t.trim();
        t.eq_ignore_ascii_case("checkbox") || t.eq_ignore_ascii_case("radio")
    })
}

/// Same-length run of [`MASK_CHAR`].
pub fn mask(value: &str) -> String {
    std::iter::repeat_n(MASK_CHAR, value.chars().count()).collect()
}

/// A field's value as sent, or `None` when nothing may be sent.
pub fn field_value(class: FieldClass, value: &str) -> Option<String> {
    match class {
        FieldClass::Secret => None,
        FieldClass::Masked => Some(mask(value)),
        FieldClass::Safe => Some(value.to_owned()),
    }
}

/// Attributes a private placeholder keeps: the ones layout depends on.
const LAYOUT_ATTRS: &[&str] =
    &["id", "class", "style", "hidden", "dir", "width", "height", "colspan", "rowspan", "role", PRIVATE_ATTR];

/// Attributes whose value the page's user may have typed or that state a
/// field's value; handled from the live properties instead.
const STATE_ATTRS: &[&str] = &["value", "checked", "selected"];

/// An attribute as sent. `field` is the element's class if it is a form
/// control; `placeholder` is set for a private element (kept only for
/// layout). Event handlers are dropped: the mirror never runs page code.
pub fn attr_out(name: &str, value: String, field: Option<FieldClass>, placeholder: bool) -> Option<String> {
    let is = |n: &str| name.eq_ignore_ascii_case(n);
    if placeholder {
        if is("style") {
            return Some(layout_style(&value));
        }
        return LAYOUT_ATTRS.iter().any(|a| is(a)).then_some(value);
    }
    if name.as_bytes().get(..2).is_some_and(|p| p.eq_ignore_ascii_case(b"on")) {
        return None;
    }
    if let Some(class) = field {
        if STATE_ATTRS.iter().any(|a| is(a)) {
            // The glue writes the live value instead; a secret field never
            // shows one, a masked one never shows the default's text either.
            return match class {
                FieldClass::Secret => None,
                FieldClass::Masked if is("value") => Some(mask(&value)),
                FieldClass::Masked => None,
                FieldClass::Safe => Some(value),
            };
        }
    }
    Some(value)
}

/// Functions in a declaration that load or name an image, or bring a
/// value in from elsewhere.
const STYLE_FETCHES: &[&str] = &["url(", "image-set(", "image(", "cross-fade(", "element(", "src("];

/// A private element's inline style as sent: the declarations layout needs,
/// without any that load an image (`url(…)`, `image-set(…)`, …), custom
/// properties (`--*`, which may hold one for a descendant's rule) or CSS
/// escapes (which could spell a function otherwise caught).
pub fn layout_style(style: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for decl in split_declarations(style) {
        let d = decl.trim();
        let lower = d.to_ascii_lowercase();
        if d.is_empty() || d.starts_with("--") || d.contains('\\') || STYLE_FETCHES.iter().any(|f| lower.contains(f)) {
            continue;
        }
        kept.push(d);
    }
    kept.join("; ")
}

/// `;`-separated declarations, not split inside parentheses or quotes
/// (`url(data:image/png;base64,…)` holds a `;`).
fn split_declarations(style: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quote, mut start) = (0usize, None::<char>, 0usize);
    let mut chars = style.char_indices();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth = depth.saturating_sub(1),
            (None, ';') if depth == 0 => {
                out.push(&style[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&style[start..]);
    out
}

/// Whether an attribute carries a whole document's markup the recorder
/// would send unmasked: `srcdoc`, and a `data:` URL loaded as a frame or
/// object. (A same-origin frame's document is captured node by node.)
pub fn embeds_markup(tag: &str, name: &str, value: &str) -> bool {
    if name.eq_ignore_ascii_case("srcdoc") {
        return true;
    }
    let loads = match tag {
        "iframe" | "frame" | "embed" => name.eq_ignore_ascii_case("src"),
        "object" => name.eq_ignore_ascii_case("data"),
        _ => false,
    };
    // URL parsing skips leading spaces and controls, and tabs and newlines anywhere.
    loads && {
        let scheme: String = value.chars().filter(|c| !c.is_ascii_whitespace() && !c.is_control()).take(5).collect();
        scheme.eq_ignore_ascii_case("data:")
    }
}

/// Whether an attribute change may change how an element is masked, so the
/// element must be captured again rather than patched.
pub fn reclassifies(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "type" | "autocomplete" | "id" | "name" | "contenteditable" | PRIVATE_ATTR | UI_ATTR
    )
}

/// `contenteditable` values that make an editing host.
pub fn is_editable(value: &str) -> bool {
    !value.trim().eq_ignore_ascii_case("false")
}

/// Whether CSS (a stylesheet's text, a `style` attribute) may make
/// elements editable: it names `-webkit-user-modify`. Only then is each
/// element's computed style asked.
pub fn names_user_modify(css: &str) -> bool {
    const NAME: &[u8] = b"user-modify";
    css.as_bytes().windows(NAME.len()).any(|w| w.eq_ignore_ascii_case(NAME))
}

/// Whether an element's own `style` attribute names `-webkit-user-modify`.
pub fn style_names_user_modify(attrs: &[(String, String)]) -> bool {
    attrs.iter().any(|(k, v)| k.eq_ignore_ascii_case("style") && names_user_modify(v))
}

/// Tags whose children are never sent as text: scripts never run in the
/// mirror; a textarea's value travels in its `value` attribute; a style's
/// CSS travels as an asset.
pub fn skips_children(tag: &str) -> bool {
    matches!(tag, "script" | "noscript" | "textarea" | "template")
}

/// One selector list out of several (empty → `None`).
pub fn join_selectors(selectors: &[String]) -> Option<String> {
    let parts: Vec<&str> = selectors.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// CSS for the visitor-side outline on what the operator does not see.
pub fn outline_css(private_selectors: Option<&str>, safe_selectors: Option<&str>) -> String {
    let rule = |sel: &str| {
        format!(":is({sel}):not([{UI_ATTR}]) {{ outline: 2px dashed rgba(200, 60, 30, 0.85) !important; outline-offset: 1px !important; }}\n")
    };
    // One rule per source, so that a policy's invalid selector drops only
    // its own rule, never the built-in outlines.
    // `:read-write` also finds a document in design mode (its root: the
    // whole page is input); regions editable by `-webkit-user-modify` alone
    // match nothing a selector can name.
    let mut css = rule(&format!(
        "[{PRIVATE_ATTR}], input, textarea, select, [contenteditable]:not([contenteditable=false]), \
         :read-write:not(:read-write *)"
    ));
    if let Some(safe) = safe_selectors {
        // Fields shown to the operator lose the outline; secret kinds keep it.
        css.push_str(&format!(
            ":is({safe}):is(input:not([type=password], [type=hidden], [autocomplete^=cc-], [autocomplete=one-time-code]), \
             textarea, select) {{ outline: none !important; }}\n"
        ));
    }
    if let Some(private) = private_selectors {
        css.push_str(&rule(private));
    }
    css
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(t: &'a str) -> FieldFacts<'a> {
        FieldFacts { tag: "input", input_type: Some(t), ..Default::default() }
    }

    #[test]
    fn secrets_stay_secret_even_when_marked_safe() {
        for t in ["password", " PASSWORD ", "hidden"] {
            let f = FieldFacts { safe: true, ..input(t) };
            assert_eq!(field_class(&f), Some(FieldClass::Secret), "{t}");
        }
        for ac in ["cc-number", "section-x cc-csc", "one-time-code", "new-password", "current-password"] {
            let f = FieldFacts { autocomplete: Some(ac), safe: true, ..input("text") };
            assert_eq!(field_class(&f), Some(FieldClass::Secret), "{ac}");
        }
        let named = FieldFacts { name: Some("cardNumber"), safe: true, ..input("text") };
        assert_eq!(field_class(&named), Some(FieldClass::Secret));
        let textarea = FieldFacts { tag: "textarea", id: Some("otp"), ..Default::default() };
        assert_eq!(field_class(&textarea), Some(FieldClass::Secret));
    }

    #[test]
    fn fields_are_masked_unless_safe() {
        for t in ["", "text", "email", "bogus", "checkbox", "search"] {
            assert_eq!(field_class(&input(t)), Some(FieldClass::Masked), "{t}");
        }
        assert_eq!(field_class(&FieldFacts { input_type: None, ..input("") }), Some(FieldClass::Masked));
        for tag in ["textarea", "select"] {
            assert_eq!(field_class(&FieldFacts { tag, ..Default::default() }), Some(FieldClass::Masked));
            assert_eq!(field_class(&FieldFacts { tag, safe: true, ..Default::default() }), Some(FieldClass::Safe));
        }
        assert_eq!(field_class(&FieldFacts { safe: true, ..input("email") }), Some(FieldClass::Safe));
        assert_eq!(field_class(&input("submit")), None);
        assert_eq!(field_class(&FieldFacts { tag: "div", ..Default::default() }), None);
        // From attributes, any case.
        let attrs = |v: &[(&str, &str)]| v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        assert_eq!(class_of("input", &attrs(&[("TYPE", "password")]), true), Some(FieldClass::Secret));
        assert_eq!(class_of("input", &attrs(&[("autocomplete", "cc-number")]), false), Some(FieldClass::Secret));
        assert_eq!(class_of("input", &attrs(&[("type", "email")]), true), Some(FieldClass::Safe));
        assert_eq!(class_of("p", &attrs(&[("type", "email")]), false), None);
        assert!(holds_text("textarea", None) && holds_text("input", None) && holds_text("input", Some("email")));
        assert!(!holds_text("input", Some(" Checkbox")) && !holds_text("select", None));
    }

    #[test]
    fn the_style_is_read_only_for_text_that_would_go_out() {
        assert!(
            reads_style(FieldClass::Masked, "input", Some("tel")) && reads_style(FieldClass::Safe, "textarea", None)
        );
        assert!(!reads_style(FieldClass::Secret, "input", Some("text")));
        assert!(
            !reads_style(FieldClass::Safe, "input", Some("checkbox")) && !reads_style(FieldClass::Safe, "select", None)
        );
    }

    #[test]
    fn values_by_class() {
        assert_eq!(field_value(FieldClass::Secret, "hunter2"), None);
        assert_eq!(field_value(FieldClass::Masked, "héllo"), Some("*****".into()));
        assert_eq!(field_value(FieldClass::Safe, "ok"), Some("ok".into()));
        assert_eq!(mask(""), "");
    }

    #[test]
    fn attributes_follow_the_rules() {
        // Secret: no value, no checked, not even a masked length.
        assert_eq!(attr_out("value", "hunter2".into(), Some(FieldClass::Secret), false), None);
        assert_eq!(attr_out("checked", "".into(), Some(FieldClass::Secret), false), None);
        assert_eq!(attr_out("value", "abc".into(), Some(FieldClass::Masked), false), Some("***".into()));
        assert_eq!(attr_out("checked", "".into(), Some(FieldClass::Masked), false), None);
        assert_eq!(attr_out("VALUE", "abc".into(), Some(FieldClass::Safe), false), Some("abc".into()));
        // Page-authored labels of ordinary elements stay.
        assert_eq!(attr_out("title", "Help".into(), None, false), Some("Help".into()));
        assert_eq!(
            attr_out("placeholder", "Your name".into(), Some(FieldClass::Masked), false),
            Some("Your name".into())
        );
        assert_eq!(attr_out("value", "Send".into(), None, false), Some("Send".into()));
        // Handlers never travel.
        assert_eq!(attr_out("onclick", "steal()".into(), None, false), None);
        // A placeholder keeps layout only.
        for (name, kept) in [
            ("class", true),
            ("style", true),
            ("id", true),
            ("title", false),
            ("alt", false),
            ("aria-label", false),
            ("placeholder", false),
            ("value", false),
            ("src", false),
            ("href", false),
        ] {
            assert_eq!(attr_out(name, "v".into(), None, true).is_some(), kept, "{name}");
        }
    }

    #[test]
    fn a_placeholder_style_keeps_layout_without_images() {
        let style = "width: 120px; background-image: url(https://cdn/u/8812/license.jpg); \
                     --photo: url(data:image/png;base64,QUJD); height:30px; \
                     background: image-set(\"a.png\" 1x); content: 'a;b'; list-style: u\\72l(x)";
        assert_eq!(layout_style(style), "width: 120px; height:30px; content: 'a;b'");
        assert_eq!(attr_out("style", style.into(), None, true), Some(layout_style(style)));
        assert_eq!(layout_style("BACKGROUND: URL(x)"), "");
        // Not a placeholder: as written.
        assert_eq!(attr_out("style", "background: url(x)".into(), None, false), Some("background: url(x)".into()));
    }

    #[test]
    fn frame_markup_is_not_sent() {
        assert!(embeds_markup("iframe", "SRCDOC", "<p>x</p>"));
        assert!(embeds_markup("div", "srcdoc", ""));
        assert!(embeds_markup("iframe", "src", " \tDATA:text/html,<p>x</p>"));
        assert!(embeds_markup("iframe", "src", "da\nta:text/html,x"));
        assert!(embeds_markup("object", "data", "data:text/html,x"));
        assert!(embeds_markup("embed", "src", "data:image/svg+xml,x"));
        assert!(!embeds_markup("iframe", "src", "/child"));
        assert!(!embeds_markup("img", "src", "data:image/png;base64,QUJD"));
        assert!(!embeds_markup("object", "src", "data:x"));
        assert_eq!(private_selector(None), "[data-baton-private]");
        assert_eq!(private_selector(Some(".a, .b")), "[data-baton-private], .a, .b");
    }

    #[test]
    fn selectors_and_outline() {
        assert_eq!(join_selectors(&[]), None);
        assert_eq!(join_selectors(&[" ".into()]), None);
        assert_eq!(join_selectors(&[".a".into(), " #b ".into()]), Some(".a, #b".into()));
        let css = outline_css(Some(".a"), Some("#shown"));
        assert!(css.contains("[data-baton-private]") && css.contains(".a") && css.contains(":not([data-baton-ui])"));
        assert!(css.contains(":is(#shown)") && css.contains("outline: none"));
        assert_eq!(css.lines().count(), 3, "one rule per source: {css}");
        assert!(reclassifies("TYPE") && reclassifies("data-baton-private") && !reclassifies("class"));
        assert!(is_editable("") && is_editable("true") && is_editable("plaintext-only") && !is_editable("False"));
        assert!(
            names_user_modify(".e { -WEBKIT-USER-MODIFY: read-write }")
                && names_user_modify("-webkit-user-modify:read-write")
        );
        assert!(!names_user_modify("user-select: none; modify") && !names_user_modify(""));
        let attrs = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        assert!(style_names_user_modify(&attrs("STYLE", "-webkit-user-modify: read-write")));
        assert!(!style_names_user_modify(&attrs("class", "user-modify")));
        assert!(is_checkable(Some("Radio")) && !is_checkable(Some("text")) && !is_checkable(None));
    }
}
