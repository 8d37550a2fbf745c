//! The AWS settings a function needs, read from what Lambda's environment
//! provides instead of through aws-config's default chains.
//!
//! Lambda sets the region (`AWS_REGION`) and the execution role's keys
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) for
//! the life of the execution environment; the default chains would find
//! them there too, after carrying the STS, SSO, IMDS, ECS, profile-file and
//! `credential_process` providers that never answer on Lambda. Reading the
//! variables directly leaves that code unreachable, so the linker drops it
//! (docs/benchmarks.md, "What ships"). The local stack and the tests point
//! the clients at the emulators with `AWS_ENDPOINT_URL` and
//! `AWS_ENDPOINT_URL_<SERVICE>` (`AWS_ENDPOINT_URL_DYNAMODB`), honoured here
//! as the SDK honours them.

use std::collections::HashMap;

use aws_config::identity::IdentityCache;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_async::rt::sleep::TokioSleep;
use aws_smithy_async::time::SystemTimeSource;
use aws_types::sdk_config::Builder;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

use crate::config::ConfigError;

/// The endpoint variable; a service's own is this plus `_<SERVICE ID>`.
const ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";

/// Environment variables by name, blank ones left out (as the SDK treats a
/// blank key as unset). A snapshot rather than a `config::Source`: the
/// per-service endpoints are found by listing the variables.
#[derive(Debug, Clone, Default)]
pub struct AwsEnv(HashMap<String, String>);

impl AwsEnv {
    /// The process's environment (variables that are not UTF-8 cannot
    /// name a region, key or URL, and are skipped).
    pub fn real() -> Self {
        std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .collect()
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn require(&self, name: &'static str) -> Result<&str, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing(name))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for AwsEnv {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(vars: I) -> Self {
        Self(
            vars.into_iter()
                .map(|(name, value)| (name.into(), value.into().trim().to_owned()))
                .filter(|(_, value)| !value.is_empty())
                .collect(),
        )
    }
}

/// An `SdkConfig` builder with the region, the credentials and the
/// endpoints `env` names, the latest behaviour version, the standard retries
/// (3 attempts), a lazy identity cache, tokio's sleep and the system clock:
/// what `aws_config::defaults(BehaviorVersion::latest())` sets on Lambda.
/// The caller adds the HTTP client and the timeouts. A missing region or key
/// is an error here, at start, not at the first call.
pub fn sdk_config(env: &AwsEnv) -> Result<Builder, ConfigError> {
    let region = env
        .get("AWS_REGION")
        .or_else(|| env.get("AWS_DEFAULT_REGION"))
        .ok_or(ConfigError::Missing("AWS_REGION"))?;
    let mut credentials = Credentials::builder()
        .access_key_id(env.require("AWS_ACCESS_KEY_ID")?)
        .secret_access_key(env.require("AWS_SECRET_ACCESS_KEY")?)
        .provider_name("Environment");
    credentials.set_session_token(env.get("AWS_SESSION_TOKEN").map(str::to_owned));
    if let Some(account_id) = env.get("AWS_ACCOUNT_ID") {
        credentials = credentials.account_id(account_id);
    }
    let mut builder = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(SharedCredentialsProvider::new(credentials.build()))
        .identity_cache(IdentityCache::lazy().build())
        .retry_config(RetryConfig::standard())
        .sleep_impl(TokioSleep::new())
        .time_source(SystemTimeSource::new())
        .service_config(ServiceEndpoints::from_env(env));
    builder.set_endpoint_url(env.get(ENDPOINT_URL).map(str::to_owned));
    Ok(builder)
}

/// `AWS_ENDPOINT_URL_<SERVICE>`: each client asks for its own endpoint by
/// service id (`DynamoDB` → `AWS_ENDPOINT_URL_DYNAMODB`, `SESv2` →
/// `AWS_ENDPOINT_URL_SESV2`) and falls back to `AWS_ENDPOINT_URL`. Only the
/// endpoint variables are kept, so the keys never show in a debug print.
#[derive(Debug)]
struct ServiceEndpoints(HashMap<String, String>);

impl ServiceEndpoints {
    fn from_env(env: &AwsEnv) -> Self {
        Self(
            env.0
                .iter()
                .filter(|(name, _)| name.starts_with(ENDPOINT_URL))
                .map(|(name, url)| (name.clone(), url.clone()))
                .collect(),
        )
    }
}

impl LoadServiceConfig for ServiceEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        let service = key.service_id().to_uppercase().replace(' ', "_");
        self.0
            .get(&format!("{}_{service}", key.env()))
            .or_else(|| self.0.get(key.env()))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::provider::ProvideCredentials;

    const LAMBDA: [(&str, &str); 4] = [
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnSECRET"),
        ("AWS_SESSION_TOKEN", "FwoGZXIvSESSION"),
    ];

    fn lambda_with(extra: &[(&'static str, &'static str)]) -> AwsEnv {
        LAMBDA.iter().chain(extra).copied().collect()
    }

