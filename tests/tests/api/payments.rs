//! Paying for a hold: checkout through (fake) Stripe, the signed webhook that
//! confirms and tickets the booking once, and refunds when seats are gone.

use axum::http::StatusCode;
use fake_stripe::Delivery;
use futures::future::join_all;
use integration_tests::{Response, Session, TestApp, assert_problem, sent_mail_to, table};
use serde_json::{Value, json};
use time::Duration;

use crate::holds::{grid, hold, hold_units, open, published_event};

pub(crate) async fn checkout(app: &TestApp, who: &Session, booking_id: &str) -> Response {
    app.post(
        &format!("/v1/bookings/{booking_id}/checkout"),
        Some(&who.access_token),
        json!({}),
    )
    .await
}

pub(crate) async fn booking(app: &TestApp, who: &Session, id: &str) -> Value {
    let response = app
        .get(&format!("/v1/bookings/{id}"), Some(&who.access_token))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
    response.body
}

pub(crate) async fn tickets(app: &TestApp, who: &Session, id: &str) -> Response {
    app.get(
        &format!("/v1/bookings/{id}/tickets"),
        Some(&who.access_token),
    )
    .await
}

pub(crate) async fn ticket_count(app: &TestApp, who: &Session, id: &str) -> usize {
    let listed = tickets(app, who, id).await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    listed.body["items"].as_array().unwrap().len()
}

/// A signed-in buyer's live hold on units of a fresh grid event.
pub(crate) async fn held_units(app: &TestApp, units: &[&str]) -> (String, Session, String) {
    let event = published_event(app, grid(3), 10).await;
    let buyer = app.sign_in(&app.email("buyer")).await;
    let held = hold_units(app, &buyer, &event, units).await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    (event, buyer, held.body["id"].as_str().unwrap().to_owned())
}

/// Stripe's dashboard refunds `amount` (or all that is left) of the
/// PaymentIntent; its signed `charge.refunded`, as Stripe would send it now.
pub(crate) fn dashboard_refund(app: &TestApp, intent: &str, amount: Option<i64>) -> Delivery {
    app.stripe
        .dashboard_refund(intent, amount)
        .expect("the fake Stripe refunds a paid PaymentIntent");
    app.stripe
        .refund_delivery(intent, app.clock_now().unix_timestamp())
        .expect("a charge.refunded delivery")
}

/// Booking confirmations the emulator's SES accepted for `to`.
pub(crate) async fn confirmation_mails(to: &str) -> usize {
    sent_mail_to(to)
        .await
        .iter()
        .filter(|m| m["subject"].as_str().unwrap_or("").contains("your tickets"))
        .count()
}

