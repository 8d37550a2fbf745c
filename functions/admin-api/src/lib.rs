//! admin-api: platform administration under /v1/admin. Every mutation is
//! written to the audit log in the same transaction as the change.

mod audit_logs;
mod exports;
mod reports;
mod settings;
mod users;
mod walk_in;
mod wallet_credits;
mod webhooks;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{delete, get, post, put};
use shared::AppState;
use shared::config::{ProcessEnv, exports_bucket};
use shared::files::Files;
use shared::queue::WebhookQueue;
use utoipa::OpenApi;

/// admin-api's state: the common state, the exports bucket and the
/// webhook queue (pings and manual retries).
#[derive(Clone)]
pub struct AdminState {
    pub app: AppState,
    pub exports: Files,
    pub webhooks: WebhookQueue,
}

impl FromRef<AdminState> for AppState {
    fn from_ref(state: &AdminState) -> Self {
        state.app.clone()
    }
}

impl AdminState {
    pub async fn from_env() -> Result<Self, lambda_http::Error> {
        let (app, aws) = AppState::from_env().await?;
        let exports = Files::new(&aws, &exports_bucket(&ProcessEnv)?);
        let webhooks = WebhookQueue::from_env(&aws)?;
        Ok(Self {
            app,
            exports,
            webhooks,
        })
    }
}

/// The function as Lambda serves it.
pub fn router(state: AdminState) -> Router {
    let app = state.app.clone();
    shared::http::finish(routes(state), &app)
}

/// The bare routes, for the dev server to merge with other functions'.
pub fn routes(state: AdminState) -> Router {
    Router::new()
        .route("/v1/admin/users", get(users::list))
        .route("/v1/admin/users/{id}/role", put(users::set_role))
        .route(
            "/v1/admin/users/{id}/wallet/credits",
            post(wallet_credits::credit),
        )
        .route("/v1/admin/events/{id}/walk-in", post(walk_in::sell))
        .route("/v1/admin/events/{id}/bookings", get(exports::bookings))
        .route("/v1/admin/audit-logs", get(audit_logs::list))
        .route("/v1/admin/reports/revenue", get(reports::revenue))
        .route(
            "/v1/admin/settings",
            get(settings::show).patch(settings::update),
        )
        .route(
            "/v1/admin/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route("/v1/admin/webhooks/{id}", delete(webhooks::delete))
        .route(
            "/v1/admin/webhooks/{id}/deliveries",
            get(webhooks::deliveries),
        )
        .route("/v1/admin/webhooks/{id}/test", post(webhooks::test))
        .route(
            "/v1/admin/webhooks/{id}/deliveries/{delivery}/retry",
            post(webhooks::retry),
        )
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(paths(users::list, users::set_role, wallet_credits::credit, walk_in::sell, exports::bookings, audit_logs::list, reports::revenue, settings::show, settings::update, webhooks::create, webhooks::list, webhooks::delete, webhooks::deliveries, webhooks::test, webhooks::retry), tags((name = "admin", description = "Platform administration")))]
struct ApiDoc;

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
