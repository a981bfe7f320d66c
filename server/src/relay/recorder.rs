//! Writes recorded frames off the forwarding path: sockets queue frames on a
//! bounded channel and one task stores them in batched transactions, so a
//! frame's delivery never waits on the disk.

use tokio::sync::{mpsc, oneshot};

use crate::db::cobrowse::{self, FrameRow};
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

impl Recorder {
    /// Starts the writer task on the current runtime.
    pub fn start(db: Db) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_loop(db, rx));
        Self { tx }
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

async fn write_loop(db: Db, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut rows = Vec::new();
        let mut flushed = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next {
            match job {
                Job::Frame(row) => rows.push(row),
                Job::Flush(done) => flushed.push(done),
            }
            next = if rows.len() < BATCH {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        if !rows.is_empty() {
            let count = rows.len();
            if let Err(err) = db
                .call(move |conn| cobrowse::store_frames(conn, &rows))
                .await
            {
                tracing::error!(%err, count, "cannot store recorded frames");
            }
        }
        for done in flushed {
            let _ = done.send(());
        }
    }
}
