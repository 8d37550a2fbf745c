//! Which stored changes raise which webhook events: the table's stream
//! gives every item's old and new image; the store reads the few item
//! kinds that matter into `Snapshot`s and this decides. A change raises
//! each event type at most once, only on the transition itself (a later
//! update of a confirmed booking raises nothing again); a task's change
//! may raise several (created, and assigned to someone).

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
    Task {
        id: String,
        title: String,
        status: String,
        priority: String,
        assignee_id: Option<String>,
        mentions: Vec<String>,
        event_id: Option<String>,
        version: u64,
    },
}

/// An event to deliver: its type and its `data`.
#[derive(Debug, Clone, PartialEq)]
pub struct Raised {
    pub event_type: EventType,
    pub data: Value,
}

/// The events a change from `old` to `new` raises, at most one of each type.
pub fn raised(old: Option<&Snapshot>, new: Option<&Snapshot>) -> Vec<Raised> {
    match new {
        Some(Snapshot::Task { .. }) => task_raised(old, new),
        Some(_) => status_raised(old, new).into_iter().collect(),
        None => Vec::new(),
    }
}

/// The event whose booking the change confirmed (a paid hold, a wallet
/// payment, a walk-in sale created confirmed): the only change that can
/// sell an event out, so the one `event.sold_out` is checked on.
pub fn confirmation<'a>(old: Option<&Snapshot>, new: Option<&'a Snapshot>) -> Option<&'a str> {
    let Some(Snapshot::Booking {
        event_id, status, ..
    }) = new
    else {
        return None;
    };
    let was_confirmed =
        matches!(old, Some(Snapshot::Booking { status, .. }) if status == "confirmed");
    (status == "confirmed" && !was_confirmed).then_some(event_id.as_str())
}

/// A booking, event or ticket entering the state that raises its event.
fn status_raised(old: Option<&Snapshot>, new: Option<&Snapshot>) -> Option<Raised> {
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
        (_, Snapshot::Task { .. }) => return None,
    };
    Some(Raised { event_type, data })
}

