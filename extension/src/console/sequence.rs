//! Sequence tracking for the visitor's frames: a gap, a reconnect or a
//! mutation the mirror cannot place makes the console ask for a keyframe,
//! and page records are discarded until the snapshot arrives. Requests are
//! repeated if no snapshot comes within [`KEYFRAME_RETRY_MS`].

use baton_shared::cobrowse::VisitorFrame;

pub const KEYFRAME_RETRY_MS: i64 = 3_000;

/// What to do with one incoming frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Apply,
    /// Apply, and send a `KeyframeRequest` first.
    ApplyAndRequest,
    Discard,
    /// Discard, and send a `KeyframeRequest`.
    DiscardAndRequest,
}

impl Decision {
    pub fn applies(self) -> bool {
        matches!(self, Self::Apply | Self::ApplyAndRequest)
    }

    pub fn requests(self) -> bool {
        matches!(self, Self::ApplyAndRequest | Self::DiscardAndRequest)
    }
}

#[derive(Debug, Default)]
pub struct Sequencer {
    last: Option<u64>,
    /// Waiting for a snapshot: page records are discarded.
    awaiting: bool,
    requested_at: Option<i64>,
    pub gaps: u64,
    pub requests: u64,
}

/// Records that change the page and only make sense on top of the current snapshot.
pub fn is_page_record(frame: &VisitorFrame) -> bool {
    matches!(
        frame,
        VisitorFrame::Mutations(_)
            | VisitorFrame::Input(_)
            | VisitorFrame::Scroll { .. }
            | VisitorFrame::Selection { .. }
            | VisitorFrame::TopLayer { .. }
            | VisitorFrame::Canvas { .. }
            | VisitorFrame::Focus { .. }
            | VisitorFrame::Address { .. }
    )
}

impl Sequencer {
    pub fn last_seq(&self) -> Option<u64> {
        self.last
    }

    pub fn awaiting_keyframe(&self) -> bool {
        self.awaiting
    }

    /// A fresh console, a reconnect (`Resumed`) or a record the mirror could
    /// not apply: returns whether to send a request now.
    pub fn need_keyframe(&mut self, now_ms: i64) -> bool {
        self.awaiting = true;
        self.request_if_due(now_ms, true)
    }

    fn request_if_due(&mut self, now_ms: i64, fresh_reason: bool) -> bool {
        let due = match self.requested_at {
            None => true,
            // A new reason re-requests after a short pause; otherwise wait for the retry.
            Some(at) => now_ms - at >= if fresh_reason { 250 } else { KEYFRAME_RETRY_MS },
        };
        if due {
            self.requested_at = Some(now_ms);
            self.requests += 1;
        }
        due
    }

    /// Called periodically: re-request when the snapshot is overdue.
    pub fn tick(&mut self, now_ms: i64) -> bool {
        self.awaiting && self.request_if_due(now_ms, false)
    }

    /// Decides about the frame numbered `seq`.
    pub fn on_frame(&mut self, seq: u64, frame: &VisitorFrame, now_ms: i64) -> Decision {
        if let Some(last) = self.last {
            if seq <= last {
                return Decision::Discard; // a duplicate after a resume
            }
        }
        let gap = self.last.is_some_and(|last| seq > last + 1);
        self.last = Some(seq);
        if gap {
            self.gaps += 1;
            self.awaiting = true;
        }
        let requested = gap && self.request_if_due(now_ms, true);
        if matches!(frame, VisitorFrame::Snapshot(_)) {
            self.awaiting = false;
            self.requested_at = None;
            return Decision::Apply;
        }
        let discard = self.awaiting && is_page_record(frame);
        match (discard, requested) {
            (true, true) => Decision::DiscardAndRequest,
            (true, false) => Decision::Discard,
            (false, true) => Decision::ApplyAndRequest,
            (false, false) => Decision::Apply,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_shared::cobrowse::{Mutations, Node, Snapshot};

    fn muts() -> VisitorFrame {
        VisitorFrame::Mutations(Mutations::default())
    }

    fn snapshot() -> VisitorFrame {
        VisitorFrame::Snapshot(Box::new(Snapshot {
            url: "https://a".into(),
            title: String::new(),
            doctype: None,
            root: Node::Comment { i: 1 },
            viewport: (1, 1),
            scroll: vec![],
            prefers: vec![],
            base: None,
            generation: 0,
        }))
    }

    #[test]
    fn in_order_frames_apply() {
        let mut s = Sequencer::default();
        assert_eq!(s.on_frame(1, &snapshot(), 0), Decision::Apply);
        assert_eq!(s.on_frame(2, &muts(), 0), Decision::Apply);
        assert_eq!(s.on_frame(2, &muts(), 0), Decision::Discard, "duplicate");
        assert_eq!(s.last_seq(), Some(2));
    }

    #[test]
    fn a_gap_requests_a_keyframe_and_discards_until_it_comes() {
        let mut s = Sequencer::default();
        s.on_frame(1, &snapshot(), 0);
        assert_eq!(s.on_frame(3, &muts(), 10), Decision::DiscardAndRequest);
        assert_eq!(s.on_frame(4, &muts(), 20), Decision::Discard);
        assert_eq!(
            s.on_frame(5, &VisitorFrame::Pointer { x: 1, y: 1, on: None }, 20),
            Decision::Apply,
            "not a page record"
        );
        assert!(!s.tick(1000));
        assert!(s.tick(3100), "re-requested when overdue");
        assert_eq!(s.on_frame(6, &snapshot(), 3200), Decision::Apply);
        assert_eq!(s.on_frame(7, &muts(), 3300), Decision::Apply);
        assert_eq!(s.gaps, 1);
        assert_eq!(s.requests, 2);
    }

    #[test]
    fn a_fresh_console_waits_for_its_snapshot() {
        let mut s = Sequencer::default();
        assert!(s.need_keyframe(0));
        assert!(!s.need_keyframe(100), "not twice in a row");
        assert!(s.need_keyframe(400), "a new reason after a pause");
        assert_eq!(s.on_frame(10, &muts(), 500), Decision::Discard);
        assert_eq!(s.on_frame(11, &snapshot(), 600), Decision::Apply);
    }
}
