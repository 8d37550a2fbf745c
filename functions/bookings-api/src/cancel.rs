use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;
use shared::auth::Authenticated;
use shared::domain::Role;
use shared::domain::audit::AuditEntry;
use shared::domain::booking::{Booking, BookingSource, BookingStatus};
use shared::http::{Json, PathParam};
use shared::{ApiError, AppState};

use crate::BookingsState;
use crate::bookings::visible_booking;

/// Cancels a confirmed booking: the holder before the event starts, or an
/// admin at any time. Paid online, the money goes back through Stripe and
/// the booking is `refunded`; paid in cash at the door, it is `cancelled`.
/// Its seats are free again at once. Not once anyone was admitted with it.
#[utoipa::path(post, path = "/v1/bookings/{id}/cancel", operation_id = "cancelBooking", tag = "bookings",
    params(("id" = String, Path, description = "Booking id")), security(("bearer" = [])),
    responses((status = 200, body = Booking), (status = 401, body = shared::error::Problem),
              (status = 403, body = shared::error::Problem), (status = 404, body = shared::error::Problem),
              (status = 409, description = "not confirmed, already used at the door, or the event started", body = shared::error::Problem),
              (status = 503, description = "Stripe did not answer; the booking is cancelled, call again to finish the refund", body = shared::error::Problem)))]
pub async fn cancel(
    State(state): State<BookingsState>,
    caller: Authenticated,
    PathParam(id): PathParam<String>,
) -> Result<Json<Booking>, ApiError> {
    let app: &AppState = &state.app;
    let booking = visible_booking(app, &caller, &id).await?;
    let is_admin = caller.role.includes(Role::Admin);
    if booking.user_id != caller.user_id && !is_admin {
        return Err(ApiError::forbidden(
            "NOT_OWNER",
            "only the holder or an admin may cancel a booking",
        ));
    }
    let now = app.clock.now();
    let booking = match booking.status {
        BookingStatus::Confirmed => {
            let event = app
                .store
                .event(&booking.event_id)
                .await?
                .ok_or_else(|| ApiError::not_found("event"))?;
            if !is_admin && event.starts_at <= now {
                return Err(ApiError::conflict(
                    "EVENT_STARTED",
                    "a booking can be cancelled by its holder only before the event starts",
                ));
            }
            let to = match booking.source {
                BookingSource::WalkIn => BookingStatus::Cancelled,
                BookingSource::Online => BookingStatus::Refunded,
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
            let reason = if booking.user_id == caller.user_id {
                "cancelled_by_holder"
            } else {
                "cancelled_by_admin"
            };
            if !app
                .store
                .cancel_confirmed(&booking, to, reason, audit.as_ref(), now)
                .await?
            {
                return Err(ApiError::conflict(
                    "BOOKING_IN_USE",
                    "the booking changed meanwhile, or someone was admitted with it",
                ));
            }
            Booking {
                status: to,
                updated_at: now,
                ..booking
            }
        }
        // A refund that Stripe did not confirm last time is asked for again
        // (same idempotency key: never twice).
        BookingStatus::Refunded if booking.payment_intent_id.is_some() => booking,
        status => {
            return Err(ApiError::conflict(
                "BOOKING_NOT_CONFIRMED",
                format!(
                    "the booking is {}; only confirmed bookings are cancelled",
                    status.as_str()
                ),
            ));
        }
    };
    if let (BookingStatus::Refunded, Some(intent)) = (booking.status, &booking.payment_intent_id) {
        state
            .payments
            .refund(&booking.id, intent)
            .await
            .map_err(|err| {
                tracing::error!(error = %err, booking_id = %booking.id, "refund failed");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "PAYMENTS_UNAVAILABLE",
                    "the booking is cancelled but the refund did not go through yet; call again",
                )
            })?;
    }
    Ok(Json(booking))
}
