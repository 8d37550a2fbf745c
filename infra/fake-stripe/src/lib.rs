//! A fake Stripe for the local stack and the tests: exactly the endpoints
//! the platform calls (create and retrieve a PaymentIntent, create a Refund),
//! with Stripe's idempotency-key semantics, plus a dev-only route that
//! completes a payment and delivers a correctly signed
//! `payment_intent.succeeded` webhook. Responses carry every field
//! async-stripe requires. State lives in memory; never deployed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use shared::domain::payment::signature_header;

#[derive(Clone)]
pub struct FakeStripe {
    ledger: Arc<Mutex<Ledger>>,
    webhook_secret: Arc<str>,
    /// Where the dev route delivers webhooks; none in tests, which post the
    /// signed deliveries through the router themselves.
    webhook_url: Option<Arc<str>>,
}

#[derive(Default)]
struct Ledger {
    payment_intents: HashMap<String, Value>,
    refunds: Vec<Value>,
    /// Idempotency key → (request parameters, response), like Stripe.
    idempotent: HashMap<String, (Vec<(String, String)>, Value)>,
}

impl Ledger {
    /// Unique across fakes and runs, like Stripe's ids: tests share a table.
    fn id(&mut self, prefix: &str) -> String {
        format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
    }
}

/// A signed delivery, as Stripe would POST it.
pub struct Delivery {
    pub body: String,
    pub signature: String,
}

impl FakeStripe {
    pub fn new(webhook_secret: &str, webhook_url: Option<String>) -> Self {
        Self {
            ledger: Arc::default(),
            webhook_secret: Arc::from(webhook_secret),
            webhook_url: webhook_url.map(Arc::from),
        }
    }

    /// Stripe's API (`/v1/...`) and the dev route (`/dev/stripe/...`).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/payment_intents", post(create_payment_intent))
            .route("/v1/payment_intents/{id}", get(retrieve_payment_intent))
            .route("/v1/refunds", post(create_refund))
            .route(
                "/dev/stripe/payment_intents/{id}/succeed",
                post(succeed_and_deliver),
            )
            .with_state(self.clone())
    }

    pub fn payment_intent(&self, id: &str) -> Option<Value> {
        self.ledger.lock().unwrap().payment_intents.get(id).cloned()
    }

    pub fn refunds(&self) -> Vec<Value> {
        self.ledger.lock().unwrap().refunds.clone()
    }

    /// Marks the PaymentIntent paid and returns the signed
    /// `payment_intent.succeeded` delivery, timestamped `signed_at`.
    pub fn succeed(&self, payment_intent_id: &str, signed_at: i64) -> Option<Delivery> {
        let mut ledger = self.ledger.lock().unwrap();
        let intent = ledger.payment_intents.get_mut(payment_intent_id)?;
        intent["status"] = json!("succeeded");
        intent["amount_received"] = intent["amount"].clone();
        let intent = intent.clone();
        let event_id = ledger.id("evt");
        Some(self.delivery(&event_id, "payment_intent.succeeded", intent, signed_at))
    }

    /// Any event, signed like Stripe signs it.
    pub fn delivery(&self, event_id: &str, kind: &str, object: Value, signed_at: i64) -> Delivery {
        let body = json!({
            "id": event_id,
            "object": "event",
            "api_version": "2025-03-31.basil",
            "created": signed_at,
            "livemode": false,
            "pending_webhooks": 1,
            "type": kind,
            "data": { "object": object },
        })
        .to_string();
        let signature =
            signature_header(self.webhook_secret.as_bytes(), signed_at, body.as_bytes());
        Delivery { body, signature }
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn stripe_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({ "error": { "type": "invalid_request_error", "message": message } })),
    )
        .into_response()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The `metadata[key]` parameters as an object.
fn metadata(params: &[(String, String)]) -> Value {
    let entries = params.iter().filter_map(|(k, v)| {
        let key = k.strip_prefix("metadata[")?.strip_suffix(']')?;
        Some((key.to_owned(), Value::String(v.clone())))
    });
    Value::Object(entries.collect())
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer sk_"))
}

