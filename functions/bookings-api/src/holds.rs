use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use shared::auth::Authenticated;
use shared::domain::booking::{Booking, TierRequest};
use shared::domain::rate_limit::{self, Limit};
use shared::http::{ClientIp, Json, PathParam};
use shared::metrics::{self, HOLDS_CREATED, HOLDS_REFUSED};
use shared::queue::HoldExpiryMessage;
use shared::sale::{self, Order};
use shared::{ApiError, limits};

use crate::BookingsState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    /// Grid events: the units to hold, each whole.
    units: Option<Vec<String>>,
    /// Open events: how many places.
    quantity: Option<u32>,
    /// Open events with tiers: places per tier, all or nothing.
    items: Option<Vec<TierRequest>>,
}

/// Holds units (grid) or places (open) for `hold_minutes`, all or nothing.
/// The amount comes from the event's layout. The hold-expiry worker is told
/// when the hold lapses.
#[utoipa::path(post, path = "/v1/events/{id}/holds", operation_id = "createHold", tag = "bookings",
    params(("id" = String, Path, description = "Event id")), request_body = HoldRequest, security(("bearer" = [])),
    responses((status = 201, body = Booking), (status = 400, body = shared::error::Problem),
              (status = 401, body = shared::error::Problem), (status = 404, body = shared::error::Problem),
              (status = 409, description = "UNITS_UNAVAILABLE, SOLD_OUT or EVENT_CHANGED; nothing held", body = shared::error::Problem),
              (status = 422, description = "over max_per_booking, unknown or duplicate units, not on sale", body = shared::error::Problem),
              (status = 429, description = "RATE_LIMITED: too many holds by this user or from this address; retry after `retry-after` seconds", body = shared::error::Problem,
               headers(("retry-after" = u64, description = "seconds until the limit's window ends")))))]
pub async fn create(
    State(state): State<BookingsState>,
    caller: Authenticated,
    ClientIp(ip): ClientIp,
    PathParam(event_id): PathParam<String>,
    Json(req): Json<HoldRequest>,
) -> Result<(StatusCode, Json<Booking>), ApiError> {
    // A malformed request is refused before anything is counted or read.
    let request = sale::request(req.units, req.quantity, req.items)?;
    let ip = rate_limit::ip_subject(&ip);
    let per_minute = state.app.config.rate_limits;
    let per = |scope, subject, per_window| Limit {
        scope,
        subject,
        per_window,
        window_secs: rate_limit::MINUTE,
    };
    limits::enforce(&state.app, &[per("holds-ip", &ip, per_minute.holds_per_ip)]).await?;
    // The user's hit is counted by the hold's own transaction.
    let hit = limits::hit(
        &state.app,
        per("holds-user", &caller.user_id, per_minute.holds_per_user),
    )?;
    let order = Order {
        event_id,
        request,
        walk_in: None,
        user_id: caller.user_id.clone(),
    };
    let booking = sale::sell(&state.app, order, Some(&hit))
        .await
        .inspect_err(|err| metrics::count_by(HOLDS_REFUSED, err.code))?;
    metrics::count(HOLDS_CREATED);
    if let Some(hold_expires_at) = booking.hold_expires_at {
        let message = HoldExpiryMessage {
            booking_id: booking.id.clone(),
            hold_expires_at,
        };
        // The hold stands either way: lazy expiry frees it on time and the
        // every-minute sweep records it, so a lost message is a warning.
        if let Err(err) = state.expiry.send(&message, state.app.clock.now()).await {
            tracing::warn!(booking_id = %booking.id, error = %err, "hold-expiry message not sent");
        }
    }
    Ok((StatusCode::CREATED, Json(booking)))
}