pub(crate) async fn checked_out(app: &TestApp, buyer: &Session, booking_id: &str) -> String {
    let response = checkout(app, buyer, booking_id).await;
    assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
    response.body["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn checkout_asks_stripe_for_the_booking_amount() {
    let app = TestApp::spawn().await;
    let (_, buyer, id) = held_units(&app, &["T1", "T3"]).await;
    let response = checkout(&app, &buyer, &id).await;
    assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
    assert_eq!(response.body["amount_cents"], 4000);
    assert_eq!(response.body["currency"], "eur");
    assert!(
        response.body["client_secret"]
            .as_str()
            .unwrap()
            .starts_with("pi_")
    );
    let intent = app
        .stripe
        .payment_intent(response.body["payment_intent_id"].as_str().unwrap())
        .unwrap();
    assert_eq!(intent["amount"], 4000);
    assert_eq!(intent["metadata"]["booking_id"], id.as_str());
    assert_eq!(
        booking(&app, &buyer, &id).await["payment_intent_id"],
        response.body["payment_intent_id"]
    );
}

#[tokio::test]
async fn checking_out_twice_returns_the_same_payment_intent() {
    let app = TestApp::spawn().await;
    let (_, buyer, id) = held_units(&app, &["T1"]).await;
    let first = checkout(&app, &buyer, &id).await;
    let second = checkout(&app, &buyer, &id).await;
    assert_eq!(second.status, StatusCode::OK, "{:?}", second.body);
    assert_eq!(
        first.body["payment_intent_id"],
        second.body["payment_intent_id"]
    );
    assert_eq!(first.body["client_secret"], second.body["client_secret"]);
}

#[tokio::test]
async fn a_stalled_stripe_is_a_503_problem_and_checking_out_again_returns_the_same_payment_intent()
{
    let app = TestApp::spawn().await;
    let (_, buyer, id) = held_units(&app, &["T1"]).await;
    // Stripe makes the PaymentIntent but its answer never comes in time.
    app.stripe.fail_next_on(
        "/v1/payment_intents",
        1,
        fake_stripe::Failure::Stall(std::time::Duration::from_secs(30)),
    );
    let stalled = checkout(&app, &buyer, &id).await;
    assert_problem(
        &stalled,
        StatusCode::SERVICE_UNAVAILABLE,
        "PAYMENTS_UNAVAILABLE",
    );
    let again = checkout(&app, &buyer, &id).await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    let created: Vec<_> = app
        .stripe
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/payment_intents")
        .collect();
    assert_eq!(created.len(), 2);
    assert_eq!(
        created[0].idempotency_key, created[1].idempotency_key,
        "one PaymentIntent however often checkout is called"
    );
    assert_eq!(
        app.stripe
            .payment_intent(again.body["payment_intent_id"].as_str().unwrap())
            .unwrap()["metadata"]["booking_id"],
        id.as_str()
    );
}

#[tokio::test]
async fn an_expired_hold_cannot_be_checked_out() {
    let app = TestApp::spawn().await;
    let (_, _, id) = held_units(&app, &["T1"]).await;
    app.clock.advance(Duration::minutes(11));
    let buyer = app.sign_in(&app.email("buyer")).await;
    assert_problem(
        &checkout(&app, &buyer, &id).await,
        StatusCode::CONFLICT,
        "HOLD_EXPIRED",
    );
}

#[tokio::test]
async fn only_the_holder_checks_out() {
    let app = TestApp::spawn().await;
    let (_, _, id) = held_units(&app, &["T1"]).await;
    let mallory = app.sign_in(&app.email("mallory")).await;
    assert_problem(
        &checkout(&app, &mallory, &id).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    let staff = app.user_with_role("staff", "staff").await;
    assert_problem(
        &checkout(&app, &staff, &id).await,
        StatusCode::FORBIDDEN,
        "NOT_OWNER",
    );
}

#[tokio::test]
async fn a_paid_hold_is_confirmed_with_one_ticket_per_seat_and_a_mail() {
    let app = TestApp::spawn().await;
    let (event, buyer, id) = held_units(&app, &["T2"]).await;
    assert_problem(
        &tickets(&app, &buyer, &id).await,
        StatusCode::CONFLICT,
        "BOOKING_NOT_CONFIRMED",
    );
    let intent = checked_out(&app, &buyer, &id).await;
    let delivered = app.pay(&intent).await;
    assert_eq!(delivered.status, StatusCode::OK, "{:?}", delivered.body);
    assert_eq!(delivered.body["duplicate"], false);
    assert_eq!(booking(&app, &buyer, &id).await["status"], "confirmed");
    let availability = app
        .get(&format!("/v1/events/{event}/availability"), None)
        .await;
    assert_eq!(
        availability.body["units"][1],
        json!({ "id": "T2", "state": "booked" })
    );
    let listed = tickets(&app, &buyer, &id).await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    let items = listed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 8, "grid(3) units have 8 seats each");
    assert_eq!(items[0]["label"], "Table 2, seat 1");
    assert!(items[0]["qr_svg"].as_str().unwrap().starts_with("<?xml"));
    assert!(!items[0]["token"].as_str().unwrap().is_empty());
    assert_eq!(confirmation_mails(&app.email("buyer")).await, 1);
}

#[tokio::test]
async fn a_booking_with_more_tickets_than_its_confirmation_can_write_still_gets_every_ticket_and_one_mail()
 {
    // 13 tables of 8 seats: 104 tickets, beyond a transaction's 100 writes,
    // so they are issued after the confirmation instead of within it.
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(13), 13).await;
    let buyer = app.sign_in(&app.email("buyer")).await;
    let units: Vec<String> = (1..=13).map(|i| format!("T{i}")).collect();
    let units: Vec<&str> = units.iter().map(String::as_str).collect();
    let held = hold_units(&app, &buyer, &event, &units).await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    let id = held.body["id"].as_str().unwrap();
    let intent = checked_out(&app, &buyer, id).await;
    let delivered = app.pay(&intent).await;
    assert_eq!(delivered.status, StatusCode::OK, "{:?}", delivered.body);
    assert_eq!(booking(&app, &buyer, id).await["status"], "confirmed");
    assert_eq!(ticket_count(&app, &buyer, id).await, 104);
    assert_eq!(confirmation_mails(&app.email("buyer")).await, 1);
}

