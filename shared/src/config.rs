//! Configuration read from the environment once per cold start and validated
//! before anything is served. Production fails closed: a missing or weak
//! secret stops the process instead of running insecurely.

use std::fmt;

use crate::domain::webhook::retry::RetrySchedule;

/// Secrets shorter than this are refused in production (HS256 wants ≥ 256 bits).
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Production,
    Local,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{0} must be at least {MIN_SECRET_BYTES} bytes in production")]
    WeakSecret(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// A secret value that never shows up in logs or debug output.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }

    pub fn expose_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Settings every function needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub env: AppEnv,
    pub table_name: String,
    pub jwt_secret: Secret,
    pub rate_limits: RateLimits,
}

/// The request limits of API.md's "Rate limits" table that every API
/// function may count (the magic-link ones are auth-api's: SignInConfig).
/// Each is a count per minute; the defaults let an on-sale through with
/// many buyers behind one carrier-NAT address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Every request from one client address.
    pub api_per_ip: u32,
    pub holds_per_user: u32,
    pub holds_per_ip: u32,
    /// Checkouts and wallet top-ups by one user.
    pub payments_per_user: u32,
}

impl RateLimits {
    pub const DEFAULT: Self = Self {
        api_per_ip: 600,
        holds_per_user: 20,
        holds_per_ip: 300,
        payments_per_user: 20,
    };

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let d = Self::DEFAULT;
        Ok(Self {
            api_per_ip: positive(src, "RATE_LIMIT_API_PER_IP", d.api_per_ip)?,
            holds_per_user: positive(src, "RATE_LIMIT_HOLDS_PER_USER", d.holds_per_user)?,
            holds_per_ip: positive(src, "RATE_LIMIT_HOLDS_PER_IP", d.holds_per_ip)?,
            payments_per_user: positive(src, "RATE_LIMIT_PAYMENTS_PER_USER", d.payments_per_user)?,
        })
    }
}

/// Settings of the sign-in flow (auth-api only).
#[derive(Debug, Clone)]
pub struct SignInConfig {
    pub frontend_url: String,
    pub mail_from: String,
    pub bootstrap_developer_email: Option<String>,
    pub magic_link_limit_per_email: u32,
    pub magic_link_limit_per_ip: u32,
}

/// Where mail comes from and where its links point.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `FRONTEND_URL`, without a trailing slash.
    pub frontend_url: String,
    /// `MAIL_FROM`: a verified SES identity.
    pub mail_from: String,
}

impl MailConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let env = app_env(src)?;
        let frontend_url = required(src, env, "FRONTEND_URL", "http://localhost:3000")?;
        if !(frontend_url.starts_with("https://") || frontend_url.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                name: "FRONTEND_URL",
                reason: "must start with https:// or http://".into(),
            });
        }
        Ok(Self {
            frontend_url: frontend_url.trim_end_matches('/').to_owned(),
            mail_from: required(src, env, "MAIL_FROM", "no-reply@tickets.local")?,
        })
    }
}

/// Stripe, for the functions that take or give back money.
#[derive(Debug, Clone)]
pub struct PaymentsConfig {
    /// `STRIPE_SECRET_KEY`: required in production.
    pub secret_key: Secret,
    /// `STRIPE_API_BASE`, ending in `/`: Stripe's own API in production
    /// unless set; the fake Stripe of the local stack otherwise.
    pub api_base: String,
    /// `STACK_ID`: names this deployment in its PaymentIntents' metadata,
    /// so a webhook acts only on its own payments when several stacks (or
    /// other tools) share a Stripe account. Required in production (the
    /// template passes the stack's name); `local` locally.
    pub stack_id: String,
}

/// The Stripe webhook endpoint's signing secret (`STRIPE_WEBHOOK_SECRET`).
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub signing_secret: Secret,
}

/// Where configuration values come from; the process environment in
/// production, a map in unit tests.
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;

    /// A value that is present and not blank.
    fn value(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }
}

pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<F: Fn(&str) -> Option<String>> Source for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// Used only when `APP_ENV=local`, so a fresh checkout runs without setup.
const LOCAL_JWT_SECRET: &str = "local-development-only-jwt-secret-never-use-in-production";

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let env = app_env(src)?;
        let jwt_secret = match (src.get("JWT_SECRET"), env) {
            (Some(s), AppEnv::Production) if s.len() < MIN_SECRET_BYTES => {
                return Err(ConfigError::WeakSecret("JWT_SECRET"));
            }
            (Some(s), _) if !s.is_empty() => Secret(s),
            (_, AppEnv::Production) => return Err(ConfigError::Missing("JWT_SECRET")),
            (_, AppEnv::Local) => Secret(LOCAL_JWT_SECRET.to_owned()),
        };
        let table_name = match (src.value("TABLE_NAME"), env) {
            (Some(t), _) => t,
            (None, AppEnv::Local) => "tickets".to_owned(),
            (None, AppEnv::Production) => return Err(ConfigError::Missing("TABLE_NAME")),
        };
        Ok(Self {
            env,
            table_name,
            jwt_secret,
            rate_limits: RateLimits::from_source(src)?,
        })
    }
}

impl SignInConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let mail = MailConfig::from_source(src)?;
        Ok(Self {
            frontend_url: mail.frontend_url,
            mail_from: mail.mail_from,
            bootstrap_developer_email: src
                .value("BOOTSTRAP_DEVELOPER_EMAIL")
                .map(|e| e.to_lowercase()),
            magic_link_limit_per_email: positive(src, "MAGIC_LINK_LIMIT_PER_EMAIL", 5)?,
            magic_link_limit_per_ip: positive(src, "MAGIC_LINK_LIMIT_PER_IP", 30)?,
        })
    }
}

/// The hold-expiry queue's URL, for the functions that send to it. No local
/// default: `infra/bootstrap.py` creates the queue and writes its URL.
pub fn hold_expiry_queue_url(src: &impl Source) -> Result<String, ConfigError> {
    src.value("HOLD_EXPIRY_QUEUE_URL")
        .ok_or(ConfigError::Missing("HOLD_EXPIRY_QUEUE_URL"))
}

/// The exports bucket (`EXPORTS_BUCKET`, admin-api): files too large for a
/// response. No local default: `infra/bootstrap.py` creates it.
pub fn exports_bucket(src: &impl Source) -> Result<String, ConfigError> {
    src.value("EXPORTS_BUCKET")
        .ok_or(ConfigError::Missing("EXPORTS_BUCKET"))
}

/// Where uploaded images are kept and how clients reach them (events-api,
/// auth-api).
#[derive(Debug, Clone)]
pub struct ImagesConfig {
    /// The private images bucket (`IMAGES_BUCKET`). No local default:
    /// `infra/bootstrap.py` creates it.
    pub bucket: String,
    /// `IMAGES_CDN_BASE`: when set (a CDN in front of the bucket), image
    /// URLs are `<base>/<key>`; otherwise presigned GETs.
    pub cdn_base: Option<String>,
}

impl ImagesConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let bucket = src
            .value("IMAGES_BUCKET")
            .ok_or(ConfigError::Missing("IMAGES_BUCKET"))?;
        let cdn_base = src.value("IMAGES_CDN_BASE");
        if let Some(base) = &cdn_base
            && !base.starts_with("https://")
        {
            return Err(ConfigError::Invalid {
                name: "IMAGES_CDN_BASE",
                reason: "must start with https://".into(),
            });
        }
        Ok(Self {
            bucket,
            cdn_base: cdn_base.map(|base| base.trim_end_matches('/').to_owned()),
        })
    }
}

/// The refund queue (`REFUND_QUEUE_URL`): required where refunds are owed.
pub fn refund_queue_url(src: &impl Source) -> Result<String, ConfigError> {
    src.value("REFUND_QUEUE_URL")
        .ok_or(ConfigError::Missing("REFUND_QUEUE_URL"))
}

/// The outbound webhook queue (`WEBHOOK_QUEUE_URL`): deliveries due, for
/// the webhook deliverer.
pub fn webhook_queue_url(src: &impl Source) -> Result<String, ConfigError> {
    src.value("WEBHOOK_QUEUE_URL")
        .ok_or(ConfigError::Missing("WEBHOOK_QUEUE_URL"))
}

