//! From recorded operations to the highest sustainable seats per second:
//! build a workload at a target rate, simulate it (`sim`), and search for
//! the highest rate at which no partition passes 80 % of its limit and
//! under 1 % of write attempts conflict. Plain functions.

use std::collections::HashMap;

use super::sim::{self, Config, Op, Outcome, Step};
use crate::rng::Rng;
use crate::trace::{self, Kind, Request, Shape, pattern};

pub const PARTITION_CEILING: f64 = 0.8;
pub const CONFLICT_CEILING: f64 = 0.01;

/// Names of interned items and partitions.
#[derive(Debug, Default)]
pub struct Names {
    items: HashMap<String, u32>,
    pub item_names: Vec<String>,
    partitions: HashMap<(String, Kind), u32>,
    pub partition_names: Vec<(String, Kind)>,
}

impl Names {
    fn item(&mut self, key: &str) -> u32 {
        if let Some(&id) = self.items.get(key) {
            return id;
        }
        let id = self.item_names.len() as u32;
        self.item_names.push(key.to_owned());
        self.items.insert(key.to_owned(), id);
        id
    }

    fn partition(&mut self, name: &str, kind: Kind) -> u32 {
        let key = (name.to_owned(), kind);
        if let Some(&id) = self.partitions.get(&key) {
            return id;
        }
        let id = self.partition_names.len() as u32;
        self.partition_names.push(key.clone());
        self.partitions.insert(key, id);
        id
    }

    /// One recorded operation: its requests, in order. Requests the layer
    /// refused while recording (none when conflicts were off) are left out.
    pub fn op(&mut self, requests: &[Request]) -> Op {
        requests
            .iter()
            .filter(|r| r.outcome.reached_upstream())
            .map(|r| Step {
                shape: r.shape(),
                items: r.items.iter().map(|i| self.item(i)).collect(),
                charges: r
                    .charges
                    .iter()
                    .map(|c| (self.partition(&c.partition, c.kind), c.units))
                    .collect(),
                refused: r.outcome == trace::Outcome::Failed,
            })
            .collect()
    }
}

/// Partitions read on a timer by every warm process, with the period in
/// seconds (shared/src/state.rs: `RECENT_EVENT_TTL`, `RECENT_SETTINGS_TTL`).
const REFRESHED: [(&str, f64); 2] = [("table EVENT#", 5.0), ("table SETTINGS", 2.0)];

impl Names {
    /// Takes out of `holds` their reads of the event and of the settings:
    /// the recording's one process re-read them once per period, so how
    /// many holds carry one says how fast it recorded, not what a sale does.
    /// `workload` adds them back per sandbox and period. Returns the last
    /// recorded read of each (the event's: its full layout) and its period.
    pub fn take_refreshes(&self, holds: &mut [Op]) -> Vec<(Op, f64)> {
        let mut last: Vec<Option<Step>> = vec![None; REFRESHED.len()];
        for op in holds.iter_mut() {
            op.retain(|step| match self.refreshed(step) {
                Some(kind) => {
                    last[kind] = Some(step.clone());
                    false
                }
                None => true,
            });
        }
        last.into_iter()
            .zip(REFRESHED)
            .filter_map(|(step, (_, period))| Some((vec![step?], period)))
            .collect()
    }

    /// Which of `REFRESHED` a step reads, if it is a read of one.
    fn refreshed(&self, step: &Step) -> Option<usize> {
        if step.shape != Shape::Read {
            return None;
        }
        let (partition, _) = step.charges.first()?;
        let name = &self.partition_names[*partition as usize].0;
        REFRESHED
            .iter()
            .position(|(prefix, _)| name.starts_with(prefix))
    }
}

/// What one event's recording holds.
#[derive(Debug, Default)]
pub struct Recorded {
    pub holds: Vec<Op>,
    /// Seats the holds took.
    pub seats: u64,
    pub successful_holds: u64,
    pub browse: Vec<Op>,
    pub confirm: Vec<Op>,
    pub release: Vec<Op>,
    /// Reads a warm process makes on a timer, not per hold (see
    /// `Names::take_refreshes`): one recorded read of each, and its period
    /// in seconds.
    pub refresh: Vec<(Op, f64)>,
}

/// How many of the other operations join the holds.
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    /// Availability reads per hold attempt.
    pub browse_per_hold: f64,
    /// Confirmations per successful hold.
    pub confirm_share: f64,
    /// Releases per successful hold.
    pub release_share: f64,
    /// A hold's wall time in a sandbox, in seconds: at λ hold attempts per
    /// second λ × this sandboxes are busy (Little's law), and each makes
    /// the refresh reads once per period.
    pub hold_seconds: f64,
}