#[tokio::test]
async fn a_repeated_delivery_is_acknowledged_without_a_second_effect() {
    let app = TestApp::spawn().await;
    let (_, buyer, id) = held_units(&app, &["T1"]).await;
    let intent = checked_out(&app, &buyer, &id).await;
    let delivery = app
        .stripe
        .succeed(&intent, app.clock_now().unix_timestamp())
        .unwrap();
    let first = app.deliver(&delivery.body, Some(&delivery.signature)).await;
    let again = app.deliver(&delivery.body, Some(&delivery.signature)).await;
    assert_eq!(first.body["duplicate"], false);
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["duplicate"], true);
    assert_eq!(ticket_count(&app, &buyer, &id).await, 8);
}

#[tokio::test]
async fn ten_simultaneous_deliveries_confirm_once_with_one_set_of_tickets_and_one_mail() {
    let app = TestApp::spawn().await;
    let (_, buyer, id) = held_units(&app, &["T1"]).await;
    let intent = checked_out(&app, &buyer, &id).await;
    let delivery = app
        .stripe
        .succeed(&intent, app.clock_now().unix_timestamp())
        .unwrap();
    let answers =
        join_all((0..10).map(|_| app.deliver(&delivery.body, Some(&delivery.signature)))).await;
    assert!(
        answers.iter().all(|a| a.status == StatusCode::OK),
        "{:?}",
        answers.iter().map(|a| &a.body).collect::<Vec<_>>()
    );
    assert_eq!(booking(&app, &buyer, &id).await["status"], "confirmed");
    assert_eq!(ticket_count(&app, &buyer, &id).await, 8);
    assert_eq!(confirmation_mails(&app.email("buyer")).await, 1);
}

#[tokio::test]
async fn deliveries_with_a_missing_bad_or_stale_signature_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (_, buyer, id) = held_units(&app, &["T1"]).await;
    let intent = checked_out(&app, &buyer, &id).await;
    let now = app.clock_now().unix_timestamp();
    let delivery = app.stripe.succeed(&intent, now).unwrap();
    let stale = app.stripe.succeed(&intent, now - 301).unwrap();
    let tampered = delivery
        .body
        .replace("\"livemode\":false", "\"livemode\":true");
    let refused = [
        app.deliver(&delivery.body, None).await,
        app.deliver(&delivery.body, Some("t=1,v1=deadbeef")).await,
        app.deliver(&tampered, Some(&delivery.signature)).await,
        app.deliver(&stale.body, Some(&stale.signature)).await,
    ];
    for response in &refused {
        assert_problem(response, StatusCode::BAD_REQUEST, "INVALID_SIGNATURE");
    }
    assert_eq!(booking(&app, &buyer, &id).await["status"], "held");
}

#[tokio::test]
async fn a_late_payment_takes_the_units_again_when_they_are_still_free() {
    let app = TestApp::spawn().await;
    let (_, buyer, id) = held_units(&app, &["T1"]).await;
    let intent = checked_out(&app, &buyer, &id).await;
    app.clock.advance(Duration::minutes(30));
    assert_eq!(app.pay(&intent).await.status, StatusCode::OK);
    let buyer = app.sign_in(&app.email("buyer")).await;
    assert_eq!(booking(&app, &buyer, &id).await["status"], "confirmed");
    assert!(app.stripe.refunds().is_empty());
}

