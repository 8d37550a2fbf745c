//! Under DynamoDB's contention rules (the IAM proxy's contention layer,
//! docs/adr/0003-local-dynamodb-contention.md): what DynamoDB Local alone
//! never shows.

use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use axum::http::StatusCode;
use futures::future::join_all;
use integration_tests::{Options, TestApp, assert_problem, contention_proxy, table};
use serde_json::json;

use crate::holds::{grid, hold, open, published_event, release, stored_units, taken_places};

/// The proxy's counters are shared: tests that read them, or cause
/// conflicts, run one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn contended_app() -> TestApp {
    TestApp::with(Options {
        contention: true,
        ..Options::default()
    })
    .await
}

/// No item is shared by the holds of one event (docs/holds.md): holds of
/// different units touch only their units and their own booking, so even
/// all at once, under DynamoDB's conflict rules, none is ever cancelled
/// for a conflict. (Before, every hold included the event item, and four
/// at once conflicted within a few rounds.)
#[tokio::test]
async fn concurrent_holds_of_different_units_of_one_event_never_conflict() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let app = contended_app().await;
    let event = published_event(&app, grid(8), 5).await;
    let buyers = join_all((0..8).map(|i| app.sign_in_owned(format!("contender{i}")))).await;
    // The first hold freezes the layout; every later one only reads the event.
    let first = hold(&app, &buyers[0], &event, json!({ "units": ["T8"] })).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    release(&app, &buyers[0], first.body["id"].as_str().unwrap()).await;
    let before = contention_proxy().contention().transactions_cancelled;
    for round in 0..5 {
        let attempts = buyers.iter().enumerate().map(|(i, buyer)| {
            let (app, event) = (&app, &event);
            async move {
                let unit = format!("T{}", i + 1);
                let held = hold(app, buyer, event, json!({ "units": [unit.clone()] })).await;
                (buyer, unit, held)
            }
        });
        let results = join_all(attempts).await;
        let stored = stored_units(&event).await;
        for (_, unit, held) in &results {
            assert_eq!(
                held.status,
                StatusCode::CREATED,
                "round {round}: {unit}: {:?}",
                held.body
            );
            let booking = held.body["id"].as_str().unwrap();
            assert_eq!(
                stored[unit],
                ("held".to_owned(), Some(booking.to_owned())),
                "round {round}: {unit} is stored for its one winner"
            );
        }
        for (buyer, _, held) in &results {
            let released = release(&app, buyer, held.body["id"].as_str().unwrap()).await;
            assert_eq!(released.status, StatusCode::OK);
        }
    }
    assert_eq!(
        contention_proxy().contention().transactions_cancelled,
        before,
        "holds of different units met on a shared item"
    );
}

/// Buyers who all want the same unit do meet on it: their transactions
/// conflict, the store retries them, and once the winner committed the
/// others fail the unit's condition. Conflict and failed condition are
/// told apart: everyone else gets 409 `UNITS_UNAVAILABLE`, nobody a 503.
#[tokio::test]
async fn buyers_racing_for_one_unit_get_one_winner_and_409s_never_503s() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let app = contended_app().await;
    let event = published_event(&app, grid(2), 5).await;
    let buyers = join_all((0..8).map(|i| app.sign_in_owned(format!("racer{i}")))).await;
    let results = join_all(
        buyers
            .iter()
            .map(|buyer| hold(&app, buyer, &event, json!({ "units": ["T1"] }))),
    )
    .await;
    let winners = results
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    assert_eq!(winners, 1);
    for refused in results.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_problem(refused, StatusCode::CONFLICT, "UNITS_UNAVAILABLE");
    }
}

/// Open holds pick shards at random, so under the conflict rules they
/// rarely meet; when they do, the retries land them. Every place taken is
/// in exactly one booking.
#[tokio::test]
async fn concurrent_open_holds_under_the_conflict_rules_all_land_and_never_oversell() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let app = contended_app().await;
    let event = published_event(&app, open(200), 10).await;
    let buyers = join_all((0..6).map(|i| app.sign_in_owned(format!("fan{i}")))).await;
    let results = join_all((0..60).map(|k| {
        let quantity = 1 + k % 3;
        hold(
            &app,
            &buyers[k % 6],
            &event,
            json!({ "quantity": quantity }),
        )
    }))
    .await;
    let mut held = 0;
    for result in &results {
        assert_eq!(result.status, StatusCode::CREATED, "{:?}", result.body);
        held += result.body["quantity"].as_i64().unwrap();
    }
    let taken = taken_places(&event).await;
    assert_eq!(
        taken, held,
        "each place taken once, by a booking that holds it"
    );
}

/// A single-item write to an item an in-flight transaction includes is
/// refused as DynamoDB refuses it, and the SDK sees its typed error.
#[tokio::test]
async fn a_single_write_during_a_transaction_is_a_transaction_conflict() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let (_, table) = table().await;
    let admin = shared::state::load_aws().expect("AWS settings: make test sets them");
    let client = aws_sdk_dynamodb::Client::new(&contention_proxy().sdk_config(&admin, "test"));
    let key = |name: &str| {
        AttributeValue::S(format!("CONTENTION#{}", uuid::Uuid::now_v7().simple()) + name)
    };
    let (pk, sk) = (key(""), key("#item"));
    for _ in 0..50 {
        let update = Update::builder()
            .table_name(&table)
            .key("PK", pk.clone())
            .key("SK", sk.clone())
            .update_expression("ADD n :one")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .build()
            .unwrap();
        let transaction = client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .send();
        let single = async {
            tokio::time::sleep(Duration::from_millis(2)).await;
            client
                .update_item()
                .table_name(&table)
                .key("PK", pk.clone())
                .key("SK", sk.clone())
                .update_expression("ADD n :one")
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .send()
                .await
        };
        let (transaction, single) = tokio::join!(transaction, single);
        transaction.expect("the transaction itself commits");
        if let Err(err) = single {
            let err = err.into_service_error();
            assert!(err.is_transaction_conflict_exception(), "{err:?}");
            assert!(contention_proxy().contention().writes_refused > 0);
            return;
        }
    }
    panic!("no single write ever met the transaction in flight");
}
