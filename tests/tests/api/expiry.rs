//! Holds lapse for good: the expiry worker (one delayed SQS message per
//! hold) and the every-minute sweep release them, each exactly once.

use axum::http::StatusCode;
use integration_tests::{Options, Session, TestApp, sent_messages_about, sqs_event};
use serde_json::{Value, json};
use shared::domain::booking::BookingStatus;
use shared::domain::schedule::ScheduledJob;
use time::{Duration, OffsetDateTime};

use crate::holds::{
    grid, hold, hold_units, open, published_event, release, shard_remaining, stored_units,
};

fn expiry_message(hold: &Value) -> String {
    json!({ "booking_id": hold["id"], "hold_expires_at": hold["hold_expires_at"] }).to_string()
}

async fn stored_status(app: &TestApp, booking_id: &str) -> BookingStatus {
    app.state
        .app
        .store
        .booking(booking_id)
        .await
        .unwrap()
        .expect("the booking is stored")
        .status
}

async fn held(app: &TestApp, who: &Session, event: &str, body: Value) -> Value {
    let response = hold(app, who, event, body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{:?}", response.body);
    response.body
}

#[tokio::test]
async fn an_online_hold_sends_a_message_due_when_it_lapses() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(1), 10).await;
    let ada = app.sign_in(&app.email("ada")).await;
    let booking = held(&app, &ada, &event, json!({ "units": ["T1"] })).await;
    let messages = sent_messages_about(booking["id"].as_str().unwrap()).await;
    assert_eq!(
        messages,
        [(
            json!({ "booking_id": booking["id"], "hold_expires_at": booking["hold_expires_at"] }),
            600
        )],
        "one message, delayed by the 10-minute hold"
    );
}

#[tokio::test]
async fn the_worker_expires_a_lapsed_grid_hold_and_frees_its_units() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(2), 10).await;
    let ada = app.sign_in(&app.email("ada")).await;
    let booking = held(&app, &ada, &event, json!({ "units": ["T1", "T2"] })).await;
    app.clock.advance(Duration::minutes(10));
    let response = hold_expiry::handle(
        &app.hold_expiry,
        sqs_event(&[("m1", expiry_message(&booking))]),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    let id = booking["id"].as_str().unwrap();
    assert_eq!(stored_status(&app, id).await, BookingStatus::Expired);
    let units = stored_units(&event).await;
    assert_eq!(units["T1"], ("available".to_owned(), None));
    assert_eq!(units["T2"], ("available".to_owned(), None));
}

#[tokio::test]
async fn the_worker_leaves_a_unit_taken_over_with_its_new_holder() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(1), 10).await;
    let ada = app.sign_in(&app.email("ada")).await;
    let bob = app.sign_in(&app.email("bob")).await;
    let lapsed = held(&app, &ada, &event, json!({ "units": ["T1"] })).await;
    app.clock.advance(Duration::minutes(10));
    let taken_over = held(&app, &bob, &event, json!({ "units": ["T1"] })).await;
    let response = hold_expiry::handle(
        &app.hold_expiry,
        sqs_event(&[("m1", expiry_message(&lapsed))]),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    let id = lapsed["id"].as_str().unwrap();
    assert_eq!(stored_status(&app, id).await, BookingStatus::Expired);
    assert_eq!(
        stored_units(&event).await["T1"],
        (
            "held".to_owned(),
            taken_over["id"].as_str().map(str::to_owned)
        )
    );
}

#[tokio::test]
async fn the_worker_gives_an_open_holds_places_back_once() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, open(3), 10).await;
    let ada = app.sign_in(&app.email("ada")).await;
    let booking = held(&app, &ada, &event, json!({ "quantity": 2 })).await;
    assert_eq!(shard_remaining(&event).await, vec![1]);
    app.clock.advance(Duration::minutes(11));
    let worker = &app.hold_expiry;
    for delivery in ["m1", "m1-again"] {
        let response =
            hold_expiry::handle(worker, sqs_event(&[(delivery, expiry_message(&booking))])).await;
        assert!(response.batch_item_failures.is_empty());
    }
    let id = booking["id"].as_str().unwrap();
    assert_eq!(stored_status(&app, id).await, BookingStatus::Expired);
    assert_eq!(shard_remaining(&event).await, vec![3], "given back once");
}

