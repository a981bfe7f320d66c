//! Failed attempts per client in a sliding window (pairing and co-browsing
//! code guesses).
//!
//! The failures are stored (`db::guesses`), so restarting the server does
//! not give a guesser a fresh window. An attempt is counted before it is
//! judged and given back when it was not a wrong guess, so concurrent
//! requests cannot all pass the check before any failure is stored. The
//! client is the address `http::extract::ClientAddr` settled on (the peer,
//! or behind a trusted proxy the address it forwarded for), and for IPv6
//! its /64: one host or home network is usually given a whole /64, so
//! counting per address would let it guess from 2^64 addresses.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use crate::clock::now_ms;
use crate::db::{guesses, Db, DbError};

#[derive(Clone)]
pub struct FailureWindow {
    db: Db,
    /// Keeps this limit's failures apart from other limits' in the table.
    scope: &'static str,
    limit: u64,
    window_ms: i64,
}

impl FailureWindow {
    pub fn new(db: Db, scope: &'static str, limit: u32, window: Duration) -> Self {
        Self { db, scope, limit: u64::from(limit), window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX) }
    }

    /// Counts an attempt of `client` before it is judged, so concurrent
    /// requests cannot all pass the limit; `Ok(Err(wait))` while `client`
    /// has used up its failures in the window. The attempt stays counted
    /// as a failure unless it is [`Attempt::release`]d.
    pub async fn reserve(&self, client: IpAddr) -> Result<Result<Attempt, Duration>, DbError> {
        self.reserve_at(client, now_ms()).await
    }

    async fn reserve_at(&self, client: IpAddr, now: i64) -> Result<Result<Attempt, Duration>, DbError> {
        let (scope, key, limit) = (self.scope, client_key(client), self.limit);
        let since = now.saturating_sub(self.window_ms);
        let counted = key.clone();
        let reserved = self.db.call(move |conn| guesses::reserve(conn, scope, &counted, now, since, limit)).await?;
        Ok(match reserved {
            Ok(id) => Ok(Attempt { db: self.db.clone(), scope, key, at_ms: now, id }),
            Err(oldest) => {
                let left = oldest.saturating_add(self.window_ms).saturating_sub(now);
                Err(Duration::from_millis(u64::try_from(left).unwrap_or(0)))
            }
        })
    }
}

/// One attempt counted against a client ([`FailureWindow::reserve`]).
pub struct Attempt {
    db: Db,
    scope: &'static str,
    key: String,
    at_ms: i64,
    id: i64,
}

impl Attempt {
    /// The attempt was not a wrong guess: it no longer counts. Not being
    /// able to forget it is logged, not fatal: it then counts as a failure.
    pub async fn release(self) {
        let Self { db, scope, key, at_ms, id } = self;
        let released = db.call(move |conn| guesses::release(conn, id, scope, &key, at_ms)).await;
        if let Err(err) = released {
            tracing::error!(%err, scope, "cannot release a counted guess");
        }
    }
}

/// What failures are counted under: the IPv4 address, or the IPv6 /64
/// (an IPv4-mapped IPv6 address counts as its IPv4 address).
fn client_key(client: IpAddr) -> String {
    match client {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                format!("{}/64", Ipv6Addr::from(prefix))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_per_64() {
        let key = |s: &str| client_key(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:ffff:1:2:3"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:10.0.0.1"), "10.0.0.1");
        assert_eq!(key("10.0.0.1"), "10.0.0.1");
    }

    /// Counts a failure of `client` at `at`.
    async fn fail(w: &FailureWindow, client: &str, at: i64) {
        assert!(w.reserve_at(client.parse().unwrap(), at).await.unwrap().is_ok());
    }

    async fn check(w: &FailureWindow, client: IpAddr, at: i64) -> Result<(), Duration> {
        let attempt = w.reserve_at(client, at).await.unwrap()?;
        attempt.release().await;
        Ok(())
    }

    #[tokio::test]
    async fn one_ipv6_host_cannot_guess_from_other_addresses_of_its_64() {
        let db = Db::open_in_memory().unwrap();
        let w = FailureWindow::new(db, "test", 2, Duration::from_secs(60));
        let t0 = 1_000_000;
        fail(&w, "2001:db8::1", t0).await;
        fail(&w, "2001:db8::2", t0).await;
        assert!(check(&w, "2001:db8::3".parse().unwrap(), t0).await.is_err());
        assert_eq!(check(&w, "2001:db8:0:1::3".parse().unwrap(), t0).await, Ok(()));
    }

    #[tokio::test]
    async fn limits_per_client_and_recovers_after_the_window() {
        let db = Db::open_in_memory().unwrap();
        let w = FailureWindow::new(db.clone(), "test", 2, Duration::from_secs(60));
        let other = FailureWindow::new(db.clone(), "other", 2, Duration::from_secs(60));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = 1_000_000;
        fail(&w, "10.0.0.1", t0).await;
        assert_eq!(check(&w, a, t0).await, Ok(()));
        fail(&w, "10.0.0.1", t0 + 10_000).await;
        assert_eq!(check(&w, a, t0 + 20_000).await, Err(Duration::from_secs(40)));
        assert_eq!(check(&w, b, t0).await, Ok(()));
        assert_eq!(check(&other, a, t0 + 20_000).await, Ok(()));
        assert_eq!(check(&w, a, t0 + 60_000).await, Ok(()));

        // Failures that slid out of the window are deleted on the next attempt.
        fail(&w, "10.0.0.2", t0 + 75_000).await;
        let rows: i64 = db
            .call(|c| {
                c.query_row("SELECT count(*) FROM guess_failure WHERE scope = 'test'", [], |r| r.get(0))
                    .map_err(DbError::from)
            })
            .await
            .unwrap();
        assert_eq!(rows, 1);
    }

    #[tokio::test]
    async fn concurrent_attempts_cannot_overrun_the_limit_and_released_ones_do_not_count() {
        let db = Db::open_in_memory().unwrap();
        let w = FailureWindow::new(db, "test", 10, Duration::from_secs(60));
        let client: IpAddr = "10.0.0.1".parse().unwrap();
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let w = w.clone();
                tokio::spawn(async move { w.reserve_at(client, 1_000_000).await.unwrap() })
            })
            .collect();
        let mut admitted = Vec::new();
        for task in tasks {
            admitted.extend(task.await.unwrap().ok());
        }
        assert_eq!(admitted.len(), 10);
        assert!(check(&w, client, 1_000_000).await.is_err());
        admitted.pop().unwrap().release().await;
        assert_eq!(check(&w, client, 1_000_000).await, Ok(()), "a released attempt no longer counts");
        fail(&w, "10.0.0.1", 1_000_000).await;
        assert!(check(&w, client, 1_000_000).await.is_err());
    }
}
