//! The wallet: a ledger whose entries always sum to its balance, topped up
//! through Stripe once per payment, spent at checkout in full or in part
//! (the part reserved until the card pays), given back when a hold ends or
//! a booking is refunded, credited by admins with an audit entry, and never
//! negative, not even when a spent top-up is refunded.

use axum::http::StatusCode;
use futures::future::join_all;
use integration_tests::{Options, Response, Session, TestApp, assert_problem, sqs_event, table};
use serde_json::{Value, json};
use shared::domain::schedule::ScheduledJob;
use time::{Duration, OffsetDateTime};

use crate::holds::{grid, hold, hold_units, open, published_event, release};
use crate::payments::{
    booking, cancel, cancel_event, confirmation_mails, dashboard_refund, ticket_count, tickets,
};

async fn wallet_checkout(app: &TestApp, who: &Session, id: &str, wallet_cents: i64) -> Response {
    app.post(
        &format!("/v1/bookings/{id}/checkout"),
        Some(&who.access_token),
        json!({ "wallet_cents": wallet_cents }),
    )
    .await
}

async fn top_up(app: &TestApp, who: &Session, amount_cents: i64) -> Response {
    app.post(
        "/v1/me/wallet/top-ups",
        Some(&who.access_token),
        json!({ "amount_cents": amount_cents, "currency": "EUR" }),
    )
    .await
}

