//! At the door: each ticket admits once; forgeries and other events' tickets
//! are refused without admitting anyone.

use axum::http::StatusCode;
use integration_tests::{Response, Session, TestApp, assert_problem};
use serde_json::{Value, json};

use crate::holds::{grid, published_event};

/// A walk-in sale of T1 (8 seats): its tickets.
async fn sold_tickets(app: &TestApp, event: &str) -> Vec<Value> {
    let admin = app.user_with_role("cashier", "admin").await;
    let sold = app
        .post(
            &format!("/v1/admin/events/{event}/walk-in"),
            Some(&admin.access_token),
            json!({ "units": ["T1"], "name": "Ada Lovelace" }),
        )
        .await;
    assert_eq!(sold.status, StatusCode::CREATED, "{:?}", sold.body);
    let id = sold.body["id"].as_str().unwrap();
    let listed = app
        .get(
            &format!("/v1/bookings/{id}/tickets"),
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    listed.body["items"].as_array().unwrap().clone()
}

async fn scan(app: &TestApp, who: &Session, token: &str, event: &str) -> Response {
    app.post(
        "/v1/checkin",
        Some(&who.access_token),
        json!({ "token": token, "event_id": event }),
    )
    .await
}

#[tokio::test]
async fn a_walk_in_sale_gets_its_tickets_at_once() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(2), 10).await;
    let tickets = sold_tickets(&app, &event).await;
    assert_eq!(tickets.len(), 8);
    assert_eq!(tickets[0]["holder_name"], "Ada Lovelace");
}

#[tokio::test]
async fn a_ticket_is_admitted_once_and_then_reported_as_already_admitted() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(2), 10).await;
    let ticket = sold_tickets(&app, &event).await.remove(0);
    let door = app.user_with_role("door", "staff").await;
    let token = ticket["token"].as_str().unwrap();
    let first = scan(&app, &door, token, &event).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(first.body["result"], "checked_in");
    assert_eq!(first.body["ticket_id"], ticket["id"]);
    assert_eq!(first.body["holder_name"], "Ada Lovelace");
    let again = scan(&app, &door, token, &event).await;
    assert_eq!(again.body["result"], "already_checked_in");
    assert_eq!(again.body["checked_in_at"], first.body["checked_in_at"]);
}

#[tokio::test]
async fn a_forged_token_is_not_a_ticket() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(2), 10).await;
    let ticket = sold_tickets(&app, &event).await.remove(0);
    let door = app.user_with_role("door", "staff").await;
    let token = ticket["token"].as_str().unwrap();
    let (payload, tag) = token.split_once('.').unwrap();
    let flipped = if tag.starts_with('A') { "B" } else { "A" };
    for forged in [
        format!("{payload}.{flipped}{}", &tag[1..]),
        "not-a-token".into(),
        String::new(),
    ] {
        assert_problem(
            &scan(&app, &door, &forged, &event).await,
            StatusCode::NOT_FOUND,
            "TICKET_INVALID",
        );
    }
}

#[tokio::test]
async fn a_ticket_for_another_event_is_refused() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(2), 10).await;
    let other = published_event(&app, grid(2), 10).await;
    let ticket = sold_tickets(&app, &event).await.remove(0);
    let door = app.user_with_role("door", "staff").await;
    let token = ticket["token"].as_str().unwrap();
    assert_problem(
        &scan(&app, &door, token, &other).await,
        StatusCode::CONFLICT,
        "WRONG_EVENT",
    );
    assert_eq!(
        scan(&app, &door, token, &event).await.body["result"],
        "checked_in"
    );
}

#[tokio::test]
async fn only_staff_check_tickets_in() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(2), 10).await;
    let ticket = sold_tickets(&app, &event).await.remove(0);
    let user = app.sign_in(&app.email("guest")).await;
    let token = ticket["token"].as_str().unwrap();
    assert_problem(
        &scan(&app, &user, token, &event).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );
    let stats = app
        .get(
            &format!("/v1/events/{event}/checkin-stats"),
            Some(&user.access_token),
        )
        .await;
    assert_problem(&stats, StatusCode::FORBIDDEN, "FORBIDDEN");
}

#[tokio::test]
async fn the_door_count_says_how_many_tickets_were_admitted() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, grid(2), 10).await;
    let tickets = sold_tickets(&app, &event).await;
    let door = app.user_with_role("door", "staff").await;
    for ticket in &tickets[..3] {
        scan(&app, &door, ticket["token"].as_str().unwrap(), &event).await;
    }
    let stats = app
        .get(
            &format!("/v1/events/{event}/checkin-stats"),
            Some(&door.access_token),
        )
        .await;
    assert_eq!(stats.status, StatusCode::OK, "{:?}", stats.body);
    assert_eq!(stats.body, json!({ "tickets": 8, "checked_in": 3 }));
}
