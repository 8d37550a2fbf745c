//! The table's stream, read back: which items' changes matter to webhooks,
//! as the plain `Snapshot`s `domain::webhook::changes` decides on.

use super::bookings::booking_from_item;
use super::events::event_from_item;
use super::item::{get_s, rfc3339};
use super::keys::{PK, SK};
use super::tasks::{KIND_TASK, task_from_item};
use super::tickets::ticket_from_item;
use super::{Item, StoreError};
use crate::domain::webhook::changes::Snapshot;

/// The item as the rules see it; `None` for items no event is about.
pub fn snapshot(item: &Item) -> Result<Option<Snapshot>, StoreError> {
    let (Ok(pk), Ok(sk)) = (get_s(item, PK), get_s(item, SK)) else {
        return Ok(None);
    };
    let kind = pk.split_once('#').map(|(kind, _)| kind);
    Ok(Some(match (kind, sk) {
        (Some("BOOKING"), "META") => {
            let booking = booking_from_item(item)?;
            Snapshot::Booking {
                id: booking.id,
                event_id: booking.event_id,
                status: booking.status.as_str().to_owned(),
                quantity: booking.quantity.into(),
                amount_cents: booking.amount_cents,
                currency: booking.currency,
                source: booking.source.as_str().to_owned(),
            }
        }
        (Some("BOOKING"), sk) if sk.starts_with("TICKET#") => {
            let ticket = ticket_from_item(item)?;
            Snapshot::Ticket {
                id: ticket.id,
                booking_id: ticket.booking_id,
                event_id: ticket.event_id,
                label: ticket.label,
                checked_in_at: ticket.checked_in_at.map(rfc3339),
            }
        }
        (Some("EVENT"), "META") => {
            let event = event_from_item(item)?;
            Snapshot::Event {
                id: event.id,
                title: event.title,
                status: event.status.as_str().to_owned(),
                starts_at: rfc3339(event.starts_at),
            }
        }
        (Some("TASK"), "META") if get_s(item, "kind").ok() == Some(KIND_TASK) => {
            let task = task_from_item(item)?;
            Snapshot::Task {
                id: task.id,
                title: task.title,
                status: task.status.as_str().to_owned(),
                priority: task.priority.as_str().to_owned(),
                assignee_id: task.assignee_id,
                mentions: task.mentions,
                event_id: task.event_id,
                version: task.version,
            }
        }
        _ => return Ok(None),
    }))
}
