//! Building the device list's elements: devices, windows, tab rows and the
//! history drawer. Clicks are handled once on the list (see `page`), so rows
//! carry their identity in data attributes and add no listeners.

use baton_shared::session::{RemoteDevice, RemoteWindow, TabHistory, TabState};
use web_sys::{Document, Element};

use crate::panel::dom::{append, attr, el, text};
use crate::panel::model;

/// Tabs of a window shown before its "Show all" button.
pub const PREVIEW_TABS: usize = 10;
/// A window with only this many more tabs than the preview shows them all.
const PREVIEW_SLACK: usize = 3;
/// Rows added per step when a long window is expanded, so the page stays responsive.
pub const CHUNK_ROWS: usize = 250;

/// How many of `total` rows to render before the "Show all" button.
pub fn preview_len(total: usize, expanded: bool) -> usize {
    if expanded || total <= PREVIEW_TABS + PREVIEW_SLACK {
        total
    } else {
        PREVIEW_TABS
    }
}

pub fn device_section(doc: &Document, device: &RemoteDevice, shown_tabs: usize, now_ms: i64) -> Element {
    let section = el(doc, "section", "device");
    attr(&section, "data-device-id", &device.id);
    attr(&section, "data-kind", device.kind.as_str());
    let head = el(doc, "header", "device-head");
    let kind = text(doc, "span", "kind", model::kind_label(device.kind));
    attr(&kind, "data-kind", device.kind.as_str());
    append(&head, &kind);
    append(&head, &text(doc, "h2", "device-name", &device.name));
    let seen = text(doc, "span", "last-seen", &format!("seen {}", model::relative_time(device.last_seen_ms, now_ms)));
    attr(&seen, "data-since", &device.last_seen_ms.to_string());
    attr(&seen, "data-prefix", "seen ");
    append(&head, &seen);
    let total = model::device_tab_count(device);
    let mut counts =
        format!("{} · {}", model::count(device.windows.len(), "window", "windows"), model::count(total, "tab", "tabs"));
    if shown_tabs != total {
        counts = format!("{} of {counts} match", model::thousands(shown_tabs));
    }
    append(&head, &text(doc, "span", "device-count", &counts));
    append(&section, &head);
    if device.windows.is_empty() {
        append(&section, &text(doc, "p", "device-empty", "No open windows on this device."));
    }
    section
}

/// A window's header and its (still empty) tab list.
pub fn window_section(
    doc: &Document,
    window: &RemoteWindow,
    number: usize,
    matched: usize,
    filtered: bool,
) -> (Element, Element) {
    let section = el(doc, "section", "window");
    attr(&section, "data-window-id", &window.id.to_string());
    let head = el(doc, "header", "window-head");
    append(&head, &text(doc, "h3", "window-name", &format!("Window {number}")));
    let total = window.tabs.len();
    let counts = if filtered {
        format!("{} of {}", model::thousands(matched), model::count(total, "tab", "tabs"))
    } else {
        model::count(total, "tab", "tabs")
    };
    let count = text(doc, "span", "window-count", &counts);
    attr(&count, "data-tabs", &total.to_string());
    append(&head, &count);
    if window.focused {
        append(&head, &text(doc, "span", "badge badge-focused", "Focused"));
    }
    let button = text(doc, "button", "continue", "Continue here");
    attr(&button, "type", "button");
    attr(&button, "data-action", "continue-window");
    attr(&button, "title", &format!("Reopen all {} in order on this device", model::count(total, "tab", "tabs")));
    append(&head, &button);
    append(&section, &head);
    let list = el(doc, "ul", "tabs");
    append(&section, &list);
    (section, list)
}

/// The button under a window whose list is cut short; says how many are hidden.
pub fn show_all_button(doc: &Document, shown: usize, total: usize, filtered: bool) -> Element {
    let what = if filtered { "matching tabs" } else { "tabs" };
    let label = format!("Show all {} {what} ({} more)", model::thousands(total), model::thousands(total - shown));
    let button = text(doc, "button", "show-all", &label);
    attr(&button, "type", "button");
    attr(&button, "data-action", "show-all");
    attr(&button, "data-hidden-tabs", &(total - shown).to_string());
    button
}

