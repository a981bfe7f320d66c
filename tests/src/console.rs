//! Driving the operator console page.

use serde_json::{json, Value};

use crate::cdp::{CdpError, Session};

/// Types the visitor's code into the console's join form and submits it.
pub async fn join(console: &Session, code: &str) -> Result<Value, CdpError> {
    console
        .evaluate(&format!(
            "(() => {{ document.querySelector('#join-code').value = {}; document.querySelector('#join-form').requestSubmit(); return true; }})()",
            json!(code)
        ))
        .await
}
