use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};

use crate::auth::AccessTokens;
use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::cursor::CursorKey;
use crate::domain::ticket::TicketKey;
use crate::store::Store;

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
        }
    }

    /// Production wiring: environment config, the default AWS credential
    /// chain (which honours `AWS_ENDPOINT_URL*` locally), the system clock.
    /// No request is made here: a warm-up call during init would add one
    /// round trip to every cold start, and the first real request opens the
    /// connection anyway (docs/benchmarks.md).
    pub async fn from_env() -> Result<(Self, SdkConfig), ConfigError> {
        let config = Config::from_env()?;
        let aws = load_aws().await;
        Ok((Self::new(config, &aws, Arc::new(SystemClock)), aws))
    }
}

/// Every AWS endpoint presents a certificate chaining to an Amazon Trust
/// Services root, so the SDK's HTTPS client trusts those five roots and
/// nothing else. That is narrower than the system store (no other CA can
/// vouch for an AWS endpoint) and cheaper: parsing the system bundle's ~150
/// certificates is a third of a function's init time (docs/benchmarks.md).
const AWS_ROOT_CERTIFICATES: &[u8] = include_bytes!("aws-roots.pem");

pub async fn load_aws() -> SdkConfig {
    let trust_store = TrustStore::empty().with_pem_certificate(AWS_ROOT_CERTIFICATES);
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(
            TlsContext::builder()
                .with_trust_store(trust_store)
                .build()
                .unwrap_or_default(),
        )
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .load()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_aws_trust_store_holds_the_five_amazon_roots() {
        assert_eq!(
            String::from_utf8_lossy(AWS_ROOT_CERTIFICATES)
                .matches("-----BEGIN CERTIFICATE-----")
                .count(),
            5
        );
        // Building a client parses the store; a broken certificate panics here.
        let aws = load_aws().await;
        let _ = aws_sdk_dynamodb::Client::new(&aws);
    }
}
