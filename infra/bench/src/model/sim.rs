//! A discrete-event simulation of DynamoDB's rules under load, replaying
//! recorded operations (docs/benchmarks.md, "The model"):
//!
//! * a TransactWriteItems conflicts when any of its items is in another
//!   transaction in flight (in flight: from its acceptance for the commit
//!   latency); the store retries it after its jittered backoff (full
//!   jitter under 25 ms × 2^attempt, at most 6 attempts, as
//!   shared/src/store does); a conflicted attempt takes nothing and
//!   consumes nothing;
//! * a single write to an item in flight fails (the operation ends there);
//! * a conflicted attempt of a request whose condition failed when it was
//!   recorded is also counted as a lost race: two buyers chose the same
//!   seat, and the later one is refused (409) with or without the conflict,
//!   so no key design can avoid it;
//! * every carried-out request consumes its recorded charges on its
//!   partitions; the busiest second of each partition is reported against
//!   its limit (nothing is throttled: the search keeps every partition
//!   under 80 %);
//! * an operation's requests follow each other `request_latency` apart.
//!
//! Plain data in, numbers out; no I/O, no clock.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use crate::rng::Rng;
use crate::trace::{Kind, Shape, peak_per_second};

/// One DynamoDB request of an operation, its keys interned.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub shape: Shape,
    pub items: Vec<u32>,
    /// `(partition id, units)`.
    pub charges: Vec<(u32, f64)>,
    /// Its condition failed when recorded (a unit or a shard was taken).
    pub refused: bool,
}

/// One recorded API operation (a hold, a confirmation, ...).
pub type Op = Vec<Step>;

#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub commit_latency_us: u64,
    pub request_latency_us: u64,
    pub max_attempts: u32,
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            commit_latency_us: 5_000,
            request_latency_us: 5_000,
            max_attempts: 6,
            seed: 1,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Write attempts (transactions, retries included, and single writes).
    pub attempts: u64,
    /// Of which met an item in flight.
    pub conflicted: u64,
    /// Of those, attempts that were refused when recorded (`Step::refused`).
    pub lost_races: u64,
    /// Operations that ended on a conflict (retries exhausted, or a single
    /// write refused).
    pub failed_ops: u64,
    /// Per item id, how many attempts met it in flight (lost races left
    /// out: they say where buyers chose alike, not where keys are shared).
    pub conflicts_at: HashMap<u32, u64>,
    /// Per partition id, the busiest second's units.
    pub peaks: HashMap<u32, f64>,
}

impl Outcome {
    /// Conflicts the key design could avoid: of attempts that succeeded
    /// when recorded, as a share of all write attempts.
    pub fn conflict_rate(&self) -> f64 {
        self.share(self.conflicted - self.lost_races)
    }

    /// Conflicts of attempts refused when recorded, as a share of all
    /// write attempts.
    pub fn lost_race_rate(&self) -> f64 {
        self.share(self.lost_races)
    }

    fn share(&self, count: u64) -> f64 {
        if self.attempts == 0 {
            0.0
        } else {
            count as f64 / self.attempts as f64
        }
    }
}

/// What happens next: `(time µs, sequence, arrival, step, attempt)`.
type Event = (u64, u64, usize, usize, u32);

/// The store's backoff before retry `attempt + 1`: 1..=25·2^attempt ms.
fn backoff_us(attempt: u32, rng: &mut Rng) -> u64 {
    let ceiling_ms = 25u64 << attempt.min(5);
    (1 + rng.below(ceiling_ms)) * 1_000
}

/// Runs `arrivals` (`(start µs, op index)`) of `ops`.
pub fn simulate<O: AsRef<[Step]>>(ops: &[O], arrivals: &[(u64, usize)], config: Config) -> Outcome {
    let mut rng = Rng::new(config.seed);
    let mut outcome = Outcome::default();
    let mut queue: BinaryHeap<Reverse<Event>> = arrivals
        .iter()
        .enumerate()
        .map(|(seq, &(at, _))| Reverse((at, seq as u64, seq, 0, 0)))
        .collect();
    let mut sequence = arrivals.len() as u64;
    let mut in_flight_until: HashMap<u32, u64> = HashMap::new();
    let mut consumed: HashMap<u32, Vec<(u64, f64)>> = HashMap::new();
    while let Some(Reverse((now, _, arrival, step_index, attempt))) = queue.pop() {
        let Some(step) = ops[arrivals[arrival].1].as_ref().get(step_index) else {
            continue;
        };
        let busy: Vec<u32> = match step.shape {
            Shape::Read => Vec::new(),
            Shape::Transaction | Shape::SingleWrite => {
                outcome.attempts += 1;
                step.items
                    .iter()
                    .copied()
                    .filter(|item| in_flight_until.get(item).is_some_and(|&until| until > now))
                    .collect()
            }
        };
        if !busy.is_empty() {
            outcome.conflicted += 1;
            if step.refused {
                outcome.lost_races += 1;
            } else {
                for item in busy {
                    *outcome.conflicts_at.entry(item).or_default() += 1;
                }
            }
            if step.shape == Shape::Transaction && attempt + 1 < config.max_attempts {
                sequence += 1;
                let retry_at = now + backoff_us(attempt, &mut rng);
                queue.push(Reverse((
                    retry_at,
                    sequence,
                    arrival,
                    step_index,
                    attempt + 1,
                )));
            } else {
                outcome.failed_ops += 1;
            }
            continue;
        }
        if step.shape == Shape::Transaction {
            for &item in &step.items {
                in_flight_until.insert(item, now + config.commit_latency_us);
            }
        }
        for &(partition, units) in &step.charges {
            consumed.entry(partition).or_default().push((now, units));
        }
        sequence += 1;
        queue.push(Reverse((
            now + config.request_latency_us,
            sequence,
            arrival,
            step_index + 1,
            0,
        )));
    }
    outcome.peaks = consumed
        .into_iter()
        .map(|(partition, samples)| (partition, peak_per_second(&samples)))
        .collect();
    outcome
}

