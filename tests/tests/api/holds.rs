//! Holds never oversell: all or nothing, priced by the server, lazily expired.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use axum::http::{Method, StatusCode};
use futures::future::join_all;
use integration_tests::{Response, Session, TestApp, assert_problem, stored_shards, table};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// A published event with the given layout, created by this app's developer.
pub(crate) async fn published_event(app: &TestApp, layout: Value, max_per_booking: u32) -> String {
    let developer = app.sign_in(&app.developer_email()).await;
    let id = draft_event(app, &developer, layout, max_per_booking).await;
    let published = app
        .post(
            &format!("/v1/events/{id}/publish"),
            Some(&developer.access_token),
            json!({}),
        )
        .await;
    assert_eq!(published.status, StatusCode::OK, "{:?}", published.body);
    id
}

pub(crate) async fn draft_event(
    app: &TestApp,
    developer: &Session,
    layout: Value,
    max_per_booking: u32,
) -> String {
    let body = event_body(app, layout, max_per_booking);
    let created = app
        .post("/v1/events", Some(&developer.access_token), body)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    created.body["id"].as_str().unwrap().to_owned()
}

/// The body creating an event a week from now.
pub(crate) fn event_body(app: &TestApp, layout: Value, max_per_booking: u32) -> Value {
    let starts = app.clock_now() + Duration::days(7);
    json!({
        "title": format!("Gala {}", app.tag), "description": "", "venue": "Hall",
        "starts_at": starts.format(&Rfc3339).unwrap(),
        "ends_at": (starts + Duration::hours(4)).format(&Rfc3339).unwrap(),
        "timezone": "Europe/Paris", "tags": [], "currency": "eur",
        "max_per_booking": max_per_booking, "layout": layout,
    })
}

pub(crate) fn grid(units: usize) -> Value {
    let units: Vec<Value> = (1..=units)
        .map(|i| json!({ "id": format!("T{i}"), "label": format!("Table {i}"), "seats": 8, "price_cents": 1000 * i }))
        .collect();
    json!({ "mode": "grid", "units": units })
}

pub(crate) fn open(capacity: u32) -> Value {
    json!({ "mode": "open", "capacity": capacity, "price_cents": 2500 })
}

pub(crate) async fn hold(app: &TestApp, who: &Session, event_id: &str, body: Value) -> Response {
    app.post(
        &format!("/v1/events/{event_id}/holds"),
        Some(&who.access_token),
        body,
    )
    .await
}

pub(crate) async fn hold_units(
    app: &TestApp,
    who: &Session,
    event_id: &str,
    units: &[&str],
) -> Response {
    hold(app, who, event_id, json!({ "units": units })).await
}

pub(crate) async fn release(app: &TestApp, who: &Session, booking_id: &str) -> Response {
    app.call(
        Method::DELETE,
        &format!("/v1/bookings/{booking_id}"),
        Some(&who.access_token),
        None,
    )
    .await
}

