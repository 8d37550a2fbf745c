use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use shared::auth::{Admin, RequireRole};
use shared::domain::booking::{Booking, TierRequest};
use shared::domain::hold::Holder;
use shared::domain::{Email, user};
use shared::http::{Json, PathParam};
use shared::sale::{self, Order};
use shared::tickets;
use shared::{ApiError, AppState};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WalkInRequest {
    /// Grid events: the units sold.
    units: Option<Vec<String>>,
    /// Open events: how many places.
    quantity: Option<u32>,
    /// Open events with tiers: places per tier, all or nothing.
    items: Option<Vec<TierRequest>>,
    /// Who bought at the door.
    name: String,
    email: Option<String>,
}

/// Sells units or places for cash at the door: confirmed at once, through
/// the same conditional path as online holds, and written to the audit log.
#[utoipa::path(post, path = "/v1/admin/events/{id}/walk-in", operation_id = "sellWalkIn", tag = "admin",
    params(("id" = String, Path, description = "Event id")), request_body = WalkInRequest, security(("bearer" = [])),
    responses((status = 201, body = Booking), (status = 400, body = shared::error::Problem),
              (status = 403, body = shared::error::Problem), (status = 404, body = shared::error::Problem),
              (status = 409, body = shared::error::Problem), (status = 422, body = shared::error::Problem)))]
pub async fn sell(
    State(app): State<AppState>,
    RequireRole { caller, .. }: RequireRole<Admin>,
    PathParam(event_id): PathParam<String>,
    Json(req): Json<WalkInRequest>,
) -> Result<(StatusCode, Json<Booking>), ApiError> {
    let name = user::parse_name(&req.name).map_err(|msg| ApiError::invalid_field("name", msg))?;
    let email = req
        .email
        .as_deref()
        .map(|e| Email::parse(e).map_err(|msg| ApiError::invalid_field("email", msg)))
        .transpose()?;
    let order = Order {
        event_id,
        request: sale::request(req.units, req.quantity, req.items)?,
        walk_in: Some(Holder {
            name,
            email: email.map(|e| e.as_str().to_owned()),
        }),
        user_id: caller.user_id,
    };
    let booking = sale::sell(&app, order, None).await?;
    // Sold and committed: nothing after this may fail the answer, or the
    // cashier's retry would sell again. The tickets come now, or else on the
    // first read of the booking's tickets (shared::tickets).
    if let Err(err) = tickets::issue(&app, &booking).await {
        tracing::warn!(booking_id = %booking.id, error = %err,
            "walk-in sold; its tickets will be issued when first read");
    }
    Ok((StatusCode::CREATED, Json(booking)))
}
