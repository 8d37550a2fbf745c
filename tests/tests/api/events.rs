//! Events: admins create, edit, publish and cancel them (each change
//! audited); anyone browses what is published.
//!
//! Tests share one table, so every event carries a tag unique to its test
//! and listings are filtered by it.

use aws_sdk_dynamodb::types::AttributeValue;
use axum::http::{Method, StatusCode};
use integration_tests::{Response, Session, TestApp, assert_problem, table};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// A tag no other test uses (tags are at most 30 characters).
fn unique_tag(app: &TestApp) -> String {
    format!("t{}", &app.tag[app.tag.len() - 24..])
}

/// The app's now to the second, as event times are stored.
fn now(app: &TestApp) -> OffsetDateTime {
    app.clock_now().replace_nanosecond(0).unwrap()
}

fn at(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

/// A valid create body starting `days` from the app's now, tagged for this test.
fn event_body(app: &TestApp, title: &str, days: i64) -> Value {
    let starts = now(app) + Duration::days(days);
    json!({
        "title": format!("{title} {}", app.tag), "description": "An evening of music",
        "venue": "Town Hall", "starts_at": at(starts), "ends_at": at(starts + Duration::hours(3)),
        "timezone": "Europe/Paris", "tags": [unique_tag(app), "Music"], "currency": "EUR",
        "layout": { "mode": "grid", "units": [
            { "id": "T1", "label": "Table 1", "seats": 8, "price_cents": 40000 },
            { "id": "T2", "label": "Table 2", "seats": 6, "price_cents": 30000 },
        ] },
    })
}

async fn create(app: &TestApp, admin: &Session, body: Value) -> Response {
    app.post("/v1/events", Some(&admin.access_token), body)
        .await
}

async fn create_ok(app: &TestApp, admin: &Session, body: Value) -> String {
    let created = create(app, admin, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    created.body["id"].as_str().unwrap().to_owned()
}

async fn patch(app: &TestApp, admin: &Session, id: &str, body: Value) -> Response {
    app.call(
        Method::PATCH,
        &format!("/v1/events/{id}"),
        Some(&admin.access_token),
        Some(body),
    )
    .await
}

async fn publish(app: &TestApp, admin: &Session, id: &str) -> Response {
    app.post(
        &format!("/v1/events/{id}/publish"),
        Some(&admin.access_token),
        json!({}),
    )
    .await
}

async fn cancel(app: &TestApp, admin: &Session, id: &str) -> Response {
    app.post(
        &format!("/v1/events/{id}/cancel"),
        Some(&admin.access_token),
        json!({}),
    )
    .await
}

async fn show(app: &TestApp, id: &str, who: Option<&Session>) -> Response {
    app.get(
        &format!("/v1/events/{id}"),
        who.map(|s| s.access_token.as_str()),
    )
    .await
}

/// GET /v1/events with this test's tag and the given extra query.
async fn list(app: &TestApp, query: &str, who: Option<&Session>) -> Response {
    let path = format!("/v1/events?tag={}&{query}", unique_tag(app));
    app.get(&path, who.map(|s| s.access_token.as_str())).await
}

fn ids(listing: &Response) -> Vec<String> {
    assert_eq!(listing.status, StatusCode::OK, "{:?}", listing.body);
    listing.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

fn field_errors(response: &Response) -> Vec<String> {
    assert_problem(response, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    response.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

/// (action, actor_id) of the last minute's audit entries about the event,
/// oldest first. (Audit entries are partitioned by day.)
async fn audit_trail(app: &TestApp, event_id: &str) -> Vec<(String, String)> {
    let (client, table) = table().await;
    let mut days = vec![at(app.clock_now() - Duration::MINUTE)[..10].to_owned()];
    days.push(at(app.clock_now())[..10].to_owned());
    days.dedup();
    let mut trail = Vec::new();
    for day in days {
        trail.extend(audit_entries(&client, &table, &day, event_id).await);
    }
    trail
}

async fn audit_entries(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    day: &str,
    event_id: &str,
) -> Vec<(String, String)> {
    let mut trail = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .query()
            .table_name(table)
            .key_condition_expression("PK = :pk")
            .filter_expression("target = :target")
            .expression_attribute_values(":pk", AttributeValue::S(format!("AUDIT#{day}")))
            .expression_attribute_values(":target", AttributeValue::S(format!("event:{event_id}")))
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in out.items() {
            let text = |name: &str| item[name].as_s().unwrap().clone();
            trail.push((text("action"), text("actor_id")));
        }
        start = out.last_evaluated_key().cloned();
        if start.is_none() {
            return trail;
        }
    }
}

#[tokio::test]
async fn admin_creates_a_draft_event() {
    let app = TestApp::spawn().await;
    let admin = app.user_with_role("admin", "admin").await;
    let body = event_body(&app, "Gala", 7);
    let created = create(&app, &admin, body.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let event = &created.body;
    assert_eq!(event["status"], "draft");
    assert_eq!(event["title"], body["title"]);
    assert_eq!(event["currency"], "eur", "stored lowercase");
    assert_eq!(event["tags"], json!([unique_tag(&app), "music"]));
    assert_eq!(event["max_per_booking"], 10, "the platform default");
    assert_eq!(event["layout"], body["layout"]);
    assert!(event["created_at"].is_string() && event["updated_at"].is_string());
    let id = event["id"].as_str().unwrap();
    assert_eq!(&show(&app, id, Some(&admin)).await.body, event);
}

#[tokio::test]
async fn event_times_are_stored_in_utc_to_the_second() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.developer_email()).await;
    let mut body = event_body(&app, "Gala", 7);
    body["starts_at"] = json!("2099-06-01T20:30:15.999+02:00");
    body["ends_at"] = json!("2099-06-01T23:00:00Z");
    let created = create(&app, &admin, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["starts_at"], "2099-06-01T18:30:15Z");
}

#[tokio::test]
async fn a_plain_user_may_not_create_events() {
    let app = TestApp::spawn().await;
    let ada = app.sign_in(&app.email("ada")).await;
    let body = event_body(&app, "Gala", 7);
    assert_problem(
        &create(&app, &ada, body.clone()).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );
    let anonymous = app.post("/v1/events", None, body).await;
    assert_problem(&anonymous, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
}

#[tokio::test]
async fn drafts_are_404_to_the_public() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.developer_email()).await;
    let ada = app.sign_in(&app.email("ada")).await;
    let id = create_ok(&app, &admin, event_body(&app, "Gala", 7)).await;
    assert_problem(
        &show(&app, &id, None).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_problem(
        &show(&app, &id, Some(&ada)).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    publish(&app, &admin, &id).await;
    assert_eq!(show(&app, &id, None).await.status, StatusCode::OK);
    cancel(&app, &admin, &id).await;
    let cancelled = show(&app, &id, Some(&ada)).await;
    assert_eq!(
        cancelled.body["status"], "cancelled",
        "{:?}",
        cancelled.body
    );
}

#[tokio::test]
async fn an_unknown_event_is_a_404() {
    let app = TestApp::spawn().await;
    assert_problem(
        &show(&app, "no-such-event", None).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    let absurd = "x".repeat(3000);
    assert_problem(
        &show(&app, &absurd, None).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
}

#[tokio::test]
async fn staff_see_drafts() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.developer_email()).await;
    let staff = app.user_with_role("sam", "staff").await;
    let id = create_ok(&app, &admin, event_body(&app, "Gala", 7)).await;
    let seen = show(&app, &id, Some(&staff)).await;
    assert_eq!(
        (seen.status, &seen.body["status"]),
        (StatusCode::OK, &json!("draft"))
    );
}

#[tokio::test]
async fn a_bad_token_is_refused_even_where_none_is_needed() {
    let app = TestApp::spawn().await;
    let response = app.get("/v1/events", Some("not-a-token")).await;
    assert_problem(&response, StatusCode::UNAUTHORIZED, "TOKEN_INVALID");
}

#[tokio::test]
async fn publish_is_idempotent() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.developer_email()).await;
    let id = create_ok(&app, &admin, event_body(&app, "Gala", 7)).await;
    let first = publish(&app, &admin, &id).await;
    assert_eq!(
        (first.status, &first.body["status"]),
        (StatusCode::OK, &json!("published"))
    );
    let again = publish(&app, &admin, &id).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, first.body, "a repeat changes nothing");
    let published = audit_trail(&app, &id).await;
    let published = published
        .iter()
        .filter(|(action, _)| action == "event.published");
    assert_eq!(published.count(), 1);
}

#[tokio::test]
async fn concurrent_publishes_all_succeed_and_publish_once() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.developer_email()).await;
    let id = create_ok(&app, &admin, event_body(&app, "Gala", 7)).await;
    let answers = futures::future::join_all((0..5).map(|_| publish(&app, &admin, &id))).await;
    for answer in &answers {
        assert_eq!(answer.body["status"], "published", "{:?}", answer.body);
    }
    let trail = audit_trail(&app, &id).await;
    assert_eq!(
        trail
            .iter()
            .filter(|(action, _)| action == "event.published")
            .count(),
        1
    );
}