pub(crate) async fn unit_states(app: &TestApp, event_id: &str) -> HashMap<String, String> {
    let availability = app
        .get(&format!("/v1/events/{event_id}/availability"), None)
        .await;
    assert_eq!(
        availability.status,
        StatusCode::OK,
        "{:?}",
        availability.body
    );
    availability.body["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["id"].as_str().unwrap().to_owned(),
                u["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The stored unit items of an event: unit id → (state, booking id), from
/// every bucket `UNITS#<event>#<0..16>` (store::keys::UNIT_BUCKETS).
pub(crate) async fn stored_units(event_id: &str) -> HashMap<String, (String, Option<String>)> {
    let (client, table) = table().await;
    let mut units = HashMap::new();
    for bucket in 0..16 {
        let out = client
            .query()
            .table_name(&table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :unit)")
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(format!("UNITS#{event_id}#{bucket}")),
            )
            .expression_attribute_values(":unit", AttributeValue::S("UNIT#".into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        for item in out.items() {
            let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
            units.insert(
                text("unit_id").unwrap(),
                (text("state").unwrap(), text("booking_id")),
            );
        }
    }
    units
}

/// Places taken out of the event's shards (untouched shards are full).
pub(crate) async fn taken_places(event_id: &str) -> i64 {
    stored_shards(event_id)
        .await
        .values()
        .map(|(remaining, capacity)| capacity - remaining)
        .sum()
}

/// Remaining places per shard a hold touched, in shard order.
pub(crate) async fn shard_remaining(event_id: &str) -> Vec<i64> {
    stored_shards(event_id)
        .await
        .into_values()
        .map(|(remaining, _)| remaining)
        .collect()
}

#[tokio::test]
async fn a_grid_hold_takes_the_units_at_the_layout_price() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(4), 10).await;
    let ada = app.sign_in(&app.email("ada")).await;
    let response = hold_units(&app, &ada, &event, &["T1", "T3"]).await;
    assert_eq!(response.status, StatusCode::CREATED, "{:?}", response.body);
    let booking = &response.body;
    assert_eq!(booking["status"], "held");
    assert_eq!(booking["units"], json!(["T1", "T3"]));
    assert_eq!(booking["quantity"], 2);
    assert_eq!(booking["amount_cents"], 4000);
    assert_eq!(booking["currency"], "eur");
    assert_eq!(booking["source"], "online");
    assert_eq!(booking["user_id"], ada.user["id"]);
    let expires =
        OffsetDateTime::parse(booking["hold_expires_at"].as_str().unwrap(), &Rfc3339).unwrap();
    assert_eq!(expires - app.clock_now(), Duration::minutes(10));
    let states = unit_states(&app, &event).await;
    assert_eq!(
        (
            states["T1"].as_str(),
            states["T2"].as_str(),
            states["T3"].as_str()
        ),
        ("held", "available", "held")
    );
}

#[tokio::test]
async fn a_taken_unit_fails_the_whole_hold_and_is_named() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(4), 10).await;
    let ada = app.sign_in(&app.email("ada")).await;
    let bob = app.sign_in(&app.email("bob")).await;
    assert_eq!(
        hold_units(&app, &ada, &event, &["T2"]).await.status,
        StatusCode::CREATED
    );
    let refused = hold_units(&app, &bob, &event, &["T1", "T2"]).await;
    assert_problem(&refused, StatusCode::CONFLICT, "UNITS_UNAVAILABLE");
    assert_eq!(
        refused.body["errors"],
        json!([{ "field": "units[1]", "message": "taken" }])
    );
    assert_eq!(
        unit_states(&app, &event).await["T1"],
        "available",
        "nothing held on failure"
    );
}

/// 200 clients race for overlapping pairs of 10 units, round after round.
/// Invariant: no unit in two live bookings, and the stored unit states are
/// exactly the winners' units.
#[tokio::test]
async fn concurrent_overlapping_grid_holds_never_double_book() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(10), 10).await;
    let buyers = join_all((0..4).map(|i| app.sign_in_owned(format!("racer{i}")))).await;
    for round in 0..10 {
        let attempts = (0..200).map(|k| {
            let (a, b) = (k % 10 + 1, (k + 1) % 10 + 1);
            let units = vec![format!("T{a}"), format!("T{b}")];
            let buyer = &buyers[k % buyers.len()];
            let (app, event) = (&app, &event);
            async move {
                (
                    buyer,
                    hold(app, buyer, event, json!({ "units": units })).await,
                )
            }
        });
        let results = join_all(attempts).await;
        let mut held: BTreeSet<String> = BTreeSet::new();
        let mut winners: HashMap<String, (&Session, Vec<String>)> = HashMap::new();
        for (buyer, response) in &results {
            match response.status {
                StatusCode::CREATED => {
                    let units: Vec<String> =
                        serde_json::from_value(response.body["units"].clone()).unwrap();
                    for unit in &units {
                        assert!(
                            held.insert(unit.clone()),
                            "round {round}: {unit} in two live bookings"
                        );
                    }
                    winners.insert(
                        response.body["id"].as_str().unwrap().to_owned(),
                        (*buyer, units),
                    );
                }
                StatusCode::CONFLICT => assert_eq!(response.body["code"], "UNITS_UNAVAILABLE"),
                other => panic!("round {round}: unexpected {other}: {:?}", response.body),
            }
        }
        assert!(!winners.is_empty(), "round {round}: someone must win");
        let stored = stored_units(&event).await;
        for (unit, (state, booking)) in &stored {
            if held.contains(unit) {
                assert_eq!(state, "held");
                let booking = booking.as_deref().unwrap();
                assert!(
                    winners[booking].1.contains(unit),
                    "round {round}: {unit} stored for a loser"
                );
            } else {
                assert_eq!(
                    state, "available",
                    "round {round}: {unit} held by nobody who won"
                );
            }
        }
        assert_eq!(
            stored.values().filter(|(s, _)| s == "held").count(),
            held.len()
        );
        for (booking_id, (buyer, _)) in &winners {
            assert_eq!(
                release(&app, buyer, booking_id).await.status,
                StatusCode::OK
            );
        }
    }
}

