//! The functions' own metrics as CloudWatch reads them. The EMF recorder
//! the Lambda functions install (shared/src/metrics.rs) records a realistic
//! run of the API and workers; every line it writes must be valid Embedded
//! Metric Format, checked here against AWS's specification
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>),
//! and must carry the metrics the alarms in template.yaml watch, with the
//! dimensions they name.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use axum::http::StatusCode;
use integration_tests::{Options, TestApp, sqs_event};
use serde_json::{Map, Value, json};
use shared::domain::schedule::ScheduledJob;
use shared::metrics::{
    self, CHECKOUTS, CONFIRMATIONS, COUNTERS, Collector, FUNCTION_DIMENSION, HOLD_EXPIRY_LAG,
    HOLDS_CREATED, HOLDS_REFUSED, LATE_PAYMENT_REFUNDS, MAGIC_LINKS_SENT, RATE_LIMITED,
    REASON_DIMENSION, REFUNDS_OWED, SWEEP_RELEASES, WEBHOOK_DUPLICATES, WEBHOOK_SIGNATURE_FAILURES,
};
use time::{Duration, OffsetDateTime};

use crate::holds::{grid, hold_units, published_event};
use crate::payments::checked_out;

const NAMESPACE: &str = "ticketing-test";
const FUNCTION: &str = "integration-tests";

/// The recorder of this test binary, installed once as the functions
/// install it. Other tests count into it too; only this one flushes it.
fn recorder() -> &'static Collector {
    static RECORDER: OnceLock<&'static Collector> = OnceLock::new();
    RECORDER.get_or_init(|| metrics::install(NAMESPACE, FUNCTION).expect("the recorder installs"))
}

/// CloudWatch's units (MetricDatum's `Unit`).
const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// A metric as one EMF line declares it: its dimension set and values.
#[derive(Debug)]
struct Emitted {
    unit: Option<String>,
    dimensions: BTreeMap<String, String>,
    values: Vec<f64>,
}

fn as_number(value: &Value) -> Result<f64, String> {
    value
        .as_f64()
        .ok_or_else(|| format!("{value} is not a number"))
}

/// Checks one log line against the EMF specification; the metrics it
/// declares, by name.
fn parse_emf(line: &str) -> Result<Vec<(String, Emitted)>, String> {
    let root: Map<String, Value> =
        serde_json::from_str(line).map_err(|e| format!("not a JSON object: {e}"))?;
    let aws = root
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or("no `_aws` object")?;
    let timestamp = aws
        .get("Timestamp")
        .and_then(Value::as_u64)
        .ok_or("`_aws.Timestamp` is not a non-negative integer")?;
    let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as u64;
    // Milliseconds since the epoch: CloudWatch takes two weeks back and
    // two hours ahead; this run's are within minutes of now.
    if now_ms.abs_diff(timestamp) > 3_600_000 {
        return Err(format!(
            "`_aws.Timestamp` {timestamp} is not now in milliseconds"
        ));
    }
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .ok_or("`_aws.CloudWatchMetrics` is not an array")?;
    if directives.is_empty() {
        return Err("`_aws.CloudWatchMetrics` is empty".into());
    }
    let mut declared = Vec::new();
    for directive in directives {
        let directive = directive
            .as_object()
            .ok_or("a metric directive is not an object")?;
        let namespace = directive
            .get("Namespace")
            .and_then(Value::as_str)
            .ok_or("a directive has no string `Namespace`")?;
        if namespace.is_empty() || namespace.len() > 255 || namespace.starts_with(':') {
            return Err(format!("namespace {namespace:?} is not valid"));
        }
        let sets = directive
            .get("Dimensions")
            .and_then(Value::as_array)
            .ok_or("a directive's `Dimensions` is not an array")?;
        let mut dimension_sets = Vec::new();
        for set in sets {
            let set = set.as_array().ok_or("a dimension set is not an array")?;
            if set.len() > 30 {
                return Err(format!("a dimension set has {} dimensions", set.len()));
            }
            let mut dimensions = BTreeMap::new();
            for key in set {
                let key = key.as_str().ok_or("a dimension key is not a string")?;
                let value = root
                    .get(key)
                    .ok_or(format!("dimension {key} is not a member of the line"))?
                    .as_str()
                    .ok_or(format!("dimension {key}'s value is not a string"))?;
                if value.is_empty() || value.len() > 1024 {
                    return Err(format!("dimension {key}'s value has {} bytes", value.len()));
                }
                if dimensions
                    .insert(key.to_owned(), value.to_owned())
                    .is_some()
                {
                    return Err(format!("dimension {key} twice in one set"));
                }
            }
            dimension_sets.push(dimensions);
        }
        let metrics = directive
            .get("Metrics")
            .and_then(Value::as_array)
            .ok_or("a directive's `Metrics` is not an array")?;
        if metrics.len() > 100 {
            return Err(format!("a directive declares {} metrics", metrics.len()));
        }
        let mut names = BTreeSet::new();
        for metric in metrics {
            let metric = metric.as_object().ok_or("a metric is not an object")?;
            let name = metric
                .get("Name")
                .and_then(Value::as_str)
                .ok_or("a metric has no string `Name`")?;
            if name.is_empty() || name.len() > 1024 || !names.insert(name) {
                return Err(format!("metric name {name:?} is empty, long or repeated"));
            }
            let unit = match metric.get("Unit") {
                None => None,
                Some(unit) => {
                    let unit = unit.as_str().ok_or("a `Unit` is not a string")?;
                    if !UNITS.contains(&unit) {
                        return Err(format!("{name}: {unit:?} is not a CloudWatch unit"));
                    }
                    Some(unit.to_owned())
                }
            };
            if let Some(resolution) = metric.get("StorageResolution")
                && resolution != &json!(1)
                && resolution != &json!(60)
            {
                return Err(format!("{name}: storage resolution {resolution}"));
            }
            let values = match root
                .get(name)
                .ok_or(format!("metric {name} is not a member of the line"))?
            {
                Value::Array(values) if values.is_empty() || values.len() > 100 => {
                    return Err(format!("{name} has {} values", values.len()));
                }
                Value::Array(values) => values.iter().map(as_number).collect::<Result<_, _>>()?,
                value => vec![as_number(value)?],
            };
            for dimensions in &dimension_sets {
                declared.push((
                    name.to_owned(),
                    Emitted {
                        unit: unit.clone(),
                        dimensions: dimensions.clone(),
                        values: values.clone(),
                    },
                ));
            }
        }
    }
    Ok(declared)
}

