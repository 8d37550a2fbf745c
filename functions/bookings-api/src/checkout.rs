use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use shared::auth::Authenticated;
use shared::domain::booking::{Booking, BookingStatus};
use shared::domain::payment::platform_fee;
use shared::domain::rate_limit::{self, Limit};
use shared::fulfilment::fulfil;
use shared::http::{Json, PathParam};
use shared::metrics::{self, CHECKOUTS, CONFIRMATIONS};
use shared::payments::{CreatedPayment, PaymentRequest, PaymentsError};
use shared::store::{ConfirmOutcome, Payment};
use shared::{ApiError, AppState, limits};

use crate::BookingsState;
use crate::bookings::owned_booking;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Checkout {
    /// None when nothing is paid by card (a free booking).
    payment_intent_id: Option<String>,
    /// For Stripe.js on the client to confirm the payment.
    client_secret: Option<String>,
    /// The card part of the amount.
    amount_cents: i64,
    wallet_cents: i64,
    currency: String,
    booking: Booking,
}

/// Starts paying for a live hold: the booking's Stripe PaymentIntent, for
/// the amount the server computed. Calling again returns the same one. A
/// free booking is confirmed at once, with its tickets and mail, without
/// Stripe. When Stripe's rate limit holds out past a short retry, the
/// answer is 503 `PAYMENTS_BUSY` with `retry-after`, and the hold stands.
#[utoipa::path(post, path = "/v1/bookings/{id}/checkout", operation_id = "checkout", tag = "bookings",
    params(("id" = String, Path, description = "Booking id")), security(("bearer" = [])),
    responses((status = 200, body = Checkout), (status = 401, body = shared::error::Problem),
              (status = 403, body = shared::error::Problem), (status = 404, body = shared::error::Problem),
              (status = 409, description = "not a live hold (expired, released, paid)", body = shared::error::Problem),
              (status = 429, description = "RATE_LIMITED: too many checkouts by this user; retry after `retry-after` seconds", body = shared::error::Problem,
               headers(("retry-after" = u64, description = "seconds until the limit's window ends"))),
              (status = 503, description = "Stripe did not answer (PAYMENTS_UNAVAILABLE), or is at its rate limit (PAYMENTS_BUSY; the hold stands, retry after `retry-after` seconds)", body = shared::error::Problem,
               headers(("retry-after" = u64, description = "with PAYMENTS_BUSY: seconds to wait before checking out again")))))]
pub async fn checkout(
    State(state): State<BookingsState>,
    caller: Authenticated,
    PathParam(id): PathParam<String>,
) -> Result<Json<Checkout>, ApiError> {
    let app: &AppState = &state.app;
    let limit = Limit {
        scope: "payments-user",
        subject: &caller.user_id,
        per_window: app.config.rate_limits.payments_per_user,
        window_secs: rate_limit::MINUTE,
    };
    limits::enforce(app, &[limit]).await?;
    let booking = owned_booking(app, &caller, &id, "pay for a booking").await?;
    if booking.amount_cents == 0 {
        return confirm_free(&state, booking).await;
    }
    if booking.status != BookingStatus::Held {
        return Err(not_payable(booking.status));
    }
    let payment = match &booking.payment_intent_id {
        // Checked out before: the same PaymentIntent, whatever the settings
        // say now.
        Some(existing) => state
            .payments
            .existing_payment_intent(existing)
            .await
            .map_err(|err| unavailable(&booking, err))?,
        None => new_payment_intent(&state, &booking).await?,
    };
    metrics::count(CHECKOUTS);
    Ok(Json(Checkout {
        payment_intent_id: Some(payment.payment_intent_id),
        client_secret: Some(payment.client_secret),
        amount_cents: booking.amount_cents,
        wallet_cents: 0,
        currency: booking.currency.clone(),
        booking,
    }))
}

