//! The audit log: every administrative change, newest first, filtered and
//! paged, for admins.

use axum::http::{Method, StatusCode};
use integration_tests::{TestApp, assert_problem};
use serde_json::{Value, json};

use crate::holds::{draft_event, open};

fn actions(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn an_events_changes_are_listed_newest_first_with_who_made_them() {
    let app = TestApp::spawn().await;
    let developer = app.sign_in(&app.developer_email()).await;
    let event = draft_event(&app, &developer, open(10), 4).await;
    let published = app
        .post(
            &format!("/v1/events/{event}/publish"),
            Some(&developer.access_token),
            json!({}),
        )
        .await;
    assert_eq!(published.status, StatusCode::OK, "{:?}", published.body);
    let logged = app
        .get(
            &format!("/v1/admin/audit-logs?target=event:{event}"),
            Some(&developer.access_token),
        )
        .await;
    assert_eq!(logged.status, StatusCode::OK, "{:?}", logged.body);
    assert_eq!(actions(&logged.body), ["event.published", "event.created"]);
    let newest = &logged.body["items"][0];
    assert_eq!(newest["actor_id"], developer.user["id"]);
    assert_eq!(newest["target"], format!("event:{event}"));
    assert_eq!(newest["details"]["changes"]["status"]["after"], "published");
}

#[tokio::test]
async fn the_log_filters_by_action_and_actor() {
    let app = TestApp::spawn().await;
    let developer = app.sign_in(&app.developer_email()).await;
    let event = draft_event(&app, &developer, open(10), 4).await;
    let by_action = app
        .get(
            &format!("/v1/admin/audit-logs?target=event:{event}&action=event.published"),
            Some(&developer.access_token),
        )
        .await;
    assert!(actions(&by_action.body).is_empty(), "{:?}", by_action.body);
    let by_someone_else = app
        .get(
            &format!("/v1/admin/audit-logs?target=event:{event}&actor_id=nobody"),
            Some(&developer.access_token),
        )
        .await;
    assert!(actions(&by_someone_else.body).is_empty());
    let by_developer = app
        .get(
            &format!(
                "/v1/admin/audit-logs?target=event:{event}&actor_id={}",
                developer.user["id"].as_str().unwrap()
            ),
            Some(&developer.access_token),
        )
        .await;
    assert_eq!(actions(&by_developer.body), ["event.created"]);
}

#[tokio::test]
async fn pages_follow_each_other_without_repeats() {
    let app = TestApp::spawn().await;
    let developer = app.sign_in(&app.developer_email()).await;
    let event = draft_event(&app, &developer, open(10), 4).await;
    for title in ["One", "Two", "Three"] {
        let changed = app
            .call(
                Method::PATCH,
                &format!("/v1/events/{event}"),
                Some(&developer.access_token),
                Some(json!({ "title": title })),
            )
            .await;
        assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    }
    let path = format!("/v1/admin/audit-logs?target=event:{event}&limit=3");
    let first = app.get(&path, Some(&developer.access_token)).await;
    assert_eq!(actions(&first.body).len(), 3);
    let cursor = first.body["next_cursor"].as_str().expect("more to come");
    let second = app
        .get(
            &format!("{path}&cursor={cursor}"),
            Some(&developer.access_token),
        )
        .await;
    assert_eq!(second.status, StatusCode::OK, "{:?}", second.body);
    assert_eq!(actions(&second.body), ["event.created"]);
    let mut ids: Vec<&Value> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second.body["items"].as_array().unwrap())
        .map(|e| &e["id"])
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 4);
    let elsewhere = app
        .get(
            &format!("/v1/admin/audit-logs?action=event.created&cursor={cursor}"),
            Some(&developer.access_token),
        )
        .await;
    assert_problem(&elsewhere, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
}

#[tokio::test]
async fn the_log_is_for_admins() {
    let app = TestApp::spawn().await;
    let staff = app.user_with_role("door", "staff").await;
    let refused = app
        .get("/v1/admin/audit-logs", Some(&staff.access_token))
        .await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "FORBIDDEN");
}

#[tokio::test]
async fn a_range_that_ends_before_it_starts_is_refused() {
    let app = TestApp::spawn().await;
    let developer = app.sign_in(&app.developer_email()).await;
    let refused = app
        .get(
            "/v1/admin/audit-logs?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            Some(&developer.access_token),
        )
        .await;
    assert_problem(&refused, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    let malformed = app
        .get(
            "/v1/admin/audit-logs?from=yesterday",
            Some(&developer.access_token),
        )
        .await;
    assert_problem(&malformed, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
}
