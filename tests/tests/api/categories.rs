//! Grids priced by category: Standard and Deluxe seats by row, the price
//! from the category, the category on the ticket and at the door.

use axum::http::{Method, StatusCode};
use integration_tests::{TestApp, assert_problem};
use serde_json::{Value, json};

use crate::holds::{draft_event, hold_units, published_event, release};
use crate::payments::{checked_out, tickets};
use crate::revenue::of_event;

/// Row A of two Deluxe seats, row B of two Standard ones.
fn cinema() -> Value {
    json!({ "mode": "grid",
        "categories": [ { "id": "standard", "name": "Standard", "price_cents": 1200 },
                        { "id": "deluxe",   "name": "Deluxe",   "price_cents": 2000 } ],
        "units": [
            { "id": "A1", "label": "A1", "seats": 1, "category": "deluxe", "section": "Stalls", "row": "A" },
            { "id": "A2", "label": "A2", "seats": 1, "category": "deluxe", "section": "Stalls", "row": "A" },
            { "id": "B1", "label": "B1", "seats": 1, "category": "standard", "section": "Stalls", "row": "B" },
            { "id": "B2", "label": "B2", "seats": 1, "category": "standard", "section": "Stalls", "row": "B" } ] })
}

#[tokio::test]
async fn a_mixed_grid_is_priced_from_its_categories_through_to_the_ticket() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, cinema(), 10).await;
    let buyer = app.sign_in(&app.email("buyer")).await;
    let held = hold_units(&app, &buyer, &event, &["A1", "B1", "B2"]).await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    assert_eq!(held.body["amount_cents"], 2000 + 2 * 1200);
    let id = held.body["id"].as_str().unwrap();
    let intent = checked_out(&app, &buyer, id).await;
    assert_eq!(app.stripe.payment_intent(&intent).unwrap()["amount"], 4400);
    assert_eq!(app.pay(&intent).await.status, StatusCode::OK);
    let listed = tickets(&app, &buyer, id).await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    let categories: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["category"].as_str().unwrap())
        .collect();
    assert_eq!(categories, ["deluxe", "standard", "standard"]);
    let staff = app.user_with_role("door", "staff").await;
    let scanned = app
        .post(
            "/v1/checkin",
            Some(&staff.access_token),
            json!({ "token": listed.body["items"][0]["token"], "event_id": event }),
        )
        .await;
    assert_eq!(scanned.status, StatusCode::OK, "{:?}", scanned.body);
    assert_eq!(scanned.body["category"], "deluxe");
}

#[tokio::test]
async fn availability_names_each_units_category_and_counts_what_each_has_left() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, cinema(), 10).await;
    let buyer = app.sign_in(&app.email("buyer")).await;
    let held = hold_units(&app, &buyer, &event, &["A2", "B1"]).await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    let availability = app
        .get(&format!("/v1/events/{event}/availability"), None)
        .await;
    assert_eq!(
        availability.body["units"][0],
        json!({ "id": "A1", "state": "available", "category": "deluxe" })
    );
    assert_eq!(
        availability.body["categories"],
        json!([
            { "id": "standard", "name": "Standard", "price_cents": 1200, "available": 1 },
            { "id": "deluxe", "name": "Deluxe", "price_cents": 2000, "available": 1 },
        ])
    );
}

#[tokio::test]
async fn a_unit_with_both_a_category_and_a_price_is_refused() {
    let app = TestApp::spawn().await;
    let developer = app.sign_in(&app.developer_email()).await;
    let mut layout = cinema();
    layout["units"][1]["price_cents"] = json!(500);
    layout["units"][2]["category"] = json!("balcony");
    let created = app
        .post(
            "/v1/events",
            Some(&developer.access_token),
            crate::holds::event_body(&app, layout, 10),
        )
        .await;
    assert_problem(
        &created,
        StatusCode::UNPROCESSABLE_ENTITY,
        "UNIT_PRICE_INVALID",
    );
    let fields: Vec<&str> = created.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["layout.units[1].price_cents", "layout.units[2].category"]
    );
}

