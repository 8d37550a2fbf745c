//! `event.sold_out`: no item's change says an event sold out, so after a
//! batch confirmed bookings of an event (the only change that can sell one
//! out), this reads what is left of it, once per event per batch, and only
//! when an endpoint wants the event (docs/webhooks.md, "event.sold_out").

use shared::domain::webhook::changes::Raised;
use shared::domain::webhook::sold_out;
use shared::store::{Store, StoreError};
use time::OffsetDateTime;

/// A booking of `event_id` confirmed by a record of the batch.
pub(crate) struct Confirmed {
    /// The record's place in the batch.
    pub record: usize,
    /// The stream record's id: the same on a replay.
    pub record_id: String,
    pub event_id: String,
    pub at: OffsetDateTime,
}

/// The first confirmation of each event: one check per event per batch.
/// A retry starts at or before the record a failure reports, so the first
/// confirmation of an event stays the first on a replay (the delivery
/// notes it as what raised it).
pub(crate) fn first_per_event(confirmed: Vec<Confirmed>) -> Vec<Confirmed> {
    let mut first: Vec<Confirmed> = Vec::new();
    for c in confirmed {
        if !first.iter().any(|f| f.event_id == c.event_id) {
            first.push(c);
        }
    }
    first
}

/// `event.sold_out` when the event has nothing left. A live hold first: its
/// places are not sold yet (its own confirmation asks again, or they come
/// back when it lapses), and asking costs up to 16 one-item Queries; only
/// then the event and its availability.
pub(crate) async fn check(
    store: &Store,
    event_id: &str,
    now: OffsetDateTime,
) -> Result<Option<Raised>, StoreError> {
    if store.holds_pending(event_id, now).await? {
        return Ok(None);
    }
    // Its layout is frozen once sales started; a second-old copy will do.
    let Some(event) = store.event_eventually(event_id).await? else {
        return Ok(None);
    };
    let availability = store.availability(&event, now).await?;
    Ok(sold_out::raised(&event, &availability))
}
