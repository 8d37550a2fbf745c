//! The developer's settings: every tunable shown, ranges enforced, changes
//! audited and in force at once.

use axum::http::{Method, StatusCode};
use integration_tests::{Session, TestApp, assert_problem, sent_mail_to};
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// Settings are platform-wide (one set per table), so the tests that change
/// them run one at a time and put back what they changed.
static SETTINGS: Mutex<()> = Mutex::const_new(());

async fn patch(app: &TestApp, who: &Session, body: Value) -> integration_tests::Response {
    app.call(
        Method::PATCH,
        "/v1/admin/settings",
        Some(&who.access_token),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn a_developer_sees_every_setting() {
    let app = TestApp::spawn().await;
    let developer = app.sign_in(&app.developer_email()).await;
    let shown = app
        .get("/v1/admin/settings", Some(&developer.access_token))
        .await;
    assert_eq!(shown.status, StatusCode::OK, "{:?}", shown.body);
    for key in [
        "hold_minutes",
        "magic_link_minutes",
        "max_per_booking",
        "platform_fee_fixed_cents",
        "platform_fee_percent",
        "brand_name",
        "stripe_account_id",
    ] {
        assert!(shown.body.get(key).is_some(), "{key} in {:?}", shown.body);
    }
}

#[tokio::test]
async fn settings_are_for_developers_only() {
    let app = TestApp::spawn().await;
    let admin = app.user_with_role("boss", "admin").await;
    let shown = app
        .get("/v1/admin/settings", Some(&admin.access_token))
        .await;
    assert_problem(&shown, StatusCode::FORBIDDEN, "FORBIDDEN");
    let changed = patch(&app, &admin, json!({ "brand_name": "Mine" })).await;
    assert_problem(&changed, StatusCode::FORBIDDEN, "FORBIDDEN");
}

#[tokio::test]
async fn values_out_of_range_are_refused_by_name_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let developer = app.sign_in(&app.developer_email()).await;
    let _one_at_a_time = SETTINGS.lock().await;
    let before = app
        .get("/v1/admin/settings", Some(&developer.access_token))
        .await;
    let refused = patch(
        &app,
        &developer,
        json!({ "hold_minutes": 61, "magic_link_minutes": 4, "brand_name": "Fine",
                "platform_fee_percent": 30.5, "stripe_account_id": "cus_1" }),
    )
    .await;
    assert_problem(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_SETTING",
    );
    let mut fields: Vec<&str> = refused.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "hold_minutes",
            "magic_link_minutes",
            "platform_fee_percent",
            "stripe_account_id"
        ]
    );
    let after = app
        .get("/v1/admin/settings", Some(&developer.access_token))
        .await;
    assert_eq!(after.body, before.body, "all or nothing");
}

#[tokio::test]
async fn an_unknown_setting_is_refused() {
    let app = TestApp::spawn().await;
    let developer = app.sign_in(&app.developer_email()).await;
    let refused = patch(&app, &developer, json!({ "colour": "red" })).await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        refused.body
    );
}

#[tokio::test]
async fn a_new_brand_is_in_the_next_sign_in_mail_and_in_the_audit_log() {
    let app = TestApp::spawn().await;
    let developer = app.sign_in(&app.developer_email()).await;
    let _one_at_a_time = SETTINGS.lock().await;
    let brand = format!("Owl {}", &app.tag[..8]);
    let before = app
        .get("/v1/admin/settings", Some(&developer.access_token))
        .await;
    let changed = patch(&app, &developer, json!({ "brand_name": brand })).await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    assert_eq!(changed.body["brand_name"], brand.as_str());

    let email = app.email("reader");
    app.request_magic_link(&email).await;
    let mail = sent_mail_to(&email).await.pop().expect("a sign-in mail");
    assert!(
        mail["subject"].as_str().unwrap().contains(&brand),
        "{:?}",
        mail["subject"]
    );

    let logged = app
        .get(
            "/v1/admin/audit-logs?action=settings.updated&target=settings&limit=100",
            Some(&developer.access_token),
        )
        .await;
    assert_eq!(logged.status, StatusCode::OK, "{:?}", logged.body);
    let entry = logged.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["details"]["after"]["brand_name"] == brand.as_str())
        .expect("the change is audited");
    assert_eq!(entry["actor_id"], developer.user["id"]);
    assert_eq!(
        entry["details"]["before"]["brand_name"],
        before.body["brand_name"]
    );

    let restored = patch(
        &app,
        &developer,
        json!({ "brand_name": before.body["brand_name"] }),
    )
    .await;
    assert_eq!(restored.status, StatusCode::OK, "{:?}", restored.body);
}