/// Tops the wallet up by `amount_cents` euro cents and pays it; returns the
/// top-up's PaymentIntent.
async fn topped_up(app: &TestApp, who: &Session, amount_cents: i64) -> String {
    let started = top_up(app, who, amount_cents).await;
    assert_eq!(started.status, StatusCode::CREATED, "{:?}", started.body);
    let intent = started.body["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.pay(&intent).await.status, StatusCode::OK);
    intent
}

/// An admin credits `who`'s euro wallet.
async fn credited(app: &TestApp, who: &Session, amount_cents: i64) -> Response {
    let admin = app.sign_in(&app.developer_email()).await;
    app.post(
        &format!(
            "/v1/admin/users/{}/wallet/credits",
            who.user["id"].as_str().unwrap()
        ),
        Some(&admin.access_token),
        json!({ "amount_cents": amount_cents, "currency": "eur", "reason": "goodwill" }),
    )
    .await
}

async fn funded(app: &TestApp, who: &Session, amount_cents: i64) {
    let credit = credited(app, who, amount_cents).await;
    assert_eq!(credit.status, StatusCode::CREATED, "{:?}", credit.body);
}

/// (balance_cents, reserved_cents) of the euro wallet; (0, 0) before any.
async fn euros(app: &TestApp, who: &Session) -> (i64, i64) {
    let wallet = app.get("/v1/me/wallet", Some(&who.access_token)).await;
    assert_eq!(wallet.status, StatusCode::OK, "{:?}", wallet.body);
    wallet.body["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["currency"] == "eur")
        .map_or((0, 0), |b| {
            (
                b["balance_cents"].as_i64().unwrap(),
                b["reserved_cents"].as_i64().unwrap(),
            )
        })
}

/// Every ledger entry, newest first, page by page.
async fn entries(app: &TestApp, who: &Session) -> Vec<Value> {
    let mut all = Vec::new();
    let mut path = "/v1/me/wallet?limit=7".to_owned();
    loop {
        let page = app.get(&path, Some(&who.access_token)).await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        all.extend(page.body["entries"].as_array().unwrap().iter().cloned());
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/me/wallet?limit=7&cursor={cursor}"),
            None => return all,
        }
    }
}

fn kinds(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect()
}

/// The recomputation: the money entries sum to the balance, all entries
/// to what is available (balance less reserved), and nothing is negative.
async fn assert_ledger_adds_up(app: &TestApp, who: &Session) -> Vec<Value> {
    let (balance, reserved) = euros(app, who).await;
    let ledger = entries(app, who).await;
    let sum = |money_only: bool| -> i64 {
        ledger
            .iter()
            .filter(|e| {
                !money_only || !["reservation", "release"].contains(&e["kind"].as_str().unwrap())
            })
            .map(|e| e["amount_cents"].as_i64().unwrap())
            .sum()
    };
    assert_eq!(sum(true), balance, "money entries vs balance: {ledger:?}");
    assert_eq!(
        sum(false),
        balance - reserved,
        "all entries vs available: {ledger:?}"
    );
    assert!(balance >= 0 && reserved >= 0 && balance >= reserved);
    ledger
}

/// A buyer's hold of one unit of a fresh grid event (T1 1000, T2 2000, T3
/// 3000 cents).
async fn held(app: &TestApp, unit: &str) -> (String, Session, String) {
    let event = published_event(app, grid(3), 10).await;
    let buyer = app.sign_in(&app.email("buyer")).await;
    let held = hold_units(app, &buyer, &event, &[unit]).await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    (event, buyer, held.body["id"].as_str().unwrap().to_owned())
}

/// T2 (2000) checked out with 800 from the wallet: (buyer, booking, intent).
async fn split_checkout(app: &TestApp) -> (Session, String, String) {
    let (_, buyer, id) = held(app, "T2").await;
    funded(app, &buyer, 1_000).await;
    let checkout = wallet_checkout(app, &buyer, &id, 800).await;
    assert_eq!(checkout.status, StatusCode::OK, "{:?}", checkout.body);
    assert_eq!(checkout.body["amount_cents"], 1_200, "the card part");
    assert_eq!(checkout.body["wallet_cents"], 800);
    let intent = checkout.body["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    (buyer, id, intent)
}

#[tokio::test]
async fn a_top_up_is_credited_once_under_ten_duplicate_concurrent_deliveries() {
    let app = TestApp::spawn().await;
    let ada = app.sign_in(&app.email("ada")).await;
    let started = top_up(&app, &ada, 5_000).await;
    assert_eq!(started.status, StatusCode::CREATED, "{:?}", started.body);
    assert_eq!(started.body["currency"], "eur");
    assert!(started.body["client_secret"].is_string());
    let intent = started.body["payment_intent_id"].as_str().unwrap();
    assert_eq!(
        euros(&app, &ada).await,
        (0, 0),
        "nothing before Stripe says paid"
    );
    let delivery = app
        .stripe
        .succeed(intent, app.clock_now().unix_timestamp())
        .unwrap();
    let answers =
        join_all((0..10).map(|_| app.deliver(&delivery.body, Some(&delivery.signature)))).await;
    assert!(
        answers.iter().all(|a| a.status == StatusCode::OK),
        "{:?}",
        answers.iter().map(|a| &a.body).collect::<Vec<_>>()
    );
    assert_eq!(euros(&app, &ada).await, (5_000, 0));
    let ledger = assert_ledger_adds_up(&app, &ada).await;
    assert_eq!(kinds(&ledger), ["top_up"]);
    assert_eq!(ledger[0]["payment_intent_id"], intent);
}

#[tokio::test]
async fn top_ups_outside_the_range_or_currency_are_refused() {
    let app = TestApp::spawn().await;
    let ada = app.sign_in(&app.email("ada")).await;
    for amount in [99, 100_001] {
        assert_problem(
            &top_up(&app, &ada, amount).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        );
    }
    let bad_currency = app
        .post(
            "/v1/me/wallet/top-ups",
            Some(&ada.access_token),
            json!({ "amount_cents": 500, "currency": "xyz" }),
        )
        .await;
    assert_problem(
        &bad_currency,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );
    assert!(app.stripe.payment_intents().is_empty());
}

#[tokio::test]
async fn a_booking_paid_in_full_from_the_wallet_is_confirmed_at_once_with_tickets_and_mail() {
    let app = TestApp::spawn().await;
    let (_, buyer, id) = held(&app, "T1").await;
    funded(&app, &buyer, 1_500).await;
    let paid = wallet_checkout(&app, &buyer, &id, 1_000).await;
    assert_eq!(paid.status, StatusCode::OK, "{:?}", paid.body);
    assert_eq!(paid.body["payment_intent_id"], Value::Null);
    assert_eq!(paid.body["client_secret"], Value::Null);
    assert_eq!(paid.body["amount_cents"], 0);
    assert_eq!(paid.body["wallet_cents"], 1_000);
    assert_eq!(paid.body["booking"]["status"], "confirmed");
    assert_eq!(paid.body["booking"]["paid_wallet_cents"], 1_000);
    assert_eq!(paid.body["booking"]["paid_card_cents"], 0);
    assert!(app.stripe.payment_intents().is_empty(), "no Stripe");
    assert_eq!(ticket_count(&app, &buyer, &id).await, 8);
    assert_eq!(confirmation_mails(&app.email("buyer")).await, 1);
    assert_eq!(euros(&app, &buyer).await, (500, 0));

    let again = wallet_checkout(&app, &buyer, &id, 1_000).await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert_eq!(again.body["wallet_cents"], 1_000);
    assert_problem(
        &wallet_checkout(&app, &buyer, &id, 0).await,
        StatusCode::CONFLICT,
        "CHECKOUT_WALLET_MISMATCH",
    );
    assert_eq!(euros(&app, &buyer).await, (500, 0), "paid once");
    let ledger = assert_ledger_adds_up(&app, &buyer).await;
    assert_eq!(kinds(&ledger), ["payment", "credit"]);
    assert_eq!(ledger[0]["booking_id"], id.as_str());
}

#[tokio::test]
async fn a_split_payment_reserves_the_wallet_part_and_the_webhook_confirmation_spends_it() {
    let app = TestApp::spawn().await;
    let (buyer, id, intent) = split_checkout(&app).await;
    assert_eq!(app.stripe.payment_intent(&intent).unwrap()["amount"], 1_200);
    assert_eq!(
        euros(&app, &buyer).await,
        (1_000, 800),
        "reserved, not spent"
    );
    let again = wallet_checkout(&app, &buyer, &id, 800).await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert_eq!(
        again.body["payment_intent_id"],
        intent.as_str(),
        "the same answer"
    );
    assert_problem(
        &wallet_checkout(&app, &buyer, &id, 500).await,
        StatusCode::CONFLICT,
        "CHECKOUT_WALLET_MISMATCH",
    );
    assert_eq!(euros(&app, &buyer).await, (1_000, 800), "reserved once");

    assert_eq!(app.pay(&intent).await.status, StatusCode::OK);
    let confirmed = booking(&app, &buyer, &id).await;
    assert_eq!(confirmed["status"], "confirmed");
    assert_eq!(confirmed["paid_wallet_cents"], 800);
    assert_eq!(confirmed["paid_card_cents"], 1_200);
    assert_eq!(ticket_count(&app, &buyer, &id).await, 8);
    assert_eq!(euros(&app, &buyer).await, (200, 0));
    let ledger = assert_ledger_adds_up(&app, &buyer).await;
    assert_eq!(
        kinds(&ledger),
        ["payment", "release", "reservation", "credit"]
    );
}

#[tokio::test]
async fn a_split_payment_whose_hold_expires_gives_the_reservation_back() {
    let app = TestApp::spawn().await;
    let (buyer, id, _) = split_checkout(&app).await;
    let hold = booking(&app, &buyer, &id).await;
    app.clock.advance(Duration::minutes(10));
    let message = json!({ "booking_id": id, "hold_expires_at": hold["hold_expires_at"] });
    let response =
        hold_expiry::handle(&app.hold_expiry, sqs_event(&[("m1", message.to_string())])).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(booking(&app, &buyer, &id).await["status"], "expired");
    assert_eq!(euros(&app, &buyer).await, (1_000, 0));
    let ledger = assert_ledger_adds_up(&app, &buyer).await;
    assert_eq!(kinds(&ledger), ["release", "reservation", "credit"]);
}

#[tokio::test]
async fn a_released_split_hold_gives_the_reservation_back() {
    let app = TestApp::spawn().await;
    let (buyer, id, _) = split_checkout(&app).await;
    let released = release(&app, &buyer, &id).await;
    assert_eq!(released.status, StatusCode::OK, "{:?}", released.body);
    assert_eq!(euros(&app, &buyer).await, (1_000, 0));
    assert_ledger_adds_up(&app, &buyer).await;
}

#[tokio::test]
async fn a_late_split_payment_refunded_for_lost_seats_leaves_the_reservation_given_back() {
    let app = TestApp::spawn().await;
    let (buyer, id, intent) = split_checkout(&app).await;
    app.clock.advance(Duration::minutes(11));
    let event = booking(&app, &buyer, &id).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rival = app.sign_in(&app.email("rival")).await;
    let taken = hold_units(&app, &rival, &event, &["T2"]).await;
    assert_eq!(taken.status, StatusCode::CREATED, "{:?}", taken.body);
    assert_eq!(app.pay(&intent).await.status, StatusCode::OK);
    let refunded = booking(&app, &buyer, &id).await;
    assert_eq!(refunded["status"], "refunded");
    assert_eq!(refunded["refund_status"], "pending");
    assert_eq!(
        euros(&app, &buyer).await,
        (1_000, 0),
        "nothing spent, nothing reserved"
    );
    assert_ledger_adds_up(&app, &buyer).await;
}

#[tokio::test]
async fn a_split_hold_lapsed_and_released_by_the_sweep_gives_the_reservation_back() {
    let _sweeps = integration_tests::sweep_lock().await;
    // In the past, so this app's sweep reaches only holds older still.
    let app = TestApp::with(Options {
        clock_start: Some(OffsetDateTime::now_utc() - Duration::days(3)),
        ..Options::default()
    })
    .await;
    let (buyer, id, _) = split_checkout(&app).await;
    assert_eq!(euros(&app, &buyer).await, (1_000, 800));
    // Its expiry message is never handled: only the sweep sees the hold.
    app.clock.advance(Duration::minutes(11));
    let report = scheduler::handle(&app.scheduler, ScheduledJob::Sweep {})
        .await
        .expect("the sweep runs");
    assert!(report.holds_released >= 1, "{report:?}");
    assert_eq!(booking(&app, &buyer, &id).await["status"], "expired");
    assert_eq!(euros(&app, &buyer).await, (1_000, 0), "all available again");
    let ledger = assert_ledger_adds_up(&app, &buyer).await;
    assert_eq!(kinds(&ledger), ["release", "reservation", "credit"]);
    assert_eq!(ledger[0]["booking_id"], id.as_str());
    assert_eq!(ledger[0]["amount_cents"], 800);
}

/// A split checkout of T2 (800 of 2000 from a wallet of 1000) whose hold
/// lapsed and was expired by the worker, its reservation given back; its
/// card payment has not arrived yet: (buyer, booking, intent).
async fn lapsed_split_checkout(app: &TestApp) -> (Session, String, String) {
    let (buyer, id, intent) = split_checkout(app).await;
    let hold = booking(app, &buyer, &id).await;
    app.clock.advance(Duration::minutes(10));
    let message = json!({ "booking_id": id, "hold_expires_at": hold["hold_expires_at"] });
    let response =
        hold_expiry::handle(&app.hold_expiry, sqs_event(&[("m1", message.to_string())])).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(booking(app, &buyer, &id).await["status"], "expired");
    assert_eq!(euros(app, &buyer).await, (1_000, 0), "given back");
    (buyer, id, intent)
}

/// The reason a refund was owed for, as stored on the booking (the API
/// does not show it).
async fn stored_refund_reason(booking_id: &str) -> Option<String> {
    let (client, table) = table().await;
    let item = client
        .get_item()
        .table_name(&table)
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("BOOKING#{booking_id}")),
        )
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S("META".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("the booking is stored");
    item.get("refund_reason")
        .and_then(|reason| reason.as_s().ok())
        .cloned()
}

/// The amounts the fake Stripe refunded of one PaymentIntent.
fn refunded_amounts(app: &TestApp, intent: &str) -> Vec<i64> {
    app.stripe
        .refunds()
        .iter()
        .filter(|r| r["payment_intent"] == intent)
        .map(|r| r["amount"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_late_card_payment_whose_wallet_part_is_no_longer_there_is_refunded_as_wallet_short() {
    let app = TestApp::spawn().await;
    let (buyer, id, intent) = lapsed_split_checkout(&app).await;
    // The money given back is spent on another booking, all from the wallet.
    let event = booking(&app, &buyer, &id).await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = hold_units(&app, &buyer, &event, &["T1"]).await;
    assert_eq!(other.status, StatusCode::CREATED, "{:?}", other.body);
    let other = other.body["id"].as_str().unwrap();
    let spent = wallet_checkout(&app, &buyer, other, 1_000).await;
    assert_eq!(spent.status, StatusCode::OK, "{:?}", spent.body);
    assert_eq!(euros(&app, &buyer).await, (0, 0));

    // T2 is still free, so only the wallet stands in the way.
    assert_eq!(app.pay(&intent).await.status, StatusCode::OK);
    let refunded = booking(&app, &buyer, &id).await;
    assert_eq!(refunded["status"], "refunded", "{refunded}");
    assert_eq!(refunded["refund_status"], "pending");
    assert_eq!(
        stored_refund_reason(&id).await.as_deref(),
        Some("wallet_short")
    );
    assert_problem(
        &tickets(&app, &buyer, &id).await,
        StatusCode::CONFLICT,
        "BOOKING_NOT_CONFIRMED",
    );
    assert_eq!(app.run_refund_worker(5).await, 0);
    assert_eq!(
        refunded_amounts(&app, &intent),
        [1_200],
        "the card part, once"
    );
    assert_eq!(
        booking(&app, &buyer, &id).await["refund_status"],
        "succeeded"
    );
    let availability = app
        .get(&format!("/v1/events/{event}/availability"), None)
        .await;
    assert_eq!(availability.body["units"][1]["state"], "available", "T2");
    assert_eq!(euros(&app, &buyer).await, (0, 0), "never below zero");
    let ledger = assert_ledger_adds_up(&app, &buyer).await;
    assert_eq!(
        kinds(&ledger),
        ["payment", "release", "reservation", "credit"]
    );
    assert_eq!(ledger[0]["booking_id"], other, "the other booking's");
}

#[tokio::test]
async fn a_late_card_payment_whose_wallet_part_is_still_there_spends_it_and_confirms() {
    let app = TestApp::spawn().await;
    let (buyer, id, intent) = lapsed_split_checkout(&app).await;
    assert_eq!(app.pay(&intent).await.status, StatusCode::OK);
    let confirmed = booking(&app, &buyer, &id).await;
    assert_eq!(confirmed["status"], "confirmed", "{confirmed}");
    assert_eq!(confirmed["paid_wallet_cents"], 800);
    assert_eq!(confirmed["paid_card_cents"], 1_200);
    assert_eq!(ticket_count(&app, &buyer, &id).await, 8);
    assert!(app.stripe.refunds().is_empty(), "nothing refunded");
    assert_eq!(
        euros(&app, &buyer).await,
        (200, 0),
        "spent from what is available"
    );
    let ledger = assert_ledger_adds_up(&app, &buyer).await;
    assert_eq!(
        kinds(&ledger),
        ["payment", "release", "reservation", "credit"]
    );
    assert_eq!(ledger[0]["booking_id"], id.as_str());
    assert_eq!(ledger[0]["amount_cents"], -800);
}

#[tokio::test]
async fn a_split_checkout_beyond_the_wallet_is_a_409_with_nothing_reserved() {
    let app = TestApp::spawn().await;
    let (_, buyer, id) = held(&app, "T2").await;
    funded(&app, &buyer, 500).await;
    assert_problem(
        &wallet_checkout(&app, &buyer, &id, 800).await,
        StatusCode::CONFLICT,
        "INSUFFICIENT_FUNDS",
    );
    assert_eq!(euros(&app, &buyer).await, (500, 0));
    assert_problem(
        &wallet_checkout(&app, &buyer, &id, 2_001).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );
    let by_card = wallet_checkout(&app, &buyer, &id, 500).await;
    assert_eq!(by_card.status, StatusCode::OK, "{:?}", by_card.body);
    assert_eq!(euros(&app, &buyer).await, (500, 500));
    assert_ledger_adds_up(&app, &buyer).await;
}

#[tokio::test]
async fn a_hundred_concurrent_wallet_checkouts_with_money_for_ten_confirm_exactly_ten() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, open(100), 10).await;
    let buyer = app.sign_in(&app.email("buyer")).await;
    let holds =
        join_all((0..100).map(|_| hold(&app, &buyer, &event, json!({ "quantity": 1 })))).await;
    let ids: Vec<String> = holds
        .iter()
        .map(|h| {
            assert_eq!(h.status, StatusCode::CREATED, "{:?}", h.body);
            h.body["id"].as_str().unwrap().to_owned()
        })
        .collect();
    funded(&app, &buyer, 10 * 2_500).await;
    let answers = join_all(
        ids.iter()
            .map(|id| wallet_checkout(&app, &buyer, id, 2_500)),
    )
    .await;
    let confirmed: Vec<&Response> = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .collect();
    assert_eq!(confirmed.len(), 10);
    for refused in answers.iter().filter(|a| a.status != StatusCode::OK) {
        assert_problem(refused, StatusCode::CONFLICT, "INSUFFICIENT_FUNDS");
    }
    // Stored state equals the winners: ten confirmed bookings, ten
    // payments, nothing left, nothing reserved.
    let mut stored_confirmed = 0;
    for id in &ids {
        if booking(&app, &buyer, id).await["status"] == "confirmed" {
            stored_confirmed += 1;
        }
    }
    assert_eq!(stored_confirmed, 10);
    assert_eq!(euros(&app, &buyer).await, (0, 0));
    let ledger = assert_ledger_adds_up(&app, &buyer).await;
    assert_eq!(
        kinds(&ledger).iter().filter(|k| **k == "payment").count(),
        10
    );
}

#[tokio::test]
async fn a_cancelled_split_payment_returns_the_wallet_part_at_once_and_the_card_part_through_stripe()
 {
    let app = TestApp::spawn().await;
    let (buyer, id, intent) = split_checkout(&app).await;
    assert_eq!(app.pay(&intent).await.status, StatusCode::OK);
    assert_eq!(euros(&app, &buyer).await, (200, 0));
    let cancelled = cancel(&app, &buyer, &id).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["status"], "refunded");
    assert_eq!(cancelled.body["refund_status"], "pending");
    assert_eq!(
        euros(&app, &buyer).await,
        (1_000, 0),
        "the wallet part at once"
    );
    assert_eq!(app.run_refund_worker(5).await, 0);
    let refunds = app.stripe.refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0]["payment_intent"], intent.as_str());
    assert_eq!(refunds[0]["amount"], 1_200, "the card part only");
    assert_eq!(
        booking(&app, &buyer, &id).await["refund_status"],
        "succeeded"
    );
    let ledger = assert_ledger_adds_up(&app, &buyer).await;
    assert_eq!(ledger[0]["kind"], "refund");
    assert_eq!(ledger[0]["amount_cents"], 800);
}

