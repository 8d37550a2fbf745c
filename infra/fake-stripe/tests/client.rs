//! The fake through the client the platform uses (async-stripe rc.10, as in
//! shared/src/payments.rs), against a spawned server: every answer
//! deserializes, and injected failures reach the client as they would from
//! Stripe.

use std::collections::HashMap;
use std::time::Duration;

use fake_stripe::{Failure, FakeStripe};
use stripe::{
    ApiErrorsCode, ApiErrorsType, Client, ClientBuilder, IdempotencyKey, RequestStrategy,
    StripeError, StripeRequest,
};
use stripe_core::payment_intent::{
    CreatePaymentIntent, CreatePaymentIntentTransferData, RetrievePaymentIntent,
};
use stripe_core::refund::{CreateRefund, CreateRefundReason};

async fn spawned() -> (FakeStripe, String) {
    let stripe = FakeStripe::new("whsec_client_tests_secret", None);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, stripe.router()).into_future());
    (stripe, base)
}

fn client(base: &str, timeout: Duration) -> Client {
    ClientBuilder::new("sk_test_client")
        .url(base)
        .timeout(timeout)
        .build()
        .unwrap()
}

fn key(key: &str) -> RequestStrategy {
    RequestStrategy::Idempotent(IdempotencyKey::new(key).unwrap())
}

/// A paid destination charge of 50.00 with a 3.00 fee.
async fn paid_intent(stripe: &FakeStripe, client: &Client) -> String {
    let intent = CreatePaymentIntent::new(5_000, stripe_types::Currency::EUR)
        .metadata(HashMap::from([("booking_id".to_owned(), "b1".to_owned())]))
        .transfer_data(CreatePaymentIntentTransferData::new("acct_1"))
        .application_fee_amount(300)
        .send(client)
        .await
        .unwrap();
    stripe.succeed(intent.id.as_str(), 1).unwrap();
    intent.id.to_string()
}

fn refund(intent: &str) -> CreateRefund {
    CreateRefund::new().payment_intent(intent)
}

fn stripe_error(err: StripeError) -> (u16, ApiErrorsType, Option<ApiErrorsCode>) {
    match err {
        StripeError::Stripe(error, status) => (status, error.type_, error.code),
        other => panic!("not an error from Stripe: {other}"),
    }
}

#[tokio::test]
async fn async_stripe_reads_every_object_and_refusal_the_fake_answers() {
    let (stripe, base) = spawned().await;
    let client = client(&base, Duration::from_secs(5));
    let intent = paid_intent(&stripe, &client).await;
    let read = RetrievePaymentIntent::new(intent.as_str())
        .send(&client)
        .await
        .unwrap();
    assert_eq!(read.amount_received, 5_000);
    let charge = read.latest_charge.unwrap();

    let partial = refund(&intent)
        .amount(1_500)
        .reason(CreateRefundReason::RequestedByCustomer)
        .reverse_transfer(true)
        .refund_application_fee(true)
        .metadata(HashMap::from([("booking_id".to_owned(), "b1".to_owned())]))
        .send(&client)
        .await
        .unwrap();
    assert_eq!(partial.amount, 1_500);
    assert_eq!(partial.charge.unwrap().id(), charge.id());
    assert!(partial.transfer_reversal.is_some());

    let too_much = refund(&intent)
        .amount(3_501)
        .send(&client)
        .await
        .unwrap_err();
    assert_eq!(
        stripe_error(too_much),
        (
            400,
            ApiErrorsType::InvalidRequestError,
            Some(ApiErrorsCode::AmountTooLarge)
        )
    );
    let rest = refund(&intent).send(&client).await.unwrap();
    assert_eq!(rest.amount, 3_500);
    let again = refund(&intent).send(&client).await.unwrap_err();
    assert_eq!(
        stripe_error(again),
        (
            400,
            ApiErrorsType::InvalidRequestError,
            Some(ApiErrorsCode::ChargeAlreadyRefunded)
        )
    );

    let charge: stripe_core::Charge =
        serde_json::from_value(stripe.charge(&intent).unwrap()).unwrap();
    assert_eq!((charge.amount_refunded, charge.refunded), (5_000, true));
}

#[tokio::test]
async fn injected_server_errors_and_rate_limits_reach_the_client_as_stripes() {
    let (stripe, base) = spawned().await;
    let client = client(&base, Duration::from_secs(5));
    let intent = paid_intent(&stripe, &client).await;
    stripe.fail_next_on("/v1/refunds", 1, Failure::ServerError);
    stripe.fail_next_on("/v1/refunds", 1, Failure::RateLimited);
    let server_error = refund(&intent).send(&client).await.unwrap_err();
    assert_eq!(
        stripe_error(server_error),
        (500, ApiErrorsType::ApiError, None)
    );
    let limited = refund(&intent).send(&client).await.unwrap_err();
    assert_eq!(
        stripe_error(limited),
        (
            429,
            ApiErrorsType::InvalidRequestError,
            Some(ApiErrorsCode::RateLimit)
        )
    );
    assert!(stripe.refunds().is_empty());
}

#[tokio::test]
async fn a_stalled_refund_trips_the_client_timeout_yet_the_refund_stands() {
    let (stripe, base) = spawned().await;
    let client = client(&base, Duration::from_millis(200));
    let intent = paid_intent(&stripe, &client).await;
    stripe.fail_next_on("/v1/refunds", 1, Failure::Stall(Duration::MAX));
    let timed_out = refund(&intent)
        .customize()
        .request_strategy(key("refund-stalled"))
        .send(&client)
        .await
        .unwrap_err();
    assert!(matches!(timed_out, StripeError::Timeout), "{timed_out}");
    let [made] = stripe.refunds().try_into().unwrap();
    let retried = refund(&intent)
        .customize()
        .request_strategy(key("refund-stalled"))
        .send(&client)
        .await
        .unwrap();
    assert_eq!(retried.id.as_str(), made["id"]);
}

#[tokio::test]
async fn a_dropped_connection_loses_the_answer_not_the_refund() {
    let (stripe, base) = spawned().await;
    let client = client(&base, Duration::from_secs(5));
    let intent = paid_intent(&stripe, &client).await;
    stripe.fail_next(1, Failure::ConnectionDrop);
    let dropped = refund(&intent)
        .customize()
        .request_strategy(key("refund-dropped"))
        .send(&client)
        .await
        .unwrap_err();
    assert!(matches!(dropped, StripeError::ClientError(_)), "{dropped}");
    let retried = refund(&intent)
        .customize()
        .request_strategy(key("refund-dropped"))
        .send(&client)
        .await
        .unwrap();
    assert_eq!(stripe.refunds().len(), 1);
    assert_eq!(retried.id.as_str(), stripe.refunds()[0]["id"]);
}
