//! SQS (AWS JSON 1.0): the permissions of an operation.

use super::{Call, json, target};
use crate::locals::{ACCOUNT, REGION, queue_arn};
use crate::policy::Access;

/// SQS (AWS JSON 1.0): the action on the queue of `QueueUrl` (or
/// `QueueName`); batches need the single action.
pub(super) fn accesses(call: &Call) -> Option<Vec<Access>> {
    let target = target(call)?;
    let op = target.strip_prefix("AmazonSQS.")?;
    let body = json(call);
    let action = format!("sqs:{}", op.strip_suffix("Batch").unwrap_or(op));
    let resource = match (body.get("QueueUrl"), body.get("QueueName")) {
        (Some(url), _) => queue_arn(url.as_str()?),
        (None, Some(name)) => format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{}", name.as_str()?),
        (None, None) if op == "ListQueues" => "*".to_owned(),
        (None, None) => return None,
    };
    Some(vec![Access::new(action, resource)])
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{needs, pair};
    use axum::http::Method;

    #[test]
    fn an_sqs_send_needs_send_message_on_the_queue_arn() {
        let body = serde_json::json!({ "QueueUrl": "http://127.0.0.1:5005/123456789012/hold-expiry-x", "MessageBody": "{}" });
        let queue = "arn:aws:sqs:us-east-1:123456789012:hold-expiry-x";
        assert_eq!(
            needs(
                "sqs",
                Method::POST,
                "/",
                "",
                Some("AmazonSQS.SendMessage"),
                body.clone()
            ),
            vec![pair("sqs:SendMessage", queue)]
        );
        assert_eq!(
            needs(
                "sqs",
                Method::POST,
                "/",
                "",
                Some("AmazonSQS.DeleteMessageBatch"),
                body
            ),
            vec![pair("sqs:DeleteMessage", queue)]
        );
    }
}
