//! Checkout against Stripe's rate limits: a 429 is retried briefly, then
//! answered 503 `PAYMENTS_BUSY` with `retry-after` while the hold stands;
//! however often a buyer comes back, a booking gets one PaymentIntent.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::StatusCode;
use fake_stripe::{Failure, RateLimits};
use futures::future::join_all;
use integration_tests::{Response, Session, TestApp, assert_problem};
use serde_json::json;

use crate::holds::{hold, published_event};
use crate::payments::{booking, checkout};

/// More creates at once than 2/s lets through within checkout's 1.5 s of
/// retries.
const AT_ONCE: usize = 10;
const CREATES_PER_SECOND: u32 = 2;

/// `n` buyers, each with a live hold of one seat of one event.
async fn holds(app: &TestApp, n: usize) -> Vec<(Session, String)> {
    let event = published_event(
        app,
        json!({ "mode": "open", "capacity": 50, "price_cents": 2500 }),
        10,
    )
    .await;
    let mut holds = Vec::new();
    for i in 0..n {
        let buyer = app.sign_in(&app.email(&format!("buyer{i}"))).await;
        let held = hold(app, &buyer, &event, json!({ "quantity": 1 })).await;
        assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
        let id = held.body["id"].as_str().unwrap().to_owned();
        holds.push((buyer, id));
    }
    holds
}

/// The `retry-after` of a `PAYMENTS_BUSY`, in seconds.
fn busy_retry_after(answer: &Response) -> u64 {
    assert_problem(answer, StatusCode::SERVICE_UNAVAILABLE, "PAYMENTS_BUSY");
    let secs = answer
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("PAYMENTS_BUSY carries retry-after in seconds");
    assert!((1..=2).contains(&secs), "retry-after {secs}");
    secs
}

/// PaymentIntents the fake made, by the booking in their metadata.
fn intents_per_booking(app: &TestApp) -> HashMap<String, usize> {
    app.stripe
        .payment_intents()
        .iter()
        .fold(HashMap::new(), |mut count, intent| {
            let booking = intent["metadata"]["booking_id"]
                .as_str()
                .unwrap_or_default();
            *count.entry(booking.to_owned()).or_insert(0) += 1;
            count
        })
}

#[tokio::test]
async fn a_burst_over_stripes_limit_is_paid_or_busy_and_coming_back_after_retry_after_pays_once() {
    let app = TestApp::spawn().await;
    let holds = holds(&app, AT_ONCE).await;
    app.stripe.set_rate_limits(Some(RateLimits {
        per_account: 100,
        per_endpoint: CREATES_PER_SECOND,
    }));

    let answers = join_all(holds.iter().map(|(buyer, id)| checkout(&app, buyer, id))).await;
    let mut busy = Vec::new();
    for ((buyer, id), answer) in holds.iter().zip(&answers) {
        if answer.status == StatusCode::OK {
            continue;
        }
        let retry_after = busy_retry_after(answer);
        let turned_away = booking(&app, buyer, id).await;
        assert_eq!(turned_away["status"], "held", "{id}: the hold stands");
        assert!(turned_away["payment_intent_id"].is_null(), "{id}");
        busy.push((buyer, id, retry_after));
    }
    // How many end busy depends on how the machine spreads the first tries
    // (usually some); that Stripe limited them, and some got through, does not.
    assert!(
        busy.len() < AT_ONCE,
        "{AT_ONCE} creates at {CREATES_PER_SECOND}/s within 1.5 s of retries: some are paid"
    );
    assert!(app.stripe.requests().iter().any(|r| r.rate_limited));

    // The buyers turned away come back as told, as many at once as Stripe
    // takes in a second.
    for returning in busy.chunks(CREATES_PER_SECOND as usize) {
        let wait = returning
            .iter()
            .map(|(_, _, secs)| *secs)
            .max()
            .unwrap_or(1);
        tokio::time::sleep(Duration::from_secs(wait)).await;
        let again = join_all(
            returning
                .iter()
                .map(|(buyer, id, _)| checkout(&app, buyer, id)),
        )
        .await;
        for answer in again {
            assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        }
    }

    let intents = intents_per_booking(&app);
    assert_eq!(intents.len(), AT_ONCE, "{intents:?}");
    for (buyer, id) in &holds {
        assert_eq!(intents.get(id), Some(&1), "{id}: one PaymentIntent");
        let paying = booking(&app, buyer, id).await;
        assert!(paying["payment_intent_id"].is_string(), "{paying:?}");
    }
}

#[tokio::test]
async fn two_rate_limited_creates_are_retried_within_the_budget_and_make_one_payment_intent() {
    let app = TestApp::spawn().await;
    let holds = holds(&app, 1).await;
    let (buyer, id) = &holds[0];
    app.stripe
        .fail_next_on("/v1/payment_intents", 2, Failure::RateLimited);

    let paid = checkout(&app, buyer, id).await;
    assert_eq!(paid.status, StatusCode::OK, "{:?}", paid.body);

    let creates: Vec<_> = app
        .stripe
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/payment_intents")
        .collect();
    let injected: Vec<_> = creates.iter().map(|r| r.injected.clone()).collect();
    assert_eq!(
        injected,
        [Some(Failure::RateLimited), Some(Failure::RateLimited), None]
    );
    assert!(
        creates
            .iter()
            .all(|r| r.idempotency_key == creates[0].idempotency_key),
        "every retry under the booking's key"
    );
    assert_eq!(intents_per_booking(&app).get(id.as_str()), Some(&1));
    assert_eq!(
        booking(&app, buyer, id).await["payment_intent_id"],
        paid.body["payment_intent_id"]
    );
}