/// The waits between webhook attempts: `WEBHOOK_RETRY_SECONDS` (`"1,2,4"`,
/// for local runs and tests), else the production schedule (over a day).
pub fn webhook_retry_schedule(src: &impl Source) -> Result<RetrySchedule, ConfigError> {
    match src.value("WEBHOOK_RETRY_SECONDS") {
        None => Ok(RetrySchedule::production()),
        Some(text) => RetrySchedule::parse(&text).ok_or(ConfigError::Invalid {
            name: "WEBHOOK_RETRY_SECONDS",
            reason: "must be comma-separated whole seconds".into(),
        }),
    }
}

/// Where one-time publish schedules go and what they invoke (events-api).
#[derive(Debug, Clone)]
pub struct ScheduleConfig {
    /// The schedule group (`PUBLISH_SCHEDULE_GROUP`).
    pub group: String,
    /// The scheduler function's ARN (`SCHEDULER_TARGET_ARN`).
    pub target_arn: String,
    /// The role EventBridge Scheduler assumes to invoke it (`SCHEDULER_ROLE_ARN`).
    pub role_arn: String,
}

/// Placeholders the local emulator accepts: its schedules never fire.
const LOCAL_SCHEDULER_TARGET_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:scheduler";
const LOCAL_SCHEDULER_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/scheduler-invokes-scheduler";

impl ScheduleConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let env = app_env(src)?;
        Ok(Self {
            group: required(src, env, "PUBLISH_SCHEDULE_GROUP", "default")?,
            target_arn: required(src, env, "SCHEDULER_TARGET_ARN", LOCAL_SCHEDULER_TARGET_ARN)?,
            role_arn: required(src, env, "SCHEDULER_ROLE_ARN", LOCAL_SCHEDULER_ROLE_ARN)?,
        })
    }
}

/// Stripe's API; the local stack's fake Stripe listens on the dev server.
const STRIPE_API_BASE: &str = "https://api.stripe.com/";
const LOCAL_STRIPE_API_BASE: &str = "http://127.0.0.1:8080/";
const LOCAL_STRIPE_SECRET_KEY: &str = "sk_test_local_fake_stripe";
/// Shared by the local fake Stripe (which signs) and the local webhook.
pub const LOCAL_STRIPE_WEBHOOK_SECRET: &str =
    "whsec_local_development_only_never_use_in_production";

impl PaymentsConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let env = app_env(src)?;
        let secret_key = match (src.value("STRIPE_SECRET_KEY"), env) {
            (Some(key), _) => Secret(key),
            (None, AppEnv::Local) => Secret(LOCAL_STRIPE_SECRET_KEY.to_owned()),
            (None, AppEnv::Production) => return Err(ConfigError::Missing("STRIPE_SECRET_KEY")),
        };
        let api_base = match (src.value("STRIPE_API_BASE"), env) {
            (Some(base), _) => base,
            (None, AppEnv::Local) => LOCAL_STRIPE_API_BASE.to_owned(),
            (None, AppEnv::Production) => STRIPE_API_BASE.to_owned(),
        };
        if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                name: "STRIPE_API_BASE",
                reason: "must start with https:// or http://".into(),
            });
        }
        let stack_id = match (src.value("STACK_ID"), env) {
            (Some(id), _) => id,
            (None, AppEnv::Local) => "local".to_owned(),
            (None, AppEnv::Production) => return Err(ConfigError::Missing("STACK_ID")),
        };
        Ok(Self {
            secret_key,
            api_base: format!("{}/", api_base.trim_end_matches('/')),
            stack_id,
        })
    }
}

impl WebhookConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let signing_secret = match (src.value("STRIPE_WEBHOOK_SECRET"), app_env(src)?) {
            (Some(s), AppEnv::Production) if s.len() < MIN_SECRET_BYTES => {
                return Err(ConfigError::WeakSecret("STRIPE_WEBHOOK_SECRET"));
            }
            (Some(s), _) => Secret(s),
            (None, AppEnv::Local) => Secret(LOCAL_STRIPE_WEBHOOK_SECRET.to_owned()),
            (None, AppEnv::Production) => {
                return Err(ConfigError::Missing("STRIPE_WEBHOOK_SECRET"));
            }
        };
        Ok(Self { signing_secret })
    }
}