/// Nothing to pay: the hold is confirmed now, under the same conditions as
/// a paid one (still held, seats still its own, event not cancelled).
async fn confirm_free(state: &BookingsState, booking: Booking) -> Result<Json<Checkout>, ApiError> {
    let app = &state.app;
    let now = app.clock.now();
    let confirmed = match booking.status {
        BookingStatus::Confirmed => booking,
        BookingStatus::Held => {
            let free = Payment {
                payment_intent_id: None,
            };
            match app.store.confirm_payment(booking, free, now).await? {
                Some(ConfirmOutcome::Confirmed { booking, .. }) => {
                    metrics::count(CONFIRMATIONS);
                    *booking
                }
                Some(ConfirmOutcome::AlreadyConfirmed(booking)) => *booking,
                Some(ConfirmOutcome::EventCancelled(_)) => {
                    return Err(ApiError::conflict(
                        "EVENT_CANCELLED",
                        "the event was cancelled",
                    ));
                }
                Some(ConfirmOutcome::SeatsGone(_)) => {
                    return Err(not_payable(BookingStatus::Expired));
                }
                Some(ConfirmOutcome::NotPayable(booking)) => {
                    return Err(not_payable(booking.status));
                }
                Some(ConfirmOutcome::RefundUnderway) | None => {
                    return Err(not_payable(BookingStatus::Cancelled));
                }
            }
        }
        status => return Err(not_payable(status)),
    };
    fulfil(app, &state.mailer, &state.mail, &confirmed).await?;
    Ok(Json(Checkout {
        payment_intent_id: None,
        client_secret: None,
        amount_cents: 0,
        wallet_cents: 0,
        currency: confirmed.currency.clone(),
        booking: confirmed,
    }))
}

/// Creates the booking's PaymentIntent and records it on the booking, as
/// long as the hold is still live.
async fn new_payment_intent(
    state: &BookingsState,
    booking: &Booking,
) -> Result<CreatedPayment, ApiError> {
    let app = &state.app;
    let settings = app.store.settings().await?;
    // Without a connected account the platform keeps the whole amount.
    let destination = settings.stripe_account_id.as_deref().map(|account| {
        let fee = platform_fee(
            booking.amount_cents,
            settings.platform_fee_fixed_cents,
            settings.platform_fee_basis_points,
        );
        (account, fee)
    });
    let payment = state
        .payments
        .payment_intent(&PaymentRequest {
            booking_id: &booking.id,
            amount_cents: booking.amount_cents,
            currency: &booking.currency,
            destination,
        })
        .await
        .map_err(|err| unavailable(booking, err))?;
    let attached = app
        .store
        .attach_payment_intent(
            booking,
            &payment.payment_intent_id,
            destination,
            app.clock.now(),
        )
        .await?;
    if !attached {
        // The hold ran out or was released meanwhile; an unpaid
        // PaymentIntent costs nothing and is never confirmed.
        let now = app.clock.now();
        let status = app
            .store
            .booking(&booking.id)
            .await?
            .map(|b| b.as_of(now).status);
        return Err(not_payable(status.unwrap_or(BookingStatus::Cancelled)));
    }
    Ok(payment)
}

/// Nothing was written: the booking is still the same live hold, and
/// checking out again is safe.
fn unavailable(booking: &Booking, err: PaymentsError) -> ApiError {
    match err {
        PaymentsError::RateLimited { retry_after_secs } => {
            tracing::warn!(booking_id = %booking.id, "Stripe rate limited checkout past the retry budget");
            let mut busy = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "PAYMENTS_BUSY",
                format!(
                    "the payment provider is busy; your hold stands, try again in {retry_after_secs} s"
                ),
            );
            busy.retry_after_secs = Some(retry_after_secs);
            busy
        }
        PaymentsError::Unavailable(cause) => {
            tracing::error!(error = %cause, booking_id = %booking.id, "Stripe did not answer checkout");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "PAYMENTS_UNAVAILABLE",
                "the payment provider did not answer; try again",
            )
        }
    }
}

fn not_payable(status: BookingStatus) -> ApiError {
    let code = match status {
        BookingStatus::Expired => "HOLD_EXPIRED",
        _ => "BOOKING_NOT_HELD",
    };
    ApiError::conflict(
        code,
        format!("the booking is {}, not a live hold", status.as_str()),
    )
}
