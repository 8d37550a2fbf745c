//! Outbound webhooks against a real local HTTP receiver: signed as the
//! Standard Webhooks specification says (checked by the receiver's own
//! implementation, not the deliverer's), retried under the same
//! `webhook-id`, failed after the last attempt and retryable by hand, and
//! never sent to an address production refuses.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use integration_tests::{Options, Session, TestApp, assert_problem, webhook_lock};
use serde_json::{Value, json};
use sha2::Sha256;
use shared::config::AppEnv;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Received {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// A webhook endpoint on a free port: answers each request with the next
/// status of its script (200 once the script is used up) and keeps what
/// it got.
#[derive(Clone)]
pub(crate) struct Receiver {
    pub(crate) url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub(crate) async fn start(script: &[u16]) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.to_vec()));
        let state = (received.clone(), script);
        let router = Router::new()
            .route("/hook", post(receive))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("a free port for the receiver");
        let url = format!("http://{}/hook", listener.local_addr().expect("bound"));
        tokio::spawn(axum::serve(listener, router).into_future());
        Self { url, received }
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.received.lock().expect("not poisoned").clone()
    }
}

type ReceiverState = (Arc<Mutex<Vec<Received>>>, Arc<Mutex<Vec<u16>>>);

async fn receive(
    State((received, script)): State<ReceiverState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    received
        .lock()
        .expect("not poisoned")
        .push(Received { headers, body });
    let mut script = script.lock().expect("not poisoned");
    let status = if script.is_empty() {
        200
    } else {
        script.remove(0)
    };
    StatusCode::from_u16(status).expect("a status code")
}

/// The receiver's check of a Standard Webhooks signature: HMAC-SHA256 of
/// `<id>.<timestamp>.<body>` keyed by the secret's base64-decoded bytes,
/// one of the space-separated `v1,<base64>` values.
pub(crate) fn verified(secret: &str, request: &Received) -> bool {
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(
        format!(
            "{}.{}.{}",
            header("webhook-id"),
            header("webhook-timestamp"),
            String::from_utf8_lossy(&request.body)
        )
        .as_bytes(),
    );
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    header("webhook-signature")
        .split(' ')
        .any(|signature| signature == expected)
}

async fn register(app: &TestApp, admin: &Session, url: &str, format: &str) -> Value {
    register_for(app, admin, url, format, &["booking.confirmed"]).await
}

