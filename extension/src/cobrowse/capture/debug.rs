//! Diagnostics for tests and benchmarks: runs a [`Recorder`] in the content
//! script with a sink that keeps the frames in memory. Reachable only from
//! the content script's isolated world (or extension pages), never from the
//! page; the frames never leave the content script.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;

use super::{live, MaskPolicy, Recorder};

thread_local! {
    static RECORDER: RefCell<Option<Recorder>> = const { RefCell::new(None) };
    static FRAMES: Rc<RefCell<Vec<String>>> = Rc::new(RefCell::new(Vec::new()));
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

/// Starts a diagnostic capture (stopping any earlier one). Selectors are
/// one per line.
#[wasm_bindgen]
pub fn debug_capture_start(private_selectors: &str, safe_selectors: &str) -> Result<(), JsValue> {
    debug_capture_stop();
    let frames = FRAMES.with(Rc::clone);
    frames.borrow_mut().clear();
    let perf = web_sys::window().and_then(|w| w.performance());
    let sink = Rc::new(move |frame: baton_shared::cobrowse::VisitorFrame| {
        let at = perf.as_ref().map(|p| p.now()).unwrap_or(0.0);
        let json = serde_json::to_string(&frame).unwrap_or_default();
        frames.borrow_mut().push(format!("{{\"at\":{at},\"frame\":{json}}}"));
    });
    let policy = MaskPolicy { private_selectors: lines(private_selectors), safe_selectors: lines(safe_selectors) };
    let recorder = Recorder::start(policy, sink).map_err(|e| JsValue::from_str(&format!("{e:?}")))?;
    RECORDER.with(|r| *r.borrow_mut() = Some(recorder));
    Ok(())
}

/// Turns the one-call bulk read of the document off (or on again), so that
/// tests can compare it with the per-node walk.
#[wasm_bindgen]
pub fn debug_capture_bulk(enabled: bool) {
    live::set_bulk_enabled(enabled);
}

/// Warms the capture path up as sharing does before the operator joins
/// ([`super::prepare`]), with the frames serialized like the diagnostic sink's.
#[wasm_bindgen]
pub fn debug_capture_prepare(private_selectors: &str, safe_selectors: &str) {
    let policy = MaskPolicy { private_selectors: lines(private_selectors), safe_selectors: lines(safe_selectors) };
    super::prepare(
        policy,
        Rc::new(|frame: baton_shared::cobrowse::VisitorFrame| {
            let _ = serde_json::to_string(&frame);
        }),
    );
}

/// The frames emitted since the last call, as a JSON array of
/// `{"at": ms, "frame": …}`.
#[wasm_bindgen]
pub fn debug_capture_take() -> String {
    let taken = FRAMES.with(|f| std::mem::take(&mut *f.borrow_mut()));
    format!("[{}]", taken.join(","))
}

/// `{"snapshot_ms": …, "max_slice_ms": …, "work_ms": …, "slices": …,
/// "bulk": …, "tasks": […]}` of the last snapshot: wall time from start to the snapshot
/// handed to the sink, the longest slice, the time spent working (wall
/// time less the yields), the number of slices, whether the document was
/// read in bulk, and each task's work.
#[wasm_bindgen]
pub fn debug_capture_stats() -> String {
    RECORDER.with(|r| {
        let (snapshot_ms, tasks, bulk) = r.borrow().as_ref().map(|r| live::stats(&r.inner)).unwrap_or_default();
        let max_slice_ms = tasks.iter().copied().fold(0.0, f64::max);
        let work_ms: f64 = tasks.iter().sum();
        format!(
            "{{\"snapshot_ms\":{snapshot_ms},\"max_slice_ms\":{max_slice_ms},\"work_ms\":{work_ms},\"slices\":{},\"bulk\":{bulk},\"tasks\":{tasks:?}}}",
            tasks.len()
        )
    })
}

#[wasm_bindgen]
pub fn debug_capture_keyframe() {
    RECORDER.with(|r| {
        if let Some(r) = r.borrow().as_ref() {
            r.keyframe();
        }
    });
}

/// Whether the node under `selector` (in the main document) is protected.
#[wasm_bindgen]
pub fn debug_capture_protected(selector: &str) -> Option<bool> {
    let el = web_sys::window()?.document()?.query_selector(selector).ok()??;
    RECORDER.with(|r| {
        let r = r.borrow();
        let r = r.as_ref()?;
        let id = r.id_of(el.as_ref())?;
        Some(r.is_protected(id))
    })
}

#[wasm_bindgen]
pub fn debug_capture_outlines(on: bool) {
    RECORDER.with(|r| {
        if let Some(r) = r.borrow().as_ref() {
            r.set_outlines(on);
        }
    });
}

#[wasm_bindgen]
pub fn debug_capture_stop() {
    if let Some(r) = RECORDER.with(|r| r.borrow_mut().take()) {
        r.stop();
    }
}
