//! API.md's rate limits: counted in the table, answered 429 with
//! `retry-after`, released when their window ends. The response headers
//! every answer carries.

use std::net::SocketAddr;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use integration_tests::{Options, Response, TestApp, assert_problem};
use serde_json::json;
use shared::config::RateLimits;
use time::Duration;

use crate::holds::{grid, hold, open, published_event};
use crate::payments::checkout;

/// Far above anything a test sends, for the limits a test does not probe.
const UNMET: u32 = 1_000_000;

async fn app_with(limits: RateLimits) -> TestApp {
    TestApp::with(Options {
        rate_limits: Some(limits),
        ..Options::default()
    })
    .await
}

fn only(adjust: impl FnOnce(&mut RateLimits)) -> RateLimits {
    let mut limits = RateLimits {
        api_per_ip: UNMET,
        holds_per_user: UNMET,
        holds_per_ip: UNMET,
        payments_per_user: UNMET,
    };
    adjust(&mut limits);
    limits
}

fn assert_rate_limited(response: &Response) {
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    let retry_after: u64 = response.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
}

fn another_address() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 77], 40000))
}

async fn get_from(app: &TestApp, client: SocketAddr, path: &str) -> Response {
    let request = Request::get(path).body(Body::empty()).unwrap();
    app.send_from(client, request).await
}

#[tokio::test]
async fn a_user_over_the_hold_limit_is_refused_until_the_minute_ends() {
    let app = app_with(only(|l| l.holds_per_user = 2)).await;
    let event = published_event(&app, open(100), 10).await;
    let buyer = app.sign_in(&app.email("buyer")).await;
    for _ in 0..2 {
        let held = hold(&app, &buyer, &event, json!({ "quantity": 1 })).await;
        assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    }
    assert_rate_limited(&hold(&app, &buyer, &event, json!({ "quantity": 1 })).await);
    let mine = app.get("/v1/me/bookings", Some(&buyer.access_token)).await;
    assert_eq!(
        mine.body["items"].as_array().unwrap().len(),
        2,
        "nothing held"
    );

    app.clock.advance(Duration::minutes(1));
    let held = hold(&app, &buyer, &event, json!({ "quantity": 1 })).await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
}

#[tokio::test]
async fn holds_refused_for_taken_units_count_against_the_user_limit() {
    let app = app_with(only(|l| l.holds_per_user = 2)).await;
    let event = published_event(&app, grid(2), 10).await;
    let (ada, bob) = (
        app.sign_in(&app.email("ada")).await,
        app.sign_in(&app.email("bob")).await,
    );
    let taken = hold(&app, &bob, &event, json!({ "units": ["T1"] })).await;
    assert_eq!(taken.status, StatusCode::CREATED, "{:?}", taken.body);
    for _ in 0..2 {
        let refused = hold(&app, &ada, &event, json!({ "units": ["T1"] })).await;
        assert_problem(&refused, StatusCode::CONFLICT, "UNITS_UNAVAILABLE");
    }
    assert_rate_limited(&hold(&app, &ada, &event, json!({ "units": ["T2"] })).await);
}