#[tokio::test]
async fn a_booking_paid_from_the_wallet_alone_is_refunded_to_the_wallet_when_cancelled() {
    let app = TestApp::spawn().await;
    let (_, buyer, id) = held(&app, "T1").await;
    funded(&app, &buyer, 1_000).await;
    assert_eq!(
        wallet_checkout(&app, &buyer, &id, 1_000).await.status,
        StatusCode::OK
    );
    let cancelled = cancel(&app, &buyer, &id).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["status"], "refunded");
    assert_eq!(euros(&app, &buyer).await, (1_000, 0));
    assert!(app.stripe.refunds().is_empty());
    assert_problem(
        &tickets(&app, &buyer, &id).await,
        StatusCode::CONFLICT,
        "BOOKING_NOT_CONFIRMED",
    );
    assert_eq!(
        cancel(&app, &buyer, &id).await.status,
        StatusCode::OK,
        "again: the same"
    );
    assert_eq!(euros(&app, &buyer).await, (1_000, 0), "refunded once");
    assert_ledger_adds_up(&app, &buyer).await;
}

#[tokio::test]
async fn a_cancelled_events_refund_run_returns_wallet_parts_to_the_wallet_and_card_parts_to_the_card()
 {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(3), 10).await;
    let hold_one = |who: &'static str, unit: &'static str| {
        let (app, event) = (&app, &event);
        async move {
            let buyer = app.sign_in(&app.email(who)).await;
            let held = hold_units(app, &buyer, event, &[unit]).await;
            assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
            let id = held.body["id"].as_str().unwrap().to_owned();
            (buyer, id)
        }
    };
    // Ada pays T1 (1000) from her wallet alone.
    let (ada, wallet_only) = hold_one("ada", "T1").await;
    funded(&app, &ada, 1_000).await;
    let paid = wallet_checkout(&app, &ada, &wallet_only, 1_000).await;
    assert_eq!(paid.status, StatusCode::OK, "{:?}", paid.body);
    assert_eq!(paid.body["booking"]["status"], "confirmed");
    // Bob pays T2 (2000): 800 from his wallet, 1200 by card.
    let (bob, split) = hold_one("bob", "T2").await;
    funded(&app, &bob, 1_000).await;
    let checkout = wallet_checkout(&app, &bob, &split, 800).await;
    assert_eq!(checkout.status, StatusCode::OK, "{:?}", checkout.body);
    let intent = checkout.body["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.pay(&intent).await.status, StatusCode::OK);
    assert_eq!(booking(&app, &bob, &split).await["status"], "confirmed");
    assert_eq!(euros(&app, &ada).await, (0, 0));
    assert_eq!(euros(&app, &bob).await, (200, 0));

    let cancelled = cancel_event(&app, &event).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    assert_eq!(app.run_refund_worker(10).await, 0);

    let ada_booking = booking(&app, &ada, &wallet_only).await;
    assert_eq!(ada_booking["status"], "refunded", "{ada_booking}");
    assert_eq!(
        ada_booking.get("refund_status"),
        None,
        "no card refund owed"
    );
    assert_eq!(euros(&app, &ada).await, (1_000, 0));
    let ledger = assert_ledger_adds_up(&app, &ada).await;
    assert_eq!(kinds(&ledger), ["refund", "payment", "credit"]);
    assert_eq!(ledger[0]["booking_id"], wallet_only.as_str());
    assert_eq!(ledger[0]["amount_cents"], 1_000);

    let bob_booking = booking(&app, &bob, &split).await;
    assert_eq!(bob_booking["status"], "refunded", "{bob_booking}");
    assert_eq!(bob_booking["refund_status"], "succeeded");
    assert_eq!(euros(&app, &bob).await, (1_000, 0));
    let ledger = assert_ledger_adds_up(&app, &bob).await;
    assert_eq!(
        kinds(&ledger),
        ["refund", "payment", "release", "reservation", "credit"]
    );
    assert_eq!(ledger[0]["booking_id"], split.as_str());
    assert_eq!(ledger[0]["amount_cents"], 800);
    assert_eq!(
        refunded_amounts(&app, &intent),
        [1_200],
        "the card part, once"
    );
    assert_eq!(
        app.stripe.refunds().len(),
        1,
        "nothing through Stripe for Ada"
    );
}