/// 300 clients want one place each of 100, spread over inventory shards.
#[tokio::test]
async fn concurrent_open_holds_sell_exactly_the_capacity() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, open(100), 10).await;
    let buyers = join_all((0..4).map(|i| app.sign_in_owned(format!("fan{i}")))).await;
    let results =
        join_all((0..300).map(|k| hold(&app, &buyers[k % 4], &event, json!({ "quantity": 1 }))))
            .await;
    let sold = results
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    assert_eq!(sold, 100);
    for refused in results.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_problem(refused, StatusCode::CONFLICT, "SOLD_OUT");
    }
    let shards = shard_remaining(&event).await;
    assert_eq!(shards, vec![0; 10], "every shard sold out, none below zero");
    let availability = app
        .get(&format!("/v1/events/{event}/availability"), None)
        .await;
    assert_eq!(
        availability.body,
        json!({ "mode": "open", "capacity": 100, "remaining": 0 })
    );
}

#[tokio::test]
async fn an_open_events_shards_are_created_full_by_the_first_hold_that_touches_them() {
    let app = TestApp::spawn().await;
    // 61 places: 7 shards of 9 or 8, none stored before a hold.
    let event = published_event(&app, open(61), 10).await;
    assert!(stored_shards(&event).await.is_empty());
    let ada = app.sign_in(&app.email("ada")).await;
    let response = hold(&app, &ada, &event, json!({ "quantity": 3 })).await;
    assert_eq!(response.status, StatusCode::CREATED, "{:?}", response.body);
    let stored: Vec<(i64, i64)> = stored_shards(&event).await.into_values().collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
    let (remaining, capacity) = stored[0];
    assert!([8, 9].contains(&capacity), "{stored:?}");
    assert_eq!(remaining, capacity - 3);
}

#[tokio::test]
async fn a_quantity_larger_than_any_shard_is_split_across_shards() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, open(60), 50).await;
    let ada = app.sign_in(&app.email("ada")).await;
    let response = hold(&app, &ada, &event, json!({ "quantity": 45 })).await;
    assert_eq!(response.status, StatusCode::CREATED, "{:?}", response.body);
    assert_eq!(response.body["amount_cents"], 45 * 2500);
    assert_eq!(
        shard_remaining(&event).await.len(),
        5,
        "four shards and part of a fifth"
    );
    let availability = app
        .get(&format!("/v1/events/{event}/availability"), None)
        .await;
    assert_eq!(availability.body["remaining"], 15);
}

