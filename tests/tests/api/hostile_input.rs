//! Input a client controls never makes a 500: ids too long for a DynamoDB
//! key, another user's cursor, a timestamp at the edge of i64.

use axum::http::{Method, StatusCode};
use integration_tests::{TestApp, assert_problem};
use serde_json::json;

use crate::holds::{hold, open, published_event};

#[tokio::test]
async fn ids_longer_than_a_dynamodb_key_are_unknown_not_a_500() {
    let app = TestApp::spawn().await;
    let admin = app.user_with_role("ada", "admin").await;
    let token = Some(admin.access_token.as_str());
    let id = "a".repeat(2100);
    let calls = [
        (Method::GET, format!("/v1/bookings/{id}"), None),
        (Method::DELETE, format!("/v1/bookings/{id}"), None),
        (
            Method::POST,
            format!("/v1/bookings/{id}/checkout"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/bookings/{id}/cancel"),
            Some(json!({})),
        ),
        (Method::GET, format!("/v1/bookings/{id}/tickets"), None),
        (
            Method::PUT,
            format!("/v1/admin/users/{id}/role"),
            Some(json!({ "role": "staff" })),
        ),
        (Method::GET, format!("/v1/events/{id}"), None),
        (
            Method::PATCH,
            format!("/v1/events/{id}"),
            Some(json!({ "title": "x" })),
        ),
        (Method::GET, format!("/v1/events/{id}/availability"), None),
        (Method::GET, format!("/v1/events/{id}/checkin-stats"), None),
        (
            Method::POST,
            format!("/v1/events/{id}/publish"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/events/{id}/cancel"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/events/{id}/holds"),
            Some(json!({ "quantity": 1 })),
        ),
        (
            Method::POST,
            format!("/v1/admin/events/{id}/walk-in"),
            Some(json!({ "quantity": 1, "name": "Bo" })),
        ),
    ];
    for (method, path, body) in calls {
        let response = app.call(method.clone(), &path, token, body).await;
        assert_eq!(
            response.status,
            StatusCode::NOT_FOUND,
            "{method} {}…: {:?}",
            &path[..20],
            response.body
        );
    }
}

#[tokio::test]
async fn another_users_bookings_cursor_is_a_400_naming_the_cursor() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, open(10), 10).await;
    let alice = app.sign_in(&app.email("alice")).await;
    for _ in 0..2 {
        hold(&app, &alice, &event, json!({ "quantity": 1 })).await;
    }
    let first = app
        .get("/v1/me/bookings?limit=1", Some(&alice.access_token))
        .await;
    let cursor = first.body["next_cursor"].as_str().expect("a next page");
    let bob = app.sign_in(&app.email("bob")).await;
    let response = app
        .get(
            &format!("/v1/me/bookings?cursor={cursor}"),
            Some(&bob.access_token),
        )
        .await;
    assert_problem(&response, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(response.body["errors"][0]["field"], "cursor");
}

#[tokio::test]
async fn a_stripe_signature_dated_at_the_smallest_i64_is_a_400() {
    let app = TestApp::spawn().await;
    let response = app
        .deliver("{}", Some("t=-9223372036854775808,v1=00"))
        .await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        response.body
    );
}
