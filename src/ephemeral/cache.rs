//! One-second caches of what hot reads resolve: sessions, bots by key, and the rendered user views. Every entry
//! dies within a second of real time and of the server's clock whatever happens, so no node can
//! serve an ended session or an old view for longer than that; successful writes clear them at once
//! here and, through Redis, on the other nodes.
//!
//! A read that misses takes a [`Ticket`] before it goes to the database and stores its answer with
//! it; a clear in between voids the ticket, so an answer read before a write cannot be stored after
//! the write cleared the cache. Concurrent misses of one key load it once: the others wait and
//! find it stored. In the last tenth of an entry's second one reader of a busy key reads it again
//! while the others are still served the entry, so readers of a key in constant use never all wait
//! for its load.
//!
//! Keys that one statement can read together (the public cards of many users) may instead be
//! loaded in batches: the misses that arrive while a batch is read wait for it and are read
//! together in the next, so under load one statement serves many misses.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::store::keys::BotRow;
use crate::store::sessions::LiveSession;
use crate::time::MICROS_PER_SECOND;

pub const TTL: Duration = Duration::from_secs(1);
/// From this age an entry is read again by the next reader that finds no load of its stripe running.
const REFRESH_AFTER: Duration = Duration::from_millis(900);
const TTL_MICROS: i64 = MICROS_PER_SECOND;
/// Loads of keys that share a stripe queue behind each other. With 64 connections missing on
/// different keys at once, 64 stripes made about a quarter of the misses wait for another key's
/// load; at 1,024 it is a few in a hundred.
const LOAD_STRIPES: usize = 1024;

/// The cache generation a read started in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

struct Entry<V> {
    stored: Instant,
    /// Server-clock window in which the value holds: from the read until the first of one second
    /// later and the next moment the value changes by itself (an expiry).
    from: i64,
    until: i64,
    value: V,
}

impl<V> Entry<V> {
    fn holds_at(&self, now: i64) -> bool {
        self.stored.elapsed() < TTL && self.from <= now && now < self.until
    }
}

struct Inner<K, V> {
    entries: HashMap<K, Entry<V>>,
    generation: u64,
}

pub struct TtlCache<K, V> {
    inner: RwLock<Inner<K, V>>,
    loads: Box<[tokio::sync::Mutex<()>]>,
    /// Missed keys waiting for the next batch, and the one batch being read.
    pending: Mutex<Vec<K>>,
    batch: tokio::sync::Mutex<()>,
    hasher: RandomState,
    max_entries: usize,
    hits: AtomicU64,
    lookups: AtomicU64,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub fn new(max_entries: usize) -> Self {
        TtlCache {
            inner: RwLock::new(Inner {
                entries: HashMap::new(),
                generation: 0,
            }),
            loads: (0..LOAD_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            pending: Mutex::new(Vec::new()),
            batch: tokio::sync::Mutex::new(()),
            hasher: RandomState::new(),
            max_entries,
            hits: AtomicU64::new(0),
            lookups: AtomicU64::new(0),
        }
    }

    /// The value stored for `key`, if it still holds at `now` (server clock).
    pub fn get(&self, key: &K, now: i64) -> Option<V> {
        self.lookup(key, now).map(|(value, _)| value)
    }

    /// As `get`, and whether the entry is old enough to be read again.
    fn lookup(&self, key: &K, now: i64) -> Option<(V, bool)> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let entry = inner.entries.get(key).filter(|e| e.holds_at(now))?;
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some((entry.value.clone(), entry.stored.elapsed() >= REFRESH_AFTER))
    }

    /// The value for `key`: stored, or read by `load` (at the server-clock time it is given) and
    /// stored until at most the moment `load` says it changes. `clock` reads the server's clock.
    /// `None` from `load` (nothing found) is not stored.
    pub async fn get_or_load<E, F, Fut>(&self, key: K, clock: impl Fn() -> i64, load: F) -> Result<Option<V>, E>
    where
        F: FnOnce(i64) -> Fut,
        Fut: Future<Output = Result<Option<(V, Option<i64>)>, E>>,
    {
        let stripe = &self.loads[self.hasher.hash_one(&key) as usize % self.loads.len()];
        let _loading = match self.lookup(&key, clock()) {
            Some((value, false)) => return Ok(Some(value)),
            // Due for a refresh: read again unless a load of the stripe runs; it still holds.
            Some((value, true)) => match stripe.try_lock() {
                Ok(loading) => loading,
                Err(_) => return Ok(Some(value)),
            },
            None => {
                let loading = stripe.lock().await;
                if let Some(value) = self.get(&key, clock()) {
                    return Ok(Some(value));
                }
                loading
            }
        };
        // Taken before the read, so a write clearing the cache after it voids what is read below.
        let ticket = self.ticket();
        let now = clock();
        let Some((value, changes_at)) = load(now).await? else {
            // Gone since an entry still standing was read: it goes too.
            self.remove(&key);
            return Ok(None);
        };
        self.put(ticket, key, value.clone(), now, changes_at);
        Ok(Some(value))
    }

