//! bookings-api: holds on events, the caller's bookings, releasing a hold.
//! (Checkout and tickets join in the payments work.)

mod bookings;
mod holds;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{get, post};
use shared::AppState;
use shared::config::ConfigError;
use shared::queue::HoldExpiryQueue;
use utoipa::OpenApi;

/// bookings-api's state: the common state plus the hold-expiry queue.
#[derive(Clone)]
pub struct BookingsState {
    pub app: AppState,
    pub expiry: HoldExpiryQueue,
}

impl FromRef<BookingsState> for AppState {
    fn from_ref(state: &BookingsState) -> Self {
        state.app.clone()
    }
}

impl BookingsState {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let (app, aws) = AppState::from_env().await?;
        let expiry = HoldExpiryQueue::from_env(&aws)?;
        Ok(Self { app, expiry })
    }
}

/// The function as Lambda serves it.
pub fn router(state: BookingsState) -> Router {
    shared::http::finish(routes(state))
}

/// The bare routes, for the dev server to merge with other functions'.
pub fn routes(state: BookingsState) -> Router {
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