#[tokio::test]
async fn concurrent_holds_of_one_user_never_exceed_the_limit() {
    let app = app_with(only(|l| l.holds_per_user = 5)).await;
    let event = published_event(&app, open(100), 10).await;
    let buyer = app.sign_in(&app.email("buyer")).await;
    let answers = futures::future::join_all(
        (0..20).map(|_| hold(&app, &buyer, &event, json!({ "quantity": 1 }))),
    )
    .await;
    let created = answers
        .iter()
        .filter(|a| a.status == StatusCode::CREATED)
        .count();
    assert_eq!(
        created,
        5,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    for refused in answers.iter().filter(|a| a.status != StatusCode::CREATED) {
        assert_rate_limited(refused);
    }
    let mine = app.get("/v1/me/bookings", Some(&buyer.access_token)).await;
    assert_eq!(
        mine.body["items"].as_array().unwrap().len(),
        5,
        "only the counted holds took places"
    );
}

#[tokio::test]
async fn the_hold_limit_of_one_user_leaves_others_alone() {
    let app = app_with(only(|l| l.holds_per_user = 1)).await;
    let event = published_event(&app, open(100), 10).await;
    let (ada, bob) = (
        app.sign_in(&app.email("ada")).await,
        app.sign_in(&app.email("bob")).await,
    );
    assert_eq!(
        hold(&app, &ada, &event, json!({ "quantity": 1 }))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_rate_limited(&hold(&app, &ada, &event, json!({ "quantity": 1 })).await);
    assert_eq!(
        hold(&app, &bob, &event, json!({ "quantity": 1 }))
            .await
            .status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn holds_from_one_address_are_counted_across_its_users() {
    let app = app_with(only(|l| l.holds_per_ip = 2)).await;
    let event = published_event(&app, open(100), 10).await;
    for who in ["ada", "bob"] {
        let buyer = app.sign_in(&app.email(who)).await;
        let held = hold(&app, &buyer, &event, json!({ "quantity": 1 })).await;
        assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    }
    let carol = app.sign_in(&app.email("carol")).await;
    assert_rate_limited(&hold(&app, &carol, &event, json!({ "quantity": 1 })).await);
}

#[tokio::test]
async fn a_user_over_the_payment_limit_is_refused_even_for_the_same_booking() {
    let app = app_with(only(|l| l.payments_per_user = 1)).await;
    let event = published_event(&app, open(100), 10).await;
    let buyer = app.sign_in(&app.email("buyer")).await;
    let held = hold(&app, &buyer, &event, json!({ "quantity": 1 })).await;
    let booking = held.body["id"].as_str().unwrap();
    assert_eq!(checkout(&app, &buyer, booking).await.status, StatusCode::OK);
    assert_rate_limited(&checkout(&app, &buyer, booking).await);

    app.clock.advance(Duration::minutes(1));
    assert_eq!(checkout(&app, &buyer, booking).await.status, StatusCode::OK);
}

#[tokio::test]
async fn one_address_over_the_api_limit_is_refused_and_another_is_not() {
    let app = app_with(only(|l| l.api_per_ip = 3)).await;
    for _ in 0..3 {
        assert_eq!(app.get("/v1/events", None).await.status, StatusCode::OK);
    }
    assert_rate_limited(&app.get("/v1/events", None).await);
    assert_rate_limited(&app.get("/v1/events/unknown", None).await);
    assert_eq!(
        get_from(&app, another_address(), "/v1/events").await.status,
        StatusCode::OK
    );

    app.clock.advance(Duration::minutes(1));
    assert_eq!(app.get("/v1/events", None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_limit_counted_in_blocks_serves_exactly_its_limit() {
    // 155 a minute: taken from the counter 3 hits at a time, the last 2
    // one by one.
    let app = app_with(only(|l| l.api_per_ip = 155)).await;
    let mut served = 0;
    for _ in 0..170 {
        let response = app.get("/v1/events/unknown", None).await;
        if response.status == StatusCode::TOO_MANY_REQUESTS {
            assert_rate_limited(&response);
        } else {
            assert_eq!(
                response.status,
                StatusCode::NOT_FOUND,
                "{:?}",
                response.body
            );
            served += 1;
        }
    }
    assert_eq!(served, 155);
}

#[tokio::test]
async fn probes_and_stripe_deliveries_are_not_counted_against_the_api_limit() {
    let app = app_with(only(|l| l.api_per_ip = 1)).await;
    for _ in 0..3 {
        assert_eq!(
            app.get("/v1/health/live", None).await.status,
            StatusCode::OK
        );
        // Unsigned: refused by the webhook itself, not by the limit.
        assert_eq!(
            app.deliver("{}", None).await.status,
            StatusCode::BAD_REQUEST
        );
    }
    assert_eq!(app.get("/v1/events", None).await.status, StatusCode::OK);
    assert_rate_limited(&app.get("/v1/events", None).await);
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = TestApp::spawn().await;
    for response in [
        app.get("/v1/events", None).await,
        app.get("/v1/no-such-route", None).await,
    ] {
        assert_eq!(response.headers["x-content-type-options"], "nosniff");
        assert_eq!(response.headers["referrer-policy"], "no-referrer");
        assert_eq!(response.headers["x-frame-options"], "DENY");
        assert!(response.headers.contains_key("content-security-policy"));
        assert!(
            !response.headers.contains_key("strict-transport-security"),
            "HSTS only over production's HTTPS"
        );
    }
}

#[tokio::test]
async fn authenticated_answers_are_never_cached() {
    let app = TestApp::spawn().await;
    let buyer = app.sign_in(&app.email("buyer")).await;
    let me = app.get("/v1/me", Some(&buyer.access_token)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.headers["cache-control"], "no-store");
}
