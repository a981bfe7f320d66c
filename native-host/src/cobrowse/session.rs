//! One live co-browsing session as this host holds it: role, key, sequence
//! numbers, and the queue of messages waiting for the relay.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use baton_shared::cobrowse::{Frame, RelayMessage, Role, SessionState};
use baton_shared::limits::{RELAY_QUEUE_BYTES, RELAY_QUEUE_FRAMES};
use baton_shared::native::{CobrowseEvent, HostMessage, LiveSession};

use super::keys::FrameKey;
use crate::context::EventSink;
use crate::crypto::CodeKey;

/// Work for the session's encoder, done in order so that audits and the
/// final `End` leave after the frames submitted before them.
pub enum EncodeJob {
    /// A frame to seal, with its number.
    Frame(u64, Box<Frame>),
    /// A control message, already encoded.
    Control(Outgoing),
    /// Everything before this is queued: the relay may close once it is sent.
    Close,
}

pub struct Session {
    pub id: String,
    pub role: Role,
    /// Visitor: its half of the key agreement, until the operator's arrives.
    pub agreement: Mutex<Option<CodeKey>>,
    /// Visitor: the public key of the operator the key was agreed with.
    pub operator_key: Mutex<Option<String>>,
    key: OnceLock<Arc<FrameKey>>,
    /// The last sequence number given to an outgoing frame.
    last_out: AtomicU64,
    /// The last number given to an outgoing audit entry.
    last_audit: AtomicU64,
    /// Visitor: consent given, so frames may leave.
    pub approved: AtomicBool,
    /// No more events for this session (ended here or by the other side).
    ended: AtomicBool,
    /// Ended from this side: the relay connection stays (reconnecting if
    /// need be) until the relay answers our `End`. Set at once by
    /// [`Session::finish`].
    closing: AtomicBool,
    /// The encoder has queued everything up to our `End`: once the queue
    /// is drained, close. Set after `End` is in the queue, so a connection
    /// that reads it before draining never closes ahead of `End`.
    queue_complete: AtomicBool,
    /// Stops the relay connection at once.
    pub stop: Notify,
    pub out: OutQueue,
    pub incoming: Mutex<IncomingSeq>,
    encode: Mutex<Option<mpsc::UnboundedSender<EncodeJob>>>,
    events: EventSink,
    /// What the events told so far, for a page that opens mid-session.
    told: Mutex<Told>,
}

/// The lasting part of a session's events: the latest of each.
#[derive(Debug, Clone)]
struct Told {
    peer_name: Option<String>,
    state: SessionState,
    peer_present: bool,
    peer_away_ends_at_ms: Option<i64>,
    recording_stopped: Option<u64>,
}

impl Told {
    fn hear(&mut self, event: &CobrowseEvent) {
        match event {
            CobrowseEvent::OperatorJoined { operator_name } => self.peer_name = Some(operator_name.clone()),
            CobrowseEvent::State { state } => self.state = *state,
            CobrowseEvent::Peer { present, ends_at_ms } => {
                self.peer_present = *present;
                self.peer_away_ends_at_ms = if *present { None } else { *ends_at_ms };
            }
            CobrowseEvent::RecordingStopped { max_bytes } => self.recording_stopped = Some(*max_bytes),
            CobrowseEvent::Ended { .. } => self.state = SessionState::Ended,
            CobrowseEvent::Frame { .. } | CobrowseEvent::Resumed | CobrowseEvent::Error { .. } => {}
        }
    }
}

impl Session {
    /// `peer_name`: the other side's name if known already (the visitor's,
    /// for an operator who joined).
    pub fn new(
        id: String,
        role: Role,
        peer_name: Option<String>,
        events: EventSink,
    ) -> (Arc<Session>, mpsc::UnboundedReceiver<EncodeJob>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let session = Session {
            id,
            role,
            agreement: Mutex::new(None),
            operator_key: Mutex::new(None),
            key: OnceLock::new(),
            last_out: AtomicU64::new(0),
            last_audit: AtomicU64::new(0),
            approved: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            queue_complete: AtomicBool::new(false),
            stop: Notify::new(),
            out: OutQueue::default(),
            incoming: Mutex::new(IncomingSeq::default()),
            encode: Mutex::new(Some(tx)),
            events,
            told: Mutex::new(Told {
                peer_name,
                state: match role {
                    Role::Visitor => SessionState::Waiting,
                    Role::Operator => SessionState::AwaitingConsent,
                },
                peer_present: false,
                peer_away_ends_at_ms: None,
                recording_stopped: None,
            }),
        };
        (Arc::new(session), rx)
    }

