//! Replaying a recording: which frames to apply to reach a moment. Seeking
//! starts over from the last snapshot at or before the target (the mirror
//! can only go forward), forward play applies what lies in between.

use baton_shared::cobrowse::{Frame, VisitorFrame};
use baton_shared::native::RecordedPlain;

pub struct Timeline {
    pub frames: Vec<RecordedPlain>,
    /// Frames `..applied` are in the mirror.
    pub applied: usize,
}

impl Timeline {
    pub fn new(mut frames: Vec<RecordedPlain>) -> Timeline {
        frames.sort_by_key(|f| (f.at_ms, f.seq));
        Timeline { frames, applied: 0 }
    }

    /// Where the replay starts: the first snapshot, since nothing before it
    /// can be shown (a live session starts with the operator's keyframe
    /// request, the visitor's viewport, …); the first frame if none.
    pub fn start_ms(&self) -> i64 {
        self.frames.iter().find(|f| Self::is_snapshot(f)).or(self.frames.first()).map(|f| f.at_ms).unwrap_or(0)
    }

    /// Length in ms from the start to the last frame.
    pub fn duration_ms(&self) -> i64 {
        self.frames.last().map(|f| f.at_ms).unwrap_or(0) - self.start_ms()
    }

    /// Position (ms from start) of the last applied frame.
    pub fn position_ms(&self) -> i64 {
        match self.applied {
            0 => 0,
            n => self.frames[n - 1].at_ms - self.start_ms(),
        }
    }

    fn is_snapshot(f: &RecordedPlain) -> bool {
        matches!(f.frame, Frame::Visitor { frame: VisitorFrame::Snapshot(_) })
    }

    /// The frames to apply to show the moment `t_ms` (from the start):
    /// `(reset, range)`. `reset` means the mirror must start over with the
    /// range's first frame. Assets before the snapshot are included.
    pub fn seek(&mut self, t_ms: i64) -> (bool, std::ops::Range<usize>) {
        let target = self.start_ms() + t_ms;
        let end = self.frames.partition_point(|f| f.at_ms <= target);
        if end >= self.applied {
            let range = self.applied..end;
            self.applied = end;
            return (false, range);
        }
        // Backwards: from the last snapshot before `end`, and the asset
        // frames before it (assets are sent once per session).
        let snap = self.frames[..end].iter().rposition(Self::is_snapshot).unwrap_or(0);
        self.applied = end;
        (true, snap..end)
    }

    /// Asset frames before `index` (needed after a reset).
    pub fn assets_before(&self, index: usize) -> impl Iterator<Item = &RecordedPlain> {
        self.frames[..index].iter().filter(|f| matches!(f.frame, Frame::Visitor { frame: VisitorFrame::Assets { .. } }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_shared::cobrowse::{Mutations, Node, Role, Snapshot};

    fn at(seq: u64, at_ms: i64, frame: VisitorFrame) -> RecordedPlain {
        RecordedPlain { seq, from: Role::Visitor, at_ms, frame: Frame::Visitor { frame } }
    }

    fn snap() -> VisitorFrame {
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
    fn seeking_forward_and_back() {
        let m = || VisitorFrame::Mutations(Mutations::default());
        let mut t = Timeline::new(vec![
            at(1, 1000, VisitorFrame::Assets { assets: vec![] }),
            at(2, 1000, snap()),
            at(3, 1500, m()),
            at(4, 2000, snap()),
            at(5, 2600, m()),
        ]);
        assert_eq!(t.duration_ms(), 1600);
        assert_eq!(t.seek(600), (false, 0..3));
        assert_eq!(t.position_ms(), 500);
        assert_eq!(t.seek(2000), (false, 3..5));
        assert_eq!(t.seek(700), (true, 1..3));
        assert_eq!(t.assets_before(1).count(), 1);
        assert_eq!(t.seek(1100), (false, 3..4));
    }

    #[test]
    fn the_start_is_the_first_snapshot() {
        let mut t = Timeline::new(vec![
            at(1, 1000, VisitorFrame::Viewport { w: 1, h: 1 }),
            at(2, 1300, VisitorFrame::Assets { assets: vec![] }),
            at(3, 1350, snap()),
            at(4, 2000, VisitorFrame::Mutations(Mutations::default())),
        ]);
        assert_eq!(t.duration_ms(), 650);
        assert_eq!(t.seek(0), (false, 0..3), "position 0 shows the first snapshot");
    }
}
