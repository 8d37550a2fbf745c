//! Webhook events raised by the table's stream: a change is delivered
//! because it was written, never because a request remembered to send it.
//! The stream is read as Lambda's event source reads it for webhook-events
//! (each test hands it only its own items' records), and deliveries go
//! through the deliverer to a real local receiver.

use axum::http::{Method, StatusCode};
use dev_server::identities::{self, WEBHOOK_EVENTS};
use iam_proxy::Template;
use integration_tests::{Options, Session, TestApp, webhook_lock};
use serde_json::{Value, json};

use crate::holds::{draft_event, grid, hold, open, published_event};
use crate::payments::{cancel, checked_out, paid_units};
use crate::webhooks::{
    Received, Receiver, deliver_until_settled, deliveries, register_for, verified,
};

/// Reads of the stream before a test gives up catching up.
const ROUNDS: usize = 50;

/// What the receiver got about `id` (deliveries of other tests' events may
/// reach it too: every endpoint gets every event of its types).
fn about(receiver: &Receiver, id: &str) -> Vec<Received> {
    receiver
        .received()
        .into_iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains(id))
        .collect()
}

/// An admin of `app`, and a live receiver registered for `events` in `format`.
async fn listening(app: &TestApp, format: &str, events: &[&str]) -> (Session, Receiver, Value) {
    let admin = app.user_with_role("hooks", "admin").await;
    let receiver = Receiver::start(&[]).await;
    let endpoint = register_for(app, &admin, &receiver.url, format, events).await;
    (admin, receiver, endpoint)
}

#[tokio::test]
async fn a_paid_booking_reaches_a_standard_endpoint_once_correctly_signed() {
    let _webhooks = webhook_lock().await;
    let app = TestApp::spawn().await;
    let (admin, receiver, endpoint) = listening(&app, "standard", &["booking.confirmed"]).await;
    let secret = endpoint["secret"].as_str().unwrap();
    let mut stream = app.change_stream().await;

    let (event, _, booking, _) = paid_units(&app).await;
    assert!(
        app.run_change_stream(&mut stream, &[&booking], ROUNDS)
            .await
            > 0
    );
    app.run_webhook_deliverer(10).await;

    let got = about(&receiver, &booking);
    assert_eq!(got.len(), 1, "delivered once");
    assert!(verified(secret, &got[0]), "{:?}", got[0].headers);
    let body = got[0].json();
    assert_eq!(body["type"], "booking.confirmed");
    assert_eq!(body["data"]["booking_id"], booking.as_str());
    assert_eq!(body["data"]["event_id"], event.as_str());
    assert_eq!(body["data"]["amount_cents"], 1000);
    assert_eq!(body["data"]["status"], "confirmed");
    let listed = deliveries(&app, &admin, endpoint["id"].as_str().unwrap()).await;
    let delivery = listed
        .iter()
        .find(|d| d["id"] == got[0].headers["webhook-id"].to_str().unwrap())
        .expect("the delivery is listed under its webhook-id");
    assert_eq!(delivery["status"], "delivered");
    assert_eq!(delivery["event_type"], "booking.confirmed");
}

#[tokio::test]
async fn a_paid_booking_reaches_a_discord_endpoint_as_a_readable_message() {
    let _webhooks = webhook_lock().await;
    let app = TestApp::spawn().await;
    let (_, receiver, _) = listening(&app, "discord", &["*"]).await;
    let mut stream = app.change_stream().await;

    let (_, _, booking, _) = paid_units(&app).await;
    app.run_change_stream(&mut stream, &[&booking], ROUNDS)
        .await;
    app.run_webhook_deliverer(10).await;

    let got = about(&receiver, &booking);
    assert_eq!(got.len(), 1, "one event: the booking's confirmation");
    assert!(got[0].headers.get("webhook-signature").is_none());
    let body = got[0].json();
    let content = body["content"].as_str().unwrap();
    assert!(
        content.contains(&format!("Booking {booking} confirmed")),
        "{content}"
    );
}

/// template.yaml without one statement of webhook-events' policy.
fn events_without(sid: &str) -> Template {
    let text = std::fs::read_to_string(identities::TEMPLATE_PATH).expect("template.yaml");
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("template.yaml parses");
    let statements = doc["Resources"][WEBHOOK_EVENTS]["Properties"]["Policies"][0]["Statement"]
        .as_sequence_mut()
        .expect("the function's statements");
    let before = statements.len();
    statements.retain(|s| s["Sid"].as_str() != Some(sid));
    assert_eq!(statements.len(), before - 1, "the statement was there");
    Template::parse(&serde_yaml::to_string(&doc).expect("serializes")).expect("still a template")
}

