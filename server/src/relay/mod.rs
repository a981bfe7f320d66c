//! The co-browsing relay: one in-memory room per session with live sockets,
//! the visitor's and the operator's.
//!
//! Rooms follow the database (`db::cobrowse`), which decides every state
//! change; a room is rebuilt from it when a socket connects after a restart.
//! Rooms of active sessions stay in memory, sockets or not (they are loaded
//! at start): each side's absence is timed there, and a side away too long
//! ends the session ([`Relay::abandoned`]).
//! Frames are forwarded through a bounded queue per socket: when the peer is
//! absent or too slow the frame is dropped, and the receiving console asks
//! for a keyframe on the sequence gap. Control messages (state, peer, end)
//! are few and never dropped: a socket that lets too many of them pile up
//! is not being read, and is closed instead. A socket also closes when its
//! peer does not take a message within the send deadline
//! (`http::relay_socket`), so a stalled peer holds its queue only that long.
//! All sockets' queued frames together stay under `--relay-queue-bytes`
//! ([`QueuedBytes`]): past it, frames are dropped the same way.

pub mod recorder;
pub mod rules;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use baton_shared::cobrowse::{RelayMessage, Role, SessionState};
use baton_shared::limits::MAX_RELAY_MESSAGE;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, Notify};

use crate::db::cobrowse::{RecordingCaps, Session};
use crate::db::Db;
pub use recorder::Recorder;

/// Frames queued for one socket before newer ones are dropped.
const FRAME_QUEUE: usize = 1024;
/// Bytes of frames queued for one socket before newer ones are dropped:
/// room for one largest frame behind a few ordinary ones.
const FRAME_QUEUE_BYTES: usize = MAX_RELAY_MESSAGE + 8 * 1024 * 1024;
const _: () = assert!(FRAME_QUEUE_BYTES > MAX_RELAY_MESSAGE);
/// Control messages queued for one socket; more unsent than this and the
/// socket is not being read.
const CONTROL_QUEUE: usize = 64;

/// Something a socket's loop must do besides writing frames.
#[derive(Debug)]
pub enum Control {
    Send(RelayMessage),
    /// Close the socket with this close code and reason.
    Close(u16, &'static str),
}

/// Bytes of frames waiting in one socket's queue, counted in the relay's
/// total too. Counted in before a frame is queued and out when the socket
/// takes it or the queue is dropped, so the counts never run below zero.
#[derive(Clone)]
pub struct QueuedBytes {
    socket: Arc<AtomicUsize>,
    total: Arc<AtomicUsize>,
}

impl QueuedBytes {
    /// Counts in a frame of `len` bytes unless this socket's queue (beyond
    /// its first frame) or the relay's total (about: sockets race) would go
    /// over.
    fn reserve(&self, len: usize, total_limit: usize) -> bool {
        let mine = self.socket.load(Ordering::Relaxed);
        if mine > 0 && mine + len > FRAME_QUEUE_BYTES {
            return false;
        }
        if self.total.load(Ordering::Relaxed).saturating_add(len) > total_limit {
            return false;
        }
        self.socket.fetch_add(len, Ordering::Relaxed);
        self.total.fetch_add(len, Ordering::Relaxed);
        true
    }

    /// A frame of `len` bytes left the queue.
    pub fn release(&self, len: usize) {
        self.socket.fetch_sub(len, Ordering::Relaxed);
        self.total.fetch_sub(len, Ordering::Relaxed);
    }

    #[cfg(test)]
    fn socket(&self) -> usize {
        self.socket.load(Ordering::Relaxed)
    }
}

struct Peer {
    conn: u64,
    frames: mpsc::Sender<String>,
    queued: QueuedBytes,
    /// The relay's `max_queued_bytes`.
    queue_limit: usize,
    control: mpsc::Sender<Control>,
    /// Ends the socket once its control queue is full.
    overflow: Arc<Notify>,
}

impl Peer {
    fn tell(&self, msg: RelayMessage) {
        self.control(Control::Send(msg));
    }