#[tokio::test]
async fn releasing_a_hold_frees_its_units_at_once() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(2), 10).await;
    let ada = app.sign_in(&app.email("ada")).await;
    let bob = app.sign_in(&app.email("bob")).await;
    let held = hold_units(&app, &ada, &event, &["T1"]).await;
    let released = release(&app, &ada, held.body["id"].as_str().unwrap()).await;
    assert_eq!(released.status, StatusCode::OK);
    assert_eq!(released.body["status"], "cancelled");
    assert_eq!(unit_states(&app, &event).await["T1"], "available");
    assert_eq!(
        hold_units(&app, &bob, &event, &["T1"]).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn releasing_an_open_hold_gives_its_places_back() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, open(3), 10).await;
    let ada = app.sign_in(&app.email("ada")).await;
    let held = hold(&app, &ada, &event, json!({ "quantity": 3 })).await;
    assert_problem(
        &hold(&app, &ada, &event, json!({ "quantity": 1 })).await,
        StatusCode::CONFLICT,
        "SOLD_OUT",
    );
    release(&app, &ada, held.body["id"].as_str().unwrap()).await;
    assert_eq!(
        hold(&app, &ada, &event, json!({ "quantity": 3 }))
            .await
            .status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_hold_is_released_once() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, open(5), 10).await;
    let ada = app.sign_in(&app.email("ada")).await;
    let id = hold(&app, &ada, &event, json!({ "quantity": 2 }))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (a, b) = tokio::join!(release(&app, &ada, &id), release(&app, &ada, &id));
    let mut statuses = vec![a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, vec![StatusCode::OK, StatusCode::CONFLICT]);
    assert_eq!(
        shard_remaining(&event).await,
        vec![5],
        "places returned once"
    );
}

#[tokio::test]
async fn an_expired_hold_can_be_taken_over_before_any_worker_runs() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(2), 10).await;
    let ada = app.sign_in(&app.email("ada")).await;
    let bob = app.sign_in(&app.email("bob")).await;
    let first = hold_units(&app, &ada, &event, &["T1"]).await;
    app.clock.advance(Duration::minutes(10));
    assert_eq!(unit_states(&app, &event).await["T1"], "available");
    let second = hold_units(&app, &bob, &event, &["T1"]).await;
    assert_eq!(second.status, StatusCode::CREATED, "{:?}", second.body);
    let ada_view = app
        .get(
            &format!("/v1/bookings/{}", first.body["id"].as_str().unwrap()),
            Some(&ada.access_token),
        )
        .await;
    assert_eq!(ada_view.body["status"], "expired");
    let release_late = release(&app, &ada, first.body["id"].as_str().unwrap()).await;
    assert_problem(&release_late, StatusCode::CONFLICT, "BOOKING_NOT_HELD");
    assert_eq!(
        stored_units(&event).await["T1"].1.as_deref(),
        second.body["id"].as_str()
    );
}

#[tokio::test]
async fn a_live_hold_cannot_be_taken_over() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(1), 10).await;
    let ada = app.sign_in(&app.email("ada")).await;
    hold_units(&app, &ada, &event, &["T1"]).await;
    app.clock
        .advance(Duration::minutes(9) + Duration::seconds(59));
    assert_problem(
        &hold_units(&app, &ada, &event, &["T1"]).await,
        StatusCode::CONFLICT,
        "UNITS_UNAVAILABLE",
    );
}

#[tokio::test]
async fn places_of_an_expired_open_hold_go_to_the_next_buyer() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, open(2), 10).await;
    let ada = app.sign_in(&app.email("ada")).await;
    let bob = app.sign_in(&app.email("bob")).await;
    let first = hold(&app, &ada, &event, json!({ "quantity": 2 })).await;
    app.clock.advance(Duration::minutes(10));
    let availability = app
        .get(&format!("/v1/events/{event}/availability"), None)
        .await;
    assert_eq!(availability.body["remaining"], 2);
    assert_eq!(
        hold(&app, &bob, &event, json!({ "quantity": 2 }))
            .await
            .status,
        StatusCode::CREATED
    );
    let stored = app
        .get(
            &format!("/v1/bookings/{}", first.body["id"].as_str().unwrap()),
            Some(&ada.access_token),
        )
        .await;
    assert_eq!(stored.body["status"], "expired");
    assert_eq!(shard_remaining(&event).await, vec![0]);
}

#[tokio::test]
async fn more_than_max_per_booking_is_a_422() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, open(10), 2).await;
    let ada = app.sign_in(&app.email("ada")).await;
    assert_problem(
        &hold(&app, &ada, &event, json!({ "quantity": 3 })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "OVER_MAX_PER_BOOKING",
    );
}

