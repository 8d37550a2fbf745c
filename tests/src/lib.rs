//! Harness for the black-box API tests: the real routers (as the dev server
//! merges them) against DynamoDB Local and moto started by `make test`
//! (infra/test.sh), driven through HTTP requests without a socket. Each test
//! gets its own app with its own manual clock, client IP and email addresses,
//! so tests share the emulators without seeing each other.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use auth_api::AuthState;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_dynamodb::types::AttributeValue;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use dev_server::identities::{self, LocalAws};
use dev_server::stream::{Start, TableStream};
use dev_server::{Functions, Settings};
use fake_stripe::FakeStripe;
use hold_expiry::HoldExpiryState;
use http_body_util::BodyExt;
use iam_proxy::{Behaviour, IamProxy, Template, Upstreams};
use refunds::RefundsState;
use scheduler::SchedulerState;
use serde_json::Value;
use shared::clock::ManualClock;
use shared::config::{AppEnv, Config, ImagesConfig, ScheduleConfig, SignInConfig};
use shared::config::{MailConfig, PaymentsConfig, RateLimits, Secret, WebhookConfig};
use shared::domain::webhook::retry::RetrySchedule;
use shared::payments::Payments;
use shared::queue::Queue;
use time::OffsetDateTime;
use tower::ServiceExt;
use webhook_deliverer::DelivererState;
use webhook_events::ChangesState;

pub const JWT_SECRET: &str = "integration-test-secret-of-at-least-32-bytes";

/// The webhook secret the test apps verify and their fake Stripe signs with.
pub const STRIPE_WEBHOOK_SECRET: &str = "whsec_integration_tests_only_of_enough_length";

pub struct TestApp {
    pub router: Router,
    pub clock: Arc<ManualClock>,
    pub state: AuthState,
    /// A fake Stripe of this app's own, on a free port.
    pub stripe: FakeStripe,
    /// The hold-expiry worker as Lambda runs it, on this app's own queue
    /// (so tests see only their own messages).
    pub hold_expiry: HoldExpiryState,
    /// The refund worker, on this app's own refund queue.
    pub refunds: RefundsState,
    /// The scheduler function (publish orders, the sweep) on its identity,
    /// handing refunds to this app's own queue.
    pub scheduler: SchedulerState,
    /// The webhook deliverer, on this app's own webhook queue, retrying
    /// after `WEBHOOK_TEST_RETRY` instead of production's hours.
    pub webhook_deliverer: DelivererState,
    /// webhook-events, handing deliveries to this app's webhook queue.
    pub webhook_events: ChangesState,
    /// Each function's AWS config: its identity, through the IAM proxy.
    pub aws: LocalAws,
    pub client_ip: SocketAddr,
    /// Unique per app, so addresses never collide across tests.
    pub tag: String,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body as JSON, else as text (lossy), else `Null` when empty.
    pub body: Value,
    /// The body as sent (files: CSV, XLSX).
    pub bytes: axum::body::Bytes,
}

impl Response {
    /// A CSV body's values in the column headed `name`, row by row (cells
    /// without quoted commas).
    pub fn csv_column(&self, name: &str) -> Vec<String> {
        let text = std::str::from_utf8(&self.bytes).expect("a CSV body is UTF-8");
        let mut lines = text.split_terminator("\r\n");
        let header = lines.next().expect("a CSV body has a header");
        let column = header
            .split(',')
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("no column {name} in {header}"));
        lines
            .map(|line| line.split(',').nth(column).unwrap_or_default().to_owned())
            .collect()
    }
}

/// A signed-in user as the client sees it.
#[derive(Debug, Clone)]
pub struct Session {
    pub access_token: String,
    pub refresh_token: String,
    pub user: Value,
}