#[tokio::test]
async fn categories_and_their_prices_are_frozen_once_something_was_held() {
    let app = TestApp::spawn().await;
    let developer = app.sign_in(&app.developer_email()).await;
    let event = draft_event(&app, &developer, cinema(), 10).await;
    let mut dearer = cinema();
    dearer["categories"][1]["price_cents"] = json!(2500);
    let before_sales = app
        .call(
            Method::PATCH,
            &format!("/v1/events/{event}"),
            Some(&developer.access_token),
            Some(json!({ "layout": dearer })),
        )
        .await;
    assert_eq!(
        before_sales.status,
        StatusCode::OK,
        "{:?}",
        before_sales.body
    );
    let published = app
        .post(
            &format!("/v1/events/{event}/publish"),
            Some(&developer.access_token),
            json!({}),
        )
        .await;
    assert_eq!(published.status, StatusCode::OK);
    let buyer = app.sign_in(&app.email("buyer")).await;
    let held = hold_units(&app, &buyer, &event, &["A1"]).await;
    assert_eq!(held.body["amount_cents"], 2500);
    release(&app, &buyer, held.body["id"].as_str().unwrap()).await;
    let patch = app
        .call(
            Method::PATCH,
            &format!("/v1/events/{event}"),
            Some(&developer.access_token),
            Some(json!({ "layout": cinema() })),
        )
        .await;
    assert_problem(&patch, StatusCode::CONFLICT, "LAYOUT_LOCKED");
}

/// A walk-in of `units` at the door (confirmed at once).
async fn sold_at_the_door(app: &TestApp, event: &str, units: &[&str]) {
    let admin = app.user_with_role("cashier", "admin").await;
    let sold = app
        .post(
            &format!("/v1/admin/events/{event}/walk-in"),
            Some(&admin.access_token),
            json!({ "units": units, "name": "Guest" }),
        )
        .await;
    assert_eq!(sold.status, StatusCode::CREATED, "{:?}", sold.body);
}

#[tokio::test]
async fn the_export_counts_each_bookings_units_per_category() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, cinema(), 10).await;
    sold_at_the_door(&app, &event, &["B2", "A1", "B1"]).await;
    let staff = app.user_with_role("door", "staff").await;
    let path = format!("/v1/admin/events/{event}/bookings");
    let page = app.get(&path, Some(&staff.access_token)).await;
    assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
    assert_eq!(
        page.body["items"][0]["categories"],
        json!([{ "category": "standard", "quantity": 2, "price_cents": 1200 },
               { "category": "deluxe", "quantity": 1, "price_cents": 2000 }])
    );
    let csv = app
        .get(&format!("{path}?format=csv"), Some(&staff.access_token))
        .await;
    assert_eq!(csv.csv_column("categories"), ["standard:2 deluxe:1"]);
}

#[tokio::test]
async fn the_revenue_report_sums_each_category_of_an_event() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, cinema(), 10).await;
    sold_at_the_door(&app, &event, &["A1", "B1"]).await;
    sold_at_the_door(&app, &event, &["B2"]).await;
    let buyer = app.sign_in(&app.email("buyer")).await;
    // An unpaid hold is no revenue.
    hold_units(&app, &buyer, &event, &["A2"]).await;
    let admin = app.user_with_role("accountant", "admin").await;
    let report = app
        .get("/v1/admin/reports/revenue", Some(&admin.access_token))
        .await;
    assert_eq!(report.status, StatusCode::OK, "{:?}", report.body);
    assert_eq!(
        of_event(&report.body, &event)["by_category"],
        json!([{ "id": "standard", "gross_cents": 2 * 1200, "seats": 2 },
               { "id": "deluxe", "gross_cents": 2000, "seats": 1 }])
    );
}
