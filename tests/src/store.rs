//! Reading the host's and the server's SQLite stores directly, read-only,
//! to know when a change has landed and to look for what must not be there.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use serde_json::Value;

/// Opens a store read-only, so a test never takes a write lock from the
/// process that owns it.
pub fn open_read_only(db: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
}

/// One record of the host's store; a body that is not JSON reads as null.
#[derive(Debug, Clone)]
pub struct Record {
    pub collection: String,
    pub id: String,
    pub body: Value,
}

/// This device's live (not deleted) records.
pub fn local_records(db: &Path) -> rusqlite::Result<Vec<Record>> {
    records(db, "SELECT collection, id, body FROM local_record WHERE body IS NOT NULL")
}

/// The records of other devices this host holds.
pub fn remote_records(db: &Path) -> rusqlite::Result<Vec<Record>> {
    records(db, "SELECT collection, id, body FROM remote_record")
}

fn records(db: &Path, query: &str) -> rusqlite::Result<Vec<Record>> {
    let conn = open_read_only(db)?;
    let mut stmt = conn.prepare(query)?;
    let rows = stmt
        .query_map([], |row| {
            let body: String = row.get(2)?;
            Ok(Record {
                collection: row.get(0)?,
                id: row.get(1)?,
                body: serde_json::from_str(&body).unwrap_or(Value::Null),
            })
        })?
        .collect();
    rows
}

/// The body of the page record (captured form state and scroll) for `url`.
pub fn page_record<'a>(records: &'a [Record], url: &str) -> Option<&'a Value> {
    records.iter().find(|r| r.collection == "pages" && r.body["url"] == url).map(|r| &r.body)
}

/// The captured value of the form field named `name` in a page record.
pub fn field<'a>(page: &'a Value, name: &str) -> Option<&'a Value> {
    page["fields"].as_array()?.iter().find(|f| f["key"]["name"] == name).map(|f| &f["value"])
}

/// Every file under `dir` whose bytes contain `needle`: where a secret
/// would show if it leaked to disk in any form the store keeps.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return hits;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            hits.extend(files_containing(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                hits.push(path.display().to_string());
            }
        }
    }
    hits
}
