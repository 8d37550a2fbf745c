use axum::extract::State;
use serde::{Deserialize, Serialize};
use shared::auth::Authenticated;
use shared::domain::Role;
use shared::domain::booking::{Booking, BookingStatus};
use shared::http::{Json, PathParam, Query, page_limit};
use shared::{ApiError, AppState};

/// Cursors of this listing are bound to it and to the user it lists: a
/// cursor of another user's bookings is refused as a 400, not sent on as a
/// start key outside the query (which DynamoDB refuses).
fn listing(user_id: &str) -> String {
    format!("my-bookings:{user_id}")
}

/// The booking as the caller may see it: their own, or any for staff and
/// above. Anyone else learns nothing, not even that it exists.
pub(crate) async fn visible_booking(
    app: &AppState,
    caller: &Authenticated,
    id: &str,
) -> Result<Booking, ApiError> {
    app.store
        .booking(id)
        .await?
        .filter(|b| b.user_id == caller.user_id || caller.role.includes(Role::Staff))
        .map(|b| b.as_of(app.clock.now()))
        .ok_or_else(|| ApiError::not_found("booking"))
}

/// The caller's own booking; staff may see others' but not act for them.
pub(crate) async fn owned_booking(
    app: &AppState,
    caller: &Authenticated,
    id: &str,
    action: &str,
) -> Result<Booking, ApiError> {
    let booking = visible_booking(app, caller, id).await?;
    if booking.user_id != caller.user_id {
        return Err(ApiError::forbidden(
            "NOT_OWNER",
            format!("only the holder may {action}"),
        ));
    }
    Ok(booking)
}

/// One booking (lapsed holds read as `expired`).
#[utoipa::path(get, path = "/v1/bookings/{id}", operation_id = "getBooking", tag = "bookings",
    params(("id" = String, Path, description = "Booking id")), security(("bearer" = [])),
    responses((status = 200, body = Booking), (status = 401, body = shared::error::Problem),
              (status = 404, body = shared::error::Problem)))]
pub async fn show(
    State(app): State<AppState>,
    caller: Authenticated,
    PathParam(id): PathParam<String>,
) -> Result<Json<Booking>, ApiError> {
    visible_booking(&app, &caller, &id).await.map(Json)
}

/// Releases the caller's live hold: its units or places are free at once.
#[utoipa::path(delete, path = "/v1/bookings/{id}", operation_id = "releaseHold", tag = "bookings",
    params(("id" = String, Path, description = "Booking id")), security(("bearer" = [])),
    responses((status = 200, body = Booking), (status = 401, body = shared::error::Problem),
              (status = 403, body = shared::error::Problem), (status = 404, body = shared::error::Problem),
              (status = 409, description = "not a live hold", body = shared::error::Problem)))]
pub async fn release(
    State(app): State<AppState>,
    caller: Authenticated,
    PathParam(id): PathParam<String>,
) -> Result<Json<Booking>, ApiError> {
    let booking = owned_booking(&app, &caller, &id, "release a hold").await?;
    let not_held = |status: BookingStatus| {
        ApiError::conflict(
            "BOOKING_NOT_HELD",
            format!("the booking is {}, not a live hold", status.as_str()),
        )
    };
    if booking.status != BookingStatus::Held {
        return Err(not_held(booking.status));
    }
    match app.store.cancel_hold(&booking, app.clock.now()).await? {
        Some(released) => Ok(Json(released)),
        // Lost a race with expiry or payment: report what it became.
        None => Err(not_held(visible_booking(&app, &caller, &id).await?.status)),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// 1..=100, default 20.
    pub(crate) limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BookingList {
    items: Vec<Booking>,
    next_cursor: Option<String>,
}

/// The caller's bookings, newest first.
#[utoipa::path(get, path = "/v1/me/bookings", operation_id = "listMyBookings", tag = "bookings",
    params(Paging), security(("bearer" = [])),
    responses((status = 200, body = BookingList), (status = 400, body = shared::error::Problem),
              (status = 401, body = shared::error::Problem)))]
pub async fn mine(
    State(app): State<AppState>,
    caller: Authenticated,
    Query(paging): Query<Paging>,
) -> Result<Json<BookingList>, ApiError> {
    let limit = page_limit(paging.limit)?;
    let listing = listing(&caller.user_id);
    let start = paging
        .cursor
        .as_deref()
        .map(|c| app.cursors.open(&listing, c))
        .transpose()?;
    let page = app
        .store
        .bookings_of_user(&caller.user_id, limit, start)
        .await?;
    let now = app.clock.now();
    Ok(Json(BookingList {
        items: page.items.into_iter().map(|b| b.as_of(now)).collect(),
        next_cursor: page.last_key.map(|k| app.cursors.seal(&listing, &k)),
    }))
}
