//! The whole API in one process, for local development and the integration
//! tests: every function's routes merged on one router, exactly the code
//! Lambda runs, plus the merged OpenAPI document; and the two worker loops
//! that stand in for the SQS event sources and the EventBridge sweep. Each
//! function calls AWS as its own identity, checked against its template.yaml
//! policy by infra/iam-proxy (`identities`).

pub mod identities;
pub mod stream;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use admin_api::AdminState;
use auth_api::AuthState;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::IntoResponse;
use bookings_api::BookingsState;
use events_api::EventsState;
use hold_expiry::HoldExpiryState;
use identities::{LocalAws, LocalResources};
use refunds::RefundsState;
use scheduler::SchedulerState;
use shared::AppState;
use shared::clock::{SharedClock, SystemClock};
use shared::config::{
    Config, ImagesConfig, MailConfig, PaymentsConfig, ScheduleConfig, SignInConfig, WebhookConfig,
};
use shared::domain::schedule::ScheduledJob;
use shared::domain::webhook::retry::RetrySchedule;
use shared::files::Files;
use shared::images::Images;
use shared::mail::Mailer;
use shared::outbound::Sender;
use shared::payments::Payments;
use shared::queue::{HoldExpiryQueue, Queue, RefundQueue, WebhookQueue};
use shared::schedules::PublishSchedules;
use stripe_webhook::WebhookState;
use tasks_api::TasksState;
use tower_http::cors::CorsLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder};
use webhook_deliverer::DelivererState;
use webhook_events::ChangesState;

/// Each function's state, each with its own AWS identity (`identities`),
/// so every call is checked against that function's template policy.
#[derive(Clone)]
pub struct Functions {
    pub auth: AuthState,
    pub admin: AdminState,
    pub bookings: BookingsState,
    pub checkin: AppState,
    pub events: EventsState,
    pub hold_expiry: HoldExpiryState,
    pub refunds: RefundsState,
    pub scheduler: SchedulerState,
    pub tasks: TasksState,
    pub webhook: WebhookState,
    pub webhook_deliverer: DelivererState,
    pub webhook_events: ChangesState,
}

/// What the functions read from their environment in Lambda.
pub struct Settings {
    pub config: Config,
    pub sign_in: SignInConfig,
    pub mail: MailConfig,
    pub payments: Payments,
    pub webhook: WebhookConfig,
    pub schedules: ScheduleConfig,
    pub hold_expiry_queue_url: String,
    pub refund_queue_url: String,
    pub webhook_queue_url: String,
    pub webhook_retry: RetrySchedule,
    pub exports_bucket: String,
    pub images: ImagesConfig,
    pub clock: SharedClock,
}

impl Settings {
    /// From the environment, like each Lambda function at its cold start.
    pub fn from_env() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self {
            config: Config::from_env()?,
            sign_in: SignInConfig::from_env()?,
            mail: MailConfig::from_env()?,
            payments: Payments::new(&PaymentsConfig::from_env()?)?,
            webhook: WebhookConfig::from_env()?,
            schedules: ScheduleConfig::from_env()?,
            hold_expiry_queue_url: shared::config::hold_expiry_queue_url(
                &shared::config::ProcessEnv,
            )?,
            refund_queue_url: shared::config::refund_queue_url(&shared::config::ProcessEnv)?,
            webhook_queue_url: shared::config::webhook_queue_url(&shared::config::ProcessEnv)?,
            webhook_retry: shared::config::webhook_retry_schedule(&shared::config::ProcessEnv)?,
            exports_bucket: shared::config::exports_bucket(&shared::config::ProcessEnv)?,
            images: ImagesConfig::from_env()?,
            clock: Arc::new(SystemClock),
        })
    }

    /// What the template's references name on this local stack.
    pub fn resources(&self) -> LocalResources<'_> {
        LocalResources {
            table_name: &self.config.table_name,
            hold_expiry_queue_url: &self.hold_expiry_queue_url,
            refund_queue_url: &self.refund_queue_url,
            webhook_queue_url: &self.webhook_queue_url,
            exports_bucket: &self.exports_bucket,
            images_bucket: &self.images.bucket,
            mail_from: &self.mail.mail_from,
            schedules: &self.schedules,
            other_queues: identities::bootstrapped_queues(std::env::vars()),
        }
    }
}

