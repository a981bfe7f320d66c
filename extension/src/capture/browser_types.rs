//! The shapes of the `chrome.*` objects capture reads, and turning a
//! `windows.getAll` result into a session snapshot. Everything here comes
//! from the browser, so every field is optional or defaulted.

use std::collections::HashMap;

use serde::Deserialize;

use baton_shared::session::{TabGroup, TabState, WindowState};

/// `chrome.tabGroups.TAB_GROUP_ID_NONE`.
const NO_GROUP: i64 = -1;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BrowserTab {
    pub id: Option<i64>,
    pub window_id: i64,
    pub index: u32,
    pub url: Option<String>,
    pub pending_url: Option<String>,
    pub title: Option<String>,
    pub fav_icon_url: Option<String>,
    pub pinned: bool,
    pub active: bool,
    pub incognito: bool,
    /// Chrome 121+.
    pub last_accessed: Option<f64>,
    pub group_id: Option<i64>,
    pub status: Option<String>,
}

impl BrowserTab {
    /// The committed URL, or the one being loaded when nothing is committed yet.
    pub fn url(&self) -> &str {
        match self.url.as_deref() {
            Some(u) if !u.is_empty() => u,
            _ => self.pending_url.as_deref().unwrap_or(""),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BrowserWindow {
    pub id: Option<i64>,
    pub focused: bool,
    pub incognito: bool,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub tabs: Vec<BrowserTab>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BrowserGroup {
    pub id: i64,
    pub title: Option<String>,
    pub color: String,
}

/// `webNavigation` event details.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NavDetails {
    pub tab_id: i64,
    pub frame_id: i64,
    pub url: String,
    pub transition_type: Option<String>,
    pub transition_qualifiers: Vec<String>,
    pub time_stamp: Option<f64>,
}

/// `runtime.MessageSender`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageSender {
    pub id: Option<String>,
    pub tab: Option<BrowserTab>,
    pub frame_id: Option<i64>,
    pub url: Option<String>,
}

/// `tabs.onUpdated`'s `changeInfo`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TabChange {
    pub status: Option<String>,
    pub title: Option<String>,
    pub url: Option<String>,
}

/// Normal, non-incognito windows and the tabs on pages `allowed` accepts.
/// A window stays listed even when all its tabs are left out.
pub fn snapshot(
    windows: &[BrowserWindow],
    groups: &[BrowserGroup],
    allowed: impl Fn(&str) -> bool,
    now_ms: i64,
) -> (Vec<WindowState>, Vec<TabState>) {
    let groups: HashMap<i64, &BrowserGroup> = groups.iter().map(|g| (g.id, g)).collect();
    let mut out_windows = Vec::new();
    let mut out_tabs = Vec::new();
    for w in windows {
        let Some(window_id) = w.id else { continue };
        if w.incognito || w.kind.as_deref().is_some_and(|k| k != "normal") {
            continue;
        }
        out_windows.push(WindowState { id: window_id, focused: w.focused });
        for t in &w.tabs {
            let Some(id) = t.id else { continue };
            if t.incognito || !allowed(t.url()) {
                continue;
            }
            let group = t
                .group_id
                .filter(|&g| g != NO_GROUP)
                .and_then(|g| groups.get(&g))
                .map(|g| TabGroup { name: g.title.clone().unwrap_or_default(), color: g.color.clone() });
            let last_accessed_ms = match t.last_accessed {
                Some(ms) if ms.is_finite() && ms > 0.0 => ms as i64,
                _ if t.active && w.focused => now_ms,
                _ => 0,
            };
            out_tabs.push(TabState {
                id,
                window_id,
                index: t.index,
                url: t.url().to_owned(),
                title: t.title.clone().unwrap_or_default(),
                fav_icon_url: t.fav_icon_url.clone().filter(|u| allowed(u)),
                pinned: t.pinned,
                active: t.active,
                last_accessed_ms,
                group,
            });
        }
    }
    (out_windows, out_tabs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn snapshot_skips_incognito_private_and_excluded() {
        let windows: Vec<BrowserWindow> = serde_json::from_value(json!([
            {"id": 1, "focused": true, "incognito": false, "type": "normal", "tabs": [
                {"id": 10, "windowId": 1, "index": 0, "url": "https://a.example/", "title": "A",
                 "favIconUrl": "https://a.example/f.ico", "pinned": true, "active": true, "groupId": 5,
                 "lastAccessed": 1700000000000.5},
                {"id": 11, "windowId": 1, "index": 1, "url": "chrome://settings/", "title": "S"},
                {"id": 12, "windowId": 1, "index": 2, "url": "", "pendingUrl": "https://b.example/",
                 "favIconUrl": "data:image/png;base64,xx", "groupId": -1},
                {"id": 13, "windowId": 1, "index": 3, "url": "https://bank.example/"}
            ]},
            {"id": 2, "incognito": true, "tabs": [{"id": 20, "windowId": 2, "url": "https://secret.example/"}]},
            {"id": 3, "type": "popup", "tabs": []},
            {"tabs": []}
        ]))
        .unwrap();
        let groups: Vec<BrowserGroup> =
            serde_json::from_value(json!([{"id": 5, "title": "Work", "color": "blue", "collapsed": false}])).unwrap();
        let allowed = |u: &str| u.starts_with("https://") && !u.contains("bank");
        let (w, t) = snapshot(&windows, &groups, allowed, 42);
        assert_eq!(w, vec![WindowState { id: 1, focused: true }]);
        assert_eq!(t.iter().map(|t| t.id).collect::<Vec<_>>(), vec![10, 12]);
        assert_eq!(t[0].group, Some(TabGroup { name: "Work".into(), color: "blue".into() }));
        assert_eq!((t[0].last_accessed_ms, t[0].pinned), (1_700_000_000_000, true));
        assert_eq!(
            (t[1].url.as_str(), t[1].fav_icon_url.as_deref(), t[1].group.as_ref()),
            ("https://b.example/", None, None)
        );
    }
}
