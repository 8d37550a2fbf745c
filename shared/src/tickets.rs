//! A confirmed booking's tickets, issued by whoever gets there first: the
//! sale itself (walk-ins), the payment confirmation, or the first read of
//! the tickets. Ticket ids are `<booking id>-<n>` (`domain::ticket`) and
//! each write is create-only, so issuing again adds only what is missing.
//!
//! Why not inside the sale's transaction: a walk-in may take 50 units of up
//! to 100 seats each (`MAX_SEATS_PER_UNIT`), 5,000 tickets, while one
//! TransactWriteItems holds at most 100 items and the sale already uses up
//! to 52 (units, booking, audit entry).

use crate::domain::booking::Booking;
use crate::domain::ticket::{Ticket, tickets_for};
use crate::error::ApiError;
use crate::recent_reads;
use crate::state::AppState;

/// Writes the booking's tickets that do not exist yet.
pub async fn issue(app: &AppState, booking: &Booking) -> Result<(), ApiError> {
    let due = due(app, booking).await?;
    app.store.issue_tickets(&due).await?;
    Ok(())
}

/// The tickets of a confirmed booking, issuing any that are missing (a sale
/// or a confirmation that stopped after committing).
pub async fn of_confirmed(app: &AppState, booking: &Booking) -> Result<Vec<Ticket>, ApiError> {
    let stored = app.store.tickets_of_booking(&booking.id).await?;
    let due = due(app, booking).await?;
    if stored.len() >= due.len() {
        return Ok(stored);
    }
    tracing::warn!(booking_id = %booking.id, stored = stored.len(), due = due.len(),
        "issuing the missing tickets of a confirmed booking");
    app.store.issue_tickets(&due).await?;
    Ok(app.store.tickets_of_booking(&booking.id).await?)
}

async fn due(app: &AppState, booking: &Booking) -> Result<Vec<Ticket>, ApiError> {
    let event = recent_reads::event(app, &booking.event_id)
        .await?
        .ok_or_else(|| {
            ApiError::internal(format!(
                "booking {} names missing event {}",
                booking.id, booking.event_id
            ))
        })?;
    Ok(tickets_for(booking, &event))
}
