//! The HTTP face: Stripe's API routes (recorded, failure-injected,
//! idempotent) and the dev routes that play the customer and the dashboard.

use std::time::Instant;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{FromRequest, MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, request::Parts};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::failures::Failure;
use crate::idempotency::Seen;
use crate::ledger::Ledger;
use crate::params::{self, Params};
use crate::record::RecordedRequest;
use crate::webhook::{Delivery, deliver};
use crate::{FakeStripe, unix_now};

const BODY_LIMIT: usize = 1 << 20;

pub(crate) fn router(stripe: &FakeStripe) -> Router {
    let api = Router::new()
        .route("/v1/payment_intents", post(create_payment_intent))
        .route("/v1/payment_intents/{id}", get(retrieve_payment_intent))
        .route("/v1/refunds", post(create_refund))
        .layer(middleware::from_fn_with_state(
            stripe.clone(),
            record_and_inject,
        ));
    let dev = Router::new()
        .route(
            "/dev/stripe/payment_intents/{id}/succeed",
            post(succeed_and_deliver),
        )
        .route(
            "/dev/stripe/payment_intents/{id}/refund",
            post(refund_and_deliver),
        );
    api.merge(dev).with_state(stripe.clone())
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn decoded_params(parts: &Parts, body: &Bytes) -> Vec<(String, String)> {
    if parts.method == Method::GET {
        return Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map(|q| q.0)
            .unwrap_or_default();
    }
    let request = Request::from_parts(parts.clone(), Body::from(body.clone()));
    Form::<Vec<(String, String)>>::from_request(request, &())
        .await
        .map(|f| f.0)
        .unwrap_or_default()
}

/// Records every API call, then answers it with a 429 if it is over the
/// rate limits, else as the injected failure (if any) says.
async fn record_and_inject(
    State(stripe): State<FakeStripe>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, BODY_LIMIT).await else {
        return ApiError::invalid("The request body could not be read.").into_response();
    };
    let endpoint = format!(
        "{} {}",
        parts.method,
        parts
            .extensions
            .get::<MatchedPath>()
            .map_or(parts.uri.path(), MatchedPath::as_str)
    );
    let rate_limited = !stripe.inner.limiter.admit(&endpoint, Instant::now());
    let injected = if rate_limited {
        None
    } else {
        stripe.inner.failures.next(parts.uri.path())
    };
    let recorded = RecordedRequest {
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        idempotency_key: header(&parts.headers, "idempotency-key"),
        stripe_account: header(&parts.headers, "stripe-account"),
        params: decoded_params(&parts, &body).await,
        injected: injected.clone(),
        rate_limited,
    };
    stripe.inner.requests.lock().unwrap().push(recorded);
    if rate_limited {
        return ApiError::rate_limited().into_response();
    }
    let request = Request::from_parts(parts, Body::from(body));
    match injected {
        None => next.run(request).await,
        Some(Failure::ServerError) => ApiError::server_error().into_response(),
        Some(Failure::RateLimited) => ApiError::rate_limited().into_response(),
        Some(Failure::Stall(duration)) => {
            let response = next.run(request).await;
            tokio::time::sleep(duration).await;
            response
        }
        Some(Failure::ConnectionDrop) => {
            let (parts, _) = next.run(request).await.into_parts();
            let broken = futures::stream::once(async {
                Err::<Bytes, _>(std::io::Error::from(std::io::ErrorKind::ConnectionReset))
            });
            Response::from_parts(parts, Body::from_stream(broken))
        }
    }
}

fn authorized(headers: &HeaderMap) -> bool {
    header(headers, "authorization").is_some_and(|v| v.starts_with("Bearer sk_"))
}

/// A `POST` through Stripe's layers: the API key, then the idempotency key
/// (replay, or refuse the key for another request), then parameter
/// validation (refusals not stored), then the endpoint (its answer, success
/// or refusal, stored under the key).
fn idempotent_post<T>(
    stripe: &FakeStripe,
    headers: &HeaderMap,
    endpoint: &str,
    params: &Params,
    parse: impl FnOnce(&Params) -> Result<T, ApiError>,
    run: impl FnOnce(&mut Ledger, T) -> Result<Value, ApiError>,
) -> Response {
    if !authorized(headers) {
        return ApiError::unauthorized().into_response();
    }
    let key = header(headers, "idempotency-key");
    let mut state = stripe.inner.state.lock().unwrap();
    if let Some(key) = &key {
        match state.idempotency.seen(key, endpoint, params) {
            Seen::New => {}
            Seen::Replay(status, body) => {
                return (status, [("idempotent-replayed", "true")], Json(body)).into_response();
            }
            Seen::OtherRequest => return ApiError::idempotency(key).into_response(),
        }
    }
    let request = match parse(params) {
        Ok(request) => request,
        Err(refused) => return refused.into_response(),
    };
    let (status, body) = match run(&mut state.ledger, request) {
        Ok(object) => (StatusCode::OK, object),
        Err(refused) => (refused.status, refused.body()),
    };
    if let Some(key) = &key {
        state
            .idempotency
            .store(key, endpoint, params, status, body.clone());
    }
    (status, Json(body)).into_response()
}