    fn endpoint(config: &aws_config::SdkConfig, service_id: &str) -> Option<String> {
        let key = ServiceConfigKey::builder()
            .service_id(service_id)
            .env(ENDPOINT_URL)
            .profile("endpoint_url")
            .build()
            .expect("every field set");
        config
            .service_config()
            .and_then(|endpoints| endpoints.load_config(key))
    }

    /// Each service's endpoint, in order.
    fn endpoints<const N: usize>(
        config: &aws_config::SdkConfig,
        services: [&str; N],
    ) -> [Option<String>; N] {
        services.map(|service| endpoint(config, service))
    }

    fn url(url: &str) -> Option<String> {
        Some(url.to_owned())
    }

    #[tokio::test]
    async fn lambdas_region_and_role_keys_configure_the_clients() {
        let config = sdk_config(&lambda_with(&[])).unwrap().build();
        assert_eq!(config.region().map(Region::as_ref), Some("eu-west-1"));
        let credentials = config
            .credentials_provider()
            .expect("credentials are set")
            .provide_credentials()
            .await
            .unwrap();
        assert_eq!(credentials.access_key_id(), "ASIAEXAMPLE");
        assert_eq!(credentials.secret_access_key(), "wJalrXUtnSECRET");
        assert_eq!(credentials.session_token(), Some("FwoGZXIvSESSION"));
        assert_eq!(config.endpoint_url(), None);
        assert_eq!(endpoint(&config, "DynamoDB"), None);
    }

    #[test]
    fn the_sdk_defaults_are_kept() {
        let config = sdk_config(&lambda_with(&[])).unwrap().build();
        assert_eq!(config.behavior_version(), Some(BehaviorVersion::latest()));
        assert_eq!(config.retry_config(), Some(&RetryConfig::standard()));
        assert_eq!(config.retry_config().map(|r| r.max_attempts()), Some(3));
        assert!(config.identity_cache().is_some());
        assert!(config.sleep_impl().is_some());
        assert!(config.time_source().is_some());
    }

    #[test]
    fn the_default_region_stands_in_for_a_missing_region() {
        let env: AwsEnv = LAMBDA
            .iter()
            .skip(1)
            .chain(&[("AWS_DEFAULT_REGION", "us-east-1")])
            .copied()
            .collect();
        let config = sdk_config(&env).unwrap().build();
        assert_eq!(config.region().map(Region::as_ref), Some("us-east-1"));
    }

    #[test]
    fn a_missing_region_or_key_stops_the_start() {
        for (missing, error) in [
            ("AWS_REGION", "AWS_REGION is required"),
            ("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID is required"),
            ("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY is required"),
        ] {
            let env: AwsEnv = LAMBDA
                .iter()
                .filter(|(name, _)| *name != missing)
                .copied()
                .collect();
            let err = sdk_config(&env).expect_err(missing);
            assert_eq!(err.to_string(), error);
        }
    }

    #[test]
    fn a_blank_key_counts_as_missing() {
        let env: AwsEnv = LAMBDA
            .iter()
            .map(|&(name, value)| match name {
                "AWS_SECRET_ACCESS_KEY" => (name, " "),
                _ => (name, value),
            })
            .collect();
        assert_eq!(
            sdk_config(&env).expect_err("a blank key"),
            ConfigError::Missing("AWS_SECRET_ACCESS_KEY")
        );
    }

    #[tokio::test]
    async fn keys_without_a_session_token_are_long_lived_keys() {
        let env: AwsEnv = LAMBDA.iter().take(3).copied().collect();
        let config = sdk_config(&env).unwrap().build();
        let credentials = config
            .credentials_provider()
            .expect("credentials are set")
            .provide_credentials()
            .await
            .unwrap();
        assert_eq!(credentials.session_token(), None);
    }

    #[test]
    fn a_service_endpoint_wins_over_the_shared_one() {
        let env = lambda_with(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
            ("AWS_ENDPOINT_URL_SESV2", "http://127.0.0.1:5001"),
        ]);
        let config = sdk_config(&env).unwrap().build();
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:5000"));
        assert_eq!(
            endpoints(&config, ["DynamoDB", "SESv2", "SQS"]),
            [
                url("http://127.0.0.1:8000"),
                url("http://127.0.0.1:5001"),
                url("http://127.0.0.1:5000")
            ]
        );
    }

    #[test]
    fn a_service_endpoint_alone_leaves_the_other_services_on_aws() {
        let env = lambda_with(&[("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000")]);
        let config = sdk_config(&env).unwrap().build();
        assert_eq!(config.endpoint_url(), None);
        assert_eq!(
            endpoints(&config, ["Scheduler", "DynamoDB"]),
            [None, url("http://127.0.0.1:8000")]
        );
    }

    #[test]
    fn the_keys_never_show_in_a_debug_print() {
        let env = lambda_with(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")]);
        let printed = format!("{:?}", sdk_config(&env).unwrap().build());
        assert!(printed.contains("http://127.0.0.1:5000"), "{printed}");
        assert!(!printed.contains("SECRET"), "{printed}");
        assert!(!printed.contains("SESSION"), "{printed}");
    }
}