/// A partition's busiest second as a share of its limit.
pub fn share_of_limit(units: f64, kind: Kind) -> f64 {
    units / kind.limit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(items: &[u32], partition: u32, units: f64) -> Op {
        vec![Step {
            shape: Shape::Transaction,
            items: items.to_vec(),
            charges: vec![(partition, units)],
            refused: false,
        }]
    }

    fn no_retries() -> Config {
        Config {
            max_attempts: 1,
            ..Config::default()
        }
    }

    #[test]
    fn two_holds_of_one_shard_within_the_commit_latency_conflict() {
        let ops = [hold(&[1, 2], 0, 2.0), hold(&[1, 3], 0, 2.0)];
        let outcome = simulate(&ops, &[(0, 0), (4_999, 1)], no_retries());
        assert_eq!((outcome.attempts, outcome.conflicted), (2, 1));
        assert_eq!(outcome.conflicts_at, HashMap::from([(1, 1)]));
        assert_eq!(outcome.failed_ops, 1);
        // The conflicted attempt consumed nothing.
        assert_eq!(outcome.peaks[&0], 2.0);
    }

    #[test]
    fn holds_after_the_commit_latency_or_on_other_items_do_not_conflict() {
        let ops = [hold(&[1], 0, 2.0), hold(&[1], 0, 2.0), hold(&[2], 0, 2.0)];
        let outcome = simulate(&ops, &[(0, 0), (5_000, 1), (5_001, 2)], no_retries());
        assert_eq!(outcome.conflicted, 0);
        assert_eq!(outcome.conflict_rate(), 0.0);
    }

    #[test]
    fn a_conflicted_transaction_is_retried_after_its_backoff_and_then_succeeds() {
        let ops = [hold(&[1], 0, 2.0)];
        let outcome = simulate(&ops, &[(0, 0), (1, 0)], Config::default());
        assert!(outcome.conflicted >= 1);
        // Every conflicted attempt was retried, until one went through.
        assert_eq!(outcome.attempts, outcome.conflicted + 2);
        assert_eq!(outcome.failed_ops, 0);
        assert_eq!(outcome.peaks[&0], 4.0);
    }

    #[test]
    fn a_conflict_of_a_hold_refused_when_recorded_is_a_lost_race_not_a_design_conflict() {
        let mut late = hold(&[1], 0, 2.0);
        late[0].refused = true;
        let ops = [hold(&[1], 0, 2.0), late];
        let outcome = simulate(&ops, &[(0, 0), (10, 1)], no_retries());
        assert_eq!((outcome.conflicted, outcome.lost_races), (1, 1));
        assert!(outcome.conflicts_at.is_empty());
        assert_eq!(outcome.conflict_rate(), 0.0);
        assert_eq!(outcome.lost_race_rate(), 0.5);
    }

    #[test]
    fn a_conflict_caused_by_a_refused_hold_still_counts_against_the_design() {
        let mut early = hold(&[1], 0, 2.0);
        early[0].refused = true;
        let ops = [early, hold(&[1], 0, 2.0)];
        let outcome = simulate(&ops, &[(0, 0), (10, 1)], no_retries());
        assert_eq!((outcome.conflicted, outcome.lost_races), (1, 0));
        assert_eq!(outcome.conflict_rate(), 0.5);
    }

    #[test]
    fn a_single_write_to_an_item_in_flight_fails_its_operation() {
        let write = vec![Step {
            shape: Shape::SingleWrite,
            items: vec![1],
            charges: vec![(0, 1.0)],
            refused: false,
        }];
        let ops = [hold(&[1], 0, 2.0), write];
        let outcome = simulate(&ops, &[(0, 0), (10, 1)], Config::default());
        assert_eq!((outcome.conflicted, outcome.failed_ops), (1, 1));
    }

    #[test]
    fn reads_never_conflict_and_an_operations_steps_follow_each_other() {
        let read = Step {
            shape: Shape::Read,
            items: Vec::new(),
            charges: vec![(7, 1.0)],
            refused: false,
        };
        let op = vec![read.clone(), hold(&[1], 0, 2.0).remove(0), read];
        let outcome = simulate(&[op], &[(0, 0), (0, 0)], no_retries());
        // Both reads then both transactions 5 ms later, at the same instant.
        assert_eq!((outcome.attempts, outcome.conflicted), (2, 1));
        assert_eq!(outcome.peaks[&7], 3.0);
    }

    #[test]
    fn a_partition_over_its_limit_is_reported_over_80_percent() {
        let ops = [hold(&[], 0, 2.0)];
        // 500 holds of 2 WCU in one second fill the 1,000 WCU exactly.
        let arrivals: Vec<(u64, usize)> = (0..500).map(|i| (i * 1_000, 0)).collect();
        let outcome = simulate(&ops, &arrivals, Config::default());
        assert_eq!(share_of_limit(outcome.peaks[&0], Kind::Write), 1.0);
        assert!(share_of_limit(outcome.peaks[&0], Kind::Write) > 0.8);
    }
}