#[tokio::test]
async fn the_worker_leaves_a_released_hold_alone() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, open(2), 10).await;
    let ada = app.sign_in(&app.email("ada")).await;
    let booking = held(&app, &ada, &event, json!({ "quantity": 2 })).await;
    let id = booking["id"].as_str().unwrap();
    assert_eq!(release(&app, &ada, id).await.status, StatusCode::OK);
    app.clock.advance(Duration::minutes(10));
    let response = hold_expiry::handle(
        &app.hold_expiry,
        sqs_event(&[("m1", expiry_message(&booking))]),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(stored_status(&app, id).await, BookingStatus::Cancelled);
    assert_eq!(
        shard_remaining(&event).await,
        vec![2],
        "not given back twice"
    );
}

#[tokio::test]
async fn a_hold_not_yet_due_is_left_held_and_its_message_sent_again() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(1), 10).await;
    let ada = app.sign_in(&app.email("ada")).await;
    let booking = held(&app, &ada, &event, json!({ "units": ["T1"] })).await;
    app.clock.advance(Duration::minutes(4));
    let response = hold_expiry::handle(
        &app.hold_expiry,
        sqs_event(&[("m1", expiry_message(&booking))]),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    let id = booking["id"].as_str().unwrap();
    assert_eq!(stored_status(&app, id).await, BookingStatus::Held);
    let delays: Vec<i64> = sent_messages_about(id)
        .await
        .into_iter()
        .map(|(_, delay)| delay)
        .collect();
    assert_eq!(delays, [600, 360], "sent again for the 6 minutes left");
}

#[tokio::test]
async fn a_batch_reports_only_the_message_that_failed() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(1), 10).await;
    let ada = app.sign_in(&app.email("ada")).await;
    let booking = held(&app, &ada, &event, json!({ "units": ["T1"] })).await;
    app.clock.advance(Duration::minutes(10));
    let response = hold_expiry::handle(
        &app.hold_expiry,
        sqs_event(&[
            ("bad", "{\"booking\": 42}".to_owned()),
            ("good", expiry_message(&booking)),
        ]),
    )
    .await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["bad"]);
    let id = booking["id"].as_str().unwrap();
    assert_eq!(stored_status(&app, id).await, BookingStatus::Expired);
}

#[tokio::test]
async fn the_sweep_releases_a_lapsed_hold_whose_message_was_lost() {
    let app = TestApp::with(Options {
        clock_start: Some(OffsetDateTime::now_utc() - Duration::days(3)),
        ..Options::default()
    })
    .await;
    let grid_event = published_event(&app, grid(1), 10).await;
    let open_event = published_event(&app, open(2), 10).await;
    let ada = app.sign_in(&app.email("ada")).await;
    let unit_hold = hold_units(&app, &ada, &grid_event, &["T1"]).await.body;
    let place_hold = held(&app, &ada, &open_event, json!({ "quantity": 1 })).await;
    app.clock.advance(Duration::minutes(11));
    scheduler::handle(&app.scheduler, ScheduledJob::Sweep {})
        .await
        .unwrap();
    for booking in [&unit_hold, &place_hold] {
        let id = booking["id"].as_str().unwrap();
        assert_eq!(stored_status(&app, id).await, BookingStatus::Expired);
    }
    assert_eq!(
        stored_units(&grid_event).await["T1"],
        ("available".to_owned(), None)
    );
    assert_eq!(shard_remaining(&open_event).await, vec![2]);
}
