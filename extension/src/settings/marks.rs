//! How extension pages reflect the settings: what the organisation turned
//! off disappears, and a notice says the setting is managed.
//!
//! The popup's "Share this tab" button (`#share-tab`) may be drawn after
//! the settings arrive, so besides hiding it when present, the page's
//! `<body data-cobrowsing="off">` and a style rule keep it hidden whenever
//! it appears.

use web_sys::{Document, Element};

use super::keys::Key;
use super::merge::Effective;
use super::MANAGED_LABEL;

const STYLE_ID: &str = "baton-settings-marks";
const STYLE: &str = "body[data-cobrowsing=\"off\"] #share-tab { display: none !important; }\n\
    .managed-notice p { margin: 8px 0 0; padding: 6px 8px; border-radius: 6px; background: #eef2f9; color: #26406b; }\n\
    .settings-warnings { margin: 8px 0 0; padding: 6px 8px 6px 22px; background: #fff4e5; color: #6b3d00; }";

/// Keeps the popup in line with the settings from now on.
pub fn watch_popup(doc: &Document) {
    let doc = doc.clone();
    super::store::watch(move |e| apply_to_popup(&doc, e));
}

pub fn apply_to_popup(doc: &Document, e: &Effective) {
    ensure_style(doc);
    let s = &e.settings;
    if let Some(body) = doc.body() {
        let _ = body.set_attribute("data-cobrowsing", if s.cobrowsing_enabled { "on" } else { "off" });
        let _ = body.set_attribute("data-continuation", if s.continuation_enabled { "on" } else { "off" });
    }
    if let Some(button) = doc.get_element_by_id("share-tab") {
        if s.cobrowsing_enabled {
            if button.has_attribute("data-hidden-by-settings") {
                let _ = button.remove_attribute("data-hidden-by-settings");
                let _ = button.remove_attribute("hidden");
            }
        } else {
            let _ = button.set_attribute("data-hidden-by-settings", "");
            let _ = button.set_attribute("hidden", "");
        }
    }
    if let Some(notice) = doc.get_element_by_id("managed-notice") {
        let lines = popup_notices(e);
        notice.set_text_content(None);
        for (key, text) in &lines {
            if let Ok(p) = doc.create_element("p") {
                let _ = p.set_attribute("data-setting", key.name());
                let _ = p.set_attribute("data-managed", "true");
                p.set_text_content(Some(text));
                let _ = notice.append_child(&p);
            }
        }
        set_hidden(&notice, lines.is_empty());
    }
    if let Some(list) = doc.get_element_by_id("settings-warnings") {
        fill_warnings(doc, &list, e);
    }
}

/// The popup's lines about managed settings that change what it offers.
pub fn popup_notices(e: &Effective) -> Vec<(Key, String)> {
    let mut lines = Vec::new();
    let s = &e.settings;
    if e.is_locked(Key::CobrowsingEnabled) && !s.cobrowsing_enabled {
        lines.push((Key::CobrowsingEnabled, format!("Co-browsing is turned off. {MANAGED_LABEL}.")));
    }
    if e.is_locked(Key::ContinuationEnabled) && !s.continuation_enabled {
        lines.push((Key::ContinuationEnabled, format!("Continuing on other devices is turned off. {MANAGED_LABEL}.")));
    }
    if lines.is_empty() && e.is_managed() {
        // Which setting does not matter here; the options page lists them.
        let key = e.locked.iter().next().copied().unwrap_or(Key::ServerUrl);
        lines.push((key, format!("Some of Baton's settings are {}.", MANAGED_LABEL.to_lowercase())));
    }
    lines
}

/// Fills a list element with the settings' warnings; hidden when there are none.
pub fn fill_warnings(doc: &Document, list: &Element, e: &Effective) {
    list.set_text_content(None);
    for w in &e.warnings {
        if let Ok(li) = doc.create_element("li") {
            let _ = li.set_attribute("data-setting", w.key.name());
            li.set_text_content(Some(&w.text()));
            let _ = list.append_child(&li);
        }
    }
    set_hidden(list, e.warnings.is_empty());
}

fn ensure_style(doc: &Document) {
    if doc.get_element_by_id(STYLE_ID).is_some() {
        return;
    }
    let Ok(style) = doc.create_element("style") else { return };
    style.set_id(STYLE_ID);
    style.set_text_content(Some(STYLE));
    if let Ok(Some(head)) = doc.query_selector("head") {
        let _ = head.append_child(&style);
    }
}

pub fn set_hidden(el: &Element, hidden: bool) {
    let _ = if hidden { el.set_attribute("hidden", "") } else { el.remove_attribute("hidden") };
}