    fn close(&self, code: u16, reason: &'static str) {
        self.control(Control::Close(code, reason));
    }

    fn control(&self, control: Control) {
        match self.control.try_send(control) {
            // A closed receiver means the socket is finishing; nothing to tell.
            Ok(()) | Err(TrySendError::Closed(_)) => {}
            // Dropping a control message would leave that side wrong about
            // the session: end the socket instead (it reconnects).
            Err(TrySendError::Full(_)) => self.overflow.notify_one(),
        }
    }
}

struct Inner {
    session: Session,
    visitor: Option<Peer>,
    operator: Option<Peer>,
    /// Since when each side has had no socket, once the session is active.
    visitor_away: Option<Instant>,
    operator_away: Option<Instant>,
    /// Seen without sockets by the last [`Relay::prune`].
    idle: bool,
}

impl Inner {
    fn new(session: Session) -> Self {
        let mut inner =
            Inner { session, visitor: None, operator: None, visitor_away: None, operator_away: None, idle: false };
        inner.time_absence();
        inner
    }

    fn away(&mut self, role: Role) -> &mut Option<Instant> {
        match role {
            Role::Visitor => &mut self.visitor_away,
            Role::Operator => &mut self.operator_away,
        }
    }

    /// Starts the clock of each absent side of an active session (kept
    /// where it runs already); a present side has none.
    fn time_absence(&mut self) {
        let active = self.session.state == SessionState::Active;
        for role in [Role::Visitor, Role::Operator] {
            let present = self.slot(role).is_some();
            let away = self.away(role);
            if present || !active {
                *away = None;
            } else if away.is_none() {
                *away = Some(Instant::now());
            }
        }
    }

    /// Since when `role` has been away from the active session, if it is.
    fn away_since(&self, role: Role) -> Option<Instant> {
        let since = match role {
            Role::Visitor => self.visitor_away,
            Role::Operator => self.operator_away,
        }?;
        (self.session.state == SessionState::Active).then_some(since)
    }

    /// How long until `role`'s absence ends the session, if it is away
    /// from an active session.
    fn ends_in(&self, role: Role, ttl: Duration) -> Option<u64> {
        let since = self.away_since(role)?;
        Some(u64::try_from(ttl.saturating_sub(since.elapsed()).as_millis()).unwrap_or(u64::MAX))
    }

    /// The side that has been away from an active session for `ttl` or
    /// more (the longer away, if both).
    fn away_for(&self, ttl: Duration) -> Option<Role> {
        [Role::Visitor, Role::Operator]
            .into_iter()
            .filter_map(|role| Some((role, self.away_since(role)?)))
            .filter(|(_, since)| since.elapsed() >= ttl)
            .min_by_key(|(_, since)| *since)
            .map(|(role, _)| role)
    }

    fn slot(&mut self, role: Role) -> &mut Option<Peer> {
        match role {
            Role::Visitor => &mut self.visitor,
            Role::Operator => &mut self.operator,
        }
    }

    /// `role`'s socket, if connected.
    fn peer(&self, role: Role) -> Option<&Peer> {
        match role {
            Role::Visitor => self.visitor.as_ref(),
            Role::Operator => self.operator.as_ref(),
        }
    }

    fn peers(&self) -> impl Iterator<Item = &Peer> {
        self.visitor.iter().chain(self.operator.iter())
    }

    /// No socket uses the room and no absence is being timed in it.
    fn unused(&self) -> bool {
        self.peers().next().is_none() && self.session.state != SessionState::Active
    }

