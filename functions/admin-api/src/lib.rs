//! admin-api: platform administration under /v1/admin. Every mutation is
//! written to the audit log in the same transaction as the change.

mod users;
mod walk_in;

use axum::Router;
use axum::routing::{get, post, put};
use shared::AppState;
use utoipa::OpenApi;

/// The function as Lambda serves it.
pub fn router(state: AppState) -> Router {
    shared::http::finish(routes(state))
}

/// The bare routes, for the dev server to merge with other functions'.
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/v1/admin/users", get(users::list))
        .route("/v1/admin/users/{id}/role", put(users::set_role))
        .route("/v1/admin/events/{id}/walk-in", post(walk_in::sell))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(paths(users::list, users::set_role, walk_in::sell), tags((name = "admin", description = "Platform administration")))]
struct ApiDoc;

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
