//! Each function's own AWS identity on the local stack: its SDK config signs
//! with an access key id naming it and sends every call through the IAM
//! proxy, which holds the function's template.yaml policy resolved against
//! the local resources (docs/adr/0002-local-iam-enforcement.md). In Lambda
//! the role is the identity; none of this is deployed.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::timeout::TimeoutConfig;
use iam_proxy::{IamProxy, Locals, Template, TemplateError};
use shared::config::ScheduleConfig;

/// The template's logical ids of the functions the dev server runs.
pub const AUTH_API: &str = "AuthApiFunction";
pub const ADMIN_API: &str = "AdminApiFunction";
pub const EVENTS_API: &str = "EventsApiFunction";
pub const BOOKINGS_API: &str = "BookingsApiFunction";
pub const HOLD_EXPIRY: &str = "HoldExpiryFunction";
pub const REFUNDS: &str = "RefundsFunction";
pub const SCHEDULER: &str = "SchedulerFunction";
pub const STRIPE_WEBHOOK: &str = "StripeWebhookFunction";
pub const CHECKIN_API: &str = "CheckinApiFunction";
pub const WEBHOOK_DELIVERER: &str = "WebhookDelivererFunction";
pub const WEBHOOK_EVENTS: &str = "WebhookEventsFunction";
pub const TASKS_API: &str = "TasksApiFunction";

/// The deployed template, read when the local stack starts.
pub const TEMPLATE_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("reading {TEMPLATE_PATH}: {0}")]
    Read(#[from] std::io::Error),
    #[error(transparent)]
    Template(#[from] TemplateError),
}

pub fn read_template() -> Result<Template, IdentityError> {
    Ok(Template::parse(&std::fs::read_to_string(TEMPLATE_PATH)?)?)
}

/// What the template's references name locally.
pub struct LocalResources<'a> {
    pub table_name: &'a str,
    pub hold_expiry_queue_url: &'a str,
    pub refund_queue_url: &'a str,
    pub webhook_queue_url: &'a str,
    pub exports_bucket: &'a str,
    pub images_bucket: &'a str,
    pub mail_from: &'a str,
    pub schedules: &'a ScheduleConfig,
    /// Further queues by logical id (`make dev`'s other bootstrapped queues).
    pub other_queues: Vec<(String, String)>,
}

impl LocalResources<'_> {
    pub fn locals(&self) -> Locals {
        let mut locals = Locals::default()
            .parameter("MailFrom", self.mail_from)
            .table("Table", self.table_name);
        for (logical_id, url) in &self.other_queues {
            locals = locals.queue(logical_id, url);
        }
        locals
            .queue("HoldExpiryQueue", self.hold_expiry_queue_url)
            .queue("RefundQueue", self.refund_queue_url)
            .queue("WebhookQueue", self.webhook_queue_url)
            .bucket("ExportsBucket", self.exports_bucket)
            .bucket("ImagesBucket", self.images_bucket)
            .resource("PublishScheduleGroup", &self.schedules.group, &[])
            .arn("PublishScheduleRole", &self.schedules.role_arn)
            .arn("SchedulerFunction", &self.schedules.target_arn)
    }
}

/// Queues the bootstrap announced as `<QUEUE>_URL` (infra/bootstrap.py),
/// by logical id: `HOLD_EXPIRY_DEAD_LETTER_QUEUE_URL` → `HoldExpiryDeadLetterQueue`.
pub fn bootstrapped_queues(vars: impl Iterator<Item = (String, String)>) -> Vec<(String, String)> {
    vars.filter_map(|(key, url)| {
        let stem = key.strip_suffix("_QUEUE_URL")?;
        let logical_id: String = format!("{stem}_QUEUE")
            .split('_')
            .map(|word| {
                let lower = word.to_ascii_lowercase();
                let mut chars = lower.chars();
                chars
                    .next()
                    .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            })
            .collect();
        Some((logical_id, url))
    })
    .collect()
}

/// The SDK configs of one app's functions (one per function identity).
#[derive(Clone)]
pub struct LocalAws {
    proxy: IamProxy,
    base: SdkConfig,
    suffix: String,
}

impl LocalAws {
    /// Registers every function of `template` under `suffix` (empty for
    /// `make dev`, a per-app tag in the tests) with its resolved policy.
    pub fn register(
        proxy: &IamProxy,
        base: SdkConfig,
        template: &Template,
        resources: &LocalResources,
        suffix: &str,
    ) -> Result<Self, TemplateError> {
        proxy.register_template(template, &resources.locals(), suffix)?;
        Ok(Self {
            proxy: proxy.clone(),
            base,
            suffix: suffix.to_owned(),
        })
    }

    /// The function's SDK config: its identity, through the proxy, with
    /// the local time budget (`LOCAL_ATTEMPT`).
    pub fn function(&self, logical_id: &str) -> SdkConfig {
        self.with_attempt_budget(logical_id, LOCAL_ATTEMPT)
    }

    /// The function's identity with room for a long poll of `wait`: locally
    /// the dev server stands in for the Lambda event source, which polls
    /// with the function's role (SAM attaches the poll permissions).
    pub fn event_source(&self, logical_id: &str, wait: Duration) -> SdkConfig {
        self.with_attempt_budget(logical_id, LOCAL_ATTEMPT + wait)
    }

    fn with_attempt_budget(&self, logical_id: &str, attempt: Duration) -> SdkConfig {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(1))
            .operation_attempt_timeout(attempt)
            .operation_timeout(attempt * 2)
            .build();
        self.proxy
            .sdk_config(
                &self.base,
                &iam_proxy::access_key_id(logical_id, &self.suffix),
            )
            .to_builder()
            .timeout_config(timeouts)
            .build()
    }
}

/// How long one local AWS call may take. Production allows 3 s an attempt
/// (shared::state::aws_timeouts); the emulators on a shared two-core
/// machine queue requests for longer than that under the concurrency tests
/// and the contention benchmark (measured: 3 s attempts timed out with the
/// whole suite running, the same test alone took 4.6 s in all), which
/// would turn a slow emulator into 503s. The connect timeout stays.
const LOCAL_ATTEMPT: Duration = Duration::from_secs(20);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrapped_queue_urls_are_found_by_logical_id() {
        let vars = [
            (
                "HOLD_EXPIRY_DEAD_LETTER_QUEUE_URL",
                "http://m/1/hold-expiry-dead-letter-queue",
            ),
            ("TABLE_NAME", "tickets"),
            ("REFUND_QUEUE_URL", "http://m/1/refund-queue"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        assert_eq!(
            bootstrapped_queues(vars.into_iter()),
            vec![
                (
                    "HoldExpiryDeadLetterQueue".to_owned(),
                    "http://m/1/hold-expiry-dead-letter-queue".to_owned()
                ),
                (
                    "RefundQueue".to_owned(),
                    "http://m/1/refund-queue".to_owned()
                ),
            ]
        );
    }
}
