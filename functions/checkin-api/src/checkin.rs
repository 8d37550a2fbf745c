use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::auth::{RequireRole, Staff};
use shared::http::{Json, PathParam};
use shared::store::CheckIn;
use shared::{ApiError, AppState};
use time::OffsetDateTime;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Scan {
    /// The token of the ticket's QR code.
    token: String,
    /// The event the door belongs to.
    event_id: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckInResult {
    CheckedIn,
    AlreadyCheckedIn,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Admission {
    result: CheckInResult,
    ticket_id: String,
    booking_id: String,
    /// When the ticket was first admitted.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    checked_in_at: OffsetDateTime,
    holder_name: Option<String>,
    label: String,
    /// The price category (grid) or tier (open) the ticket admits to.
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tier: Option<String>,
}

fn invalid_ticket() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "TICKET_INVALID",
        "not a ticket this platform issued",
    )
}

/// Admits a ticket once; scanning it again says when it was first admitted.
#[utoipa::path(post, path = "/v1/checkin", operation_id = "checkIn", tag = "checkin",
    request_body = Scan, security(("bearer" = [])),
    responses((status = 200, body = Admission), (status = 400, body = shared::error::Problem),
              (status = 401, body = shared::error::Problem), (status = 403, body = shared::error::Problem),
              (status = 404, description = "forged or unknown ticket", body = shared::error::Problem),
              (status = 409, description = "a ticket for another event, or of a cancelled booking", body = shared::error::Problem)))]
pub async fn admit(
    State(app): State<AppState>,
    _staff: RequireRole<Staff>,
    Json(scan): Json<Scan>,
) -> Result<Json<Admission>, ApiError> {
    // Forgeries are refused here, before any read.
    let claim = app
        .ticket_key
        .verify(&scan.token)
        .ok_or_else(invalid_ticket)?;
    if claim.event_id != scan.event_id {
        return Err(ApiError::conflict(
            "WRONG_EVENT",
            "this ticket is for another event",
        ));
    }
    let (result, ticket) = match app
        .store
        .check_in(&claim.ticket_id, app.clock.now())
        .await?
    {
        CheckIn::First(ticket) => (CheckInResult::CheckedIn, ticket),
        CheckIn::Again(ticket) => (CheckInResult::AlreadyCheckedIn, ticket),
        CheckIn::Void(_) => {
            return Err(ApiError::conflict(
                "TICKET_CANCELLED",
                "this ticket's booking was cancelled or refunded",
            ));
        }
        CheckIn::Unknown => return Err(invalid_ticket()),
    };
    Ok(Json(Admission {
        result,
        checked_in_at: ticket
            .checked_in_at
            .ok_or_else(|| ApiError::internal("admitted without a time"))?,
        ticket_id: ticket.id,
        booking_id: ticket.booking_id,
        holder_name: ticket.holder_name,
        label: ticket.label,
        category: ticket.category,
        tier: ticket.tier,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckinStats {
    tickets: u64,
    checked_in: u64,
}

/// How many tickets an event has and how many were admitted.
#[utoipa::path(get, path = "/v1/events/{id}/checkin-stats", operation_id = "checkinStats", tag = "checkin",
    params(("id" = String, Path, description = "Event id")), security(("bearer" = [])),
    responses((status = 200, body = CheckinStats), (status = 401, body = shared::error::Problem),
              (status = 403, body = shared::error::Problem), (status = 404, body = shared::error::Problem)))]
pub async fn stats(
    State(app): State<AppState>,
    _staff: RequireRole<Staff>,
    PathParam(id): PathParam<String>,
) -> Result<Json<CheckinStats>, ApiError> {
    app.store
        .event(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    let (tickets, checked_in) = app.store.checkin_counts(&id).await?;
    Ok(Json(CheckinStats {
        tickets,
        checked_in,
    }))
}
