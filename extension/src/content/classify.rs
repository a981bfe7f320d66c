//! Which form controls are captured, and as what. Fail-closed: anything not
//! positively recognised as a harmless field kind is never captured.

use baton_shared::session::{is_secret_autocomplete, FieldKind};

/// What the content script reads off an element before deciding.
#[derive(Debug, Clone, Default)]
pub struct ElementFacts<'a> {
    /// Lowercase tag name.
    pub tag: &'a str,
    /// The `type` attribute as written (inputs only).
    pub input_type: Option<&'a str>,
    pub multiple: bool,
    pub autocomplete: Option<&'a str>,
    pub id: Option<&'a str>,
    pub name: Option<&'a str>,
    pub disabled: bool,
    /// The `hidden` attribute, or `aria-hidden="true"`.
    pub hidden: bool,
    /// Inside `[data-baton-private]` or an element matching the settings'
    /// private selectors (or the check failed, or the settings are unknown).
    pub private: bool,
    /// An editing host: contenteditable whose parent is not editable.
    pub editing_host: bool,
}

/// The field kind to capture `facts` as, or `None` to leave it alone.
pub fn classify(facts: &ElementFacts) -> Option<FieldKind> {
    if facts.private || facts.disabled || facts.hidden {
        return None;
    }
    if facts.autocomplete.is_some_and(is_secret_autocomplete) || looks_secret(facts.id, facts.name, facts.autocomplete)
    {
        return None;
    }
    match facts.tag {
        "input" => input_kind(facts.input_type.unwrap_or("")),
        "textarea" => Some(FieldKind::Textarea),
        "select" if facts.multiple => Some(FieldKind::SelectMultiple),
        "select" => Some(FieldKind::Select),
        // Contenteditable inside a form control or on `<input>` is meaningless.
        _ if facts.editing_host => Some(FieldKind::Contenteditable),
        _ => None,
    }
}

/// Whether a control is a secret kind: a password field, or one whose
/// autocomplete or identifiers name a credential, card or one-time code.
pub fn is_secret(
    tag: &str,
    input_type: Option<&str>,
    autocomplete: Option<&str>,
    id: Option<&str>,
    name: Option<&str>,
) -> bool {
    (tag == "input" && input_type.is_some_and(|t| t.trim().eq_ignore_ascii_case("password")))
        || autocomplete.is_some_and(is_secret_autocomplete)
        || looks_secret(id, name, autocomplete)
}

/// Whether a page can show this control's text as shapes with CSS
/// (`-webkit-text-security`), as a PIN or card-number field does: a
/// textarea, or an input showing typed text (an unknown type shows as
/// text too). A password is secret anyway.
pub fn may_disguise(tag: &str, input_type: Option<&str>) -> bool {
    match tag {
        "textarea" => true,
        "input" => {
            let t = input_type.unwrap_or("").trim().to_ascii_lowercase();
            !matches!(
                t.as_str(),
                "password"
                    | "hidden"
                    | "checkbox"
                    | "radio"
                    | "file"
                    | "submit"
                    | "button"
                    | "reset"
                    | "image"
                    | "color"
                    | "range"
                    | "date"
                    | "datetime-local"
                    | "month"
                    | "week"
                    | "time"
            )
        }
        _ => false,
    }
}

/// Whether a computed `-webkit-text-security` (`None`: it could not be
/// read) shows the text as shapes: such a field is a password to its user.
/// An empty value is a browser without the property.
pub fn disguises(text_security: Option<&str>) -> bool {
    text_security.is_none_or(|v| {
        let v = v.trim();
        !v.is_empty() && !v.eq_ignore_ascii_case("none")
    })
}

/// Whether a computed `-webkit-user-modify` (`None`: it could not be read)
/// lets the user edit an element's content, as `contenteditable` does
/// (`read-write`, `read-write-plaintext-only`). An empty value is a browser
/// without the property.
pub fn user_editable(user_modify: Option<&str>) -> bool {
    user_modify.is_none_or(|v| v.trim().to_ascii_lowercase().starts_with("read-write"))
}

/// Input types by their `type` attribute. A missing or empty type is text;
/// an unknown one (which browsers also render as text) is not captured, and
/// neither are password, hidden, file, and button-like types.
fn input_kind(input_type: &str) -> Option<FieldKind> {
    Some(match input_type.trim().to_ascii_lowercase().as_str() {
        "" | "text" => FieldKind::Text,
        "email" => FieldKind::Email,
        "search" => FieldKind::Search,
        "url" => FieldKind::Url,
        "tel" => FieldKind::Tel,
        "number" => FieldKind::Number,
        "date" => FieldKind::Date,
        "datetime-local" => FieldKind::DatetimeLocal,
        "month" => FieldKind::Month,
        "week" => FieldKind::Week,
        "time" => FieldKind::Time,
        "checkbox" => FieldKind::Checkbox,
        "radio" => FieldKind::Radio,
        _ => return None,
    })
}

/// Words in an id, name or autocomplete that mark a credential or card
/// field on pages that forgot the proper `type`/`autocomplete`.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passwort",
    "passcode",
    "pwd",
    "cvv",
    "cvc",
    "csc",
    "cardnumber",
    "ccnumber",
    "ccnum",
    "cardnum",
    "securitycode",
    "onetimecode",
    "otp",
    "totp",
    "pin",
    "ssn",
    "iban",
];

