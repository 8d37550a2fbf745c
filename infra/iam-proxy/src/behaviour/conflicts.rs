//! Transaction conflicts as DynamoDB reports them: a transaction that
//! includes an item another in-flight transaction includes is cancelled
//! (`TransactionConflict` at that item's index), and a single-item write to
//! such an item fails (`TransactionConflictException`). A transaction is in
//! flight from its acceptance until its commit ended (`end`: the upstream
//! answer plus the commit latency). Plain data and functions: the caller
//! passes the time.

use std::collections::HashMap;
use std::time::Instant;

use super::touched::ItemKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionId(u64);

#[derive(Debug, Default)]
pub struct InFlight {
    next: u64,
    /// Which transaction holds the item, and until when (`None`: until its
    /// upstream answer is back).
    held: HashMap<ItemKey, (TransactionId, Option<Instant>)>,
}

impl InFlight {
    fn holder(&self, key: &ItemKey, now: Instant) -> Option<TransactionId> {
        match self.held.get(key) {
            Some((id, None)) => Some(*id),
            Some((id, Some(until))) if *until > now => Some(*id),
            _ => None,
        }
    }

    /// Takes every item for a new transaction, or, when some are in
    /// flight, takes none and answers their indexes.
    pub fn begin(&mut self, keys: &[ItemKey], now: Instant) -> Result<TransactionId, Vec<usize>> {
        let conflicts: Vec<usize> = keys
            .iter()
            .enumerate()
            .filter(|(_, key)| self.holder(key, now).is_some())
            .map(|(i, _)| i)
            .collect();
        if !conflicts.is_empty() {
            return Err(conflicts);
        }
        self.next += 1;
        let id = TransactionId(self.next);
        for key in keys {
            self.held.insert(key.clone(), (id, None));
        }
        Ok(id)
    }

    /// The transaction's items stay taken until `until` (its commit), then
    /// are free; entries whose time passed are dropped.
    pub fn end(&mut self, id: TransactionId, until: Instant, now: Instant) {
        self.held.retain(|_, (holder, end)| match end {
            Some(end) => *end > now,
            None => *holder != id || until > now,
        });
        for (holder, end) in self.held.values_mut() {
            if *holder == id {
                *end = Some(until);
            }
        }
    }

    /// Is any of these items in an in-flight transaction? (A single-item
    /// write to it fails.)
    pub fn any_held(&self, keys: &[ItemKey], now: Instant) -> bool {
        keys.iter().any(|key| self.holder(key, now).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn item(sk: &str) -> ItemKey {
        ItemKey {
            table: "t".into(),
            pk: "{\"S\":\"EVENT#1\"}".into(),
            sk: format!("{{\"S\":\"{sk}\"}}"),
        }
    }

    #[test]
    fn a_transaction_touching_an_item_in_flight_is_cancelled_with_a_conflict_at_that_index() {
        let mut in_flight = InFlight::default();
        let now = Instant::now();
        in_flight
            .begin(&[item("EVENT"), item("UNIT#1")], now)
            .unwrap();
        let second = in_flight.begin(&[item("BOOKING#2"), item("UNIT#2"), item("EVENT")], now);
        assert_eq!(second, Err(vec![2]));
        // A cancelled transaction took nothing.
        assert!(!in_flight.any_held(&[item("UNIT#2")], now));
    }

    #[test]
    fn transactions_on_different_items_do_not_conflict() {
        let mut in_flight = InFlight::default();
        let now = Instant::now();
        in_flight.begin(&[item("UNIT#1")], now).unwrap();
        assert!(in_flight.begin(&[item("UNIT#2")], now).is_ok());
    }

    #[test]
    fn a_single_write_to_an_item_in_flight_is_a_transaction_conflict() {
        let mut in_flight = InFlight::default();
        let now = Instant::now();
        in_flight.begin(&[item("UNIT#1")], now).unwrap();
        assert!(in_flight.any_held(&[item("UNIT#1")], now));
        assert!(!in_flight.any_held(&[item("UNIT#9")], now));
    }

    #[test]
    fn keys_are_free_again_after_the_commit_latency() {
        let mut in_flight = InFlight::default();
        let now = Instant::now();
        let latency = Duration::from_millis(5);
        let id = in_flight.begin(&[item("EVENT")], now).unwrap();
        in_flight.end(id, now + latency, now);
        assert!(in_flight.any_held(&[item("EVENT")], now + latency / 2));
        assert_eq!(
            in_flight.begin(&[item("EVENT")], now + latency / 2),
            Err(vec![0])
        );
        assert!(!in_flight.any_held(&[item("EVENT")], now + latency));
        assert!(in_flight.begin(&[item("EVENT")], now + latency).is_ok());
    }

    #[test]
    fn ending_one_transaction_leaves_another_in_flight() {
        let mut in_flight = InFlight::default();
        let now = Instant::now();
        let first = in_flight.begin(&[item("UNIT#1")], now).unwrap();
        in_flight.begin(&[item("UNIT#2")], now).unwrap();
        in_flight.end(first, now, now);
        let later = now + Duration::from_secs(60);
        assert!(!in_flight.any_held(&[item("UNIT#1")], later));
        assert!(in_flight.any_held(&[item("UNIT#2")], later));
    }
}
