//! DynamoDB's own error bodies (JSON 1.0), so aws-sdk-dynamodb parses them
//! into the errors it would get from AWS.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};

use super::touched::{Kind, Partition};
use crate::locals::{ACCOUNT, REGION};

const PREFIX: &str = "com.amazonaws.dynamodb.v20120810#";

/// The message of an on-demand table's throttling.
const THROUGHPUT_EXCEEDED: &str = "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly. If exceptions persist, check if you have a hot key: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html";

#[derive(Debug, Clone, Copy)]
pub enum Reason {
    TransactionConflict,
    Throttling,
}

/// TransactionCanceledException: `reason` at each of `at`, `None` at the
/// other items.
pub fn cancelled(items: usize, at: &[usize], reason: Reason) -> Response<Body> {
    let (code, message) = match reason {
        Reason::TransactionConflict => {
            ("TransactionConflict", "Transaction is ongoing for the item")
        }
        Reason::Throttling => ("ThrottlingError", THROUGHPUT_EXCEEDED),
    };
    let reasons: Vec<serde_json::Value> = (0..items)
        .map(|i| {
            if at.contains(&i) {
                serde_json::json!({ "Code": code, "Message": message })
            } else {
                serde_json::json!({ "Code": "None" })
            }
        })
        .collect();
    let codes: Vec<&str> = (0..items)
        .map(|i| if at.contains(&i) { code } else { "None" })
        .collect();
    error(serde_json::json!({
        "__type": format!("{PREFIX}TransactionCanceledException"),
        "CancellationReasons": reasons,
        "Message": format!(
            "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
            codes.join(", ")
        ),
    }))
}

/// A single-item write to an item an in-flight transaction includes.
pub fn transaction_conflict() -> Response<Body> {
    error(serde_json::json!({
        "__type": format!("{PREFIX}TransactionConflictException"),
        "message": "Transaction is ongoing for the item",
    }))
}

/// An on-demand table's hot partition key: ThrottlingException with its
/// reason (`TableWriteKeyRangeThroughputExceeded`, ...).
pub fn throttling(partition: &Partition) -> Response<Body> {
    let table = format!(
        "arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{}",
        partition.table
    );
    let (resource_type, resource) = match &partition.index {
        Some(index) => ("Index", format!("{table}/index/{index}")),
        None => ("Table", table),
    };
    let operation = match partition.kind {
        Kind::Read => "Read",
        Kind::Write => "Write",
    };
    error(serde_json::json!({
        "__type": format!("{PREFIX}ThrottlingException"),
        "message": THROUGHPUT_EXCEEDED,
        "ThrottlingReasons": [{
            "reason": format!("{resource_type}{operation}KeyRangeThroughputExceeded"),
            "resource": resource,
        }],
    }))
}

fn error(body: serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    response
}
