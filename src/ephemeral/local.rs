//! The in-process live state: exact for one node, and the fallback of every node while Redis is
//! unreachable.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::time::{seconds_until, MICROS_PER_SECOND};

/// The answer of a token bucket (00-conventions §8.3).
#[derive(Debug, Clone, Copy)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_s: u64,
    /// Seconds until one token is available (only meaningful when refused).
    pub retry_after_s: u64,
}

#[derive(Default)]
pub struct LocalState {
    buckets: Mutex<HashMap<String, Bucket>>,
    /// Counted attempts per key: when each was made, and its number (to take one back).
    failures: Mutex<HashMap<String, VecDeque<(i64, u64)>>>,
    next_attempt: AtomicU64,
    operations: AtomicU64,
}

/// A GCRA bucket: the theoretical arrival time, in microseconds, at which it would be full again.
/// Keeping the time rather than a token count lets a changed limit apply from the next request
/// (50-bots §5.1: T is recomputed, tat kept).
struct Bucket {
    tat: f64,
}

impl Decision {
    /// The headers' view of a bucket holding `tokens` after the request.
    pub fn from_tokens(allowed: bool, tokens: f64, limit: u32, window_s: i64) -> Decision {
        let capacity = limit as f64;
        let per_micro = capacity / (window_s * MICROS_PER_SECOND) as f64;
        let micros_to = |target: f64| ((target - tokens).max(0.0) / per_micro).ceil() as i64;
        Decision {
            allowed,
            limit,
            remaining: tokens.max(0.0).floor() as u32,
            reset_s: seconds_until(0, micros_to(capacity)),
            retry_after_s: seconds_until(0, micros_to(1.0)).max(1),
        }
    }
}

/// One GCRA step at `now` on the stored `tat`: whether the request is allowed, and the tokens left
/// after it (before it, when refused). Mirrors the Redis script.
fn gcra(tat: &mut f64, limit: u32, window_s: i64, now: f64) -> (bool, f64) {
    let window = (window_s * MICROS_PER_SECOND) as f64;
    let per_request = window / f64::from(limit.max(1));
    let start = tat.max(now);
    let next = start + per_request;
    if next - now > window {
        (false, (window - (start - now)) / per_request)
    } else {
        *tat = next;
        (true, (window - (next - now)) / per_request)
    }
}

fn forget_before(list: &mut VecDeque<(i64, u64)>, horizon: i64) {
    while list.front().is_some_and(|(at, _)| *at <= horizon) {
        list.pop_front();
    }
}

