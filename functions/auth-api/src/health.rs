use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use shared::http::Json;
use shared::{ApiError, AppState};

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/v1/health/live", operation_id = "live", tag = "health", responses((status = 200, body = Health)))]
pub async fn live() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The table is reachable.
#[utoipa::path(get, path = "/v1/health/ready", operation_id = "ready", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = shared::error::Problem)))]
pub async fn ready(State(app): State<AppState>) -> Result<Json<Health>, ApiError> {
    app.store.ping().await.map_err(|err| {
        tracing::warn!(error = %err, "readiness check failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "NOT_READY",
            "the table is not reachable",
        )
    })?;
    Ok(Json(Health { status: "ok" }))
}

/// The whole API's OpenAPI document, generated from the code of every
/// function (`make openapi`; a test keeps the committed copy current).
pub const OPENAPI_DOCUMENT: &str = include_str!("../../../docs/openapi.json");

#[utoipa::path(get, path = "/v1/openapi.json", operation_id = "openapiDocument", tag = "health",
    responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json")))]
pub async fn openapi_document() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        OPENAPI_DOCUMENT,
    )
}
