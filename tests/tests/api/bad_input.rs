use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use integration_tests::{JWT_SECRET, TestApp, assert_problem};
use serde_json::json;
use sha2::Sha256;

fn raw_post(path: &str, content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut builder = Request::builder().method(Method::POST).uri(path);
    if let Some(ct) = content_type {
        builder = builder.header("content-type", ct);
    }
    builder.body(body.into()).unwrap()
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = TestApp::spawn().await;
    let response = app
        .send(raw_post(
            "/v1/auth/magic-link",
            Some("application/json"),
            "{\"email\": ",
        ))
        .await;
    assert_problem(&response, StatusCode::BAD_REQUEST, "MALFORMED_JSON");
}

#[tokio::test]
async fn a_wrong_type_is_a_400_naming_the_field() {
    let app = TestApp::spawn().await;
    let response = app
        .post("/v1/auth/magic-link", None, json!({ "email": 42 }))
        .await;
    assert_problem(&response, StatusCode::BAD_REQUEST, "INVALID_BODY");
    assert_eq!(response.body["errors"][0]["field"], "email");
}

#[tokio::test]
async fn a_missing_field_is_a_400() {
    let app = TestApp::spawn().await;
    let response = app
        .post("/v1/auth/magic-link/verify", None, json!({}))
        .await;
    assert_problem(&response, StatusCode::BAD_REQUEST, "INVALID_BODY");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_400() {
    let app = TestApp::spawn().await;
    let response = app
        .send(raw_post(
            "/v1/auth/magic-link",
            Some("text/plain"),
            "email=a@b.co",
        ))
        .await;
    assert_problem(&response, StatusCode::BAD_REQUEST, "UNSUPPORTED_MEDIA_TYPE");
}

#[tokio::test]
async fn a_huge_body_is_a_413() {
    let app = TestApp::spawn().await;
    let huge = format!("{{\"email\": \"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let response = app
        .send(raw_post(
            "/v1/auth/magic-link",
            Some("application/json"),
            huge,
        ))
        .await;
    assert_problem(
        &response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    );
}

#[tokio::test]
async fn a_missing_token_is_a_401() {
    let app = TestApp::spawn().await;
    assert_problem(
        &app.get("/v1/me", None).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
    );
}

#[tokio::test]
async fn a_non_bearer_authorization_is_a_401() {
    let app = TestApp::spawn().await;
    let request = Request::builder()
        .uri("/v1/me")
        .header("authorization", "Basic YTpi")
        .body(Body::empty())
        .unwrap();
    assert_problem(
        &app.send(request).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
    );
}

#[tokio::test]
async fn a_garbage_token_is_a_401() {
    let app = TestApp::spawn().await;
    assert_problem(
        &app.get("/v1/me", Some("garbage")).await,
        StatusCode::UNAUTHORIZED,
        "TOKEN_INVALID",
    );
}

fn claims(role: &str, exp: i64) -> serde_json::Value {
    json!({ "sub": "someone", "role": role, "iat": 0, "exp": exp, "jti": "x" })
}

/// A standard HS256 JWT (RFC 7515), made here rather than by the server.
fn hs256(claims: &serde_json::Value, secret: &[u8]) -> String {
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(signed.as_bytes());
    format!(
        "{signed}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_a_401() {
    let app = TestApp::spawn().await;
    let forged = hs256(
        &claims("developer", i64::MAX / 2),
        b"not-the-server-secret-not-the-server-secret",
    );
    let response = app.get("/v1/admin/users", Some(&forged)).await;
    assert_problem(&response, StatusCode::UNAUTHORIZED, "TOKEN_INVALID");
}

#[tokio::test]
async fn an_alg_none_token_is_a_401() {
    let app = TestApp::spawn().await;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims("developer", i64::MAX / 2).to_string());
    let response = app
        .get("/v1/admin/users", Some(&format!("{header}.{body}.")))
        .await;
    assert_problem(&response, StatusCode::UNAUTHORIZED, "TOKEN_INVALID");
}

#[tokio::test]
async fn an_expired_token_is_a_401() {
    let app = TestApp::spawn().await;
    let expired = hs256(&claims("user", 1_000), JWT_SECRET.as_bytes());
    assert_problem(
        &app.get("/v1/me", Some(&expired)).await,
        StatusCode::UNAUTHORIZED,
        "TOKEN_EXPIRED",
    );
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = TestApp::spawn().await;
    assert_problem(
        &app.get("/v1/nope", None).await,
        StatusCode::NOT_FOUND,
        "ROUTE_NOT_FOUND",
    );
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem() {
    let app = TestApp::spawn().await;
    let response = app.call(Method::DELETE, "/v1/me", None, None).await;
    assert_problem(
        &response,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    );
}

#[tokio::test]
async fn an_out_of_range_limit_is_a_400_naming_it() {
    let app = TestApp::spawn().await;
    let developer = app.sign_in(&app.developer_email()).await;
    for bad in ["0", "101", "-1", "ten"] {
        let response = app
            .get(
                &format!("/v1/admin/users?limit={bad}"),
                Some(&developer.access_token),
            )
            .await;
        assert_problem(&response, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
        assert_eq!(response.body["errors"][0]["field"], "limit", "limit={bad}");
    }
}

#[tokio::test]
async fn payment_and_door_routes_need_a_sign_in() {
    let app = TestApp::spawn().await;
    for path in [
        "/v1/bookings/b/checkout",
        "/v1/bookings/b/cancel",
        "/v1/checkin",
    ] {
        let response = app.post(path, None, json!({})).await;
        assert_problem(&response, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    for path in ["/v1/bookings/b/tickets", "/v1/events/e/checkin-stats"] {
        assert_problem(
            &app.get(path, None).await,
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
        );
    }
}

#[tokio::test]
async fn unknown_bookings_are_404_to_checkout_cancel_and_tickets() {
    let app = TestApp::spawn().await;
    let ada = app.sign_in(&app.email("ada")).await;
    let token = Some(ada.access_token.as_str());
    for path in [
        "/v1/bookings/no-such/checkout",
        "/v1/bookings/no-such/cancel",
    ] {
        assert_problem(
            &app.post(path, token, json!({})).await,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        );
    }
    let tickets = app.get("/v1/bookings/no-such/tickets", token).await;
    assert_problem(&tickets, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn a_check_in_with_malformed_or_mistyped_json_is_a_400() {
    let app = TestApp::spawn().await;
    let door = app.user_with_role("door", "staff").await;
    let auth = format!("Bearer {}", door.access_token);
    let mut malformed = raw_post("/v1/checkin", Some("application/json"), "{\"token\": ");
    malformed
        .headers_mut()
        .insert("authorization", auth.parse().unwrap());
    assert_problem(
        &app.send(malformed).await,
        StatusCode::BAD_REQUEST,
        "MALFORMED_JSON",
    );
    let mistyped = app
        .post(
            "/v1/checkin",
            Some(&door.access_token),
            json!({ "token": 7, "event_id": "e" }),
        )
        .await;
    assert_problem(&mistyped, StatusCode::BAD_REQUEST, "INVALID_BODY");
}

#[tokio::test]
async fn a_signed_webhook_body_that_is_not_a_stripe_event_is_a_400() {
    let app = TestApp::spawn().await;
    for body in ["not json", "{\"id\": 1}"] {
        let delivery_at = app.clock_now().unix_timestamp();
        let signature = shared::domain::payment::signature_header(
            integration_tests::STRIPE_WEBHOOK_SECRET.as_bytes(),
            delivery_at,
            body.as_bytes(),
        );
        let response = app.deliver(body, Some(&signature)).await;
        assert_problem(&response, StatusCode::BAD_REQUEST, "INVALID_EVENT");
    }
}