/// All operations in one list, and the arrivals that sell the recorded
/// seats at `rate` seats/s: the holds in their recorded order at random
/// (uniform, sorted) instants over `seats / rate` seconds, and each other
/// kind, cycling through its recorded operations, at random instants over
/// the same span.
pub fn workload(
    recorded: &Recorded,
    mix: Mix,
    rate: f64,
    seed: u64,
) -> (Vec<&Op>, Vec<(u64, usize)>) {
    let span_us = ((recorded.seats.max(1) as f64 / rate) * 1e6).max(1.0) as u64;
    let mut rng = Rng::new(seed);
    let mut ops: Vec<&Op> = Vec::new();
    let mut arrivals = Vec::new();
    let mut times: Vec<u64> = (0..recorded.holds.len())
        .map(|_| rng.below(span_us))
        .collect();
    times.sort_unstable();
    for (op, at) in recorded.holds.iter().zip(times) {
        arrivals.push((at, ops.len()));
        ops.push(op);
    }
    let holds = recorded.holds.len() as f64;
    let successes = recorded.successful_holds as f64;
    let kinds = [
        (recorded.browse.as_slice(), mix.browse_per_hold * holds),
        (recorded.confirm.as_slice(), mix.confirm_share * successes),
        (recorded.release.as_slice(), mix.release_share * successes),
    ];
    // Over the span, λ·L sandboxes each refresh span / period times, with
    // λ = holds / span: holds · L / period reads, whatever the rate.
    let refreshes = recorded
        .refresh
        .iter()
        .map(|(op, period)| (std::slice::from_ref(op), holds * mix.hold_seconds / period));
    for (kind, count) in kinds.into_iter().chain(refreshes) {
        if kind.is_empty() {
            continue;
        }
        let first = ops.len();
        ops.extend(kind.iter());
        for i in 0..count.round() as usize {
            arrivals.push((rng.below(span_us), first + i % kind.len()));
        }
    }
    arrivals.sort_unstable();
    (ops, arrivals)
}

/// One simulated rate.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub rate: f64,
    pub outcome: Outcome,
    /// The busiest partition and its busiest second's share of its limit.
    pub busiest: Option<(u32, f64)>,
}

impl Verdict {
    pub fn busiest_share(&self) -> f64 {
        self.busiest.map_or(0.0, |b| b.1)
    }

    pub fn sustainable(&self) -> bool {
        self.busiest_share() <= PARTITION_CEILING && self.outcome.conflict_rate() < CONFLICT_CEILING
    }
}

pub fn evaluate(
    recorded: &Recorded,
    names: &Names,
    mix: Mix,
    rate: f64,
    config: Config,
) -> Verdict {
    let (ops, arrivals) = workload(recorded, mix, rate, config.seed);
    let outcome = sim::simulate(&ops, &arrivals, config);
    let busiest = outcome
        .peaks
        .iter()
        .map(|(&p, &units)| {
            (
                p,
                sim::share_of_limit(units, names.partition_names[p as usize].1),
            )
        })
        .max_by(|a, b| a.1.total_cmp(&b.1));
    Verdict {
        rate,
        outcome,
        busiest,
    }
}

/// The highest sustainable rate found (doubling, then bisecting between
/// the last good and the first bad rate to within 2 %), and the first
/// unsustainable rate above it (why it stops there). `None` as the first
/// when even 1 seat/s is not sustainable.
pub fn search(
    recorded: &Recorded,
    names: &Names,
    mix: Mix,
    config: Config,
    ceiling: f64,
) -> (Option<Verdict>, Option<Verdict>) {
    let at = |rate: f64| evaluate(recorded, names, mix, rate, config);
    let first = at(1.0);
    if !first.sustainable() {
        return (None, Some(first));
    }
    let mut good = first;
    let mut bad = None;
    while bad.is_none() && good.rate < ceiling {
        let next = at((good.rate * 2.0).min(ceiling));
        if next.sustainable() {
            good = next;
        } else {
            bad = Some(next);
        }
    }
    while let Some(high) = &bad {
        if high.rate <= good.rate * 1.02 {
            break;
        }
        let middle = at((good.rate * high.rate).sqrt());
        if middle.sustainable() {
            good = middle;
        } else {
            bad = Some(middle);
        }
    }
    (Some(good), bad)
}

/// The busiest partitions of a verdict: `(share of limit, units/s, kind,
/// partition, its pattern)`, busiest first.
pub fn busiest_partitions(
    verdict: &Verdict,
    names: &Names,
    count: usize,
) -> Vec<(f64, f64, Kind, String, String)> {
    let mut rows: Vec<(f64, f64, Kind, String, String)> = verdict
        .outcome
        .peaks
        .iter()
        .map(|(&p, &units)| {
            let (name, kind) = &names.partition_names[p as usize];
            (
                sim::share_of_limit(units, *kind),
                units,
                *kind,
                name.clone(),
                pattern(name),
            )
        })
        .collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    rows.truncate(count);
    rows
}

