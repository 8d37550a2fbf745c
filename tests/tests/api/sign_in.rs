use axum::http::StatusCode;
use futures::future::join_all;
use integration_tests::{Options, TestApp, assert_problem, sent_mail_to, token_in};
use serde_json::json;
use time::Duration;

#[tokio::test]
async fn requesting_a_link_answers_202_sent_for_any_address() {
    let app = TestApp::spawn().await;
    let response = app.request_magic_link(&app.email("nobody-yet")).await;
    assert_eq!(response.status, StatusCode::ACCEPTED);
    assert_eq!(response.body, json!({ "status": "sent" }));
}

#[tokio::test]
async fn the_mail_carries_a_frontend_verify_link_with_a_url_safe_token() {
    let app = TestApp::spawn().await;
    let email = app.email("ada");
    app.request_magic_link(&email).await;
    let mail = sent_mail_to(&email).await.pop().expect("mail sent");
    assert!(
        mail["body"]
            .as_str()
            .unwrap()
            .contains("http://localhost:3000/auth/verify?token=")
    );
    let token = token_in(&mail);
    assert_eq!(token.len(), 43, "32 random bytes, base64url");
}

#[tokio::test]
async fn first_sign_in_creates_a_user_with_role_user() {
    let app = TestApp::spawn().await;
    let email = app.email("ada");
    let token = app.magic_link_token(&email).await;
    let response = app.verify(&token).await;
    assert_eq!(response.status, StatusCode::OK);
    let body = &response.body;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["access_token"].as_str().unwrap().split('.').count() == 3);
    assert!(body["refresh_token"].as_str().unwrap().len() >= 43);
    assert_eq!(body["user"]["email"], email);
    assert_eq!(body["user"]["role"], "user");
    for field in ["id", "name", "created_at"] {
        assert!(body["user"].get(field).is_some(), "user.{field} missing");
    }
}

#[tokio::test]
async fn signing_in_again_finds_the_same_account() {
    let app = TestApp::spawn().await;
    let email = app.email("ada");
    let first = app.sign_in(&email).await;
    // Addresses are case-insensitive: the link goes to the normalised one.
    app.request_magic_link(&email.to_uppercase()).await;
    let token = token_in(
        sent_mail_to(&email)
            .await
            .last()
            .expect("mail to the normalised address"),
    );
    let second = app.verify(&token).await;
    assert_eq!(first.user["id"], second.body["user"]["id"]);
}

#[tokio::test]
async fn the_bootstrap_developer_email_signs_in_as_developer() {
    let app = TestApp::spawn().await;
    let session = app.sign_in(&app.developer_email()).await;
    assert_eq!(session.user["role"], "developer");
}

#[tokio::test]
async fn a_magic_link_works_only_once() {
    let app = TestApp::spawn().await;
    let token = app.magic_link_token(&app.email("ada")).await;
    assert_eq!(app.verify(&token).await.status, StatusCode::OK);
    assert_problem(
        &app.verify(&token).await,
        StatusCode::UNAUTHORIZED,
        "MAGIC_LINK_USED",
    );
}

#[tokio::test]
async fn ten_concurrent_verifies_of_one_link_let_exactly_one_in() {
    let app = TestApp::spawn().await;
    let token = app.magic_link_token(&app.email("ada")).await;
    let results = join_all((0..10).map(|_| app.verify(&token))).await;
    let winners = results
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(winners, 1);
    for loser in results.iter().filter(|r| r.status != StatusCode::OK) {
        assert_problem(loser, StatusCode::UNAUTHORIZED, "MAGIC_LINK_USED");
    }
}

#[tokio::test]
async fn concurrent_first_sign_ins_of_one_address_create_one_account() {
    let app = TestApp::spawn().await;
    let email = app.email("ada");
    let first = app.magic_link_token(&email).await;
    let second = app.magic_link_token(&email).await;
    let (a, b) = tokio::join!(app.verify(&first), app.verify(&second));
    assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(a.body["user"]["id"], b.body["user"]["id"]);
}