#[tokio::test]
async fn a_cancelled_event_cannot_be_published() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.developer_email()).await;
    let id = create_ok(&app, &admin, event_body(&app, "Gala", 7)).await;
    publish(&app, &admin, &id).await;
    let cancelled = cancel(&app, &admin, &id).await;
    assert_eq!(
        cancelled.body["status"], "cancelled",
        "{:?}",
        cancelled.body
    );
    assert_problem(
        &publish(&app, &admin, &id).await,
        StatusCode::CONFLICT,
        "EVENT_CANCELLED",
    );
    assert_eq!(
        cancel(&app, &admin, &id).await.body,
        cancelled.body,
        "cancel is idempotent"
    );
    let edit = patch(&app, &admin, &id, json!({ "title": "Back on" })).await;
    assert_problem(&edit, StatusCode::CONFLICT, "EVENT_CANCELLED");
}

#[tokio::test]
async fn only_admins_manage_events() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.developer_email()).await;
    let staff = app.user_with_role("sam", "staff").await;
    let id = create_ok(&app, &admin, event_body(&app, "Gala", 7)).await;
    assert_problem(
        &publish(&app, &staff, &id).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );
    assert_problem(
        &cancel(&app, &staff, &id).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );
    let edit = patch(&app, &staff, &id, json!({ "title": "Mine now" })).await;
    assert_problem(&edit, StatusCode::FORBIDDEN, "FORBIDDEN");
}

