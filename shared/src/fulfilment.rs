//! What a confirmed booking gets, however it was paid (card, wallet, free):
//! its tickets, and the confirmation mail once. The tickets are prepared
//! before the confirmation, whose transaction writes them (and claims the
//! mail) when they fit; otherwise, and on a repeat after a crash, they are
//! issued only where missing and the mail is claimed once.

use std::sync::Arc;

use crate::AppState;
use crate::config::MailConfig;
use crate::confirmation_mail::confirmation_mail;
use crate::domain::booking::Booking;
use crate::domain::event::Event;
use crate::domain::ticket::{Ticket, tickets_for};
use crate::error::ApiError;
use crate::mail::Mailer;
use crate::recent_reads;

/// A booking's tickets, with the event they are for.
pub struct Fulfilment {
    event: Arc<Event>,
    tickets: Vec<Ticket>,
}

impl Fulfilment {
    /// The event is the process's recent read: its layout, and so the
    /// tickets, are frozen once anything was held.
    pub async fn of(app: &AppState, booking: &Booking) -> Result<Self, ApiError> {
        let event = recent_reads::event(app, &booking.event_id)
            .await?
            .ok_or_else(|| ApiError::internal("a booking's event is missing"))?;
        let tickets = tickets_for(booking, &event);
        Ok(Self { event, tickets })
    }

    pub fn tickets(&self) -> &[Ticket] {
        &self.tickets
    }
}

/// Gives a confirmed booking what it is still missing: `fulfilled` when the
/// confirming transaction wrote the tickets and claimed the mail, so only
/// the mail is left.
pub async fn fulfil(
    app: &AppState,
    mailer: &Mailer,
    mail: &MailConfig,
    booking: &Booking,
    fulfilment: &Fulfilment,
    fulfilled: bool,
) -> Result<(), ApiError> {
    if !fulfilled {
        app.store.issue_tickets(&fulfilment.tickets).await?;
        if !app
            .store
            .claim_confirmation_mail(&booking.id, app.clock.now())
            .await?
        {
            return Ok(());
        }
    }
    let Some(user) = app.store.user(&booking.user_id).await? else {
        return Ok(());
    };
    let settings = recent_reads::settings(app).await?;
    let message = confirmation_mail(
        &settings.brand_name,
        &mail.frontend_url,
        booking,
        &fulfilment.event,
        fulfilment.tickets.len(),
        &user.email,
    );
    // The booking stands whether or not the mail goes out; the tickets are
    // in the API either way.
    if let Err(err) = mailer.send(message).await {
        tracing::error!(error = %err, booking_id = %booking.id, "confirmation mail failed");
    }
    Ok(())
}
