//! Purchases and cancellations while Stripe fails, stalls and loses answers
//! at random and the refund worker loses messages: after the sweep, every
//! cancelled paid booking is refunded exactly once, no booking is confirmed
//! without a successful payment, and no place is both free and paid for.

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use axum::http::StatusCode;
use fake_stripe::Failure;
use futures::future::join_all;
use integration_tests::{Options, Session, TestApp, sqs_event, sweep_lock};
use rand::Rng;
use serde_json::json;
use shared::domain::booking::BookingStatus;
use shared::domain::refund::RefundStatus;
use shared::domain::schedule::ScheduledJob;
use time::{Duration, OffsetDateTime};

use crate::holds::{hold, published_event, taken_places};
use crate::payments::{cancel, checkout};

const PURCHASES: usize = 200;
const AT_ONCE: usize = 20;
const CAPACITY: u32 = 400;
const TRIES: usize = 8;

/// One buyer's purchase: a hold of one place, checkout and payment retried
/// while Stripe fails, then (every other one) a cancellation. The booking
/// id, once held.
async fn purchase(
    app: &TestApp,
    buyer: &Session,
    event: &str,
    then_cancel: bool,
) -> Option<String> {
    let held = hold(app, buyer, event, json!({ "quantity": 1 })).await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    let id = held.body["id"].as_str()?.to_owned();
    let mut intent = None;
    for _ in 0..TRIES {
        let answer = checkout(app, buyer, &id).await;
        match answer.status {
            StatusCode::OK => {
                intent = answer.body["payment_intent_id"].as_str().map(str::to_owned);
                break;
            }
            StatusCode::SERVICE_UNAVAILABLE => continue,
            other => panic!("checkout answered {other}: {:?}", answer.body),
        }
    }
    let Some(intent) = intent else {
        return Some(id);
    };
    // The customer pays; Stripe delivers until the webhook acknowledges.
    let delivery = app
        .stripe
        .succeed(&intent, app.clock_now().unix_timestamp())
        .expect("the PaymentIntent exists");
    for _ in 0..TRIES {
        if app
            .deliver(&delivery.body, Some(&delivery.signature))
            .await
            .status
            == StatusCode::OK
        {
            break;
        }
    }
    if then_cancel {
        // Only a confirmed booking is cancelled (a payment Stripe never
        // delivered leaves a hold, which is refused with 409).
        let answer = cancel(app, buyer, &id).await;
        assert!(
            matches!(answer.status, StatusCode::OK | StatusCode::CONFLICT),
            "{:?}",
            answer.body
        );
    }
    Some(id)
}

/// The refund worker, killed at random: some messages are taken off the
/// queue and never handled.
async fn lossy_worker(app: &TestApp) {
    let queue = &app.refunds.queue.0;
    loop {
        let messages = queue.receive(0).await.expect("the refund queue answers");
        if messages.is_empty() {
            return;
        }
        for message in messages {
            let lost = rand::rng().random_bool(0.3);
            let handled = !lost && {
                let id = message.message_id().unwrap_or_default();
                let event = sqs_event(&[(id, message.body().unwrap_or_default().to_owned())]);
                refunds::handle(&app.refunds, event)
                    .await
                    .batch_item_failures
                    .is_empty()
            };
            if lost || handled {
                queue
                    .delete(message.receipt_handle().unwrap_or_default())
                    .await
                    .expect("deleted");
            }
        }
    }
}

#[tokio::test]
async fn purchases_and_cancellations_under_a_failing_stripe_end_with_every_refund_sent_once() {
    let _sweeps = sweep_lock().await;
    let app = TestApp::with(Options {
        clock_start: Some(OffsetDateTime::now_utc() - Duration::days(20)),
        ..Options::default()
    })
    .await;
    let event = published_event(
        &app,
        json!({ "mode": "open", "capacity": CAPACITY, "price_cents": 2500 }),
        10,
    )
    .await;
    let mut buyers = Vec::new();
    for i in 0..AT_ONCE {
        buyers.push(app.sign_in(&app.email(&format!("buyer{i}"))).await);
    }
    app.stripe.fail_randomly_seeded(
        20_261_201,
        0.25,
        vec![
            Failure::ServerError,
            Failure::RateLimited,
            Failure::ConnectionDrop,
            Failure::Stall(StdDuration::from_secs(6)),
        ],
    );
    let mut bookings = Vec::new();
    for round in 0..PURCHASES / AT_ONCE {
        let done = join_all(
            buyers
                .iter()
                .enumerate()
                .map(|(i, buyer)| purchase(&app, buyer, &event, (round + i) % 2 == 0)),
        )
        .await;
        bookings.extend(done.into_iter().flatten());
        lossy_worker(&app).await;
    }
    app.stripe.stop_failing();
    // The sweep hands back whatever is still owed, until nothing is.
    for _ in 0..6 {
        app.clock.advance(Duration::minutes(31));
        scheduler::handle(&app.scheduler, ScheduledJob::Sweep {})
            .await
            .expect("the sweep runs");
        app.run_refund_worker(100).await;
    }

    let refunds_per_intent =
        app.stripe
            .refunds()
            .iter()
            .fold(HashMap::new(), |mut count, refund| {
                *count
                    .entry(
                        refund["payment_intent"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    )
                    .or_insert(0) += 1;
                count
            });
    let (mut confirmed, mut refunded) = (0, 0);
    for id in &bookings {
        let booking = app.state.app.store.booking(id).await.unwrap().unwrap();
        let intent = booking.payment_intent_id.clone().unwrap_or_default();
        let paid = app
            .stripe
            .payment_intent(&intent)
            .is_some_and(|pi| pi["status"] == "succeeded");
        match booking.status {
            BookingStatus::Confirmed => {
                confirmed += 1;
                assert!(paid, "{id} confirmed without a successful payment");
                assert_eq!(
                    refunds_per_intent.get(&intent),
                    None,
                    "{id} kept and refunded"
                );
            }
            BookingStatus::Refunded => {
                refunded += 1;
                assert!(paid, "{id} refunded without a payment");
                assert_eq!(booking.refund_status, Some(RefundStatus::Succeeded), "{id}");
                assert_eq!(
                    refunds_per_intent.get(&intent),
                    Some(&1),
                    "{id}: one refund"
                );
            }
            other => assert!(!paid, "{id} is {other:?} with a successful payment"),
        }
    }
    assert!(
        refunds_per_intent.values().all(|&n| n == 1),
        "no payment refunded twice"
    );
    assert_eq!(
        taken_places(&event).await,
        confirmed,
        "every place is free or paid for by a confirmed booking, never both"
    );
    let calls = app.stripe.requests();
    let failed = calls.iter().filter(|call| call.injected.is_some()).count();
    eprintln!(
        "chaos: {} bookings, {confirmed} confirmed, {refunded} refunded; {} Stripe calls, {failed} of them failed or stalled; {} refunds",
        bookings.len(),
        calls.len(),
        app.stripe.refunds().len()
    );
    assert!(refunded > 0 && confirmed > 0);
    assert!(
        failed > 0,
        "Stripe failed along the way, or this proved nothing"
    );
}
