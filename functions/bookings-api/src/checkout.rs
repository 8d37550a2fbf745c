use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::auth::Authenticated;
use shared::domain::booking::{Booking, BookingStatus};
use shared::domain::payment::platform_fee;
use shared::domain::wallet::{self, Split, WalletError};
use shared::fulfilment::{Fulfilment, fulfil};
use shared::http::{Json, PathParam, parse_optional_body};
use shared::metrics::{self, CHECKOUTS, CONFIRMATIONS};
use shared::payments::{CreatedPayment, PaymentRequest, PaymentsError};
use shared::store::{Attached, ConfirmOutcome, Payment};
use shared::{ApiError, AppState, limits};

use crate::BookingsState;
use crate::bookings::owned_booking;

/// The optional checkout body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// The part to pay from the caller's wallet in the booking's currency
    /// (0 to the amount; default 0). The rest is paid by card.
    #[serde(default)]
    wallet_cents: i64,
}

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
/// the amount the server computed less `wallet_cents` from the caller's
/// wallet, which is reserved in the same transaction that records the
/// PaymentIntent and spent when the payment confirms the booking. Calling
/// again with the same `wallet_cents` returns the same answer; another
/// `wallet_cents` once checked out is a 409 `CHECKOUT_WALLET_MISMATCH`. A
/// booking paid in full from the wallet, or free, is confirmed at once,
/// with its tickets and mail, without Stripe. When Stripe's rate limit
/// holds out past a short retry, the answer is 503 `PAYMENTS_BUSY` with
/// `retry-after`, and the hold stands.
#[utoipa::path(post, path = "/v1/bookings/{id}/checkout", operation_id = "checkout", tag = "bookings",
    params(("id" = String, Path, description = "Booking id")), security(("bearer" = [])),
    request_body(content = Option<CheckoutRequest>, description = "Optional; `{}` or no body pays it all by card"),
    responses((status = 200, body = Checkout), (status = 400, body = shared::error::Problem),
              (status = 401, body = shared::error::Problem),
              (status = 403, body = shared::error::Problem), (status = 404, body = shared::error::Problem),
              (status = 409, description = "not a live hold (expired, released, paid); INSUFFICIENT_FUNDS: the wallet lacks `wallet_cents`; CHECKOUT_WALLET_MISMATCH: checked out before with another `wallet_cents`", body = shared::error::Problem),
              (status = 422, description = "`wallet_cents` outside 0 to the amount, or leaving a card part below the card minimum", body = shared::error::Problem),
              (status = 429, description = "RATE_LIMITED: too many checkouts by this user; retry after `retry-after` seconds", body = shared::error::Problem,
               headers(("retry-after" = u64, description = "seconds until the limit's window ends"))),
              (status = 503, description = "Stripe did not answer (PAYMENTS_UNAVAILABLE), or is at its rate limit (PAYMENTS_BUSY; the hold stands, retry after `retry-after` seconds)", body = shared::error::Problem,
               headers(("retry-after" = u64, description = "with PAYMENTS_BUSY: seconds to wait before checking out again")))))]
pub async fn checkout(
    State(state): State<BookingsState>,
    caller: Authenticated,
    PathParam(id): PathParam<String>,
    body: Bytes,
) -> Result<Json<Checkout>, ApiError> {
    let app: &AppState = &state.app;
    let request: CheckoutRequest = parse_optional_body(&body)?;
    limits::enforce(app, &[limits::payments_of(app, &caller.user_id)]).await?;
    let booking = owned_booking(app, &caller, &id, "pay for a booking").await?;
    let split = wallet::split(
        booking.amount_cents,
        &booking.currency,
        request.wallet_cents,
    )?;
    let checked_out =
        booking.payment_intent_id.is_some() || booking.status == BookingStatus::Confirmed;
    if checked_out {
        wallet::same_checkout(booking.wallet_part(), split.wallet_cents)?;
    }
    if split.card_cents == 0 {
        return confirm_without_card(&state, booking, split).await;
    }
    if booking.status != BookingStatus::Held {
        return Err(not_payable(booking.status));
    }
    let (payment, booking) = match &booking.payment_intent_id {
        // Checked out before: the same PaymentIntent, whatever the settings
        // say now.
        Some(existing) => (
            state
                .payments
                .existing_payment_intent(existing)
                .await
                .map_err(|err| unavailable(&booking.id, err))?,
            booking,
        ),
        None => new_payment_intent(&state, booking, split).await?,
    };
    metrics::count(CHECKOUTS);
    Ok(Json(Checkout {
        payment_intent_id: Some(payment.payment_intent_id),
        client_secret: Some(payment.client_secret),
        amount_cents: booking.card_part(),
        wallet_cents: booking.wallet_part(),
        currency: booking.currency.clone(),
        booking,
    }))
}

