//! A listener's open connections, in all and per address group of the TCP peer (00-conventions
//! §10.1). A connection's place is a `ConnectionSlot` that every request of it carries, so a
//! WebSocket it was upgraded to keeps the place until it closes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::address::AddressGroup;

/// The open connections of a listener, in all and per address group.
pub struct ConnectionCounts {
    max: usize,
    max_per_group: usize,
    open: AtomicUsize,
    per_group: Mutex<HashMap<AddressGroup, usize>>,
}

impl ConnectionCounts {
    pub fn new(max: usize, max_per_group: usize) -> ConnectionCounts {
        ConnectionCounts {
            max,
            max_per_group,
            open: AtomicUsize::new(0),
            per_group: Mutex::new(HashMap::new()),
        }
    }

    /// A place for a connection of `group` (`None`: not held to the per-group cap), or the
    /// reason there is none: `node_limit` or `address_limit`.
    pub fn admit(self: &Arc<Self>, group: Option<AddressGroup>) -> Result<Arc<ConnectionSlot>, &'static str> {
        if self.open.fetch_add(1, Ordering::AcqRel) >= self.max {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err("node_limit");
        }
        if let Some(group) = &group {
            let mut per_group = self.per_group.lock().unwrap_or_else(|p| p.into_inner());
            let count = per_group.entry(group.clone()).or_default();
            if *count >= self.max_per_group {
                drop(per_group);
                self.open.fetch_sub(1, Ordering::AcqRel);
                return Err("address_limit");
            }
            *count += 1;
        }
        Ok(Arc::new(ConnectionSlot {
            counts: self.clone(),
            group,
        }))
    }
}

/// A connection's place under the caps, given back when the last holder drops it: the accepted
/// connection, and the task of a WebSocket it was upgraded to (which outlives the HTTP connection).
pub struct ConnectionSlot {
    counts: Arc<ConnectionCounts>,
    group: Option<AddressGroup>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.counts.open.fetch_sub(1, Ordering::AcqRel);
        if let Some(group) = &self.group {
            let mut per_group = self.counts.per_group.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(count) = per_group.get_mut(group) {
                *count -= 1;
                if *count == 0 {
                    per_group.remove(group);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caps_count_connections_until_their_last_holder_lets_go() {
        let counts = Arc::new(ConnectionCounts::new(3, 2));
        let group = || Some(AddressGroup::of("2001:db8::1".parse().unwrap(), 64));
        let other = || Some(AddressGroup::of("2001:db8:0:0:ffff::9".parse().unwrap(), 64));
        let first = counts.admit(group()).unwrap();
        let second = counts.admit(other()).unwrap();
        // The same /64: over the per-address cap.
        assert_eq!(counts.admit(group()).err(), Some("address_limit"));
        let proxy = counts.admit(None).unwrap();
        assert_eq!(counts.admit(None).err(), Some("node_limit"));
        // An upgraded connection's task holds the slot after the HTTP connection is gone.
        let upgraded = first.clone();
        drop(first);
        assert_eq!(counts.admit(group()).err(), Some("node_limit"));
        drop(upgraded);
        drop(proxy);
        let again = counts.admit(group()).unwrap();
        drop((second, again));
        assert_eq!(counts.open.load(Ordering::Acquire), 0);
        assert!(counts.per_group.lock().unwrap().is_empty());
    }
}
