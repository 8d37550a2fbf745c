//! stripe-webhook: Stripe's signed deliveries. A payment confirms its
//! booking and issues the tickets; a payment that can no longer get its
//! seats is owed back (a durable refund, sent by the refund worker); a full
//! refund ends its booking, a partial one is recorded; each delivery takes
//! effect once however often it comes.

mod deliveries;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::post;
use shared::AppState;
use shared::config::{MailConfig, PaymentsConfig, WebhookConfig};
use shared::mail::Mailer;
use shared::payments::Payments;
use shared::queue::RefundQueue;
use utoipa::OpenApi;

#[derive(Clone)]
pub struct WebhookState {
    pub app: AppState,
    pub payments: Payments,
    pub mailer: Mailer,
    pub mail: Arc<MailConfig>,
    pub webhook: Arc<WebhookConfig>,
    /// Refunds owed are handed to the refund worker here.
    pub refunds: RefundQueue,
}

impl FromRef<WebhookState> for AppState {
    fn from_ref(state: &WebhookState) -> Self {
        state.app.clone()
    }
}

impl WebhookState {
    /// Production refuses to start without the signing secret (and Stripe's
    /// key, for refunds).
    pub async fn from_env() -> Result<Self, lambda_http::Error> {
        let webhook = WebhookConfig::from_env()?;
        let payments = Payments::new(&PaymentsConfig::from_env()?)?;
        let mail = MailConfig::from_env()?;
        let (app, aws) = AppState::from_env().await?;
        Ok(Self {
            mailer: Mailer::new(&aws, &mail.mail_from),
            refunds: RefundQueue::from_env(&aws)?,
            app,
            payments,
            mail: Arc::new(mail),
            webhook: Arc::new(webhook),
        })
    }
}

/// The function as Lambda serves it.
pub fn router(state: WebhookState) -> Router {
    let app = state.app.clone();
    shared::http::finish(routes(state), &app)
}

/// The bare routes, for the dev server to merge with other functions'.
pub fn routes(state: WebhookState) -> Router {
    Router::new()
        .route("/v1/webhooks/stripe", post(deliveries::receive))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    paths(deliveries::receive),
    tags((name = "webhooks", description = "Deliveries from Stripe"))
)]
struct ApiDoc;

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
