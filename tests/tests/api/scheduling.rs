//! Scheduled publishing: the schedule endpoint keeps one EventBridge
//! Scheduler schedule per event, and the scheduler function publishes an
//! event only while it is still scheduled for the time it was given.

use aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput;
use aws_sdk_scheduler::types::{ActionAfterCompletion, FlexibleTimeWindowMode};
use axum::http::StatusCode;
use integration_tests::{Options, Response, Session, TestApp, assert_problem};
use serde_json::{Value, json};
use shared::config::ScheduleConfig;
use shared::domain::schedule::{PublishOrder, ScheduledJob};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::holds::{draft_event, grid};

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

async fn schedule(app: &TestApp, who: &Session, event: &str, publish_at: Value) -> Response {
    app.post(
        &format!("/v1/events/{event}/schedule"),
        Some(&who.access_token),
        json!({ "publish_at": publish_at }),
    )
    .await
}

/// The event's schedule as the emulator holds it; `None` when there is none.
async fn stored_schedule(event: &str) -> Option<GetScheduleOutput> {
    let aws = shared::state::load_aws().expect("AWS settings: make test sets them");
    let group = ScheduleConfig::from_env().unwrap().group;
    let found = aws_sdk_scheduler::Client::new(&aws)
        .get_schedule()
        .group_name(group)
        .name(format!("publish-{event}"))
        .send()
        .await;
    match found {
        Ok(schedule) => Some(schedule),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            None
        }
        Err(err) => panic!("{err:?}"),
    }
}

async fn event_status(app: &TestApp, who: &Session, event: &str) -> Value {
    let response = app
        .get(&format!("/v1/events/{event}"), Some(&who.access_token))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
    response.body["status"].clone()
}

fn publish_order(event: &str, publish_at: OffsetDateTime) -> ScheduledJob {
    ScheduledJob::Publish(PublishOrder {
        event_id: event.to_owned(),
        publish_at,
    })
}

/// Whole seconds, as events store times.
fn in_whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap()
}

#[tokio::test]
async fn scheduling_creates_a_one_time_schedule_and_scheduling_again_moves_it() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.developer_email()).await;
    let event = draft_event(&app, &admin, grid(1), 10).await;
    let first = in_whole_seconds(app.clock_now() + Duration::days(1));
    let response = schedule(&app, &admin, &event, json!(rfc3339(first))).await;
    assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
    assert_eq!(response.body["status"], "scheduled");
    assert_eq!(response.body["publish_at"], rfc3339(first));

    let stored = stored_schedule(&event).await.expect("a schedule");
    let utc = |t: OffsetDateTime| rfc3339(t).trim_end_matches('Z').to_owned();
    assert_eq!(
        stored.schedule_expression(),
        Some(format!("at({})", utc(first)).as_str())
    );
    assert_eq!(stored.schedule_expression_timezone(), Some("UTC"));
    assert_eq!(
        stored.action_after_completion(),
        Some(&ActionAfterCompletion::Delete)
    );
    assert_eq!(
        stored.flexible_time_window().map(|w| w.mode()),
        Some(&FlexibleTimeWindowMode::Off)
    );
    let config = ScheduleConfig::from_env().unwrap();
    let target = stored.target().expect("a target");
    assert_eq!(target.arn(), config.target_arn);
    assert_eq!(target.role_arn(), config.role_arn);
    let input: Value = serde_json::from_str(target.input().unwrap()).unwrap();
    assert_eq!(
        input,
        json!({ "publish": { "event_id": event, "publish_at": rfc3339(first) } })
    );

    let moved = first + Duration::hours(5);
    let response = schedule(&app, &admin, &event, json!(rfc3339(moved))).await;
    assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
    assert_eq!(response.body["publish_at"], rfc3339(moved));
    let stored = stored_schedule(&event).await.expect("still one schedule");
    assert_eq!(
        stored.schedule_expression(),
        Some(format!("at({})", utc(moved)).as_str())
    );
}

#[tokio::test]
async fn publishing_or_cancelling_by_hand_deletes_the_schedule() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.developer_email()).await;
    let at = json!(rfc3339(app.clock_now() + Duration::days(1)));
    for action in ["publish", "cancel"] {
        let event = draft_event(&app, &admin, grid(1), 10).await;
        let scheduled = schedule(&app, &admin, &event, at.clone()).await;
        assert_eq!(scheduled.status, StatusCode::OK, "{:?}", scheduled.body);
        assert!(stored_schedule(&event).await.is_some());
        let response = app
            .post(
                &format!("/v1/events/{event}/{action}"),
                Some(&admin.access_token),
                json!({}),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
        assert!(stored_schedule(&event).await.is_none(), "{action}");
    }
}