/// Replays the first answer for a repeated key with the same parameters,
/// refuses the key with other parameters, as Stripe does.
fn idempotent(
    stripe: &FakeStripe,
    headers: &HeaderMap,
    params: &[(String, String)],
    create: impl FnOnce(&mut Ledger) -> Result<Value, (StatusCode, String)>,
) -> Response {
    if !authorized(headers) {
        return stripe_error(StatusCode::UNAUTHORIZED, "Invalid API Key provided");
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut ledger = stripe.ledger.lock().unwrap();
    let mut sorted = params.to_vec();
    sorted.sort();
    if let Some((earlier, answer)) = key.as_ref().and_then(|k| ledger.idempotent.get(k)) {
        return if *earlier == sorted {
            Json(answer.clone()).into_response()
        } else {
            stripe_error(
                StatusCode::BAD_REQUEST,
                "Keys for idempotent requests can only be used with the same parameters they were first used with.",
            )
        };
    }
    match create(&mut ledger) {
        Ok(answer) => {
            if let Some(key) = key {
                ledger.idempotent.insert(key, (sorted, answer.clone()));
            }
            Json(answer).into_response()
        }
        Err((status, message)) => stripe_error(status, &message),
    }
}

async fn create_payment_intent(
    State(stripe): State<FakeStripe>,
    headers: HeaderMap,
    Form(params): Form<Vec<(String, String)>>,
) -> Response {
    let amount = param(&params, "amount").and_then(|a| a.parse::<i64>().ok());
    let currency = param(&params, "currency").map(str::to_lowercase);
    let (Some(amount), Some(currency)) = (amount.filter(|a| *a > 0), currency) else {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "amount (positive) and currency are required",
        );
    };
    let fee = param(&params, "application_fee_amount").and_then(|f| f.parse::<i64>().ok());
    let destination = param(&params, "transfer_data[destination]").map(str::to_owned);
    let metadata = metadata(&params);
    idempotent(&stripe, &headers, &params, |ledger| {
        let id = ledger.id("pi");
        let intent = json!({
            "id": id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "application_fee_amount": fee,
            "capture_method": "automatic",
            "client_secret": format!("{id}_secret_fake"),
            "confirmation_method": "automatic",
            "created": unix_now(),
            "currency": currency,
            "livemode": false,
            "metadata": metadata,
            "payment_method_types": ["card"],
            "status": "requires_payment_method",
            "transfer_data": destination.map(|d| json!({ "destination": d })),
        });
        ledger.payment_intents.insert(id, intent.clone());
        Ok(intent)
    })
}

async fn retrieve_payment_intent(
    State(stripe): State<FakeStripe>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !authorized(&headers) {
        return stripe_error(StatusCode::UNAUTHORIZED, "Invalid API Key provided");
    }
    match stripe.payment_intent(&id) {
        Some(intent) => Json(intent).into_response(),
        None => stripe_error(
            StatusCode::NOT_FOUND,
            &format!("No such payment_intent: '{id}'"),
        ),
    }
}

async fn create_refund(
    State(stripe): State<FakeStripe>,
    headers: HeaderMap,
    Form(params): Form<Vec<(String, String)>>,
) -> Response {
    let Some(intent_id) = param(&params, "payment_intent").map(str::to_owned) else {
        return stripe_error(StatusCode::BAD_REQUEST, "payment_intent is required");
    };
    let metadata = metadata(&params);
    idempotent(&stripe, &headers, &params, |ledger| {
        let Some(intent) = ledger.payment_intents.get(&intent_id).cloned() else {
            return Err((
                StatusCode::BAD_REQUEST,
                format!("No such payment_intent: '{intent_id}'"),
            ));
        };
        if intent["status"] != "succeeded" {
            return Err((
                StatusCode::BAD_REQUEST,
                "This PaymentIntent does not have a successful charge to refund.".into(),
            ));
        }
        let refund = json!({
            "id": ledger.id("re"),
            "object": "refund",
            "amount": intent["amount"],
            "created": unix_now(),
            "currency": intent["currency"],
            "metadata": metadata,
            "payment_intent": intent_id,
            "status": "succeeded",
        });
        ledger.refunds.push(refund.clone());
        Ok(refund)
    })
}

/// Dev only: "the customer paid". Delivers the signed webhook to the
/// configured endpoint and reports what it answered.
async fn succeed_and_deliver(State(stripe): State<FakeStripe>, Path(id): Path<String>) -> Response {
    let Some(delivery) = stripe.succeed(&id, unix_now()) else {
        return stripe_error(
            StatusCode::NOT_FOUND,
            &format!("No such payment_intent: '{id}'"),
        );
    };
    let Some(url) = stripe.webhook_url.as_deref() else {
        return stripe_error(StatusCode::CONFLICT, "no webhook endpoint is configured");
    };
    let event: Value = serde_json::from_str(&delivery.body).unwrap_or_default();
    let request = Request::builder()
        .method(Method::POST)
        .uri(url)
        .header(header::CONTENT_TYPE, "application/json")
        .header("stripe-signature", &delivery.signature)
        .body(Full::new(Bytes::from(delivery.body)));
    let client = Client::builder(TokioExecutor::new()).build_http();
    let answer = match request {
        Ok(request) => client.request(request).await.map(|r| r.status().as_u16()),
        Err(err) => return stripe_error(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
    };
    match answer {
        Ok(status) => Json(json!({ "event": event, "webhook_status": status })).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, url, "webhook delivery failed");
            stripe_error(
                StatusCode::BAD_GATEWAY,
                &format!("delivering to {url} failed: {err}"),
            )
        }
    }
}