#[tokio::test]
async fn a_late_payment_is_refunded_when_the_units_were_sold_again() {
    let app = TestApp::spawn().await;
    let (event, buyer, id) = held_units(&app, &["T1", "T2"]).await;
    let intent = checked_out(&app, &buyer, &id).await;
    app.clock.advance(Duration::minutes(30));
    let rival = app.sign_in(&app.email("rival")).await;
    let rival_hold = hold_units(&app, &rival, &event, &["T2"]).await;
    assert_eq!(rival_hold.status, StatusCode::CREATED);
    assert_eq!(app.pay(&intent).await.status, StatusCode::OK);
    let buyer = app.sign_in(&app.email("buyer")).await;
    let refunded = booking(&app, &buyer, &id).await;
    assert_eq!(refunded["status"], "refunded");
    assert_eq!(refunded["refund_status"], "pending");
    assert_eq!(app.run_refund_worker(5).await, 0);
    assert_eq!(
        booking(&app, &buyer, &id).await["refund_status"],
        "succeeded"
    );
    let refunds = app.stripe.refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0]["payment_intent"], intent.as_str());
    let states = app
        .get(&format!("/v1/events/{event}/availability"), None)
        .await;
    assert_eq!(
        states.body["units"][0]["state"], "available",
        "T1 is not kept for a refunded booking"
    );
    assert_eq!(
        states.body["units"][1]["state"], "held",
        "the rival keeps T2"
    );
}

#[tokio::test]
async fn a_late_payment_for_an_open_event_takes_places_again_if_any_are_left() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, open(2), 10).await;
    let buyer = app.sign_in(&app.email("buyer")).await;
    let held = hold(&app, &buyer, &event, json!({ "quantity": 2 })).await;
    let id = held.body["id"].as_str().unwrap().to_owned();
    let intent = checked_out(&app, &buyer, &id).await;
    app.clock.advance(Duration::minutes(30));
    assert_eq!(app.pay(&intent).await.status, StatusCode::OK);
    let buyer = app.sign_in(&app.email("buyer")).await;
    assert_eq!(booking(&app, &buyer, &id).await["status"], "confirmed");
    let availability = app
        .get(&format!("/v1/events/{event}/availability"), None)
        .await;
    assert_eq!(availability.body["remaining"], 0);
    assert_eq!(ticket_count(&app, &buyer, &id).await, 2);
}

