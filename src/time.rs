//! Time as the API sees it: integer microseconds since the Unix epoch in storage, RFC 3339 UTC on
//! the wire, and a clock that tests can move.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};

pub const MICROS_PER_SECOND: i64 = 1_000_000;

/// A point in time as stored: microseconds since the epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// `YYYYMMDDTHHMMSSZ`: the basic form of ISO 8601, for file names.
    pub fn compact_utc(self) -> String {
        let dt = DateTime::<Utc>::from_timestamp_micros(self.0).unwrap_or_default();
        dt.format("%Y%m%dT%H%M%SZ").to_string()
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`, or with exactly six fraction digits when there is a fraction.
    pub fn to_rfc3339(self) -> String {
        let dt = DateTime::<Utc>::from_timestamp_micros(self.0).unwrap_or_default();
        if self.0 % MICROS_PER_SECOND == 0 {
            dt.to_rfc3339_opts(SecondsFormat::Secs, true)
        } else {
            dt.to_rfc3339_opts(SecondsFormat::Micros, true)
        }
    }

    /// Any RFC 3339 form with any offset, converted to UTC.
    pub fn parse(text: &str) -> Option<Timestamp> {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|dt| Timestamp(dt.with_timezone(&Utc).timestamp_micros()))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

/// Whole seconds from `now` until `later`, rounded up, for `Retry-After` and similar headers.
pub fn seconds_until(now: i64, later: i64) -> u64 {
    let diff = later - now;
    if diff <= 0 {
        0
    } else {
        ((diff + MICROS_PER_SECOND - 1) / MICROS_PER_SECOND) as u64
    }
}

/// The source of "now". Production reads the system clock; tests hold a `ManualClock` and move it.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        Utc::now().timestamp_micros()
    }
}

/// A clock that starts at the real time and only moves when told to.
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new() -> Arc<Self> {
        Arc::new(ManualClock(AtomicI64::new(SystemClock.now())))
    }

    /// Moves the clock to an absolute time (microseconds since the epoch).
    pub fn set(&self, micros: i64) {
        self.0.store(micros, Ordering::SeqCst);
    }

    pub fn advance_secs(&self, secs: i64) {
        self.0.fetch_add(secs * MICROS_PER_SECOND, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_whole_seconds_without_fraction_and_others_with_six_digits() {
        let whole = Timestamp::parse("2026-03-31T16:03:16Z").unwrap();
        assert_eq!(whole.to_rfc3339(), "2026-03-31T16:03:16Z");
        let frac = Timestamp::parse("2026-03-31T18:03:16.76352+02:00").unwrap();
        assert_eq!(frac.to_rfc3339(), "2026-03-31T16:03:16.763520Z");
    }

    #[test]
    fn rounds_waits_up() {
        assert_eq!(seconds_until(0, 1), 1);
        assert_eq!(seconds_until(0, 3 * MICROS_PER_SECOND), 3);
        assert_eq!(seconds_until(5, 0), 0);
    }
}