/// A task created or edited, given to someone, or newly mentioning people.
fn task_raised(old: Option<&Snapshot>, new: Option<&Snapshot>) -> Vec<Raised> {
    let Some(Snapshot::Task {
        id,
        title,
        status,
        priority,
        assignee_id,
        mentions,
        event_id,
        version,
    }) = new
    else {
        return Vec::new();
    };
    let before = match old {
        Some(Snapshot::Task {
            assignee_id,
            mentions,
            version,
            ..
        }) => Some((assignee_id, mentions, *version)),
        _ => None,
    };
    let data = |extra: Option<(&str, Value)>| {
        let mut data = json!({
            "task_id": id, "title": title, "status": status, "priority": priority,
            "assignee_id": assignee_id, "mentions": mentions, "event_id": event_id,
        });
        if let Some((name, value)) = extra {
            data[name] = value;
        }
        data
    };
    let mut out = Vec::new();
    match before {
        None => out.push(Raised {
            event_type: EventType::TaskCreated,
            data: data(None),
        }),
        Some((_, _, was)) if was != *version => out.push(Raised {
            event_type: EventType::TaskUpdated,
            data: data(None),
        }),
        // Not a change of the task itself (a rewrite of the same version).
        Some(_) => return out,
    }
    let was_assigned = before.and_then(|(assignee, _, _)| assignee.as_ref());
    if assignee_id.is_some() && assignee_id.as_ref() != was_assigned {
        out.push(Raised {
            event_type: EventType::TaskAssigned,
            data: data(None),
        });
    }
    let newly_mentioned: Vec<&String> = mentions
        .iter()
        .filter(|m| before.is_none_or(|(_, was, _)| !was.contains(m)))
        .collect();
    if !newly_mentioned.is_empty() {
        out.push(Raised {
            event_type: EventType::TaskMentioned,
            data: data(Some(("newly_mentioned", json!(newly_mentioned)))),
        });
    }
    out
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

    fn task(version: u64, assignee: Option<&str>, mentions: &[&str]) -> Snapshot {
        Snapshot::Task {
            id: "t1".into(),
            title: "Set up the hall".into(),
            status: "todo".into(),
            priority: "high".into(),
            assignee_id: assignee.map(str::to_owned),
            mentions: mentions.iter().map(|m| (*m).to_owned()).collect(),
            event_id: None,
            version,
        }
    }

    fn raised_type(old: Option<Snapshot>, new: Snapshot) -> Option<EventType> {
        let mut raised = raised_types(old, new);
        assert!(raised.len() <= 1, "{raised:?}");
        raised.pop()
    }

    fn raised_types(old: Option<Snapshot>, new: Snapshot) -> Vec<EventType> {
        raised(old.as_ref(), Some(&new))
            .into_iter()
            .map(|r| r.event_type)
            .collect()
    }

    #[test]
    fn a_paid_hold_raises_booking_confirmed_with_its_data() {
        let event = raised(Some(&booking("held")), Some(&booking("confirmed")))
            .pop()
            .unwrap();
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
        assert_eq!(raised(Some(&booking("held")), None), vec![]);
    }

    #[test]
    fn a_booking_entering_confirmed_is_a_confirmation_of_its_event() {
        let confirmed = booking("confirmed");
        assert_eq!(
            confirmation(Some(&booking("held")), Some(&confirmed)),
            Some("e1")
        );
        assert_eq!(
            confirmation(None, Some(&confirmed)),
            Some("e1"),
            "a walk-in"
        );
    }

    #[test]
    fn a_confirmed_booking_rewritten_or_leaving_confirmed_is_no_confirmation() {
        let confirmed = booking("confirmed");
        assert_eq!(confirmation(Some(&confirmed), Some(&confirmed)), None);
        assert_eq!(
            confirmation(Some(&confirmed), Some(&booking("cancelled"))),
            None
        );
        assert_eq!(confirmation(None, Some(&booking("held"))), None);
        assert_eq!(confirmation(Some(&confirmed), None), None);
        assert_eq!(confirmation(None, Some(&event("published"))), None);
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

    #[test]
    fn a_new_task_raises_created_and_assigned_and_mentioned() {
        assert_eq!(
            raised_types(None, task(1, Some("u2"), &["u3"])),
            vec![
                EventType::TaskCreated,
                EventType::TaskAssigned,
                EventType::TaskMentioned
            ]
        );
        assert_eq!(
            raised_types(None, task(1, None, &[])),
            vec![EventType::TaskCreated]
        );
    }

    #[test]
    fn an_edited_task_raises_updated_and_only_what_changed() {
        assert_eq!(
            raised_types(
                Some(task(1, Some("u2"), &["u3"])),
                task(2, Some("u2"), &["u3"])
            ),
            vec![EventType::TaskUpdated]
        );
        assert_eq!(
            raised_types(Some(task(1, Some("u2"), &[])), task(2, Some("u4"), &[])),
            vec![EventType::TaskUpdated, EventType::TaskAssigned]
        );
        assert_eq!(
            raised_types(Some(task(1, None, &["u3"])), task(2, None, &[])),
            vec![EventType::TaskUpdated]
        );
    }

    #[test]
    fn a_mention_names_only_the_newly_mentioned() {
        let raised = raised(
            Some(&task(1, None, &["u3"])),
            Some(&task(2, None, &["u3", "u5"])),
        );
        let mentioned = raised
            .iter()
            .find(|r| r.event_type == EventType::TaskMentioned)
            .unwrap();
        assert_eq!(mentioned.data["newly_mentioned"], json!(["u5"]));
        assert_eq!(mentioned.data["mentions"], json!(["u3", "u5"]));
    }

    #[test]
    fn a_task_rewritten_at_the_same_version_raises_nothing() {
        assert_eq!(
            raised_types(Some(task(3, Some("u2"), &[])), task(3, Some("u2"), &[])),
            vec![]
        );
    }
}
