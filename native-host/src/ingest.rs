//! Turning what the extension captured into local records: compute each
//! record's token, compare with the stored one, and store and queue only
//! what changed. Unchanged input writes nothing.

use std::collections::{BTreeMap, HashSet};

use baton_shared::limits::{
    MAX_ANCHOR_TEXT, MAX_FAVICON_URL, MAX_FIELDS_PER_PAGE, MAX_FIELD_VALUE, MAX_HISTORY_ENTRIES, MAX_RECORD_BODY,
    MAX_TAB_TITLE, MAX_TAB_URL,
};
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
    #[error("record {id} is {len} bytes; the most one record may hold is {MAX_RECORD_PLAINTEXT}")]
    TooLarge { id: String, len: usize },
}

/// Largest record plaintext whose sealed, base64 form the server accepts
/// (nonce and tag take 28 bytes).
pub const MAX_RECORD_PLAINTEXT: usize = MAX_RECORD_BODY / 4 * 3 - 28;

/// Stores a complete snapshot of this browser's windows and tabs. Returns
/// how many changes were queued.
pub fn snapshot(
    store: &mut Store,
    keys: &AccountKeys,
    windows: Vec<WindowState>,
    tabs: Vec<TabState>,
) -> Result<usize, IngestError> {
    let mut desired: BTreeMap<String, RecordBody> = BTreeMap::new();
    let tabs = tabs.into_iter().filter_map(sanitize_tab);
    for body in windows.into_iter().map(RecordBody::Window).chain(tabs.map(RecordBody::Tab)) {
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
    if json.len() > MAX_RECORD_PLAINTEXT {
        return Err(IngestError::TooLarge { id, len: json.len() });
    }
    Ok(LocalChange { collection, id, state: Some((token, json)) })
}

/// Cuts what a tab may carry; a tab whose URL is beyond any use elsewhere
/// (a huge `data:` URL) is left out of sync.
pub fn sanitize_tab(mut tab: TabState) -> Option<TabState> {
    if tab.url.len() > MAX_TAB_URL {
        tracing::warn!("tab {} is not synced: its URL is {} bytes long", tab.id, tab.url.len());
        return None;
    }
    truncate_chars(&mut tab.title, MAX_TAB_TITLE);
    if tab.fav_icon_url.as_ref().is_some_and(|u| u.len() > MAX_FAVICON_URL) {
        tab.fav_icon_url = None;
    }
    Some(tab)
}

/// Keeps the newest entries that fit in one record; `current` keeps
/// pointing at the same page.
pub fn trim_history(mut history: TabHistory) -> TabHistory {
    history.entries.retain(|e| e.url.len() <= MAX_TAB_URL);
    for e in &mut history.entries {
        truncate_chars(&mut e.title, MAX_TAB_TITLE);
    }
    let mut excess = history.entries.len().saturating_sub(MAX_HISTORY_ENTRIES);
    let mut size: usize = history.entries[excess..].iter().map(|e| e.url.len() + e.title.len() + 64).sum();
    while size > MAX_RECORD_PLAINTEXT - 1024 && excess < history.entries.len() {
        size -= history.entries[excess].url.len() + history.entries[excess].title.len() + 64;
        excess += 1;
    }
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
    // Keep the fields that fit in one record, in page order.
    let fields = std::mem::take(&mut page.fields);
    let mut size = json_len(&page) + MAX_TAB_URL.min(page.url.len()) + 1024;
    for field in fields {
        size += json_len(&field) + 1;
        if size > MAX_RECORD_PLAINTEXT {
            tracing::warn!(
                "page state of tab {} is cut to {} fields to fit one record",
                page.tab_id,
                page.fields.len()
            );
            break;
        }
        page.fields.push(field);
    }
    page
}

fn json_len<T: serde::Serialize>(value: &T) -> usize {
    serde_json::to_vec(value).map(|v| v.len()).unwrap_or(usize::MAX / 2)
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
    fn oversized_input_is_cut_to_fit_one_record() {
        let mut t = tab(1, &format!("data:text/plain,{}", "x".repeat(MAX_TAB_URL)));
        assert!(sanitize_tab(t.clone()).is_none());
        t.url = "https://a".into();
        t.title = "t".repeat(5_000);
        t.fav_icon_url = Some(format!("data:image/png;base64,{}", "A".repeat(MAX_FAVICON_URL)));
        let t = sanitize_tab(t).unwrap();
        assert_eq!((t.title.len(), t.fav_icon_url), (MAX_TAB_TITLE, None));

        let field = |i: usize| FieldState {
            key: FieldKey {
                kind: FieldKind::Textarea,
                id: Some(format!("f{i}")),
                name: None,
                autocomplete: None,
                label: None,
                form_action: None,
                value_attr: None,
                path: "body>textarea".into(),
            },
            value: FieldValue::Text("y".repeat(MAX_FIELD_VALUE)),
        };
        let page = PageState {
            tab_id: 1,
            url: "https://a".into(),
            fields: (0..20).map(field).collect(),
            scroll: None,
            captured_ms: 0,
        };
        let page = sanitize_page(page);
        assert!(!page.fields.is_empty() && page.fields.len() < 20);
        assert!(json_len(&RecordBody::Page(page)) <= MAX_RECORD_PLAINTEXT);

        let entries = (0..50)
            .map(|i| HistoryEntry {
                url: format!("https://h/{i}/{}", "z".repeat(20_000)),
                title: String::new(),
                visited_ms: i,
            })
            .collect();
        let h = trim_history(TabHistory { tab_id: 1, entries, current: 49 });
        assert!(h.entries.len() < 50);
        assert!(h.entries[h.current as usize].url.starts_with("https://h/49/"));
        assert!(json_len(&RecordBody::History(h)) <= MAX_RECORD_PLAINTEXT);
    }

    #[test]
    fn history_is_trimmed_keeping_the_current_page() {
        let entries =
            (0..60).map(|i| HistoryEntry { url: format!("u{i}"), title: String::new(), visited_ms: i }).collect();
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
            scroll: Some(ScrollState {
                x: 0,
                y: 10,
                anchor: Some(ScrollAnchor { text: "x".repeat(200), offset_px: 3 }),
            }),
            captured_ms: 1,
        };
        let clean = sanitize_page(page);
        assert_eq!(clean.fields.len(), 1);
        let FieldValue::Text(v) = &clean.fields[0].value else { panic!() };
        assert_eq!(v.chars().count(), MAX_FIELD_VALUE);
        assert_eq!(clean.scroll.unwrap().anchor.unwrap().text.len(), MAX_ANCHOR_TEXT);
    }
}
