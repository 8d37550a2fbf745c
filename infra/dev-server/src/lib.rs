//! The whole API in one process, for local development and the integration
//! tests: every function's routes merged on one router, exactly the code
//! Lambda runs, plus the merged OpenAPI document; and the two worker loops
//! that stand in for the SQS event source and the EventBridge sweep.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use auth_api::AuthState;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, header};
use bookings_api::BookingsState;
use events_api::EventsState;
use hold_expiry::HoldExpiryState;
use refunds::RefundsState;
use scheduler::SchedulerState;
use shared::config::{MailConfig, PaymentsConfig, ScheduleConfig, WebhookConfig};
use shared::domain::schedule::ScheduledJob;
use shared::mail::Mailer;
use shared::payments::Payments;
use shared::queue::{HoldExpiryQueue, Queue, RefundQueue};
use shared::schedules::PublishSchedules;
use stripe_webhook::WebhookState;
use tower_http::cors::CorsLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder};

/// Each function's state, sharing one common state (one set of clients).
#[derive(Clone)]
pub struct Functions {
    pub auth: AuthState,
    pub bookings: BookingsState,
    pub events: EventsState,
    pub hold_expiry: HoldExpiryState,
    pub refunds: RefundsState,
    pub scheduler: SchedulerState,
    pub webhook: WebhookState,
}

impl Functions {
    /// From the environment, like each Lambda function at its cold start.
    pub async fn from_env() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let auth = AuthState::from_env().await?;
        let aws = shared::state::load_aws().await;
        let payments = Payments::new(&PaymentsConfig::from_env()?)?;
        let mail = MailConfig::from_env()?;
        let expiry = HoldExpiryQueue::from_env(&aws)?;
        let refunds = RefundQueue::from_env(&aws)?;
        let mailer = Mailer::new(&aws, &mail.mail_from);
        let mail = Arc::new(mail);
        Ok(Self {
            bookings: BookingsState {
                app: auth.app.clone(),
                payments: payments.clone(),
                expiry: expiry.clone(),
                refunds: refunds.clone(),
                mailer: mailer.clone(),
                mail: mail.clone(),
            },
            events: EventsState {
                app: auth.app.clone(),
                schedules: PublishSchedules::new(&aws, ScheduleConfig::from_env()?),
                refunds: refunds.clone(),
            },
            hold_expiry: HoldExpiryState {
                app: auth.app.clone(),
                queue: expiry,
            },
            refunds: RefundsState {
                app: auth.app.clone(),
                payments: payments.clone(),
                queue: refunds.clone(),
            },
            scheduler: SchedulerState {
                app: auth.app.clone(),
                refunds: refunds.clone(),
            },
            webhook: WebhookState {
                app: auth.app.clone(),
                payments,
                mailer,
                mail,
                webhook: Arc::new(WebhookConfig::from_env()?),
                refunds,
            },
            auth,
        })
    }
}

/// Every API function's routes on one router.
pub fn app(functions: Functions) -> Router {
    let core = functions.auth.app.clone();
    let routes = auth_api::routes(functions.auth)
        .merge(admin_api::routes(core.clone()))
        .merge(events_api::routes(functions.events))
        .merge(bookings_api::routes(functions.bookings))
        .merge(stripe_webhook::routes(functions.webhook))
        .merge(checkin_api::routes(core));
    shared::http::finish(routes)
}

/// Seconds a queue poll waits for a message (SQS long polling).
const POLL_WAIT_SECONDS: i32 = 5;

/// The SQS event source of hold-expiry, locally.
pub async fn poll_hold_expiry(state: HoldExpiryState) {
    let queue = state.queue.0.clone();
    poll("hold-expiry", &queue, |event| {
        hold_expiry::handle(&state, event)
    })
    .await
}

/// The SQS event source of the refund worker, locally.
pub async fn poll_refunds(state: RefundsState) {
    let queue = state.queue.0.clone();
    poll("refunds", &queue, |event| refunds::handle(&state, event)).await
}

/// An SQS event source, locally: long-polls the queue, hands each batch to
/// the worker and deletes the messages it did not report as failed; failed
/// ones come back after the visibility timeout.
async fn poll<F, Fut>(name: &str, queue: &Queue, handle: F)
where
    F: Fn(SqsEvent) -> Fut,
    Fut: Future<Output = SqsBatchResponse>,
{
    loop {
        let messages = match queue.receive(POLL_WAIT_SECONDS).await {
            Ok(messages) => messages,
            Err(err) => {
                tracing::warn!(queue = name, error = %err, "polling a queue failed");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let mut event = SqsEvent::default();
        let mut receipts = Vec::new();
        for message in messages {
            let mut record = SqsMessage::default();
            record.message_id = message.message_id().map(str::to_owned);
            record.body = message.body().map(str::to_owned);
            receipts.push((
                record.message_id.clone().unwrap_or_default(),
                message.receipt_handle().unwrap_or_default().to_owned(),
            ));
            event.records.push(record);
        }
        let response = handle(event).await;
        for (id, receipt) in receipts {
            let failed = response
                .batch_item_failures
                .iter()
                .any(|f| f.item_identifier == id);
            if !failed && let Err(err) = queue.delete(&receipt).await {
                tracing::warn!(queue = name, error = %err, "deleting a handled message failed");
            }
        }
    }
}

/// The every-minute EventBridge sweep, locally: every `period`.
pub async fn sweep_every(state: SchedulerState, period: Duration) {
    let mut ticks = tokio::time::interval(period);
    loop {
        ticks.tick().await;
        if let Err(err) = scheduler::handle(&state, ScheduledJob::Sweep {}).await {
            tracing::warn!(error = %err, "sweep failed");
        }
    }
}

/// The browser access the HTTP API grants in AWS: the frontend's origin.
pub fn cors(frontend_url: &str) -> Result<CorsLayer, axum::http::header::InvalidHeaderValue> {
    Ok(CorsLayer::new()
        .allow_origin(HeaderValue::from_str(frontend_url)?)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
        .max_age(Duration::from_secs(600)))
}

/// The OpenAPI document of every function, as served at /v1/openapi.json.
pub fn openapi() -> OpenApi {
    let mut doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Ticketing API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Serverless event ticketing. Errors are RFC 9457 problem+json with a stable `code` and the `request_id`.",
                ))
                .build(),
        )
        .components(Some(
            ComponentsBuilder::new()
                .security_scheme(
                    "bearer",
                    SecurityScheme::Http(
                        HttpBuilder::new()
                            .scheme(HttpAuthScheme::Bearer)
                            .bearer_format("JWT")
                            .build(),
                    ),
                )
                .build(),
        ))
        .build();
    for part in [
        auth_api::openapi(),
        admin_api::openapi(),
        events_api::openapi(),
        bookings_api::openapi(),
        stripe_webhook::openapi(),
        checkin_api::openapi(),
    ] {
        doc.merge(part);
    }
    shared::error::document_problem_responses(&mut doc);
    doc
}

/// The document as committed in docs/openapi.json.
pub fn openapi_json() -> String {
    let mut json = openapi().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}
