//! What the receiver got for a set of confirmed bookings: latencies,
//! duplicates, the missing.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::receiver::Arrival;

pub const CONFIRMED: &str = "booking.confirmed";

/// One booking confirmed through the fake Stripe's `succeed` route.
#[derive(Clone, Debug)]
pub struct Confirmed {
    pub booking_id: String,
    /// When the `succeed` call was sent: before the confirmation's write.
    pub sent: Instant,
    /// When it answered: it answers once our Stripe webhook handler has,
    /// which is after the confirmation's write.
    pub answered: Instant,
}

#[derive(Debug, Default)]
pub struct Tally {
    /// Bookings delivered at least once.
    pub delivered: usize,
    /// Deliveries of these bookings whose `webhook-id` had arrived before
    /// (at least once allows them).
    pub duplicates: usize,
    pub missing: Vec<String>,
    /// Each delivered booking's first arrival − `answered`, sorted.
    pub latencies: Vec<Duration>,
    /// Each delivered booking's first arrival − `sent`, sorted: the bound
    /// from above.
    pub latencies_from_sent: Vec<Duration>,
    /// The first and the last booking's first arrival.
    pub span: Option<(Instant, Instant)>,
}

pub fn tally(confirmed: &[Confirmed], arrivals: &[Arrival]) -> Tally {
    let mut first: HashMap<&str, Instant> = HashMap::new();
    let mut ids = HashSet::new();
    let mut duplicates = 0;
    let ours: HashSet<&str> = confirmed.iter().map(|c| c.booking_id.as_str()).collect();
    for arrival in arrivals.iter().filter(|a| a.event_type == CONFIRMED) {
        let Some(booking) = arrival.booking_id.as_deref().filter(|b| ours.contains(b)) else {
            continue;
        };
        if !ids.insert(arrival.webhook_id.as_str()) {
            duplicates += 1;
        }
        first
            .entry(booking)
            .and_modify(|at| *at = (*at).min(arrival.at))
            .or_insert(arrival.at);
    }
    let mut tally = Tally {
        duplicates,
        ..Tally::default()
    };
    for booking in confirmed {
        match first.get(booking.booking_id.as_str()) {
            Some(&at) => {
                tally.delivered += 1;
                tally
                    .latencies
                    .push(at.saturating_duration_since(booking.answered));
                tally
                    .latencies_from_sent
                    .push(at.saturating_duration_since(booking.sent));
                let (low, high) = tally.span.get_or_insert((at, at));
                *low = (*low).min(at);
                *high = (*high).max(at);
            }
            None => tally.missing.push(booking.booking_id.clone()),
        }
    }
    tally.latencies.sort();
    tally.latencies_from_sent.sort();
    tally
}

/// Arrivals that are no delivery of these bookings' confirmations: another
/// event type, or a booking the bench did not confirm.
pub fn strays(confirmed: &[Confirmed], arrivals: &[Arrival]) -> usize {
    let ours: HashSet<&str> = confirmed.iter().map(|c| c.booking_id.as_str()).collect();
    arrivals
        .iter()
        .filter(|a| {
            a.event_type != CONFIRMED || !a.booking_id.as_deref().is_some_and(|b| ours.contains(b))
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(at: Instant, webhook_id: &str, booking: &str) -> Arrival {
        Arrival {
            at,
            webhook_id: webhook_id.to_owned(),
            event_type: CONFIRMED.to_owned(),
            booking_id: Some(booking.to_owned()),
            signed: true,
        }
    }

    #[test]
    fn counts_latency_from_the_first_arrival_duplicates_and_the_missing() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let confirmed: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|id| Confirmed {
                booking_id: (*id).to_owned(),
                sent: t0,
                answered: ms(10),
            })
            .collect();
        let arrivals = [
            arrival(ms(300), "msg_a", "a"),
            arrival(ms(900), "msg_a", "a"),
            arrival(ms(500), "msg_b", "b"),
            arrival(ms(50), "msg_x", "someone-else"),
        ];
        let got = tally(&confirmed, &arrivals);
        assert_eq!(got.delivered, 2);
        assert_eq!(got.duplicates, 1);
        assert_eq!(got.missing, ["c"]);
        assert_eq!(
            got.latencies,
            [Duration::from_millis(290), Duration::from_millis(490)]
        );
        assert_eq!(got.latencies_from_sent[0], Duration::from_millis(300));
        assert_eq!(got.span, Some((ms(300), ms(500))));
        assert_eq!(strays(&confirmed, &arrivals), 1);
    }
}
