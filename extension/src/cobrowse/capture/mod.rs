//! The capture engine: what the operator's mirror is made of.
//!
//! [`Recorder::start`] walks the document in time slices (no task longer
//! than `limits::CAPTURE_SLICE_MS` of work), emits `Assets` then a
//! `Snapshot`, and from then on incremental frames (mutations, input,
//! scroll, pointer, selection, viewport) to the sink. Masking happens here,
//! before anything reaches the sink.

use std::rc::Rc;

use baton_shared::cobrowse::{NodeId, VisitorFrame};

/// Site or policy masking rules on top of the built-in ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaskPolicy {
    /// Extra selectors whose text, values, attributes and images are hidden.
    pub private_selectors: Vec<String>,
    /// Selectors of input fields whose values may be shown (never passwords,
    /// `cc-*` or one-time codes).
    pub safe_selectors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureError {
    /// The page has no document element yet.
    NoDocument,
    Unavailable(String),
}

pub type Sink = Rc<dyn Fn(VisitorFrame)>;

/// A running capture of the current document.
pub struct Recorder {
    _sink: Sink,
}

impl Recorder {
    /// Starts capturing: a snapshot (time-sliced), then incremental frames.
    pub fn start(_policy: MaskPolicy, sink: Sink) -> Result<Recorder, CaptureError> {
        Err(CaptureError::Unavailable(format!("capture engine not built yet ({})", Rc::strong_count(&sink))))
    }

    /// Sends a fresh snapshot (after a gap, a reconnect or a new console).
    pub fn keyframe(&self) {}

    /// The live node behind an id of the current snapshot.
    pub fn node(&self, _id: NodeId) -> Option<web_sys::Node> {
        None
    }

    /// The id of a live node, if captured.
    pub fn id_of(&self, _node: &web_sys::Node) -> Option<NodeId> {
        None
    }

    /// Whether the node is masked, private or a never-captured field (or
    /// inside one): control commands must refuse it.
    pub fn is_protected(&self, _id: NodeId) -> bool {
        true
    }

    /// Shows or hides the visitor-side outline on everything hidden from the operator.
    pub fn set_outlines(&self, _on: bool) {}

    /// Stops observing and removes everything the recorder added to the page.
    pub fn stop(self) {}
}
