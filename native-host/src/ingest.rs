//! Turning what the extension captured into local records: compute each
//! record's token, compare with the stored one, and store and queue only
//! what changed. Unchanged input writes nothing.

use std::collections::{BTreeMap, HashSet};

use baton_shared::limits::{MAX_ANCHOR_TEXT, MAX_FIELDS_PER_PAGE, MAX_FIELD_VALUE, MAX_HISTORY_ENTRIES};
use baton_shared::records::{tab_record_ids, Collection, RecordBody};
use baton_shared::session::{is_secret_autocomplete, FieldValue, PageState, TabHistory, TabState, WindowState};

use crate::crypto::{AccountKeys, CryptoError};
use crate::store::{LocalChange, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// Stores a complete snapshot of this browser's windows and tabs. Returns
/// how many changes were queued.
pub fn snapshot(
    store: &mut Store,
    keys: &AccountKeys,
    windows: Vec<WindowState>,
    tabs: Vec<TabState>,
) -> Result<usize, IngestError> {
    let mut desired: BTreeMap<String, RecordBody> = BTreeMap::new();
    for body in windows.into_iter().map(RecordBody::Window).chain(tabs.into_iter().map(RecordBody::Tab)) {
        desired.insert(body.record_id(), body);
    }
    let stored = store.local_tokens(Collection::Tabs)?;
    let mut changes = Vec::new();
    for (id, body) in &desired {
        let token = keys.token(body)?;
        if stored.get(id) != Some(&token) {
            changes.push(put(Collection::Tabs, id.clone(), token, body)?);
        }
    }
    let mut removed: Vec<&String> = stored.keys().filter(|id| !desired.contains_key(*id)).collect();
    removed.sort();
    let mut removed_tabs = Vec::new();
    for id in removed {
        changes.push(LocalChange { collection: Collection::Tabs, id: id.clone(), state: None });
        if let Some(tab_id) = id.strip_prefix("t:").and_then(|n| n.parse::<i64>().ok()) {
            removed_tabs.push(tab_id);
        }
    }
    // A closed tab takes its history and page state with it.
    for collection in [Collection::History, Collection::Pages] {
        let live: HashSet<String> = store.local_tokens(collection)?.into_keys().collect();
        for tab_id in &removed_tabs {
            for (c, id) in tab_record_ids(*tab_id) {
                if c == collection && live.contains(&id) {
                    changes.push(LocalChange { collection, id, state: None });
                }
            }
        }
    }
    store.apply_local(&changes)?;
    Ok(changes.len())
}

pub fn tab_history(store: &mut Store, keys: &AccountKeys, history: TabHistory) -> Result<usize, IngestError> {
    single(store, keys, RecordBody::History(trim_history(history)))
}

pub fn page_state(store: &mut Store, keys: &AccountKeys, page: PageState) -> Result<usize, IngestError> {
    single(store, keys, RecordBody::Page(sanitize_page(page)))
}

fn single(store: &mut Store, keys: &AccountKeys, body: RecordBody) -> Result<usize, IngestError> {
    let (collection, id) = (body.collection(), body.record_id());
    let token = keys.token(&body)?;
    if store.local_tokens(collection)?.get(&id) == Some(&token) {
        return Ok(0);
    }
    store.apply_local(&[put(collection, id, token, &body)?])?;
    Ok(1)
}

fn put(collection: Collection, id: String, token: String, body: &RecordBody) -> Result<LocalChange, IngestError> {
    let json = serde_json::to_string(body).map_err(|e| CryptoError::Encode(e.to_string()))?;
    Ok(LocalChange { collection, id, state: Some((token, json)) })
}

/// Keeps the newest entries; `current` keeps pointing at the same page.
pub fn trim_history(mut history: TabHistory) -> TabHistory {
    let excess = history.entries.len().saturating_sub(MAX_HISTORY_ENTRIES);
    history.entries.drain(..excess);
    let last = history.entries.len().saturating_sub(1) as u32;
    history.current = history.current.saturating_sub(excess as u32).min(last);
    history
}

/// Defence in depth: the extension never captures secret fields, but the
/// host drops them again, and caps what a page may store.
pub fn sanitize_page(mut page: PageState) -> PageState {
    page.fields.retain(|f| !f.key.autocomplete.as_deref().is_some_and(is_secret_autocomplete));
    page.fields.truncate(MAX_FIELDS_PER_PAGE);
    for field in &mut page.fields {
        match &mut field.value {
            FieldValue::Text(text) => truncate_chars(text, MAX_FIELD_VALUE),
            FieldValue::Selected(values) => {
                values.truncate(MAX_FIELDS_PER_PAGE);
                values.iter_mut().for_each(|v| truncate_chars(v, MAX_FIELD_VALUE));
            }
            FieldValue::Checked(_) => {}
        }
    }
    if let Some(anchor) = page.scroll.as_mut().and_then(|s| s.anchor.as_mut()) {
        truncate_chars(&mut anchor.text, MAX_ANCHOR_TEXT);
    }
    page
}

fn truncate_chars(s: &mut String, max: usize) {
    if let Some((at, _)) = s.char_indices().nth(max) {
        s.truncate(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_shared::session::{FieldKey, FieldKind, FieldState, HistoryEntry, ScrollAnchor, ScrollState};

    fn tab(id: i64, url: &str) -> TabState {
        TabState {
            id,
            window_id: 1,
            index: id as u32,
            url: url.into(),
            title: format!("Tab {id}"),
            fav_icon_url: None,
            pinned: false,
            active: false,
            last_accessed_ms: id,
            group: None,
        }
    }

    fn setup() -> (tempfile::TempDir, Store, AccountKeys) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("h.sqlite3")).unwrap();
        (dir, store, AccountKeys::from_bytes(&[3; 32]).unwrap())
    }

    #[test]
    fn only_changes_are_stored_and_queued() {
        let (_d, mut s, k) = setup();
        let win = vec![WindowState { id: 1, focused: true }];
        assert_eq!(snapshot(&mut s, &k, win.clone(), vec![tab(1, "https://a"), tab(2, "https://b")]).unwrap(), 3);
        assert_eq!(snapshot(&mut s, &k, win.clone(), vec![tab(1, "https://a"), tab(2, "https://b")]).unwrap(), 0);
        assert_eq!(s.pending_changes().unwrap(), 3);
        let history = TabHistory { tab_id: 2, entries: vec![], current: 0 };
        assert_eq!(tab_history(&mut s, &k, history.clone()).unwrap(), 1);
        assert_eq!(tab_history(&mut s, &k, history).unwrap(), 0);
        // Closing tab 2 and changing tab 1: one put, two deletes (tab + its history).
        assert_eq!(snapshot(&mut s, &k, win, vec![tab(1, "https://a2")]).unwrap(), 3);
        assert!(s.local_tokens(Collection::History).unwrap().is_empty());
        assert_eq!(s.pending_changes().unwrap(), 7);
    }

    #[test]
    fn history_is_trimmed_keeping_the_current_page() {
        let entries = (0..60).map(|i| HistoryEntry { url: format!("u{i}"), title: String::new(), visited_ms: i }).collect();
        let h = trim_history(TabHistory { tab_id: 1, entries, current: 55 });
        assert_eq!(h.entries.len(), MAX_HISTORY_ENTRIES);
        assert_eq!(h.entries[h.current as usize].url, "u55");
        let h = trim_history(TabHistory { tab_id: 1, entries: vec![], current: 3 });
        assert_eq!(h.current, 0);
    }

    #[test]
    fn secret_fields_are_dropped_and_values_capped() {
        let key = |autocomplete: Option<&str>| FieldKey {
            kind: FieldKind::Text,
            id: None,
            name: Some("n".into()),
            autocomplete: autocomplete.map(str::to_owned),
            label: None,
            form_action: None,
            value_attr: None,
            path: "body>input".into(),
        };
        let page = PageState {
            tab_id: 1,
            url: "https://a".into(),
            fields: vec![
                FieldState { key: key(Some("cc-number")), value: FieldValue::Text("4111".into()) },
                FieldState { key: key(Some("one-time-code")), value: FieldValue::Text("123456".into()) },
                FieldState { key: key(Some("email")), value: FieldValue::Text("é".repeat(MAX_FIELD_VALUE + 5)) },
            ],
            scroll: Some(ScrollState { x: 0, y: 10, anchor: Some(ScrollAnchor { text: "x".repeat(200), offset_px: 3 }) }),
            captured_ms: 1,
        };
        let clean = sanitize_page(page);
        assert_eq!(clean.fields.len(), 1);
        let FieldValue::Text(v) = &clean.fields[0].value else { panic!() };
        assert_eq!(v.chars().count(), MAX_FIELD_VALUE);
        assert_eq!(clean.scroll.unwrap().anchor.unwrap().text.len(), MAX_ANCHOR_TEXT);
    }
}
