//! What the on-sale path reads on every request but that rarely changes,
//! kept for a moment per process: the event being sold (once its layout is
//! frozen) and the settings. At thousands of holds per second, one strongly
//! consistent read per hold would take one partition's 3,000 RCU/s alone
//! (docs/holds.md). A second's staleness is harmless there: a hold of an
//! event that stopped selling a moment ago cannot be paid, as checkout and
//! the confirmation read the event again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Beyond this many keys the oldest reads are not worth keeping: start over.
const MAX_ENTRIES: usize = 1024;

pub struct Recent<V> {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, V)>>,
}

impl<V: Clone> Recent<V> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The value read for `key` less than the TTL ago.
    pub fn get(&self, key: &str) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(read_at, _)| read_at.elapsed() < self.ttl)
            .map(|(_, value)| value.clone())
    }

    /// Remembers a value just read.
    pub fn put(&self, key: &str, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(key) {
            entries.clear();
        }
        entries.insert(key.to_owned(), (Instant::now(), value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_read_within_the_ttl_is_reused() {
        let recent = Recent::new(Duration::from_secs(3600));
        recent.put("e1", 1);
        assert_eq!(recent.get("e1"), Some(1));
        assert_eq!(recent.get("e2"), None);
    }

    #[test]
    fn a_value_older_than_the_ttl_is_read_again() {
        let recent = Recent::new(Duration::ZERO);
        recent.put("e1", 1);
        assert_eq!(recent.get("e1"), None);
    }

    #[test]
    fn a_full_cache_starts_over_instead_of_growing() {
        let recent = Recent::new(Duration::from_secs(3600));
        for i in 0..MAX_ENTRIES {
            recent.put(&i.to_string(), i);
        }
        recent.put("one more", 0);
        assert_eq!(recent.get("0"), None);
        assert_eq!(recent.get("one more"), Some(0));
    }
}