#[tokio::test]
async fn listing_shows_only_published_events_in_start_order() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.developer_email()).await;
    let third = create_ok(&app, &admin, event_body(&app, "Third", 3)).await;
    let first = create_ok(&app, &admin, event_body(&app, "First", 1)).await;
    let draft = create_ok(&app, &admin, event_body(&app, "Draft", 2)).await;
    let cancelled = create_ok(&app, &admin, event_body(&app, "Cancelled", 4)).await;
    for id in [&third, &first, &cancelled] {
        publish(&app, &admin, id).await;
    }
    cancel(&app, &admin, &cancelled).await;
    let listing = list(&app, "", None).await;
    assert_eq!(ids(&listing), [first, third]);
    assert_eq!(listing.body["next_cursor"], Value::Null);
    assert!(!ids(&listing).contains(&draft));
}

#[tokio::test]
async fn listing_filters_by_q_tag_and_time_window() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.developer_email()).await;
    let mut jazz = event_body(&app, "Jazz Night", 1);
    jazz["tags"] = json!([unique_tag(&app), "jazz"]);
    let jazz = create_ok(&app, &admin, jazz).await;
    let mut opera = event_body(&app, "Opera", 2);
    opera["venue"] = json!("The Old Jazz Cellar");
    let opera = create_ok(&app, &admin, opera).await;
    let poetry = create_ok(&app, &admin, event_body(&app, "Poetry", 3)).await;
    for id in [&jazz, &opera, &poetry] {
        publish(&app, &admin, id).await;
    }
    // q matches title, venue or description, case-insensitively.
    assert_eq!(
        ids(&list(&app, "q=JAZZ", None).await),
        [jazz.clone(), opera.clone()]
    );
    let tagged = format!("/v1/events?tag=Jazz&q={}", app.tag);
    assert_eq!(
        ids(&app.get(&tagged, None).await),
        std::slice::from_ref(&jazz)
    );
    let starts = |days| at(now(&app) + Duration::days(days));
    let window = format!("from={}&to={}", starts(2), starts(3));
    assert_eq!(
        ids(&list(&app, &window, None).await),
        [opera.clone(), poetry.clone()],
        "bounds are inclusive"
    );
    let after_first = format!("from={}", at(now(&app) + Duration::hours(25)));
    assert_eq!(
        ids(&list(&app, &after_first, None).await),
        [opera.clone(), poetry]
    );
    let before_last = format!("to={}", at(now(&app) + Duration::hours(49)));
    assert_eq!(ids(&list(&app, &before_last, None).await), [jazz, opera]);
    let empty_window = format!("from={}&to={}", starts(3), starts(2));
    assert_eq!(
        ids(&list(&app, &empty_window, None).await),
        Vec::<String>::new()
    );
    let bad_time = list(&app, "from=tomorrow", None).await;
    assert_eq!(field_errors(&bad_time), ["from"]);
}

