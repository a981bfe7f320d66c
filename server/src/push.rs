//! Registry of open push sockets: device id → the senders feeding its sockets.
//!
//! A device may briefly hold two sockets (a reconnect racing the old socket's
//! close), so each socket registers under its own connection number and removes
//! only itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use baton_shared::api::PushMessage;
use tokio::sync::mpsc;

/// Messages queued for one socket before it counts as stuck and is skipped.
pub const QUEUE_DEPTH: usize = 64;

type Sockets = HashMap<String, HashMap<u64, mpsc::Sender<PushMessage>>>;

#[derive(Clone, Default)]
pub struct PushRegistry {
    sockets: Arc<Mutex<Sockets>>,
    next_conn: Arc<AtomicU64>,
}

/// Keeps one socket registered; dropping it unregisters, however the socket ends.
pub struct Registration {
    registry: PushRegistry,
    device_id: String,
    conn: u64,
}

impl PushRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a socket for `device_id`; its messages arrive on the receiver.
    pub fn register(&self, device_id: &str) -> (Registration, mpsc::Receiver<PushMessage>) {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        self.lock().entry(device_id.to_owned()).or_default().insert(conn, tx);
        let registration = Registration { registry: self.clone(), device_id: device_id.to_owned(), conn };
        (registration, rx)
    }

    /// Queues `msg` on every socket of `device_id`; returns how many took it.
    pub fn send(&self, device_id: &str, msg: &PushMessage) -> usize {
        let sockets = self.lock();
        let Some(conns) = sockets.get(device_id) else {
            return 0;
        };
        conns
            .values()
            .filter(|tx| match tx.try_send(msg.clone()) {
                Ok(()) => true,
                Err(err) => {
                    tracing::warn!(device_id, %err, "push socket not taking messages");
                    false
                }
            })
            .count()
    }

    /// Whether no socket is registered (every socket has finished).
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    pub fn is_connected(&self, device_id: &str) -> bool {
        self.lock().contains_key(device_id)
    }

    fn unregister(&self, device_id: &str, conn: u64) {
        let mut sockets = self.lock();
        if let Some(conns) = sockets.get_mut(device_id) {
            conns.remove(&conn);
            if conns.is_empty() {
                sockets.remove(device_id);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sockets> {
        // The map stays consistent across a panic: every update is a single insert or remove.
        self.sockets.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.unregister(&self.device_id, self.conn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(id: &str) -> PushMessage {
        PushMessage::Hello { device_id: id.into(), server_version: "t".into() }
    }

    #[tokio::test]
    async fn delivers_to_every_socket_of_a_device_and_unregisters_on_drop() {
        let reg = PushRegistry::new();
        let (a, mut rx_a) = reg.register("d1");
        let (b, mut rx_b) = reg.register("d1");
        let (_other, mut rx_other) = reg.register("d2");

        assert_eq!(reg.send("d1", &hello("d1")), 2);
        assert_eq!(rx_a.recv().await, Some(hello("d1")));
        assert_eq!(rx_b.recv().await, Some(hello("d1")));
        assert!(rx_other.try_recv().is_err());

        drop(a);
        assert_eq!(reg.send("d1", &hello("d1")), 1);
        drop(b);
        assert!(!reg.is_connected("d1"));
        assert_eq!(reg.send("d1", &hello("d1")), 0);
        assert!(reg.is_connected("d2"));
    }

    #[test]
    fn full_queue_is_skipped_not_blocked() {
        let reg = PushRegistry::new();
        let (_r, _rx) = reg.register("d");
        for _ in 0..QUEUE_DEPTH {
            assert_eq!(reg.send("d", &hello("d")), 1);
        }
        assert_eq!(reg.send("d", &hello("d")), 0);
    }
}
