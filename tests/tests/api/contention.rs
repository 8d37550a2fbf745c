//! Under DynamoDB's contention rules (the IAM proxy's contention layer,
//! docs/adr/0003-local-dynamodb-contention.md): what DynamoDB Local alone
//! never shows.

use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use axum::http::StatusCode;
use futures::future::join_all;
use integration_tests::{Options, TestApp, contention_proxy, table};
use serde_json::json;

use crate::holds::{grid, hold, published_event, release, stored_units};

async fn contended_app() -> TestApp {
    TestApp::with(Options {
        contention: true,
        ..Options::default()
    })
    .await
}

/// Holds of different units of one grid event all include the event item
/// (its on-sale check), so concurrent ones cancel each other with
/// `TransactionConflict`; the store's retries still land every one, and
/// no unit is in two bookings.
#[tokio::test]
async fn concurrent_holds_of_different_units_conflict_on_the_event_yet_all_succeed() {
    let app = contended_app().await;
    let event = published_event(&app, grid(5), 5).await;
    let buyers = join_all((0..4).map(|i| app.sign_in_owned(format!("contender{i}")))).await;
    // The first hold starts the sales; after it, every hold's event guard
    // is a ConditionCheck on the same event item.
    let first = hold(&app, &buyers[0], &event, json!({ "units": ["T5"] })).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
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
        if contention_proxy().contention().transactions_cancelled > before {
            return;
        }
    }
    panic!("four concurrent holds on one event never conflicted in five rounds");
}

/// A single-item write to an item an in-flight transaction includes is
/// refused as DynamoDB refuses it, and the SDK sees its typed error.
#[tokio::test]
async fn a_single_write_during_a_transaction_is_a_transaction_conflict() {
    let (_, table) = table().await;
    let admin = shared::state::load_aws().await;
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