    /// What the visitor is told, on every connect, once an operator joined.
    fn operator_joined(&self) -> Option<RelayMessage> {
        let op = self.session.operator.as_ref()?;
        (self.session.state != SessionState::Ended).then(|| RelayMessage::OperatorJoined {
            operator_public_key: op.public_key.clone(),
            operator_name: op.name.clone(),
        })
    }
}

pub struct Room {
    pub id: String,
    inner: Mutex<Inner>,
}

impl Room {
    fn new(session: Session) -> Arc<Room> {
        Arc::new(Room { id: session.id.clone(), inner: Mutex::new(Inner::new(session)) })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update leaves the room consistent, so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn state(&self) -> SessionState {
        self.lock().session.state
    }

    pub fn recording(&self) -> bool {
        self.lock().session.recording
    }

    /// Queues an encoded frame for the peer of `from`; `false` if it was
    /// dropped (no peer, or the peer's queue is full).
    pub fn forward(&self, from: Role, text: String) -> bool {
        let inner = self.lock();
        let Some(peer) = inner.peer(from.other()) else {
            return false;
        };
        let len = text.len();
        if !peer.queued.reserve(len, peer.queue_limit) {
            return false;
        }
        match peer.frames.try_send(text) {
            Ok(()) => true,
            Err(_) => {
                peer.queued.release(len);
                false
            }
        }
    }
}

/// The receiving ends of one attached socket.
pub struct Inbox {
    pub frames: Frames,
    pub control: mpsc::Receiver<Control>,
    /// Notified when `control` overflowed: the socket must end.
    pub overflow: Arc<Notify>,
}

/// The frames queued for one socket.
pub struct Frames {
    rx: mpsc::Receiver<String>,
    queued: QueuedBytes,
}

impl Frames {
    /// The next frame for the socket to send.
    pub async fn next(&mut self) -> Option<String> {
        let text = self.rx.recv().await?;
        self.queued.release(text.len());
        Some(text)
    }
}

impl Drop for Frames {
    /// Frames never sent leave the relay's count with the queue.
    fn drop(&mut self) {
        self.rx.close();
        while let Ok(text) = self.rx.try_recv() {
            self.queued.release(text.len());
        }
    }
}

/// Keeps a socket attached to its room; dropping it detaches, however the
/// socket ends.
pub struct Attached {
    relay: Relay,
    pub room: Arc<Room>,
    pub role: Role,
    conn: u64,
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.relay.detach(&self.room, self.role, self.conn);
    }
}

/// What a socket sends first.
pub struct Greeting {
    pub state: SessionState,
    pub peer_present: bool,
    pub operator_joined: Option<RelayMessage>,
    /// The cap the session's recording stopped at, if it did.
    pub recording_stopped: Option<u64>,
    /// The other side is away: the session ends in this long unless it
    /// comes back.
    pub peer_away_ends_in_ms: Option<u64>,
}

type Rooms = HashMap<String, Arc<Room>>;

/// How long an ended session is remembered, so that a socket which loaded
/// it just before it ended (the load and the attach are a handshake apart)
/// is told it ended instead of making its room again.
const ENDED_MEMORY: Duration = Duration::from_secs(600);

#[derive(Clone)]
pub struct Relay {
    rooms: Arc<Mutex<Rooms>>,
    /// Sessions ended lately, with why; only touched under the `rooms` lock.
    ended: Arc<Mutex<HashMap<String, (Instant, String)>>>,
    next_conn: Arc<AtomicU64>,
    sockets: Arc<AtomicUsize>,
    pub recorder: Recorder,
    /// How long a side may stay away from an active session.
    away_ttl: Duration,
    /// Bytes of frames queued for all sockets, and the most there may be.
    queued_total: Arc<AtomicUsize>,
    max_queued_bytes: usize,
}

/// Counts one open relay socket while alive.
pub struct SocketCount(Arc<AtomicUsize>);

impl Drop for SocketCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Relay {
    /// The relay and its recording writer (recordings kept within
    /// `recording`), on the current runtime; a side away from an active
    /// session for `away_ttl` ends it ([`Relay::abandoned`]); frames queued
    /// for all sockets stay under about `max_queued_bytes`.
    pub fn start(db: Db, recording: RecordingCaps, away_ttl: Duration, max_queued_bytes: usize) -> Self {
        let (recorder, mut stopped) = Recorder::start(db, recording);
        let relay = Self {
            rooms: Arc::default(),
            ended: Arc::default(),
            next_conn: Arc::default(),
            sockets: Arc::default(),
            recorder,
            away_ttl,
            queued_total: Arc::default(),
            max_queued_bytes,
        };
        let follower = relay.clone();
        tokio::spawn(async move {
            while let Some((session_id, max_bytes)) = stopped.recv().await {
                follower.recording_stopped(&session_id, max_bytes);
            }
        });
        relay
    }

