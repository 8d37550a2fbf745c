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

use crate::holds::{draft_event, grid};
use crate::payments::paid_units;
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