#[tokio::test]
async fn a_crash_between_the_change_and_its_delivery_still_delivers_once() {
    let _webhooks = webhook_lock().await;
    let app = TestApp::spawn().await;
    // The same function, failing after it recorded the delivery and before
    // the deliverer heard of it (its queue refuses it).
    let crashing = TestApp::with(Options {
        template: Some(events_without("FirstAttempt")),
        ..Options::default()
    })
    .await;
    let (admin, receiver, endpoint) = listening(&app, "standard", &["booking.confirmed"]).await;
    let endpoint_id = endpoint["id"].as_str().unwrap();
    let mut stream = app.change_stream().await;

    let (_, _, booking, _) = paid_units(&app).await;
    crashing
        .run_change_stream(&mut stream, &[&booking], 3)
        .await;
    app.run_webhook_deliverer(10).await;
    assert!(about(&receiver, &booking).is_empty(), "nothing sent yet");
    let recorded = deliveries(&app, &admin, endpoint_id).await;
    assert_eq!(recorded.len(), 1, "recorded before the crash: {recorded:?}");
    assert_eq!(recorded[0]["status"], "pending");

    // The event source hands the failed record over again.
    app.run_change_stream(&mut stream, &[&booking], ROUNDS)
        .await;
    // Recorded on the crashed app's clock, which runs a little ahead.
    let delivered = deliver_until_settled(&app, &admin, endpoint_id).await;
    assert_eq!(delivered["status"], "delivered");
    let got = about(&receiver, &booking);
    assert_eq!(got.len(), 1, "delivered once");
    assert_eq!(
        got[0].headers["webhook-id"],
        recorded[0]["id"].as_str().unwrap()
    );
    assert_eq!(deliveries(&app, &admin, endpoint_id).await.len(), 1);
}

#[tokio::test]
async fn a_dead_endpoint_ends_failed_without_holding_up_the_booking_or_a_live_endpoint() {
    let _webhooks = webhook_lock().await;
    let app = TestApp::spawn().await;
    let (admin, live, _) = listening(&app, "standard", &["booking.confirmed"]).await;
    // Nothing listens on the discard port.
    let dead = register_for(
        &app,
        &admin,
        "http://127.0.0.1:9/hook",
        "standard",
        &["booking.confirmed"],
    )
    .await;
    let dead_id = dead["id"].as_str().unwrap();
    let mut stream = app.change_stream().await;

    // The booking is confirmed by its own request; no delivery is part of it.
    let (_, _, booking, _) = paid_units(&app).await;
    assert!(deliveries(&app, &admin, dead_id).await.is_empty());

    app.run_change_stream(&mut stream, &[&booking], ROUNDS)
        .await;
    app.run_webhook_deliverer(10).await;
    assert_eq!(
        about(&live, &booking).len(),
        1,
        "the live endpoint got it at once"
    );
    let failed = deliver_until_settled(&app, &admin, dead_id).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["attempts"], 4);
    assert_eq!(about(&live, &booking).len(), 1, "and only once");
}

#[tokio::test]
async fn publishing_an_event_raises_event_published() {
    let _webhooks = webhook_lock().await;
    let app = TestApp::spawn().await;
    let (_, receiver, _) = listening(&app, "standard", &["event.published"]).await;
    let developer = app.sign_in(&app.developer_email()).await;
    let event = draft_event(&app, &developer, grid(2), 4).await;
    let mut stream = app.change_stream().await;

    let published = app
        .post(
            &format!("/v1/events/{event}/publish"),
            Some(&developer.access_token),
            json!({}),
        )
        .await;
    assert_eq!(published.status, StatusCode::OK, "{:?}", published.body);
    app.run_change_stream(&mut stream, &[&event], ROUNDS).await;
    app.run_webhook_deliverer(10).await;

    let got = about(&receiver, &event);
    assert_eq!(got.len(), 1);
    let body = got[0].json();
    assert_eq!(body["type"], "event.published");
    assert_eq!(body["data"]["event_id"], event.as_str());
    assert_eq!(body["data"]["status"], "published");
}