impl LocalState {
    /// Takes one token from the bucket `key`, which holds `limit` tokens and refills them evenly
    /// over `window_s` seconds (GCRA, 50-bots §5.1).
    pub fn take(&self, key: &str, limit: u32, window_s: i64, now: i64) -> Decision {
        self.operations.fetch_add(1, Ordering::Relaxed);
        let now = now as f64;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            // Full buckets carry no information; dropping them bounds memory under key churn.
            buckets.retain(|_, b| b.tat > now);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket { tat: now });
        let (allowed, tokens) = gcra(&mut bucket.tat, limit, window_s, now);
        Decision::from_tokens(allowed, tokens, limit, window_s)
    }

    /// Takes one token from each of `buckets` (key, limit), all refilled over `window_s`, when
    /// every one has a token, and none otherwise: a refused request costs nothing. `Err` holds the
    /// microseconds until all of them would allow one.
    pub fn take_together(&self, buckets: &[(&str, u32)], window_s: i64, now: i64) -> Result<(), i64> {
        self.operations.fetch_add(1, Ordering::Relaxed);
        let now = now as f64;
        let window = (window_s * MICROS_PER_SECOND) as f64;
        let mut all = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let mut next_tats = Vec::with_capacity(buckets.len());
        let mut wait: f64 = 0.0;
        for (key, limit) in buckets {
            let tat = all.get(*key).map_or(now, |b| b.tat.max(now));
            let next = tat + window / f64::from((*limit).max(1));
            wait = wait.max(next - now - window);
            next_tats.push(next);
        }
        if wait > 0.0 {
            return Err(wait.ceil() as i64);
        }
        for ((key, _), tat) in buckets.iter().zip(next_tats) {
            all.insert((*key).to_owned(), Bucket { tat });
        }
        Ok(())
    }

    /// Failures of `key` within the last `window_s` seconds, and when the oldest of them leaves the window.
    pub fn failures(&self, key: &str, window_s: i64, now: i64) -> (usize, Option<i64>) {
        self.operations.fetch_add(1, Ordering::Relaxed);
        let mut all = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let Some(list) = all.get_mut(key) else { return (0, None) };
        let window = window_s * MICROS_PER_SECOND;
        forget_before(list, now - window);
        (list.len(), list.front().map(|(at, _)| at + window))
    }

    /// Counts one attempt of `key` unless `max` are already counted within the window: the check
    /// and the count are one step under the lock. `Err` holds when the oldest leaves the window.
    pub fn admit_attempt(&self, key: &str, max: usize, window_s: i64, now: i64) -> Result<u64, i64> {
        self.operations.fetch_add(1, Ordering::Relaxed);
        let mut all = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let list = all.entry(key.to_owned()).or_default();
        let window = window_s * MICROS_PER_SECOND;
        forget_before(list, now - window);
        if list.len() >= max {
            return Err(list.front().map_or(now, |(at, _)| at + window));
        }
        let id = self.next_attempt.fetch_add(1, Ordering::Relaxed);
        list.push_back((now, id));
        Ok(id)
    }

    /// Counts attempt `id` again as made `now` (it moves to the back: the newest).
    pub fn renew_attempt(&self, key: &str, id: u64, now: i64) {
        let mut all = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = all.get_mut(key) {
            if let Some(at) = list.iter().position(|(_, other)| *other == id) {
                list.remove(at);
                list.push_back((now, id));
            }
        }
    }

    /// Takes back a counted attempt that turned out not to be a failure.
    pub fn release_attempt(&self, key: &str, id: u64) {
        let mut all = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = all.get_mut(key) {
            list.retain(|(_, other)| *other != id);
        }
    }

    pub fn operations(&self) -> u64 {
        self.operations.load(Ordering::Relaxed)
    }

    pub fn key_count(&self) -> usize {
        self.buckets.lock().map(|b| b.len()).unwrap_or(0) + self.failures.lock().map(|f| f.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refuses_the_21st_request_and_refills() {
        let state = LocalState::default();
        for i in 0..20 {
            let d = state.take("k", 20, 60, 0);
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 19 - i);
        }
        let refused = state.take("k", 20, 60, 0);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_s, 3);
        assert!(state.take("k", 20, 60, 3 * MICROS_PER_SECOND).allowed);
    }

    #[test]
    fn a_raised_limit_applies_from_the_next_request() {
        let state = LocalState::default();
        for _ in 0..10 {
            assert!(state.take("bot", 1000, 3600, 0).allowed);
        }
        // Raised a hundredfold: the ten requests used a hundredth as much of the new bucket.
        let raised = state.take("bot", 100_000, 3600, 0);
        assert!(raised.allowed);
        assert_eq!(raised.remaining, 100_000 - 1001);
        for _ in 0..5_000 {
            assert!(state.take("bot", 100_000, 3600, 0).allowed);
        }
        // Lowered again: the time used so far (6 % of the hour) is kept, not the token count.
        let lowered = state.take("bot", 1000, 3600, 0);
        assert!(lowered.allowed);
        assert_eq!(lowered.remaining, 938);
    }

    #[test]
    fn attempts_are_admitted_up_to_the_limit_and_leave_the_window() {
        let state = LocalState::default();
        let first = state.admit_attempt("ip", 2, 600, 0).unwrap();
        state.admit_attempt("ip", 2, 600, 5 * MICROS_PER_SECOND).unwrap();
        assert_eq!(
            state.admit_attempt("ip", 2, 600, 10 * MICROS_PER_SECOND),
            Err(600 * MICROS_PER_SECOND)
        );
        assert_eq!(state.failures("ip", 600, 10 * MICROS_PER_SECOND).0, 2);
        state.release_attempt("ip", first);
        assert_eq!(state.failures("ip", 600, 10 * MICROS_PER_SECOND).0, 1);
        assert_eq!(state.failures("ip", 600, 605 * MICROS_PER_SECOND).0, 0);
    }

    #[test]
    fn a_renewed_attempt_stays_counted_as_a_lease() {
        let state = LocalState::default();
        let lease = state.admit_attempt("screens", 1, 60, 0).unwrap();
        state.renew_attempt("screens", lease, 50 * MICROS_PER_SECOND);
        assert!(state.admit_attempt("screens", 1, 60, 100 * MICROS_PER_SECOND).is_err());
        // Not renewed, it runs out.
        assert!(state.admit_attempt("screens", 1, 60, 111 * MICROS_PER_SECOND).is_ok());
    }
}
