use aws_sdk_dynamodb::types::AttributeValue;
use axum::http::{Method, StatusCode};
use integration_tests::{TestApp, assert_problem};
use serde_json::{Value, json};

async fn set_role(
    app: &TestApp,
    token: &str,
    user_id: &Value,
    role: &str,
) -> integration_tests::Response {
    let path = format!("/v1/admin/users/{}/role", user_id.as_str().unwrap());
    app.call(
        Method::PUT,
        &path,
        Some(token),
        Some(json!({ "role": role })),
    )
    .await
}

#[tokio::test]
async fn a_plain_user_may_not_list_users() {
    let app = TestApp::spawn().await;
    let user = app.sign_in(&app.email("ada")).await;
    assert_problem(
        &app.get("/v1/admin/users", Some(&user.access_token)).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );
}

#[tokio::test]
async fn staff_may_not_list_users_but_admin_may() {
    let app = TestApp::spawn().await;
    let staff = app.user_with_role("staff", "staff").await;
    assert_eq!(
        app.get("/v1/admin/users", Some(&staff.access_token))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let admin = app.user_with_role("admin", "admin").await;
    assert_eq!(
        app.get("/v1/admin/users", Some(&admin.access_token))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn users_can_be_searched_and_paged_with_a_cursor() {
    let app = TestApp::spawn().await;
    let admin = app.user_with_role("admin", "admin").await;
    for who in ["p1", "p2", "p3"] {
        app.sign_in(&app.email(who)).await;
    }
    // Every address of this app contains its tag; the admin and developer too.
    let q = &app.tag;
    let first = app
        .get(
            &format!("/v1/admin/users?q={q}&limit=3"),
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body["items"].as_array().unwrap().len(), 3);
    let cursor = first.body["next_cursor"].as_str().expect("a next page");
    let second = app
        .get(
            &format!(
                "/v1/admin/users?q={}&limit=3&cursor={cursor}",
                q.to_uppercase()
            ),
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(second.status, StatusCode::OK);
    let mut emails: Vec<String> = [&first, &second]
        .iter()
        .flat_map(|page| page.body["items"].as_array().unwrap().clone())
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect();
    emails.sort();
    emails.dedup();
    assert_eq!(
        emails.len(),
        5,
        "developer, admin and three users, each once: {emails:?}"
    );
    assert_eq!(second.body["next_cursor"], Value::Null);
}

#[tokio::test]
async fn a_forged_cursor_is_a_400() {
    let app = TestApp::spawn().await;
    let admin = app.user_with_role("admin", "admin").await;
    let response = app
        .get(
            "/v1/admin/users?cursor=eyJQSyI6IlVTRVIjMSJ9.AAAA",
            Some(&admin.access_token),
        )
        .await;
    assert_problem(&response, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(response.body["errors"][0]["field"], "cursor");
}

#[tokio::test]
async fn an_admin_may_promote_a_user_up_to_admin() {
    let app = TestApp::spawn().await;
    let admin = app.user_with_role("admin", "admin").await;
    let ada = app.sign_in(&app.email("ada")).await;
    let response = set_role(&app, &admin.access_token, &ada.user["id"], "staff").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body["role"], "staff");
    assert_eq!(
        set_role(&app, &admin.access_token, &ada.user["id"], "admin")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_admin_may_not_grant_developer() {
    let app = TestApp::spawn().await;
    let admin = app.user_with_role("admin", "admin").await;
    let ada = app.sign_in(&app.email("ada")).await;
    let response = set_role(&app, &admin.access_token, &ada.user["id"], "developer").await;
    assert_problem(&response, StatusCode::FORBIDDEN, "ROLE_NOT_GRANTABLE");
}

#[tokio::test]
async fn an_admin_may_not_demote_a_developer() {
    let app = TestApp::spawn().await;
    let admin = app.user_with_role("admin", "admin").await;
    let developer = app.sign_in(&app.developer_email()).await;
    let response = set_role(&app, &admin.access_token, &developer.user["id"], "user").await;
    assert_problem(&response, StatusCode::FORBIDDEN, "ROLE_NOT_GRANTABLE");
}

#[tokio::test]
async fn a_developer_may_grant_developer() {
    let app = TestApp::spawn().await;
    let developer = app.sign_in(&app.developer_email()).await;
    let ada = app.sign_in(&app.email("ada")).await;
    let response = set_role(&app, &developer.access_token, &ada.user["id"], "developer").await;
    assert_eq!(response.body["role"], "developer");
}

#[tokio::test]
async fn nobody_may_change_their_own_role() {
    let app = TestApp::spawn().await;
    let developer = app.sign_in(&app.developer_email()).await;
    let response = set_role(&app, &developer.access_token, &developer.user["id"], "user").await;
    assert_problem(&response, StatusCode::FORBIDDEN, "CANNOT_CHANGE_OWN_ROLE");
}

#[tokio::test]
async fn staff_may_not_change_roles() {
    let app = TestApp::spawn().await;
    let staff = app.user_with_role("staff", "staff").await;
    let ada = app.sign_in(&app.email("ada")).await;
    let response = set_role(&app, &staff.access_token, &ada.user["id"], "staff").await;
    assert_problem(&response, StatusCode::FORBIDDEN, "FORBIDDEN");
}

#[tokio::test]
async fn changing_the_role_of_an_unknown_user_is_a_404() {
    let app = TestApp::spawn().await;
    let developer = app.sign_in(&app.developer_email()).await;
    let response = set_role(
        &app,
        &developer.access_token,
        &json!("no-such-user"),
        "staff",
    )
    .await;
    assert_problem(&response, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn an_unknown_role_is_a_400_naming_the_field() {
    let app = TestApp::spawn().await;
    let developer = app.sign_in(&app.developer_email()).await;
    let ada = app.sign_in(&app.email("ada")).await;
    let response = set_role(&app, &developer.access_token, &ada.user["id"], "root").await;
    assert_problem(&response, StatusCode::BAD_REQUEST, "INVALID_BODY");
    assert_eq!(response.body["errors"][0]["field"], "role");
}

#[tokio::test]
async fn the_new_role_arrives_with_the_next_refresh() {
    let app = TestApp::spawn().await;
    let developer = app.sign_in(&app.developer_email()).await;
    let ada = app.sign_in(&app.email("ada")).await;
    set_role(&app, &developer.access_token, &ada.user["id"], "admin").await;
    // The old access token still carries the old role...
    assert_eq!(
        app.get("/v1/admin/users", Some(&ada.access_token))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // ...the refreshed one the new.
    let renewed = app.refresh(&ada.refresh_token).await;
    assert_eq!(renewed.user["role"], "admin");
    assert_eq!(
        app.get("/v1/admin/users", Some(&renewed.access_token))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_role_change_is_written_to_the_audit_log() {
    let app = TestApp::spawn().await;
    let developer = app.sign_in(&app.developer_email()).await;
    let ada = app.sign_in(&app.email("ada")).await;
    set_role(&app, &developer.access_token, &ada.user["id"], "staff").await;

    let day = time::OffsetDateTime::now_utc().date().to_string();
    let target = format!("user:{}", ada.user["id"].as_str().unwrap());
    let aws = shared::state::load_aws().expect("AWS settings: make test sets them");
    let entries = aws_sdk_dynamodb::Client::new(&aws)
        .query()
        .table_name(std::env::var("TABLE_NAME").unwrap())
        .key_condition_expression("PK = :pk")
        .filter_expression("target = :target")
        .expression_attribute_values(":pk", AttributeValue::S(format!("AUDIT#{day}")))
        .expression_attribute_values(":target", AttributeValue::S(target))
        .send()
        .await
        .unwrap();
    let items = entries.items();
    assert_eq!(items.len(), 1);
    let entry = &items[0];
    assert_eq!(entry["action"].as_s().unwrap(), "user.role_changed");
    assert_eq!(
        entry["actor_id"].as_s().unwrap(),
        developer.user["id"].as_str().unwrap()
    );
    let details: Value = serde_json::from_str(entry["details"].as_s().unwrap()).unwrap();
    assert_eq!(
        details,
        json!({ "before": { "role": "user" }, "after": { "role": "staff" } })
    );
}
