//! checkin-api: staff at the door admit tickets, each once, and watch the
//! count of who came.

mod checkin;

use axum::Router;
use axum::routing::{get, post};
use shared::AppState;
use utoipa::OpenApi;

/// The function as Lambda serves it.
pub fn router(state: AppState) -> Router {
    let app = state.clone();
    shared::http::finish(routes(state), &app)
}

/// The bare routes, for the dev server to merge with other functions'.
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/v1/checkin", post(checkin::admit))
        .route("/v1/events/{id}/checkin-stats", get(checkin::stats))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    paths(checkin::admit, checkin::stats),
    tags((name = "checkin", description = "Admitting tickets at the door"))
)]
struct ApiDoc;

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