#[tokio::test]
async fn listing_pages_with_a_cursor() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.developer_email()).await;
    let mut expected = Vec::new();
    for day in 1..=5 {
        let id = create_ok(&app, &admin, event_body(&app, "Show", day)).await;
        publish(&app, &admin, &id).await;
        expected.push(id);
    }
    let mut seen = Vec::new();
    let mut query = "limit=2".to_owned();
    loop {
        let page = list(&app, &query, None).await;
        let items = ids(&page);
        assert!(items.len() <= 2);
        seen.extend(items);
        match page.body["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, expected, "every event once, in start order");
}

#[tokio::test]
async fn a_forged_cursor_is_a_400() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.developer_email()).await;
    for day in 1..=2 {
        let id = create_ok(&app, &admin, event_body(&app, "Show", day)).await;
        publish(&app, &admin, &id).await;
    }
    let forged = list(&app, "cursor=eyJQSyI6IkVWRU5UIzEifQ.AAAA", None).await;
    assert_eq!(field_errors(&forged), ["cursor"]);
    // A real cursor of another query is no cursor of this one.
    let page = list(&app, "limit=1", None).await;
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let elsewhere = list(&app, &format!("limit=1&q=show&cursor={cursor}"), None).await;
    assert_eq!(field_errors(&elsewhere), ["cursor"]);
}

#[tokio::test]
async fn only_staff_may_list_by_status() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.developer_email()).await;
    let staff = app.user_with_role("sam", "staff").await;
    let ada = app.sign_in(&app.email("ada")).await;
    let draft = create_ok(&app, &admin, event_body(&app, "Draft", 1)).await;
    let anonymous = list(&app, "status=draft", None).await;
    assert_problem(&anonymous, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    assert_problem(
        &list(&app, "status=draft", Some(&ada)).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );
    assert_eq!(
        ids(&list(&app, "status=draft", Some(&staff)).await),
        [draft]
    );
    assert_eq!(
        ids(&list(&app, "status=published", Some(&ada)).await),
        Vec::<String>::new()
    );
    assert_eq!(
        field_errors(&list(&app, "status=sold", Some(&staff)).await),
        ["status"]
    );
}

#[tokio::test]
async fn validation_names_the_bad_field() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.developer_email()).await;
    let unit = |id: &str| json!({ "id": id, "label": "Table", "seats": 8, "price_cents": 1000 });
    let many: Vec<Value> = (0..2001).map(|i| unit(&format!("T{i}"))).collect();
    let cases = [
        (
            "layout",
            json!({ "mode": "grid", "units": [unit("T1"), unit("T1")] }),
            "layout.units[1].id",
        ),
        (
            "layout",
            json!({ "mode": "grid", "units": many }),
            "layout.units",
        ),
        (
            "layout",
            json!({ "mode": "open", "capacity": 0, "price_cents": 100 }),
            "layout.capacity",
        ),
        (
            "layout",
            json!({ "mode": "open", "capacity": 10, "price_cents": -1 }),
            "layout.price_cents",
        ),
        (
            "ends_at",
            json!(at(now(&app) + Duration::days(6))),
            "ends_at",
        ),
        (
            "starts_at",
            json!(at(now(&app) - Duration::days(1))),
            "starts_at",
        ),
        ("currency", json!("euro"), "currency"),
        ("max_per_booking", json!(51), "max_per_booking"),
        ("timezone", json!(""), "timezone"),
        (
            "image_url",
            json!("http://insecure.example.com/a.png"),
            "image_url",
        ),
        ("title", json!(" "), "title"),
    ];
    for (field, value, named) in cases {
        let mut body = event_body(&app, "Bad", 7);
        body[field] = value;
        assert_eq!(
            field_errors(&create(&app, &admin, body).await),
            [named],
            "{field}"
        );
    }
    let mut unknown = event_body(&app, "Bad", 7);
    unknown["status"] = json!("published");
    assert_problem(
        &create(&app, &admin, unknown).await,
        StatusCode::BAD_REQUEST,
        "INVALID_BODY",
    );
}