#[tokio::test]
async fn a_late_payment_for_an_open_event_takes_places_from_any_shard_with_room() {
    let app = TestApp::spawn().await;
    // 100 places: ten shards of ten.
    let event = published_event(&app, open(100), 10).await;
    let buyer = app.sign_in(&app.email("buyer")).await;
    let held = hold(&app, &buyer, &event, json!({ "quantity": 10 })).await;
    let id = held.body["id"].as_str().unwrap().to_owned();
    let intent = checked_out(&app, &buyer, &id).await;
    app.clock.advance(Duration::minutes(30));
    let store = &app.state.app.store;
    let lapsed = store.booking(&id).await.unwrap().unwrap();
    assert!(store.expire_hold(&lapsed, app.clock_now()).await.unwrap());
    // Others bought the shard it held from down to 5 places.
    let shard = lapsed.allocations[0].shard;
    let (client, table) = table().await;
    client
        .update_item()
        .table_name(&table)
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("INV#{event}#{shard}")),
        )
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S("INV".into()),
        )
        .update_expression("SET remaining = :five")
        .expression_attribute_values(
            ":five",
            aws_sdk_dynamodb::types::AttributeValue::N("5".into()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(app.pay(&intent).await.status, StatusCode::OK);
    let buyer = app.sign_in(&app.email("buyer")).await;
    assert_eq!(booking(&app, &buyer, &id).await["status"], "confirmed");
    assert!(app.stripe.refunds().is_empty());
    let mut remaining = crate::holds::shard_remaining(&event).await;
    remaining.sort();
    assert_eq!(
        remaining,
        vec![0, 5],
        "the ten places came whole from a shard with room, not from the one left with 5"
    );
}

#[tokio::test]
async fn a_failed_payment_leaves_the_hold_as_it_was() {
    let app = TestApp::spawn().await;
    let (_, buyer, id) = held_units(&app, &["T1"]).await;
    let intent = checked_out(&app, &buyer, &id).await;
    let object = app.stripe.payment_intent(&intent).unwrap();
    let delivery = app.stripe.delivery(
        "evt_failed_1",
        "payment_intent.payment_failed",
        object,
        app.clock_now().unix_timestamp(),
    );
    let answer = app.deliver(&delivery.body, Some(&delivery.signature)).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(booking(&app, &buyer, &id).await["status"], "held");
}

#[tokio::test]
async fn a_refund_made_in_stripe_marks_the_confirmed_booking_refunded() {
    let app = TestApp::spawn().await;
    let (_, buyer, id) = held_units(&app, &["T1"]).await;
    let intent = checked_out(&app, &buyer, &id).await;
    app.pay(&intent).await;
    let delivery = dashboard_refund(&app, &intent, None);
    assert_eq!(
        app.deliver(&delivery.body, Some(&delivery.signature))
            .await
            .status,
        StatusCode::OK
    );
    let refunded = booking(&app, &buyer, &id).await;
    assert_eq!(refunded["status"], "refunded");
    assert_eq!(refunded["refund_status"], "succeeded");
    assert_eq!(refunded["refunded_cents"], 1000);
}

#[tokio::test]
async fn events_of_other_types_are_acknowledged_and_ignored() {
    let app = TestApp::spawn().await;
    let delivery = app.stripe.delivery(
        &format!("evt_other_{}", app.tag),
        "customer.created",
        json!({ "id": "cus_1" }),
        app.clock_now().unix_timestamp(),
    );
    let answer = app.deliver(&delivery.body, Some(&delivery.signature)).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
}

#[tokio::test]
async fn with_a_connected_account_the_sale_is_a_destination_charge_minus_the_platform_fee() {
    let app = TestApp::spawn().await;
    connect_an_account().await;
    let (_, buyer, id) = held_units(&app, &["T2"]).await;
    let intent = checked_out(&app, &buyer, &id).await;
    let intent = app.stripe.payment_intent(&intent).unwrap();
    assert_eq!(intent["transfer_data"]["destination"], "acct_integration");
    assert_eq!(
        intent["application_fee_amount"],
        30 + 50,
        "30 + 2.5 % of 2000"
    );
    assert_eq!(booking(&app, &buyer, &id).await["fee_cents"], 80);
}

/// The organizer's connected account, 30 cents + 2.5 % for the platform.
/// Settings are shared by every app: every test that sets them sets these.
pub(crate) async fn connect_an_account() {
    let (client, table) = table().await;
    for (key, value) in [
        ("stripe_account_id", json!("acct_integration")),
        ("platform_fee_fixed_cents", json!(30)),
        ("platform_fee_percent", json!(2.5)),
    ] {
        client
            .put_item()
            .table_name(&table)
            .item(
                "PK",
                aws_sdk_dynamodb::types::AttributeValue::S("SETTINGS".into()),
            )
            .item("SK", aws_sdk_dynamodb::types::AttributeValue::S(key.into()))
            .item(
                "value",
                aws_sdk_dynamodb::types::AttributeValue::S(value.to_string()),
            )
            .send()
            .await
            .unwrap();
    }
}

/// A developer cancels the event.
pub(crate) async fn cancel_event(app: &TestApp, event: &str) -> Response {
    let developer = app.sign_in(&app.developer_email()).await;
    app.post(
        &format!("/v1/events/{event}/cancel"),
        Some(&developer.access_token),
        json!({}),
    )
    .await
}

pub(crate) async fn cancel(app: &TestApp, who: &Session, id: &str) -> Response {
    app.post(
        &format!("/v1/bookings/{id}/cancel"),
        Some(&who.access_token),
        json!({}),
    )
    .await
}

/// A confirmed online booking of T1 on a fresh grid event.
pub(crate) async fn paid_units(app: &TestApp) -> (String, Session, String, String) {
    let (event, buyer, id) = held_units(app, &["T1"]).await;
    let intent = checked_out(app, &buyer, &id).await;
    assert_eq!(app.pay(&intent).await.status, StatusCode::OK);
    (event, buyer, id, intent)
}

#[tokio::test]
async fn the_holder_cancels_a_paid_booking_and_gets_the_money_back() {
    let app = TestApp::spawn().await;
    let (event, buyer, id, intent) = paid_units(&app).await;
    let cancelled = cancel(&app, &buyer, &id).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["status"], "refunded");
    assert_eq!(cancelled.body["refund_status"], "pending");
    assert!(
        app.stripe.refunds().is_empty(),
        "the refund is owed first, then sent by the worker"
    );
    assert_eq!(app.run_refund_worker(5).await, 0);
    let refunded = booking(&app, &buyer, &id).await;
    assert_eq!(refunded["status"], "refunded");
    assert_eq!(refunded["refund_status"], "succeeded");
    let refunds = app.stripe.refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0]["payment_intent"], intent.as_str());
    assert_eq!(refunded["refund_id"], refunds[0]["id"]);
    let availability = app
        .get(&format!("/v1/events/{event}/availability"), None)
        .await;
    assert_eq!(
        availability.body["units"][0],
        json!({ "id": "T1", "state": "available" })
    );
    assert_problem(
        &tickets(&app, &buyer, &id).await,
        StatusCode::CONFLICT,
        "BOOKING_NOT_CONFIRMED",
    );
}

