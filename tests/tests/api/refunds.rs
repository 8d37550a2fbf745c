//! Refunds as durable jobs: owed first, sent by the worker, retried until
//! Stripe confirms; partial refunds recorded; payments of other stacks
//! ignored; free bookings confirmed without Stripe.

use std::collections::HashMap;

use axum::http::StatusCode;
use fake_stripe::Failure;
use integration_tests::{Options, Session, TestApp, assert_problem, sqs_event, table};
use serde_json::{Value, json};
use shared::domain::schedule::ScheduledJob;
use time::{Duration, OffsetDateTime};

use crate::holds::{grid, hold, hold_units, published_event};
use crate::payments::{
    booking, cancel, cancel_event, checked_out, checkout, confirmation_mails, connect_an_account,
    dashboard_refund, held_units, paid_units, ticket_count, tickets,
};

async fn sweep(app: &TestApp) -> scheduler::Report {
    scheduler::handle(&app.scheduler, ScheduledJob::Sweep {})
        .await
        .expect("the sweep runs")
}

/// The stored refund run of a cancelled event.
async fn refund_run(
    event: &str,
) -> Option<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let (client, table) = table().await;
    client
        .get_item()
        .table_name(&table)
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("REFUNDRUN#{event}")),
        )
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S("RUN".into()),
        )
        .send()
        .await
        .unwrap()
        .item
}

async fn unit_state(app: &TestApp, event: &str, unit: usize) -> Value {
    app.get(&format!("/v1/events/{event}/availability"), None)
        .await
        .body["units"][unit]["state"]
        .clone()
}

#[tokio::test]
async fn a_refund_stripe_fails_stays_pending_and_the_sweep_sends_it_again_until_it_succeeds() {
    let _sweeps = integration_tests::sweep_lock().await;
    // In the past, so this app's sweep reaches only refunds older still.
    let app = TestApp::with(Options {
        clock_start: Some(OffsetDateTime::now_utc() - Duration::days(40)),
        ..Options::default()
    })
    .await;
    let (_, buyer, id, intent) = paid_units(&app).await;
    app.stripe
        .fail_next_on("/v1/refunds", 2, Failure::ServerError);
    assert_eq!(cancel(&app, &buyer, &id).await.status, StatusCode::OK);
    assert_eq!(
        app.run_refund_worker(5).await,
        1,
        "Stripe failed the first try"
    );
    assert_eq!(booking(&app, &buyer, &id).await["refund_status"], "pending");
    app.clock.advance(Duration::minutes(3));
    assert!(sweep(&app).await.refunds_resent >= 1);
    assert_eq!(app.run_refund_worker(5).await, 1, "and the second");
    app.clock.advance(Duration::minutes(10));
    sweep(&app).await;
    assert_eq!(app.run_refund_worker(5).await, 0);
    let refunded = booking(&app, &buyer, &id).await;
    assert_eq!(refunded["refund_status"], "succeeded", "{refunded}");
    let refunds = app.stripe.refunds();
    assert_eq!(
        refunds.len(),
        1,
        "one refund however often it was asked for"
    );
    assert_eq!(refunds[0]["payment_intent"], intent.as_str());
    assert_eq!(app.stripe.refund_requests().len(), 3);
}

#[tokio::test]
async fn a_refund_whose_answer_was_lost_is_not_made_twice() {
    let app = TestApp::spawn().await;
    let (_, buyer, id, intent) = paid_units(&app).await;
    app.stripe
        .fail_next_on("/v1/refunds", 1, Failure::ConnectionDrop);
    assert_eq!(cancel(&app, &buyer, &id).await.status, StatusCode::OK);
    assert_eq!(app.run_refund_worker(5).await, 1);
    // The worker asks again (the queue's redelivery, or the sweep).
    refunds::refund_payment(&app.refunds, &intent)
        .await
        .expect("the second try is answered");
    assert_eq!(
        booking(&app, &buyer, &id).await["refund_status"],
        "succeeded"
    );
    assert_eq!(app.stripe.refunds().len(), 1);
}

