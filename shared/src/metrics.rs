//! What an operator counts: CloudWatch metrics in Embedded Metric Format
//! (EMF), written by `metrics_cloudwatch_embedded` behind the `metrics`
//! facade. A function records with [`count`], [`count_by`] and
//! [`observe_seconds`]; [`run`] and [`run_http`] start the Lambda runtime
//! and write what one invocation recorded to stdout when it ends, one EMF
//! line per dimension set, which CloudWatch Logs turns into metrics.
//!
//! Off unless `METRICS_NAMESPACE` is set (the template sets it to the stack
//! name): locally nothing installs a recorder, so the counting calls cost
//! nothing and the dev server's terminal stays readable. Every metric has
//! the dimension `FunctionName` (the Lambda function, as in `AWS/Lambda`);
//! those counted by a reason have `Reason` as well, always one of a small
//! fixed set (an error code, a limit's scope), never an id.
//!
//! The names below are the ones the alarms in `template.yaml` and the table
//! in docs/operations.md use.

use std::fmt::Debug;

use futures::Stream;
use lambda_http::lambda_runtime::layers::TracingLayer;
use lambda_http::lambda_runtime::{
    Diagnostic, IntoFunctionResponse, LambdaEvent, LambdaInvocation, Runtime,
};
use lambda_http::tower::Service;
use lambda_http::tower::util::{MapRequestLayer, MapResultLayer};
use metrics::Unit;
pub use metrics_cloudwatch_embedded::Collector;
use serde::{Deserialize, Serialize};

/// Online holds taken (bookings-api).
pub const HOLDS_CREATED: &str = "HoldsCreated";
/// Online holds refused, by `Reason` (the problem's code:
/// `UNITS_UNAVAILABLE`, `SOLD_OUT`, `EVENT_CHANGED`, `BUSY`, ...).
pub const HOLDS_REFUSED: &str = "HoldsRefused";
/// DynamoDB transactions cancelled by another transaction on one of their
/// items (each attempt that was).
pub const TRANSACTION_CONFLICTS: &str = "TransactionConflicts";
/// Transactions sent again after a conflict or throttling.
pub const TRANSACTION_RETRIES: &str = "TransactionRetries";
/// PaymentIntents handed out for a hold (bookings-api checkout).
pub const CHECKOUTS: &str = "Checkouts";
/// Bookings confirmed: by a payment (stripe-webhook) or free at checkout.
pub const CONFIRMATIONS: &str = "Confirmations";
/// Payments that arrived for a booking that could no longer have its
/// seats, owed back (stripe-webhook), by `Reason`.
pub const LATE_PAYMENT_REFUNDS: &str = "LatePaymentRefunds";
/// Refunds recorded as owed (cancellations, event refund runs, late payments).
pub const REFUNDS_OWED: &str = "RefundsOwed";
/// Refunds Stripe refused outright: money a person must pay back (refunds).
pub const REFUNDS_FAILED: &str = "RefundsFailed";
/// Webhook deliveries refused for a missing, bad or stale signature.
pub const WEBHOOK_SIGNATURE_FAILURES: &str = "WebhookSignatureFailures";
/// Webhook deliveries of an event already handled.
pub const WEBHOOK_DUPLICATES: &str = "WebhookDuplicates";
/// Seconds from a hold's `hold_expires_at` to the hold-expiry worker
/// releasing it.
pub const HOLD_EXPIRY_LAG: &str = "HoldExpiryLag";
/// Lapsed holds the every-minute sweep released (their message was lost
/// or late).
pub const SWEEP_RELEASES: &str = "SweepReleases";
/// Sign-in links mailed (auth-api).
pub const MAGIC_LINKS_SENT: &str = "MagicLinksSent";
/// Requests refused by a rate limit (shared::limits), by `Reason`: the
/// limit's scope (`api-ip`, `holds-user`, `holds-ip`, `payments-user`,
/// `magic-link-ip`, `magic-link-email`).
pub const RATE_LIMITED: &str = "RateLimited";

/// Refunded wallet top-ups whose credit could not be taken back (already
/// spent or reserved): the wallet kept it; an admin must settle it
/// (stripe-webhook; also in the audit log).
pub const WALLET_REVERSALS_REFUSED: &str = "WalletReversalsRefused";

/// Every counter above (all but [`HOLD_EXPIRY_LAG`]).
pub const COUNTERS: [&str; 15] = [
    HOLDS_CREATED,
    HOLDS_REFUSED,
    TRANSACTION_CONFLICTS,
    TRANSACTION_RETRIES,
    CHECKOUTS,
    CONFIRMATIONS,
    LATE_PAYMENT_REFUNDS,
    REFUNDS_OWED,
    REFUNDS_FAILED,
    WEBHOOK_SIGNATURE_FAILURES,
    WEBHOOK_DUPLICATES,
    SWEEP_RELEASES,
    MAGIC_LINKS_SENT,
    RATE_LIMITED,
    WALLET_REVERSALS_REFUSED,
];

