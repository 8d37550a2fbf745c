use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};

use crate::auth::AccessTokens;
use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::cursor::CursorKey;
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
}

impl AppState {
    pub fn new(config: Config, aws: &SdkConfig, clock: SharedClock) -> Self {
        let store = Store::new(aws_sdk_dynamodb::Client::new(aws), &config.table_name);
        let tokens = Arc::new(AccessTokens::new(config.jwt_secret.expose()));
        let cursors = CursorKey::derive(config.jwt_secret.expose());
        Self {
            config: Arc::new(config),
            store,
            clock,
            tokens,
            cursors,
        }
    }

    /// Production wiring: environment config, the default AWS credential
    /// chain (which honours `AWS_ENDPOINT_URL*` locally), the system clock.
    pub async fn from_env() -> Result<(Self, SdkConfig), ConfigError> {
        let config = Config::from_env()?;
        let aws = load_aws().await;
        let state = Self::new(config, &aws, Arc::new(SystemClock));
        state.warm_up().await;
        Ok((state, aws))
    }

    /// Opens the DynamoDB connection during init (which Lambda does not bill
    /// against the first request's latency budget) and says early if the
    /// table is unreachable.
    pub async fn warm_up(&self) {
        if let Err(err) = self.store.ping().await {
            tracing::warn!(error = %err, "table not reachable during init");
        }
    }
}

pub async fn load_aws() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}