#[derive(Default)]
pub struct Options {
    pub limit_per_email: Option<u32>,
    pub limit_per_ip: Option<u32>,
    /// The per-minute limits (default: far above what any test sends, so
    /// only the tests of the limits meet them).
    pub rate_limits: Option<RateLimits>,
    /// Where the app's clock starts (default: now). Sweep tests start in
    /// the past, so their sweeps (which act on every event) only reach the
    /// holds and events of apps that started even earlier, never those of
    /// tests running at the present time.
    pub clock_start: Option<OffsetDateTime>,
    /// The functions' policies from this template instead of template.yaml
    /// (the IAM tests remove a permission from a copy).
    pub template: Option<Template>,
    /// Through the proxy whose DynamoDB conflicts and throttles as on AWS
    /// (`contention_proxy`), not the plain one.
    pub contention: bool,
    /// The functions' environment (default: local).
    pub env: Option<AppEnv>,
}

/// The test apps' webhook retry schedule: four attempts, a second apart.
pub const WEBHOOK_TEST_RETRY: &str = "1,1,1";

/// The IAM proxy of this test binary, started at first use.
fn iam_proxy() -> &'static IamProxy {
    static PROXY: OnceLock<IamProxy> = OnceLock::new();
    PROXY.get_or_init(|| {
        IamProxy::start(Upstreams::from_env().expect("the emulators' endpoints"))
            .expect("the IAM proxy starts")
    })
}

/// This test binary's second IAM proxy, with DynamoDB's behaviour under
/// contention on (docs/adr/0003-local-dynamodb-contention.md), started at
/// first use. Its counters are shared by the apps using it.
pub fn contention_proxy() -> &'static IamProxy {
    static PROXY: OnceLock<IamProxy> = OnceLock::new();
    PROXY.get_or_init(|| {
        IamProxy::start_with(
            Upstreams::from_env().expect("the emulators' endpoints"),
            Some(Behaviour::default()),
        )
        .expect("the contention proxy starts")
    })
}