#[tokio::test]
async fn the_scheduler_publishes_only_an_event_still_scheduled_for_that_time() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.developer_email()).await;
    let event = draft_event(&app, &admin, grid(1), 10).await;
    // Within the access token's 15 minutes, so the admin can still look.
    let first = in_whole_seconds(app.clock_now() + Duration::minutes(5));
    let moved = first + Duration::minutes(5);
    for at in [first, moved] {
        let response = schedule(&app, &admin, &event, json!(rfc3339(at))).await;
        assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
    }
    app.clock.advance(Duration::minutes(11));

    let stale = scheduler::handle(&app.scheduler, publish_order(&event, first))
        .await
        .unwrap();
    assert!(stale.published.is_empty(), "the moved schedule's old order");
    assert_eq!(event_status(&app, &admin, &event).await, "scheduled");

    let due = scheduler::handle(&app.scheduler, publish_order(&event, moved))
        .await
        .unwrap();
    assert_eq!(due.published, vec![event.clone()]);
    assert_eq!(event_status(&app, &admin, &event).await, "published");

    let again = scheduler::handle(&app.scheduler, publish_order(&event, moved))
        .await
        .unwrap();
    assert!(again.published.is_empty(), "a second delivery does nothing");
}

#[tokio::test]
async fn the_sweep_publishes_a_scheduled_event_whose_schedule_was_lost() {
    let _sweeps = integration_tests::sweep_lock().await;
    let app = TestApp::with(Options {
        clock_start: Some(OffsetDateTime::now_utc() - Duration::days(2)),
        ..Options::default()
    })
    .await;
    let admin = app.sign_in(&app.developer_email()).await;
    let event = draft_event(&app, &admin, grid(1), 10).await;
    let at = json!(rfc3339(app.clock_now() + Duration::minutes(5)));
    let response = schedule(&app, &admin, &event, at).await;
    assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
    app.clock.advance(Duration::minutes(6));
    let report = scheduler::handle(&app.scheduler, ScheduledJob::Sweep {})
        .await
        .unwrap();
    assert!(report.published.contains(&event), "{report:?}");
    assert_eq!(event_status(&app, &admin, &event).await, "published");
}

#[tokio::test]
async fn a_schedule_must_be_in_the_future_before_the_start_and_of_a_draft() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.developer_email()).await;
    let event = draft_event(&app, &admin, grid(1), 10).await;
    let now = app.clock_now();
    for (at, field) in [
        (now - Duration::minutes(1), "publish_at"),
        (now + Duration::days(8), "publish_at"),
    ] {
        let response = schedule(&app, &admin, &event, json!(rfc3339(at))).await;
        assert_problem(
            &response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_SCHEDULE",
        );
        assert_eq!(response.body["errors"][0]["field"], field);
    }
    let published = app
        .post(
            &format!("/v1/events/{event}/publish"),
            Some(&admin.access_token),
            json!({}),
        )
        .await;
    assert_eq!(published.status, StatusCode::OK);
    let response = schedule(
        &app,
        &admin,
        &event,
        json!(rfc3339(now + Duration::days(1))),
    )
    .await;
    assert_problem(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_SCHEDULE",
    );
    assert_eq!(response.body["errors"][0]["field"], "status");
    assert!(stored_schedule(&event).await.is_none());
}

#[tokio::test]
async fn only_admins_schedule_and_the_time_must_be_a_time() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.developer_email()).await;
    let event = draft_event(&app, &admin, grid(1), 10).await;
    let ada = app.sign_in(&app.email("ada")).await;
    let at = json!(rfc3339(app.clock_now() + Duration::days(1)));
    assert_eq!(
        schedule(&app, &ada, &event, at).await.status,
        StatusCode::FORBIDDEN
    );
    let malformed = schedule(&app, &admin, &event, json!("tomorrow")).await;
    assert_eq!(
        malformed.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        malformed.body
    );
    assert_eq!(event_status(&app, &admin, &event).await, "draft");
}
