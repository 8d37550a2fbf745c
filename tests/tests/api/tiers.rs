//! Open events with ticket types: each tier its own shards, a hold of
//! several tiers all or nothing in one transaction.

use std::collections::HashMap;

use axum::http::{Method, StatusCode};
use futures::future::join_all;
use integration_tests::{TestApp, assert_problem, stored_shards};
use serde_json::{Value, json};

use crate::holds::{hold, published_event, release};
use crate::payments::{checked_out, tickets};
use crate::revenue::of_event;

fn festival(general: u32, vip: u32) -> Value {
    json!({ "mode": "open", "tiers": [
        { "id": "ga",  "name": "General", "capacity": general, "price_cents": 2500 },
        { "id": "vip", "name": "VIP",     "capacity": vip,     "price_cents": 9000 } ] })
}

fn items(general: u32, vip: u32) -> Value {
    let mut items = Vec::new();
    if general > 0 {
        items.push(json!({ "tier": "ga", "quantity": general }));
    }
    if vip > 0 {
        items.push(json!({ "tier": "vip", "quantity": vip }));
    }
    json!({ "items": items })
}

/// Places taken out of one tier's shards (a tier's shard groups are
/// `PLACES#<event>#<tier>#<g>`).
async fn taken_of(event: &str, tier: &str) -> i64 {
    stored_shards(&format!("{event}#{tier}"))
        .await
        .values()
        .map(|(remaining, capacity)| {
            assert!(*remaining >= 0, "a shard below zero");
            capacity - remaining
        })
        .sum()
}

#[tokio::test]
async fn a_hold_of_two_tiers_is_priced_per_tier_and_ticketed_per_tier() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, festival(500, 50), 10).await;
    let buyer = app.sign_in(&app.email("buyer")).await;
    let held = hold(&app, &buyer, &event, items(2, 1)).await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    assert_eq!(held.body["amount_cents"], 2 * 2500 + 9000);
    assert_eq!(held.body["quantity"], 3);
    assert_eq!(
        held.body["items"],
        json!([{ "tier": "ga", "quantity": 2, "price_cents": 2500 },
               { "tier": "vip", "quantity": 1, "price_cents": 9000 }])
    );
    let id = held.body["id"].as_str().unwrap();
    let intent = checked_out(&app, &buyer, id).await;
    assert_eq!(app.pay(&intent).await.status, StatusCode::OK);
    let listed = tickets(&app, &buyer, id).await;
    let tiers: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tier"].as_str().unwrap())
        .collect();
    assert_eq!(tiers, ["ga", "ga", "vip"]);
    assert_eq!(listed.body["items"][2]["label"], "VIP 1 of 1");
    let staff = app.user_with_role("door", "staff").await;
    let scanned = app
        .post(
            "/v1/checkin",
            Some(&staff.access_token),
            json!({ "token": listed.body["items"][2]["token"], "event_id": event }),
        )
        .await;
    assert_eq!(scanned.status, StatusCode::OK, "{:?}", scanned.body);
    assert_eq!(scanned.body["tier"], "vip");
}

#[tokio::test]
async fn availability_reports_each_tier_and_the_total() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, festival(500, 50), 10).await;
    let buyer = app.sign_in(&app.email("buyer")).await;
    assert_eq!(
        hold(&app, &buyer, &event, items(3, 2)).await.status,
        StatusCode::CREATED
    );
    let availability = app
        .get(&format!("/v1/events/{event}/availability"), None)
        .await;
    assert_eq!(
        availability.body,
        json!({ "mode": "open", "capacity": 550, "remaining": 545, "tiers": [
            { "id": "ga", "name": "General", "capacity": 500, "remaining": 497, "price_cents": 2500 },
            { "id": "vip", "name": "VIP", "capacity": 50, "remaining": 48, "price_cents": 9000 } ] })
    );
}

