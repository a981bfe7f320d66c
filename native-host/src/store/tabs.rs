//! Tabs sent to and received from other devices, so a push that arrives
//! twice opens one tab, and delivery states survive a restart.

use rusqlite::params;

use baton_shared::session::DeliveryState;

use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedTab {
    pub send_id: String,
    pub from_device: String,
    pub url: String,
    pub title: String,
}

fn state_str(state: DeliveryState) -> &'static str {
    match state {
        DeliveryState::Sent => "sent",
        DeliveryState::Delivered => "delivered",
        DeliveryState::Opened => "opened",
    }
}

fn parse_state(s: &str) -> Option<DeliveryState> {
    match s {
        "sent" => Some(DeliveryState::Sent),
        "delivered" => Some(DeliveryState::Delivered),
        "opened" => Some(DeliveryState::Opened),
        _ => None,
    }
}

impl Store {
    /// Records a received tab as delivered; `false` when it was already known.
    pub fn receive_tab(&mut self, tab: &ReceivedTab, now_ms: i64) -> Result<bool, StoreError> {
        let inserted = self.conn.execute(
            "INSERT OR IGNORE INTO received_tab (send_id, from_device, url, title, state, received_ms)
             VALUES (?1, ?2, ?3, ?4, 'delivered', ?5)",
            params![tab.send_id, tab.from_device, tab.url, tab.title, now_ms],
        )?;
        Ok(inserted == 1)
    }

    /// Marks a received tab opened; `false` when the send id is unknown.
    pub fn mark_opened(&mut self, send_id: &str) -> Result<bool, StoreError> {
        Ok(self.conn.execute("UPDATE received_tab SET state = 'opened' WHERE send_id = ?1", params![send_id])? == 1)
    }

    /// Received tabs whose state the sender has not been told yet.
    pub fn unreported_tabs(&self) -> Result<Vec<(String, DeliveryState)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT send_id, state FROM received_tab WHERE reported_state IS NOT state ORDER BY received_ms",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, state) = row?;
            if let Some(state) = parse_state(&state) {
                out.push((id, state));
            }
        }
        Ok(out)
    }

    pub fn mark_reported(&mut self, send_id: &str, state: DeliveryState) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE received_tab SET reported_state = ?2 WHERE send_id = ?1",
            params![send_id, state_str(state)],
        )?;
        Ok(())
    }

    pub fn record_sent_tab(
        &mut self,
        send_id: &str,
        target: &str,
        url: &str,
        title: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO sent_tab (send_id, target, url, title, state, sent_ms) VALUES (?1, ?2, ?3, ?4, 'sent', ?5)",
            params![send_id, target, url, title, now_ms],
        )?;
        Ok(())
    }

    pub fn set_sent_state(&mut self, send_id: &str, state: DeliveryState) -> Result<(), StoreError> {
        self.conn.execute("UPDATE sent_tab SET state = ?2 WHERE send_id = ?1", params![send_id, state_str(state)])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_tabs_are_deduplicated_and_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("h.sqlite3")).unwrap();
        let tab = ReceivedTab { send_id: "s1".into(), from_device: "A".into(), url: "u".into(), title: "t".into() };
        assert!(s.receive_tab(&tab, 1).unwrap());
        assert!(!s.receive_tab(&tab, 2).unwrap());
        assert_eq!(s.unreported_tabs().unwrap(), [("s1".to_owned(), DeliveryState::Delivered)]);
        s.mark_reported("s1", DeliveryState::Delivered).unwrap();
        assert!(s.unreported_tabs().unwrap().is_empty());
        assert!(s.mark_opened("s1").unwrap());
        assert!(!s.mark_opened("nope").unwrap());
        assert_eq!(s.unreported_tabs().unwrap(), [("s1".to_owned(), DeliveryState::Opened)]);
    }
}
