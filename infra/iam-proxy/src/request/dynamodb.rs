//! DynamoDB (JSON 1.0): the permissions of an operation.

use serde_json::Value;

use super::{Call, json, target};
use crate::locals::{ACCOUNT, REGION};
use crate::policy::Access;

fn table_arn(name: &str) -> String {
    if name.starts_with("arn:") {
        name.to_owned()
    } else {
        format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}")
    }
}

/// A stream's ARN as IAM names it here: DynamoDB Local's own
/// (`arn:aws:dynamodb:ddblocal:000000000000:table/t/stream/<label>`) in the
/// local region and account, like every other resource.
fn stream_arn(arn: &str) -> Option<String> {
    let (_, path) = arn.split_once(":table/")?;
    path.contains("/stream/")
        .then(|| format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{path}"))
}

/// DynamoDB Streams (JSON 1.0, signed for `dynamodb`): each operation on
/// its stream. A shard iterator starts with its stream's ARN (`<arn>|...`),
/// so GetRecords is checked on the stream it reads.
fn stream_accesses(op: &str, body: &Value) -> Option<Vec<Access>> {
    let action = format!("dynamodb:{op}");
    let resource = match op {
        "ListStreams" => "*".to_owned(),
        "GetRecords" => {
            let iterator = body.get("ShardIterator")?.as_str()?;
            stream_arn(iterator.split('|').next()?)?
        }
        _ => stream_arn(body.get("StreamArn")?.as_str()?)?,
    };
    Some(vec![Access::new(action, resource)])
}

/// DynamoDB (JSON 1.0): one permission per operation, except transactions
/// (each item needs its own action on its table) and batches (the batch
/// action on each table).
pub(super) fn accesses(call: &Call) -> Option<Vec<Access>> {
    let target = target(call)?;
    if let Some(op) = target.strip_prefix("DynamoDBStreams_20120810.") {
        return stream_accesses(op, &json(call));
    }
    let op = target.strip_prefix("DynamoDB_20120810.")?;
    let body = json(call);
    let table = |v: &Value| v.get("TableName").and_then(Value::as_str).map(table_arn);
    let action = |name: &str| format!("dynamodb:{name}");
    Some(match op {
        "TransactWriteItems" => {
            let mut out = Vec::new();
            for item in body.get("TransactItems")?.as_array()? {
                let (kind, part) = [
                    ("PutItem", "Put"),
                    ("UpdateItem", "Update"),
                    ("DeleteItem", "Delete"),
                    ("ConditionCheckItem", "ConditionCheck"),
                ]
                .into_iter()
                .find_map(|(kind, key)| item.get(key).map(|part| (kind, part)))?;
                out.push(Access::new(action(kind), table(part)?));
            }
            out
        }
        "TransactGetItems" => body
            .get("TransactItems")?
            .as_array()?
            .iter()
            .map(|item| Some(Access::new(action("GetItem"), table(item.get("Get")?)?)))
            .collect::<Option<_>>()?,
        "BatchGetItem" | "BatchWriteItem" => body
            .get("RequestItems")?
            .as_object()?
            .keys()
            .map(|name| Access::new(action(op), table_arn(name)))
            .collect(),
        "Query" | "Scan" => {
            let mut resource = table(&body)?;
            if let Some(index) = body.get("IndexName").and_then(Value::as_str) {
                resource = format!("{resource}/index/{index}");
            }
            vec![Access::new(action(op), resource)]
        }
        "ListTables" => vec![Access::new(action(op), "*")],
        _ => vec![Access::new(action(op), table(&body)?)],
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{needs, pair};
    use super::*;
    use axum::http::Method;

    const TABLE: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/tickets";

    fn dynamodb_needs(op: &str, body: Value) -> Vec<(String, String)> {
        needs(
            "dynamodb",
            Method::POST,
            "/",
            "",
            Some(&format!("DynamoDB_20120810.{op}")),
            body,
        )
    }

    fn streams_need(op: &str, body: Value) -> Vec<(String, String)> {
        needs(
            "dynamodb",
            Method::POST,
            "/",
            "",
            Some(&format!("DynamoDBStreams_20120810.{op}")),
            body,
        )
    }

    const STREAM: &str =
        "arn:aws:dynamodb:us-east-1:123456789012:table/tickets/stream/2026-12-04T18:00:00.000";

    #[test]
    fn stream_reads_need_their_action_on_the_stream_in_the_local_account() {
        let local =
            "arn:aws:dynamodb:ddblocal:000000000000:table/tickets/stream/2026-12-04T18:00:00.000";
        assert_eq!(
            streams_need("DescribeStream", serde_json::json!({ "StreamArn": local })),
            vec![pair("dynamodb:DescribeStream", STREAM)]
        );
        assert_eq!(
            streams_need(
                "GetRecords",
                serde_json::json!({ "ShardIterator": format!("{local}|1|AAAA") })
            ),
            vec![pair("dynamodb:GetRecords", STREAM)]
        );
        assert_eq!(
            streams_need("ListStreams", serde_json::json!({})),
            vec![pair("dynamodb:ListStreams", "*")]
        );
    }

    #[test]
    fn a_transaction_with_a_delete_needs_delete_item_on_the_table() {
        let body = serde_json::json!({ "TransactItems": [
            { "Update": { "TableName": "tickets", "Key": {} } },
            { "Delete": { "TableName": "tickets", "Key": {} } },
            { "ConditionCheck": { "TableName": "tickets", "Key": {} } },
            { "Put": { "TableName": "tickets", "Item": {} } },
        ]});
        assert_eq!(
            dynamodb_needs("TransactWriteItems", body),
            vec![
                pair("dynamodb:UpdateItem", TABLE),
                pair("dynamodb:DeleteItem", TABLE),
                pair("dynamodb:ConditionCheckItem", TABLE),
                pair("dynamodb:PutItem", TABLE),
            ]
        );
    }

    #[test]
    fn a_transactional_read_needs_get_item_per_item() {
        let body = serde_json::json!({ "TransactItems": [{ "Get": { "TableName": "tickets", "Key": {} } }] });
        assert_eq!(
            dynamodb_needs("TransactGetItems", body),
            vec![pair("dynamodb:GetItem", TABLE)]
        );
    }

    #[test]
    fn a_query_on_an_index_needs_the_index_arn() {
        let on_index = serde_json::json!({ "TableName": "tickets", "IndexName": "GSI1" });
        assert_eq!(
            dynamodb_needs("Query", on_index),
            vec![pair("dynamodb:Query", &format!("{TABLE}/index/GSI1"))]
        );
        let on_table = serde_json::json!({ "TableName": "tickets" });
        assert_eq!(
            dynamodb_needs("Query", on_table),
            vec![pair("dynamodb:Query", TABLE)]
        );
    }

    #[test]
    fn a_batch_needs_the_batch_action_on_each_table() {
        let body = serde_json::json!({ "RequestItems": { "tickets": {}, "other": {} } });
        let mut got = dynamodb_needs("BatchGetItem", body);
        got.sort();
        assert_eq!(
            got,
            vec![
                pair(
                    "dynamodb:BatchGetItem",
                    "arn:aws:dynamodb:us-east-1:123456789012:table/other"
                ),
                pair("dynamodb:BatchGetItem", TABLE),
            ]
        );
    }

    #[test]
    fn a_single_item_call_needs_its_action_on_the_table() {
        let body = serde_json::json!({ "TableName": "tickets", "Key": {} });
        assert_eq!(
            dynamodb_needs("DeleteItem", body),
            vec![pair("dynamodb:DeleteItem", TABLE)]
        );
    }
}