#[tokio::test]
async fn a_refunded_unspent_top_up_is_taken_back_out_of_the_wallet() {
    let app = TestApp::spawn().await;
    let ada = app.sign_in(&app.email("ada")).await;
    let intent = topped_up(&app, &ada, 1_000).await;
    let refund = dashboard_refund(&app, &intent, None);
    assert_eq!(
        app.deliver(&refund.body, Some(&refund.signature))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(euros(&app, &ada).await, (0, 0));
    let ledger = assert_ledger_adds_up(&app, &ada).await;
    assert_eq!(kinds(&ledger), ["reversal", "top_up"]);
}

#[tokio::test]
async fn a_refunded_top_up_that_was_spent_is_refused_visibly_and_the_balance_stays_whole() {
    let app = TestApp::spawn().await;
    let (_, buyer, id) = held(&app, "T1").await;
    let intent = topped_up(&app, &buyer, 1_000).await;
    assert_eq!(
        wallet_checkout(&app, &buyer, &id, 1_000).await.status,
        StatusCode::OK
    );
    let refund = dashboard_refund(&app, &intent, None);
    let delivered = app.deliver(&refund.body, Some(&refund.signature)).await;
    assert_eq!(delivered.status, StatusCode::OK, "{:?}", delivered.body);
    assert_eq!(euros(&app, &buyer).await, (0, 0), "never below zero");
    let ledger = assert_ledger_adds_up(&app, &buyer).await;
    assert_eq!(kinds(&ledger), ["payment", "top_up"], "no reversal");
    let admin = app.sign_in(&app.developer_email()).await;
    let user = buyer.user["id"].as_str().unwrap();
    let audit = app
        .get(
            &format!(
                "/v1/admin/audit-logs?action=wallet.top_up_reversal_refused&target=user:{user}"
            ),
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{:?}", audit.body);
    let items = audit.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{:?}", audit.body);
    assert_eq!(items[0]["actor_id"], "stripe");
    assert_eq!(items[0]["details"]["payment_intent_id"], intent.as_str());
    let again = app.deliver(&refund.body, Some(&refund.signature)).await;
    assert_eq!(again.status, StatusCode::OK);
}

#[tokio::test]
async fn an_admin_credit_answers_its_entry_and_is_audited() {
    let app = TestApp::spawn().await;
    let ada = app.sign_in(&app.email("ada")).await;
    let credit = credited(&app, &ada, 750).await;
    assert_eq!(credit.status, StatusCode::CREATED, "{:?}", credit.body);
    assert_eq!(credit.body["kind"], "credit");
    assert_eq!(credit.body["amount_cents"], 750);
    assert_eq!(credit.body["currency"], "eur");
    assert_eq!(euros(&app, &ada).await, (750, 0));
    let admin = app.sign_in(&app.developer_email()).await;
    let user = ada.user["id"].as_str().unwrap();
    let audit = app
        .get(
            &format!("/v1/admin/audit-logs?action=wallet.credited&target=user:{user}"),
            Some(&admin.access_token),
        )
        .await;
    let items = audit.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{:?}", audit.body);
    assert_eq!(items[0]["details"]["reason"], "goodwill");
    assert_eq!(items[0]["details"]["amount_cents"], 750);

    let by_user = app
        .post(
            &format!("/v1/admin/users/{user}/wallet/credits"),
            Some(&ada.access_token),
            json!({ "amount_cents": 1, "currency": "eur", "reason": "me" }),
        )
        .await;
    assert_eq!(by_user.status, StatusCode::FORBIDDEN);
    let without_reason = app
        .post(
            &format!("/v1/admin/users/{user}/wallet/credits"),
            Some(&admin.access_token),
            json!({ "amount_cents": 1, "currency": "eur", "reason": "  " }),
        )
        .await;
    assert_problem(
        &without_reason,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );
    let nobody = app
        .post(
            "/v1/admin/users/0190f1c2-7b3a-7cde-8f00-123456789abc/wallet/credits",
            Some(&admin.access_token),
            json!({ "amount_cents": 1, "currency": "eur", "reason": "x" }),
        )
        .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
    assert_eq!(euros(&app, &ada).await, (750, 0));
}

#[tokio::test]
async fn the_ledger_sums_to_the_balance_after_every_kind_of_change() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(3), 10).await;
    let buyer = app.sign_in(&app.email("buyer")).await;
    let take = |unit: &'static str| {
        let (app, buyer, event) = (&app, &buyer, &event);
        async move {
            let held = hold_units(app, buyer, event, &[unit]).await;
            assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
            held.body["id"].as_str().unwrap().to_owned()
        }
    };
    let spent_top_up = topped_up(&app, &buyer, 2_000).await;
    funded(&app, &buyer, 3_000).await;
    // All from the wallet, then cancelled: payment and refund.
    let t1 = take("T1").await;
    assert_eq!(
        wallet_checkout(&app, &buyer, &t1, 1_000).await.status,
        StatusCode::OK
    );
    assert_eq!(cancel(&app, &buyer, &t1).await.status, StatusCode::OK);
    // Split and confirmed: reservation, release and payment.
    let t2 = take("T2").await;
    let split = wallet_checkout(&app, &buyer, &t2, 1_500).await;
    assert_eq!(split.status, StatusCode::OK, "{:?}", split.body);
    let intent = split.body["payment_intent_id"].as_str().unwrap();
    assert_eq!(app.pay(intent).await.status, StatusCode::OK);
    // Split and released: reservation and release.
    let t3 = take("T3").await;
    assert_eq!(
        wallet_checkout(&app, &buyer, &t3, 2_000).await.status,
        StatusCode::OK
    );
    assert_eq!(release(&app, &buyer, &t3).await.status, StatusCode::OK);
    // A top-up refunded while the money is there: reversal.
    let refund = dashboard_refund(&app, &spent_top_up, None);
    assert_eq!(
        app.deliver(&refund.body, Some(&refund.signature))
            .await
            .status,
        StatusCode::OK
    );

    assert_eq!(
        euros(&app, &buyer).await,
        (2_000 + 3_000 - 1_500 - 2_000, 0)
    );
    let ledger = assert_ledger_adds_up(&app, &buyer).await;
    let mut seen: Vec<&str> = kinds(&ledger);
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(
        seen,
        [
            "credit",
            "payment",
            "refund",
            "release",
            "reservation",
            "reversal",
            "top_up"
        ]
    );
}