/// template.yaml as deployed, parsed once per test binary.
pub fn deployed_template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(|| identities::read_template().expect("template.yaml parses"))
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the integration tests with `make test`, which starts the emulators")
    })
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::with(Options::default()).await
    }

    pub async fn with(options: Options) -> Self {
        env("AWS_ENDPOINT_URL_DYNAMODB");
        let tag = uuid::Uuid::now_v7().simple().to_string();
        let clock = Arc::new(ManualClock::starting_at(
            options.clock_start.unwrap_or_else(OffsetDateTime::now_utc),
        ));
        let config = Config {
            env: options.env.unwrap_or(AppEnv::Local),
            table_name: env("TABLE_NAME"),
            jwt_secret: shared::config::Secret::new(JWT_SECRET),
            rate_limits: options.rate_limits.unwrap_or(RateLimits {
                api_per_ip: 1_000_000,
                holds_per_user: 1_000_000,
                holds_per_ip: 1_000_000,
                payments_per_user: 1_000_000,
            }),
        };
        let sign_in = SignInConfig {
            frontend_url: "http://localhost:3000".into(),
            mail_from: env("MAIL_FROM"),
            bootstrap_developer_email: Some(format!("dev-{tag}@example.com")),
            magic_link_limit_per_email: options.limit_per_email.unwrap_or(5),
            magic_link_limit_per_ip: options.limit_per_ip.unwrap_or(30),
        };
        let stripe = FakeStripe::new(STRIPE_WEBHOOK_SECRET, None);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("a free port for the fake Stripe");
        let stripe_base = format!("http://{}/", listener.local_addr().expect("bound"));
        tokio::spawn(axum::serve(listener, stripe.router()).into_future());
        let payments = Payments::new(&PaymentsConfig {
            secret_key: Secret::new("sk_test_integration"),
            api_base: stripe_base,
            stack_id: stack_id(&tag),
        })
        .expect("a Stripe client");
        let mail = MailConfig {
            frontend_url: "http://localhost:3000".into(),
            mail_from: env("MAIL_FROM"),
        };
        // The test's own setup runs unrestricted (the emulators' `test` key).
        let admin_aws = shared::state::load_aws().expect("AWS settings: make test sets them");
        let queue_url = app_queue(&admin_aws, "hold-expiry", &tag).await;
        let refund_queue_url = app_queue(&admin_aws, "refunds", &tag).await;
        let webhook_queue_url = app_queue(&admin_aws, "webhooks", &tag).await;
        let settings = Settings {
            config,
            sign_in,
            mail,
            payments,
            webhook: WebhookConfig {
                signing_secret: Secret::new(STRIPE_WEBHOOK_SECRET),
            },
            schedules: ScheduleConfig::from_env().expect("schedule settings"),
            hold_expiry_queue_url: queue_url,
            refund_queue_url,
            webhook_queue_url,
            webhook_retry: RetrySchedule::parse(WEBHOOK_TEST_RETRY).expect("a schedule"),
            exports_bucket: env("EXPORTS_BUCKET"),
            images: ImagesConfig {
                bucket: env("IMAGES_BUCKET"),
                cdn_base: None,
            },
            clock: clock.clone(),
        };
        // Each function signs as itself (`local<Function><tag>`) through the
        // IAM proxy, which checks its calls against its template.yaml policy
        // resolved against this app's own resources (its queue).
        let template = options
            .template
            .as_ref()
            .unwrap_or_else(|| deployed_template());
        let proxy = if options.contention {
            contention_proxy()
        } else {
            iam_proxy()
        };
        let aws = LocalAws::register(proxy, admin_aws, template, &settings.resources(), &tag)
            .expect("template.yaml's policies resolve locally");
        let functions = Functions::new(settings, &aws);
        // A distinct (never contacted) address per app keeps per-IP limits apart.
        let bytes = uuid::Uuid::now_v7().as_bytes()[10..13].to_vec();
        let client_ip = SocketAddr::from(([10, bytes[0], bytes[1], bytes[2]], 40000));
        Self {
            state: functions.auth.clone(),
            hold_expiry: functions.hold_expiry.clone(),
            refunds: functions.refunds.clone(),
            scheduler: functions.scheduler.clone(),
            webhook_deliverer: functions.webhook_deliverer.clone(),
            webhook_events: functions.webhook_events.clone(),
            aws,
            router: dev_server::app(functions),
            stripe,
            clock,
            client_ip,
            tag,
        }
    }

    /// Runs the refund worker as its SQS event source would, until the
    /// app's refund queue has nothing visible left (or `rounds` batches).
    /// Returns how many messages failed.
    pub async fn run_refund_worker(&self, rounds: usize) -> usize {
        drain(&self.refunds.queue.0, rounds, |event| {
            refunds::handle(&self.refunds, event)
        })
        .await
    }

    /// Runs the webhook deliverer the same way, on the app's webhook queue.
    pub async fn run_webhook_deliverer(&self, rounds: usize) -> usize {
        drain(&self.webhook_deliverer.queue.0, rounds, |event| {
            webhook_deliverer::handle(&self.webhook_deliverer, event)
        })
        .await
    }

    /// The table's stream from now on, read as webhook-events' event
    /// source reads it (its identity, checked by the IAM proxy).
    pub async fn change_stream(&self) -> TableStream {
        TableStream::open(
            &self.aws.function(identities::WEBHOOK_EVENTS),
            &self.webhook_events.app.config.table_name,
            Start::Now,
        )
        .await
        .expect("the table has a stream")
    }

    /// Runs this app's webhook-events on the stream until it has caught up
    /// (or `rounds` reads), handing it only the records that name one of
    /// `about` (as the template's filter hands it only some items): the
    /// stream carries every test's changes. Returns the records handed.
    pub async fn run_change_stream(
        &self,
        stream: &mut TableStream,
        about: &[&str],
        rounds: usize,
    ) -> usize {
        let mut handed = 0;
        for _ in 0..rounds {
            let mut mine = 0;
            let read = stream
                .poll(|mut event| {
                    event.records.retain(|record| names_any(record, about));
                    mine += event.records.len();
                    async move {
                        if event.records.is_empty() {
                            return Default::default();
                        }
                        webhook_events::handle(&self.webhook_events, event).await
                    }
                })
                .await
                .expect("the stream reads");
            handed += mine;
            if read == 0 {
                break;
            }
        }
        handed
    }

    /// An address unique to this app.
    pub fn email(&self, who: &str) -> String {
        format!("{who}-{}@example.com", self.tag)
    }

    pub fn developer_email(&self) -> String {
        format!("dev-{}@example.com", self.tag)
    }

    pub async fn send(&self, request: Request<Body>) -> Response {
        self.send_from(self.client_ip, request).await
    }

    /// A request from another client address than the app's own.
    pub async fn send_from(&self, client: SocketAddr, request: Request<Body>) -> Response {
        let mut request = request;
        request.extensions_mut().insert(ConnectInfo(client));
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Response {
            status,
            headers,
            body,
            bytes,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => builder
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => builder.body(Body::empty()),
        };
        self.send(request.expect("valid request")).await
    }

    /// A raw webhook delivery, as Stripe POSTs it.
    pub async fn deliver(&self, body: &str, signature: Option<&str>) -> Response {
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri("/v1/webhooks/stripe")
            .header("content-type", "application/json");
        if let Some(signature) = signature {
            builder = builder.header("stripe-signature", signature);
        }
        self.send(
            builder
                .body(Body::from(body.to_owned()))
                .expect("valid request"),
        )
        .await
    }

    /// The customer pays: the fake Stripe marks the PaymentIntent paid and
    /// its signed `payment_intent.succeeded` delivery reaches the webhook.
    pub async fn pay(&self, payment_intent_id: &str) -> Response {
        let delivery = self
            .stripe
            .succeed(payment_intent_id, self.clock_now().unix_timestamp())
            .expect("a PaymentIntent the fake Stripe made");
        self.deliver(&delivery.body, Some(&delivery.signature))
            .await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn request_magic_link(&self, email: &str) -> Response {
        self.post(
            "/v1/auth/magic-link",
            None,
            serde_json::json!({ "email": email }),
        )
        .await
    }

    /// Requests a link, reads it from the emulator's SES and returns its token.
    pub async fn magic_link_token(&self, email: &str) -> String {
        let before = sent_mail_to(email).await.len();
        let response = self.request_magic_link(email).await;
        assert_eq!(response.status, StatusCode::ACCEPTED, "{:?}", response.body);
        let mails = sent_mail_to(email).await;
        assert_eq!(mails.len(), before + 1, "exactly one new mail to {email}");
        token_in(mails.last().expect("a mail"))
    }

    pub async fn verify(&self, token: &str) -> Response {
        self.post(
            "/v1/auth/magic-link/verify",
            None,
            serde_json::json!({ "token": token }),
        )
        .await
    }

    pub async fn sign_in(&self, email: &str) -> Session {
        let token = self.magic_link_token(email).await;
        let response = self.verify(&token).await;
        assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
        session_from(&response.body)
    }

    /// A user with the given role, promoted by this app's developer.
    pub async fn user_with_role(&self, who: &str, role: &str) -> Session {
        let developer = self.sign_in(&self.developer_email()).await;
        let session = self.sign_in(&self.email(who)).await;
        let id = session.user["id"].as_str().expect("user id").to_owned();
        let response = self
            .call(
                Method::PUT,
                &format!("/v1/admin/users/{id}/role"),
                Some(&developer.access_token),
                Some(serde_json::json!({ "role": role })),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
        self.refresh(&session.refresh_token).await
    }

    /// `sign_in` for an address of this app, owning its arguments (for
    /// signing many users in concurrently).
    pub async fn sign_in_owned(&self, who: String) -> Session {
        self.sign_in(&self.email(&who)).await
    }

    /// What the app's clock says now.
    pub fn clock_now(&self) -> OffsetDateTime {
        use shared::clock::Clock;
        self.clock.now()
    }

    pub async fn refresh(&self, refresh_token: &str) -> Session {
        let response = self
            .post(
                "/v1/auth/refresh",
                None,
                serde_json::json!({ "refresh_token": refresh_token }),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
        session_from(&response.body)
    }
}

/// Does a stream record's item carry one of `ids` in a string attribute?
fn names_any(record: &aws_lambda_events::event::dynamodb::EventRecord, ids: &[&str]) -> bool {
    [&record.change.new_image, &record.change.old_image]
        .into_iter()
        .flat_map(|image| image.iter())
        .any(|(_, value)| match value {
            serde_dynamo::AttributeValue::S(text) => ids.iter().any(|id| text.contains(id)),
            _ => false,
        })
}

/// Every webhook endpoint receives every test's events of its types, and
/// the tests count what their receivers got: the tests that deliver hold
/// this for their whole run.
pub async fn webhook_lock() -> tokio::sync::MutexGuard<'static, ()> {
    static WEBHOOKS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    WEBHOOKS.lock().await
}

/// Sweeps act on every app's due items (they query the whole table), so
/// tests that sweep hold this for their whole run: one at a time, none can
/// take (or postpone) what another is about to check. Their apps start in
/// the past, so they never reach the items of tests running at present.
pub async fn sweep_lock() -> tokio::sync::MutexGuard<'static, ()> {
    static SWEEPS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SWEEPS.lock().await
}

