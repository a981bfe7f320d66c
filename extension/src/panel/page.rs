//! The panel page: this device's status, the search box and the other
//! devices' windows and tabs, kept fresh on `remote_changed`.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;

use baton_shared::native::{HostMessage, RequestBody, ServerState};
use baton_shared::session::RemoteDevice;
use wasm_bindgen::JsCast;
use web_sys::{Document, Element, Event};

use crate::panel::client::{self, Client, PageEvent};
use crate::panel::dom::{self, append, attr, set_hidden, set_state};
use crate::panel::list;
use crate::panel::model::{self, Catalog, Selection};
use crate::panel::pairing;
use crate::panel::send::{self, SendControl};
use crate::view::{self, Action, HostState, View};

/// Typing pauses this long before the list is filtered.
const SEARCH_DEBOUNCE_MS: i32 = 120;
/// Bursts of `remote_changed` collapse into one refresh.
const REFRESH_DEBOUNCE_MS: i32 = 150;
/// How often "seen 2 min ago" texts are brought up to date.
const CLOCK_TICK_MS: i32 = 30_000;

struct Panel {
    doc: Document,
    client: Client,
    send: Rc<SendControl>,
    catalog: RefCell<Catalog>,
    selection: RefCell<Selection>,
    /// The search the list was last drawn for.
    query: RefCell<String>,
    /// Windows opened past their preview, by (device id, window id).
    expanded: RefCell<HashSet<(String, i64)>>,
    /// Tabs whose history drawer is open, by (device id, tab id).
    history_open: RefCell<HashSet<(String, i64)>>,
    view: RefCell<Option<View>>,
    /// `list_devices` has answered at least once.
    loaded: Cell<bool>,
    list_error: RefCell<Option<String>>,
    /// Bumped on every redraw so unfinished chunked rendering stops.
    generation: Cell<u32>,
    search_timer: Cell<Option<i32>>,
    refresh_timer: Cell<Option<i32>>,
    refreshing: Cell<bool>,
    refresh_again: Cell<bool>,
    toast_timer: Cell<Option<i32>>,
}

pub fn start() {
    let Some(doc) = dom::document() else { return };
    // The client's callback needs the panel, which needs the client: tie the knot through a cell.
    let cell: Rc<RefCell<Option<Rc<Panel>>>> = Rc::new(RefCell::new(None));
    let slot = cell.clone();
    let client = client::connect(move |event| {
        let panel = slot.borrow().clone();
        if let Some(panel) = panel {
            panel.on_event(event);
        }
    });
    let send = match doc.get_element_by_id("send") {
        Some(container) => send::mount(&doc, &container, client.clone()),
        None => send::mount(&doc, &dom::el(&doc, "div", ""), client.clone()),
    };
    let panel = Rc::new(Panel {
        doc: doc.clone(),
        client: client.clone(),
        send,
        catalog: RefCell::new(Catalog::default()),
        selection: RefCell::new(Selection::default()),
        query: RefCell::new(String::new()),
        expanded: RefCell::new(HashSet::new()),
        history_open: RefCell::new(HashSet::new()),
        view: RefCell::new(None),
        loaded: Cell::new(false),
        list_error: RefCell::new(None),
        generation: Cell::new(0),
        search_timer: Cell::new(None),
        refresh_timer: Cell::new(None),
        refreshing: Cell::new(false),
        refresh_again: Cell::new(false),
        toast_timer: Cell::new(None),
    });
    *cell.borrow_mut() = Some(panel.clone());
    if let Some(container) = doc.get_element_by_id("pairing") {
        let me = panel.clone();
        pairing::mount(&doc, &container, client, move || me.schedule_refresh(0));
    }
    panel.wire();
    panel.render_list();
    panel.clock();
}

