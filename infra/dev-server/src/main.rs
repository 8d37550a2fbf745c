use std::net::SocketAddr;
use std::time::Duration;

use dev_server::identities::{self, LocalAws};
use dev_server::stream::Start;
use dev_server::{Functions, Settings};
use fake_stripe::{FakeStripe, RateLimits};
use iam_proxy::{Behaviour, IamProxy, Upstreams};
use shared::config::LOCAL_STRIPE_WEBHOOK_SECRET;
use shared::queue::{HoldExpiryQueue, RefundQueue, WebhookQueue};

/// `dev-server` serves the API and runs the workers; `dev-server openapi`
/// prints the document. One thread, as each function runs in Lambda
/// (docs/benchmarks.md, "One thread per sandbox"); the IAM proxy and the
/// fake Stripe have threads of their own.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if std::env::args().nth(1).as_deref() == Some("openapi") {
        print!("{}", dev_server::openapi_json());
        return Ok(());
    }
    shared::telemetry::init();
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    // The sweep runs every minute in AWS; locally it may run more often.
    let sweep_seconds: u64 = std::env::var("SWEEP_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&s| s > 0)
        .unwrap_or(60);
    let stream_start = stream_start()?;
    let settings = Settings::from_env()?;
    // Every AWS call goes through the IAM proxy as its function's identity,
    // checked against template.yaml's policy for it (docs/adr/0002);
    // with LOCAL_DDB_CONTENTION=1 DynamoDB also conflicts and throttles as
    // on AWS (docs/adr/0003).
    // LOCAL_DDB_TRACE=<path> records every DynamoDB request (make bench).
    let contention = Behaviour::from_env();
    if let Some(behaviour) = &contention {
        tracing::info!(conflicts = behaviour.conflicts, throughput = behaviour.throughput, trace = ?behaviour.trace, "DynamoDB behaviour layer on");
    }
    let proxy = IamProxy::start_with(Upstreams::from_env()?, contention)?;
    let aws = LocalAws::register(
        &proxy,
        shared::state::load_aws()?,
        &identities::read_template()?,
        &settings.resources(),
        "",
    )?;
    tracing::info!(endpoint = %proxy.endpoint(), "IAM proxy checking each function's calls against template.yaml");
    let poll_source = HoldExpiryQueue::new(
        &aws.event_source(identities::HOLD_EXPIRY, dev_server::POLL_WAIT),
        &settings.hold_expiry_queue_url,
    );
    let refund_queue_url = settings.refund_queue_url.clone();
    let webhook_source = WebhookQueue::new(
        &aws.event_source(identities::WEBHOOK_DELIVERER, dev_server::POLL_WAIT),
        &settings.webhook_queue_url,
    );
    let functions = Functions::new(settings, &aws);
    // In AWS the HTTP API answers CORS (template.yaml); locally we do.
    let cors = dev_server::cors(
        std::env::var("CORS_ALLOWED_ORIGINS").ok().as_deref(),
        &functions.auth.sign_in.frontend_url,
    )?;
    tokio::spawn(dev_server::poll_hold_expiry(
        functions.hold_expiry.clone(),
        poll_source,
    ));
    let refund_source = RefundQueue::new(
        &aws.event_source(identities::REFUNDS, dev_server::POLL_WAIT),
        &refund_queue_url,
    );
    tokio::spawn(dev_server::poll_refunds(
        functions.refunds.clone(),
        refund_source,
    ));
    tokio::spawn(dev_server::poll_webhooks(
        functions.webhook_deliverer.clone(),
        webhook_source,
    ));
    // On its own thread, named as the bench counts it: in AWS it is a
    // function of its own, not part of the API's cost.
    let changes = dev_server::stream::TableStream::open(
        &aws.event_source(identities::WEBHOOK_EVENTS, dev_server::POLL_WAIT),
        &functions.webhook_events.app.config.table_name,
        stream_start,
    )
    .await?;
    let changes_state = functions.webhook_events.clone();
    dev_server::on_own_thread("change-stream", move || {
        dev_server::poll_changes(changes_state, changes)
    })?;
    tokio::spawn(dev_server::sweep_every(
        functions.scheduler.clone(),
        Duration::from_secs(sweep_seconds),
    ));
    // The fake Stripe answers on this port too (STRIPE_API_BASE points here)
    // and delivers its webhooks back to it, within Stripe's live limits.
    let webhook_secret = std::env::var("STRIPE_WEBHOOK_SECRET")
        .unwrap_or_else(|_| LOCAL_STRIPE_WEBHOOK_SECRET.to_owned());
    let stripe = FakeStripe::new(
        &webhook_secret,
        Some(format!("http://127.0.0.1:{port}/v1/webhooks/stripe")),
    )
    .with_rate_limits(RateLimits::LIVE);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!(url = %format!("http://127.0.0.1:{port}"), sweep_seconds, "dev server listening; hold-expiry, refund, webhook and stream polls and the sweep running");
    axum::serve(
        listener,
        dev_server::app(functions)
            .merge(dev_server::on_own_threads(stripe.router(), "fake-stripe")?)
            .layer(cors)
            .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

/// Where the change stream's reading starts: `LOCAL_STREAM_START=oldest`
/// (the default: a restart replays what the stream holds) or `now` (make
/// bench's webhooks part, after parts whose changes it must not replay).
fn stream_start() -> Result<Start, String> {
    match std::env::var("LOCAL_STREAM_START").as_deref() {
        Err(_) | Ok("oldest") => Ok(Start::Oldest),
        Ok("now") => Ok(Start::Now),
        Ok(other) => Err(format!(
            "LOCAL_STREAM_START must be oldest or now, not {other:?}"
        )),
    }
}
