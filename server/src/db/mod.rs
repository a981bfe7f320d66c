//! The server's store: one SQLite file in WAL mode behind a mutex.
//!
//! Queries are plain functions over `&Connection` (see [`devices`]); [`Db::call`]
//! runs them on the blocking pool so the async runtime never waits on disk.

pub mod cobrowse;
pub mod devices;
pub mod guesses;
mod migrations;
pub mod orgs;
pub mod pairing;
pub mod sent_tabs;
pub mod sync;

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::Connection;

/// How long a statement waits for a lock held by another connection
/// (e.g. an operator's `sqlite3` shell) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("database schema version {found} is newer than this server understands (up to {known})")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("stored value is invalid: {0}")]
    Corrupt(String),
    #[error("database task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    /// Opens (creating if needed) the database and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    #[cfg(test)]
    pub fn open_in_memory() -> Result<Self, DbError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Self, DbError> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // journal_mode answers with a row; an in-memory database stays "memory".
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.pragma_update(None, "foreign_keys", true)?;
        migrations::apply(&mut conn)?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    /// Runs `f` with the connection on the blocking pool. `E` lets a query
    /// refuse with its own typed error besides failing with a [`DbError`].
    pub async fn call<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic inside an earlier call rolled back its transaction when the
            // transaction dropped, so the connection itself is still sound.
            let mut guard = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut guard)
        })
        .await
        .map_err(|e| E::from(DbError::from(e)))?
    }
}
