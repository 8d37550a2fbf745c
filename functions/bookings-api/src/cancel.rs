use axum::extract::State;
use serde_json::json;
use shared::auth::Authenticated;
use shared::domain::Role;
use shared::domain::audit::AuditEntry;
use shared::domain::booking::{self, Booking, CancelRefusal, Cancellation};
use shared::domain::refund::{BookingRefund, RefundStatus};
use shared::http::{Json, PathParam};
use shared::metrics::{self, REFUNDS_OWED};
use shared::store::{RefundOrder, RefundRecorded};
use shared::{ApiError, AppState};

use crate::BookingsState;
use crate::bookings::visible_booking;

/// Cancels a confirmed booking: the holder before the event starts, or an
/// admin at any time; not once anyone was admitted with it. Its seats are
/// free again at once. Paid online, it is `refunded` with `refund_status:
/// pending` at once: the refund is recorded in the same transaction and the
/// refund worker sends it (and retries until Stripe confirms). Paid in
/// cash, or free, it is `cancelled`. Cancelling again answers the same.
#[utoipa::path(post, path = "/v1/bookings/{id}/cancel", operation_id = "cancelBooking", tag = "bookings",
    params(("id" = String, Path, description = "Booking id")), security(("bearer" = [])),
    responses((status = 200, body = Booking), (status = 401, body = shared::error::Problem),
              (status = 403, body = shared::error::Problem), (status = 404, body = shared::error::Problem),
              (status = 409, description = "not confirmed, already used at the door, or the event started", body = shared::error::Problem)))]
pub async fn cancel(
    State(state): State<BookingsState>,
    caller: Authenticated,
    PathParam(id): PathParam<String>,
) -> Result<Json<Booking>, ApiError> {
    let app: &AppState = &state.app;
    let booking = visible_booking(app, &caller, &id).await?;
    let is_admin = caller.role.includes(Role::Admin);
    let event = app
        .store
        .event(&booking.event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    let now = app.clock.now();
    let decision = booking::cancellation(&booking, &caller.user_id, is_admin, event.starts_at, now)
        .map_err(refused)?;
    let Cancellation::Cancel { to, reason, refund } = decision else {
        return Ok(Json(booking));
    };
    let audit = is_admin.then(|| {
        AuditEntry::new(
            now,
            &caller.user_id,
            "booking.cancel",
            format!("booking:{}", booking.id),
            json!({ "event_id": booking.event_id, "to": to.as_str(),
                    "amount_cents": booking.amount_cents }),
        )
    });
    let cancelled = match &refund {
        Some(payment) => {
            let order = RefundOrder {
                booking_id: &booking.id,
                booking: Some(&booking),
                payment_intent_id: payment,
                reason,
                change: BookingRefund::CancelConfirmed,
                audit: audit.as_ref(),
                now,
            };
            match app.store.record_refund(order).await? {
                RefundRecorded::Recorded => {
                    metrics::count(REFUNDS_OWED);
                    state.refunds.notify(payment).await;
                    true
                }
                RefundRecorded::BookingMoved => false,
                RefundRecorded::AlreadyRecorded => {
                    return Err(ApiError::conflict(
                        "REFUND_UNDERWAY",
                        "this booking's payment is being refunded already",
                    ));
                }
            }
        }
        None => {
            app.store
                .cancel_confirmed(&booking, to, reason, audit.as_ref(), now)
                .await?
        }
    };
    if !cancelled {
        return Err(ApiError::conflict(
            "BOOKING_IN_USE",
            "the booking changed meanwhile, or someone was admitted with it",
        ));
    }
    app.store.forget_tickets(&booking.id).await;
    Ok(Json(Booking {
        status: to,
        updated_at: now,
        refund_status: refund.map(|_| RefundStatus::Pending),
        ..booking
    }))
}

fn refused(refusal: CancelRefusal) -> ApiError {
    match refusal {
        CancelRefusal::NotOwner => ApiError::forbidden("NOT_OWNER", refusal.to_string()),
        CancelRefusal::EventStarted => ApiError::conflict("EVENT_STARTED", refusal.to_string()),
        CancelRefusal::NotConfirmed(_) => {
            ApiError::conflict("BOOKING_NOT_CONFIRMED", refusal.to_string())
        }
    }
}
