//! Trailing debounce by key, with a ceiling: a burst of changes runs the
//! action once, `delay` after the last change, and a change stream that
//! never pauses still runs it every `4 × delay`. Actions read the current
//! state when they run, so dropping intermediate calls loses nothing.

use std::cell::RefCell;
use std::collections::HashMap;

use super::api::{now_ms, sleep};

struct Pending {
    generation: u64,
    since_ms: i64,
}

thread_local! {
    static PENDING: RefCell<HashMap<String, Pending>> = RefCell::new(HashMap::new());
    static NEXT: RefCell<u64> = const { RefCell::new(0) };
}

pub fn schedule(key: &str, delay_ms: u32, action: impl FnOnce() + 'static) {
    let now = now_ms();
    let ceiling = i64::from(delay_ms) * 4;
    let generation = NEXT.with(|n| {
        *n.borrow_mut() += 1;
        *n.borrow()
    });
    let postponed = PENDING.with(|p| {
        let mut p = p.borrow_mut();
        match p.get_mut(key) {
            // Overdue: let the waiting timer fire.
            Some(pending) if now - pending.since_ms >= ceiling => false,
            Some(pending) => {
                pending.generation = generation;
                true
            }
            None => {
                p.insert(key.to_owned(), Pending { generation, since_ms: now });
                true
            }
        }
    });
    if !postponed {
        return;
    }
    let key = key.to_owned();
    wasm_bindgen_futures::spawn_local(async move {
        sleep(delay_ms).await;
        let mine = PENDING.with(|p| {
            let mut p = p.borrow_mut();
            let mine = p.get(&key).is_some_and(|pending| pending.generation == generation);
            if mine {
                p.remove(&key);
            }
            mine
        });
        if mine {
            action();
        }
    });
}