/// The reversal entries, newest first, as their signed amounts.
fn reversals(ledger: &[Value]) -> Vec<i64> {
    ledger
        .iter()
        .filter(|e| e["kind"] == "reversal")
        .map(|e| e["amount_cents"].as_i64().unwrap())
        .collect()
}

async fn refused_reversals(app: &TestApp, who: &Session) -> Vec<Value> {
    let admin = app.sign_in(&app.developer_email()).await;
    let user = who.user["id"].as_str().unwrap();
    let audit = app
        .get(
            &format!(
                "/v1/admin/audit-logs?action=wallet.top_up_reversal_refused&target=user:{user}"
            ),
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{:?}", audit.body);
    audit.body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_partial_refund_of_a_top_up_takes_back_only_the_refunded_part() {
    let app = TestApp::spawn().await;
    let ada = app.sign_in(&app.email("ada")).await;
    let intent = topped_up(&app, &ada, 1_000).await;
    let refund = dashboard_refund(&app, &intent, Some(300));
    let delivered = app.deliver(&refund.body, Some(&refund.signature)).await;
    assert_eq!(delivered.status, StatusCode::OK, "{:?}", delivered.body);
    assert_eq!(euros(&app, &ada).await, (700, 0));
    let ledger = assert_ledger_adds_up(&app, &ada).await;
    assert_eq!(kinds(&ledger), ["reversal", "top_up"]);
    assert_eq!(reversals(&ledger), [-300]);
    assert_eq!(ledger[0]["payment_intent_id"], intent.as_str());
}

#[tokio::test]
async fn a_second_larger_partial_refund_takes_back_only_the_difference() {
    let app = TestApp::spawn().await;
    let ada = app.sign_in(&app.email("ada")).await;
    let intent = topped_up(&app, &ada, 1_000).await;
    let first = dashboard_refund(&app, &intent, Some(300));
    assert_eq!(
        app.deliver(&first.body, Some(&first.signature))
            .await
            .status,
        StatusCode::OK
    );
    let second = dashboard_refund(&app, &intent, Some(500));
    assert_eq!(
        app.stripe.charge(&intent).unwrap()["amount_refunded"],
        800,
        "Stripe's running total"
    );
    assert_eq!(
        app.deliver(&second.body, Some(&second.signature))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(euros(&app, &ada).await, (200, 0));
    // The first event delivered again, late: nothing more.
    let late = app.stripe.delivery(
        "evt_late_copy",
        "charge.refunded",
        json!({
            "id": "ch_late",
            "object": "charge",
            "payment_intent": intent,
            "amount": 1_000,
            "amount_refunded": 300,
            "refunded": false,
        }),
        app.clock_now().unix_timestamp(),
    );
    assert_eq!(
        app.deliver(&late.body, Some(&late.signature)).await.status,
        StatusCode::OK
    );
    assert_eq!(euros(&app, &ada).await, (200, 0));
    let ledger = assert_ledger_adds_up(&app, &ada).await;
    assert_eq!(reversals(&ledger), [-500, -300]);
}

#[tokio::test]
async fn a_partial_refund_delivered_ten_times_at_once_is_taken_back_once() {
    let app = TestApp::spawn().await;
    let ada = app.sign_in(&app.email("ada")).await;
    let intent = topped_up(&app, &ada, 1_000).await;
    let refund = dashboard_refund(&app, &intent, Some(300));
    let answers =
        join_all((0..10).map(|_| app.deliver(&refund.body, Some(&refund.signature)))).await;
    assert!(
        answers.iter().all(|a| a.status == StatusCode::OK),
        "{:?}",
        answers.iter().map(|a| &a.body).collect::<Vec<_>>()
    );
    assert_eq!(euros(&app, &ada).await, (700, 0));
    let ledger = assert_ledger_adds_up(&app, &ada).await;
    assert_eq!(reversals(&ledger), [-300]);
}

#[tokio::test]
async fn a_partial_refund_beyond_what_is_left_unspent_is_refused_audited_and_the_balance_stays() {
    let app = TestApp::spawn().await;
    let (_, buyer, id) = held(&app, "T1").await;
    let intent = topped_up(&app, &buyer, 1_200).await;
    assert_eq!(
        wallet_checkout(&app, &buyer, &id, 1_000).await.status,
        StatusCode::OK
    );
    assert_eq!(euros(&app, &buyer).await, (200, 0));
    let refund = dashboard_refund(&app, &intent, Some(300));
    let delivered = app.deliver(&refund.body, Some(&refund.signature)).await;
    assert_eq!(delivered.status, StatusCode::OK, "{:?}", delivered.body);
    assert_eq!(euros(&app, &buyer).await, (200, 0), "nothing taken");
    let ledger = assert_ledger_adds_up(&app, &buyer).await;
    assert_eq!(kinds(&ledger), ["payment", "top_up"], "no reversal");
    let refused = refused_reversals(&app, &buyer).await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["actor_id"], "stripe");
    assert_eq!(refused[0]["details"]["payment_intent_id"], intent.as_str());
    assert_eq!(refused[0]["details"]["refused_cents"], 300);
    assert_eq!(refused[0]["details"]["available_cents"], 200);
    assert_eq!(refused[0]["details"]["refunded_cents"], 300);
    let again = app.deliver(&refund.body, Some(&refund.signature)).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        refused_reversals(&app, &buyer).await.len(),
        1,
        "audited once"
    );
    assert_eq!(euros(&app, &buyer).await, (200, 0));
}
