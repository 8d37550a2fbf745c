use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{KeyType, ProjectionType, TimeToLiveStatus};
use axum::http::{Method, StatusCode};
use integration_tests::TestApp;
use serde_json::{Value, json};

#[tokio::test]
async fn liveness_answers_ok() {
    let app = TestApp::spawn().await;
    let response = app.get("/v1/health/live", None).await;
    assert_eq!(
        (response.status, response.body),
        (StatusCode::OK, json!({ "status": "ok" }))
    );
}

#[tokio::test]
async fn readiness_answers_ok_when_the_table_is_reachable() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.get("/v1/health/ready", None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn every_response_carries_a_fresh_request_id() {
    let app = TestApp::spawn().await;
    let a = app.get("/v1/health/live", None).await;
    let b = app.get("/v1/health/live", None).await;
    let (a, b) = (&a.headers["x-request-id"], &b.headers["x-request-id"]);
    assert!(!a.is_empty());
    assert_ne!(a, b);
}

#[tokio::test]
async fn the_committed_openapi_document_is_current() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json"))
            .unwrap();
    assert!(
        committed == dev_server::openapi_json(),
        "docs/openapi.json is stale: run `make openapi` and commit it"
    );
}

#[tokio::test]
async fn the_served_openapi_document_is_the_generated_one() {
    let app = TestApp::spawn().await;
    let response = app.get("/v1/openapi.json", None).await;
    assert_eq!(response.status, StatusCode::OK);
    let generated: Value = serde_json::from_str(&dev_server::openapi_json()).unwrap();
    assert_eq!(response.body, generated);
}

fn documented_operations() -> BTreeSet<(String, String)> {
    let doc: Value = serde_json::from_str(&dev_server::openapi_json()).unwrap();
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect()
}

#[test]
fn the_openapi_document_covers_the_contract_built_so_far() {
    let expected = [
        ("POST", "/v1/auth/magic-link"),
        ("POST", "/v1/auth/magic-link/verify"),
        ("POST", "/v1/auth/refresh"),
        ("POST", "/v1/auth/logout"),
        ("GET", "/v1/me"),
        ("PATCH", "/v1/me"),
        ("GET", "/v1/health/live"),
        ("GET", "/v1/health/ready"),
        ("GET", "/v1/openapi.json"),
        ("GET", "/v1/admin/users"),
        ("PUT", "/v1/admin/users/{id}/role"),
        ("GET", "/v1/events"),
        ("POST", "/v1/events"),
        ("GET", "/v1/events/{id}"),
        ("PATCH", "/v1/events/{id}"),
        ("POST", "/v1/events/{id}/publish"),
        ("POST", "/v1/events/{id}/schedule"),
        ("POST", "/v1/events/{id}/cancel"),
        ("GET", "/v1/events/{id}/availability"),
        ("POST", "/v1/events/{id}/holds"),
        ("GET", "/v1/bookings/{id}"),
        ("DELETE", "/v1/bookings/{id}"),
        ("GET", "/v1/me/bookings"),
        ("GET", "/v1/me/wallet"),
        ("POST", "/v1/me/wallet/top-ups"),
        ("POST", "/v1/admin/users/{id}/wallet/credits"),
        ("POST", "/v1/admin/events/{id}/walk-in"),
        ("POST", "/v1/bookings/{id}/checkout"),
        ("POST", "/v1/bookings/{id}/cancel"),
        ("GET", "/v1/bookings/{id}/tickets"),
        ("POST", "/v1/webhooks/stripe"),
        ("POST", "/v1/checkin"),
        ("GET", "/v1/events/{id}/checkin-stats"),
        ("POST", "/v1/tasks"),
        ("GET", "/v1/tasks"),
        ("GET", "/v1/tasks/{id}"),
        ("PATCH", "/v1/tasks/{id}"),
        ("DELETE", "/v1/tasks/{id}"),
    ];
    let documented = documented_operations();
    for (method, path) in expected {
        assert!(
            documented.contains(&(method.to_owned(), path.to_owned())),
            "{method} {path} undocumented"
        );
    }
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let app = TestApp::spawn().await;
    for (method, path) in documented_operations() {
        let concrete = path.replace("{id}", "some-id");
        let response = app
            .call(
                Method::from_bytes(method.as_bytes()).unwrap(),
                &concrete,
                None,
                None,
            )
            .await;
        let code = response.body["code"].as_str().unwrap_or_default();
        assert!(
            code != "ROUTE_NOT_FOUND" && code != "METHOD_NOT_ALLOWED",
            "{method} {path} is documented but not routed"
        );
    }
}

/// An index as compared: name, key schema, projection type.
type Index = (String, Vec<(String, String)>, String);

/// The table `infra/bootstrap.py` created must be the one template.yaml
/// deploys: same keys, indexes and TTL attribute.
#[tokio::test]
async fn the_local_table_matches_the_template() {
    let template: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap(),
    )
    .unwrap();
    let props = &template["Resources"]["Table"]["Properties"];
    let key_schema = |v: &serde_yaml::Value| -> Vec<(String, String)> {
        v.as_sequence()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["AttributeName"].as_str().unwrap().to_owned(),
                    k["KeyType"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let mut expected_gsis: Vec<Index> = props["GlobalSecondaryIndexes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["IndexName"].as_str().unwrap().to_owned(),
                key_schema(&g["KeySchema"]),
                g["Projection"]["ProjectionType"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    expected_gsis.sort();

    let aws = shared::state::load_aws().expect("AWS settings: make test sets them");
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let table_name = std::env::var("TABLE_NAME").unwrap();
    let table = client
        .describe_table()
        .table_name(&table_name)
        .send()
        .await
        .unwrap();
    let table = table.table().unwrap();
    let keys = |ks: &[aws_sdk_dynamodb::types::KeySchemaElement]| -> Vec<(String, String)> {
        ks.iter()
            .map(|k| {
                (
                    k.attribute_name().to_owned(),
                    match k.key_type() {
                        KeyType::Hash => "HASH".to_owned(),
                        other => other.as_str().to_owned(),
                    },
                )
            })
            .collect()
    };
    assert_eq!(keys(table.key_schema()), key_schema(&props["KeySchema"]));
    let mut actual_gsis: Vec<Index> = table
        .global_secondary_indexes()
        .iter()
        .map(|g| {
            let projection = g
                .projection()
                .and_then(|p| p.projection_type())
                .unwrap_or(&ProjectionType::All);
            (
                g.index_name().unwrap().to_owned(),
                keys(g.key_schema()),
                projection.as_str().to_owned(),
            )
        })
        .collect();
    actual_gsis.sort();
    assert_eq!(actual_gsis, expected_gsis);

    let ttl = client
        .describe_time_to_live()
        .table_name(&table_name)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    assert_eq!(
        ttl.attribute_name(),
        props["TimeToLiveSpecification"]["AttributeName"].as_str()
    );
}