impl Functions {
    /// Every function as its Lambda `main` builds it, each on its own identity.
    pub fn new(settings: Settings, aws: &LocalAws) -> Self {
        let app = |function: &str| {
            AppState::new(
                settings.config.clone(),
                &aws.function(function),
                settings.clock.clone(),
            )
        };
        let expiry = |function: &str| {
            HoldExpiryQueue::new(&aws.function(function), &settings.hold_expiry_queue_url)
        };
        let refunds =
            |function: &str| RefundQueue::new(&aws.function(function), &settings.refund_queue_url);
        let webhooks = |function: &str| {
            WebhookQueue::new(&aws.function(function), &settings.webhook_queue_url)
        };
        let mail = Arc::new(settings.mail.clone());
        Self {
            auth: AuthState {
                app: app(identities::AUTH_API),
                mailer: Mailer::new(
                    &aws.function(identities::AUTH_API),
                    &settings.sign_in.mail_from,
                ),
                sign_in: Arc::new(settings.sign_in.clone()),
                images: Images::new(&aws.function(identities::AUTH_API), settings.images.clone()),
            },
            admin: AdminState {
                app: app(identities::ADMIN_API),
                exports: Files::new(
                    &aws.function(identities::ADMIN_API),
                    &settings.exports_bucket,
                ),
                webhooks: webhooks(identities::ADMIN_API),
            },
            bookings: BookingsState {
                app: app(identities::BOOKINGS_API),
                payments: settings.payments.clone(),
                expiry: expiry(identities::BOOKINGS_API),
                refunds: refunds(identities::BOOKINGS_API),
                mailer: Mailer::new(
                    &aws.function(identities::BOOKINGS_API),
                    &settings.mail.mail_from,
                ),
                mail: mail.clone(),
            },
            checkin: app(identities::CHECKIN_API),
            events: EventsState {
                app: app(identities::EVENTS_API),
                schedules: PublishSchedules::new(
                    &aws.function(identities::EVENTS_API),
                    settings.schedules.clone(),
                ),
                refunds: refunds(identities::EVENTS_API),
                images: Images::new(
                    &aws.function(identities::EVENTS_API),
                    settings.images.clone(),
                ),
            },
            hold_expiry: HoldExpiryState {
                app: app(identities::HOLD_EXPIRY),
                queue: expiry(identities::HOLD_EXPIRY),
            },
            refunds: RefundsState {
                app: app(identities::REFUNDS),
                payments: settings.payments.clone(),
                queue: refunds(identities::REFUNDS),
            },
            scheduler: SchedulerState {
                app: app(identities::SCHEDULER),
                refunds: refunds(identities::SCHEDULER),
            },
            tasks: TasksState {
                app: app(identities::TASKS_API),
                mailer: Mailer::new(
                    &aws.function(identities::TASKS_API),
                    &settings.mail.mail_from,
                ),
                mail: mail.clone(),
            },
            webhook: WebhookState {
                app: app(identities::STRIPE_WEBHOOK),
                payments: settings.payments.clone(),
                mailer: Mailer::new(
                    &aws.function(identities::STRIPE_WEBHOOK),
                    &settings.mail.mail_from,
                ),
                mail,
                webhook: Arc::new(settings.webhook.clone()),
                refunds: refunds(identities::STRIPE_WEBHOOK),
            },
            webhook_deliverer: DelivererState {
                app: app(identities::WEBHOOK_DELIVERER),
                queue: webhooks(identities::WEBHOOK_DELIVERER),
                sender: Sender::new(settings.config.env),
                schedule: settings.webhook_retry.clone(),
            },
            webhook_events: ChangesState {
                app: app(identities::WEBHOOK_EVENTS),
                queue: webhooks(identities::WEBHOOK_EVENTS),
            },
        }
    }
}