    /// As `get_or_load`, for keys that `load` reads together: a miss waits for the batch being
    /// read, if any, and is then read with every other key that missed meanwhile (at most
    /// `max_keys`, its own first). `load` answers for the keys it found; the rest are not
    /// stored. A reader of an entry due for a refresh reads it again, with the waiting keys, only
    /// when no batch is being read.
    pub async fn get_or_load_batched<E, F, Fut>(
        &self,
        key: K,
        max_keys: usize,
        clock: impl Fn() -> i64,
        load: F,
    ) -> Result<Option<V>, E>
    where
        K: Clone,
        F: FnOnce(Vec<K>, i64) -> Fut,
        Fut: Future<Output = Result<Vec<(K, V, Option<i64>)>, E>>,
    {
        let _reading = match self.lookup(&key, clock()) {
            Some((value, false)) => return Ok(Some(value)),
            Some((value, true)) => match self.batch.try_lock() {
                Ok(reading) => reading,
                Err(_) => return Ok(Some(value)),
            },
            None => {
                self.pending.lock().unwrap_or_else(|p| p.into_inner()).push(key.clone());
                let reading = self.batch.lock().await;
                if let Some(value) = self.get(&key, clock()) {
                    return Ok(Some(value));
                }
                reading
            }
        };
        let mut keys = vec![key.clone()];
        {
            let now = clock();
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
            let mut taken = 0;
            for waiting in pending.iter() {
                if keys.len() >= max_keys {
                    break;
                }
                taken += 1;
                // A key stored since its reader queued (by the batch before) is not read again.
                let stored = inner.entries.get(waiting).is_some_and(|e| e.holds_at(now));
                if !stored && !keys.contains(waiting) {
                    keys.push(waiting.clone());
                }
            }
            // Keys beyond this batch stay for the next; their readers wait for it.
            pending.drain(..taken);
        }
        let ticket = self.ticket();
        let now = clock();
        let loaded = load(keys, now).await?;
        let mine = loaded
            .iter()
            .find(|(k, ..)| *k == key)
            .map(|(_, value, _)| value.clone());
        if mine.is_none() {
            // Gone since an entry still standing was read: it goes too.
            self.remove(&key);
        }
        self.put_all(ticket, loaded, now);
        Ok(mine)
    }

    /// Take one before reading what will be stored.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.inner.read().unwrap_or_else(|p| p.into_inner()).generation)
    }

    /// Stores `value`, read at `now` under `ticket`, until at most `changes_at` (server clock); a
    /// clear since the ticket was taken discards it.
    pub fn put(&self, ticket: Ticket, key: K, value: V, now: i64, changes_at: Option<i64>) {
        self.put_all(ticket, [(key, value, changes_at)], now);
    }

    /// `put` of several values read together, under one lock.
    fn put_all(&self, ticket: Ticket, values: impl IntoIterator<Item = (K, V, Option<i64>)>, now: i64) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if inner.generation != ticket.0 {
            return;
        }
        for (key, value, changes_at) in values {
            let until = changes_at.map_or(now + TTL_MICROS, |at| at.min(now + TTL_MICROS));
            if until <= now {
                continue;
            }
            if inner.entries.len() >= self.max_entries {
                inner.entries.retain(|_, e| e.stored.elapsed() < TTL);
                if inner.entries.len() >= self.max_entries {
                    inner.entries.clear();
                }
            }
            inner.entries.insert(
                key,
                Entry {
                    stored: Instant::now(),
                    from: now,
                    until,
                    value,
                },
            );
        }
    }

    pub fn remove(&self, key: &K) {
        self.inner
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entries
            .remove(key);
    }

    /// Drops every entry and voids every ticket taken so far.
    pub fn clear(&self) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        inner.generation += 1;
        inner.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.inner.read().map(|i| i.entries.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
}

/// Resolved sessions by token digest.
pub type SessionCache = TtlCache<String, LiveSession>;

/// Bots by key digest.
pub type BotCache = TtlCache<String, BotRow>;

/// Which rendering of a user a cached view is: what anyone below Admin sees, what an Admin or an
/// Owner sees (the staff record where they outrank the user), or the user's own record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    Public,
    Admin,
    Owner,
    Own,
}

impl Audience {
    pub const ALL: [Audience; 4] = [Audience::Public, Audience::Admin, Audience::Owner, Audience::Own];
}