#[tokio::test]
async fn patch_validates_the_merged_event() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.developer_email()).await;
    let id = create_ok(&app, &admin, event_body(&app, "Gala", 7)).await;
    let early_end = at(now(&app) + Duration::days(6));
    let refused = patch(&app, &admin, &id, json!({ "ends_at": early_end })).await;
    assert_eq!(field_errors(&refused), ["ends_at"]);
    let renamed = patch(
        &app,
        &admin,
        &id,
        json!({ "title": "Summer Gala", "tags": ["Summer"] }),
    )
    .await;
    assert_eq!(renamed.status, StatusCode::OK, "{:?}", renamed.body);
    assert_eq!(renamed.body["title"], "Summer Gala");
    assert_eq!(renamed.body["tags"], json!(["summer"]));
    assert_eq!(renamed.body["venue"], "Town Hall", "untouched fields stay");
    assert_eq!(show(&app, &id, Some(&admin)).await.body, renamed.body);
    let null_title = patch(&app, &admin, &id, json!({ "title": null })).await;
    assert_problem(&null_title, StatusCode::BAD_REQUEST, "INVALID_BODY");
    let unknown = patch(&app, &admin, &id, json!({ "status": "published" })).await;
    assert_problem(&unknown, StatusCode::BAD_REQUEST, "INVALID_BODY");
    let missing = patch(&app, &admin, "no-such-event", json!({ "title": "x" })).await;
    assert_problem(&missing, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn every_mutation_writes_an_audit_entry() {
    let app = TestApp::spawn().await;
    let admin = app.user_with_role("admin", "admin").await;
    let admin_id = admin.user["id"].as_str().unwrap().to_owned();
    let id = create_ok(&app, &admin, event_body(&app, "Gala", 7)).await;
    // Entries sort by time; a second apart keeps their order unambiguous.
    let tick = || app.clock.advance(Duration::SECOND);
    tick();
    patch(&app, &admin, &id, json!({ "venue": "Park" })).await;
    patch(&app, &admin, &id, json!({ "venue": "Park" })).await; // no change, no entry
    tick();
    publish(&app, &admin, &id).await;
    tick();
    cancel(&app, &admin, &id).await;
    let trail = audit_trail(&app, &id).await;
    let expected: Vec<(String, String)> = [
        "event.created",
        "event.updated",
        "event.published",
        "event.cancelled",
    ]
    .into_iter()
    .map(|action| (action.to_owned(), admin_id.clone()))
    .collect();
    assert_eq!(trail, expected);
}

#[tokio::test]
async fn amounts_stripe_cannot_charge_are_a_422_at_creation_and_on_patch() {
    let app = TestApp::spawn().await;
    let admin = app.user_with_role("ada", "admin").await;
    // 50 places at 2,000,000 cost 100,000,000: over the maximum of 99,999,999.
    let mut body = event_body(&app, "Pricey", 7);
    body["max_per_booking"] = json!(50);
    body["layout"] = json!({ "mode": "open", "capacity": 500, "price_cents": 2_000_000 });
    let refused = create(&app, &admin, body.clone()).await;
    assert_problem(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "AMOUNT_OUT_OF_RANGE",
    );
    assert_eq!(refused.body["errors"][0]["field"], "layout.price_cents");

    body["layout"]["price_cents"] = json!(49);
    let too_cheap = create(&app, &admin, body.clone()).await;
    assert_problem(
        &too_cheap,
        StatusCode::UNPROCESSABLE_ENTITY,
        "AMOUNT_OUT_OF_RANGE",
    );

    body["layout"]["price_cents"] = json!(0);
    let free = create_ok(&app, &admin, body).await;
    let patched = patch(
        &app,
        &admin,
        &free,
        json!({ "layout": { "mode": "open", "capacity": 500, "price_cents": 10 } }),
    )
    .await;
    assert_problem(
        &patched,
        StatusCode::UNPROCESSABLE_ENTITY,
        "AMOUNT_OUT_OF_RANGE",
    );
    assert_eq!(patched.body["errors"][0]["field"], "layout.price_cents");

    let mut made_up = event_body(&app, "Made up", 7);
    made_up["currency"] = json!("xyz");
    let response = create(&app, &admin, made_up).await;
    assert_problem(&response, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(response.body["errors"][0]["field"], "currency");
}