/// 300 clients want mixes of both tiers (General 100, VIP 40): no tier is
/// sold beyond its capacity, and every hold is all or nothing, so the
/// places taken from each tier's shards are exactly the winners' items.
#[tokio::test]
async fn concurrent_multi_tier_holds_oversell_no_tier_and_take_all_or_nothing() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, festival(100, 40), 10).await;
    let buyers = join_all((0..4).map(|i| app.sign_in_owned(format!("fan{i}")))).await;
    let wants = |k: usize| match k % 3 {
        0 => (1, 1),
        1 => (2, 0),
        _ => (1, 2),
    };
    let results = join_all((0..300).map(|k| {
        let (general, vip) = wants(k);
        hold(&app, &buyers[k % 4], &event, items(general, vip))
    }))
    .await;
    let mut sold: HashMap<&str, i64> = HashMap::from([("ga", 0), ("vip", 0)]);
    for (k, result) in results.iter().enumerate() {
        if result.status == StatusCode::CREATED {
            let (general, vip) = wants(k);
            *sold.get_mut("ga").unwrap() += i64::from(general);
            *sold.get_mut("vip").unwrap() += i64::from(vip);
        } else {
            assert_problem(result, StatusCode::CONFLICT, "SOLD_OUT");
            let field = result.body["errors"][0]["field"].as_str().unwrap();
            assert!(field.starts_with("items["), "{:?}", result.body);
        }
    }
    assert!(sold["ga"] <= 100 && sold["vip"] <= 40, "{sold:?}");
    assert_eq!(taken_of(&event, "ga").await, sold["ga"]);
    assert_eq!(taken_of(&event, "vip").await, sold["vip"]);
    // A General-only hold of 2 is refused only once fewer than 2 are left.
    assert!(sold["ga"] >= 99, "refused while places were left: {sold:?}");
    let availability = app
        .get(&format!("/v1/events/{event}/availability"), None)
        .await;
    assert_eq!(availability.body["tiers"][0]["remaining"], 100 - sold["ga"]);
    assert_eq!(availability.body["tiers"][1]["remaining"], 40 - sold["vip"]);
}

#[tokio::test]
async fn sold_out_names_the_short_tier_and_takes_nothing_from_the_other() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, festival(100, 2), 10).await;
    let buyer = app.sign_in(&app.email("buyer")).await;
    let refused = hold(&app, &buyer, &event, items(4, 3)).await;
    assert_problem(&refused, StatusCode::CONFLICT, "SOLD_OUT");
    assert_eq!(refused.body["errors"][0]["field"], "items[1].tier");
    assert_eq!(taken_of(&event, "ga").await, 0, "all or nothing");
    assert_eq!(taken_of(&event, "vip").await, 0);
}

#[tokio::test]
async fn max_per_booking_counts_every_item() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, festival(100, 100), 4).await;
    let buyer = app.sign_in(&app.email("buyer")).await;
    let refused = hold(&app, &buyer, &event, items(3, 2)).await;
    assert_problem(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "OVER_MAX_PER_BOOKING",
    );
    assert_eq!(
        hold(&app, &buyer, &event, items(2, 2)).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_tiered_hold_must_name_known_tiers_each_once() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, festival(100, 10), 10).await;
    let buyer = app.sign_in(&app.email("buyer")).await;
    let unknown = json!({ "items": [{ "tier": "backstage", "quantity": 1 }] });
    assert_problem(
        &hold(&app, &buyer, &event, unknown).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "UNKNOWN_TIERS",
    );
    let twice =
        json!({ "items": [{ "tier": "ga", "quantity": 1 }, { "tier": "ga", "quantity": 1 }] });
    assert_problem(
        &hold(&app, &buyer, &event, twice).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "DUPLICATE_TIERS",
    );
    assert_problem(
        &hold(&app, &buyer, &event, json!({ "quantity": 1 })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "WRONG_LAYOUT_MODE",
    );
}