/// Rendered JSON of user views by user id and audience.
pub type ViewCache = TtlCache<(i64, Audience), Bytes>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_holds_until_its_change_and_never_past_a_second() {
        let cache: TtlCache<i64, i64> = TtlCache::new(10);
        let t = cache.ticket();
        cache.put(t, 1, 10, 1_000, Some(1_500));
        cache.put(t, 2, 20, 1_000, None);
        assert_eq!(cache.get(&1, 1_499), Some(10));
        assert_eq!(cache.get(&1, 1_500), None);
        assert_eq!(cache.get(&2, 1_000 + TTL_MICROS - 1), Some(20));
        assert_eq!(cache.get(&2, 1_000 + TTL_MICROS), None);
        assert_eq!(cache.get(&2, 999), None, "a clock set back does not see a later read");
    }

    #[test]
    fn a_clear_voids_the_tickets_taken_before_it() {
        let cache: TtlCache<i64, i64> = TtlCache::new(10);
        let before = cache.ticket();
        cache.clear();
        cache.put(before, 1, 10, 0, None);
        assert_eq!(cache.get(&1, 0), None);
        let after = cache.ticket();
        cache.put(after, 1, 11, 0, None);
        assert_eq!(cache.get(&1, 0), Some(11));
        assert_eq!(cache.hits(), 1);
        assert_eq!(cache.lookups(), 2);
    }

    #[tokio::test]
    async fn concurrent_misses_load_once() {
        let cache: TtlCache<i64, i64> = TtlCache::new(10);
        let loads = AtomicU64::new(0);
        let load = |_now| async {
            loads.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok::<_, ()>(Some((7, None)))
        };
        let (a, b) = tokio::join!(cache.get_or_load(1, || 0, load), cache.get_or_load(1, || 0, load));
        assert_eq!((a, b), (Ok(Some(7)), Ok(Some(7))));
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        let none = cache.get_or_load(2, || 0, |_| async { Ok::<_, ()>(None) }).await;
        assert_eq!(none, Ok(None));
        assert_eq!(cache.get(&2, 0), None, "nothing found is not stored");
    }

    #[tokio::test]
    async fn an_entry_near_its_end_is_read_again_by_one_reader_while_the_others_are_served_it() {
        let cache: TtlCache<i64, i64> = TtlCache::new(10);
        cache.put(cache.ticket(), 1, 10, 0, None);
        let fresh = |_now| async { Ok::<_, ()>(Some((11, None))) };
        assert_eq!(
            cache.get_or_load(1, || 0, fresh).await,
            Ok(Some(10)),
            "a young entry is not read again"
        );

        cache.inner.write().unwrap().entries.get_mut(&1).unwrap().stored -= Duration::from_millis(950);
        let stripe = &cache.loads[cache.hasher.hash_one(1_i64) as usize % cache.loads.len()];
        let another_load = stripe.lock().await;
        assert_eq!(
            cache.get_or_load(1, || 0, fresh).await,
            Ok(Some(10)),
            "served while another reads"
        );
        drop(another_load);
        assert_eq!(cache.get_or_load(1, || 0, fresh).await, Ok(Some(11)));
        assert_eq!(cache.get(&1, 0), Some(11), "stored for a new second");

        cache.inner.write().unwrap().entries.get_mut(&1).unwrap().stored -= Duration::from_millis(950);
        let gone = |_now| async { Ok::<_, ()>(None) };
        assert_eq!(cache.get_or_load(1, || 0, gone).await, Ok(None));
        assert_eq!(
            cache.get(&1, 0),
            None,
            "what the refresh no longer finds is not served again"
        );
    }

    #[tokio::test]
    async fn misses_during_a_batch_are_read_together_in_the_next() {
        let cache: TtlCache<i64, i64> = TtlCache::new(100);
        let batches = std::sync::Mutex::new(Vec::new());
        let load = |keys: Vec<i64>, _now| async {
            batches.lock().unwrap().push(keys.clone());
            tokio::task::yield_now().await;
            // Key 0 does not exist.
            Ok::<_, ()>(
                keys.into_iter()
                    .filter(|k| *k != 0)
                    .map(|k| (k, k * 10, None))
                    .collect(),
            )
        };
        let (a, b, c, d, none) = tokio::join!(
            cache.get_or_load_batched(1, 2, || 0, load),
            cache.get_or_load_batched(2, 2, || 0, load),
            cache.get_or_load_batched(3, 2, || 0, load),
            cache.get_or_load_batched(2, 2, || 0, load),
            cache.get_or_load_batched(0, 2, || 0, load),
        );
        assert_eq!(
            (a, b, c, d, none),
            (Ok(Some(10)), Ok(Some(20)), Ok(Some(30)), Ok(Some(20)), Ok(None))
        );
        let batches = batches.into_inner().unwrap();
        assert_eq!(batches[0], vec![1], "the first miss does not wait");
        assert_eq!(
            batches[1],
            vec![2, 3],
            "the next batch takes the waiting keys, once each, up to its size"
        );
        assert_eq!(
            batches.iter().flatten().filter(|k| **k == 2).count(),
            1,
            "a key is read once"
        );
        assert_eq!(cache.get(&3, 0), Some(30));
        assert_eq!(cache.get(&0, 0), None, "nothing found is not stored");
    }

    #[test]
    fn a_full_cache_makes_room() {
        let cache: TtlCache<i64, i64> = TtlCache::new(2);
        let t = cache.ticket();
        for k in 0..5 {
            cache.put(t, k, k, 0, None);
        }
        assert!(cache.len() <= 2);
        assert_eq!(cache.get(&4, 0), Some(4));
    }
}
