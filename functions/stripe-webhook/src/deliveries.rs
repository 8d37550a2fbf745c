use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use shared::ApiError;
use shared::domain::booking::{Booking, BookingStatus};
use shared::domain::payment::{
    PaymentEvent, PaymentSucceeded, SignatureError, StripeEvent, SuccessDecision, on_success,
    verify_signature,
};
use shared::domain::refund::{BookingRefund, ChargeRefunded, RefundStatus, RefundStep};
use shared::domain::wallet::{TopUpRefund, TopUpRefunds, top_up_paid_in_full, top_up_refund};
use shared::fulfilment::{Fulfilment, fulfil};
use shared::http::Json;
use shared::metrics::{
    self, CONFIRMATIONS, LATE_PAYMENT_REFUNDS, REFUNDS_OWED, WALLET_REVERSALS_REFUSED,
    WEBHOOK_DUPLICATES, WEBHOOK_SIGNATURE_FAILURES,
};
use shared::store::{
    ConfirmOutcome, Payment, RefundOrder, RefundRecorded, TopUp, TopUpRefundApplied,
};

use crate::WebhookState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Received {
    received: bool,
    /// This delivery was handled before; nothing happened again.
    duplicate: bool,
}

/// Stripe's deliveries: verified, applied once, acknowledged. Events about
/// payments of other stacks or tools are acknowledged and ignored.
#[utoipa::path(post, path = "/v1/webhooks/stripe", operation_id = "stripeWebhook", tag = "webhooks",
    request_body(content = String, description = "The event exactly as Stripe sent it", content_type = "application/json"),
    params(("Stripe-Signature" = String, Header, description = "t=<unix>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">")),
    responses((status = 200, body = Received),
              (status = 400, description = "missing, bad or stale signature, or not an event", body = shared::error::Problem),
              (status = 503, description = "not handled yet (the store or Stripe was busy); Stripe delivers again", body = shared::error::Problem)))]
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
        metrics::count(WEBHOOK_DUPLICATES);
        return Ok(Json(Received {
            received: true,
            duplicate: true,
        }));
    }
    match event.action(state.payments.stack_id()) {
        PaymentEvent::Succeeded(payment) => paid(&state, &payment).await?,
        PaymentEvent::TopUpSucceeded {
            payment_intent_id,
            amount_cents,
            currency,
        } => top_up_paid(&state, &payment_intent_id, amount_cents, &currency).await?,
        PaymentEvent::Refunded(charge) => refunded(&state, &charge).await?,
        PaymentEvent::NotOurs(why) => {
            tracing::info!(event_id = %event.id, kind = %event.kind, why, "not a payment of this stack: ignored");
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
    metrics::count(WEBHOOK_SIGNATURE_FAILURES);
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "INVALID_SIGNATURE",
        err.to_string(),
    )
}