#[tokio::test]
async fn a_single_tier_event_still_sells_by_quantity_and_refuses_items() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, crate::holds::open(10), 10).await;
    let buyer = app.sign_in(&app.email("buyer")).await;
    assert_problem(
        &hold(&app, &buyer, &event, items(1, 0)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "WRONG_LAYOUT_MODE",
    );
    assert_eq!(
        hold(&app, &buyer, &event, json!({ "quantity": 2 }))
            .await
            .status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn tiers_and_their_prices_are_frozen_once_something_was_held() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, festival(100, 10), 10).await;
    let developer = app.sign_in(&app.developer_email()).await;
    let buyer = app.sign_in(&app.email("buyer")).await;
    let held = hold(&app, &buyer, &event, items(0, 1)).await;
    release(&app, &buyer, held.body["id"].as_str().unwrap()).await;
    let mut cheaper = festival(100, 10);
    cheaper["tiers"][1]["price_cents"] = json!(5000);
    let patch = app
        .call(
            Method::PATCH,
            &format!("/v1/events/{event}"),
            Some(&developer.access_token),
            Some(json!({ "layout": cheaper })),
        )
        .await;
    assert_problem(&patch, StatusCode::CONFLICT, "LAYOUT_LOCKED");
}

#[tokio::test]
async fn a_layout_with_tiers_and_a_single_capacity_is_refused() {
    let app = TestApp::spawn().await;
    let developer = app.sign_in(&app.developer_email()).await;
    let mut layout = festival(100, 10);
    layout["capacity"] = json!(110);
    layout["tiers"][1]["id"] = json!("ga");
    let created = app
        .post(
            "/v1/events",
            Some(&developer.access_token),
            crate::holds::event_body(&app, layout, 10),
        )
        .await;
    assert_problem(&created, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    let fields: Vec<&str> = created.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["layout.capacity", "layout.tiers[1].id"]);
}

/// A walk-in at the door of General 2 and VIP 1 (confirmed at once).
async fn sold_at_the_door(app: &TestApp, event: &str) -> Value {
    let admin = app.user_with_role("cashier", "admin").await;
    let mut body = items(2, 1);
    body["name"] = json!("Guest");
    let sold = app
        .post(
            &format!("/v1/admin/events/{event}/walk-in"),
            Some(&admin.access_token),
            body,
        )
        .await;
    assert_eq!(sold.status, StatusCode::CREATED, "{:?}", sold.body);
    sold.body
}

#[tokio::test]
async fn the_export_names_the_tiers_of_each_booking() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, festival(100, 10), 10).await;
    sold_at_the_door(&app, &event).await;
    let staff = app.user_with_role("door", "staff").await;
    let path = format!("/v1/admin/events/{event}/bookings");
    let page = app.get(&path, Some(&staff.access_token)).await;
    assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
    assert_eq!(
        page.body["items"][0]["items"],
        json!([{ "tier": "ga", "quantity": 2, "price_cents": 2500 },
               { "tier": "vip", "quantity": 1, "price_cents": 9000 }])
    );
    let csv = app
        .get(&format!("{path}?format=csv"), Some(&staff.access_token))
        .await;
    assert_eq!(csv.csv_column("items"), ["ga:2 vip:1"]);
}

#[tokio::test]
async fn the_revenue_report_sums_each_tier_of_an_event() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, festival(100, 10), 10).await;
    sold_at_the_door(&app, &event).await;
    sold_at_the_door(&app, &event).await;
    let buyer = app.sign_in(&app.email("buyer")).await;
    // An unpaid hold is no revenue.
    hold(&app, &buyer, &event, items(0, 3)).await;
    let admin = app.user_with_role("accountant", "admin").await;
    let report = app
        .get("/v1/admin/reports/revenue", Some(&admin.access_token))
        .await;
    assert_eq!(report.status, StatusCode::OK, "{:?}", report.body);
    let mine = of_event(&report.body, &event);
    assert_eq!(mine["gross_cents"], 2 * (2 * 2500 + 9000));
    assert_eq!(
        mine["by_tier"],
        json!([{ "id": "ga", "gross_cents": 4 * 2500, "seats": 4 },
               { "id": "vip", "gross_cents": 2 * 9000, "seats": 2 }])
    );
}
