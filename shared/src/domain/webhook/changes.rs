//! Which stored changes raise which webhook event: the table's stream
//! gives every item's old and new image; the store reads the few item
//! kinds that matter into `Snapshot`s and this decides. A change raises
//! at most one event, only on the transition itself (a later update of a
//! confirmed booking raises nothing again).

use serde_json::{Value, json};

use super::EventType;

/// What the rules need of an item, before or after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Snapshot {
    Booking {
        id: String,
        event_id: String,
        status: String,
        quantity: i64,
        amount_cents: i64,
        currency: String,
        source: String,
    },
    Event {
        id: String,
        title: String,
        status: String,
        starts_at: String,
    },
    Ticket {
        id: String,
        booking_id: String,
        event_id: String,
        label: String,
        checked_in_at: Option<String>,
    },
}

/// An event to deliver: its type and its `data`.
#[derive(Debug, Clone, PartialEq)]
pub struct Raised {
    pub event_type: EventType,
    pub data: Value,
}

/// The event a change from `old` to `new` raises, if any.
pub fn raised(old: Option<&Snapshot>, new: Option<&Snapshot>) -> Option<Raised> {
    let new = new?;
    let (event_type, data) = match (old, new) {
        (
            old,
            Snapshot::Booking {
                id,
                event_id,
                status,
                quantity,
                amount_cents,
                currency,
                source,
            },
        ) => {
            let before = match old {
                Some(Snapshot::Booking { status, .. }) => Some(status.as_str()),
                _ => None,
            };
            let event_type = entered(
                before,
                status,
                &[
                    ("confirmed", EventType::BookingConfirmed),
                    ("cancelled", EventType::BookingCancelled),
                    ("refunded", EventType::BookingRefunded),
                ],
            )?;
            let data = json!({
                "booking_id": id, "event_id": event_id, "status": status, "quantity": quantity,
                "amount_cents": amount_cents, "currency": currency, "source": source,
            });
            (event_type, data)
        }
        (
            old,
            Snapshot::Event {
                id,
                title,
                status,
                starts_at,
            },
        ) => {
            let before = match old {
                Some(Snapshot::Event { status, .. }) => Some(status.as_str()),
                _ => None,
            };
            let event_type = entered(
                before,
                status,
                &[
                    ("published", EventType::EventPublished),
                    ("cancelled", EventType::EventCancelled),
                ],
            )?;
            let data =
                json!({ "event_id": id, "title": title, "status": status, "starts_at": starts_at });
            (event_type, data)
        }
        (
            old,
            Snapshot::Ticket {
                id,
                booking_id,
                event_id,
                label,
                checked_in_at,
            },
        ) => {
            let was_in = matches!(
                old,
                Some(Snapshot::Ticket {
                    checked_in_at: Some(_),
                    ..
                })
            );
            let checked_in_at = checked_in_at.as_ref().filter(|_| !was_in)?;
            let data = json!({
                "ticket_id": id, "booking_id": booking_id, "event_id": event_id,
                "label": label, "checked_in_at": checked_in_at,
            });
            (EventType::CheckinAdmitted, data)
        }
    };
    Some(Raised { event_type, data })
}

/// The event of the status just entered (not one the item already had).
fn entered(before: Option<&str>, now: &str, rules: &[(&str, EventType)]) -> Option<EventType> {
    (before != Some(now))
        .then(|| rules.iter().find(|(status, _)| *status == now))
        .flatten()
        .map(|(_, t)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn booking(status: &str) -> Snapshot {
        Snapshot::Booking {
            id: "b1".into(),
            event_id: "e1".into(),
            status: status.into(),
            quantity: 2,
            amount_cents: 5000,
            currency: "EUR".into(),
            source: "online".into(),
        }
    }

    fn event(status: &str) -> Snapshot {
        Snapshot::Event {
            id: "e1".into(),
            title: "Gala".into(),
            status: status.into(),
            starts_at: "2027-01-01T20:00:00Z".into(),
        }
    }

    fn ticket(checked_in_at: Option<&str>) -> Snapshot {
        Snapshot::Ticket {
            id: "t1".into(),
            booking_id: "b1".into(),
            event_id: "e1".into(),
            label: "A1".into(),
            checked_in_at: checked_in_at.map(str::to_owned),
        }
    }

    fn raised_type(old: Option<Snapshot>, new: Snapshot) -> Option<EventType> {
        raised(old.as_ref(), Some(&new)).map(|r| r.event_type)
    }

    #[test]
    fn a_paid_hold_raises_booking_confirmed_with_its_data() {
        let event = raised(Some(&booking("held")), Some(&booking("confirmed"))).unwrap();
        assert_eq!(event.event_type, EventType::BookingConfirmed);
        assert_eq!(event.data["booking_id"], "b1");
        assert_eq!(event.data["amount_cents"], 5000);
    }

    #[test]
    fn a_walk_in_sale_created_confirmed_raises_booking_confirmed() {
        assert_eq!(
            raised_type(None, booking("confirmed")),
            Some(EventType::BookingConfirmed)
        );
    }

    #[test]
    fn cancellations_and_refunds_raise_their_types() {
        assert_eq!(
            raised_type(Some(booking("confirmed")), booking("cancelled")),
            Some(EventType::BookingCancelled)
        );
        assert_eq!(
            raised_type(Some(booking("confirmed")), booking("refunded")),
            Some(EventType::BookingRefunded)
        );
    }

    #[test]
    fn updates_within_a_status_and_holds_raise_nothing() {
        assert_eq!(
            raised_type(Some(booking("confirmed")), booking("confirmed")),
            None
        );
        assert_eq!(raised_type(None, booking("held")), None);
        assert_eq!(raised_type(Some(booking("held")), booking("expired")), None);
        assert_eq!(raised(Some(&booking("held")), None), None);
    }

    #[test]
    fn publishing_and_cancelling_an_event_raise_their_types() {
        assert_eq!(
            raised_type(Some(event("scheduled")), event("published")),
            Some(EventType::EventPublished)
        );
        assert_eq!(
            raised_type(Some(event("published")), event("cancelled")),
            Some(EventType::EventCancelled)
        );
        assert_eq!(raised_type(None, event("draft")), None);
    }

    #[test]
    fn a_first_check_in_raises_checkin_admitted_once() {
        let at = Some("2027-01-01T19:00:00Z");
        assert_eq!(
            raised_type(Some(ticket(None)), ticket(at)),
            Some(EventType::CheckinAdmitted)
        );
        assert_eq!(raised_type(Some(ticket(at)), ticket(at)), None);
        assert_eq!(raised_type(None, ticket(None)), None);
    }
}
