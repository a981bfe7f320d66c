//! The last line of defence before page state leaves the content script,
//! and the first check when it reaches the worker: whatever the page did,
//! nothing secret, nothing over the limits.

use baton_shared::limits::{MAX_ANCHOR_TEXT, MAX_FIELDS_PER_PAGE, MAX_FIELD_VALUE};
use baton_shared::session::{is_secret_autocomplete, FieldState, FieldValue, PageState};

use crate::content::classify::looks_secret;

/// Drops fields whose identity marks a secret and values over the limits;
/// caps the number of fields and the anchor text.
pub fn sanitize(page: &mut PageState) {
    page.fields.retain(keep_field);
    page.fields.truncate(MAX_FIELDS_PER_PAGE);
    if let Some(anchor) = page.scroll.as_mut().and_then(|s| s.anchor.as_mut()) {
        if let Some((cut, _)) = anchor.text.char_indices().nth(MAX_ANCHOR_TEXT) {
            anchor.text.truncate(cut);
        }
    }
}

fn keep_field(field: &FieldState) -> bool {
    let key = &field.key;
    if key.autocomplete.as_deref().is_some_and(is_secret_autocomplete)
        || looks_secret(key.id.as_deref(), key.name.as_deref(), key.autocomplete.as_deref())
    {
        return false;
    }
    // A value cut short would restore something the user never typed.
    match &field.value {
        FieldValue::Text(t) => t.chars().count() <= MAX_FIELD_VALUE,
        FieldValue::Selected(options) => options.iter().map(|o| o.len()).sum::<usize>() <= MAX_FIELD_VALUE,
        FieldValue::Checked(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_shared::session::{FieldKey, FieldKind, ScrollAnchor, ScrollState};

    fn field(name: &str, autocomplete: Option<&str>, value: FieldValue) -> FieldState {
        FieldState {
            key: FieldKey {
                kind: FieldKind::Text,
                id: None,
                name: Some(name.into()),
                autocomplete: autocomplete.map(Into::into),
                label: None,
                form_action: None,
                value_attr: None,
                path: "body/input[0]".into(),
            },
            value,
        }
    }

    #[test]
    fn drops_secrets_and_oversized_values() {
        let mut page = PageState {
            tab_id: 1,
            url: "https://a/".into(),
            fields: vec![
                field("first", None, FieldValue::Text("Ada".into())),
                field("x", Some("cc-number"), FieldValue::Text("4111".into())),
                field("user_password", None, FieldValue::Text("hunter2".into())),
                field("big", None, FieldValue::Text("x".repeat(MAX_FIELD_VALUE + 1))),
            ],
            scroll: Some(ScrollState {
                x: 0,
                y: 10,
                anchor: Some(ScrollAnchor { text: "é".repeat(MAX_ANCHOR_TEXT + 5), offset_px: 3 }),
            }),
            captured_ms: 0,
        };
        sanitize(&mut page);
        assert_eq!(page.fields.len(), 1);
        assert_eq!(page.fields[0].key.name.as_deref(), Some("first"));
        assert_eq!(page.scroll.unwrap().anchor.unwrap().text.chars().count(), MAX_ANCHOR_TEXT);
    }
}
