use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use shared::ApiError;
use shared::domain::EventStatus;
use shared::domain::booking::{Booking, BookingStatus};
use shared::domain::payment::{PaymentEvent, SignatureError, StripeEvent, verify_signature};
use shared::domain::ticket::tickets_for;
use shared::http::Json;
use shared::store::ConfirmOutcome;

use crate::WebhookState;
use crate::confirmation_mail::confirmation_mail;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Received {
    received: bool,
    /// This delivery was handled before; nothing happened again.
    duplicate: bool,
}

/// Stripe's deliveries: verified, applied once, acknowledged.
#[utoipa::path(post, path = "/v1/webhooks/stripe", operation_id = "stripeWebhook", tag = "webhooks",
    request_body(content = String, description = "The event exactly as Stripe sent it", content_type = "application/json"),
    params(("Stripe-Signature" = String, Header, description = "t=<unix>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">")),
    responses((status = 200, body = Received),
              (status = 400, description = "missing, bad or stale signature, or not an event", body = shared::error::Problem)))]
pub async fn receive(
    State(state): State<WebhookState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Received>, ApiError> {
    let now = state.app.clock.now();
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| bad_signature(SignatureError::Malformed))?;
    verify_signature(
        signature,
        &body,
        state.webhook.signing_secret.expose(),
        now.unix_timestamp(),
    )
    .map_err(bad_signature)?;
    let event: StripeEvent = serde_json::from_slice(&body).map_err(|err| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_EVENT",
            format!("not a Stripe event: {err}"),
        )
    })?;
    if state.app.store.stripe_event_handled(&event.id).await? {
        return Ok(Json(Received {
            received: true,
            duplicate: true,
        }));
    }
    let action = event
        .action()
        .map_err(|err| ApiError::new(StatusCode::BAD_REQUEST, "INVALID_EVENT", err.to_string()))?;
    match action {
        PaymentEvent::Succeeded {
            payment_intent_id,
            booking_id,
            amount_cents,
            currency,
        } => {
            paid(
                &state,
                &booking_id,
                &payment_intent_id,
                amount_cents,
                &currency,
            )
            .await?;
        }
        PaymentEvent::Refunded { payment_intent_id } => {
            refunded_elsewhere(&state, &payment_intent_id).await?;
        }
        // A failed attempt changes nothing: the hold runs until it expires.
        PaymentEvent::Failed { .. } | PaymentEvent::Ignored => {}
    }
    state
        .app
        .store
        .record_stripe_event(&event.id, &event.kind, now)
        .await?;
    Ok(Json(Received {
        received: true,
        duplicate: false,
    }))
}

fn bad_signature(err: SignatureError) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "INVALID_SIGNATURE",
        err.to_string(),
    )
}

/// Money arrived for a booking: confirm and ticket it, or give it back.
async fn paid(
    state: &WebhookState,
    booking_id: &str,
    payment_intent_id: &str,
    amount_cents: i64,
    currency: &str,
) -> Result<(), ApiError> {
    let app = &state.app;
    let now = app.clock.now();
    let Some(booking) = app.store.booking(booking_id).await? else {
        tracing::error!(
            booking_id,
            payment_intent_id,
            "payment for an unknown booking: refunding"
        );
        return refund(state, booking_id, payment_intent_id).await;
    };
    if booking.amount_cents != amount_cents || booking.currency != currency {
        tracing::error!(
            booking_id,
            payment_intent_id,
            amount_cents,
            currency,
            "payment does not match the booking's amount: refunding"
        );
        return refund(state, booking_id, payment_intent_id).await;
    }
    let cancelled = app
        .store
        .event(&booking.event_id)
        .await?
        .is_none_or(|event| event.status == EventStatus::Cancelled);
    if cancelled {
        tracing::warn!(
            booking_id,
            payment_intent_id,
            "payment for a cancelled event: refunding"
        );
        refund(state, booking_id, payment_intent_id).await?;
        return mark_refunded(state, &booking, "event_cancelled").await;
    }
    let outcome = app
        .store
        .confirm_payment(booking_id, payment_intent_id, now)
        .await?
        .ok_or_else(|| ApiError::internal("the booking vanished while confirming"))?;
    match outcome {
        ConfirmOutcome::Confirmed {
            booking,
            consumed_capacity,
        } => {
            tracing::info!(booking_id, event_id = %booking.event_id, consumed_capacity, "payment confirmed");
            fulfil(state, &booking).await
        }
        // Issuing again after a crash adds only what is missing.
        ConfirmOutcome::AlreadyConfirmed(booking) => fulfil(state, &booking).await,
        ConfirmOutcome::AlreadyRefunded => {
            tracing::warn!(
                booking_id,
                payment_intent_id,
                "success delivered after its refund: nothing to confirm"
            );
            Ok(())
        }
        ConfirmOutcome::SeatsGone(booking) => {
            tracing::warn!(
                booking_id,
                payment_intent_id,
                "paid after the hold ran out and its seats were taken: refunding"
            );
            refund(state, booking_id, payment_intent_id).await?;
            mark_refunded(state, &booking, "late_payment").await
        }
        ConfirmOutcome::NotPayable(booking) => {
            tracing::warn!(
                booking_id,
                payment_intent_id,
                status = booking.status.as_str(),
                "payment for a booking that cannot take it: refunding"
            );
            refund(state, booking_id, payment_intent_id).await?;
            if booking.status == BookingStatus::Cancelled {
                mark_refunded(state, &booking, "late_payment").await?;
            }
            Ok(())
        }
    }
}