async fn create_payment_intent(
    State(stripe): State<FakeStripe>,
    headers: HeaderMap,
    Form(params): Form<Vec<(String, String)>>,
) -> Response {
    idempotent_post(
        &stripe,
        &headers,
        "/v1/payment_intents",
        &params,
        params::new_intent,
        |ledger, intent| Ok(ledger.create_intent(intent, unix_now())),
    )
}

async fn retrieve_payment_intent(
    State(stripe): State<FakeStripe>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !authorized(&headers) {
        return ApiError::unauthorized().into_response();
    }
    match stripe.payment_intent(&id) {
        Some(intent) => Json(intent).into_response(),
        None => ApiError::missing("payment_intent", &id, "intent")
            .with_status(StatusCode::NOT_FOUND)
            .into_response(),
    }
}

async fn create_refund(
    State(stripe): State<FakeStripe>,
    headers: HeaderMap,
    Form(params): Form<Vec<(String, String)>>,
) -> Response {
    idempotent_post(
        &stripe,
        &headers,
        "/v1/refunds",
        &params,
        params::refund_request,
        |ledger, refund| ledger.refund(&refund, unix_now()),
    )
}

/// Dev only: "the customer paid". Delivers the signed
/// `payment_intent.succeeded` to the configured endpoint.
async fn succeed_and_deliver(State(stripe): State<FakeStripe>, Path(id): Path<String>) -> Response {
    let Some(delivery) = stripe.succeed(&id, unix_now()) else {
        return ApiError::missing("payment_intent", &id, "intent")
            .with_status(StatusCode::NOT_FOUND)
            .into_response();
    };
    deliver_to_webhook(&stripe, delivery, json!({})).await
}

/// Dev only: a refund made in the dashboard (`amount` optional: all that
/// remains). Delivers the signed `charge.refunded` to the configured
/// endpoint.
async fn refund_and_deliver(
    State(stripe): State<FakeStripe>,
    Path(id): Path<String>,
    Form(params): Form<Vec<(String, String)>>,
) -> Response {
    let amount = params
        .iter()
        .find(|(k, _)| k == "amount")
        .map(|(_, v)| v.parse::<i64>());
    let amount = match amount.transpose() {
        Ok(amount) => amount,
        Err(_) => return ApiError::invalid("amount must be an integer").into_response(),
    };
    let refund = match stripe.dashboard_refund(&id, amount) {
        Ok(refund) => refund,
        Err(refused) => return (StatusCode::BAD_REQUEST, Json(refused)).into_response(),
    };
    let Some(delivery) = stripe.refund_delivery(&id, unix_now()) else {
        return ApiError::missing("charge", &id, "payment_intent").into_response();
    };
    deliver_to_webhook(&stripe, delivery, json!({ "refund": refund })).await
}

/// POSTs the delivery to the webhook endpoint; reports the event (merged
/// into `report`) and what the endpoint answered.
async fn deliver_to_webhook(
    stripe: &FakeStripe,
    delivery: Delivery,
    mut report: Value,
) -> Response {
    let Some(url) = stripe.inner.webhook_url.as_deref() else {
        return ApiError::invalid("no webhook endpoint is configured")
            .with_status(StatusCode::CONFLICT)
            .into_response();
    };
    report["event"] = serde_json::from_str(&delivery.body).unwrap_or_default();
    match deliver(url, delivery).await {
        Ok(status) => {
            report["webhook_status"] = json!(status);
            Json(report).into_response()
        }
        Err(err) => {
            tracing::warn!(error = %err, url, "webhook delivery failed");
            ApiError::invalid(format!("delivering to {url} failed: {err}"))
                .with_status(StatusCode::BAD_GATEWAY)
                .into_response()
        }
    }
}
