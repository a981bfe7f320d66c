//! What the restore UI asks about the account's other devices, answered from
//! the decrypted remote records.

use std::collections::BTreeMap;

use baton_shared::native::ErrorCode;
use baton_shared::records::{Collection, RecordBody};
use baton_shared::session::{PageState, RemoteDevice, RemoteWindow, TabHistory, TabState};

use crate::context::RequestError;
use crate::store::Store;

/// Other devices, most recently seen first; their windows most recently
/// used first; tabs in index order.
pub fn list_devices(store: &Store) -> Result<Vec<RemoteDevice>, RequestError> {
    let mut out = Vec::new();
    for device in store.account_devices().map_err(RequestError::storage)? {
        let mut windows: BTreeMap<i64, RemoteWindow> = BTreeMap::new();
        let mut tabs: Vec<TabState> = Vec::new();
        for json in store.remote_bodies(&device.id, Collection::Tabs).map_err(RequestError::storage)? {
            match serde_json::from_str::<RecordBody>(&json) {
                Ok(RecordBody::Window(w)) => {
                    windows.insert(w.id, RemoteWindow { id: w.id, focused: w.focused, tabs: Vec::new() });
                }
                Ok(RecordBody::Tab(t)) => tabs.push(t),
                _ => {}
            }
        }
        for tab in tabs {
            // A tab whose window record has not arrived still gets listed.
            windows
                .entry(tab.window_id)
                .or_insert_with(|| RemoteWindow { id: tab.window_id, focused: false, tabs: Vec::new() })
                .tabs
                .push(tab);
        }
        let mut windows: Vec<RemoteWindow> = windows.into_values().collect();
        for w in &mut windows {
            w.tabs.sort_by_key(|t| (t.index, t.id));
        }
        let last_used = |w: &RemoteWindow| w.tabs.iter().map(|t| t.last_accessed_ms).max().unwrap_or(i64::MIN);
        windows.sort_by_key(|w| (std::cmp::Reverse(last_used(w)), !w.focused, w.id));
        out.push(RemoteDevice {
            id: device.id,
            name: device.name,
            kind: device.kind,
            last_seen_ms: device.last_seen_ms,
            windows,
        });
    }
    Ok(out)
}

pub fn tab_details(
    store: &Store,
    device_id: &str,
    tab_id: i64,
) -> Result<(Option<TabHistory>, Option<PageState>), RequestError> {
    let known = store.account_devices().map_err(RequestError::storage)?.iter().any(|d| d.id == device_id);
    if !known {
        return Err(RequestError::new(
            ErrorCode::UnknownDevice,
            format!("device {device_id:?} is not in this account"),
        ));
    }
    let body = |collection, id: String| -> Result<Option<RecordBody>, RequestError> {
        let json = store.remote_body(device_id, collection, &id).map_err(RequestError::storage)?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    };
    let history = match body(Collection::History, format!("h:{tab_id}"))? {
        Some(RecordBody::History(h)) => Some(h),
        _ => None,
    };
    let page = match body(Collection::Pages, format!("p:{tab_id}"))? {
        Some(RecordBody::Page(p)) => Some(p),
        _ => None,
    };
    Ok((history, page))
}