/// Money arrived for a booking: confirm and ticket it, or owe it back.
async fn paid(state: &WebhookState, payment: &PaymentSucceeded) -> Result<(), ApiError> {
    let app = &state.app;
    let booking = app.store.booking(&payment.booking_id).await?;
    if let SuccessDecision::Refund {
        reason,
        booking: change,
    } = on_success(booking.as_ref(), payment)
    {
        tracing::warn!(booking_id = %payment.booking_id, payment_intent_id = %payment.payment_intent_id, reason, "payment that cannot buy its booking: refunding");
        return owe_refund(state, booking, payment, reason, change).await;
    }
    let booking =
        booking.ok_or_else(|| ApiError::internal("on_success confirms known bookings only"))?;
    let intent = Payment {
        payment_intent_id: Some(&payment.payment_intent_id),
        wallet_cents: booking.wallet_part(),
    };
    let fulfilment = Fulfilment::of(app, &booking).await?;
    let outcome = app
        .store
        .confirm_payment(booking, intent, fulfilment.tickets(), app.clock.now())
        .await?
        .ok_or_else(|| ApiError::internal("the booking vanished while confirming"))?;
    let (booking, reason, change) = match outcome {
        ConfirmOutcome::Confirmed {
            booking,
            fulfilled,
            consumed_capacity,
        } => {
            tracing::info!(booking_id = %booking.id, event_id = %booking.event_id, consumed_capacity, "payment confirmed");
            metrics::count(CONFIRMATIONS);
            let mail = &state.mail;
            return fulfil(app, &state.mailer, mail, &booking, &fulfilment, fulfilled).await;
        }
        // Issuing again after a crash adds only what is missing.
        ConfirmOutcome::AlreadyConfirmed(booking) => {
            let mail = &state.mail;
            return fulfil(app, &state.mailer, mail, &booking, &fulfilment, false).await;
        }
        ConfirmOutcome::RefundUnderway => {
            tracing::warn!(payment_intent_id = %payment.payment_intent_id, "success delivered after its refund: nothing to confirm");
            return Ok(());
        }
        ConfirmOutcome::SeatsGone(booking) => {
            (booking, "late_payment", BookingRefund::MarkRefunded)
        }
        ConfirmOutcome::EventCancelled(booking) => {
            (booking, "event_cancelled", BookingRefund::MarkRefunded)
        }
        // A late payment whose wallet part went back with the hold, and
        // was spent since.
        ConfirmOutcome::WalletShort(booking) => {
            (booking, "wallet_short", BookingRefund::MarkRefunded)
        }
        // Released by its holder: the booking records the refund; already
        // refunded (another payment's money): the booking stays as it is.
        ConfirmOutcome::NotPayable(booking) => {
            let change = match booking.status {
                BookingStatus::Cancelled => BookingRefund::MarkRefunded,
                _ => BookingRefund::Keep,
            };
            (booking, "late_payment", change)
        }
    };
    tracing::warn!(booking_id = %booking.id, payment_intent_id = %payment.payment_intent_id, reason, "payment that cannot get its seats: refunding");
    owe_refund(state, Some(*booking), payment, reason, change).await
}

/// Records that the payment's money is owed back (changing the booking as
/// decided, in the same transaction), then tells the refund worker. A
/// booking that moved meanwhile is read again: if another delivery
/// confirmed it with this payment, nothing is owed.
async fn owe_refund(
    state: &WebhookState,
    mut booking: Option<Booking>,
    payment: &PaymentSucceeded,
    reason: &'static str,
    change: BookingRefund,
) -> Result<(), ApiError> {
    let app = &state.app;
    for _ in 0..3 {
        let now = app.clock.now();
        if change == BookingRefund::MarkRefunded
            && let Some(lapsed) = booking.as_ref().filter(|b| b.is_lapsed(now))
        {
            // Its places go back first, as any lapsed hold's do.
            app.store.expire_hold(lapsed, now).await?;
            booking = app.store.booking(&payment.booking_id).await?;
        }
        let order = RefundOrder {
            booking_id: &payment.booking_id,
            booking: booking.as_ref(),
            payment_intent_id: &payment.payment_intent_id,
            reason,
            change,
            audit: None,
            now,
        };
        match app.store.record_refund(order).await? {
            RefundRecorded::Recorded => {
                metrics::count(REFUNDS_OWED);
                metrics::count_by(LATE_PAYMENT_REFUNDS, reason);
                state.refunds.notify(&payment.payment_intent_id).await;
                return Ok(());
            }
            RefundRecorded::AlreadyRecorded => return Ok(()),
            RefundRecorded::BookingMoved => {
                booking = app.store.booking(&payment.booking_id).await?;
                let confirmed_with_it = booking.as_ref().is_some_and(|b| {
                    b.status == BookingStatus::Confirmed
                        && b.payment_intent_id.as_deref() == Some(&payment.payment_intent_id)
                });
                if confirmed_with_it {
                    return Ok(());
                }
            }
        }
    }
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "BUSY",
        "the booking kept changing; Stripe delivers again",
    ))
}

