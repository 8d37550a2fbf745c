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

/// DynamoDB (JSON 1.0): one permission per operation, except transactions
/// (each item needs its own action on its table) and batches (the batch
/// action on each table).
pub(super) fn accesses(call: &Call) -> Option<Vec<Access>> {
    let target = target(call)?;
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