    /// The session's recording stopped at `max_bytes`, its own cap or its
    /// account's (committed): its frames are no longer queued for the
    /// recorder, and both sides are told. The session itself goes on.
    pub fn recording_stopped(&self, session_id: &str, max_bytes: u64) {
        let room = self.lock().get(session_id).cloned();
        if let Some(room) = room {
            let mut inner = room.lock();
            inner.session.recording = false;
            inner.session.recording_stopped = Some(max_bytes);
            for peer in inner.peers() {
                peer.tell(RelayMessage::RecordingStopped { max_bytes });
            }
        }
    }

    pub fn count_socket(&self) -> SocketCount {
        self.sockets.fetch_add(1, Ordering::Relaxed);
        SocketCount(Arc::clone(&self.sockets))
    }

    /// Whether every relay socket has finished.
    pub fn is_idle(&self) -> bool {
        self.sockets.load(Ordering::Relaxed) == 0
    }

    /// Attaches a socket playing `role` to the session's room (built from
    /// `loaded` unless it is live already). A socket already attached in the
    /// same role (a reconnect racing the old socket's close) is closed.
    /// `None` if the session has ended.
    pub fn attach(&self, loaded: Session, role: Role) -> Option<(Attached, Inbox, Greeting)> {
        let room = {
            let mut rooms = self.lock();
            if self.ended_reason(&loaded.id).is_some() {
                // Loaded before it ended: that copy is stale.
                return None;
            }
            Arc::clone(rooms.entry(loaded.id.clone()).or_insert_with(|| Room::new(loaded)))
        };
        let mut inner = room.lock();
        if inner.session.state == SessionState::Ended {
            drop(inner);
            self.forget_if_empty(&room);
            return None;
        }
        inner.idle = false;
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (frames_tx, frames_rx) = mpsc::channel(FRAME_QUEUE);
        let (control_tx, control_rx) = mpsc::channel(CONTROL_QUEUE);
        let queued = QueuedBytes { socket: Arc::default(), total: Arc::clone(&self.queued_total) };
        let overflow = Arc::new(Notify::new());
        let peer = Peer {
            conn,
            frames: frames_tx,
            queued: queued.clone(),
            queue_limit: self.max_queued_bytes,
            control: control_tx,
            overflow: Arc::clone(&overflow),
        };
        if let Some(old) = inner.slot(role).replace(peer) {
            old.close(axum::extract::ws::close_code::POLICY, "replaced by a newer connection");
        }
        inner.time_absence();
        let other = inner.peer(role.other());
        if let Some(other) = other {
            other.tell(RelayMessage::Peer { present: true, ends_in_ms: None });
        }
        let greeting = Greeting {
            state: inner.session.state,
            peer_present: other.is_some(),
            peer_away_ends_in_ms: inner.ends_in(role.other(), self.away_ttl),
            operator_joined: match role {
                Role::Visitor => inner.operator_joined(),
                Role::Operator => None,
            },
            recording_stopped: inner.session.recording_stopped,
        };
        drop(inner);
        let attached = Attached { relay: self.clone(), room, role, conn };
        let inbox = Inbox { frames: Frames { rx: frames_rx, queued }, control: control_rx, overflow };
        Some((attached, inbox, greeting))
    }