pub(crate) async fn register_for(
    app: &TestApp,
    admin: &Session,
    url: &str,
    format: &str,
    events: &[&str],
) -> Value {
    let created = app
        .post(
            "/v1/admin/webhooks",
            Some(&admin.access_token),
            json!({ "url": url, "events": events, "format": format, "description": "ops" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    created.body
}

async fn ping(app: &TestApp, admin: &Session, endpoint: &str) {
    let sent = app
        .post(
            &format!("/v1/admin/webhooks/{endpoint}/test"),
            Some(&admin.access_token),
            json!({}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{:?}", sent.body);
}

pub(crate) async fn deliveries(app: &TestApp, admin: &Session, endpoint: &str) -> Vec<Value> {
    let listed = app
        .get(
            &format!("/v1/admin/webhooks/{endpoint}/deliveries"),
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    listed.body["items"].as_array().expect("items").clone()
}

/// Runs the deliverer until the endpoint's newest delivery is no longer
/// pending: the app's clock and the real one moved a retry step each
/// round, so every delayed attempt comes due.
pub(crate) async fn deliver_until_settled(app: &TestApp, admin: &Session, endpoint: &str) -> Value {
    for _ in 0..20 {
        app.run_webhook_deliverer(10).await;
        let newest = deliveries(app, admin, endpoint).await[0].clone();
        if newest["status"] != "pending" {
            return newest;
        }
        app.clock.advance(time::Duration::seconds(1));
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    panic!("the delivery never settled");
}

#[tokio::test]
async fn a_ping_reaches_a_standard_endpoint_once_correctly_signed() {
    let _webhooks = webhook_lock().await;
    let app = TestApp::spawn().await;
    let admin = app.user_with_role("hooks", "admin").await;
    let receiver = Receiver::start(&[]).await;
    let endpoint = register(&app, &admin, &receiver.url, "standard").await;
    let secret = endpoint["secret"].as_str().expect("a secret at creation");
    assert!(secret.starts_with("whsec_"), "{secret}");
    let id = endpoint["id"].as_str().unwrap();

    let listed = app
        .get("/v1/admin/webhooks", Some(&admin.access_token))
        .await;
    let mine = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .expect("listed")
        .clone();
    assert_eq!(mine["events"], json!(["booking.confirmed"]));
    assert!(mine.get("secret").is_none(), "the secret is shown once");

    ping(&app, &admin, id).await;
    let settled = deliver_until_settled(&app, &admin, id).await;
    assert_eq!(settled["status"], "delivered");
    assert_eq!(settled["attempts"], 1);
    assert_eq!(settled["last_status_code"], 200);
    assert_eq!(settled["event_type"], "ping");

    let received = receiver.received();
    assert_eq!(received.len(), 1, "delivered once");
    assert!(verified(secret, &received[0]), "{:?}", received[0].headers);
    assert_eq!(
        received[0].headers["webhook-id"],
        settled["id"].as_str().unwrap()
    );
    let body: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(body["type"], "ping");
    assert!(body["timestamp"].is_string() && body["data"].is_object());
    assert!(!verified(
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        &received[0]
    ));
}

#[tokio::test]
async fn an_endpoint_failing_three_times_gets_the_same_webhook_id_four_times() {
    let _webhooks = webhook_lock().await;
    let app = TestApp::spawn().await;
    let admin = app.user_with_role("hooks", "admin").await;
    let receiver = Receiver::start(&[500, 500, 500]).await;
    let endpoint = register(&app, &admin, &receiver.url, "standard").await;
    let id = endpoint["id"].as_str().unwrap();

    ping(&app, &admin, id).await;
    let settled = deliver_until_settled(&app, &admin, id).await;
    assert_eq!(settled["status"], "delivered");
    assert_eq!(settled["attempts"], 4);

    let ids: Vec<_> = receiver
        .received()
        .iter()
        .map(|r| r.headers["webhook-id"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    assert_eq!(ids[0], settled["id"].as_str().unwrap());
}

#[tokio::test]
async fn a_dead_endpoint_ends_failed_and_is_retried_by_hand() {
    let _webhooks = webhook_lock().await;
    let app = TestApp::spawn().await;
    let admin = app.user_with_role("hooks", "admin").await;
    // Four attempts (the test schedule), all refused; the manual retry is answered.
    let receiver = Receiver::start(&[503, 503, 503, 503]).await;
    let endpoint = register(&app, &admin, &receiver.url, "standard").await;
    let id = endpoint["id"].as_str().unwrap();

    ping(&app, &admin, id).await;
    let failed = deliver_until_settled(&app, &admin, id).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["attempts"], 4);
    assert_eq!(failed["last_status_code"], 503);
    assert!(failed.get("next_attempt_at").is_none());

    let delivery = failed["id"].as_str().unwrap();
    let retry = format!("/v1/admin/webhooks/{id}/deliveries/{delivery}/retry");
    let retried = app.post(&retry, Some(&admin.access_token), json!({})).await;
    assert_eq!(retried.status, StatusCode::ACCEPTED, "{:?}", retried.body);
    let delivered = deliver_until_settled(&app, &admin, id).await;
    assert_eq!(delivered["status"], "delivered");
    assert_eq!(delivered["attempts"], 5);
    assert_eq!(receiver.received().len(), 5);

    let again = app.post(&retry, Some(&admin.access_token), json!({})).await;
    assert_problem(&again, StatusCode::CONFLICT, "DELIVERY_NOT_FAILED");
}

#[tokio::test]
async fn an_unreachable_endpoint_ends_failed() {
    let _webhooks = webhook_lock().await;
    let app = TestApp::spawn().await;
    let admin = app.user_with_role("hooks", "admin").await;
    // A port that was free a moment ago: nothing listens there.
    let closed = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    let endpoint = register(&app, &admin, &url, "standard").await;
    let id = endpoint["id"].as_str().unwrap();

    ping(&app, &admin, id).await;
    let failed = deliver_until_settled(&app, &admin, id).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["attempts"], 4);
    assert!(failed.get("last_status_code").is_none());
}

#[tokio::test]
async fn a_discord_endpoint_gets_a_readable_unsigned_message() {
    let _webhooks = webhook_lock().await;
    let app = TestApp::spawn().await;
    let admin = app.user_with_role("hooks", "admin").await;
    let receiver = Receiver::start(&[]).await;
    let endpoint = register(&app, &admin, &receiver.url, "discord").await;
    assert!(endpoint.get("secret").is_none(), "Discord signs nothing");
    let id = endpoint["id"].as_str().unwrap();

    ping(&app, &admin, id).await;
    assert_eq!(
        deliver_until_settled(&app, &admin, id).await["status"],
        "delivered"
    );
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let body: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(body["content"], "Ping: this webhook endpoint is set up.");
    assert_eq!(body["embeds"][0]["title"], "ping");
    assert!(received[0].headers.get("webhook-signature").is_none());
}

#[tokio::test]
async fn a_deleted_endpoint_is_gone_and_gets_nothing_more() {
    let _webhooks = webhook_lock().await;
    let app = TestApp::spawn().await;
    let admin = app.user_with_role("hooks", "admin").await;
    let receiver = Receiver::start(&[]).await;
    let endpoint = register(&app, &admin, &receiver.url, "standard").await;
    let id = endpoint["id"].as_str().unwrap();
    ping(&app, &admin, id).await;

    let path = format!("/v1/admin/webhooks/{id}");
    let deleted = app
        .call(Method::DELETE, &path, Some(&admin.access_token), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{:?}", deleted.body);
    let again = app
        .call(Method::DELETE, &path, Some(&admin.access_token), None)
        .await;
    assert_problem(&again, StatusCode::NOT_FOUND, "NOT_FOUND");

    app.run_webhook_deliverer(10).await;
    assert!(receiver.received().is_empty());
    let gone = app
        .post(
            &format!("{path}/test"),
            Some(&admin.access_token),
            json!({}),
        )
        .await;
    assert_problem(&gone, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn bad_registrations_are_refused_with_the_field_named() {
    let _webhooks = webhook_lock().await;
    let app = TestApp::spawn().await;
    let admin = app.user_with_role("hooks", "admin").await;
    let user = app.user_with_role("nosy", "staff").await;
    let create = |token: String, body: Value| {
        let app = &app;
        async move { app.post("/v1/admin/webhooks", Some(&token), body).await }
    };
    let ok = json!({ "url": "http://127.0.0.1:9/h", "events": ["*"], "format": "standard" });
    let forbidden = create(user.access_token.clone(), ok.clone()).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);

    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "ftp://127.0.0.1/",
        "http://10.0.0.1/h",
    ] {
        let refused = create(
            admin.access_token.clone(),
            json!({ "url": url, "events": ["*"], "format": "standard" }),
        )
        .await;
        assert_problem(
            &refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "WEBHOOK_URL_REFUSED",
        );
    }
    let unknown = create(
        admin.access_token.clone(),
        json!({ "url": "http://127.0.0.1:9/h", "events": ["booking.paid"], "format": "standard" }),
    )
    .await;
    assert_problem(&unknown, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    let format = create(
        admin.access_token.clone(),
        json!({ "url": "http://127.0.0.1:9/h", "events": ["*"], "format": "slack" }),
    )
    .await;
    assert_eq!(format.status.as_u16() / 100, 4, "{:?}", format.body);
}

#[tokio::test]
async fn production_refuses_plain_http_and_private_addresses() {
    let _webhooks = webhook_lock().await;
    let app = TestApp::with(Options {
        env: Some(AppEnv::Production),
        ..Options::default()
    })
    .await;
    let admin = app.user_with_role("hooks", "admin").await;
    for url in [
        "http://hooks.example.com/in",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/",
        "https://192.168.0.10/hook",
    ] {
        let refused = app
            .post(
                "/v1/admin/webhooks",
                Some(&admin.access_token),
                json!({ "url": url, "events": ["*"], "format": "standard" }),
            )
            .await;
        assert_problem(
            &refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "WEBHOOK_URL_REFUSED",
        );
    }
}