#[tokio::test]
async fn cancelling_again_refunds_once() {
    let app = TestApp::spawn().await;
    let (_, buyer, id, _) = paid_units(&app).await;
    assert_eq!(cancel(&app, &buyer, &id).await.status, StatusCode::OK);
    let again = cancel(&app, &buyer, &id).await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert_eq!(again.body["status"], "refunded");
    app.run_refund_worker(5).await;
    assert_eq!(cancel(&app, &buyer, &id).await.status, StatusCode::OK);
    app.run_refund_worker(5).await;
    assert_eq!(app.stripe.refunds().len(), 1);
}

#[tokio::test]
async fn a_booking_someone_was_admitted_with_cannot_be_cancelled() {
    let app = TestApp::spawn().await;
    let (event, buyer, id, _) = paid_units(&app).await;
    let token = tickets(&app, &buyer, &id).await.body["items"][0]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let door = app.user_with_role("door", "staff").await;
    let admitted = app
        .post(
            "/v1/checkin",
            Some(&door.access_token),
            json!({ "token": token, "event_id": event }),
        )
        .await;
    assert_eq!(admitted.body["result"], "checked_in", "{:?}", admitted.body);
    assert_problem(
        &cancel(&app, &buyer, &id).await,
        StatusCode::CONFLICT,
        "BOOKING_IN_USE",
    );
    assert!(app.stripe.refunds().is_empty());
}

#[tokio::test]
async fn the_tickets_of_a_cancelled_booking_no_longer_admit() {
    let app = TestApp::spawn().await;
    let (event, buyer, id, _) = paid_units(&app).await;
    let token = tickets(&app, &buyer, &id).await.body["items"][0]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(cancel(&app, &buyer, &id).await.status, StatusCode::OK);
    let door = app.user_with_role("door", "staff").await;
    let scanned = app
        .post(
            "/v1/checkin",
            Some(&door.access_token),
            json!({ "token": token, "event_id": event }),
        )
        .await;
    assert_problem(&scanned, StatusCode::NOT_FOUND, "TICKET_INVALID");
}

#[tokio::test]
async fn only_confirmed_bookings_are_cancelled_and_only_by_their_holder_or_an_admin() {
    let app = TestApp::spawn().await;
    let (_, buyer, held) = held_units(&app, &["T2"]).await;
    assert_problem(
        &cancel(&app, &buyer, &held).await,
        StatusCode::CONFLICT,
        "BOOKING_NOT_CONFIRMED",
    );
    let (_, _, paid, _) = paid_units(&app).await;
    let mallory = app.sign_in(&app.email("mallory")).await;
    assert_problem(
        &cancel(&app, &mallory, &paid).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    let staff = app.user_with_role("staff", "staff").await;
    assert_problem(
        &cancel(&app, &staff, &paid).await,
        StatusCode::FORBIDDEN,
        "NOT_OWNER",
    );
    let admin = app.user_with_role("admin", "admin").await;
    let cancelled = cancel(&app, &admin, &paid).await;
    assert_eq!(cancelled.body["status"], "refunded", "{:?}", cancelled.body);
}

#[tokio::test]
async fn an_admin_cancels_a_cash_sale_without_a_refund() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(2), 10).await;
    let admin = app.user_with_role("cashier", "admin").await;
    let sold = app
        .post(
            &format!("/v1/admin/events/{event}/walk-in"),
            Some(&admin.access_token),
            json!({ "units": ["T2"], "name": "Grace Hopper" }),
        )
        .await;
    let id = sold.body["id"].as_str().unwrap();
    let cancelled = cancel(&app, &admin, id).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert!(app.stripe.refunds().is_empty());
    let availability = app
        .get(&format!("/v1/events/{event}/availability"), None)
        .await;
    assert_eq!(availability.body["units"][1]["state"], "available");
}