    fn detach(&self, room: &Arc<Room>, role: Role, conn: u64) {
        let mut inner = room.lock();
        let slot = inner.slot(role);
        if slot.as_ref().is_some_and(|p| p.conn == conn) {
            *slot = None;
            inner.time_absence();
            let ends_in_ms = inner.ends_in(role, self.away_ttl);
            let other = inner.peer(role.other());
            if let Some(other) = other {
                other.tell(RelayMessage::Peer { present: false, ends_in_ms });
            }
        }
        drop(inner);
        self.forget_if_empty(room);
    }

    /// Drops the room from memory once no socket uses it, unless the
    /// session is active; the next connect rebuilds it from the database.
    fn forget_if_empty(&self, room: &Arc<Room>) {
        let mut rooms = self.lock();
        let unused = room.lock().unused();
        if unused && rooms.get(&room.id).is_some_and(|r| Arc::ptr_eq(r, room)) {
            rooms.remove(&room.id);
        }
    }

    /// An operator joined (committed): a live room takes the operator and
    /// its visitor hears of it. The room is created if absent so that a
    /// socket loading the session concurrently cannot keep an older copy.
    pub fn operator_joined(&self, session: Session) {
        let room = {
            let mut rooms = self.lock();
            Arc::clone(rooms.entry(session.id.clone()).or_insert_with(|| Room::new(session.clone())))
        };
        let mut inner = room.lock();
        if inner.session.state == SessionState::Ended {
            return;
        }
        let changed = inner.session.state != session.state;
        inner.session.operator = session.operator;
        inner.session.state = session.state;
        if let Some(visitor) = &inner.visitor {
            if let Some(msg) = inner.operator_joined() {
                visitor.tell(msg);
            }
            if changed {
                visitor.tell(RelayMessage::State { state: inner.session.state });
            }
        }
    }

    /// A committed state or recording change: both sockets hear of a new
    /// state. An ended session goes through [`Relay::finish`] instead.
    pub fn update(&self, room: &Room, state: SessionState, recording: bool) {
        let mut inner = room.lock();
        if inner.session.state == SessionState::Ended {
            return;
        }
        inner.session.recording = recording;
        if inner.session.state != state {
            inner.session.state = state;
            inner.time_absence();
            for peer in inner.peers() {
                peer.tell(RelayMessage::State { state });
            }
        }
    }

    /// The session ended (committed): both sockets are told why and closed,
    /// and the room is forgotten.
    pub fn finish(&self, session_id: &str, reason: &str) {
        let room = {
            let mut rooms = self.lock();
            if let Ok(mut ended) = self.ended.lock() {
                let now = Instant::now();
                ended.retain(|_, (at, _)| now.duration_since(*at) < ENDED_MEMORY);
                ended.insert(session_id.to_owned(), (now, reason.to_owned()));
            }
            rooms.remove(session_id)
        };
        let Some(room) = room else {
            return;
        };
        let mut inner = room.lock();
        inner.session.state = SessionState::Ended;
        inner.session.recording = false;
        for peer in inner.peers() {
            peer.tell(RelayMessage::End { reason: Some(reason.to_owned()) });
            peer.close(axum::extract::ws::close_code::NORMAL, "session ended");
        }
    }

    /// Why the session ended, if it ended lately.
    pub fn ended_reason(&self, session_id: &str) -> Option<String> {
        let ended = self.ended.lock().ok()?;
        ended.get(session_id).map(|(_, reason)| reason.clone())
    }

    /// Forgets rooms nobody connected to since the previous call (made for
    /// an operator whose sockets never came). Two rounds, so a room made
    /// just now by [`Relay::operator_joined`] outlives a socket loading the
    /// session at the same moment.
    pub fn prune(&self) {
        self.lock().retain(|_, room| {
            let mut inner = room.lock();
            if !inner.unused() {
                inner.idle = false;
                return true;
            }
            let keep = !inner.idle;
            inner.idle = true;
            keep
        });
    }

