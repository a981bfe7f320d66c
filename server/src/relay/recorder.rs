//! Writes recorded frames off the forwarding path: sockets queue frames on a
//! bounded channel and one task stores them in batched transactions, so a
//! frame's delivery never waits on the disk. A session's recording stops at
//! its byte cap (`db::cobrowse::store_frames`); the writer reports such
//! sessions so the relay stops queuing their frames.

use tokio::sync::{mpsc, oneshot};

use crate::db::cobrowse::{self, FrameRow, RecordingCaps};
use crate::db::Db;

/// Frames queued for the writer; a full queue slows the recording sender
/// (after its frame was forwarded), never the other side.
const QUEUE: usize = 4096;
/// Frames stored per transaction at most.
const BATCH: usize = 512;

enum Job {
    Frame(FrameRow),
    /// Answered once everything queued before it is stored.
    Flush(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Job>,
}

/// Sessions whose recording just reached a cap, with that cap.
pub type Stopped = mpsc::UnboundedReceiver<(String, u64)>;

impl Recorder {
    /// Starts the writer task on the current runtime; sessions and accounts
    /// keep at most `caps` of recorded ciphertext.
    pub fn start(db: Db, caps: RecordingCaps) -> (Self, Stopped) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (stopped_tx, stopped_rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(db, caps, rx, stopped_tx));
        (Self { tx }, stopped_rx)
    }

    pub async fn record(&self, row: FrameRow) {
        if self.tx.send(Job::Frame(row)).await.is_err() {
            tracing::error!("recording writer is gone; frame not recorded");
        }
    }

    /// Waits until every frame queued so far is stored.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Job::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn write_loop(
    db: Db,
    caps: RecordingCaps,
    mut rx: mpsc::Receiver<Job>,
    stopped: mpsc::UnboundedSender<(String, u64)>,
) {
    while let Some(first) = rx.recv().await {
        let mut rows = Vec::new();
        let mut flushed = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next {
            match job {
                Job::Frame(row) => rows.push(row),
                Job::Flush(done) => flushed.push(done),
            }
            next = if rows.len() < BATCH { rx.try_recv().ok() } else { None };
        }
        if !rows.is_empty() {
            let count = rows.len();
            match db.call(move |conn| cobrowse::store_frames(conn, &rows, caps)).await {
                Ok(full) => {
                    for (session_id, max_bytes) in full {
                        tracing::info!(session_id, max_bytes, "recording reached its cap; stopped");
                        // Nobody listening means the relay is gone too.
                        let _ = stopped.send((session_id, max_bytes));
                    }
                }
                Err(err) => tracing::error!(%err, count, "cannot store recorded frames"),
            }
        }
        for done in flushed {
            let _ = done.send(());
        }
    }
}
