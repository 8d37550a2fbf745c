//! The local stack enforces each function's template.yaml policy: a call
//! the policy does not allow fails as it would in AWS, with AccessDenied
//! (docs/adr/0002-local-iam-enforcement.md).

use axum::http::StatusCode;
use dev_server::identities::{self, AUTH_API, BOOKINGS_API, CHECKIN_API, EVENTS_API};
use iam_proxy::Template;
use integration_tests::{Options, TestApp, assert_problem};
use serde_yaml::Value;

/// template.yaml with one resource taken out of one statement of one
/// function's policy.
fn template_without(function: &str, sid: &str, resource_suffix: &str) -> Template {
    let text = std::fs::read_to_string(identities::TEMPLATE_PATH).expect("template.yaml");
    let mut doc: Value = serde_yaml::from_str(&text).expect("template.yaml parses");
    let statements = doc["Resources"][function]["Properties"]["Policies"][0]["Statement"]
        .as_sequence_mut()
        .expect("the function's statements");
    let statement = statements
        .iter_mut()
        .find(|s| s["Sid"].as_str() == Some(sid))
        .expect("the statement");
    let resources = statement["Resource"]
        .as_sequence_mut()
        .expect("a list of resources");
    let before = resources.len();
    resources.retain(|resource| {
        let text = match resource {
            Value::Tagged(tagged) => tagged.value.as_str(),
            other => other.as_str(),
        };
        !text.is_some_and(|t| t.ends_with(resource_suffix))
    });
    assert_eq!(resources.len(), before - 1, "exactly one resource removed");
    Template::parse(&serde_yaml::to_string(&doc).expect("serializes")).expect("still a template")
}

#[tokio::test]
async fn my_bookings_fail_when_bookings_api_may_not_query_gsi1() {
    let template = template_without(BOOKINGS_API, "Indexes", "/index/GSI1");
    let app = TestApp::with(Options {
        template: Some(template),
        ..Options::default()
    })
    .await;
    let ada = app.sign_in(&app.email("ada")).await;
    let response = app.get("/v1/me/bookings", Some(&ada.access_token)).await;
    // In AWS the Query fails with AccessDeniedException and the function
    // answers 500; so it does here.
    assert_problem(&response, StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL");
}

#[tokio::test]
async fn my_bookings_answer_with_the_deployed_policy() {
    let app = TestApp::spawn().await;
    let ada = app.sign_in(&app.email("ada")).await;
    let response = app.get("/v1/me/bookings", Some(&ada.access_token)).await;
    assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
}

#[tokio::test]
async fn a_query_on_an_index_not_granted_is_access_denied_as_in_aws() {
    let template = template_without(BOOKINGS_API, "Indexes", "/index/GSI1");
    let app = TestApp::with(Options {
        template: Some(template),
        ..Options::default()
    })
    .await;
    let table = std::env::var("TABLE_NAME").expect("TABLE_NAME");
    let err = aws_sdk_dynamodb::Client::new(&app.aws.function(BOOKINGS_API))
        .query()
        .table_name(&table)
        .index_name("GSI1")
        .key_condition_expression("GSI1PK = :pk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S("x".into()),
        )
        .send()
        .await
        .expect_err("denied");
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    assert_eq!(err.code(), Some("AccessDeniedException"));
    assert_eq!(
        err.message(),
        Some(
            format!(
                "User: arn:aws:sts::123456789012:assumed-role/{BOOKINGS_API}/{BOOKINGS_API} is not authorized to perform: dynamodb:Query on resource: arn:aws:dynamodb:us-east-1:123456789012:table/{table}/index/GSI1 because no identity-based policy allows the dynamodb:Query action"
            )
            .as_str()
        )
    );
}

#[tokio::test]
async fn a_delete_the_policy_lacks_is_access_denied_and_deletes_nothing() {
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    use aws_sdk_dynamodb::types::AttributeValue;
    let app = TestApp::spawn().await;
    let (admin, table) = integration_tests::table().await;
    let pk = format!("IAMTEST#{}", app.tag);
    admin
        .put_item()
        .table_name(&table)
        .item("PK", AttributeValue::S(pk.clone()))
        .item("SK", AttributeValue::S("X".into()))
        .send()
        .await
        .expect("the test's own key may write");
    // auth-api's policy has no DeleteItem.
    let err = aws_sdk_dynamodb::Client::new(&app.aws.function(AUTH_API))
        .delete_item()
        .table_name(&table)
        .key("PK", AttributeValue::S(pk.clone()))
        .key("SK", AttributeValue::S("X".into()))
        .send()
        .await
        .expect_err("denied");
    assert_eq!(err.code(), Some("AccessDeniedException"));
    let still = admin
        .get_item()
        .table_name(&table)
        .key("PK", AttributeValue::S(pk))
        .key("SK", AttributeValue::S("X".into()))
        .send()
        .await
        .expect("read back");
    assert!(
        still.item.is_some(),
        "the denied delete never reached the table"
    );
}

#[tokio::test]
async fn a_message_to_a_queue_not_granted_is_access_denied() {
    use aws_sdk_sqs::error::ProvideErrorMetadata;
    let app = TestApp::spawn().await;
    // auth-api may not send to the hold-expiry queue; bookings-api may.
    let send = |function: &'static str| {
        let client = aws_sdk_sqs::Client::new(&app.aws.function(function));
        let url = app.hold_expiry.queue.0.url().to_owned();
        async move {
            client
                .send_message()
                .queue_url(url)
                .message_body("{}")
                .delay_seconds(900)
                .send()
                .await
        }
    };
    let err = send(AUTH_API).await.expect_err("denied");
    assert_eq!(err.code(), Some("AccessDenied"), "{err:?}");
    assert!(
        err.message()
            .unwrap_or_default()
            .contains("sqs:SendMessage")
    );
    send(BOOKINGS_API).await.expect("allowed");
}

#[tokio::test]
async fn a_schedule_the_policy_does_not_cover_is_access_denied() {
    use aws_sdk_scheduler::error::ProvideErrorMetadata;
    let app = TestApp::spawn().await;
    let group = std::env::var("PUBLISH_SCHEDULE_GROUP").expect("PUBLISH_SCHEDULE_GROUP");
    // events-api may delete only `publish-*` schedules; checkin-api none.
    for (function, name) in [(EVENTS_API, "other-1"), (CHECKIN_API, "publish-1")] {
        let err = aws_sdk_scheduler::Client::new(&app.aws.function(function))
            .delete_schedule()
            .group_name(&group)
            .name(name)
            .send()
            .await
            .expect_err("denied");
        assert_eq!(
            err.code(),
            Some("AccessDeniedException"),
            "{function}: {err:?}"
        );
    }
}

#[tokio::test]
async fn mail_from_a_function_without_send_email_is_access_denied() {
    use aws_sdk_sesv2::error::ProvideErrorMetadata;
    use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
    let app = TestApp::spawn().await;
    let content = |text: &str| Content::builder().data(text).build().expect("content");
    let err = aws_sdk_sesv2::Client::new(&app.aws.function(CHECKIN_API))
        .send_email()
        .from_email_address(std::env::var("MAIL_FROM").expect("MAIL_FROM"))
        .destination(
            Destination::builder()
                .to_addresses(app.email("ada"))
                .build(),
        )
        .content(
            EmailContent::builder()
                .simple(
                    Message::builder()
                        .subject(content("s"))
                        .body(Body::builder().text(content("t")).build())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect_err("denied");
    assert_eq!(err.code(), Some("AccessDeniedException"), "{err:?}");
    assert!(err.message().unwrap_or_default().contains("ses:SendEmail"));
}