/// The stack id of a test app: its own PaymentIntents carry it, so each
/// app acts only on its own payments.
pub fn stack_id(tag: &str) -> String {
    format!("test-{tag}")
}

/// A queue of the app's own, named after its tag.
/// A worker's SQS event source: batches of what `queue` has visible now
/// (never waiting), handed to `handle`, the messages it did not report
/// failed deleted, until the queue has nothing visible or `rounds` batches
/// ran. Messages a worker fails come back only after their visibility
/// timeout, so a failing message does not spin here. Returns how many
/// messages failed.
async fn drain<F, Fut>(queue: &Queue, rounds: usize, handle: F) -> usize
where
    F: Fn(SqsEvent) -> Fut,
    Fut: std::future::Future<Output = SqsBatchResponse>,
{
    let mut failed = 0;
    for _ in 0..rounds {
        let messages = queue.receive(0).await.expect("the queue answers");
        if messages.is_empty() {
            break;
        }
        let records: Vec<(&str, String)> = messages
            .iter()
            .map(|m| {
                (
                    m.message_id().unwrap_or_default(),
                    m.body().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let response = handle(sqs_event(&records)).await;
        for message in &messages {
            let id = message.message_id().unwrap_or_default();
            if response
                .batch_item_failures
                .iter()
                .any(|f| f.item_identifier == id)
            {
                failed += 1;
            } else {
                queue
                    .delete(message.receipt_handle().unwrap_or_default())
                    .await
                    .expect("a handled message is deleted");
            }
        }
    }
    failed
}

async fn app_queue(aws: &aws_config::SdkConfig, name: &str, tag: &str) -> String {
    aws_sdk_sqs::Client::new(aws)
        .create_queue()
        .queue_name(format!("{name}-{tag}"))
        .send()
        .await
        .expect("moto creates the app's queue")
        .queue_url
        .expect("queue url")
}

pub fn session_from(body: &Value) -> Session {
    Session {
        access_token: body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned(),
        refresh_token: body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_owned(),
        user: body["user"].clone(),
    }
}

/// Asserts an RFC 9457 problem answer with the given status and code.
pub fn assert_problem(response: &Response, status: StatusCode, code: &str) {
    assert_eq!(response.status, status, "{:?}", response.body);
    assert_eq!(
        response
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    assert_eq!(response.body["code"], code, "{:?}", response.body);
    assert_eq!(response.body["status"], status.as_u16());
    let request_id = response.body["request_id"].as_str().expect("request_id");
    assert!(!request_id.is_empty());
    assert_eq!(response.headers["x-request-id"], request_id);
}

/// Mail the emulator's SES accepted for `to`, oldest first.
pub async fn sent_mail_to(to: &str) -> Vec<Value> {
    let data = moto_state().await;
    data["ses"]["Message"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            m["destinations"]["ToAddresses"]
                .as_array()
                .is_some_and(|a| a.iter().any(|d| d == to))
        })
        .cloned()
        .collect()
}

/// The magic-link token in a sent mail.
pub fn token_in(mail: &Value) -> String {
    let body = mail["body"].as_str().expect("mail body");
    let start = body
        .find("/auth/verify?token=")
        .expect("verify link in mail")
        + "/auth/verify?token=".len();
    body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// moto's whole state as JSON (`GET /moto-api/data.json`). moto checks that
/// each attribute serializes, then serializes them all: an item added by
/// another test in between (a schedule, a message) fails the dump with a
/// 500, so a failed dump is asked for again.
async fn moto_state() -> Value {
    for _ in 0..10 {
        if let Some(state) = moto_state_once().await {
            return state;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("moto's data.json kept failing");
}

async fn moto_state_once() -> Option<Value> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let endpoint = env("AWS_ENDPOINT_URL");
    let authority = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .expect("moto reachable");
    let request = format!("GET /moto-api/data.json HTTP/1.0\r\nHost: {authority}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw);
    let (_, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    serde_json::from_str(body).ok()
}

/// A client on the test table, for checking what is stored.
pub async fn table() -> (aws_sdk_dynamodb::Client, String) {
    let aws = shared::state::load_aws().expect("AWS settings: make test sets them");
    (
        aws_sdk_dynamodb::Client::new(&aws),
        std::env::var("TABLE_NAME").expect("TABLE_NAME is set by make test"),
    )
}

/// Stored inventory shards of an event: shard number → (remaining, capacity).
/// Only shards a hold touched are stored (the others are full); they sit
/// in their group's GSI2 partition `PLACES#<event>#<group>`, at most 32
/// groups (domain::event::shard_group_count). Signed, so a negative count
/// would show rather than fail to parse.
pub async fn stored_shards(event_id: &str) -> BTreeMap<u32, (i64, i64)> {
    let (client, table) = table().await;
    let mut shards = BTreeMap::new();
    for group in 0..32 {
        let out = client
            .query()
            .table_name(&table)
            .index_name("GSI2")
            .key_condition_expression("GSI2PK = :pk")
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(format!("PLACES#{event_id}#{group}")),
            )
            .send()
            .await
            .unwrap();
        for item in out.items() {
            let number = |name: &str| item[name].as_n().unwrap().parse::<i64>().unwrap();
            shards.insert(
                number("shard") as u32,
                (number("remaining"), number("capacity")),
            );
        }
    }
    shards
}

/// Messages the emulator's SQS holds whose body names `booking_id`, oldest
/// first: (body, the delay it was sent with in whole seconds).
pub async fn sent_messages_about(booking_id: &str) -> Vec<(Value, i64)> {
    let data = moto_state().await;
    let mut messages: Vec<(i64, Value, i64)> = data["sqs"]["Message"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let body: Value = serde_json::from_str(m["body"].as_str()?).ok()?;
            (body["booking_id"] == booking_id).then_some(())?;
            let sent = m["sent_timestamp"].as_f64()?;
            let delay = m["delayed_until"]
                .as_f64()
                .map_or(0.0, |until| until - sent);
            Some((sent as i64, body, (delay / 1000.0).round() as i64))
        })
        .collect();
    messages.sort_by_key(|(sent, _, _)| *sent);
    messages
        .into_iter()
        .map(|(_, body, delay)| (body, delay))
        .collect()
}

/// An SQS event as Lambda delivers it: one record per (message id, body).
pub fn sqs_event(messages: &[(&str, String)]) -> aws_lambda_events::event::sqs::SqsEvent {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| serde_json::json!({ "messageId": id, "body": body }))
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).expect("an SQS event")
}

/// A plain HTTP GET over a socket (a presigned S3 link, say): status,
/// headers and body.
pub async fn http_get(url: &str) -> (StatusCode, HeaderMap, axum::body::Bytes) {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client: Client<_, http_body_util::Empty<axum::body::Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let response = client
        .get(url.parse().expect("a URL"))
        .await
        .expect("the GET is answered");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("a body").to_bytes();
    (parts.status, parts.headers, bytes)
}