/// The dimension every metric has: the Lambda function's name.
pub const FUNCTION_DIMENSION: &str = "FunctionName";
/// The dimension of the metrics counted by a reason.
pub const REASON_DIMENSION: &str = "Reason";
/// The property (not a dimension) naming the Lambda invocation whose
/// counts a line carries.
pub const REQUEST_ID_PROPERTY: &str = "RequestId";

/// Adds one to a counter.
pub fn count(name: &'static str) {
    metrics::counter!(name).increment(1);
}

/// Adds one to a counter under a reason (a fixed code, never an id).
pub fn count_by(name: &'static str, reason: &'static str) {
    metrics::counter!(name, REASON_DIMENSION => reason).increment(1);
}

/// Adds `n` to a counter; nothing is written for 0.
pub fn add(name: &'static str, n: u64) {
    metrics::counter!(name).increment(n);
}

/// Records a duration in seconds (a histogram: CloudWatch keeps the values
/// for Maximum, percentiles and the rest). EMF takes at most 100 values of
/// a metric per line: the recorder keeps the first 100 of an invocation and
/// logs an error for the rest (the hold-expiry worker records at most its
/// batch, 10).
pub fn observe_seconds(name: &'static str, seconds: f64) {
    metrics::histogram!(name).record(seconds);
}

/// Installs the EMF recorder as the process's `metrics` recorder, once:
/// later calls fail. `function` is the `FunctionName` dimension.
pub fn install(
    namespace: impl Into<String>,
    function: impl Into<String>,
) -> Result<&'static Collector, metrics_cloudwatch_embedded::Error> {
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(namespace.into())
        .with_dimension(FUNCTION_DIMENSION, function.into())
        .init()?;
    for name in COUNTERS {
        metrics::describe_counter!(name, Unit::Count, "");
    }
    metrics::describe_histogram!(HOLD_EXPIRY_LAG, Unit::Seconds, "");
    Ok(collector)
}

/// The recorder for this Lambda function, when `METRICS_NAMESPACE` asks for one.
fn from_env() -> Option<&'static Collector> {
    let namespace = std::env::var("METRICS_NAMESPACE")
        .ok()
        .filter(|n| !n.is_empty())?;
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".to_owned());
    match install(namespace, function) {
        Ok(collector) => Some(collector),
        Err(err) => {
            tracing::warn!(error = %err, "metrics recorder not installed");
            None
        }
    }
}

/// Writes what was recorded since the last flush, one EMF line per
/// dimension set; a counter that did not move is left out.
fn flush(collector: &Collector) {
    if let Err(err) = collector.flush(std::io::stdout().lock()) {
        tracing::warn!(error = %err, "metrics not written");
    }
}

/// `lambda_runtime::run`, writing each invocation's metrics when it ends
/// (with its Lambda request id as the `RequestId` property).
pub async fn run<A, F, R, B, S, D, E>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Service<LambdaEvent<A>, Response = R>,
    F::Future: Future<Output = Result<R, F::Error>>,
    F::Error: Into<Diagnostic> + Debug,
    A: for<'de> Deserialize<'de>,
    R: IntoFunctionResponse<B, S>,
    B: Serialize,
    S: Stream<Item = Result<D, E>> + Unpin + Send + 'static,
    D: Into<axum::body::Bytes> + Send,
    E: Into<lambda_http::Error> + Send + Debug,
{
    let collector = from_env();
    Runtime::new(handler)
        .layer(TracingLayer::new())
        .layer(MapResultLayer::new(
            move |result: Result<(), lambda_http::Error>| {
                if let Some(collector) = collector {
                    flush(collector);
                }
                result
            },
        ))
        .layer(MapRequestLayer::new(move |invocation: LambdaInvocation| {
            if let Some(collector) = collector {
                collector.set_property(REQUEST_ID_PROPERTY, invocation.context.request_id.clone());
            }
            invocation
        }))
        .run()
        .await
}

/// `lambda_http::run`, writing each invocation's metrics when it ends.
pub async fn run_http<'a, R, S, E>(handler: S) -> Result<(), lambda_http::Error>
where
    S: Service<lambda_http::Request, Response = R, Error = E>,
    S::Future: Send + 'a,
    R: lambda_http::IntoResponse,
    E: Debug + Into<Diagnostic>,
{
    run(lambda_http::Adapter::from(handler)).await
}