/// A value production must be given and local runs default.
fn required(
    src: &impl Source,
    env: AppEnv,
    name: &'static str,
    local_default: &str,
) -> Result<String, ConfigError> {
    match (src.value(name), env) {
        (Some(v), _) => Ok(v),
        (None, AppEnv::Local) => Ok(local_default.to_owned()),
        (None, AppEnv::Production) => Err(ConfigError::Missing(name)),
    }
}

fn app_env(src: &impl Source) -> Result<AppEnv, ConfigError> {
    // Anything but an explicit "local" is production: forgetting the variable
    // must not switch security off.
    match src.value("APP_ENV").as_deref() {
        None | Some("production") => Ok(AppEnv::Production),
        Some("local") => Ok(AppEnv::Local),
        Some(other) => Err(ConfigError::Invalid {
            name: "APP_ENV",
            reason: format!("expected production or local, got {other:?}"),
        }),
    }
}

fn positive(src: &impl Source, name: &'static str, default: u32) -> Result<u32, ConfigError> {
    match src.value(name) {
        None => Ok(default),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(ConfigError::Invalid {
                name,
                reason: format!("expected a positive integer, got {v:?}"),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn source(pairs: &[(&str, &str)]) -> impl Source {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| map.get(name).cloned()
    }

    const STRONG: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn production_is_the_default_environment() {
        let cfg =
            Config::from_source(&source(&[("JWT_SECRET", STRONG), ("TABLE_NAME", "t")])).unwrap();
        assert_eq!(cfg.env, AppEnv::Production);
    }

    #[test]
    fn production_refuses_a_missing_jwt_secret() {
        let err = Config::from_source(&source(&[("TABLE_NAME", "t")])).unwrap_err();
        assert_eq!(err, ConfigError::Missing("JWT_SECRET"));
    }

    #[test]
    fn production_refuses_a_jwt_secret_shorter_than_32_bytes() {
        let err = Config::from_source(&source(&[("JWT_SECRET", "short"), ("TABLE_NAME", "t")]))
            .unwrap_err();
        assert_eq!(err, ConfigError::WeakSecret("JWT_SECRET"));
    }

    #[test]
    fn local_runs_without_any_setting() {
        let cfg = Config::from_source(&source(&[("APP_ENV", "local")])).unwrap();
        assert_eq!(cfg.table_name, "tickets");
        assert!(cfg.jwt_secret.expose().len() >= MIN_SECRET_BYTES);
    }

    #[test]
    fn an_unknown_app_env_is_refused() {
        let err = Config::from_source(&source(&[("APP_ENV", "prod")])).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: "APP_ENV",
                ..
            }
        ));
    }

    #[test]
    fn production_schedules_need_their_group_target_and_role() {
        let err = ScheduleConfig::from_source(&source(&[])).unwrap_err();
        assert_eq!(err, ConfigError::Missing("PUBLISH_SCHEDULE_GROUP"));
        let local = ScheduleConfig::from_source(&source(&[("APP_ENV", "local")])).unwrap();
        assert!(local.target_arn.starts_with("arn:aws:lambda:"));
    }

    #[test]
    fn the_hold_expiry_queue_has_no_default() {
        let err = hold_expiry_queue_url(&source(&[("APP_ENV", "local")])).unwrap_err();
        assert_eq!(err, ConfigError::Missing("HOLD_EXPIRY_QUEUE_URL"));
    }

    #[test]
    fn rate_limits_default_to_api_md_and_are_read_from_the_environment() {
        let cfg = Config::from_source(&source(&[("APP_ENV", "local")])).unwrap();
        assert_eq!(cfg.rate_limits, RateLimits::DEFAULT);
        let cfg = Config::from_source(&source(&[
            ("APP_ENV", "local"),
            ("RATE_LIMIT_HOLDS_PER_USER", "3"),
        ]))
        .unwrap();
        assert_eq!(cfg.rate_limits.holds_per_user, 3);
        let err = Config::from_source(&source(&[
            ("APP_ENV", "local"),
            ("RATE_LIMIT_API_PER_IP", "0"),
        ]))
        .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: "RATE_LIMIT_API_PER_IP",
                ..
            }
        ));
    }

    #[test]
    fn sign_in_limits_default_to_5_per_email_and_30_per_ip() {
        let cfg = SignInConfig::from_source(&source(&[("APP_ENV", "local")])).unwrap();
        assert_eq!(
            (cfg.magic_link_limit_per_email, cfg.magic_link_limit_per_ip),
            (5, 30)
        );
    }

    #[test]
    fn sign_in_limits_must_be_positive_integers() {
        let err = SignInConfig::from_source(&source(&[
            ("APP_ENV", "local"),
            ("MAGIC_LINK_LIMIT_PER_IP", "0"),
        ]))
        .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: "MAGIC_LINK_LIMIT_PER_IP",
                ..
            }
        ));
    }

    #[test]
    fn production_sign_in_needs_frontend_url_and_sender() {
        let err = SignInConfig::from_source(&source(&[])).unwrap_err();
        assert_eq!(err, ConfigError::Missing("FRONTEND_URL"));
    }

    #[test]
    fn secrets_do_not_leak_through_debug_output() {
        let cfg =
            Config::from_source(&source(&[("JWT_SECRET", STRONG), ("TABLE_NAME", "t")])).unwrap();
        assert!(!format!("{cfg:?}").contains(STRONG));
    }

    #[test]
    fn production_refuses_to_start_without_stripe_keys() {
        assert_eq!(
            PaymentsConfig::from_source(&source(&[])).unwrap_err(),
            ConfigError::Missing("STRIPE_SECRET_KEY")
        );
        assert_eq!(
            WebhookConfig::from_source(&source(&[])).unwrap_err(),
            ConfigError::Missing("STRIPE_WEBHOOK_SECRET")
        );
    }

    #[test]
    fn production_refuses_a_short_webhook_secret() {
        assert_eq!(
            WebhookConfig::from_source(&source(&[("STRIPE_WEBHOOK_SECRET", "whsec_short")]))
                .unwrap_err(),
            ConfigError::WeakSecret("STRIPE_WEBHOOK_SECRET")
        );
    }

    #[test]
    fn production_refuses_to_start_without_the_stack_id_its_payments_carry() {
        let err = PaymentsConfig::from_source(&source(&[("STRIPE_SECRET_KEY", "sk_live_x")]))
            .unwrap_err();
        assert_eq!(err, ConfigError::Missing("STACK_ID"));
        let local = PaymentsConfig::from_source(&source(&[("APP_ENV", "local")])).unwrap();
        assert_eq!(local.stack_id, "local");
    }

    #[test]
    fn production_talks_to_stripe_itself_unless_told_otherwise() {
        let cfg = PaymentsConfig::from_source(&source(&[
            ("STRIPE_SECRET_KEY", "sk_live_x"),
            ("STACK_ID", "tickets-prod"),
        ]))
        .unwrap();
        assert_eq!(cfg.api_base, "https://api.stripe.com/");
        assert_eq!(cfg.stack_id, "tickets-prod");
        let local = PaymentsConfig::from_source(&source(&[
            ("APP_ENV", "local"),
            ("STRIPE_API_BASE", "http://127.0.0.1:9999"),
        ]))
        .unwrap();
        assert_eq!(local.api_base, "http://127.0.0.1:9999/");
    }

    #[test]
    fn images_need_their_bucket_and_take_an_https_cdn_base() {
        assert_eq!(
            ImagesConfig::from_source(&source(&[])).unwrap_err(),
            ConfigError::Missing("IMAGES_BUCKET")
        );
        let plain = ImagesConfig::from_source(&source(&[("IMAGES_BUCKET", "b")])).unwrap();
        assert_eq!((plain.bucket.as_str(), plain.cdn_base), ("b", None));
        let cdn = ImagesConfig::from_source(&source(&[
            ("IMAGES_BUCKET", "b"),
            ("IMAGES_CDN_BASE", "https://img.example.com/"),
        ]))
        .unwrap();
        assert_eq!(cdn.cdn_base.as_deref(), Some("https://img.example.com"));
        assert!(
            ImagesConfig::from_source(&source(&[
                ("IMAGES_BUCKET", "b"),
                ("IMAGES_CDN_BASE", "http://img.example.com"),
            ]))
            .is_err()
        );
    }
}
