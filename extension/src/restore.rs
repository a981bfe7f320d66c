//! Opening another device's tabs here and restoring their state.

use crate::view::Action;

pub async fn perform(action: Action) -> Result<(), String> {
    Err(format!("{action:?} is not available in this version"))
}
