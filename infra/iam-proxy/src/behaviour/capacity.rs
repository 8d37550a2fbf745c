//! Throughput per partition key value, as DynamoDB caps it (even on
//! on-demand tables): 1,000 WCU and 3,000 RCU per second, here over a
//! rolling second. A request whose charges would exceed a cap consumes
//! nothing and is throttled. Plain data and functions: the caller passes
//! the time.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::touched::{Charge, Kind, Partition};

pub const WRITE_UNITS_PER_SECOND: f64 = 1_000.0;
pub const READ_UNITS_PER_SECOND: f64 = 3_000.0;
const WINDOW: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub struct Capacity {
    used: HashMap<Partition, VecDeque<(Instant, f64)>>,
}

fn limit(kind: Kind) -> f64 {
    match kind {
        Kind::Read => READ_UNITS_PER_SECOND,
        Kind::Write => WRITE_UNITS_PER_SECOND,
    }
}

impl Capacity {
    /// Consumes every charge, or, when one would exceed its partition's
    /// cap, none, answering the over-limit charges.
    pub fn consume<'a>(
        &mut self,
        charges: &'a [Charge],
        now: Instant,
    ) -> Result<(), Vec<&'a Charge>> {
        let mut wanted: HashMap<&Partition, f64> = HashMap::new();
        for charge in charges {
            *wanted.entry(&charge.partition).or_default() += charge.units;
        }
        let over: Vec<&Partition> = wanted
            .iter()
            .filter(|(partition, units)| {
                self.used_in_window(partition, now) + **units > limit(partition.kind)
            })
            .map(|(partition, _)| *partition)
            .collect();
        if !over.is_empty() {
            return Err(charges
                .iter()
                .filter(|c| over.contains(&&c.partition))
                .collect());
        }
        for (partition, units) in wanted {
            self.used
                .entry(partition.clone())
                .or_default()
                .push_back((now, units));
        }
        Ok(())
    }

    fn used_in_window(&mut self, partition: &Partition, now: Instant) -> f64 {
        let Some(entries) = self.used.get_mut(partition) else {
            return 0.0;
        };
        while entries
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) >= WINDOW)
        {
            entries.pop_front();
        }
        if entries.is_empty() {
            self.used.remove(partition);
            return 0.0;
        }
        entries.iter().map(|(_, units)| units).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(value: &str, units: f64) -> Charge {
        Charge {
            partition: Partition {
                table: "t".into(),
                index: None,
                value: value.into(),
                kind: Kind::Write,
            },
            units,
            item: None,
        }
    }

    #[test]
    fn a_hot_partition_key_is_throttled_beyond_1000_wcu_per_second() {
        let mut capacity = Capacity::default();
        let now = Instant::now();
        for _ in 0..1000 {
            capacity.consume(&[write("EVENT#1", 1.0)], now).unwrap();
        }
        let hot = [write("EVENT#1", 1.0)];
        assert_eq!(capacity.consume(&hot, now), Err(vec![&hot[0]]));
        // Another partition key value has its own 1,000.
        assert!(capacity.consume(&[write("EVENT#2", 1.0)], now).is_ok());
    }

    #[test]
    fn capacity_comes_back_as_the_second_rolls_on() {
        let mut capacity = Capacity::default();
        let now = Instant::now();
        capacity.consume(&[write("E", 1000.0)], now).unwrap();
        assert!(
            capacity
                .consume(&[write("E", 1.0)], now + Duration::from_millis(999))
                .is_err()
        );
        assert!(capacity.consume(&[write("E", 1.0)], now + WINDOW).is_ok());
    }

    #[test]
    fn a_throttled_request_consumes_nothing() {
        let mut capacity = Capacity::default();
        let now = Instant::now();
        capacity.consume(&[write("HOT", 1000.0)], now).unwrap();
        let both = [write("COLD", 600.0), write("HOT", 1.0)];
        assert_eq!(capacity.consume(&both, now), Err(vec![&both[1]]));
        assert!(capacity.consume(&[write("COLD", 1000.0)], now).is_ok());
    }

    #[test]
    fn reads_have_3000_rcu_per_second_apart_from_writes() {
        let mut capacity = Capacity::default();
        let now = Instant::now();
        let mut read = write("E", 3000.0);
        read.partition.kind = Kind::Read;
        capacity.consume(&[write("E", 1000.0)], now).unwrap();
        assert!(capacity.consume(std::slice::from_ref(&read), now).is_ok());
        read.units = 0.5;
        assert!(capacity.consume(&[read], now).is_err());
    }
}