    /// Takes in the sessions active at start: nobody is connected yet, so
    /// both sides' absence is timed from now.
    pub fn adopt(&self, active: Vec<Session>) {
        let mut rooms = self.lock();
        for session in active {
            rooms.entry(session.id.clone()).or_insert_with(|| Room::new(session));
        }
    }

    /// Active sessions a side has been away from for the relay's time or
    /// more, with that side; the caller ends them ([`Relay::finish`]).
    pub fn abandoned(&self) -> Vec<(String, Role)> {
        let rooms = self.lock();
        rooms.values().filter_map(|room| Some((room.id.clone(), room.lock().away_for(self.away_ttl)?))).collect()
    }

    fn lock(&self) -> MutexGuard<'_, Rooms> {
        // The map stays consistent across a panic: every update is a single insert or remove.
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::cobrowse::Operator;

    fn session(state: SessionState) -> Session {
        Session {
            id: "s1".into(),
            visitor_id: "v".into(),
            visitor_account: "a".into(),
            operator: Some(Operator { device_id: "o".into(), public_key: "k".into(), name: "Desk".into() }),
            state,
            recording: false,
            recording_stopped: None,
            expires_ms: 0,
            consent_by_ms: None,
            end_reason: None,
            visitor_applied: 0,
            operator_applied: 0,
        }
    }

    fn relay() -> Relay {
        relay_with_queue_bytes(usize::MAX)
    }

    fn relay_with_queue_bytes(max: usize) -> Relay {
        let caps = RecordingCaps { session: u64::MAX, account: u64::MAX };
        Relay::start(Db::open_in_memory().unwrap(), caps, Duration::from_secs(60), max)
    }

    #[tokio::test]
    async fn frames_go_to_the_peer_only_and_a_full_queue_drops_them() {
        let relay = relay();
        let (v, _v_inbox, greeting) = relay.attach(session(SessionState::Active), Role::Visitor).unwrap();
        assert!(!greeting.peer_present);
        assert!(matches!(greeting.operator_joined, Some(RelayMessage::OperatorJoined { .. })));
        assert!(!v.room.forward(Role::Visitor, "x".into()), "no operator yet");
        let (_o, mut o_inbox, greeting) = relay.attach(session(SessionState::Active), Role::Operator).unwrap();
        assert!(greeting.peer_present && greeting.operator_joined.is_none());
        for _ in 0..FRAME_QUEUE {
            assert!(v.room.forward(Role::Visitor, "x".into()));
        }
        assert!(!v.room.forward(Role::Visitor, "x".into()), "queue full");
        assert_eq!(o_inbox.frames.next().await.as_deref(), Some("x"));
        assert_eq!(o_inbox.frames.queued.socket(), FRAME_QUEUE - 1);
        assert_eq!(relay.queued_total.load(Ordering::Relaxed), FRAME_QUEUE - 1);
    }