/// Alarms on the stack's own namespace: metric name and dimension names.
fn alarms_on_our_metrics() -> Vec<(String, BTreeSet<String>)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let template: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).expect("template.yaml reads"))
            .expect("template.yaml parses");
    let stack_name = serde_yaml::Value::Tagged(Box::new(serde_yaml::value::TaggedValue {
        tag: serde_yaml::value::Tag::new("Ref"),
        value: "AWS::StackName".into(),
    }));
    let mut alarms = Vec::new();
    for resource in template["Resources"]
        .as_mapping()
        .expect("resources")
        .values()
    {
        let properties = &resource["Properties"];
        if resource["Type"] != "AWS::CloudWatch::Alarm" || properties["Namespace"] != stack_name {
            continue;
        }
        let dimensions = properties["Dimensions"]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(|d| d["Name"].as_str().expect("a dimension name").to_owned())
            .collect();
        let name = properties["MetricName"].as_str().expect("a metric name");
        alarms.push((name.to_owned(), dimensions));
    }
    alarms
}

#[tokio::test]
async fn every_emf_line_the_functions_write_is_valid_and_carries_what_the_alarms_watch() {
    let recorder = recorder();
    // This test sweeps: it starts in the past like every test that does.
    let _sweeps = integration_tests::sweep_lock().await;
    let app = TestApp::with(Options {
        clock_start: Some(OffsetDateTime::now_utc() - Duration::days(2)),
        limit_per_email: Some(2),
        ..Options::default()
    })
    .await;

    // Sign-ins: links sent, then one over the address's limit.
    let buyer = app.sign_in(&app.email("buyer")).await;
    let rival = app.sign_in(&app.email("rival")).await;
    assert_eq!(
        app.request_magic_link(&app.email("buyer")).await.status,
        StatusCode::ACCEPTED
    );
    let limited = app.request_magic_link(&app.email("buyer")).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);

    // Holds taken and refused; one paid (twice delivered, once forged),
    // one paid late after its seat was sold again.
    let event = published_event(&app, grid(3), 10).await;
    let paid = hold_units(&app, &buyer, &event, &["T1"]).await;
    assert_eq!(paid.status, StatusCode::CREATED, "{:?}", paid.body);
    let refused = hold_units(&app, &rival, &event, &["T1"]).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
    let intent = checked_out(&app, &buyer, paid.body["id"].as_str().unwrap()).await;
    let delivery = app
        .stripe
        .succeed(&intent, app.clock_now().unix_timestamp())
        .unwrap();
    for _ in 0..2 {
        let answer = app.deliver(&delivery.body, Some(&delivery.signature)).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    }
    let forged = app.deliver(&delivery.body, Some("t=1,v1=deadbeef")).await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);

    let late = hold_units(&app, &buyer, &event, &["T2"]).await;
    let late_intent = checked_out(&app, &buyer, late.body["id"].as_str().unwrap()).await;
    // Two holds lapse: the worker releases one a minute late, the sweep
    // the other; meanwhile the late payer's seat is sold again.
    let by_worker = hold_units(&app, &rival, &event, &["T3"]).await;
    app.clock.advance(Duration::minutes(11));
    let message = json!({ "booking_id": by_worker.body["id"], "hold_expires_at": by_worker.body["hold_expires_at"] });
    let batch =
        hold_expiry::handle(&app.hold_expiry, sqs_event(&[("m1", message.to_string())])).await;
    assert!(batch.batch_item_failures.is_empty());
    let rival_buyer = app.sign_in(&app.email("rival")).await;
    let again = hold_units(&app, &rival_buyer, &event, &["T2"]).await;
    assert_eq!(again.status, StatusCode::CREATED, "{:?}", again.body);
    assert_eq!(app.pay(&late_intent).await.status, StatusCode::OK);
    let swept = hold_units(&app, &rival_buyer, &event, &["T3"]).await;
    assert_eq!(swept.status, StatusCode::CREATED, "{:?}", swept.body);
    app.clock.advance(Duration::minutes(11));
    let report = scheduler::handle(&app.scheduler, ScheduledJob::Sweep {})
        .await
        .expect("the sweep runs");
    assert!(report.holds_released >= 1, "{report:?}");

    // And once each metric, as any invocation may, so every name the
    // alarms and the runbook use goes through the emitter; plus more lags.
    for name in COUNTERS {
        metrics::count(name);
    }
    metrics::count_by(HOLDS_REFUSED, "SOLD_OUT");
    for seconds in [0.4, 2.5, 61.0] {
        metrics::observe_seconds(HOLD_EXPIRY_LAG, seconds);
    }

    let mut written = Vec::new();
    recorder.flush(&mut written).expect("the recorder writes");
    let written = String::from_utf8(written).expect("EMF lines are UTF-8");
    let mut emitted: BTreeMap<String, Vec<Emitted>> = BTreeMap::new();
    for line in written.lines() {
        let declared = parse_emf(line).unwrap_or_else(|why| panic!("{why}: {line}"));
        for (name, metric) in declared {
            emitted.entry(name).or_default().push(metric);
        }
    }

    let reasons = |name: &str| -> BTreeSet<String> {
        emitted[name]
            .iter()
            .filter_map(|m| m.dimensions.get(REASON_DIMENSION).cloned())
            .collect()
    };
    for name in COUNTERS.iter().chain([&HOLD_EXPIRY_LAG]) {
        let metric = emitted
            .get(*name)
            .unwrap_or_else(|| panic!("{name} was not written: {written}"));
        for m in metric {
            assert_eq!(m.dimensions[FUNCTION_DIMENSION], FUNCTION, "{name}");
            assert!(m.dimensions.len() <= 2, "{name}: {:?}", m.dimensions);
            let unit = if *name == HOLD_EXPIRY_LAG {
                "Seconds"
            } else {
                "Count"
            };
            assert_eq!(m.unit.as_deref(), Some(unit), "{name}");
        }
    }
    let total = |name: &str| -> f64 { emitted[name].iter().flat_map(|m| &m.values).sum() };
    assert!(total(HOLDS_CREATED) >= 6.0);
    assert!(reasons(HOLDS_REFUSED).contains("UNITS_UNAVAILABLE"));
    assert!(reasons(HOLDS_REFUSED).contains("SOLD_OUT"));
    assert!(total(CHECKOUTS) >= 3.0);
    assert!(total(CONFIRMATIONS) >= 2.0);
    assert!(total(WEBHOOK_DUPLICATES) >= 2.0);
    assert!(total(WEBHOOK_SIGNATURE_FAILURES) >= 2.0);
    assert!(reasons(LATE_PAYMENT_REFUNDS).contains("late_payment"));
    assert!(total(REFUNDS_OWED) >= 2.0);
    assert!(total(SWEEP_RELEASES) >= 2.0);
    assert!(total(MAGIC_LINKS_SENT) >= 4.0);
    assert!(reasons(RATE_LIMITED).contains("magic-link-email"));
    let lags: Vec<f64> = emitted[HOLD_EXPIRY_LAG]
        .iter()
        .flat_map(|m| m.values.clone())
        .collect();
    assert!(
        lags.iter().any(|lag| (60.0..=61.0).contains(lag)),
        "the worker released a hold a minute after it lapsed: {lags:?}"
    );

    // What the alarms watch is written, with the dimensions they name.
    let alarms = alarms_on_our_metrics();
    assert!(alarms.len() >= 2, "{alarms:?}");
    for (name, dimensions) in alarms {
        let metric = emitted
            .get(&name)
            .unwrap_or_else(|| panic!("an alarm watches {name}, which is never written"));
        assert!(
            metric
                .iter()
                .any(|m| m.dimensions.keys().cloned().collect::<BTreeSet<_>>() == dimensions),
            "the alarm on {name} names {dimensions:?}, the line has {:?}",
            metric[0].dimensions
        );
    }
}

