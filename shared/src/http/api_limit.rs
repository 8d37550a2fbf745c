//! `RATE_LIMIT_API_PER_IP`: every request from one client address counts,
//! before any handler runs.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ClientIp;
use crate::AppState;
use crate::domain::rate_limit::{self, Limit};
use crate::limits;

/// Routes that are not counted: the probes and the document, Stripe's
/// deliveries (a few Stripe addresses send every confirmation of an
/// on-sale) and door scans (a venue's scanners share its one address).
/// API Gateway's throttling (template.yaml) still bounds them.
const UNCOUNTED: &[&str] = &[
    "/v1/health/live",
    "/v1/health/ready",
    "/v1/openapi.json",
    "/v1/webhooks/stripe",
    "/v1/checkin",
];

pub async fn middleware(State(app): State<AppState>, request: Request, next: Next) -> Response {
    if UNCOUNTED.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let subject = rate_limit::ip_subject(&ClientIp::of(request.extensions()).0);
    let limit = Limit {
        scope: "api-ip",
        subject: &subject,
        per_window: app.config.rate_limits.api_per_ip,
        window_secs: rate_limit::MINUTE,
    };
    match limits::enforce(&app, &[limit]).await {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    }
}