#[tokio::test]
async fn a_task_given_to_someone_and_mentioning_another_raises_created_assigned_and_mentioned() {
    let _webhooks = webhook_lock().await;
    let app = TestApp::spawn().await;
    let (admin, receiver, _) = listening(
        &app,
        "standard",
        &["task.created", "task.assigned", "task.mentioned"],
    )
    .await;
    let helper = app.user_with_role("helper", "staff").await;
    let mut stream = app.change_stream().await;

    let created = app
        .call(
            Method::POST,
            "/v1/tasks",
            Some(&admin.access_token),
            Some(json!({
                "title": "Set up the hall",
                "description": format!("with @{}", app.email("hooks")),
                "assignee_id": helper.user["id"],
            })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let task = created.body["id"].as_str().unwrap().to_owned();
    app.run_change_stream(&mut stream, &[&task], ROUNDS).await;
    app.run_webhook_deliverer(10).await;

    let mut types: Vec<Value> = about(&receiver, &task)
        .iter()
        .map(|r| r.json()["type"].clone())
        .collect();
    types.sort_by_key(|t| t.as_str().unwrap_or_default().to_owned());
    assert_eq!(
        types,
        vec![
            json!("task.assigned"),
            json!("task.created"),
            json!("task.mentioned")
        ]
    );
    let assigned = about(&receiver, &task)
        .into_iter()
        .map(|r| r.json())
        .find(|b| b["type"] == "task.assigned")
        .unwrap();
    assert_eq!(assigned["data"]["assignee_id"], helper.user["id"]);
}

/// The `event.sold_out` deliveries `receiver` got about `event`.
fn sold_out_of(receiver: &Receiver, event: &str) -> Vec<Received> {
    about(receiver, event)
        .into_iter()
        .filter(|r| r.json()["type"] == "event.sold_out")
        .collect()
}

/// A cash sale at the door of `quantity` places (open) or of `units`.
async fn walk_in(app: &TestApp, admin: &Session, event: &str, sale: Value) -> String {
    let mut body = sale;
    body["name"] = json!("Ada Lovelace");
    let sold = app
        .post(
            &format!("/v1/admin/events/{event}/walk-in"),
            Some(&admin.access_token),
            body,
        )
        .await;
    assert_eq!(sold.status, StatusCode::CREATED, "{:?}", sold.body);
    sold.body["id"].as_str().unwrap().to_owned()
}

/// Hands the stream's records about `event` to webhook-events, then
/// attempts what they raised.
async fn raise_and_deliver(
    app: &TestApp,
    stream: &mut dev_server::stream::TableStream,
    event: &str,
) {
    app.run_change_stream(stream, &[event], ROUNDS).await;
    app.run_webhook_deliverer(10).await;
}

#[tokio::test]
async fn an_open_event_sold_out_by_its_last_confirmation_raises_event_sold_out_once() {
    let _webhooks = webhook_lock().await;
    let app = TestApp::spawn().await;
    let (admin, receiver, _) = listening(&app, "standard", &["event.sold_out"]).await;
    let event = published_event(&app, open(3), 10).await;
    let mut stream = app.change_stream().await;

    walk_in(&app, &admin, &event, json!({ "quantity": 1 })).await;
    walk_in(&app, &admin, &event, json!({ "quantity": 2 })).await;
    raise_and_deliver(&app, &mut stream, &event).await;

    let got = sold_out_of(&receiver, &event);
    assert_eq!(got.len(), 1, "raised once");
    let body = got[0].json();
    assert_eq!(body["data"]["event_id"], event.as_str());
    assert_eq!(body["data"]["title"], format!("Gala {}", app.tag));
    assert_eq!(body["data"]["status"], "published");
    assert_eq!(body["data"]["capacity"], 3);
    assert_eq!(body["data"]["sold"], 3);
    assert!(body["data"]["starts_at"].is_string());
}

#[tokio::test]
async fn a_grid_event_sold_out_by_its_last_unit_raises_event_sold_out() {
    let _webhooks = webhook_lock().await;
    let app = TestApp::spawn().await;
    let (admin, receiver, _) = listening(&app, "standard", &["event.sold_out"]).await;
    let event = published_event(&app, grid(2), 10).await;
    let mut stream = app.change_stream().await;

    walk_in(&app, &admin, &event, json!({ "units": ["T1"] })).await;
    walk_in(&app, &admin, &event, json!({ "units": ["T2"] })).await;
    raise_and_deliver(&app, &mut stream, &event).await;

    let got = sold_out_of(&receiver, &event);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["data"]["capacity"], 16, "two tables of 8");
    assert_eq!(got[0].json()["data"]["sold"], 16);
}

#[tokio::test]
async fn a_confirmation_that_leaves_places_raises_no_sold_out() {
    let _webhooks = webhook_lock().await;
    let app = TestApp::spawn().await;
    let (admin, receiver, _) = listening(&app, "standard", &["event.sold_out"]).await;
    let event = published_event(&app, open(3), 10).await;
    let mut stream = app.change_stream().await;

    walk_in(&app, &admin, &event, json!({ "quantity": 2 })).await;
    assert!(app.run_change_stream(&mut stream, &[&event], ROUNDS).await > 0);
    app.run_webhook_deliverer(10).await;

    assert!(sold_out_of(&receiver, &event).is_empty());
}

#[tokio::test]
async fn while_a_hold_is_pending_no_sold_out_is_raised_and_its_confirmation_raises_it() {
    let _webhooks = webhook_lock().await;
    let app = TestApp::spawn().await;
    let (admin, receiver, _) = listening(&app, "standard", &["event.sold_out"]).await;
    let event = published_event(&app, open(2), 10).await;
    let buyer = app.sign_in(&app.email("buyer")).await;
    let mut stream = app.change_stream().await;

    let held = hold(&app, &buyer, &event, json!({ "quantity": 1 })).await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    let booking = held.body["id"].as_str().unwrap().to_owned();
    walk_in(&app, &admin, &event, json!({ "quantity": 1 })).await;
    raise_and_deliver(&app, &mut stream, &event).await;
    assert!(
        sold_out_of(&receiver, &event).is_empty(),
        "the held place is not sold yet"
    );

    let intent = checked_out(&app, &buyer, &booking).await;
    assert_eq!(app.pay(&intent).await.status, StatusCode::OK);
    raise_and_deliver(&app, &mut stream, &event).await;
    assert_eq!(sold_out_of(&receiver, &event).len(), 1);
}

#[tokio::test]
async fn an_event_selling_out_again_after_a_cancellation_raises_no_second_sold_out() {
    let _webhooks = webhook_lock().await;
    let app = TestApp::spawn().await;
    let (admin, receiver, endpoint) = listening(&app, "standard", &["event.sold_out"]).await;
    let event = published_event(&app, open(1), 10).await;
    let mut stream = app.change_stream().await;

    let first = walk_in(&app, &admin, &event, json!({ "quantity": 1 })).await;
    raise_and_deliver(&app, &mut stream, &event).await;
    assert_eq!(sold_out_of(&receiver, &event).len(), 1);

    let cancelled = cancel(&app, &admin, &first).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    walk_in(&app, &admin, &event, json!({ "quantity": 1 })).await;
    raise_and_deliver(&app, &mut stream, &event).await;

    assert_eq!(
        sold_out_of(&receiver, &event).len(),
        1,
        "raised the first time only"
    );
    let listed = deliveries(&app, &admin, endpoint["id"].as_str().unwrap()).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
}

#[tokio::test]
async fn a_replayed_stream_batch_delivers_sold_out_under_the_same_webhook_id_and_records_it_once() {
    let _webhooks = webhook_lock().await;
    let app = TestApp::spawn().await;
    let (admin, receiver, endpoint) = listening(&app, "standard", &["event.sold_out"]).await;
    let event = published_event(&app, open(1), 10).await;
    let mut stream = app.change_stream().await;
    // A second reader of the same records: the event source replaying them.
    let mut replay = app.change_stream().await;

    walk_in(&app, &admin, &event, json!({ "quantity": 1 })).await;
    raise_and_deliver(&app, &mut stream, &event).await;
    let first = sold_out_of(&receiver, &event);
    assert_eq!(first.len(), 1);
    assert!(app.run_change_stream(&mut replay, &[&event], ROUNDS).await > 0);
    app.run_webhook_deliverer(10).await;

    let listed = deliveries(&app, &admin, endpoint["id"].as_str().unwrap()).await;
    assert_eq!(listed.len(), 1, "recorded once: {listed:?}");
    assert_eq!(
        listed[0]["id"],
        first[0].headers["webhook-id"].to_str().unwrap()
    );
    for got in sold_out_of(&receiver, &event) {
        assert_eq!(got.headers["webhook-id"], first[0].headers["webhook-id"]);
    }
}
