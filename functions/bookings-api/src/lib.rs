//! bookings-api: holds on events, the caller's bookings, releasing a hold.
//! (Checkout and tickets join in the payments work.)

mod bookings;
mod holds;

use axum::Router;
use axum::routing::{get, post};
use shared::AppState;
use utoipa::OpenApi;

/// The function as Lambda serves it.
pub fn router(state: AppState) -> Router {
    shared::http::finish(routes(state))
}

/// The bare routes, for the dev server to merge with other functions'.
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/v1/events/{id}/holds", post(holds::create))
        .route(
            "/v1/bookings/{id}",
            get(bookings::show).delete(bookings::release),
        )
        .route("/v1/me/bookings", get(bookings::mine))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    paths(holds::create, bookings::show, bookings::release, bookings::mine),
    tags((name = "bookings", description = "Holds and bookings"))
)]
struct ApiDoc;

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
