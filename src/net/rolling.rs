//! net/rolling: a set that forgets its oldest entries, as Core's
//! CRollingBloomFilter without false positives: two generations, the
//! newest `GEN` entries at least are always kept.

use std::collections::HashSet;
use std::hash::Hash;

#[derive(Debug)]
pub struct RollingSet<K, const GEN: usize> {
    current: HashSet<K>,
    previous: HashSet<K>,
}

impl<K, const GEN: usize> Default for RollingSet<K, GEN> {
    fn default() -> Self {
        RollingSet {
            current: HashSet::new(),
            previous: HashSet::new(),
        }
    }
}

impl<K: Hash + Eq, const GEN: usize> RollingSet<K, GEN> {
    pub fn contains(&self, key: &K) -> bool {
        self.current.contains(key) || self.previous.contains(key)
    }

    /// Remembers `key`; false when it was known already.
    pub fn insert(&mut self, key: K) -> bool {
        if self.contains(&key) {
            return false;
        }
        if self.current.len() >= GEN {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key);
        true
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.current.clear();
        self.previous.clear();
    }
}