    pub fn peer_role(&self) -> Role {
        match self.role {
            Role::Visitor => Role::Operator,
            Role::Operator => Role::Visitor,
        }
    }

    pub fn key(&self) -> Option<Arc<FrameKey>> {
        self.key.get().cloned()
    }

    pub fn set_key(&self, key: FrameKey) {
        let _ = self.key.set(Arc::new(key));
    }

    /// Numbers a frame and hands it to the encoder; false once the session ended.
    pub fn submit(&self, frame: Frame) -> bool {
        let Ok(encode) = self.encode.lock() else { return false };
        let Some(tx) = encode.as_ref() else { return false };
        let seq = self.last_out.fetch_add(1, Ordering::SeqCst) + 1;
        tx.send(EncodeJob::Frame(seq, Box::new(frame))).is_ok()
    }

    /// Queues a control message (audit, end) for the relay, behind the
    /// frames submitted before it. Audit entries are numbered here, in
    /// queue order, for the relay's `Applied`.
    pub fn queue(&self, message: RelayMessage) {
        let Ok(encode) = self.encode.lock() else { return };
        let (message, n) = match message {
            RelayMessage::Audit { event, .. } => {
                let n = self.last_audit.fetch_add(1, Ordering::SeqCst) + 1;
                (RelayMessage::Audit { event, n: Some(n) }, Some(n))
            }
            other => (other, None),
        };
        let Ok(text) = serde_json::to_string(&message) else { return };
        let item = Outgoing { text: text.into(), kind: OutKind::Control(n) };
        let encoding = encode.as_ref().is_some_and(|tx| tx.send(EncodeJob::Control(item.clone())).is_ok());
        if !encoding {
            self.out.push(item);
        }
    }

    /// Called by the encoder when it reaches [`EncodeJob::Close`].
    pub fn close_after_queue(&self) {
        self.queue_complete.store(true, Ordering::SeqCst);
        self.out.ready.notify_one();
    }

    pub fn emit(&self, event: CobrowseEvent) {
        if !self.is_ended() {
            self.emit_always(event);
        }
    }

    fn emit_always(&self, event: CobrowseEvent) {
        // Frames (the hot path) leave nothing lasting.
        if !matches!(event, CobrowseEvent::Frame { .. }) {
            if let Ok(mut told) = self.told.lock() {
                told.hear(&event);
            }
        }
        self.events.send(HostMessage::Cobrowse { session_id: self.id.clone(), event });
    }

    /// The session as its events have told it so far.
    pub fn live(&self) -> Option<LiveSession> {
        let told = self.told.lock().ok()?.clone();
        Some(LiveSession {
            session_id: self.id.clone(),
            role: self.role,
            peer_name: told.peer_name,
            state: told.state,
            peer_present: told.peer_present,
            peer_away_ends_at_ms: told.peer_away_ends_at_ms,
            recording_stopped: told.recording_stopped,
        })
    }

    pub fn is_ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// Everything this side will send is in the queue (see `queue_complete`).
    pub fn is_queue_complete(&self) -> bool {
        self.queue_complete.load(Ordering::SeqCst)
    }

    /// Ends the session from this side: `End` (saying `told` to the other
    /// side) follows every frame queued before it, then the relay connection
    /// closes; this side's `Ended` event says `here`.
    pub fn end_here(&self, told: Option<String>, here: Option<String>) {
        self.queue(RelayMessage::End { reason: told });
        self.finish(here, true);
    }

    /// Ends the session for this host: one `Ended` event, no more frames.
    /// `flush` keeps the relay connection until the queue (ending with our
    /// `End`) has gone out; otherwise it stops at once.
    pub fn finish(&self, reason: Option<String>, flush: bool) {
        if self.ended.swap(true, Ordering::SeqCst) {
            return;
        }
        if flush {
            self.closing.store(true, Ordering::SeqCst);
        }
        let encoder = self.encode.lock().ok().and_then(|mut e| e.take());
        self.emit_always(CobrowseEvent::Ended { reason });
        if flush {
            // The encoder closes once it has queued everything before this.
            if encoder.is_none_or(|tx| tx.send(EncodeJob::Close).is_err()) {
                self.close_after_queue();
            }
        } else {
            self.stop.notify_one();
        }
    }
}

/// The sessions this host holds, by id.
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, Arc<Session>>>);

