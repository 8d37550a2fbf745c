//! The fake's API through its router, without a socket.

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use fake_stripe::{Failure, FakeStripe, RateLimits};
use serde_json::Value;
use shared::domain::payment::verify_signature;
use tower::ServiceExt;

const SECRET: &str = "whsec_router_tests_secret";

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

async fn call(
    router: &Router,
    method: Method,
    path: &str,
    key: Option<&str>,
    form: &str,
) -> Answer {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", "Bearer sk_test_router")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("stripe-account", "acct_connected");
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::from(form.to_owned())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

async fn post(router: &Router, path: &str, key: Option<&str>, form: &str) -> Answer {
    call(router, Method::POST, path, key, form).await
}

/// A paid PaymentIntent of 50.00, a destination charge when `destination`.
async fn paid_intent(stripe: &FakeStripe, destination: bool) -> String {
    let mut form = "amount=5000&currency=eur&metadata[booking_id]=b1".to_owned();
    if destination {
        form.push_str("&transfer_data[destination]=acct_1&application_fee_amount=300");
    }
    let created = post(&stripe.router(), "/v1/payment_intents", None, &form).await;
    assert_eq!(created.status, StatusCode::OK, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    stripe.succeed(&id, 1).unwrap();
    id
}

fn code(answer: &Answer) -> &str {
    answer.body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn a_refund_call_is_recorded_as_sent() {
    let stripe = FakeStripe::new(SECRET, None);
    let intent = paid_intent(&stripe, true).await;
    let form = format!(
        "payment_intent={intent}&amount=1000&reverse_transfer=true&refund_application_fee=true&metadata[booking_id]=b1"
    );
    let refund = post(&stripe.router(), "/v1/refunds", Some("refund-b1"), &form).await;
    assert_eq!(refund.status, StatusCode::OK, "{:?}", refund.body);

    let [sent] = stripe.refund_requests().try_into().unwrap();
    assert_eq!(sent.method, Method::POST);
    assert_eq!(sent.idempotency_key.as_deref(), Some("refund-b1"));
    assert_eq!(sent.stripe_account.as_deref(), Some("acct_connected"));
    assert_eq!(sent.param("reverse_transfer"), Some("true"));
    assert_eq!(sent.param("metadata[booking_id]"), Some("b1"));
    assert_eq!(sent.injected, None);
    assert_eq!(
        stripe.requests().len(),
        2,
        "the PaymentIntent's creation too"
    );
}

#[tokio::test]
async fn the_same_key_and_parameters_replay_the_first_refund() {
    let stripe = FakeStripe::new(SECRET, None);
    let intent = paid_intent(&stripe, false).await;
    let form = format!("payment_intent={intent}&amount=1000");
    let first = post(&stripe.router(), "/v1/refunds", Some("k1"), &form).await;
    let again = post(&stripe.router(), "/v1/refunds", Some("k1"), &form).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(stripe.refunds().len(), 1);
    assert_eq!(stripe.charge(&intent).unwrap()["amount_refunded"], 1000);
}

#[tokio::test]
async fn a_refusal_is_replayed_under_its_key_even_once_the_charge_exists() {
    let stripe = FakeStripe::new(SECRET, None);
    let created = post(
        &stripe.router(),
        "/v1/payment_intents",
        None,
        "amount=100&currency=eur",
    )
    .await;
    let intent = created.body["id"].as_str().unwrap().to_owned();
    let form = format!("payment_intent={intent}");
    let refused = post(&stripe.router(), "/v1/refunds", Some("k2"), &form).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.body["error"]["type"], "invalid_request_error");
    stripe.succeed(&intent, 1).unwrap();
    let again = post(&stripe.router(), "/v1/refunds", Some("k2"), &form).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.body, refused.body);
    let fresh = post(&stripe.router(), "/v1/refunds", Some("k3"), &form).await;
    assert_eq!(fresh.status, StatusCode::OK, "{:?}", fresh.body);
}

#[tokio::test]
async fn the_same_key_with_other_parameters_is_an_idempotency_error() {
    let stripe = FakeStripe::new(SECRET, None);
    let intent = paid_intent(&stripe, false).await;
    let router = stripe.router();
    post(
        &router,
        "/v1/refunds",
        Some("k"),
        &format!("payment_intent={intent}&amount=100"),
    )
    .await;
    let other = post(
        &router,
        "/v1/refunds",
        Some("k"),
        &format!("payment_intent={intent}&amount=200"),
    )
    .await;
    assert_eq!(other.status, StatusCode::BAD_REQUEST);
    assert_eq!(other.body["error"]["type"], "idempotency_error");
    assert_eq!(stripe.refunds().len(), 1);
}

#[tokio::test]
async fn malformed_parameters_are_not_stored_under_the_key() {
    let stripe = FakeStripe::new(SECRET, None);
    let intent = paid_intent(&stripe, false).await;
    let router = stripe.router();
    let bad = post(
        &router,
        "/v1/refunds",
        Some("k"),
        &format!("payment_intent={intent}&amount=-5"),
    )
    .await;
    assert_eq!(code(&bad), "parameter_invalid_integer");
    let good = post(
        &router,
        "/v1/refunds",
        Some("k"),
        &format!("payment_intent={intent}"),
    )
    .await;
    assert_eq!(good.status, StatusCode::OK, "{:?}", good.body);
}

#[tokio::test]
async fn nothing_left_to_refund_and_too_much_are_refused_with_stripes_codes() {
    let stripe = FakeStripe::new(SECRET, None);
    let intent = paid_intent(&stripe, false).await;
    let router = stripe.router();
    let too_much = post(
        &router,
        "/v1/refunds",
        None,
        &format!("payment_intent={intent}&amount=5001"),
    )
    .await;
    assert_eq!(
        (too_much.status, code(&too_much)),
        (StatusCode::BAD_REQUEST, "amount_too_large")
    );
    post(
        &router,
        "/v1/refunds",
        None,
        &format!("payment_intent={intent}"),
    )
    .await;
    let again = post(
        &router,
        "/v1/refunds",
        None,
        &format!("payment_intent={intent}"),
    )
    .await;
    assert_eq!(
        (again.status, code(&again)),
        (StatusCode::BAD_REQUEST, "charge_already_refunded")
    );
}

#[tokio::test]
async fn an_injected_server_error_changes_nothing_and_is_not_stored_under_the_key() {
    let stripe = FakeStripe::new(SECRET, None);
    let intent = paid_intent(&stripe, false).await;
    stripe.fail_next(1, Failure::ServerError);
    let form = format!("payment_intent={intent}");
    let failed = post(&stripe.router(), "/v1/refunds", Some("k"), &form).await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(failed.body["error"]["type"], "api_error");
    assert!(stripe.refunds().is_empty());
    let retried = post(&stripe.router(), "/v1/refunds", Some("k"), &form).await;
    assert_eq!(retried.status, StatusCode::OK, "{:?}", retried.body);
    let injected: Vec<_> = stripe
        .refund_requests()
        .into_iter()
        .map(|r| r.injected)
        .collect();
    assert_eq!(injected, [Some(Failure::ServerError), None]);
}

#[tokio::test]
async fn a_rate_limited_call_gets_429_rate_limit_and_changes_nothing() {
    let stripe = FakeStripe::new(SECRET, None);
    let intent = paid_intent(&stripe, false).await;
    stripe.fail_next_on("/v1/refunds", 1, Failure::RateLimited);
    let router = stripe.router();
    let intent_read = call(
        &router,
        Method::GET,
        &format!("/v1/payment_intents/{intent}"),
        None,
        "",
    )
    .await;
    assert_eq!(
        intent_read.status,
        StatusCode::OK,
        "other endpoints are not limited"
    );
    let limited = post(
        &router,
        "/v1/refunds",
        Some("k"),
        &format!("payment_intent={intent}"),
    )
    .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(code(&limited), "rate_limit");
    assert!(stripe.refunds().is_empty());
}

/// `n` PaymentIntent creates, each under its own key: what they answered.
async fn create_intents(router: &Router, n: usize) -> Vec<Answer> {
    let mut answers = Vec::new();
    for i in 0..n {
        let form = format!("amount=5000&currency=eur&metadata[booking_id]=b{i}");
        answers.push(post(router, "/v1/payment_intents", Some(&format!("k{i}")), &form).await);
    }
    answers
}

#[tokio::test]
async fn the_26th_create_within_a_second_is_a_429_that_creates_nothing() {
    let stripe = FakeStripe::new(SECRET, None).with_rate_limits(RateLimits::LIVE);
    let answers = create_intents(&stripe.router(), 26).await;
    let statuses: Vec<_> = answers.iter().map(|a| a.status).collect();
    assert!(
        statuses[..25].iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(statuses[25], StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(code(&answers[25]), "rate_limit");
    assert_eq!(answers[25].body["error"]["type"], "invalid_request_error");
    assert_eq!(stripe.payment_intents().len(), 25);
    let recorded = stripe.requests();
    assert_eq!(recorded.len(), 26);
    assert_eq!(
        recorded.iter().filter(|r| r.rate_limited).count(),
        1,
        "the refused call is recorded as rate limited"
    );
    assert!(recorded[25].rate_limited && recorded[25].injected.is_none());
}

#[tokio::test]
async fn a_rate_limited_create_is_not_stored_under_its_key() {
    let stripe = FakeStripe::new(SECRET, None).with_rate_limits(RateLimits {
        per_account: 100,
        per_endpoint: 1,
    });
    let router = stripe.router();
    let form = "amount=5000&currency=eur&metadata[booking_id]=b1";
    let first = post(&router, "/v1/payment_intents", Some("a"), form).await;
    let limited = post(&router, "/v1/payment_intents", Some("b"), form).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    tokio::time::sleep(std::time::Duration::from_millis(1_050)).await;
    let retried = post(&router, "/v1/payment_intents", Some("b"), form).await;
    assert_eq!(retried.status, StatusCode::OK, "{:?}", retried.body);
    assert_eq!(retried.headers.get("idempotent-replayed"), None);
    assert_ne!(retried.body["id"], first.body["id"]);
}

#[tokio::test]
async fn refunds_have_their_own_endpoint_budget() {
    let stripe = FakeStripe::new(SECRET, None);
    let intent = paid_intent(&stripe, false).await;
    stripe.set_rate_limits(Some(RateLimits {
        per_account: 100,
        per_endpoint: 2,
    }));
    let router = stripe.router();
    let creates = create_intents(&router, 3).await;
    assert_eq!(creates[2].status, StatusCode::TOO_MANY_REQUESTS);
    let refund = post(
        &router,
        "/v1/refunds",
        Some("r"),
        &format!("payment_intent={intent}"),
    )
    .await;
    assert_eq!(refund.status, StatusCode::OK, "{:?}", refund.body);
    assert_eq!(stripe.refunds().len(), 1);
}

#[tokio::test]
async fn a_rate_limited_call_uses_up_no_injected_failure() {
    let stripe = FakeStripe::new(SECRET, None).with_rate_limits(RateLimits {
        per_account: 1,
        per_endpoint: 1,
    });
    let router = stripe.router();
    stripe.fail_next_on("/v1/payment_intents", 1, Failure::ServerError);
    create_intents(&router, 2).await;
    stripe.set_rate_limits(None);
    let third = create_intents(&router, 1).await;
    let injected: Vec<_> = stripe.requests().into_iter().map(|r| r.injected).collect();
    assert_eq!(injected, [Some(Failure::ServerError), None, None]);
    assert_eq!(third[0].status, StatusCode::OK);
}

#[tokio::test]
async fn the_dev_routes_are_neither_failed_nor_recorded() {
    let stripe = FakeStripe::new(SECRET, None);
    let created = post(
        &stripe.router(),
        "/v1/payment_intents",
        None,
        "amount=100&currency=eur",
    )
    .await;
    let intent = created.body["id"].as_str().unwrap();
    stripe.fail_next(1, Failure::ServerError);
    let paid = post(
        &stripe.router(),
        &format!("/dev/stripe/payment_intents/{intent}/succeed"),
        None,
        "",
    )
    .await;
    assert_eq!(
        paid.status,
        StatusCode::CONFLICT,
        "no webhook endpoint, but paid"
    );
    assert_eq!(
        stripe.payment_intent(intent).unwrap()["status"],
        "succeeded"
    );
    assert_eq!(stripe.requests().len(), 1);
    let failed = call(
        &stripe.router(),
        Method::GET,
        &format!("/v1/payment_intents/{intent}"),
        None,
        "",
    )
    .await;
    assert_eq!(
        failed.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "the plan waited for an API call"
    );
}

#[tokio::test]
async fn a_partial_refund_is_delivered_as_a_charge_not_yet_refunded() {
    let stripe = FakeStripe::new(SECRET, None);
    let intent = paid_intent(&stripe, false).await;
    assert!(
        stripe.refund_delivery(&intent, 1).is_none(),
        "nothing refunded yet"
    );
    stripe.dashboard_refund(&intent, Some(1500)).unwrap();
    let delivery = stripe.refund_delivery(&intent, 1_800_000_000).unwrap();
    assert_eq!(
        verify_signature(
            &delivery.signature,
            delivery.body.as_bytes(),
            SECRET.as_bytes(),
            1_800_000_000
        ),
        Ok(())
    );
    let event: Value = serde_json::from_str(&delivery.body).unwrap();
    assert_eq!(event["type"], "charge.refunded");
    let charge = &event["data"]["object"];
    assert_eq!(charge["object"], "charge");
    assert_eq!(
        charge["id"],
        stripe.payment_intent(&intent).unwrap()["latest_charge"]
    );
    assert_eq!(charge["payment_intent"], intent.as_str());
    assert_eq!(
        (
            charge["amount"].as_i64(),
            charge["amount_refunded"].as_i64()
        ),
        (Some(5000), Some(1500))
    );
    assert_eq!(charge["refunded"], false);
    assert_eq!(charge["metadata"]["booking_id"], "b1");

    stripe.dashboard_refund(&intent, None).unwrap();
    let delivery = stripe.refund_delivery(&intent, 1_800_000_000).unwrap();
    let event: Value = serde_json::from_str(&delivery.body).unwrap();
    assert_eq!(event["data"]["object"]["refunded"], true);
}

#[tokio::test]
async fn a_call_without_a_secret_key_is_refused() {
    let stripe = FakeStripe::new(SECRET, None);
    let request = Request::post("/v1/refunds")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("payment_intent=pi_1"))
        .unwrap();
    let response = stripe.router().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_dashboard_refund_on_the_dev_route_delivers_charge_refunded_to_the_webhook() {
    let (sent, mut received) = tokio::sync::mpsc::unbounded_channel::<(HeaderMap, String)>();
    let webhook = Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| async move {
            sent.send((headers, body)).unwrap();
            StatusCode::OK
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, webhook).into_future());
    let stripe = FakeStripe::new(SECRET, Some(url));
    let intent = paid_intent(&stripe, false).await;

    let path = format!("/dev/stripe/payment_intents/{intent}/refund");
    let answer = post(&stripe.router(), &path, None, "amount=1000").await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.body["webhook_status"], 200);
    assert_eq!(answer.body["refund"]["amount"], 1000);

    let (headers, body) = received.recv().await.unwrap();
    let signature = headers["stripe-signature"].to_str().unwrap();
    let signed_at = signature[2..].split(',').next().unwrap().parse().unwrap();
    assert_eq!(
        verify_signature(signature, body.as_bytes(), SECRET.as_bytes(), signed_at),
        Ok(())
    );
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["type"], "charge.refunded");
    assert_eq!(event["data"]["object"]["amount_refunded"], 1000);
    assert!(
        stripe.refund_requests().is_empty(),
        "the dashboard is not an API call"
    );

    let too_much = post(&stripe.router(), &path, None, "amount=4001").await;
    assert_eq!(code(&too_much), "amount_too_large");
}
