//! Reading and writing the settings in the browser: `chrome.storage.managed`
//! (set by policy, read-only) merged over `chrome.storage.local`, cached for
//! [`current`], and re-read whenever either area changes.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde_json::{Map, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::keys::Key;
use super::merge::{self, ChangeError, Effective};
use crate::capture::api::{call, js};
use crate::chrome;

type Watcher = Rc<dyn Fn(&Effective)>;

thread_local! {
    static CURRENT: RefCell<Option<Rc<Effective>>> = const { RefCell::new(None) };
    static WATCHERS: RefCell<Vec<Watcher>> = const { RefCell::new(Vec::new()) };
    static LISTENING: Cell<bool> = const { Cell::new(false) };
}

/// Why the settings could not be read at all.
#[derive(Debug, Clone)]
pub struct Unreadable(pub String);

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot read Baton's settings: {}", self.0)
    }
}

/// Why a change was not saved.
#[derive(Debug, Clone)]
pub enum SaveError {
    Refused(ChangeError),
    Storage(String),
}

impl std::fmt::Display for SaveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SaveError::Refused(e) => e.fmt(f),
            SaveError::Storage(e) => write!(f, "cannot save: {e}"),
        }
    }
}

/// The settings as last read, if they have been read in this context.
pub fn current() -> Option<Rc<Effective>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Reads both areas and merges them. The person's area must be readable;
/// an unavailable managed area (no policy support) counts as empty.
pub async fn load() -> Result<Rc<Effective>, Unreadable> {
    let managed = match read_area("managed").await {
        Ok(m) => m,
        Err(e) => {
            chrome::log(&format!("baton: no managed settings ({e})"));
            Map::new()
        }
    };
    let local = read_area("local").await.map_err(Unreadable)?;
    let effective = Rc::new(merge::merge(&managed, &local));
    for w in &effective.warnings {
        chrome::log(&format!("baton: {}", w.text()));
    }
    CURRENT.with(|c| *c.borrow_mut() = Some(effective.clone()));
    Ok(effective)
}

/// Like [`load`], with the defaults when the settings cannot be read.
pub async fn load_or_default() -> Rc<Effective> {
    match load().await {
        Ok(e) => e,
        Err(e) => {
            chrome::log(&format!("baton: {e}"));
            Rc::new(Effective::default())
        }
    }
}

/// Calls `f` with the settings now and after every change to them.
pub fn watch(f: impl Fn(&Effective) + 'static) {
    let f: Watcher = Rc::new(f);
    WATCHERS.with(|w| w.borrow_mut().push(f.clone()));
    listen_once();
    wasm_bindgen_futures::spawn_local(async move {
        let e = load_or_default().await;
        f(&e);
    });
}

/// A storage change elsewhere (the worker's loader forwards
/// `storage.onChanged`): re-reads and tells the watchers.
pub fn changed() {
    wasm_bindgen_futures::spawn_local(async {
        let e = load_or_default().await;
        let watchers: Vec<Watcher> = WATCHERS.with(|w| w.borrow().clone());
        for w in watchers {
            w(&e);
        }
    });
}

/// Stores the person's value for `key` (`null` clears it); refused when the
/// organisation manages `key` or the value does not pass.
pub async fn set(key: Key, value: Value) -> Result<(), SaveError> {
    let now = load().await.map_err(|e| SaveError::Storage(e.0))?;
    merge::check_change(&now, key, &value).map_err(SaveError::Refused)?;
    let result = if value.is_null() {
        call("storage.local.remove", &[key.name().into()]).await
    } else {
        let mut items = Map::new();
        items.insert(key.name().to_owned(), value);
        call("storage.local.set", &[js(&Value::Object(items))]).await
    };
    result.map(|_| ()).map_err(SaveError::Storage)
}

async fn read_area(area: &str) -> Result<Map<String, Value>, String> {
    let items = call(&format!("storage.{area}.get"), &[JsValue::NULL]).await?;
    if items.is_undefined() || items.is_null() {
        return Ok(Map::new());
    }
    match chrome::from_js::<Value>(&items)? {
        Value::Object(m) => Ok(m),
        other => Err(format!("storage.{area} returned {other}")),
    }
}

fn listen_once() {
    if LISTENING.with(|l| l.replace(true)) {
        return;
    }
    let on_changed = Closure::<dyn FnMut(JsValue, JsValue)>::new(|_changes: JsValue, area: JsValue| {
        if matches!(area.as_string().as_deref(), Some("managed" | "local")) {
            changed();
        }
    });
    let event = js_sys::Reflect::get(&js_sys::global(), &"chrome".into())
        .and_then(|c| js_sys::Reflect::get(&c, &"storage".into()))
        .and_then(|s| js_sys::Reflect::get(&s, &"onChanged".into()));
    match event {
        Ok(event) if !event.is_undefined() => {
            let event: chrome::ChromeEvent = event.unchecked_into();
            event.add_listener(on_changed.as_ref().unchecked_ref());
            on_changed.forget();
        }
        _ => chrome::log("baton: chrome.storage.onChanged is not available; settings are read once"),
    }
}
