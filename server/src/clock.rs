//! Wall-clock time as the API reports it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix milliseconds; a clock before 1970 reads as 0 rather than failing a request.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}