#[tokio::test]
async fn stripes_already_refunded_answer_counts_as_success() {
    let app = TestApp::spawn().await;
    let (_, buyer, id, intent) = paid_units(&app).await;
    // Refunded in the dashboard; its notification has not arrived yet.
    app.stripe.dashboard_refund(&intent, None).unwrap();
    assert_eq!(cancel(&app, &buyer, &id).await.status, StatusCode::OK);
    assert_eq!(app.run_refund_worker(5).await, 0, "not a failure to retry");
    let refunded = booking(&app, &buyer, &id).await;
    assert_eq!(refunded["status"], "refunded");
    assert_eq!(refunded["refund_status"], "succeeded");
    assert_eq!(app.stripe.refunds().len(), 1, "only the dashboard's");
}

#[tokio::test]
async fn a_partial_refund_keeps_the_booking_confirmed_and_records_the_amount() {
    let app = TestApp::spawn().await;
    let (event, buyer, id, intent) = paid_units(&app).await;
    let partial = dashboard_refund(&app, &intent, Some(400));
    let answer = app.deliver(&partial.body, Some(&partial.signature)).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    let kept = booking(&app, &buyer, &id).await;
    assert_eq!(kept["status"], "confirmed");
    assert_eq!(kept["refunded_cents"], 400);
    assert_eq!(unit_state(&app, &event, 0).await, "booked");
    assert_eq!(ticket_count(&app, &buyer, &id).await, 8);
}

#[tokio::test]
async fn a_partial_refund_delivered_before_the_success_does_not_stop_the_confirmation() {
    let app = TestApp::spawn().await;
    let (_, buyer, id) = held_units(&app, &["T1"]).await;
    let intent = checked_out(&app, &buyer, &id).await;
    let succeeded = app
        .stripe
        .succeed(&intent, app.clock_now().unix_timestamp())
        .unwrap();
    let partial = dashboard_refund(&app, &intent, Some(300));
    assert_eq!(
        app.deliver(&partial.body, Some(&partial.signature))
            .await
            .status,
        StatusCode::OK
    );
    let late = app
        .deliver(&succeeded.body, Some(&succeeded.signature))
        .await;
    assert_eq!(late.status, StatusCode::OK, "{:?}", late.body);
    assert_eq!(booking(&app, &buyer, &id).await["status"], "confirmed");
}

#[tokio::test]
async fn refunds_of_destination_charges_take_back_the_transfer_and_the_fee() {
    let app = TestApp::spawn().await;
    connect_an_account().await;
    let (_, buyer, id, intent) = paid_units(&app).await;
    assert_eq!(
        app.stripe.payment_intent(&intent).unwrap()["transfer_data"]["destination"],
        "acct_integration"
    );
    assert_eq!(cancel(&app, &buyer, &id).await.status, StatusCode::OK);
    assert_eq!(app.run_refund_worker(5).await, 0);
    let request = &app.stripe.refund_requests()[0];
    assert_eq!(request.param("reverse_transfer"), Some("true"));
    assert_eq!(request.param("refund_application_fee"), Some("true"));
    assert_eq!(
        booking(&app, &buyer, &id).await["refund_status"],
        "succeeded"
    );
}

