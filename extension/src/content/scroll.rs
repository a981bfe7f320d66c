//! Scroll position with a text anchor: the first text near the top of the
//! viewport and how far below the top it sat. Restoring finds that text
//! again and puts it back at the same offset, which survives layout shifts
//! (late images, changed headers) that a raw `y` does not.

use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Document, Element, Node, Range, Window};

use baton_shared::limits::MAX_ANCHOR_TEXT;
use baton_shared::session::{ScrollAnchor, ScrollState};

use super::dom;
use super::text::collapse;

/// Shortest text worth anchoring on (shorter is too likely to repeat).
const MIN_ANCHOR_CHARS: usize = 8;
/// Text nodes looked at when restoring.
const MAX_NODES: u32 = 100_000;
/// Never anchored on: their text is user input, hidden, or not prose.
/// Private blocks (Baton's attribute and the settings' selectors) are
/// left out by [`dom::is_private`], and input without `contenteditable`
/// (design mode, `-webkit-user-modify`) by [`dom::editable_by_mode_or_style`].
const NOT_ANCHORS: &str = "[contenteditable], input, textarea, select, option, script, style, noscript, template";
const TEXT_NODE: u16 = 3;
const SHOW_TEXT: u32 = 4;

pub fn capture(win: &Window, doc: &Document) -> ScrollState {
    let x = win.scroll_x().unwrap_or(0.0).round() as i64;
    let y = win.scroll_y().unwrap_or(0.0).round() as i64;
    // Unknown settings: no anchor, rather than one that may be private.
    let private = dom::private_selector();
    let anchor = match private {
        Some(private) if y > 0 => find_anchor(win, doc, &private),
        _ => None,
    };
    ScrollState { x, y, anchor }
}

fn find_anchor(win: &Window, doc: &Document, private: &str) -> Option<ScrollAnchor> {
    let width = win.inner_width().ok()?.as_f64()?;
    let height = win.inner_height().ok()?.as_f64()?;
    let mut y = 8.0;
    while y < height / 2.0 {
        for x in [width * 0.3, width * 0.5, width * 0.15] {
            if let Some(anchor) = caret_node(doc, x, y).and_then(|n| anchor_at(doc, &n, private)) {
                return Some(anchor);
            }
        }
        y += 24.0;
    }
    None
}

/// The text node under a viewport point (`document.caretRangeFromPoint`).
fn caret_node(doc: &Document, x: f64, y: f64) -> Option<Node> {
    let f: js_sys::Function = js_sys::Reflect::get(doc, &"caretRangeFromPoint".into()).ok()?.dyn_into().ok()?;
    let range: Range = f.call2(doc, &JsValue::from(x), &JsValue::from(y)).ok()?.dyn_into().ok()?;
    let node = range.start_container().ok()?;
    (node.node_type() == TEXT_NODE).then_some(node)
}

fn anchor_at(doc: &Document, node: &Node, private: &str) -> Option<ScrollAnchor> {
    let parent: Element = node.parent_element()?;
    if !matches!(parent.closest(NOT_ANCHORS), Ok(None))
        || dom::is_private(&parent, Some(private))
        || dom::editable_by_mode_or_style(&parent)
    {
        return None;
    }
    let text = collapse(&node.text_content()?, MAX_ANCHOR_TEXT);
    if text.chars().count() < MIN_ANCHOR_CHARS {
        return None;
    }
    let top = node_top(doc, node)?;
    Some(ScrollAnchor { text, offset_px: top.round() as i64 })
}

fn node_top(doc: &Document, node: &Node) -> Option<f64> {
    let range = doc.create_range().ok()?;
    range.select_node_contents(node).ok()?;
    Some(range.get_bounding_client_rect().top())
}

/// Scrolls back; returns whether the position is final (anchor found, or
/// the saved `y` reached) — if not, the caller retries once more has rendered.
pub fn restore(win: &Window, doc: &Document, state: &ScrollState) -> bool {
    if let Some(target) = state.anchor.as_ref().and_then(|a| anchor_target(win, doc, a, state.y)) {
        win.scroll_to_with_x_and_y(state.x as f64, target);
        return true;
    }
    win.scroll_to_with_x_and_y(state.x as f64, state.y as f64);
    (win.scroll_y().unwrap_or(0.0) - state.y as f64).abs() < 2.0
}

/// The scroll `y` that puts the anchor text back at its offset; of several
/// matches, the one closest to the saved `y`.
fn anchor_target(win: &Window, doc: &Document, anchor: &ScrollAnchor, saved_y: i64) -> Option<f64> {
    let body = doc.body()?;
    let walker = doc.create_tree_walker_with_what_to_show(&body, SHOW_TEXT).ok()?;
    let wanted = anchor.text.chars().count();
    let scroll_y = win.scroll_y().unwrap_or(0.0);
    let mut best: Option<(f64, f64)> = None;
    for _ in 0..MAX_NODES {
        let Ok(Some(node)) = walker.next_node() else { break };
        let Some(data) = node.node_value() else { continue };
        if data.len() < MIN_ANCHOR_CHARS || collapse(&data, wanted) != anchor.text {
            continue;
        }
        let Some(top) = node_top(doc, &node) else { continue };
        let target = (top + scroll_y - anchor.offset_px as f64).max(0.0);
        let distance = (target - saved_y as f64).abs();
        if best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, target));
        }
    }
    best.map(|(_, target)| target)
}
