//! The revenue report: sums of the bookings themselves, by event, source
//! and currency, agreeing with the export.

use axum::http::StatusCode;
use integration_tests::{Session, TestApp, assert_problem};
use serde_json::{Value, json};

use crate::holds::{hold, open, published_event};
use crate::payments::checked_out;

async fn walk_in(app: &TestApp, admin: &Session, event: &str, quantity: u32) -> String {
    let sold = app
        .post(
            &format!("/v1/admin/events/{event}/walk-in"),
            Some(&admin.access_token),
            json!({ "quantity": quantity, "name": "Guest" }),
        )
        .await;
    assert_eq!(sold.status, StatusCode::CREATED, "{:?}", sold.body);
    sold.body["id"].as_str().unwrap().to_owned()
}

pub fn of_event<'a>(report: &'a Value, event: &str) -> &'a Value {
    report["by_event"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_id"] == event)
        .unwrap_or_else(|| panic!("{event} in {report:?}"))
}

#[tokio::test]
async fn an_events_card_and_cash_sales_and_a_cash_refund_add_up() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, open(50), 10).await;
    let admin = app.user_with_role("cashier", "admin").await;
    walk_in(&app, &admin, &event, 2).await;
    let returned = walk_in(&app, &admin, &event, 1).await;
    let cancelled = app
        .post(
            &format!("/v1/bookings/{returned}/cancel"),
            Some(&admin.access_token),
            json!({}),
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    let buyer = app.sign_in(&app.email("buyer")).await;
    let held = hold(&app, &buyer, &event, json!({ "quantity": 1 })).await;
    let intent = checked_out(&app, &buyer, held.body["id"].as_str().unwrap()).await;
    assert_eq!(app.pay(&intent).await.status, StatusCode::OK);
    // An unpaid hold is no revenue.
    hold(&app, &buyer, &event, json!({ "quantity": 3 })).await;

    let report = app
        .get("/v1/admin/reports/revenue", Some(&admin.access_token))
        .await;
    assert_eq!(report.status, StatusCode::OK, "{:?}", report.body);
    let mine = of_event(&report.body, &event);
    assert_eq!(mine["currency"], "eur");
    assert_eq!(
        mine["gross_cents"],
        4 * 2500,
        "two walk-ins and a card sale"
    );
    assert_eq!(mine["refunds_cents"], 2500, "the cancelled walk-in's cash");
    // The platform's fee is whatever the settings say meanwhile (other
    // tests change them); net is what is left of the rest.
    let fees = mine["fees_cents"].as_i64().unwrap();
    assert_eq!(mine["net_cents"], 3 * 2500 - fees);
    assert_eq!(
        (mine["bookings"].as_u64(), mine["seats"].as_u64()),
        (Some(2), Some(3))
    );
    for source in ["online", "walk_in"] {
        assert!(
            report.body["by_source"][source]["bookings"]
                .as_u64()
                .unwrap()
                >= 1,
            "{source}"
        );
    }

    // The export's rows give the same gross.
    let export = app
        .get(
            &format!("/v1/admin/events/{event}/bookings?limit=100"),
            Some(&admin.access_token),
        )
        .await;
    let paid: i64 = export.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["status"] != "held")
        .map(|row| row["amount_cents"].as_i64().unwrap())
        .sum();
    assert_eq!(json!(paid), mine["gross_cents"]);
}

#[tokio::test]
async fn a_period_before_the_sales_counts_none_of_them() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, open(50), 10).await;
    let admin = app.user_with_role("cashier", "admin").await;
    walk_in(&app, &admin, &event, 1).await;
    let report = app
        .get(
            "/v1/admin/reports/revenue?from=2020-01-01T00:00:00Z&to=2020-12-31T23:59:59Z",
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(report.status, StatusCode::OK, "{:?}", report.body);
    let events = report.body["by_event"].as_array().unwrap();
    assert!(!events.iter().any(|e| e["event_id"] == event.as_str()));
}

#[tokio::test]
async fn the_report_is_for_admins_and_checks_its_period() {
    let app = TestApp::spawn().await;
    let staff = app.user_with_role("door", "staff").await;
    let refused = app
        .get("/v1/admin/reports/revenue", Some(&staff.access_token))
        .await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "FORBIDDEN");
    let admin = app.user_with_role("boss", "admin").await;
    let reversed = app
        .get(
            "/v1/admin/reports/revenue?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            Some(&admin.access_token),
        )
        .await;
    assert_problem(&reversed, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
}
