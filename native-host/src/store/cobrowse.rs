//! Co-browsing frame keys, sealed by the vault (the caller seals and opens).

use rusqlite::{params, OptionalExtension};

use super::{Store, StoreError};

impl Store {
    pub fn save_cobrowse_key(
        &mut self,
        server_url: &str,
        session_id: &str,
        role: &str,
        key_sealed: &[u8],
        created_ms: i64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO cobrowse_key (server_url, session_id, role, key_sealed, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (server_url, session_id) DO UPDATE SET
                role = excluded.role, key_sealed = excluded.key_sealed, created_ms = excluded.created_ms",
            params![server_url, session_id, role, key_sealed, created_ms],
        )?;
        Ok(())
    }

    /// The sealed key and this host's role in the session, if it took part.
    pub fn cobrowse_key(&self, server_url: &str, session_id: &str) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT role, key_sealed FROM cobrowse_key WHERE server_url = ?1 AND session_id = ?2",
                params![server_url, session_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_kept_per_server_and_session() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("db.sqlite3")).unwrap();
        assert_eq!(s.cobrowse_key("http://a", "s1").unwrap(), None);
        s.save_cobrowse_key("http://a", "s1", "operator", b"sealed", 5).unwrap();
        s.save_cobrowse_key("http://a", "s1", "operator", b"sealed2", 6).unwrap();
        assert_eq!(s.cobrowse_key("http://a", "s1").unwrap(), Some(("operator".into(), b"sealed2".to_vec())));
        assert_eq!(s.cobrowse_key("http://b", "s1").unwrap(), None);
    }
}