#[tokio::test]
async fn a_success_delivered_after_its_refund_does_not_confirm_the_booking() {
    let app = TestApp::spawn().await;
    let (event, buyer, id) = held_units(&app, &["T1"]).await;
    let intent = checked_out(&app, &buyer, &id).await;
    let succeeded = app
        .stripe
        .succeed(&intent, app.clock_now().unix_timestamp())
        .unwrap();
    let refunded = dashboard_refund(&app, &intent, None);
    assert_eq!(
        app.deliver(&refunded.body, Some(&refunded.signature))
            .await
            .status,
        StatusCode::OK
    );
    let late = app
        .deliver(&succeeded.body, Some(&succeeded.signature))
        .await;
    assert_eq!(late.status, StatusCode::OK, "{:?}", late.body);
    assert_eq!(booking(&app, &buyer, &id).await["status"], "held");
    let availability = app
        .get(&format!("/v1/events/{event}/availability"), None)
        .await;
    assert_eq!(
        availability.body["units"][0]["state"], "held",
        "not booked for a refunded payment"
    );
    app.run_refund_worker(5).await;
    assert!(
        app.stripe.refund_requests().is_empty(),
        "the money went back already"
    );
}

#[tokio::test]
async fn cancelling_an_event_refunds_its_confirmed_bookings() {
    let app = TestApp::spawn().await;
    let (event, buyer, id, intent) = paid_units(&app).await;
    let admin = app.user_with_role("admin", "admin").await;
    let cash = app
        .post(
            &format!("/v1/admin/events/{event}/walk-in"),
            Some(&admin.access_token),
            json!({ "units": ["T2"], "name": "Grace Hopper" }),
        )
        .await;
    let cash_id = cash.body["id"].as_str().unwrap().to_owned();
    let cancelled = cancel_event(&app, &event).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    assert!(
        app.stripe.refunds().is_empty(),
        "the cancellation answers at once"
    );
    assert_eq!(app.run_refund_worker(10).await, 0);
    let refunded = booking(&app, &buyer, &id).await;
    assert_eq!(refunded["status"], "refunded");
    assert_eq!(refunded["refund_status"], "succeeded");
    assert_eq!(booking(&app, &admin, &cash_id).await["status"], "refunded");
    let refunds = app.stripe.refunds();
    assert_eq!(
        refunds.len(),
        1,
        "the cash sale is owed back at the door, not through Stripe"
    );
    assert_eq!(refunds[0]["payment_intent"], intent.as_str());
    let again = cancel_event(&app, &event).await;
    assert_eq!(again.status, StatusCode::OK);
    app.run_refund_worker(10).await;
    assert_eq!(app.stripe.refunds().len(), 1, "never refunded twice");
}

#[tokio::test]
async fn a_payment_for_a_cancelled_event_is_refunded() {
    let app = TestApp::spawn().await;
    let (event, buyer, id) = held_units(&app, &["T1"]).await;
    let intent = checked_out(&app, &buyer, &id).await;
    cancel_event(&app, &event).await;
    assert_eq!(app.pay(&intent).await.status, StatusCode::OK);
    assert_eq!(booking(&app, &buyer, &id).await["status"], "refunded");
    app.run_refund_worker(5).await;
    assert_eq!(
        booking(&app, &buyer, &id).await["refund_status"],
        "succeeded"
    );
    assert_eq!(app.stripe.refunds().len(), 1);
    assert_problem(
        &tickets(&app, &buyer, &id).await,
        StatusCode::CONFLICT,
        "BOOKING_NOT_CONFIRMED",
    );
}
