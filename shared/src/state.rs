use std::sync::Arc;

use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};

use crate::auth::AccessTokens;
use crate::aws_env::{self, AwsEnv};
use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::cursor::CursorKey;
use crate::domain::event::Event;
use crate::domain::settings::Settings;
use crate::domain::ticket::TicketKey;
use crate::limits::CountedWindows;
use crate::recent::Recent;
use crate::store::Store;

/// How long a process reuses an on-sale event it read (shared::recent):
/// a cancellation stops its holds within this (they could not be paid
/// anyway), and every warm process re-reads a large grid's event item
/// (≈ 18 RCU for 2,000 units) once per this (docs/holds.md, "Limits").
const RECENT_EVENT_TTL: Duration = Duration::from_secs(5);
/// How long a process reuses the settings it read: a change takes effect
/// everywhere within this.
const RECENT_SETTINGS_TTL: Duration = Duration::from_secs(2);

/// What every API function holds: built once per cold start, cloned cheaply
/// into each request.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub clock: SharedClock,
    pub tokens: Arc<AccessTokens>,
    pub cursors: CursorKey,
    pub ticket_key: TicketKey,
    /// Events on sale with a frozen layout, as the sell path last read them.
    pub recent_events: Arc<Recent<Arc<Event>>>,
    pub recent_settings: Arc<Recent<Settings>>,
    /// Rate-limit hits taken and not served yet, and subjects refused, in
    /// their current window (shared::limits).
    pub counted: Arc<CountedWindows>,
}

impl AppState {
    pub fn new(config: Config, aws: &SdkConfig, clock: SharedClock) -> Self {
        let store = Store::new(aws_sdk_dynamodb::Client::new(aws), &config.table_name);
        let tokens = Arc::new(AccessTokens::new(config.jwt_secret.expose()));
        let cursors = CursorKey::derive(config.jwt_secret.expose());
        let ticket_key = TicketKey::derive(config.jwt_secret.expose());
        Self {
            config: Arc::new(config),
            store,
            clock,
            tokens,
            cursors,
            ticket_key,
            recent_events: Arc::new(Recent::new(RECENT_EVENT_TTL)),
            recent_settings: Arc::new(Recent::new(RECENT_SETTINGS_TTL)),
            counted: Arc::default(),
        }
    }

    /// Production wiring: environment config, the AWS settings Lambda's
    /// environment provides (`AWS_ENDPOINT_URL*` locally), the system clock.
    /// No request is made here: a warm-up call during init would add one
    /// round trip to every cold start, and the first real request opens the
    /// connection anyway (docs/benchmarks.md).
    pub async fn from_env() -> Result<(Self, SdkConfig), ConfigError> {
        let config = Config::from_env()?;
        let aws = load_aws()?;
        Ok((Self::new(config, &aws, Arc::new(SystemClock)), aws))
    }
}

/// Every AWS endpoint presents a certificate chaining to an Amazon Trust
/// Services root, so the SDK's HTTPS client trusts those five roots and
/// nothing else. That is narrower than the system store (no other CA can
/// vouch for an AWS endpoint) and cheaper: parsing the system bundle's ~150
/// certificates is a third of a function's init time (docs/benchmarks.md).
const AWS_ROOT_CERTIFICATES: &[u8] = include_bytes!("aws-roots.pem");

/// Time limits on every DynamoDB, SQS, SES and Scheduler call, well inside
/// the functions' 10 s Lambda timeout, so a stalled dependency ends in our
/// 503 problem JSON rather than in API Gateway's bare 500 (LOCAL_AWS.md):
/// * connect 1 s: an in-region TCP and TLS handshake takes milliseconds;
///   one that has not finished in a second is not going to.
/// * attempt 3 s: a DynamoDB call takes single-digit milliseconds and the
///   others tens; a stalled attempt is given up and retried (the SDK's
///   standard retries, 3 attempts) while there is time left.
/// * operation 8 s: every attempt and back-off together, leaving 2 s of
///   the 10 s to answer (and to log) before Lambda would kill the call.
pub fn aws_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(8))
        .build()
}

/// The AWS configuration of every client, from the process's environment
/// (shared::aws_env): a missing region or key stops the start.
pub fn load_aws() -> Result<SdkConfig, ConfigError> {
    aws_config_from(&AwsEnv::real())
}

fn aws_config_from(env: &AwsEnv) -> Result<SdkConfig, ConfigError> {
    let trust_store = TrustStore::empty().with_pem_certificate(AWS_ROOT_CERTIFICATES);
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(
            TlsContext::builder()
                .with_trust_store(trust_store)
                .build()
                .unwrap_or_default(),
        )
        .build_https();
    Ok(aws_env::sdk_config(env)?
        .http_client(http_client)
        .timeout_config(aws_timeouts())
        // The attempt timeout ends a stalled call already; the SDK's own
        // protection would wrap every request and response body in a
        // throughput monitor with a timer, CPU on every call.
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lambda_config() -> SdkConfig {
        let env: AwsEnv = [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ]
        .into_iter()
        .collect();
        aws_config_from(&env).expect("a complete environment")
    }

    #[test]
    fn the_aws_trust_store_holds_the_five_amazon_roots() {
        assert_eq!(
            String::from_utf8_lossy(AWS_ROOT_CERTIFICATES)
                .matches("-----BEGIN CERTIFICATE-----")
                .count(),
            5
        );
        // Building a client parses the store; a broken certificate panics here.
        let aws = lambda_config();
        let _ = aws_sdk_dynamodb::Client::new(&aws);
    }

    #[test]
    fn every_aws_call_is_bounded_well_inside_the_lambda_timeout() {
        let aws = lambda_config();
        let timeouts = aws.timeout_config().expect("timeouts are set");
        assert_eq!(timeouts.connect_timeout(), Some(Duration::from_secs(1)));
        assert_eq!(
            timeouts.operation_attempt_timeout(),
            Some(Duration::from_secs(3))
        );
        assert!(timeouts.operation_timeout() < Some(Duration::from_secs(10)));
    }

    #[test]
    fn stalled_calls_are_left_to_the_attempt_timeout() {
        let protection = lambda_config().stalled_stream_protection();
        assert_eq!(protection.map(|p| p.is_enabled()), Some(false));
    }
}