#[tokio::test]
async fn signed_events_about_payments_that_are_not_ours_are_acknowledged_and_ignored() {
    let app = TestApp::spawn().await;
    let (_, buyer, id) = held_units(&app, &["T1"]).await;
    let now = app.clock_now().unix_timestamp();
    let objects = [
        // Another stack's payment naming a booking id of ours.
        (
            "payment_intent.succeeded",
            json!({ "id": "pi_other_stack", "amount": 1000, "amount_received": 1000,
            "currency": "usd", "metadata": { "booking_id": id, "stack": "another-stack" } }),
        ),
        // A dashboard or Payment Link payment: no metadata at all.
        (
            "payment_intent.succeeded",
            json!({ "id": "pi_dashboard", "amount": 500, "currency": "usd", "metadata": {} }),
        ),
        // A charge made without a PaymentIntent.
        (
            "charge.refunded",
            json!({ "object": "charge", "id": "ch_bare", "payment_intent": null,
            "amount": 500, "amount_refunded": 500, "refunded": true }),
        ),
        // A PaymentIntent this stack never created.
        (
            "charge.refunded",
            json!({ "object": "charge", "id": "ch_x", "payment_intent": "pi_never_ours",
            "amount": 500, "amount_refunded": 500, "refunded": true }),
        ),
    ];
    for (i, (kind, object)) in objects.into_iter().enumerate() {
        let delivery = app
            .stripe
            .delivery(&format!("evt_not_ours_{i}_{id}"), kind, object, now);
        let answer = app.deliver(&delivery.body, Some(&delivery.signature)).await;
        assert_eq!(answer.status, StatusCode::OK, "{kind}: {:?}", answer.body);
    }
    assert_eq!(booking(&app, &buyer, &id).await["status"], "held");
    assert!(app.stripe.requests().is_empty(), "nothing refunded");
}

#[tokio::test]
async fn a_payment_confirmed_while_its_event_is_cancelled_is_refunded_not_confirmed() {
    let app = TestApp::spawn().await;
    let (event, buyer, id) = held_units(&app, &["T1"]).await;
    let intent = checked_out(&app, &buyer, &id).await;
    let (paid, cancelled) = tokio::join!(app.pay(&intent), cancel_event(&app, &event));
    assert_eq!(paid.status, StatusCode::OK, "{:?}", paid.body);
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    app.run_refund_worker(10).await;
    let after = booking(&app, &buyer, &id).await;
    assert_eq!(after["status"], "refunded", "{after}");
    assert_eq!(after["refund_status"], "succeeded");
    assert_eq!(app.stripe.refunds().len(), 1);
}

#[tokio::test]
async fn an_event_refund_run_ends_only_after_a_second_empty_read() {
    let app = TestApp::spawn().await;
    let (event, _, _, _) = paid_units(&app).await;
    cancel_event(&app, &event).await;
    app.run_refund_worker(10).await;
    let run = refund_run(&event)
        .await
        .expect("the cancellation started a refund run");
    assert!(run.contains_key("GSI3PK"), "still waiting for its recheck");
    let recheck = json!({ "refund": "event", "event_id": event, "recheck": true }).to_string();
    let response = refunds::handle(&app.refunds, sqs_event(&[("m1", recheck)])).await;
    assert!(response.batch_item_failures.is_empty());
    let run = refund_run(&event).await.unwrap();
    assert!(
        !run.contains_key("GSI3PK"),
        "finished: out of the sweep's index"
    );
}

