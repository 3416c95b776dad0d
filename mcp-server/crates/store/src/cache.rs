//! A read-through cache for the queries on every request's path (authentication, the active
//! key of a slot, project lookups), invalidated exactly: every write committed through this
//! store bumps a generation counter, and an entry is only served while the generation it was
//! read at is still current. A revocation therefore takes effect on the very next request.
//! Writes by other processes (the operator's CLI, other replicas) are noticed by the backend's
//! change watch. Rows that exist are cached in one map; unknown API-key lookup ids in another,
//! small one (so that a wrong secret and an unknown key cost the same time), which a flood of
//! unknown tokens can only churn: it never grows memory, and never evicts a genuine key.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// Entries beyond this are dropped wholesale (a cache, not a store).
const MAX_ENTRIES: usize = 65_536;

/// Entries of a cache of misses: a flood clears it, never grows it.
pub const MAX_MISSES: usize = 4_096;

pub struct Cached<K, V> {
    map: Mutex<HashMap<K, (u64, V)>>,
    capacity: usize,
}

impl<K, V> Default for Cached<K, V> {
    fn default() -> Self {
        Self::with_capacity(MAX_ENTRIES)
    }
}

impl<K, V> Cached<K, V> {
    pub fn with_capacity(capacity: usize) -> Self {
        Self { map: Mutex::new(HashMap::new()), capacity }
    }
}

impl<K: Eq + Hash, V: Clone> Cached<K, V> {
    /// The value read at `generation`, if still current.
    pub fn get<Q>(&self, key: &Q, generation: u64) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).filter(|(g, _)| *g == generation).map(|(_, v)| v.clone())
    }

    /// Remembers `value` as read at `generation` (taken before the read).
    pub fn put(&self, key: K, generation: u64, value: V) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.capacity {
            map.clear();
        }
        map.insert(key, (generation, value));
    }
}