impl Panel {
    fn wire(self: &Rc<Self>) {
        if let Some(search) = self.doc.get_element_by_id("search") {
            let me = self.clone();
            dom::on(&search, "input", move |_| me.search_soon());
            let me = self.clone();
            dom::on(&search, "keydown", move |event| {
                let key = event.dyn_ref::<web_sys::KeyboardEvent>().map(|k| k.key()).unwrap_or_default();
                if key == "Escape" {
                    if let Some(input) =
                        me.doc.get_element_by_id("search").and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok())
                    {
                        input.set_value("");
                    }
                    me.search_soon();
                }
            });
        }
        if let Some(devices) = self.doc.get_element_by_id("devices") {
            let me = self.clone();
            dom::on(&devices, "click", move |event| me.on_list_click(&event));
            // A favicon that fails to load becomes a letter tile.
            let doc = self.doc.clone();
            dom::on_capture(&devices, "error", move |event| {
                let Some(img) = event.target().and_then(|t| t.dyn_into::<Element>().ok()) else { return };
                if img.class_name() == "favicon" {
                    let letter = img.get_attribute("data-letter").unwrap_or_default();
                    let _ = img.replace_with_with_node_1(&list::letter_tile(&doc, &letter));
                }
            });
        }
        let me = self.clone();
        dom::on_click(&self.doc, "sync-now", move |_| me.sync_now());
        let me = self.clone();
        dom::on_click(&self.doc, "retry", move |_| me.client.reconnect());
    }

    fn on_event(self: &Rc<Self>, event: PageEvent) {
        match event {
            PageEvent::View(v) => self.on_view(v),
            PageEvent::Host(HostMessage::RemoteChanged) => self.schedule_refresh(REFRESH_DEBOUNCE_MS),
            PageEvent::Host(HostMessage::Delivery { send_id, state }) => self.send.on_delivery(&send_id, state),
            PageEvent::Host(_) | PageEvent::Consoles(_) => {}
            PageEvent::Lost => {
                set_state(&self.doc, "host-state", "disconnected", "The Baton extension restarted; reopen this panel");
                if let Some(banner) = self.doc.get_element_by_id("banner") {
                    set_hidden(&banner, false);
                }
            }
        }
    }

    fn on_view(self: &Rc<Self>, v: View) {
        let before = self.view.replace(Some(v.clone()));
        let linked = |v: &View| {
            v.host == HostState::Connected
                && v.status.as_ref().is_some_and(|s| s.server.state == ServerState::Connected)
        };
        let others = |v: &View| v.status.as_ref().map(|s| s.sync.other_devices);
        let relist = match &before {
            None => v.host == HostState::Connected,
            Some(b) => {
                (v.host == HostState::Connected && b.host != HostState::Connected)
                    || (linked(&v) && !linked(b))
                    || others(&v) != others(b)
            }
        };
        self.render_header();
        if relist {
            self.schedule_refresh(0);
        } else if !self.loaded.get() {
            self.render_list();
        }
    }

    fn render_header(&self) {
        let Some(v) = self.view.borrow().clone() else { return };
        let doc = &self.doc;
        let (state, line) = view::host_line(&v);
        set_state(doc, "host-state", state, &line);
        let (state, line) = view::server_line(&v);
        set_state(doc, "server-state", state, &line);
        let (state, line) = view::device_line(&v);
        set_state(doc, "device-name", state, &line);
        let server_ok = v.status.as_ref().is_some_and(|s| s.server.state == ServerState::Connected);
        let healthy = v.host == HostState::Connected && server_ok;
        if let Some(banner) = doc.get_element_by_id("banner") {
            set_hidden(&banner, healthy);
            attr(&banner, "data-state", if v.host != HostState::Connected { "host" } else { "server" });
        }
        if let Some(retry) = doc.get_element_by_id("retry") {
            set_hidden(&retry, v.host != HostState::Disconnected);
        }
        match v.status.as_ref().filter(|_| v.host == HostState::Connected) {
            Some(status) => {
                let (state, line) = model::sync_line(&status.sync, dom::now_ms());
                set_state(doc, "sync-state", state, &line);
            }
            None => set_state(doc, "sync-state", "unknown", ""),
        }
    }

    fn search_soon(self: &Rc<Self>) {
        if let Some(t) = self.search_timer.take() {
            dom::cancel(t);
        }
        let me = self.clone();
        self.search_timer.set(Some(dom::after(SEARCH_DEBOUNCE_MS, move || {
            me.search_timer.set(None);
            me.render_list();
        })));
    }

    fn schedule_refresh(self: &Rc<Self>, delay_ms: i32) {
        if let Some(t) = self.refresh_timer.take() {
            dom::cancel(t);
        }
        let me = self.clone();
        self.refresh_timer.set(Some(dom::after(delay_ms, move || {
            me.refresh_timer.set(None);
            me.refresh();
        })));
    }

    /// Fetches the device list; a refresh asked for meanwhile runs after it.
    fn refresh(self: &Rc<Self>) {
        if self.refreshing.replace(true) {
            self.refresh_again.set(true);
            return;
        }
        let me = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            match me.client.host(RequestBody::ListDevices).await {
                Ok(HostMessage::Devices { devices, .. }) => me.set_devices(devices),
                Ok(other) => *me.list_error.borrow_mut() = Some(format!("Unexpected answer: {other:?}")),
                Err(e) => *me.list_error.borrow_mut() = Some(e.to_string()),
            }
            me.render_list();
            me.refreshing.set(false);
            if me.refresh_again.replace(false) {
                me.refresh();
            }
        });
    }

    fn set_devices(&self, devices: Vec<RemoteDevice>) {
        self.send.set_devices(&devices);
        *self.catalog.borrow_mut() = Catalog::new(devices);
        *self.list_error.borrow_mut() = None;
        self.loaded.set(true);
    }

    fn current_query(&self) -> String {
        dom::input_value(&self.doc, "search")
    }

    /// Redraws the list for the current search, keeping the scroll position,
    /// expanded windows and open history drawers.
    fn render_list(self: &Rc<Self>) {
        let Some(container) = self.doc.get_element_by_id("devices") else { return };
        let generation = self.generation.get().wrapping_add(1);
        self.generation.set(generation);
        let query = self.current_query();
        let window = web_sys::window();
        let scroll = window.as_ref().and_then(|w| w.scroll_y().ok()).unwrap_or(0.0);
        let selection = self.catalog.borrow().select(&query);
        self.render_empty(&selection);

        let catalog = self.catalog.borrow();
        attr(&container, "data-count", &catalog.devices.len().to_string());
        attr(&container, "data-tabs", &selection.total_tabs.to_string());
        attr(&container, "data-matched", &selection.matched_tabs.to_string());
        container.set_text_content(None);
        if let Some(line) = self.doc.get_element_by_id("result-count") {
            let text = if catalog.devices.is_empty() { String::new() } else { model::result_line(&selection, &query) };
            line.set_text_content(Some(&text));
        }
        let now = dom::now_ms();
        let mut reopen = Vec::new();
        for device_match in &selection.devices {
            let device = &catalog.devices[device_match.device];
            let shown: usize = device_match.windows.iter().map(|w| w.tabs.len()).sum();
            let section = list::device_section(&self.doc, device, shown, now);
            for (number, window_match) in device_match.windows.iter().enumerate() {
                let window = &device.windows[window_match.window];
                let (win, ul) =
                    list::window_section(&self.doc, window, number + 1, window_match.tabs.len(), selection.filtered);
                let expanded = self.expanded.borrow().contains(&(device.id.clone(), window.id));
                let total = window_match.tabs.len();
                let first = list::preview_len(total, false).min(total);
                for &t in &window_match.tabs[..first] {
                    let tab = &window.tabs[t];
                    append(&ul, &list::tab_row(&self.doc, tab));
                    if self.history_open.borrow().contains(&(device.id.clone(), tab.id)) {
                        reopen.push((device.id.clone(), tab.id));
                    }
                }
                if first < total {
                    if expanded {
                        self.append_rows(
                            ul.clone(),
                            device_match.device,
                            window_match.window,
                            window_match.tabs.clone(),
                            first,
                            generation,
                        );
                    } else {
                        append(&win, &list::show_all_button(&self.doc, first, total, selection.filtered));
                    }
                }
                append(&section, &win);
            }
            append(&container, &section);
        }
        drop(catalog);
        *self.selection.borrow_mut() = selection;
        *self.query.borrow_mut() = query;
        if let Some(w) = window {
            w.scroll_to_with_x_and_y(0.0, scroll);
        }
        self.history_open.borrow_mut().retain(|key| reopen.contains(key));
        for (device_id, tab_id) in reopen {
            self.load_history(&device_id, tab_id);
        }
    }

    /// Appends rows `from..` of a window in chunks, yielding between them.
    fn append_rows(
        self: &Rc<Self>,
        ul: Element,
        device: usize,
        window: usize,
        tabs: Vec<usize>,
        from: usize,
        generation: u32,
    ) {
        if self.generation.get() != generation {
            return;
        }
        let to = (from + list::CHUNK_ROWS).min(tabs.len());
        {
            let catalog = self.catalog.borrow();
            let Some(w) = catalog.devices.get(device).and_then(|d| d.windows.get(window)) else { return };
            let fragment = self.doc.create_document_fragment();
            for &t in &tabs[from..to] {
                if let Some(tab) = w.tabs.get(t) {
                    let _ = fragment.append_child(&list::tab_row(&self.doc, tab));
                }
            }
            let _ = ul.append_child(&fragment);
        }
        if to < tabs.len() {
            let me = self.clone();
            dom::after(0, move || me.append_rows(ul, device, window, tabs, to, generation));
        }
    }

    fn render_empty(&self, selection: &Selection) {
        let Some(empty) = self.doc.get_element_by_id("empty") else { return };
        let v = self.view.borrow().clone();
        let host_down = v.as_ref().is_some_and(|v| v.host == HostState::Disconnected);
        let no_devices = self.loaded.get() && self.catalog.borrow().devices.is_empty();
        let (state, title, detail): (&str, String, &str) = if !self.loaded.get() && host_down {
            let line = v.as_ref().map(|v| view::host_line(v).1).unwrap_or_default();
            ("host-disconnected", line, "Baton lists your other devices once the Baton app runs. Run baton-host doctor in a terminal to find out what is wrong.")
        } else if !self.loaded.get() {
            match self.list_error.borrow().clone() {
                Some(e) => (
                    "error",
                    format!("Could not list your devices: {e}"),
                    "Baton tries again when the connection comes back.",
                ),
                None => ("loading", "Loading your other devices…".to_owned(), ""),
            }
        } else if no_devices {
            (
                "no-devices",
                "No other devices yet".to_owned(),
                "To continue here what you browse elsewhere, pair your devices: choose “Add a device” below to show a code, then on the other device open Baton and type it under “Join another device’s account”.",
            )
        } else if selection.filtered && selection.matched_tabs == 0 {
            (
                "no-matches",
                format!("No tabs match “{}”", self.current_query().trim()),
                "Search looks in titles and addresses.",
            )
        } else {
            set_hidden(&empty, true);
            attr(&empty, "data-state", "none");
            return;
        };
        attr(&empty, "data-state", state);
        empty.set_text_content(None);
        append(&empty, &dom::text(&self.doc, "p", "empty-title", &title));
        if !detail.is_empty() {
            append(&empty, &dom::text(&self.doc, "p", "empty-detail", detail));
        }
        set_hidden(&empty, false);
        if no_devices {
            if let Some(details) = self.doc.get_element_by_id("pairing-details") {
                attr(&details, "open", "");
            }
        }
    }

    fn on_list_click(self: &Rc<Self>, event: &Event) {
        let Some(target) = dom::closest(event, "[data-action]") else { return };
        let action = target.get_attribute("data-action").unwrap_or_default();
        let attr_of =
            |selector: &str, name: &str| target.closest(selector).ok().flatten().and_then(|e| e.get_attribute(name));
        let device_id = attr_of("[data-device-id]", "data-device-id").unwrap_or_default();
        let window_id = attr_of("[data-window-id]", "data-window-id").and_then(|s| s.parse::<i64>().ok());
        let tab_id = attr_of("[data-tab-id]", "data-tab-id").and_then(|s| s.parse::<i64>().ok());
        match (action.as_str(), window_id, tab_id) {
            ("open-tab", _, Some(tab_id)) => self.act(Action::OpenRemoteTab { device_id, tab_id }, None),
            ("continue-window", Some(window_id), _) => {
                self.act(Action::ContinueWindow { device_id, window_id }, Some(target))
            }
            ("open-url", _, _) => {
                if let Some(url) = attr_of("[data-url]", "data-url") {
                    self.act(Action::OpenUrl { url }, None);
                }
            }
            ("show-all", Some(window_id), _) => self.expand(&target, device_id, window_id),
            ("history", _, Some(tab_id)) => self.toggle_history(&target, device_id, tab_id),
            _ => {}
        }
    }

    fn act(self: &Rc<Self>, action: Action, button: Option<Element>) {
        let me = self.clone();
        if let Some(b) = &button {
            attr(b, "disabled", "");
        }
        wasm_bindgen_futures::spawn_local(async move {
            let result = me.client.action(action).await;
            if let Some(b) = &button {
                let _ = b.remove_attribute("disabled");
            }
            if let Err(e) = result {
                me.toast("error", &format!("Could not open it here: {e}"));
            }
        });
    }

    fn expand(self: &Rc<Self>, button: &Element, device_id: String, window_id: i64) {
        let Some(section) = button.closest(".window").ok().flatten() else { return };
        let Some(ul) = section.query_selector("ul.tabs").ok().flatten() else { return };
        let found = {
            let catalog = self.catalog.borrow();
            let selection = self.selection.borrow();
            catalog.device_index(&device_id).and_then(|d| {
                let w = catalog.devices[d].windows.iter().position(|w| w.id == window_id)?;
                let tabs = selection
                    .devices
                    .iter()
                    .find(|m| m.device == d)?
                    .windows
                    .iter()
                    .find(|m| m.window == w)?
                    .tabs
                    .clone();
                Some((d, w, tabs))
            })
        };
        let Some((d, w, tabs)) = found else { return };
        self.expanded.borrow_mut().insert((device_id, window_id));
        button.remove();
        let shown = ul.child_element_count() as usize;
        self.append_rows(ul, d, w, tabs, shown, self.generation.get());
    }

    fn toggle_history(self: &Rc<Self>, button: &Element, device_id: String, tab_id: i64) {
        let Some(row) = button.closest(".tab").ok().flatten() else { return };
        if let Some(drawer) = row.query_selector(".history").ok().flatten() {
            drawer.remove();
            attr(button, "aria-expanded", "false");
            self.history_open.borrow_mut().remove(&(device_id, tab_id));
            return;
        }
        self.history_open.borrow_mut().insert((device_id.clone(), tab_id));
        self.load_history(&device_id, tab_id);
    }

    /// Fetches a tab's history into its drawer (found again by id, since the
    /// list may be redrawn while the request runs).
    fn load_history(self: &Rc<Self>, device_id: &str, tab_id: i64) {
        let Some(row) = self.tab_row(device_id, tab_id) else { return };
        if let Some(old) = row.query_selector(".history").ok().flatten() {
            old.remove();
        }
        let loading = dom::text(&self.doc, "div", "history", "Loading history…");
        attr(&loading, "data-state", "loading");
        append(&row, &loading);
        if let Some(toggle) = row.query_selector(".history-toggle").ok().flatten() {
            attr(&toggle, "aria-expanded", "true");
        }
        let me = self.clone();
        let device_id = device_id.to_owned();
        wasm_bindgen_futures::spawn_local(async move {
            let reply = me.client.host(RequestBody::TabDetails { device_id: device_id.clone(), tab_id }).await;
            if !me.history_open.borrow().contains(&(device_id.clone(), tab_id)) {
                return;
            }
            let Some(row) = me.tab_row(&device_id, tab_id) else { return };
            let drawer = match reply {
                Ok(HostMessage::TabDetails { history, .. }) => {
                    list::history_drawer(&me.doc, history.as_ref(), dom::now_ms())
                }
                Ok(other) => dom::text(&me.doc, "div", "history", &format!("Unexpected answer: {other:?}")),
                Err(e) => {
                    let d = dom::text(&me.doc, "div", "history", &format!("Could not load the history: {e}"));
                    attr(&d, "data-state", "error");
                    d
                }
            };
            if let Some(old) = row.query_selector(".history").ok().flatten() {
                old.remove();
            }
            append(&row, &drawer);
        });
    }

    fn tab_row(&self, device_id: &str, tab_id: i64) -> Option<Element> {
        let devices = self.doc.get_element_by_id("devices")?;
        let sections = devices.query_selector_all("section.device").ok()?;
        (0..sections.length())
            .filter_map(|i| sections.item(i)?.dyn_into::<Element>().ok())
            .find(|s| s.get_attribute("data-device-id").as_deref() == Some(device_id))?
            .query_selector(&format!("li.tab[data-tab-id=\"{tab_id}\"]"))
            .ok()?
    }

    fn sync_now(self: &Rc<Self>) {
        let Some(button) = self.doc.get_element_by_id("sync-now") else { return };
        attr(&button, "disabled", "");
        button.set_text_content(Some("Syncing…"));
        let me = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let result = me.client.host(RequestBody::SyncNow).await;
            let _ = button.remove_attribute("disabled");
            button.set_text_content(Some("Sync now"));
            match result {
                Ok(_) => me.schedule_refresh(0),
                Err(e) => me.toast("error", &format!("Sync failed: {e}")),
            }
        });
    }

    fn toast(self: &Rc<Self>, state: &str, message: &str) {
        let Some(toast) = self.doc.get_element_by_id("toast") else { return };
        set_state(&self.doc, "toast", state, message);
        set_hidden(&toast, false);
        if let Some(t) = self.toast_timer.take() {
            dom::cancel(t);
        }
        self.toast_timer.set(Some(dom::after(6000, move || set_hidden(&toast, true))));
    }

    /// Keeps relative times ("seen 2 min ago", "synced …") current.
    fn clock(self: &Rc<Self>) {
        let me = self.clone();
        dom::after(CLOCK_TICK_MS, move || {
            me.render_header();
            if let Ok(list) = me.doc.query_selector_all("[data-since]") {
                let now = dom::now_ms();
                for i in 0..list.length() {
                    let Some(e) = list.item(i).and_then(|n| n.dyn_into::<Element>().ok()) else { continue };
                    let since = e.get_attribute("data-since").and_then(|s| s.parse::<i64>().ok()).unwrap_or(now);
                    let prefix = e.get_attribute("data-prefix").unwrap_or_default();
                    e.set_text_content(Some(&format!("{prefix}{}", model::relative_time(since, now))));
                }
            }
            me.clock();
        });
    }
}