/// Nothing to pay by card (free, or all from the wallet): the hold is
/// confirmed now, under the same conditions as a paid one (still held,
/// seats still its own, event not cancelled), spending the wallet part in
/// the confirming transaction.
async fn confirm_without_card(
    state: &BookingsState,
    booking: Booking,
    split: Split,
) -> Result<Json<Checkout>, ApiError> {
    let app = &state.app;
    let now = app.clock.now();
    let fulfilment = Fulfilment::of(app, &booking).await?;
    let (confirmed, fulfilled) = match booking.status {
        BookingStatus::Confirmed => (booking, false),
        BookingStatus::Held => {
            let from_wallet = Payment {
                payment_intent_id: None,
                wallet_cents: split.wallet_cents,
            };
            let tickets = fulfilment.tickets();
            match app
                .store
                .confirm_payment(booking, from_wallet, tickets, now)
                .await?
            {
                Some(ConfirmOutcome::Confirmed {
                    booking, fulfilled, ..
                }) => {
                    metrics::count(CONFIRMATIONS);
                    (*booking, fulfilled)
                }
                Some(ConfirmOutcome::AlreadyConfirmed(booking)) => (*booking, false),
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
                Some(ConfirmOutcome::WalletShort(_)) => {
                    return Err(WalletError::InsufficientFunds(split.wallet_cents).into());
                }
                Some(ConfirmOutcome::RefundUnderway) | None => {
                    return Err(not_payable(BookingStatus::Cancelled));
                }
            }
        }
        status => return Err(not_payable(status)),
    };
    let mail = &state.mail;
    fulfil(app, &state.mailer, mail, &confirmed, &fulfilment, fulfilled).await?;
    Ok(Json(Checkout {
        payment_intent_id: None,
        client_secret: None,
        amount_cents: 0,
        wallet_cents: confirmed.wallet_part(),
        currency: confirmed.currency.clone(),
        booking: confirmed,
    }))
}

/// Creates the booking's PaymentIntent for the card part and records it on
/// the booking, reserving the wallet part, as long as the hold is still
/// live. Returns the booking as recorded.
async fn new_payment_intent(
    state: &BookingsState,
    booking: Booking,
    split: Split,
) -> Result<(CreatedPayment, Booking), ApiError> {
    let app = &state.app;
    let settings = app.store.settings().await?;
    // Without a connected account the platform keeps the whole amount; the
    // fee comes out of the card part (the wallet's money is already the
    // platform's).
    let destination = settings.stripe_account_id.as_deref().map(|account| {
        let fee = platform_fee(
            split.card_cents,
            settings.platform_fee_fixed_cents,
            settings.platform_fee_basis_points,
        );
        (account, fee)
    });
    let payment = state
        .payments
        .payment_intent(&PaymentRequest {
            booking_id: &booking.id,
            amount_cents: split.card_cents,
            wallet_cents: split.wallet_cents,
            currency: &booking.currency,
            destination,
        })
        .await
        .map_err(|err| unavailable(&booking.id, err))?;
    let now = app.clock.now();
    let attached = app
        .store
        .attach_payment_intent(
            &booking,
            &payment.payment_intent_id,
            destination,
            split.wallet_cents,
            now,
        )
        .await?;
    match attached {
        Attached::Attached => {}
        Attached::InsufficientFunds => {
            return Err(WalletError::InsufficientFunds(split.wallet_cents).into());
        }
        // The hold ran out or was released meanwhile (an unpaid
        // PaymentIntent costs nothing and is never confirmed), or a twin
        // request recorded its own checkout first.
        Attached::NotAttached => {
            let read = app.store.booking(&booking.id).await?.map(|b| b.as_of(now));
            return match read {
                Some(b) if b.status == BookingStatus::Held && b.payment_intent_id.is_some() => {
                    wallet::same_checkout(b.wallet_part(), split.wallet_cents)?;
                    if b.payment_intent_id.as_deref() != Some(&payment.payment_intent_id) {
                        return Err(WalletError::CheckoutChanged {
                            existing: b.wallet_part(),
                        }
                        .into());
                    }
                    Ok((payment, b))
                }
                other => Err(not_payable(
                    other.map_or(BookingStatus::Cancelled, |b| b.status),
                )),
            };
        }
    }
    let booking = Booking {
        payment_intent_id: Some(payment.payment_intent_id.clone()),
        fee_cents: destination.map_or(0, |(_, fee)| fee),
        paid_wallet_cents: (split.wallet_cents > 0).then_some(split.wallet_cents),
        paid_card_cents: (split.wallet_cents > 0).then_some(split.card_cents),
        updated_at: now,
        ..booking
    };
    Ok((payment, booking))
}

/// Nothing was written: the booking is still the same live hold (or no
/// top-up was started), and asking again is safe.
pub(crate) fn unavailable(id: &str, err: PaymentsError) -> ApiError {
    match err {
        PaymentsError::RateLimited { retry_after_secs } => {
            tracing::warn!(id, "Stripe rate limited a payment past the retry budget");
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
            tracing::error!(error = %cause, id, "Stripe did not answer a payment");
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