/// Money went back (from Stripe's dashboard, or our own refund): Stripe's
/// running total is recorded. Only a full refund ends the booking: its
/// seats come free unless someone was admitted with it, and a refund we
/// asked for is done.
async fn refunded(state: &WebhookState, charge: &ChargeRefunded) -> Result<(), ApiError> {
    let app = &state.app;
    let now = app.clock.now();
    let Some(job) = app.store.record_charge_refunded(charge, now).await? else {
        if let Some(top_up) = app.store.top_up_refunds(&charge.payment_intent_id).await? {
            return top_up_refunded(app, charge, top_up).await;
        }
        tracing::info!(payment_intent_id = %charge.payment_intent_id, "refund of a payment this stack never recorded: ignored");
        return Ok(());
    };
    if !charge.is_full() {
        tracing::info!(payment_intent_id = %charge.payment_intent_id, refunded_cents = charge.amount_refunded_cents, "partial refund recorded; the booking stands");
        return Ok(());
    }
    if job.status == Some(RefundStatus::Pending) {
        app.store
            .finish_refund(&job, &RefundStep::Succeeded { refund_id: None }, now)
            .await?;
    }
    let Some(booking) = app.store.booking(&job.booking_id).await? else {
        return Ok(());
    };
    if booking.status == BookingStatus::Confirmed
        && booking.payment_intent_id.as_deref() == Some(&charge.payment_intent_id)
        && app.store.refunded_elsewhere(&booking, now).await?
    {
        app.store.forget_tickets(&booking.id).await;
    }
    Ok(())
}

/// A top-up's money arrived: the wallet is credited once, however many
/// deliveries (of this event or a copy) race.
async fn top_up_paid(
    state: &WebhookState,
    payment_intent_id: &str,
    amount_cents: i64,
    currency: &str,
) -> Result<(), ApiError> {
    let app = &state.app;
    let Some(top_up) = app.store.top_up(payment_intent_id).await? else {
        tracing::warn!(
            payment_intent_id,
            "a top-up PaymentIntent this stack never recorded: ignored"
        );
        return Ok(());
    };
    if !top_up_paid_in_full(
        top_up.amount_cents,
        &top_up.currency,
        amount_cents,
        currency,
    ) {
        tracing::error!(
            payment_intent_id,
            amount_cents,
            currency,
            "a top-up paid another amount than recorded: not credited"
        );
        return Ok(());
    }
    if app.store.credit_top_up(&top_up, app.clock.now()).await? {
        tracing::info!(payment_intent_id, user_id = %top_up.user_id, amount_cents, "wallet topped up");
    }
    Ok(())
}

/// Stripe gave some or all of a top-up's money back: what was newly
/// refunded (Stripe's running total less what was decided before) comes
/// back out of the wallet, once however many deliveries race. When the
/// wallet cannot cover it (spent, or promised to a checkout) it keeps it:
/// an error for an admin (logged, counted, in the audit log), never silent,
/// and acknowledged so Stripe does not deliver it for days.
async fn top_up_refunded(
    app: &shared::AppState,
    charge: &ChargeRefunded,
    first_read: (TopUp, TopUpRefunds),
) -> Result<(), ApiError> {
    let payment_intent_id = &charge.payment_intent_id;
    let mut found = Some(first_read);
    // Racing deliveries: one applies, the others read again and find
    // nothing left to decide.
    for _ in 0..4 {
        let read = match found.take() {
            Some(read) => Some(read),
            None => app.store.top_up_refunds(payment_intent_id).await?,
        };
        let Some((top_up, read)) = read else {
            return Ok(());
        };
        let available = app
            .store
            .wallet_available(&top_up.user_id, &top_up.currency)
            .await?;
        let decision = top_up_refund(read, charge, available);
        let applied = app
            .store
            .apply_top_up_refund(
                &top_up,
                &read,
                decision,
                charge.amount_refunded_cents,
                app.clock.now(),
            )
            .await?;
        if applied == TopUpRefundApplied::Stale {
            continue;
        }
        match decision {
            TopUpRefund::Reverse { cents, in_full } => {
                tracing::info!(payment_intent_id, user_id = %top_up.user_id, cents, in_full, "refunded top-up taken back out of the wallet");
            }
            TopUpRefund::Refuse {
                cents,
                available_cents,
                ..
            } => {
                metrics::count(WALLET_REVERSALS_REFUSED);
                tracing::error!(payment_intent_id, user_id = %top_up.user_id, cents, available_cents, "refunded top-up already spent: the wallet keeps the credit; an admin must settle it");
            }
            TopUpRefund::NotCreditedYet => {
                tracing::warn!(
                    payment_intent_id,
                    refunded_cents = charge.amount_refunded_cents,
                    "partial refund of a top-up not credited yet: decided once it is"
                );
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "TOP_UP_NOT_CREDITED",
                    "the top-up is not credited yet; Stripe delivers again",
                ));
            }
            TopUpRefund::NeverCredit | TopUpRefund::Nothing => {}
        }
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "BUSY",
        "the wallet kept changing; Stripe delivers again",
    ))
}