    #[tokio::test]
    async fn all_sockets_together_stay_under_the_relay_limit() {
        let relay = relay_with_queue_bytes(10);
        let s2 = || Session { id: "s2".into(), ..session(SessionState::Active) };
        let (v1, _v1_inbox, _) = relay.attach(session(SessionState::Active), Role::Visitor).unwrap();
        let (_o1, mut o1_inbox, _) = relay.attach(session(SessionState::Active), Role::Operator).unwrap();
        let (v2, _v2_inbox, _) = relay.attach(s2(), Role::Visitor).unwrap();
        let (_o2, o2_inbox, _) = relay.attach(s2(), Role::Operator).unwrap();
        assert!(v1.room.forward(Role::Visitor, "123456".into()));
        assert!(!v2.room.forward(Role::Visitor, "123456".into()), "over the total: dropped");
        assert!(v2.room.forward(Role::Visitor, "1234".into()), "what fits goes");
        // Taken by its socket: room again.
        assert_eq!(o1_inbox.frames.next().await.as_deref(), Some("123456"));
        assert!(v1.room.forward(Role::Visitor, "12345".into()));
        assert_eq!(relay.queued_total.load(Ordering::Relaxed), 9);
        // A socket that goes with frames unsent gives their bytes back.
        drop(o2_inbox);
        assert_eq!(relay.queued_total.load(Ordering::Relaxed), 5);
        drop(o1_inbox);
        assert_eq!(relay.queued_total.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_socket_that_loaded_the_session_before_it_ended_makes_no_room() {
        let relay = relay();
        let (_v, mut v_inbox, _) = relay.attach(session(SessionState::Active), Role::Visitor).unwrap();
        // The operator's socket loaded the session (active), then it ended...
        let stale = session(SessionState::Active);
        relay.finish("s1", "the visitor ended the session");
        assert!(matches!(v_inbox.control.recv().await, Some(Control::Send(RelayMessage::End { .. }))));
        // ...so attaching that copy is refused, and the reason is at hand.
        assert!(relay.attach(stale, Role::Operator).is_none());
        assert!(relay.lock().is_empty(), "no room made again");
        assert_eq!(relay.ended_reason("s1").as_deref(), Some("the visitor ended the session"));
    }

    #[tokio::test]
    async fn a_socket_whose_control_messages_pile_up_is_told_to_end() {
        let relay = relay();
        let (_o, o_inbox, _) = relay.attach(session(SessionState::Active), Role::Operator).unwrap();
        // Each visitor (re)connect tells the operator; its socket never reads.
        let mut visitors: Vec<_> =
            (0..CONTROL_QUEUE).map(|_| relay.attach(session(SessionState::Active), Role::Visitor).unwrap()).collect();
        let ended = tokio::time::timeout(Duration::from_millis(100), o_inbox.overflow.notified());
        assert!(ended.await.is_err(), "a full queue is not yet an overflow");
        visitors.push(relay.attach(session(SessionState::Active), Role::Visitor).unwrap());
        let ended = tokio::time::timeout(Duration::from_secs(5), o_inbox.overflow.notified());
        assert!(ended.await.is_ok());
    }

    #[tokio::test]
    async fn rooms_are_forgotten_when_empty_ended_or_never_used() {
        let relay = relay();
        let (v, mut v_inbox, _) = relay.attach(session(SessionState::Active), Role::Visitor).unwrap();
        let (o, _o_inbox, _) = relay.attach(session(SessionState::Active), Role::Operator).unwrap();
        assert!(matches!(
            v_inbox.control.recv().await,
            Some(Control::Send(RelayMessage::Peer { present: true, ends_in_ms: None }))
        ));
        drop(o);
        // Away from an active session: the visitor hears when it ends.
        match v_inbox.control.recv().await {
            Some(Control::Send(RelayMessage::Peer { present: false, ends_in_ms: Some(ms) })) => {
                assert!((59_000..=60_000).contains(&ms), "{ms}");
            }
            other => panic!("{other:?}"),
        }
        relay.finish("s1", "bye");
        assert!(matches!(v_inbox.control.recv().await, Some(Control::Send(RelayMessage::End { .. }))));
        assert!(matches!(v_inbox.control.recv().await, Some(Control::Close(..))));
        drop(v);
        assert!(relay.lock().is_empty());
        // Ended rooms refuse sockets.
        assert!(relay.attach(session(SessionState::Ended), Role::Visitor).is_none());

        relay.operator_joined(session(SessionState::AwaitingConsent));
        relay.prune();
        assert_eq!(relay.lock().len(), 1, "kept for one round");
        relay.prune();
        assert!(relay.lock().is_empty());
    }
}