#[tokio::test]
async fn after_a_late_payment_is_owed_back_a_retried_success_never_confirms_it() {
    let app = TestApp::spawn().await;
    let (event, buyer, id) = held_units(&app, &["T1"]).await;
    let intent = checked_out(&app, &buyer, &id).await;
    app.clock.advance(Duration::minutes(30));
    let rival = app.sign_in(&app.email("rival")).await;
    let rival_hold = hold_units(&app, &rival, &event, &["T1"]).await;
    let success = app
        .stripe
        .succeed(&intent, app.clock_now().unix_timestamp())
        .unwrap();
    assert_eq!(
        app.deliver(&success.body, Some(&success.signature))
            .await
            .status,
        StatusCode::OK
    );
    let buyer = app.sign_in(&app.email("buyer")).await;
    assert_eq!(booking(&app, &buyer, &id).await["status"], "refunded");
    // The rival lets go before the refund went out; Stripe delivers the
    // success again as a new event.
    let rival_id = rival_hold.body["id"].as_str().unwrap();
    app.call(
        axum::http::Method::DELETE,
        &format!("/v1/bookings/{rival_id}"),
        Some(&rival.access_token),
        None,
    )
    .await;
    let again = app.stripe.delivery(
        &format!("evt_again_{id}"),
        "payment_intent.succeeded",
        app.stripe.payment_intent(&intent).unwrap(),
        app.clock_now().unix_timestamp(),
    );
    assert_eq!(
        app.deliver(&again.body, Some(&again.signature))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(booking(&app, &buyer, &id).await["status"], "refunded");
    assert_eq!(unit_state(&app, &event, 0).await, "available");
    assert_problem(
        &tickets(&app, &buyer, &id).await,
        StatusCode::CONFLICT,
        "BOOKING_NOT_CONFIRMED",
    );
}

/// A guest's hold of the one table (two seats) of a free event.
async fn free_hold(app: &TestApp) -> (String, Session, String) {
    let free = json!({ "mode": "grid", "units": [
        { "id": "T1", "label": "Table 1", "seats": 2, "price_cents": 0 } ] });
    let event = published_event(app, free, 10).await;
    let buyer = app.sign_in(&app.email("guest")).await;
    let held = hold(app, &buyer, &event, json!({ "units": ["T1"] })).await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    let id = held.body["id"].as_str().unwrap().to_owned();
    (event, buyer, id)
}

#[tokio::test]
async fn a_free_booking_is_confirmed_at_checkout_with_tickets_and_mail_without_stripe() {
    let app = TestApp::spawn().await;
    let (_, buyer, id) = free_hold(&app).await;
    let paid = checkout(&app, &buyer, &id).await;
    assert_eq!(paid.status, StatusCode::OK, "{:?}", paid.body);
    assert_eq!(paid.body["payment_intent_id"], Value::Null);
    assert_eq!(paid.body["amount_cents"], 0);
    assert_eq!(paid.body["booking"]["status"], "confirmed");
    assert_eq!(ticket_count(&app, &buyer, &id).await, 2);
    assert_eq!(confirmation_mails(&app.email("guest")).await, 1);
    assert!(app.stripe.requests().is_empty());
    let again = checkout(&app, &buyer, &id).await;
    assert_eq!(again.status, StatusCode::OK, "idempotent: {:?}", again.body);
    assert_eq!(confirmation_mails(&app.email("guest")).await, 1);
}

#[tokio::test]
async fn a_cancelled_free_booking_is_cancelled_with_nothing_owed() {
    let app = TestApp::spawn().await;
    let (event, buyer, id) = free_hold(&app).await;
    checkout(&app, &buyer, &id).await;
    let cancelled = cancel(&app, &buyer, &id).await;
    assert_eq!(
        cancelled.body["status"], "cancelled",
        "{:?}",
        cancelled.body
    );
    assert_eq!(cancelled.body.get("refund_status"), None);
    assert_eq!(unit_state(&app, &event, 0).await, "available");
}

#[tokio::test]
async fn an_event_with_many_paid_bookings_cancels_at_once_and_every_booking_is_refunded() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(12), 10).await;
    let mut bookings = Vec::new();
    for i in 1..=12 {
        let buyer = app.sign_in(&app.email(&format!("buyer{i}"))).await;
        let held = hold_units(&app, &buyer, &event, &[&format!("T{i}")]).await;
        let id = held.body["id"].as_str().unwrap().to_owned();
        let intent = checked_out(&app, &buyer, &id).await;
        assert_eq!(app.pay(&intent).await.status, StatusCode::OK);
        bookings.push((buyer, id));
    }
    let cancelled = cancel_event(&app, &event).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    assert!(
        app.stripe.refund_requests().is_empty(),
        "the request did no refund itself"
    );
    assert_eq!(app.run_refund_worker(20).await, 0);
    for (buyer, id) in &bookings {
        let refunded = booking(&app, buyer, id).await;
        assert_eq!(refunded["refund_status"], "succeeded", "{refunded}");
    }
    assert_eq!(app.stripe.refunds().len(), 12);
}
