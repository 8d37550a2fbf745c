//! When an event is sold out, and what `event.sold_out` says. No single
//! item's change says so: an event's places are spread over shards or
//! units, and lapsed holds count as free lazily (docs/holds.md). So after
//! a batch of changes confirmed bookings of an event, webhook-events reads
//! what is left of it and this decides. It is raised once per event, the
//! first time: its cause is the event's own, so each endpoint's delivery id
//! is fixed (docs/webhooks.md, "event.sold_out").

use serde_json::json;
use time::format_description::well_known::Rfc3339;

use super::EventType;
use super::changes::Raised;
use crate::domain::event::{Event, EventStatus};
use crate::domain::hold::{Availability, UnitState};

/// Is nothing left to sell? Every unit booked, or every stock at 0 places.
/// Read only when no hold is pending (a pending hold's places are not sold
/// yet: if it is paid, its own confirmation asks again; if it lapses, they
/// come back). A cancelled event is over, not sold out.
pub fn is_sold_out(event: &Event, availability: &Availability) -> bool {
    if event.status == EventStatus::Cancelled {
        return false;
    }
    match availability {
        // A held unit is a hold the index had not shown yet: pending too.
        Availability::Grid(units) => {
            !units.is_empty() && units.iter().all(|(_, state)| *state == UnitState::Booked)
        }
        Availability::Open(stocks) => {
            !stocks.is_empty() && stocks.iter().all(|(_, left)| *left == 0)
        }
    }
}

/// The cause of an event's `event.sold_out`: the event's alone, not the
/// stream record's, so it is recorded once per endpoint however many
/// confirmations (or sell-outs after places came back) find it sold out.
pub fn cause(event_id: &str) -> String {
    format!("{event_id}:{}", EventType::EventSoldOut.as_str())
}

/// `event.sold_out` of `event`, when `availability` says it is sold out.
pub fn raised(event: &Event, availability: &Availability) -> Option<Raised> {
    if !is_sold_out(event, availability) {
        return None;
    }
    let (capacity, sold) = places(availability);
    Some(Raised {
        event_type: EventType::EventSoldOut,
        data: json!({
            "event_id": event.id,
            "title": event.title,
            "status": event.status.as_str(),
            "starts_at": event.starts_at.format(&Rfc3339).unwrap_or_default(),
            "capacity": capacity,
            "sold": sold,
        }),
    })
}

/// Places in all (a grid's seats) and places sold.
fn places(availability: &Availability) -> (u64, u64) {
    match availability {
        Availability::Grid(units) => units.iter().fold((0, 0), |(all, sold), (unit, state)| {
            let seats = u64::from(unit.seats);
            let booked = if *state == UnitState::Booked {
                seats
            } else {
                0
            };
            (all + seats, sold + booked)
        }),
        Availability::Open(stocks) => stocks.iter().fold((0, 0), |(all, sold), (stock, left)| {
            let capacity = u64::from(stock.capacity);
            (
                all + capacity,
                sold + capacity.saturating_sub(u64::from(*left)),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{Stock, Unit};
    use serde_json::Value;

    fn event(status: &str, layout: Value) -> Event {
        serde_json::from_value(json!({
            "id": "e1", "title": "Gala", "description": "", "venue": "Hall",
            "starts_at": "2027-01-01T20:00:00Z", "ends_at": "2027-01-02T00:00:00Z",
            "timezone": "Europe/Paris", "status": status, "tags": [], "currency": "eur",
            "max_per_booking": 4, "layout": layout,
            "created_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-01T10:00:00Z",
        }))
        .expect("an event")
    }

    fn open_event() -> Event {
        event(
            "published",
            json!({ "mode": "open", "capacity": 20, "price_cents": 2500 }),
        )
    }

    fn grid_event() -> Event {
        event(
            "published",
            json!({ "mode": "grid", "units": [
                { "id": "T1", "label": "Table 1", "seats": 8, "price_cents": 1000 },
                { "id": "T2", "label": "Table 2", "seats": 4, "price_cents": 1000 },
            ] }),
        )
    }

    fn stock(tier: &str, capacity: u32) -> Stock {
        Stock {
            tier: Some(tier.into()),
            capacity,
            price_cents: 2500,
            shards: 2,
        }
    }

    fn open(left: &[(u32, u32)]) -> Availability {
        Availability::Open(
            left.iter()
                .enumerate()
                .map(|(i, (capacity, left))| (stock(&format!("t{i}"), *capacity), *left))
                .collect(),
        )
    }

    fn grid(states: &[UnitState]) -> Availability {
        let units = match &grid_event().layout {
            crate::domain::event::Layout::Grid { units, .. } => units.clone(),
            _ => unreachable!(),
        };
        Availability::Grid(units.into_iter().zip(states.iter().copied()).collect())
    }

    fn unit(id: &str, seats: u32) -> Unit {
        serde_json::from_value(json!({ "id": id, "label": id, "seats": seats })).unwrap()
    }

    #[test]
    fn an_open_event_is_sold_out_when_every_stock_has_no_place_left() {
        assert!(is_sold_out(&open_event(), &open(&[(20, 0)])));
        assert!(is_sold_out(&open_event(), &open(&[(10, 0), (5, 0)])));
    }

    #[test]
    fn one_place_left_of_any_stock_is_not_sold_out() {
        assert!(!is_sold_out(&open_event(), &open(&[(20, 1)])));
        assert!(!is_sold_out(&open_event(), &open(&[(10, 0), (5, 1)])));
    }

    #[test]
    fn a_grid_is_sold_out_only_when_every_unit_is_booked() {
        use UnitState::*;
        assert!(is_sold_out(&grid_event(), &grid(&[Booked, Booked])));
        assert!(!is_sold_out(&grid_event(), &grid(&[Booked, Available])));
        assert!(
            !is_sold_out(&grid_event(), &grid(&[Booked, Held])),
            "a held unit is a pending hold"
        );
    }

    #[test]
    fn a_cancelled_or_empty_event_is_not_sold_out() {
        let cancelled = event(
            "cancelled",
            json!({ "mode": "open", "capacity": 20, "price_cents": 2500 }),
        );
        assert!(!is_sold_out(&cancelled, &open(&[(20, 0)])));
        assert!(!is_sold_out(&open_event(), &open(&[])));
        assert!(!is_sold_out(&grid_event(), &Availability::Grid(vec![])));
    }

    #[test]
    fn the_cause_is_the_events_own() {
        assert_eq!(cause("e1"), "e1:event.sold_out");
        assert_eq!(cause("e1"), cause("e1"));
        assert_ne!(cause("e1"), cause("e2"));
    }

    #[test]
    fn sold_out_says_which_event_and_how_many_places_it_sold() {
        let sold_out = raised(&open_event(), &open(&[(12, 0), (8, 0)])).expect("sold out");
        assert_eq!(sold_out.event_type, EventType::EventSoldOut);
        assert_eq!(
            sold_out.data,
            json!({
                "event_id": "e1", "title": "Gala", "status": "published",
                "starts_at": "2027-01-01T20:00:00Z", "capacity": 20, "sold": 20,
            })
        );
        assert_eq!(raised(&open_event(), &open(&[(20, 3)])), None);
    }

    #[test]
    fn a_grid_counts_its_seats() {
        let raised = raised(
            &grid_event(),
            &Availability::Grid(vec![
                (unit("T1", 8), UnitState::Booked),
                (unit("T2", 4), UnitState::Booked),
            ]),
        )
        .expect("sold out");
        assert_eq!(raised.data["capacity"], 12);
        assert_eq!(raised.data["sold"], 12);
    }
}
