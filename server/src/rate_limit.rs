//! Failed attempts per client address in a sliding window (pairing guesses).
//!
//! Kept in memory: a restart forgets it, which costs an attacker a server
//! restart per window — not something they control.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Clients tracked before stale entries are swept.
const SWEEP_ABOVE: usize = 4096;

#[derive(Clone)]
pub struct FailureWindow {
    limit: usize,
    window: Duration,
    failures: Arc<Mutex<HashMap<IpAddr, VecDeque<Instant>>>>,
}

impl FailureWindow {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            window,
            failures: Arc::default(),
        }
    }

    /// `Err(wait)` while `client` has used up its failures in the window.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        self.check_at(client, Instant::now())
    }

    pub fn record_failure(&self, client: IpAddr) {
        self.record_at(client, Instant::now());
    }

    fn check_at(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut failures = self.lock();
        let Some(times) = failures.get_mut(&client) else {
            return Ok(());
        };
        self.forget_old(times, now);
        match times.front() {
            Some(oldest) if times.len() >= self.limit => {
                Err(self.window.saturating_sub(now.duration_since(*oldest)))
            }
            _ => Ok(()),
        }
    }

    fn record_at(&self, client: IpAddr, now: Instant) {
        let mut failures = self.lock();
        if failures.len() > SWEEP_ABOVE {
            failures.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        let times = failures.entry(client).or_default();
        self.forget_old(times, now);
        times.push_back(now);
    }

    fn forget_old(&self, times: &mut VecDeque<Instant>, now: Instant) {
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            times.pop_front();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, VecDeque<Instant>>> {
        // Each update leaves the map consistent, so a poisoned lock is still usable.
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_client_and_recovers_after_the_window() {
        let w = FailureWindow::new(2, Duration::from_secs(60));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        w.record_at(a, t0);
        assert!(w.check_at(a, t0).is_ok());
        w.record_at(a, t0 + Duration::from_secs(10));
        assert_eq!(
            w.check_at(a, t0 + Duration::from_secs(20)),
            Err(Duration::from_secs(40))
        );
        assert!(w.check_at(b, t0).is_ok());
        assert!(w.check_at(a, t0 + Duration::from_secs(60)).is_ok());
    }
}
