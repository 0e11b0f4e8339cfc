//! A one-second cache of resolved sessions. Every entry dies within a second whatever happens, so no
//! node can serve an ended session for longer than that; successful writes clear it at once here and,
//! through Redis, on the other nodes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::store::sessions::LiveSession;

const TTL: Duration = Duration::from_secs(1);
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub struct SessionCache {
    entries: RwLock<HashMap<String, (Instant, LiveSession)>>,
    hits: AtomicU64,
    lookups: AtomicU64,
}

impl SessionCache {
    pub fn get(&self, token_hash: &str) -> Option<LiveSession> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let (at, session) = entries.get(token_hash)?;
        if at.elapsed() >= TTL {
            return None;
        }
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(session.clone())
    }

    pub fn put(&self, token_hash: String, session: LiveSession) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (at, _)| at.elapsed() < TTL);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(token_hash, (Instant::now(), session));
    }

    pub fn clear(&self) {
        self.entries.write().unwrap_or_else(|p| p.into_inner()).clear();
    }

    pub fn len(&self) -> usize {
        self.entries.read().map(|e| e.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Percentage of lookups that found a live entry.
    pub fn hit_rate(&self) -> f64 {
        let lookups = self.lookups.load(Ordering::Relaxed);
        if lookups == 0 {
            return 0.0;
        }
        self.hits.load(Ordering::Relaxed) as f64 * 100.0 / lookups as f64
    }
}