#[test]
fn the_emf_check_refuses_what_cloudwatch_would_not_read() {
    let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as u64;
    let line = |aws: Value, members: Value| {
        let mut root = members.as_object().cloned().unwrap_or_default();
        root.insert("_aws".into(), aws);
        Value::Object(root).to_string()
    };
    let directive = |dimensions: Value, metrics: Value| {
        json!({ "Timestamp": now_ms, "CloudWatchMetrics": [
            { "Namespace": "ns", "Dimensions": dimensions, "Metrics": metrics } ] })
    };
    let good = line(
        directive(
            json!([["FunctionName"]]),
            json!([{ "Name": "A", "Unit": "Count" }]),
        ),
        json!({ "FunctionName": "f", "A": 1 }),
    );
    assert!(parse_emf(&good).is_ok(), "{good}");
    let many_dimensions: Vec<String> = (0..31).map(|i| format!("D{i}")).collect();
    let many_metrics: Vec<Value> = (0..101)
        .map(|i| json!({ "Name": format!("M{i}") }))
        .collect();
    let mut wide = json!({ "A": 1 });
    for d in &many_dimensions {
        wide[d] = json!("x");
    }
    for m in 0..101 {
        wide[format!("M{m}")] = json!(1);
    }
    let bad = [
        (
            "no _aws",
            json!({ "FunctionName": "f", "A": 1 }).to_string(),
        ),
        (
            "seconds, not milliseconds",
            line(
                json!({ "Timestamp": now_ms / 1000, "CloudWatchMetrics": [
                    { "Namespace": "ns", "Dimensions": [], "Metrics": [{ "Name": "A" }] } ] }),
                json!({ "A": 1 }),
            ),
        ),
        (
            "a dimension that is not a member",
            line(
                directive(json!([["FunctionName"]]), json!([{ "Name": "A" }])),
                json!({ "A": 1 }),
            ),
        ),
        (
            "a number as dimension value",
            line(
                directive(json!([["FunctionName"]]), json!([{ "Name": "A" }])),
                json!({ "FunctionName": 3, "A": 1 }),
            ),
        ),
        (
            "dimensions not an array of arrays",
            line(
                directive(json!(["FunctionName"]), json!([{ "Name": "A" }])),
                json!({ "FunctionName": "f", "A": 1 }),
            ),
        ),
        (
            "a metric that is not a member",
            line(directive(json!([]), json!([{ "Name": "A" }])), json!({})),
        ),
        (
            "a string as metric value",
            line(
                directive(json!([]), json!([{ "Name": "A" }])),
                json!({ "A": "1" }),
            ),
        ),
        (
            "an unknown unit",
            line(
                directive(json!([]), json!([{ "Name": "A", "Unit": "Hours" }])),
                json!({ "A": 1 }),
            ),
        ),
        (
            "31 dimensions",
            line(
                directive(json!([many_dimensions]), json!([{ "Name": "A" }])),
                wide.clone(),
            ),
        ),
        (
            "101 metrics",
            line(directive(json!([]), Value::Array(many_metrics)), wide),
        ),
    ];
    for (why, line) in bad {
        assert!(parse_emf(&line).is_err(), "{why} passed: {line}");
    }
}