/// Tickets for every seat, and the confirmation mail once.
async fn fulfil(state: &WebhookState, booking: &Booking) -> Result<(), ApiError> {
    let app = &state.app;
    let event = app
        .store
        .event(&booking.event_id)
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
    let settings = app.store.settings().await?;
    let mail = confirmation_mail(
        &settings.brand_name,
        &state.mail.frontend_url,
        booking,
        &event,
        tickets.len(),
        &user.email,
    );
    // The booking stands whether or not the mail goes out; the tickets are
    // in the API either way.
    if let Err(err) = state.mailer.send(mail).await {
        tracing::error!(error = %err, booking_id = %booking.id, "confirmation mail failed");
    }
    Ok(())
}

async fn refund(
    state: &WebhookState,
    booking_id: &str,
    payment_intent_id: &str,
) -> Result<(), ApiError> {
    state
        .payments
        .refund(booking_id, payment_intent_id)
        .await
        .map(|_| ())
        .map_err(|err| {
            // Not acknowledged: Stripe delivers again and the refund is retried.
            tracing::error!(error = %err, booking_id, payment_intent_id, "refund failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "PAYMENTS_UNAVAILABLE",
                "refund failed; retry",
            )
        })
}

async fn mark_refunded(
    state: &WebhookState,
    booking: &Booking,
    reason: &str,
) -> Result<(), ApiError> {
    let app = &state.app;
    let event = app
        .store
        .event(&booking.event_id)
        .await?
        .ok_or_else(|| ApiError::internal("a booking's event is missing"))?;
    app.store
        .mark_refunded(booking, &event, reason, app.clock.now())
        .await?;
    Ok(())
}

/// A refund made outside this flow (Stripe's dashboard): the booking is
/// refunded. Our own refunds arrive here too and find it so already.
async fn refunded_elsewhere(state: &WebhookState, payment_intent_id: &str) -> Result<(), ApiError> {
    // First, so that a success handled after this never confirms.
    state
        .app
        .store
        .record_payment_refunded(payment_intent_id, state.app.clock.now())
        .await?;
    let Some(booking) = state
        .app
        .store
        .booking_of_payment_intent(payment_intent_id)
        .await?
    else {
        return Ok(());
    };
    if booking.status != BookingStatus::Confirmed
        || booking.payment_intent_id.as_deref() != Some(payment_intent_id)
    {
        return Ok(());
    }
    let app = &state.app;
    let now = app.clock.now();
    // The seats go back unless someone already came in with the booking;
    // then it only records that the money went back.
    let freed = app
        .store
        .cancel_confirmed(&booking, BookingStatus::Refunded, "refunded", None, now)
        .await?;
    if !freed {
        mark_refunded(state, &booking, "refunded").await?;
    }
    Ok(())
}
