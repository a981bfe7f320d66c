//! A tab's back/forward list, rebuilt from navigation events.
//!
//! The browser does not expose a tab's session history, so the worker keeps
//! its own: a new navigation drops the forward entries and appends; a
//! back/forward navigation moves the cursor to the nearest entry with that
//! URL. Pages that must not be captured are kept as placeholders (empty URL)
//! so the cursor stays right without remembering where they were.

use serde::{Deserialize, Serialize};

use baton_shared::limits::MAX_HISTORY_ENTRIES;
use baton_shared::session::{HistoryEntry, TabHistory};

/// How a navigation changes the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NavKind {
    /// Drops forward entries, appends.
    Push,
    /// Replaces the current entry (client redirects).
    Replace,
    /// The same page again (reloads).
    Reload,
    /// Back or forward to an existing entry.
    ForwardBack,
}

/// From `webNavigation` details. Same-document navigations (pushState,
/// fragments) to the current URL change nothing, which covers replaceState
/// that keeps the URL.
pub fn nav_kind(transition_type: &str, qualifiers: &[String]) -> NavKind {
    if qualifiers.iter().any(|q| q == "forward_back") {
        NavKind::ForwardBack
    } else if transition_type == "reload" {
        NavKind::Reload
    } else if qualifiers.iter().any(|q| q == "client_redirect") {
        NavKind::Replace
    } else {
        NavKind::Push
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabLog {
    pub entries: Vec<HistoryEntry>,
    pub current: usize,
}

impl TabLog {
    /// Records a committed navigation to `url` (empty: a page not captured).
    pub fn commit(&mut self, url: &str, kind: NavKind, now_ms: i64) {
        let entry = HistoryEntry { url: url.to_owned(), title: String::new(), visited_ms: now_ms };
        if self.entries.is_empty() {
            self.entries.push(entry);
            self.current = 0;
            return;
        }
        self.current = self.current.min(self.entries.len() - 1);
        match kind {
            NavKind::ForwardBack => match self.nearest(url) {
                Some(i) => {
                    self.current = i;
                    self.entries[i].visited_ms = now_ms;
                }
                None => self.push(entry),
            },
            NavKind::Reload if self.entries[self.current].url == url => {
                self.entries[self.current].visited_ms = now_ms;
            }
            NavKind::Reload | NavKind::Replace => self.entries[self.current] = entry,
            NavKind::Push => self.push(entry),
        }
    }

    /// A same-document navigation (pushState, fragment): a new entry unless
    /// the URL is the current one.
    pub fn commit_same_document(&mut self, url: &str, kind: NavKind, now_ms: i64) {
        let same = self.entries.get(self.current).is_some_and(|e| e.url == url);
        if !(same && kind != NavKind::ForwardBack) {
            self.commit(url, kind, now_ms);
        }
    }

    /// The page at the cursor got a title. Returns whether anything changed.
    pub fn set_title(&mut self, url: &str, title: &str) -> bool {
        match self.entries.get_mut(self.current) {
            Some(e) if !e.url.is_empty() && e.url == url && e.title != title => {
                e.title = title.to_owned();
                true
            }
            _ => false,
        }
    }

    /// What is sent: placeholders and entries `keep` rejects are left out;
    /// nothing when the current page itself is left out.
    pub fn to_history(&self, tab_id: i64, keep: impl Fn(&str) -> bool) -> Option<TabHistory> {
        let mut entries = Vec::new();
        let mut current = None;
        for (i, e) in self.entries.iter().enumerate() {
            if e.url.is_empty() || !keep(&e.url) {
                continue;
            }
            if i == self.current {
                current = Some(entries.len() as u32);
            }
            entries.push(e.clone());
        }
        Some(TabHistory { tab_id, entries, current: current? })
    }

    fn push(&mut self, entry: HistoryEntry) {
        self.entries.truncate(self.current + 1);
        self.entries.push(entry);
        if self.entries.len() > MAX_HISTORY_ENTRIES {
            let drop = self.entries.len() - MAX_HISTORY_ENTRIES;
            self.entries.drain(..drop);
        }
        self.current = self.entries.len() - 1;
    }

    /// The entry with `url` closest to the cursor, neighbours first.
    fn nearest(&self, url: &str) -> Option<usize> {
        (1..self.entries.len()).find_map(|d| {
            let back = self.current.checked_sub(d).filter(|&i| self.entries[i].url == url);
            let fwd = Some(self.current + d).filter(|&i| i < self.entries.len() && self.entries[i].url == url);
            back.or(fwd)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(log: &TabLog) -> Vec<&str> {
        log.entries.iter().map(|e| e.url.as_str()).collect()
    }

    #[test]
    fn push_back_forward_and_branch() {
        let mut log = TabLog::default();
        for (t, u) in ["a", "b", "c"].into_iter().enumerate() {
            log.commit(u, NavKind::Push, t as i64);
        }
        log.commit("b", NavKind::ForwardBack, 10);
        assert_eq!((urls(&log), log.current), (vec!["a", "b", "c"], 1));
        log.commit("c", NavKind::ForwardBack, 11);
        assert_eq!(log.current, 2);
        log.commit("a", NavKind::ForwardBack, 12); // history.go(-2)
        assert_eq!(log.current, 0);
        log.commit("d", NavKind::Push, 13);
        assert_eq!((urls(&log), log.current), (vec!["a", "d"], 1));
    }

    #[test]
    fn reload_replace_and_same_document() {
        let mut log = TabLog::default();
        log.commit("a", NavKind::Push, 1);
        log.commit("a", NavKind::Reload, 2);
        assert_eq!((urls(&log), log.entries[0].visited_ms), (vec!["a"], 2));
        log.commit("b", NavKind::Replace, 3);
        assert_eq!(urls(&log), vec!["b"]);
        log.commit_same_document("b", NavKind::Push, 4);
        log.commit_same_document("b#x", NavKind::Push, 5);
        assert_eq!(urls(&log), vec!["b", "b#x"]);
        log.commit_same_document("b", NavKind::ForwardBack, 6);
        assert_eq!(log.current, 0);
    }

    #[test]
    fn keeps_the_newest_entries() {
        let mut log = TabLog::default();
        for i in 0..MAX_HISTORY_ENTRIES + 7 {
            log.commit(&format!("u{i}"), NavKind::Push, i as i64);
        }
        assert_eq!(log.entries.len(), MAX_HISTORY_ENTRIES);
        assert_eq!(log.entries[0].url, "u7");
        assert_eq!(log.current, MAX_HISTORY_ENTRIES - 1);
    }

    #[test]
    fn placeholders_and_excluded_pages_are_not_sent() {
        let mut log = TabLog::default();
        log.commit("https://a/", NavKind::Push, 1);
        log.commit("", NavKind::Push, 2);
        log.commit("https://bank/", NavKind::Push, 3);
        log.commit("https://c/", NavKind::Push, 4);
        assert!(log.set_title("https://c/", "C"));
        let h = log.to_history(7, |u| u != "https://bank/").unwrap();
        assert_eq!(h.entries.iter().map(|e| e.url.as_str()).collect::<Vec<_>>(), vec!["https://a/", "https://c/"]);
        assert_eq!((h.current, h.entries[1].title.as_str()), (1, "C"));
        log.commit("", NavKind::ForwardBack, 5);
        assert_eq!(log.current, 1);
        assert_eq!(log.to_history(7, |_| true), None);
    }

    #[test]
    fn transitions() {
        let q = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(nav_kind("link", &q(&["forward_back", "from_address_bar"])), NavKind::ForwardBack);
        assert_eq!(nav_kind("reload", &[]), NavKind::Reload);
        assert_eq!(nav_kind("link", &q(&["client_redirect"])), NavKind::Replace);
        assert_eq!(nav_kind("typed", &q(&["server_redirect"])), NavKind::Push);
    }
}