#[tokio::test]
async fn a_magic_link_expires_after_15_minutes() {
    let app = TestApp::spawn().await;
    let token = app.magic_link_token(&app.email("ada")).await;
    app.clock.advance(Duration::minutes(15));
    assert_problem(
        &app.verify(&token).await,
        StatusCode::UNAUTHORIZED,
        "MAGIC_LINK_EXPIRED",
    );
}

#[tokio::test]
async fn a_magic_link_still_works_just_before_it_expires() {
    let app = TestApp::spawn().await;
    let token = app.magic_link_token(&app.email("ada")).await;
    app.clock
        .advance(Duration::minutes(14) + Duration::seconds(59));
    assert_eq!(app.verify(&token).await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_unknown_or_malformed_link_token_is_refused() {
    let app = TestApp::spawn().await;
    let unknown = "A".repeat(43);
    assert_problem(
        &app.verify(&unknown).await,
        StatusCode::UNAUTHORIZED,
        "MAGIC_LINK_INVALID",
    );
    assert_problem(
        &app.verify("short").await,
        StatusCode::UNAUTHORIZED,
        "MAGIC_LINK_INVALID",
    );
}

#[tokio::test]
async fn the_sixth_link_for_one_address_within_15_minutes_is_rate_limited() {
    let app = TestApp::spawn().await;
    let email = app.email("ada");
    for _ in 0..5 {
        assert_eq!(
            app.request_magic_link(&email).await.status,
            StatusCode::ACCEPTED
        );
    }
    let limited = app.request_magic_link(&email).await;
    assert_problem(&limited, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    let retry_after: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry_after));
    assert_eq!(
        sent_mail_to(&email).await.len(),
        5,
        "no mail for the refused request"
    );
}

#[tokio::test]
async fn the_email_limit_resets_in_the_next_window() {
    let app = TestApp::with(Options {
        limit_per_email: Some(1),
        ..Options::default()
    })
    .await;
    let email = app.email("ada");
    assert_eq!(
        app.request_magic_link(&email).await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        app.request_magic_link(&email).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    app.clock.advance(Duration::minutes(15));
    assert_eq!(
        app.request_magic_link(&email).await.status,
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn the_31st_link_from_one_address_within_15_minutes_is_rate_limited() {
    let app = TestApp::spawn().await;
    for i in 0..30 {
        let response = app.request_magic_link(&app.email(&format!("u{i}"))).await;
        assert_eq!(response.status, StatusCode::ACCEPTED, "request {i}");
    }
    let limited = app.request_magic_link(&app.email("u30")).await;
    assert_problem(&limited, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    assert!(limited.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn an_invalid_email_is_a_400_naming_the_field() {
    let app = TestApp::spawn().await;
    let response = app.request_magic_link("not-an-email").await;
    assert_problem(&response, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(response.body["errors"][0]["field"], "email");
}

#[tokio::test]
async fn a_mail_ses_refuses_is_a_503_mail_unavailable_not_a_500() {
    use auth_api::AuthState;
    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use http_body_util::BodyExt;
    use shared::mail::Mailer;
    use tower::ServiceExt;

    let app = TestApp::spawn().await;
    // The emulator's SES refuses a sender nobody verified, as SES does.
    let aws = shared::state::load_aws().expect("AWS settings: make test sets them");
    let unverified = format!("nobody-{}@unverified.example", app.tag);
    let router = auth_api::router(AuthState {
        mailer: Mailer::new(&aws, &unverified),
        ..app.state.clone()
    });
    let mut request = axum::http::Request::post("/v1/auth/magic-link")
        .header("content-type", "application/json")
        .body(Body::from(json!({ "email": app.email("ada") }).to_string()))
        .unwrap();
    request.extensions_mut().insert(ConnectInfo(app.client_ip));
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert!(response.headers().contains_key("retry-after"));
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["code"], "MAIL_UNAVAILABLE");
}

#[tokio::test]
async fn an_address_ses_cannot_take_is_a_400_naming_the_email() {
    let app = TestApp::spawn().await;
    for email in ["jos\u{e9}@example.com", "ada@b\u{fc}cher.de"] {
        let response = app.request_magic_link(email).await;
        assert_problem(&response, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
        assert_eq!(response.body["errors"][0]["field"], "email");
    }
}