/// Whether an identifier names a secret field. Separators are ignored
/// (`card-number`, `card_number` and `cardNumber` are alike); short words
/// (`pin`, `otp`, `pwd`, …) only count as whole words, so `spinner` is fine.
pub fn looks_secret(id: Option<&str>, name: Option<&str>, autocomplete: Option<&str>) -> bool {
    [id, name, autocomplete].into_iter().flatten().any(|ident| {
        let words = split_words(ident);
        let joined: String = words.concat();
        SECRET_WORDS.iter().any(|w| {
            if w.len() <= 4 {
                words.iter().any(|word| word.trim_end_matches(|c: char| c.is_ascii_digit()) == *w)
            } else {
                joined.contains(w)
            }
        })
    })
}

/// `userPassword_2` → `["user", "password", "2"]`.
fn split_words(ident: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in ident.chars() {
        if !c.is_alphanumeric() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        word.extend(c.to_lowercase());
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(t: &str) -> ElementFacts<'_> {
        ElementFacts { tag: "input", input_type: Some(t), ..Default::default() }
    }

    #[test]
    fn text_like_and_choice_inputs() {
        for (t, kind) in [
            ("", FieldKind::Text),
            ("TEXT", FieldKind::Text),
            ("email", FieldKind::Email),
            ("datetime-local", FieldKind::DatetimeLocal),
            ("checkbox", FieldKind::Checkbox),
            ("radio", FieldKind::Radio),
        ] {
            assert_eq!(classify(&input(t)), Some(kind), "{t}");
        }
        let untyped = ElementFacts { tag: "input", ..Default::default() };
        assert_eq!(classify(&untyped), Some(FieldKind::Text));
        let multi = ElementFacts { tag: "select", multiple: true, ..Default::default() };
        assert_eq!(classify(&multi), Some(FieldKind::SelectMultiple));
        let host = ElementFacts { tag: "div", editing_host: true, ..Default::default() };
        assert_eq!(classify(&host), Some(FieldKind::Contenteditable));
        assert_eq!(classify(&ElementFacts { tag: "div", ..Default::default() }), None);
    }

    #[test]
    fn never_captured() {
        for t in ["password", " Password ", "hidden", "file", "submit", "image", "color", "range", "bogus"] {
            assert_eq!(classify(&input(t)), None, "{t}");
        }
        for ac in ["cc-number", "billing cc-exp", "one-time-code", "new-password", "current-password"] {
            let f = ElementFacts { autocomplete: Some(ac), ..input("text") };
            assert_eq!(classify(&f), None, "{ac}");
            let s = ElementFacts { tag: "select", autocomplete: Some(ac), ..Default::default() };
            assert_eq!(classify(&s), None, "select {ac}");
        }
        assert!(is_secret("input", Some(" Password"), None, None, None));
        assert!(is_secret("select", None, Some("cc-exp-month"), None, None));
        assert!(is_secret("input", Some("text"), None, Some("otp"), None));
        assert!(!is_secret("input", Some("text"), Some("email"), Some("mail"), None));
        assert_eq!(classify(&ElementFacts { private: true, ..input("text") }), None);
        assert_eq!(classify(&ElementFacts { private: true, tag: "textarea", ..Default::default() }), None);
        assert_eq!(classify(&ElementFacts { disabled: true, ..input("text") }), None);
        assert_eq!(classify(&ElementFacts { hidden: true, ..input("text") }), None);
    }

    #[test]
    fn text_shown_as_shapes_is_secret() {
        for (tag, t) in [
            ("input", None),
            ("input", Some(" TEL")),
            ("input", Some("number")),
            ("input", Some("bogus")),
            ("textarea", None),
        ] {
            assert!(may_disguise(tag, t), "{tag} {t:?}");
        }
        for (tag, t) in [
            ("input", Some("checkbox")),
            ("input", Some("password")),
            ("input", Some("date")),
            ("select", None),
            ("div", None),
        ] {
            assert!(!may_disguise(tag, t), "{tag} {t:?}");
        }
        for v in [Some("disc"), Some(" Circle"), Some("square"), None] {
            assert!(disguises(v), "{v:?}");
        }
        assert!(!disguises(Some("none")) && !disguises(Some("")));
    }

    #[test]
    fn styles_that_make_content_editable() {
        assert!(
            user_editable(Some("read-write"))
                && user_editable(Some(" READ-WRITE-PLAINTEXT-ONLY"))
                && user_editable(None)
        );
        assert!(!user_editable(Some("read-only")) && !user_editable(Some("")));
    }

    #[test]
    fn secret_looking_names() {
        for ident in
            ["password", "userPassword", "card-number", "card_number", "cardNumber", "cvv2", "otp", "user_pin", "PIN"]
        {
            assert!(looks_secret(None, Some(ident), None), "{ident}");
        }
        for ident in ["first_name", "email", "spinner", "options", "shipping", "topic", "comment"] {
            assert!(!looks_secret(Some(ident), Some(ident), None), "{ident}");
        }
    }
}
