//! Sync records: how captured session state is cut into records, named and
//! grouped into collections. One record per window, tab, tab history and page
//! state, so that one changed tab resends one small record.

use serde::{Deserialize, Serialize};

use crate::session::{PageState, TabHistory, TabState, WindowState};

/// A device's collections. Each device owns its own; others only read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Collection {
    /// Windows and tabs.
    Tabs,
    /// Per-tab back/forward lists.
    History,
    /// Per-tab form contents and scroll.
    Pages,
}

impl Collection {
    pub const ALL: [Collection; 3] = [Collection::Tabs, Collection::History, Collection::Pages];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tabs => "tabs",
            Self::History => "history",
            Self::Pages => "pages",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// The plaintext of a record, encrypted before it leaves the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecordBody {
    Window(WindowState),
    Tab(TabState),
    History(TabHistory),
    Page(PageState),
}

impl RecordBody {
    /// The record id: a kind prefix and the browser's id, e.g. `t:42`.
    pub fn record_id(&self) -> String {
        match self {
            Self::Window(w) => format!("w:{}", w.id),
            Self::Tab(t) => format!("t:{}", t.id),
            Self::History(h) => format!("h:{}", h.tab_id),
            Self::Page(p) => format!("p:{}", p.tab_id),
        }
    }

    pub fn collection(&self) -> Collection {
        match self {
            Self::Window(_) | Self::Tab(_) => Collection::Tabs,
            Self::History(_) => Collection::History,
            Self::Page(_) => Collection::Pages,
        }
    }
}

/// Record ids that belong to a tab, across collections (removed together).
pub fn tab_record_ids(tab_id: i64) -> [(Collection, String); 3] {
    [
        (Collection::Tabs, format!("t:{tab_id}")),
        (Collection::History, format!("h:{tab_id}")),
        (Collection::Pages, format!("p:{tab_id}")),
    ]
}

pub fn window_record_id(window_id: i64) -> (Collection, String) {
    (Collection::Tabs, format!("w:{window_id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_collections() {
        let w = RecordBody::Window(WindowState { id: 3, focused: true });
        assert_eq!((w.record_id(), w.collection()), ("w:3".to_owned(), Collection::Tabs));
        assert_eq!(Collection::parse("pages"), Some(Collection::Pages));
        assert_eq!(Collection::parse("nope"), None);
        assert_eq!(tab_record_ids(7)[1], (Collection::History, "h:7".to_owned()));
    }
}
