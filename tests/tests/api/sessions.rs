use axum::http::{Method, StatusCode};
use integration_tests::{TestApp, assert_problem};
use serde_json::json;
use time::Duration;

#[tokio::test]
async fn me_returns_the_signed_in_user() {
    let app = TestApp::spawn().await;
    let session = app.sign_in(&app.email("ada")).await;
    let response = app.get("/v1/me", Some(&session.access_token)).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, session.user);
}

#[tokio::test]
async fn patching_me_sets_the_name() {
    let app = TestApp::spawn().await;
    let session = app.sign_in(&app.email("ada")).await;
    let response = app
        .call(
            Method::PATCH,
            "/v1/me",
            Some(&session.access_token),
            Some(json!({ "name": " Ada Lovelace " })),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body["name"], "Ada Lovelace");
    assert_eq!(
        app.get("/v1/me", Some(&session.access_token)).await.body["name"],
        "Ada Lovelace"
    );
}

#[tokio::test]
async fn patching_me_refuses_a_blank_name_and_unknown_fields() {
    let app = TestApp::spawn().await;
    let session = app.sign_in(&app.email("ada")).await;
    let token = Some(session.access_token.as_str());
    let blank = app
        .call(
            Method::PATCH,
            "/v1/me",
            token,
            Some(json!({ "name": "  " })),
        )
        .await;
    assert_problem(&blank, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(blank.body["errors"][0]["field"], "name");
    let role = app
        .call(
            Method::PATCH,
            "/v1/me",
            token,
            Some(json!({ "role": "admin" })),
        )
        .await;
    assert_problem(&role, StatusCode::BAD_REQUEST, "INVALID_BODY");
    assert_eq!(app.get("/v1/me", token).await.body["role"], "user");
}

#[tokio::test]
async fn refresh_returns_a_new_refresh_token_and_the_old_one_stops_working() {
    let app = TestApp::spawn().await;
    let session = app.sign_in(&app.email("ada")).await;
    let renewed = app.refresh(&session.refresh_token).await;
    assert_ne!(renewed.refresh_token, session.refresh_token);
    assert_eq!(renewed.user["id"], session.user["id"]);
    assert_eq!(
        app.get("/v1/me", Some(&renewed.access_token)).await.status,
        StatusCode::OK
    );
    let reused = app
        .post(
            "/v1/auth/refresh",
            None,
            json!({ "refresh_token": session.refresh_token }),
        )
        .await;
    assert_problem(&reused, StatusCode::UNAUTHORIZED, "REFRESH_TOKEN_REUSED");
}

#[tokio::test]
async fn reusing_a_refresh_token_revokes_the_whole_family() {
    let app = TestApp::spawn().await;
    let session = app.sign_in(&app.email("ada")).await;
    let renewed = app.refresh(&session.refresh_token).await;
    // An attacker replays the stolen, already-rotated token...
    let replay = app
        .post(
            "/v1/auth/refresh",
            None,
            json!({ "refresh_token": session.refresh_token }),
        )
        .await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    // ...so the legitimate holder's newer token dies with the family.
    let legit = app
        .post(
            "/v1/auth/refresh",
            None,
            json!({ "refresh_token": renewed.refresh_token }),
        )
        .await;
    assert_problem(&legit, StatusCode::UNAUTHORIZED, "SESSION_REVOKED");
}

#[tokio::test]
async fn other_sessions_survive_a_revoked_family() {
    let app = TestApp::spawn().await;
    let email = app.email("ada");
    let laptop = app.sign_in(&email).await;
    let phone = app.sign_in(&email).await;
    app.refresh(&laptop.refresh_token).await;
    app.post(
        "/v1/auth/refresh",
        None,
        json!({ "refresh_token": laptop.refresh_token }),
    )
    .await;
    assert_eq!(
        app.post(
            "/v1/auth/refresh",
            None,
            json!({ "refresh_token": phone.refresh_token })
        )
        .await
        .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn logout_revokes_the_session() {
    let app = TestApp::spawn().await;
    let session = app.sign_in(&app.email("ada")).await;
    let response = app
        .post(
            "/v1/auth/logout",
            Some(&session.access_token),
            json!({ "refresh_token": session.refresh_token }),
        )
        .await;
    assert_eq!(response.status, StatusCode::NO_CONTENT);
    let refresh = app
        .post(
            "/v1/auth/refresh",
            None,
            json!({ "refresh_token": session.refresh_token }),
        )
        .await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_cannot_revoke_someone_elses_session() {
    let app = TestApp::spawn().await;
    let ada = app.sign_in(&app.email("ada")).await;
    let mallory = app.sign_in(&app.email("mallory")).await;
    app.post(
        "/v1/auth/logout",
        Some(&mallory.access_token),
        json!({ "refresh_token": ada.refresh_token }),
    )
    .await;
    app.refresh(&ada.refresh_token).await;
}

#[tokio::test]
async fn an_access_token_expires_after_15_minutes() {
    let app = TestApp::spawn().await;
    let session = app.sign_in(&app.email("ada")).await;
    app.clock.advance(Duration::minutes(15));
    let response = app.get("/v1/me", Some(&session.access_token)).await;
    assert_problem(&response, StatusCode::UNAUTHORIZED, "TOKEN_EXPIRED");
}

#[tokio::test]
async fn a_refresh_token_expires_after_30_days() {
    let app = TestApp::spawn().await;
    let session = app.sign_in(&app.email("ada")).await;
    app.clock.advance(Duration::days(30));
    let response = app
        .post(
            "/v1/auth/refresh",
            None,
            json!({ "refresh_token": session.refresh_token }),
        )
        .await;
    assert_problem(&response, StatusCode::UNAUTHORIZED, "REFRESH_TOKEN_EXPIRED");
}
