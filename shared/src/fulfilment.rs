//! What a confirmed booking gets, however it was paid (card, free): its
//! tickets, and the confirmation mail once. Safe to run again after a
//! crash: tickets are issued only where missing, the mail is claimed once.

use crate::AppState;
use crate::config::MailConfig;
use crate::confirmation_mail::confirmation_mail;
use crate::domain::booking::Booking;
use crate::domain::ticket::tickets_for;
use crate::error::ApiError;
use crate::mail::Mailer;
use crate::recent_reads;

pub async fn fulfil(
    app: &AppState,
    mailer: &Mailer,
    mail: &MailConfig,
    booking: &Booking,
) -> Result<(), ApiError> {
    let event = recent_reads::event(app, &booking.event_id)
        .await?
        .ok_or_else(|| ApiError::internal("a confirmed booking's event is missing"))?;
    let tickets = tickets_for(booking, &event);
    app.store.issue_tickets(&tickets).await?;
    if !app
        .store
        .claim_confirmation_mail(&booking.id, app.clock.now())
        .await?
    {
        return Ok(());
    }
    let Some(user) = app.store.user(&booking.user_id).await? else {
        return Ok(());
    };
    let settings = recent_reads::settings(app).await?;
    let message = confirmation_mail(
        &settings.brand_name,
        &mail.frontend_url,
        booking,
        &event,
        tickets.len(),
        &user.email,
    );
    // The booking stands whether or not the mail goes out; the tickets are
    // in the API either way.
    if let Err(err) = mailer.send(message).await {
        tracing::error!(error = %err, booking_id = %booking.id, "confirmation mail failed");
    }
    Ok(())
}