/// Where attempts met items in flight, by item pattern: `(pattern,
/// conflicts, share of all conflicts)`, most first.
pub fn hot_spots(verdict: &Verdict, names: &Names, count: usize) -> Vec<(String, u64, f64)> {
    let mut by_pattern: HashMap<String, u64> = HashMap::new();
    for (&item, &n) in &verdict.outcome.conflicts_at {
        *by_pattern
            .entry(pattern(&names.item_names[item as usize]))
            .or_default() += n;
    }
    let total: u64 = by_pattern.values().sum();
    let mut rows: Vec<(String, u64, f64)> = by_pattern
        .into_iter()
        .map(|(p, n)| (p, n, n as f64 / total.max(1) as f64))
        .collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    rows.truncate(count);
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::parse_line;

    fn hold_line(unit: &str) -> Request {
        parse_line(&format!(
            r#"{{"t":0,"op":"TransactWriteItems","outcome":"ok","items":[["EVENT#e1","META"],["EVENT#e1","UNIT#{unit}"]],"charges":[[null,"EVENT#e1","W",2.0,0],[null,"EVENT#e1","W",2.0,1]],"bytes":2}}"#
        ))
        .unwrap()
    }

    fn recorded(lines: &[Request], names: &mut Names) -> Recorded {
        Recorded {
            holds: lines
                .iter()
                .map(|l| names.op(std::slice::from_ref(l)))
                .collect(),
            seats: lines.len() as u64,
            successful_holds: lines.len() as u64,
            ..Recorded::default()
        }
    }

    const NO_MIX: Mix = Mix {
        browse_per_hold: 0.0,
        confirm_share: 0.0,
        release_share: 0.0,
        hold_seconds: 0.05,
    };

    #[test]
    fn holds_sharing_one_item_are_limited_by_their_conflicts() {
        let mut names = Names::default();
        let lines: Vec<Request> = (0..2000).map(|i| hold_line(&i.to_string())).collect();
        let recorded = recorded(&lines, &mut names);
        let (good, bad) = search(&recorded, &names, NO_MIX, Config::default(), 1e6);
        let good = good.unwrap();
        // With 5 ms in flight, 1 % conflicts come at about 2 holds/s.
        assert!(good.rate < 10.0, "{}", good.rate);
        let bad = bad.unwrap();
        assert!(bad.outcome.conflict_rate() >= CONFLICT_CEILING);
        assert_eq!(hot_spots(&bad, &names, 1)[0].0, "EVENT#<id> META");
    }

    #[test]
    fn holds_on_distinct_items_are_limited_by_their_busiest_partition() {
        let mut names = Names::default();
        let lines: Vec<Request> = (0..2000)
            .map(|i| {
                let mut line = hold_line(&i.to_string());
                line.items.remove(0);
                line
            })
            .collect();
        let recorded = recorded(&lines, &mut names);
        let (good, bad) = search(&recorded, &names, NO_MIX, Config::default(), 1e6);
        // 4 WCU per hold on EVENT#e: 80 % of 1,000 WCU/s is 200 holds/s.
        let good = good.unwrap();
        assert!((150.0..=205.0).contains(&good.rate), "{}", good.rate);
        assert!(bad.unwrap().busiest_share() > PARTITION_CEILING);
        let top = &busiest_partitions(&good, &names, 1)[0];
        assert_eq!((top.2, top.4.as_str()), (Kind::Write, "table EVENT#<id>"));
    }

    fn event_read() -> Request {
        parse_line(r#"{"t":0,"op":"GetItem","outcome":"ok","items":[],"charges":[[null,"EVENT#e1","R",1.0,0]],"bytes":40000}"#)
            .unwrap()
    }

    #[test]
    fn the_recorded_event_refreshes_leave_the_holds_and_return_per_sandbox_and_period() {
        let mut names = Names::default();
        let read = event_read();
        let holds: Vec<Request> = (0..1000).map(|i| hold_line(&i.to_string())).collect();
        let mut ops: Vec<Op> = holds
            .iter()
            .enumerate()
            .map(|(i, hold)| {
                // One hold in four read the event, as a slow recording would.
                let mut lines = vec![hold.clone()];
                if i % 4 == 0 {
                    lines.insert(0, read.clone());
                }
                names.op(&lines)
            })
            .collect();
        let refresh = names.take_refreshes(&mut ops);
        assert!(ops.iter().all(|op| op.len() == 1));
        assert_eq!(refresh.len(), 1);
        assert_eq!(refresh[0].1, 5.0);
        let recorded = Recorded {
            holds: ops,
            refresh,
            seats: 1000,
            successful_holds: 1000,
            ..Recorded::default()
        };
        // 1,000 holds × 50 ms / 5 s: 10 reads, at any rate.
        for rate in [10.0, 10_000.0] {
            let (ops, arrivals) = workload(&recorded, NO_MIX, rate, 1);
            let reads = arrivals
                .iter()
                .filter(|(_, i)| ops[*i][0].shape == Shape::Read)
                .count();
            assert_eq!(reads, 10);
        }
    }

    #[test]
    fn confirmations_join_the_holds_at_their_share() {
        let mut names = Names::default();
        let mut recorded = recorded(&[hold_line("1"), hold_line("2")], &mut names);
        recorded.confirm = vec![Vec::new()];
        let mix = Mix {
            confirm_share: 2.0,
            ..NO_MIX
        };
        let (ops, arrivals) = workload(&recorded, mix, 1.0, 1);
        assert_eq!(ops.len(), 3);
        assert_eq!(arrivals.iter().filter(|a| a.1 == 2).count(), 4);
        assert!(arrivals.iter().all(|a| a.0 < 2_000_000));
    }
}
