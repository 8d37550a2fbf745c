//! Tasks: who sees and changes them, what a change mails and audits,
//! listing by view and filter with cursors, and concurrent edits.

use axum::http::{Method, StatusCode};
use integration_tests::{Response, Session, TestApp, assert_problem, sent_mail_to};
use serde_json::{Value, json};

use crate::holds::{draft_event, open};

/// Signed-in people of one app with the given roles, promoted by the app's
/// developer (one developer sign-in for all, under the per-email limit).
async fn team(app: &TestApp, roles: &[(&str, &str)]) -> Vec<Session> {
    let developer = app.sign_in(&app.developer_email()).await;
    let mut people = Vec::new();
    for (who, role) in roles {
        let session = app.sign_in(&app.email(who)).await;
        if *role != "user" {
            let set = app
                .call(
                    Method::PUT,
                    &format!("/v1/admin/users/{}/role", id_of(&session)),
                    Some(&developer.access_token),
                    Some(json!({ "role": role })),
                )
                .await;
            assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
        }
        people.push(app.refresh(&session.refresh_token).await);
    }
    people
}

fn id_of(session: &Session) -> &str {
    session.user["id"].as_str().expect("user id")
}

async fn create(app: &TestApp, who: &Session, body: Value) -> Value {
    let created = app.post("/v1/tasks", Some(&who.access_token), body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    created.body
}

async fn patch(app: &TestApp, who: &Session, task: &Value, body: Value) -> Response {
    app.call(
        Method::PATCH,
        &format!("/v1/tasks/{}", task["id"].as_str().unwrap()),
        Some(&who.access_token),
        Some(body),
    )
    .await
}

async fn listed(app: &TestApp, who: &Session, query: &str) -> Vec<String> {
    let page = app
        .get(&format!("/v1/tasks?{query}"), Some(&who.access_token))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
    ids(&page.body)
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The task mails SES accepted for `to` (not the sign-in links).
async fn task_mails(to: &str) -> Vec<Value> {
    let mut mails = sent_mail_to(to).await;
    mails.retain(|m| {
        m["subject"]
            .as_str()
            .unwrap_or_default()
            .contains(" a task: ")
    });
    mails
}

fn id(task: &Value) -> String {
    task["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_plain_user_may_not_create_or_list_tasks() {
    let app = TestApp::spawn().await;
    let user = app.sign_in(&app.email("ada")).await;
    let token = Some(user.access_token.as_str());
    assert_problem(
        &app.post("/v1/tasks", token, json!({ "title": "x" })).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );
    assert_problem(
        &app.get("/v1/tasks", token).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );
}

#[tokio::test]
async fn a_new_task_has_its_defaults_and_its_creator() {
    let app = TestApp::spawn().await;
    let [staff] = team(&app, &[("ana", "staff")]).await.try_into().unwrap();
    let task = create(&app, &staff, json!({ "title": "  Print badges " })).await;
    assert_eq!(task["title"], "Print badges");
    assert_eq!(task["description"], "");
    assert_eq!(task["status"], "todo");
    assert_eq!(task["priority"], "medium");
    assert_eq!(task["created_by"], id_of(&staff));
    assert_eq!(task["mentions"], json!([]));
    assert!(task.get("assignee_id").is_none());
    let read = app
        .get(
            &format!("/v1/tasks/{}", id(&task)),
            Some(&staff.access_token),
        )
        .await;
    assert_eq!(read.body, task);
}

#[tokio::test]
async fn staff_see_only_tasks_they_created_are_assigned_or_mentioned_in() {
    let app = TestApp::spawn().await;
    let [ana, bo, cy, di] = team(
        &app,
        &[
            ("ana", "staff"),
            ("bo", "staff"),
            ("cy", "staff"),
            ("di", "staff"),
        ],
    )
    .await
    .try_into()
    .unwrap();
    let assigned = create(
        &app,
        &ana,
        json!({ "title": "a", "assignee_id": id_of(&bo) }),
    )
    .await;
    let mentioning = create(
        &app,
        &ana,
        json!({ "title": "m", "mentions": [id_of(&cy)] }),
    )
    .await;
    let own = create(&app, &di, json!({ "title": "d" })).await;
    assert_eq!(
        listed(&app, &ana, "").await,
        [id(&mentioning), id(&assigned)]
    );
    assert_eq!(listed(&app, &bo, "").await, [id(&assigned)]);
    assert_eq!(listed(&app, &cy, "").await, [id(&mentioning)]);
    assert_eq!(listed(&app, &di, "").await, [id(&own)]);
}

#[tokio::test]
async fn a_task_the_caller_may_not_see_is_not_found() {
    let app = TestApp::spawn().await;
    let [ana, bo] = team(&app, &[("ana", "staff"), ("bo", "staff")])
        .await
        .try_into()
        .unwrap();
    let task = create(&app, &ana, json!({ "title": "private" })).await;
    let path = format!("/v1/tasks/{}", id(&task));
    let token = Some(bo.access_token.as_str());
    assert_problem(
        &app.get(&path, token).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_problem(
        &patch(&app, &bo, &task, json!({ "status": "done" })).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_problem(
        &app.call(Method::DELETE, &path, token, None).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    let unknown = "/v1/tasks/0190d5a4-7b8c-7def-8123-000000000000";
    assert_problem(
        &app.get(unknown, token).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
}

#[tokio::test]
async fn admins_see_and_change_every_task() {
    let app = TestApp::spawn().await;
    let [ana, boss] = team(&app, &[("ana", "staff"), ("boss", "admin")])
        .await
        .try_into()
        .unwrap();
    let developer = app.sign_in(&app.developer_email()).await;
    let event = draft_event(&app, &developer, open(10), 4).await;
    let task = create(&app, &ana, json!({ "title": "x", "event_id": event })).await;
    assert_eq!(
        listed(&app, &boss, &format!("event_id={event}")).await,
        [id(&task)]
    );
    assert!(listed(&app, &boss, "view=created").await.is_empty());
    let changed = patch(&app, &boss, &task, json!({ "priority": "urgent" })).await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    assert_eq!(changed.body["priority"], "urgent");
}

#[tokio::test]
async fn an_at_email_of_a_known_user_mentions_them() {
    let app = TestApp::spawn().await;
    let [ana, bo] = team(&app, &[("ana", "staff"), ("bo", "staff")])
        .await
        .try_into()
        .unwrap();
    let body = format!(
        "Ask @{} about it (and @{}).",
        app.email("bo").to_uppercase(),
        app.email("nobody")
    );
    let task = create(
        &app,
        &ana,
        json!({ "title": "Badges", "description": body }),
    )
    .await;
    assert_eq!(task["mentions"], json!([id_of(&bo)]));
    assert_eq!(listed(&app, &bo, "view=mentioned").await, [id(&task)]);
}

#[tokio::test]
async fn assignment_and_mention_mail_each_person_once_per_change() {
    let app = TestApp::spawn().await;
    let [ana, bo, cy] = team(&app, &[("ana", "staff"), ("bo", "staff"), ("cy", "staff")])
        .await
        .try_into()
        .unwrap();
    let task = create(
        &app,
        &ana,
        json!({ "title": "Badges", "assignee_id": id_of(&bo), "mentions": [id_of(&cy)] }),
    )
    .await;
    let (to_bo, to_cy) = (app.email("bo"), app.email("cy"));
    let mails = task_mails(&to_bo).await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0]["subject"].as_str().unwrap().contains("assigned"));
    assert!(
        mails[0]["body"]
            .as_str()
            .unwrap()
            .contains(&format!("/tasks/{}", id(&task)))
    );
    assert_eq!(task_mails(&to_cy).await.len(), 1);
    // The same PATCH twice, and one that keeps the assignee and mentions.
    for body in [
        json!({ "assignee_id": id_of(&bo) }),
        json!({ "assignee_id": id_of(&bo) }),
        json!({ "title": "Badges, 200 of them" }),
    ] {
        let changed = patch(&app, &ana, &task, body).await;
        assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    }
    assert_eq!(task_mails(&to_bo).await.len(), 1);
    assert_eq!(task_mails(&to_cy).await.len(), 1);
    assert!(
        task_mails(&app.email("ana")).await.is_empty(),
        "nobody is mailed about their own change"
    );
    // A new change does mail: cy is now assigned.
    let reassigned = patch(&app, &ana, &task, json!({ "assignee_id": id_of(&cy) })).await;
    assert_eq!(reassigned.status, StatusCode::OK, "{:?}", reassigned.body);
    assert_eq!(task_mails(&to_cy).await.len(), 2);
}

#[tokio::test]
async fn status_changes_and_reassignments_are_audited() {
    let app = TestApp::spawn().await;
    let [ana, bo, boss] = team(
        &app,
        &[("ana", "staff"), ("bo", "staff"), ("boss", "admin")],
    )
    .await
    .try_into()
    .unwrap();
    let task = create(&app, &ana, json!({ "title": "Badges" })).await;
    let changed = patch(
        &app,
        &ana,
        &task,
        json!({ "status": "in_progress", "assignee_id": id_of(&bo) }),
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    let title_only = patch(&app, &bo, &task, json!({ "title": "Badges!" })).await;
    assert_eq!(title_only.status, StatusCode::OK, "{:?}", title_only.body);
    let log = app
        .get(
            &format!("/v1/admin/audit-logs?target=task:{}", id(&task)),
            Some(&boss.access_token),
        )
        .await;
    assert_eq!(log.status, StatusCode::OK, "{:?}", log.body);
    let mut entries: Vec<(String, Value, Value)> = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["actor_id"], id_of(&ana));
            (
                e["action"].as_str().unwrap().to_owned(),
                e["details"]["before"].clone(),
                e["details"]["after"].clone(),
            )
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        entries,
        [
            ("task.reassigned".to_owned(), Value::Null, json!(id_of(&bo))),
            (
                "task.status_changed".to_owned(),
                json!("todo"),
                json!("in_progress")
            ),
        ]
    );
}

#[tokio::test]
async fn the_list_filters_by_view_status_priority_and_event() {
    let app = TestApp::spawn().await;
    let [ana, bo] = team(&app, &[("ana", "staff"), ("bo", "staff")])
        .await
        .try_into()
        .unwrap();
    let developer = app.sign_in(&app.developer_email()).await;
    let event = draft_event(&app, &developer, open(10), 4).await;
    let mine = create(&app, &ana, json!({ "title": "mine", "priority": "high" })).await;
    let given = create(
        &app,
        &bo,
        json!({ "title": "given", "assignee_id": id_of(&ana), "event_id": event }),
    )
    .await;
    let noted = create(
        &app,
        &bo,
        json!({ "title": "noted", "mentions": [id_of(&ana)] }),
    )
    .await;
    let done = patch(&app, &ana, &mine, json!({ "status": "done" })).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert_eq!(listed(&app, &ana, "view=created").await, [id(&mine)]);
    assert_eq!(listed(&app, &ana, "view=assigned").await, [id(&given)]);
    assert_eq!(listed(&app, &ana, "view=mentioned").await, [id(&noted)]);
    assert_eq!(listed(&app, &ana, "status=done").await, [id(&mine)]);
    assert_eq!(
        listed(&app, &ana, "status=todo&priority=medium").await,
        [id(&noted), id(&given)]
    );
    assert_eq!(listed(&app, &ana, "priority=high").await, [id(&mine)]);
    assert_eq!(
        listed(&app, &ana, &format!("event_id={event}")).await,
        [id(&given)]
    );
    assert_problem(
        &app.get("/v1/tasks?status=blocked", Some(&ana.access_token))
            .await,
        StatusCode::BAD_REQUEST,
        "VALIDATION_FAILED",
    );
}

#[tokio::test]
async fn the_list_pages_with_cursors_bound_to_the_caller_and_query() {
    let app = TestApp::spawn().await;
    let [ana, bo] = team(&app, &[("ana", "staff"), ("bo", "staff")])
        .await
        .try_into()
        .unwrap();
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(id(
            &create(&app, &ana, json!({ "title": format!("t{i}") })).await
        ));
    }
    created.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("/v1/tasks?limit=2&cursor={c}"),
            None => "/v1/tasks?limit=2".to_owned(),
        };
        let page = app.get(&query, Some(&ana.access_token)).await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        seen.extend(ids(&page.body));
        pages += 1;
        match page.body["next_cursor"].as_str() {
            Some(next) => {
                let elsewhere = app
                    .get(
                        &format!("/v1/tasks?limit=2&cursor={next}"),
                        Some(&bo.access_token),
                    )
                    .await;
                assert_problem(&elsewhere, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
                let other_query = app
                    .get(
                        &format!("/v1/tasks?limit=2&status=done&cursor={next}"),
                        Some(&ana.access_token),
                    )
                    .await;
                assert_problem(&other_query, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
                cursor = Some(next.to_owned());
            }
            None => break,
        }
    }
    assert_eq!(seen, created, "newest first, each once");
    assert_eq!(pages, 3);
}

#[tokio::test]
async fn invalid_fields_are_named_in_a_422_problem_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let [ana] = team(&app, &[("ana", "staff")]).await.try_into().unwrap();
    let refused = app
        .post(
            "/v1/tasks",
            Some(&ana.access_token),
            json!({ "title": " ", "assignee_id": "0190d5a4-7b8c-7def-8123-000000000000",
                    "event_id": "nope", "mentions": ["ghost"] }),
        )
        .await;
    assert_problem(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );
    let fields: Vec<&str> = refused.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["title", "assignee_id", "mentions[0]", "event_id"]);
    let too_many: Vec<String> = (0..21).map(|i| format!("u{i}")).collect();
    assert_problem(
        &app.post(
            "/v1/tasks",
            Some(&ana.access_token),
            json!({ "title": "x", "mentions": too_many }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );
    assert_problem(
        &app.post(
            "/v1/tasks",
            Some(&ana.access_token),
            json!({ "title": "x", "priority": "asap" }),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_BODY",
    );
    assert!(listed(&app, &ana, "").await.is_empty());
    let task = create(&app, &ana, json!({ "title": "ok" })).await;
    assert_problem(
        &patch(&app, &ana, &task, json!({ "title": "" })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );
    assert_problem(
        &patch(&app, &ana, &task, json!({ "title": null })).await,
        StatusCode::BAD_REQUEST,
        "INVALID_BODY",
    );
}

#[tokio::test]
async fn the_assignee_edits_but_does_not_delete_and_a_mention_only_reads() {
    let app = TestApp::spawn().await;
    let [ana, bo, cy] = team(&app, &[("ana", "staff"), ("bo", "staff"), ("cy", "staff")])
        .await
        .try_into()
        .unwrap();
    let task = create(
        &app,
        &ana,
        json!({ "title": "x", "assignee_id": id_of(&bo), "mentions": [id_of(&cy)] }),
    )
    .await;
    let path = format!("/v1/tasks/{}", id(&task));
    let by_assignee = patch(&app, &bo, &task, json!({ "status": "in_progress" })).await;
    assert_eq!(by_assignee.status, StatusCode::OK, "{:?}", by_assignee.body);
    assert_problem(
        &app.call(Method::DELETE, &path, Some(&bo.access_token), None)
            .await,
        StatusCode::FORBIDDEN,
        "NOT_YOUR_TASK",
    );
    assert_eq!(
        app.get(&path, Some(&cy.access_token)).await.status,
        StatusCode::OK
    );
    assert_problem(
        &patch(&app, &cy, &task, json!({ "status": "done" })).await,
        StatusCode::FORBIDDEN,
        "NOT_YOUR_TASK",
    );
}

#[tokio::test]
async fn a_deleted_task_leaves_every_list() {
    let app = TestApp::spawn().await;
    let [ana, bo] = team(&app, &[("ana", "staff"), ("bo", "staff")])
        .await
        .try_into()
        .unwrap();
    let task = create(
        &app,
        &ana,
        json!({ "title": "x", "assignee_id": id_of(&bo) }),
    )
    .await;
    let path = format!("/v1/tasks/{}", id(&task));
    let deleted = app
        .call(Method::DELETE, &path, Some(&ana.access_token), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{:?}", deleted.body);
    assert_problem(
        &app.get(&path, Some(&ana.access_token)).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert!(listed(&app, &ana, "").await.is_empty());
    assert!(listed(&app, &bo, "").await.is_empty());
}

#[tokio::test]
async fn an_unassigned_task_leaves_the_former_assignees_list() {
    let app = TestApp::spawn().await;
    let [ana, bo] = team(&app, &[("ana", "staff"), ("bo", "staff")])
        .await
        .try_into()
        .unwrap();
    let task = create(
        &app,
        &ana,
        json!({ "title": "x", "assignee_id": id_of(&bo) }),
    )
    .await;
    let unassigned = patch(&app, &ana, &task, json!({ "assignee_id": null })).await;
    assert_eq!(unassigned.status, StatusCode::OK, "{:?}", unassigned.body);
    assert!(unassigned.body.get("assignee_id").is_none());
    assert!(listed(&app, &bo, "").await.is_empty());
    assert_problem(
        &app.get(&format!("/v1/tasks/{}", id(&task)), Some(&bo.access_token))
            .await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
}

/// Invariant: every edit answered 200 is one version of the task, and the
/// stored task is the last of them; the others were told 409 and wrote
/// nothing. No edit is lost without its sender knowing.
#[tokio::test]
async fn concurrent_edits_never_lose_an_update_silently() {
    let app = TestApp::spawn().await;
    let [ana] = team(&app, &[("ana", "staff")]).await.try_into().unwrap();
    let task = create(&app, &ana, json!({ "title": "start" })).await;
    let answers = futures::future::join_all((0..8).map(|i| {
        let (app, ana, task) = (&app, &ana, &task);
        async move { patch(app, ana, task, json!({ "title": format!("edit {i}") })).await }
    }))
    .await;
    let mut winners: Vec<&Value> = Vec::new();
    for answer in &answers {
        match answer.status {
            StatusCode::OK => winners.push(&answer.body),
            _ => assert_problem(answer, StatusCode::CONFLICT, "TASK_CHANGED"),
        }
    }
    assert!(!winners.is_empty());
    winners.sort_by_key(|t| t["version"].as_u64());
    let versions: Vec<u64> = winners
        .iter()
        .map(|t| t["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, (2..2 + winners.len() as u64).collect::<Vec<_>>());
    let stored = app
        .get(&format!("/v1/tasks/{}", id(&task)), Some(&ana.access_token))
        .await;
    assert_eq!(&&stored.body, winners.last().unwrap());
}
