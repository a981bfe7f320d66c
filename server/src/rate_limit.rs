//! Failed attempts per client in a sliding window (pairing and co-browsing
//! code guesses).
//!
//! The failures are stored (`db::guesses`), so restarting the server does
//! not give a guesser a fresh window. The client is the address
//! `http::extract::ClientAddr` settled on (the peer, or behind a trusted
//! proxy the address it forwarded for), and for IPv6 its /64: one host or
//! home network is usually given a whole /64, so counting per address would
//! let it guess from 2^64 addresses.

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
        Self {
            db,
            scope,
            limit: u64::from(limit),
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
        }
    }

    /// `Ok(Err(wait))` while `client` has used up its failures in the window.
    pub async fn check(&self, client: IpAddr) -> Result<Result<(), Duration>, DbError> {
        self.check_at(client, now_ms()).await
    }

    /// Counts a failure. Not being able to store it is logged, not fatal:
    /// the request already failed for its own reason.
    pub async fn record_failure(&self, client: IpAddr) {
        if let Err(err) = self.record_at(client, now_ms()).await {
            tracing::error!(%err, scope = self.scope, "cannot store a failed guess");
        }
    }

    async fn check_at(&self, client: IpAddr, now: i64) -> Result<Result<(), Duration>, DbError> {
        let (scope, key) = (self.scope, client_key(client));
        let since = now.saturating_sub(self.window_ms);
        let (count, oldest) = self
            .db
            .call(move |conn| guesses::recent(conn, scope, &key, since))
            .await?;
        Ok(match oldest {
            Some(oldest) if count >= self.limit => {
                let left = oldest.saturating_add(self.window_ms).saturating_sub(now);
                Err(Duration::from_millis(u64::try_from(left).unwrap_or(0)))
            }
            _ => Ok(()),
        })
    }

    async fn record_at(&self, client: IpAddr, now: i64) -> Result<(), DbError> {
        let (scope, key) = (self.scope, client_key(client));
        let forget = now.saturating_sub(self.window_ms);
        self.db
            .call(move |conn| guesses::record(conn, scope, &key, now, forget))
            .await
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

    #[tokio::test]
    async fn one_ipv6_host_cannot_guess_from_other_addresses_of_its_64() {
        let db = Db::open_in_memory().unwrap();
        let w = FailureWindow::new(db, "test", 2, Duration::from_secs(60));
        let t0 = 1_000_000;
        w.record_at("2001:db8::1".parse().unwrap(), t0).await.unwrap();
        w.record_at("2001:db8::2".parse().unwrap(), t0).await.unwrap();
        assert!(w.check_at("2001:db8::3".parse().unwrap(), t0).await.unwrap().is_err());
        assert_eq!(w.check_at("2001:db8:0:1::3".parse().unwrap(), t0).await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn limits_per_client_and_recovers_after_the_window() {
        let db = Db::open_in_memory().unwrap();
        let w = FailureWindow::new(db.clone(), "test", 2, Duration::from_secs(60));
        let other = FailureWindow::new(db.clone(), "other", 2, Duration::from_secs(60));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = 1_000_000;
        w.record_at(a, t0).await.unwrap();
        assert_eq!(w.check_at(a, t0).await.unwrap(), Ok(()));
        w.record_at(a, t0 + 10_000).await.unwrap();
        assert_eq!(
            w.check_at(a, t0 + 20_000).await.unwrap(),
            Err(Duration::from_secs(40))
        );
        assert_eq!(w.check_at(b, t0).await.unwrap(), Ok(()));
        assert_eq!(other.check_at(a, t0 + 20_000).await.unwrap(), Ok(()));
        assert_eq!(w.check_at(a, t0 + 60_000).await.unwrap(), Ok(()));

        // Failures that slid out of the window are deleted on the next record.
        w.record_at(b, t0 + 75_000).await.unwrap();
        let rows: i64 = db
            .call(|c| {
                c.query_row("SELECT count(*) FROM guess_failure WHERE scope = 'test'", [], |r| r.get(0))
                    .map_err(DbError::from)
            })
            .await
            .unwrap();
        assert_eq!(rows, 1);
    }
}