pub fn tab_row(doc: &Document, tab: &TabState) -> Element {
    let row = el(doc, "li", "tab");
    attr(&row, "data-tab-id", &tab.id.to_string());
    if tab.active {
        attr(&row, "data-active", "");
    }
    let open = el(doc, "button", "tab-open");
    attr(&open, "type", "button");
    attr(&open, "data-action", "open-tab");
    attr(&open, "title", &tab.url);
    append(&open, &favicon(doc, tab.fav_icon_url.as_deref(), &tab.url));
    let words = el(doc, "span", "tab-text");
    append(&words, &text(doc, "span", "tab-title", model::tab_label(tab)));
    append(&words, &text(doc, "span", "tab-host", &model::display_host(&tab.url)));
    append(&open, &words);
    if tab.pinned {
        append(&open, &text(doc, "span", "badge badge-pinned", "Pinned"));
    }
    if let Some(group) = &tab.group {
        let name = if group.name.trim().is_empty() { "Group" } else { group.name.as_str() };
        let badge = text(doc, "span", "badge badge-group", name);
        attr(&badge, "data-color", &group.color);
        append(&open, &badge);
    }
    append(&row, &open);
    let history = text(doc, "button", "history-toggle", "History");
    attr(&history, "type", "button");
    attr(&history, "data-action", "history");
    attr(&history, "aria-expanded", "false");
    attr(&history, "title", "Back and forward pages of this tab");
    append(&row, &history);
    row
}

/// An `<img>` for a safe favicon URL, else a letter tile. A favicon that
/// fails to load is swapped for the tile by the list's `error` handler.
pub fn favicon(doc: &Document, url: Option<&str>, page_url: &str) -> Element {
    let letter = model::favicon_letter(page_url);
    match model::safe_favicon(url) {
        Some(src) => {
            let img = el(doc, "img", "favicon");
            attr(&img, "src", src);
            attr(&img, "alt", "");
            attr(&img, "loading", "lazy");
            attr(&img, "referrerpolicy", "no-referrer");
            attr(&img, "data-letter", &letter);
            img
        }
        None => letter_tile(doc, &letter),
    }
}

pub fn letter_tile(doc: &Document, letter: &str) -> Element {
    let tile = text(doc, "span", "favicon favicon-letter", letter);
    attr(&tile, "aria-hidden", "true");
    tile
}

/// The drawer under a tab: its back/forward entries, the current one marked.
pub fn history_drawer(doc: &Document, history: Option<&TabHistory>, now_ms: i64) -> Element {
    let drawer = el(doc, "div", "history");
    let entries = history.map(|h| h.entries.as_slice()).unwrap_or_default();
    if entries.is_empty() {
        attr(&drawer, "data-state", "empty");
        append(&drawer, &text(doc, "p", "history-empty", "No back or forward pages were recorded for this tab."));
        return drawer;
    }
    attr(&drawer, "data-state", "loaded");
    let current = history.map(|h| h.current as usize).unwrap_or(0);
    let list = el(doc, "ol", "history-list");
    for (i, entry) in entries.iter().enumerate() {
        let item = el(doc, "li", "history-entry");
        attr(&item, "data-index", &i.to_string());
        attr(&item, "data-url", &entry.url);
        let button = el(doc, "button", "history-open");
        attr(&button, "type", "button");
        attr(&button, "data-action", "open-url");
        attr(&button, "title", &entry.url);
        let place = match i.cmp(&current) {
            std::cmp::Ordering::Less => "Back",
            std::cmp::Ordering::Equal => "Current",
            std::cmp::Ordering::Greater => "Forward",
        };
        if i == current {
            attr(&item, "data-current", "true");
        }
        append(&button, &text(doc, "span", "history-place", place));
        let title = if entry.title.trim().is_empty() { &entry.url } else { &entry.title };
        append(&button, &text(doc, "span", "history-title", title));
        append(
            &button,
            &text(
                doc,
                "span",
                "history-host",
                &format!("{} · {}", model::display_host(&entry.url), model::relative_time(entry.visited_ms, now_ms)),
            ),
        );
        append(&item, &button);
        append(&list, &item);
    }
    append(&drawer, &list);
    drawer
}