/// Every API function's routes on one router.
pub fn app(functions: Functions) -> Router {
    // One process serves every function here, so one identity writes the
    // API limit's counters (in AWS each function writes its own).
    let app = functions.auth.app.clone();
    let routes = auth_api::routes(functions.auth)
        .merge(admin_api::routes(functions.admin))
        .merge(events_api::routes(functions.events))
        .merge(bookings_api::routes(functions.bookings))
        .merge(stripe_webhook::routes(functions.webhook))
        .merge(checkin_api::routes(functions.checkin))
        .merge(tasks_api::routes(functions.tasks));
    shared::http::finish(routes, &app)
}

/// Seconds a queue poll waits for a message (SQS long polling).
const POLL_WAIT_SECONDS: i32 = 5;

/// The same wait, for the poll's time budget (`LocalAws::event_source`).
pub const POLL_WAIT: Duration = Duration::from_secs(POLL_WAIT_SECONDS as u64);

/// The SQS event source of hold-expiry, locally (`source`: the queue on
/// the worker's identity, with room for the long poll).
pub async fn poll_hold_expiry(state: HoldExpiryState, source: HoldExpiryQueue) {
    poll("hold-expiry", &source.0, |event| {
        hold_expiry::handle(&state, event)
    })
    .await
}

/// The SQS event source of the refund worker, locally.
pub async fn poll_refunds(state: RefundsState, source: RefundQueue) {
    poll("refunds", &source.0, |event| refunds::handle(&state, event)).await
}

/// The SQS event source of the webhook deliverer, locally.
pub async fn poll_webhooks(state: DelivererState, source: WebhookQueue) {
    poll("webhook-deliverer", &source.0, |event| {
        webhook_deliverer::handle(&state, event)
    })
    .await
}

/// How often the table's stream is read when it had nothing new (Lambda
/// polls each shard four times a second).
const STREAM_POLL: Duration = Duration::from_millis(250);

/// The DynamoDB Streams event source of webhook-events, locally: reads
/// every shard, forever.
pub async fn poll_changes(state: ChangesState, mut source: stream::TableStream) {
    loop {
        match source
            .poll(|event| webhook_events::handle(&state, event))
            .await
        {
            Ok(0) => tokio::time::sleep(STREAM_POLL).await,
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %err, "polling the table's stream failed");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
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

/// `router`, its handlers run on a runtime of their own whose threads are
/// named `name`: the fake Stripe shares the dev server's port but is not
/// part of what Lambda runs, so `make bench` counts its CPU apart
/// (docs/benchmarks.md, "Part 5"). Whatever a handler spawns (the webhook
/// delivery's HTTP client) runs there too.
pub fn on_own_threads(router: Router, name: &str) -> std::io::Result<Router> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(name)
        .enable_all()
        .build()?;
    let handle = runtime.handle().clone();
    // The runtime lives as long as the process, parked on this thread.
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
    Ok(router.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let handle = handle.clone();
            async move {
                handle.spawn(next.run(request)).await.unwrap_or_else(|err| {
                    tracing::error!(error = %err, "a fake Stripe handler panicked");
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
                })
            }
        },
    )))
}

/// The future `work` makes, run on a thread and runtime of its own named
/// `name`, so `make bench` counts its CPU apart from the API's.
pub fn on_own_thread<F, Fut>(name: &str, work: F) -> std::io::Result<()>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || runtime.block_on(work()))?;
    Ok(())
}

/// The browser access the HTTP API grants in AWS (template.yaml): the
/// origins listed in `CORS_ALLOWED_ORIGINS` (comma-separated), else the
/// frontend's.
pub fn cors(
    allowed_origins: Option<&str>,
    frontend_url: &str,
) -> Result<CorsLayer, axum::http::header::InvalidHeaderValue> {
    let origins = allowed_origins
        .filter(|list| !list.trim().is_empty())
        .unwrap_or(frontend_url)
        .split(',')
        .map(|origin| HeaderValue::from_str(origin.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CorsLayer::new()
        .allow_origin(origins)
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
        tasks_api::openapi(),
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