impl Sessions {
    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.0.lock().ok()?.get(id).cloned()
    }

    pub fn insert(&self, session: Arc<Session>) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(session.id.clone(), session);
        }
    }

    /// The sessions not ended, as last told.
    pub fn live(&self) -> Vec<LiveSession> {
        let Ok(map) = self.0.lock() else { return Vec::new() };
        let mut live: Vec<_> = map.values().filter(|s| !s.is_ended()).filter_map(|s| s.live()).collect();
        live.sort_by(|a, b| a.session_id.cmp(&b.session_id));
        live
    }

    pub fn remove(&self, id: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(id);
        }
    }

    /// Removes and returns every session.
    pub fn take_all(&self) -> Vec<Arc<Session>> {
        self.0.lock().map(|mut map| map.drain().map(|(_, s)| s).collect()).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutKind {
    /// An incremental frame: dropped first when the queue overflows.
    Frame,
    /// A snapshot: dropped only if nothing else can be.
    Keyframe,
    /// Audit (with its number) and end: never dropped, and kept after
    /// sending until the relay answers (`Applied`, or its `End`).
    Control(Option<u64>),
}

#[derive(Debug, Clone)]
pub struct Outgoing {
    pub text: Utf8Bytes,
    pub kind: OutKind,
}

/// Messages waiting for the relay, in order. While the relay is down it
/// holds up to [`RELAY_QUEUE_FRAMES`] messages and [`RELAY_QUEUE_BYTES`];
/// beyond either the oldest frames go (the receiver sees the gap in sequence
/// numbers and asks for a keyframe).
#[derive(Default)]
pub struct OutQueue {
    queued: Mutex<Queued>,
    /// Control messages sent but not yet answered: a connection that drops
    /// may have lost them unread, so they are sent again on the next.
    sent: Mutex<VecDeque<Outgoing>>,
    /// Wakes the relay connection when something was queued.
    pub ready: Notify,
}

#[derive(Default)]
struct Queued {
    items: VecDeque<Outgoing>,
    bytes: usize,
}

impl Queued {
    fn over(&self) -> bool {
        self.items.len() > RELAY_QUEUE_FRAMES || self.bytes > RELAY_QUEUE_BYTES
    }

    fn remove(&mut self, i: usize) {
        if let Some(o) = self.items.remove(i) {
            self.bytes -= o.text.len();
        }
    }
}

impl OutQueue {
    /// Queues a message; returns how many older frames were dropped for it.
    pub fn push(&self, item: Outgoing) -> usize {
        let mut dropped = 0;
        if let Ok(mut q) = self.queued.lock() {
            q.bytes += item.text.len();
            q.items.push_back(item);
            while q.over() {
                let victim = q
                    .items
                    .iter()
                    .position(|o| o.kind == OutKind::Frame)
                    .or_else(|| q.items.iter().position(|o| o.kind == OutKind::Keyframe));
                match victim {
                    Some(i) => {
                        q.remove(i);
                        dropped += 1;
                    }
                    None => break,
                }
            }
        }
        self.ready.notify_one();
        dropped
    }

    pub fn pop(&self) -> Option<Outgoing> {
        let mut q = self.queued.lock().ok()?;
        let item = q.items.pop_front()?;
        q.bytes -= item.text.len();
        Some(item)
    }

    /// Puts back a message whose sending failed, to go first on reconnect.
    pub fn push_front(&self, item: Outgoing) {
        if let Ok(mut q) = self.queued.lock() {
            q.bytes += item.text.len();
            q.items.push_front(item);
        }
    }

    /// `item` went out: a control message is kept until it is answered.
    pub fn was_sent(&self, item: Outgoing) {
        if matches!(item.kind, OutKind::Control(_)) {
            if let Ok(mut sent) = self.sent.lock() {
                sent.push_back(item);
            }
        }
    }

    /// The relay applied (or refused) our audit entries up to `n`.
    pub fn answered(&self, n: u64) {
        if let Ok(mut sent) = self.sent.lock() {
            sent.retain(|o| !matches!(o.kind, OutKind::Control(Some(m)) if m <= n));
        }
    }

    /// A new connection: what was sent and not answered goes again, first
    /// and in its order (the relay applies each audit entry once).
    pub fn resend(&self) {
        let Ok(mut sent) = self.sent.lock() else { return };
        while let Some(item) = sent.pop_back() {
            self.push_front(item);
        }
    }

    /// Whether a control message sent is still unanswered.
    pub fn awaiting_answer(&self) -> bool {
        self.sent.lock().is_ok_and(|sent| !sent.is_empty())
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.queued.lock().map(|q| q.items.len()).unwrap_or(0)
    }
}

/// Sequence numbers of the frames received from the other side.
#[derive(Debug, Default)]
pub struct IncomingSeq {
    last: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Arrival {
    /// The next frame.
    InOrder,
    /// Frames were lost before this one: the console needs a keyframe.
    AfterGap,
    /// Seen already (resent after a reconnect): drop it.
    Duplicate,
}

impl IncomingSeq {
    pub fn accept(&mut self, seq: u64) -> Arrival {
        if seq <= self.last {
            return Arrival::Duplicate;
        }
        let gap = seq != self.last + 1;
        self.last = seq;
        if gap {
            Arrival::AfterGap
        } else {
            Arrival::InOrder
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(n: usize, kind: OutKind) -> Outgoing {
        Outgoing { text: n.to_string().into(), kind }
    }

    #[test]
    fn sent_control_messages_wait_for_an_answer_and_go_first_again() {
        let q = OutQueue::default();
        for item in [out(1, OutKind::Control(Some(1))), out(2, OutKind::Frame), out(3, OutKind::Control(Some(2)))] {
            q.push(item);
        }
        while let Some(item) = q.pop() {
            q.was_sent(item);
        }
        q.push(out(4, OutKind::Control(None)));
        q.was_sent(q.pop().unwrap());
        q.push(out(5, OutKind::Frame));
        q.answered(1);
        assert!(q.awaiting_answer());
        // A new connection: entry 2 and the end go again, before the frame
        // queued since; frames sent are not kept.
        q.resend();
        let order: Vec<String> = std::iter::from_fn(|| q.pop()).map(|o| o.text.to_string()).collect();
        assert_eq!(order, ["3", "4", "5"]);
        assert!(!q.awaiting_answer());
    }

    #[test]
    fn overflow_drops_the_oldest_incremental_frames_first() {
        let q = OutQueue::default();
        q.push(out(0, OutKind::Control(None)));
        q.push(out(1, OutKind::Keyframe));
        for i in 2..RELAY_QUEUE_FRAMES {
            assert_eq!(q.push(out(i, OutKind::Frame)), 0);
        }
        assert_eq!(q.push(out(99_999, OutKind::Frame)), 1);
        assert_eq!(q.len(), RELAY_QUEUE_FRAMES);
        assert_eq!(q.pop().unwrap().text.as_str(), "0");
        assert_eq!(q.pop().unwrap().text.as_str(), "1");
        // Frame 2 was the victim.
        assert_eq!(q.pop().unwrap().text.as_str(), "3");
    }

    #[test]
    fn overflow_by_bytes_drops_frames_then_keyframes() {
        let q = OutQueue::default();
        let big = |kind| Outgoing { text: "x".repeat(RELAY_QUEUE_BYTES / 4).into(), kind };
        q.push(out(0, OutKind::Control(None)));
        assert_eq!(q.push(big(OutKind::Keyframe)), 0);
        assert_eq!(q.push(big(OutKind::Frame)), 0);
        assert_eq!(q.push(big(OutKind::Keyframe)), 0);
        // Over the byte limit by a few bytes: the frame goes, not a keyframe.
        assert_eq!(q.push(big(OutKind::Keyframe)), 1);
        assert_eq!(q.len(), 4);
        // Still over with only keyframes left: the oldest keyframe goes.
        assert_eq!(q.push(big(OutKind::Keyframe)), 1);
        assert_eq!(q.len(), 4);
        assert_eq!(q.pop().unwrap().text.as_str(), "0");
        // Popping and putting back keeps the count of bytes right.
        let first = q.pop().unwrap();
        q.push_front(first);
        assert_eq!(q.push(out(1, OutKind::Frame)), 0);
        // Three keyframes, one byte of frame and a quarter: one byte over,
        // so the small frame goes and exactly the limit is left.
        assert_eq!(q.push(big(OutKind::Frame)), 1);
        assert_eq!(q.len(), 4);
        assert_eq!(q.pop().unwrap().kind, OutKind::Keyframe);
    }

    #[test]
    fn control_messages_are_never_dropped() {
        let q = OutQueue::default();
        for i in 0..RELAY_QUEUE_FRAMES + 5 {
            assert_eq!(q.push(out(i, OutKind::Control(None))), 0);
        }
        assert_eq!(q.len(), RELAY_QUEUE_FRAMES + 5);
    }

    #[test]
    fn gaps_and_duplicates_are_told_apart() {
        let mut s = IncomingSeq::default();
        assert_eq!(s.accept(1), Arrival::InOrder);
        assert_eq!(s.accept(2), Arrival::InOrder);
        assert_eq!(s.accept(2), Arrival::Duplicate);
        assert_eq!(s.accept(5), Arrival::AfterGap);
        assert_eq!(s.accept(3), Arrival::Duplicate);
        assert_eq!(s.accept(6), Arrival::InOrder);
        let mut late = IncomingSeq::default();
        assert_eq!(late.accept(4), Arrival::AfterGap);
    }
}
