//! Walk-ins: sold once, in one transaction, and never left without tickets.

use aws_sdk_dynamodb::types::AttributeValue;
use axum::http::StatusCode;
use integration_tests::{Session, TestApp, table};
use serde_json::{Value, json};

use crate::holds::{grid, published_event};

async fn sell_t1(app: &TestApp, admin: &Session, event: &str) -> String {
    let sold = app
        .post(
            &format!("/v1/admin/events/{event}/walk-in"),
            Some(&admin.access_token),
            json!({ "units": ["T1"], "name": "Ada Lovelace" }),
        )
        .await;
    assert_eq!(sold.status, StatusCode::CREATED, "{:?}", sold.body);
    sold.body["id"].as_str().unwrap().to_owned()
}

fn ids(tickets: &Value) -> Vec<String> {
    tickets["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_walk_in_sale_issues_its_tickets_before_anyone_reads_them() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(2), 10).await;
    let admin = app.user_with_role("cashier", "admin").await;
    sell_t1(&app, &admin, &event).await;
    let stats = app
        .get(
            &format!("/v1/events/{event}/checkin-stats"),
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(stats.status, StatusCode::OK, "{:?}", stats.body);
    assert_eq!(stats.body["tickets"], 8, "T1 has 8 seats");
}

#[tokio::test]
async fn a_sold_walk_in_whose_tickets_were_not_written_gets_them_on_first_read() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(2), 10).await;
    let admin = app.user_with_role("cashier", "admin").await;
    let booking = sell_t1(&app, &admin, &event).await;
    // As if the function stopped right after the sale committed.
    let (client, table) = table().await;
    for n in 1..=8 {
        client
            .delete_item()
            .table_name(&table)
            .key("PK", AttributeValue::S(format!("BOOKING#{booking}")))
            .key("SK", AttributeValue::S(format!("TICKET#{n:04}")))
            .send()
            .await
            .unwrap();
    }
    let path = format!("/v1/bookings/{booking}/tickets");
    let first = app.get(&path, Some(&admin.access_token)).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    let expected: Vec<String> = (1..=8).map(|n| format!("{booking}-{n}")).collect();
    assert_eq!(ids(&first.body), expected);
    let again = app.get(&path, Some(&admin.access_token)).await;
    assert_eq!(
        ids(&again.body),
        expected,
        "issued once, read back the same"
    );
    // The lazily issued tickets admit at the door.
    let token = first.body["items"][0]["token"].as_str().unwrap();
    let door = app.user_with_role("door", "staff").await;
    let scanned = app
        .post(
            "/v1/checkin",
            Some(&door.access_token),
            json!({ "token": token, "event_id": event }),
        )
        .await;
    assert_eq!(scanned.status, StatusCode::OK, "{:?}", scanned.body);
    assert_eq!(scanned.body["result"], "checked_in");
}