#[tokio::test]
async fn unknown_or_duplicate_units_are_a_422() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(2), 10).await;
    let ada = app.sign_in(&app.email("ada")).await;
    assert_problem(
        &hold_units(&app, &ada, &event, &["T1", "T7"]).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "UNKNOWN_UNITS",
    );
    assert_problem(
        &hold_units(&app, &ada, &event, &["T1", "T1"]).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "DUPLICATE_UNITS",
    );
    assert_eq!(unit_states(&app, &event).await["T1"], "available");
}

#[tokio::test]
async fn the_request_must_name_units_or_a_quantity_as_the_layout_sells() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(2), 10).await;
    let ada = app.sign_in(&app.email("ada")).await;
    assert_problem(
        &hold(&app, &ada, &event, json!({ "quantity": 1 })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "WRONG_LAYOUT_MODE",
    );
    let both = hold(
        &app,
        &ada,
        &event,
        json!({ "units": ["T1"], "quantity": 1 }),
    )
    .await;
    assert_problem(&both, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    let priced = hold(
        &app,
        &ada,
        &event,
        json!({ "units": ["T1"], "amount_cents": 1 }),
    )
    .await;
    assert_problem(&priced, StatusCode::BAD_REQUEST, "INVALID_BODY");
}

#[tokio::test]
async fn drafts_and_cancelled_events_are_not_on_sale() {
    let app = TestApp::spawn().await;
    let developer = app.sign_in(&app.developer_email()).await;
    let draft = draft_event(&app, &developer, open(5), 10).await;
    let ada = app.sign_in(&app.email("ada")).await;
    assert_problem(
        &hold(&app, &ada, &draft, json!({ "quantity": 1 })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "NOT_ON_SALE",
    );
    let event = published_event(&app, open(5), 10).await;
    app.post(
        &format!("/v1/events/{event}/cancel"),
        Some(&developer.access_token),
        json!({}),
    )
    .await;
    assert_problem(
        &hold(&app, &ada, &event, json!({ "quantity": 1 })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "NOT_ON_SALE",
    );
}

#[tokio::test]
async fn a_started_event_is_not_on_sale_online() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, open(5), 10).await;
    app.clock.advance(Duration::days(7));
    let ada = app.sign_in(&app.email("ada")).await;
    assert_problem(
        &hold(&app, &ada, &event, json!({ "quantity": 1 })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "NOT_ON_SALE",
    );
}

#[tokio::test]
async fn holding_on_an_unknown_event_is_a_404() {
    let app = TestApp::spawn().await;
    let ada = app.sign_in(&app.email("ada")).await;
    assert_problem(
        &hold(&app, &ada, "no-such-event", json!({ "quantity": 1 })).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
}

#[tokio::test]
async fn holding_needs_a_signed_in_user() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, open(5), 10).await;
    let response = app
        .post(
            &format!("/v1/events/{event}/holds"),
            None,
            json!({ "quantity": 1 }),
        )
        .await;
    assert_problem(&response, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
}

#[tokio::test]
async fn only_the_owner_and_staff_see_a_booking() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, open(5), 10).await;
    let ada = app.sign_in(&app.email("ada")).await;
    let id = hold(&app, &ada, &event, json!({ "quantity": 1 }))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/bookings/{id}");
    let mallory = app.sign_in(&app.email("mallory")).await;
    assert_problem(
        &app.get(&path, Some(&mallory.access_token)).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_problem(
        &release(&app, &mallory, &id).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    let staff = app.user_with_role("staff", "staff").await;
    assert_eq!(
        app.get(&path, Some(&staff.access_token)).await.status,
        StatusCode::OK
    );
    assert_problem(
        &release(&app, &staff, &id).await,
        StatusCode::FORBIDDEN,
        "NOT_OWNER",
    );
    assert_eq!(
        app.get(&path, Some(&ada.access_token)).await.body["id"],
        id.as_str()
    );
}

#[tokio::test]
async fn my_bookings_are_listed_newest_first_a_page_at_a_time() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, open(10), 10).await;
    let ada = app.sign_in(&app.email("ada")).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            hold(&app, &ada, &event, json!({ "quantity": 1 }))
                .await
                .body["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let first = app
        .get("/v1/me/bookings?limit=2", Some(&ada.access_token))
        .await;
    let page: Vec<&str> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(page, vec![ids[2].as_str(), ids[1].as_str()]);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = app
        .get(
            &format!("/v1/me/bookings?limit=2&cursor={cursor}"),
            Some(&ada.access_token),
        )
        .await;
    assert_eq!(second.body["items"][0]["id"], ids[0].as_str());
    assert_eq!(second.body["next_cursor"], Value::Null);
    let bob = app.sign_in(&app.email("bob")).await;
    assert_eq!(
        app.get("/v1/me/bookings", Some(&bob.access_token))
            .await
            .body["items"],
        json!([])
    );
}

#[tokio::test]
async fn a_walk_in_sale_is_confirmed_at_once_and_audited() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(3), 10).await;
    let admin = app.user_with_role("cashier", "admin").await;
    let path = format!("/v1/admin/events/{event}/walk-in");
    let sold = app
        .post(
            &path,
            Some(&admin.access_token),
            json!({ "units": ["T2"], "name": "Grace Hopper", "email": "grace@example.com" }),
        )
        .await;
    assert_eq!(sold.status, StatusCode::CREATED, "{:?}", sold.body);
    assert_eq!(
        (sold.body["status"].as_str(), sold.body["source"].as_str()),
        (Some("confirmed"), Some("walk_in"))
    );
    assert_eq!(sold.body["amount_cents"], 2000);
    assert_eq!(unit_states(&app, &event).await["T2"], "booked");
    let ada = app.sign_in(&app.email("ada")).await;
    assert_problem(
        &hold_units(&app, &ada, &event, &["T2"]).await,
        StatusCode::CONFLICT,
        "UNITS_UNAVAILABLE",
    );

    let (client, table) = table().await;
    let day = app.clock_now().date().to_string();
    let entries = client
        .query()
        .table_name(table)
        .key_condition_expression("PK = :pk")
        .filter_expression("target = :target")
        .expression_attribute_values(":pk", AttributeValue::S(format!("AUDIT#{day}")))
        .expression_attribute_values(
            ":target",
            AttributeValue::S(format!("booking:{}", sold.body["id"].as_str().unwrap())),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(entries.items().len(), 1);
    assert_eq!(
        entries.items()[0]["action"].as_s().unwrap(),
        "booking.walk_in"
    );
}

