//! Finding a saved field again on a page whose markup may have changed.
//!
//! Each saved field is scored against every candidate of the same kind:
//! `id` > `name` (+ `value_attr` for radios and checkboxes) > `label` >
//! `autocomplete` > structural `path` > form `action`. A saved field that
//! had any identity besides its path must match on one of them; a bare
//! path match is only trusted for fields that never had one. Pairs are then
//! taken best first, each field and each candidate at most once.

use baton_shared::session::{FieldKey, FieldKind};

const ID: u32 = 1000;
const NAME: u32 = 400;
const LABEL: u32 = 200;
const AUTOCOMPLETE: u32 = 100;
const PATH: u32 = 20;
const FORM: u32 = 10;

fn same(a: &Option<String>, b: &Option<String>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a == b)
}

/// How well `candidate` matches `saved`; `None` when it must not be used.
pub fn score(saved: &FieldKey, candidate: &FieldKey) -> Option<u32> {
    if saved.kind != candidate.kind {
        return None;
    }
    if matches!(saved.kind, FieldKind::Radio | FieldKind::Checkbox) && saved.value_attr != candidate.value_attr {
        return None;
    }
    let mut identity = 0;
    if same(&saved.id, &candidate.id) {
        identity += ID;
    }
    if same(&saved.name, &candidate.name) {
        identity += NAME;
    }
    if same(&saved.label, &candidate.label) {
        identity += LABEL;
    }
    if same(&saved.autocomplete, &candidate.autocomplete) {
        identity += AUTOCOMPLETE;
    }
    let has_identity =
        saved.id.is_some() || saved.name.is_some() || saved.label.is_some() || saved.autocomplete.is_some();
    let path = if saved.path == candidate.path { PATH } else { 0 };
    if has_identity && identity == 0 || !has_identity && path == 0 {
        return None;
    }
    let form = if same(&saved.form_action, &candidate.form_action) { FORM } else { 0 };
    Some(identity + path + form)
}

/// `(saved index, candidate index)` pairs, best matches first.
pub fn assign(saved: &[FieldKey], candidates: &[FieldKey]) -> Vec<(usize, usize)> {
    let mut scored: Vec<(u32, usize, usize)> = Vec::new();
    for (s, key) in saved.iter().enumerate() {
        for (c, cand) in candidates.iter().enumerate() {
            if let Some(points) = score(key, cand) {
                scored.push((points, s, c));
            }
        }
    }
    // Highest score first; ties keep document order.
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut saved_used = vec![false; saved.len()];
    let mut cand_used = vec![false; candidates.len()];
    let mut pairs = Vec::new();
    for (_, s, c) in scored {
        if !saved_used[s] && !cand_used[c] {
            saved_used[s] = true;
            cand_used[c] = true;
            pairs.push((s, c));
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: FieldKind, id: Option<&str>, name: Option<&str>, label: Option<&str>, path: &str) -> FieldKey {
        FieldKey {
            kind,
            id: id.map(Into::into),
            name: name.map(Into::into),
            autocomplete: None,
            label: label.map(Into::into),
            form_action: None,
            value_attr: None,
            path: path.into(),
        }
    }

    #[test]
    fn reordered_markup_matches_by_identity() {
        use FieldKind::*;
        let saved = vec![
            key(Text, Some("first"), Some("first"), Some("First name"), "body/form[0]/input[0]"),
            key(Text, None, Some("last"), Some("Last name"), "body/form[0]/input[1]"),
            key(Text, None, None, Some("Nickname"), "body/form[0]/input[2]"),
            key(Textarea, None, None, None, "body/form[0]/textarea[0]"),
        ];
        // Reordered: the paths now point at other fields.
        let candidates = vec![
            key(Text, None, None, Some("Nickname"), "body/form[0]/input[0]"),
            key(Text, None, Some("last"), Some("Last name"), "body/form[0]/input[1]"),
            key(Text, Some("first"), Some("first"), Some("First name"), "body/form[0]/input[2]"),
            key(Textarea, None, None, None, "body/form[0]/textarea[0]"),
        ];
        let mut pairs = assign(&saved, &candidates);
        pairs.sort();
        assert_eq!(pairs, vec![(0, 2), (1, 1), (2, 0), (3, 3)]);
    }

    #[test]
    fn no_match_on_path_alone_when_identity_existed() {
        let saved = key(FieldKind::Text, Some("email"), None, None, "body/input[0]");
        let other = key(FieldKind::Text, Some("phone"), None, None, "body/input[0]");
        assert_eq!(score(&saved, &other), None);
        let wrong_kind = key(FieldKind::Email, Some("email"), None, None, "body/input[0]");
        assert_eq!(score(&saved, &wrong_kind), None);
    }

    #[test]
    fn radios_match_their_option() {
        let mut a = key(FieldKind::Radio, None, Some("size"), None, "p");
        a.value_attr = Some("m".into());
        let mut b = a.clone();
        b.value_attr = Some("l".into());
        assert_eq!(score(&a, &b), None);
        assert!(score(&a, &a).is_some());
        assert_eq!(assign(&[a.clone()], &[b, a]), vec![(0, 1)]);
    }
}