#[tokio::test]
async fn a_walk_in_cannot_take_a_held_unit_and_needs_an_admin() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(1), 10).await;
    let ada = app.sign_in(&app.email("ada")).await;
    hold_units(&app, &ada, &event, &["T1"]).await;
    let path = format!("/v1/admin/events/{event}/walk-in");
    let staff = app.user_with_role("staff", "staff").await;
    let body = json!({ "units": ["T1"], "name": "Grace" });
    assert_problem(
        &app.post(&path, Some(&staff.access_token), body.clone())
            .await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );
    let admin = app.user_with_role("admin", "admin").await;
    assert_problem(
        &app.post(&path, Some(&admin.access_token), body).await,
        StatusCode::CONFLICT,
        "UNITS_UNAVAILABLE",
    );
}

#[tokio::test]
async fn the_layout_is_frozen_once_something_was_held() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(2), 10).await;
    let developer = app.sign_in(&app.developer_email()).await;
    let ada = app.sign_in(&app.email("ada")).await;
    let held = hold_units(&app, &ada, &event, &["T1"]).await;
    release(&app, &ada, held.body["id"].as_str().unwrap()).await;
    let patch = app
        .call(
            Method::PATCH,
            &format!("/v1/events/{event}"),
            Some(&developer.access_token),
            Some(json!({ "layout": grid(3) })),
        )
        .await;
    assert_problem(&patch, StatusCode::CONFLICT, "LAYOUT_LOCKED");
}
