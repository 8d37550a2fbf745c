//! What an AWS request needs: its caller (the SigV4 access key id and
//! service) and the permissions it needs, from its method, path, headers
//! and body. Plain functions, no I/O.

use axum::http::{HeaderMap, Method};
use serde_json::Value;

use crate::policy::Access;
use crate::template::{ACCOUNT, REGION, queue_arn};

/// The request as the proxy sees it.
pub struct Call<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Who signed the request, for which service (the credential scope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub access_key_id: String,
    pub service: String,
}

/// `Credential=<akid>/<date>/<region>/<service>/aws4_request` in the
/// Authorization header, or `X-Amz-Credential` of a presigned URL.
pub fn caller(call: &Call) -> Option<Caller> {
    let scope = call
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .map(|rest| rest.split([',', ' ']).next().unwrap_or_default().to_owned())
        .or_else(|| query_param(call.query, "X-Amz-Credential"))?;
    let parts: Vec<&str> = scope.split('/').collect();
    match parts.as_slice() {
        [akid, _date, _region, service, "aws4_request"] => Some(Caller {
            access_key_id: (*akid).to_owned(),
            service: (*service).to_owned(),
        }),
        _ => None,
    }
}

/// A request this check does not know how to authorise: refused for a
/// function's identity, so a new kind of call is noticed, not let through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the local IAM check does not know this {service} request: {what}")]
pub struct Unknown {
    pub service: String,
    pub what: String,
}

/// Every permission the request needs, each checked on its own.
pub fn accesses(service: &str, call: &Call) -> Result<Vec<Access>, Unknown> {
    let unknown = |what: String| Unknown {
        service: service.to_owned(),
        what,
    };
    match service {
        "dynamodb" => dynamodb(call).ok_or_else(|| unknown(target(call).unwrap_or_default())),
        "sqs" => sqs(call).ok_or_else(|| unknown(target(call).unwrap_or_default())),
        "ses" => ses(call).ok_or_else(|| unknown(format!("{} {}", call.method, call.path))),
        "s3" => {
            s3(call).ok_or_else(|| unknown(format!("{} {}?{}", call.method, call.path, call.query)))
        }
        "scheduler" => {
            scheduler(call).ok_or_else(|| unknown(format!("{} {}", call.method, call.path)))
        }
        _ => Err(unknown("an unsupported service".into())),
    }
}

fn target(call: &Call) -> Option<String> {
    call.headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn json(call: &Call) -> Value {
    serde_json::from_slice(call.body).unwrap_or(Value::Null)
}

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
fn dynamodb(call: &Call) -> Option<Vec<Access>> {
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

/// SQS (AWS JSON 1.0): the action on the queue of `QueueUrl` (or
/// `QueueName`); batches need the single action.
fn sqs(call: &Call) -> Option<Vec<Access>> {
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

/// SES v2 (REST JSON): a send is authorised on the sender's identity, the
/// address or its domain (whichever is verified; locally either).
fn ses(call: &Call) -> Option<Vec<Access>> {
    if call.method != Method::POST || call.path != "/v2/email/outbound-emails" {
        return None;
    }
    let body = json(call);
    let from = body.get("FromEmailAddress")?.as_str()?;
    let address = match (from.find('<'), from.rfind('>')) {
        (Some(start), Some(end)) if start < end => &from[start + 1..end],
        _ => from,
    }
    .trim();
    let (_, domain) = address.split_once('@')?;
    let identity = |name: &str| format!("arn:aws:ses:{REGION}:{ACCOUNT}:identity/{name}");
    Some(vec![
        Access::new("ses:SendEmail", identity(address)).or_on(identity(domain)),
    ])
}

/// S3 (REST, path-style): object actions on `bucket/key`, listing on the bucket.
fn s3(call: &Call) -> Option<Vec<Access>> {
    let path = percent_decode(call.path.trim_start_matches('/'));
    let (bucket, key) = match path.split_once('/') {
        Some((bucket, key)) if !key.is_empty() => (bucket.to_owned(), Some(key.to_owned())),
        Some((bucket, _)) => (bucket.to_owned(), None),
        None => (path.clone(), None),
    };
    let multipart =
        query_param(call.query, "uploadId").is_some() || has_flag(call.query, "uploads");
    let action = match (call.method.as_str(), &key, bucket.is_empty()) {
        ("GET", None, true) => return Some(vec![Access::new("s3:ListAllMyBuckets", "*")]),
        ("GET" | "HEAD", Some(_), _) => "s3:GetObject",
        ("PUT" | "POST", Some(_), _) => "s3:PutObject",
        ("DELETE", Some(_), _) if multipart => "s3:AbortMultipartUpload",
        ("DELETE", Some(_), _) => "s3:DeleteObject",
        ("GET" | "HEAD", None, false) if only_listing(call.query) => "s3:ListBucket",
        _ => return None,
    };
    let resource = match key {
        Some(key) => format!("arn:aws:s3:::{bucket}/{key}"),
        None => format!("arn:aws:s3:::{bucket}"),
    };
    Some(vec![Access::new(action, resource)])
}

fn only_listing(query: &str) -> bool {
    const LISTING: [&str; 8] = [
        "list-type",
        "prefix",
        "delimiter",
        "max-keys",
        "continuation-token",
        "start-after",
        "encoding-type",
        "fetch-owner",
    ];
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .all(|p| LISTING.contains(&p.split('=').next().unwrap_or_default()))
}

/// EventBridge Scheduler (REST JSON): schedules by group and name; a
/// create or update also passes the target's role to the service.
fn scheduler(call: &Call) -> Option<Vec<Access>> {
    let segments: Vec<String> = call
        .path
        .trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let arn = |rest: &str| format!("arn:aws:scheduler:{REGION}:{ACCOUNT}:{rest}");
    let method = call.method.as_str();
    match (
        segments
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        method,
    ) {
        (["schedules"], "GET") => Some(vec![Access::new("scheduler:ListSchedules", "*")]),
        (["schedule-groups"], "GET") => {
            Some(vec![Access::new("scheduler:ListScheduleGroups", "*")])
        }
        (["schedules", name], _) => {
            let body = json(call);
            let group = body
                .get("GroupName")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| query_param(call.query, "groupName"))
                .unwrap_or_else(|| "default".to_owned());
            let action = match method {
                "POST" => "scheduler:CreateSchedule",
                "PUT" => "scheduler:UpdateSchedule",
                "GET" => "scheduler:GetSchedule",
                "DELETE" => "scheduler:DeleteSchedule",
                _ => return None,
            };
            let mut out = vec![Access::new(
                action,
                arn(&format!("schedule/{group}/{name}")),
            )];
            if let Some(role) = body.pointer("/Target/RoleArn").and_then(Value::as_str) {
                out.push(
                    Access::new("iam:PassRole", role)
                        .with_context("iam:PassedToService", "scheduler.amazonaws.com"),
                );
            }
            Some(out)
        }
        (["schedule-groups", name], _) => {
            let action = match method {
                "POST" => "scheduler:CreateScheduleGroup",
                "GET" => "scheduler:GetScheduleGroup",
                "DELETE" => "scheduler:DeleteScheduleGroup",
                _ => return None,
            };
            Some(vec![Access::new(
                action,
                arn(&format!("schedule-group/{name}")),
            )])
        }
        _ => None,
    }
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn has_flag(query: &str, name: &str) -> bool {
    query
        .split('&')
        .any(|pair| pair.split('=').next() == Some(name))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const TABLE: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/tickets";

    fn needs(
        service: &str,
        method: Method,
        path: &str,
        query: &str,
        target: Option<&str>,
        body: Value,
    ) -> Vec<(String, String)> {
        let mut headers = HeaderMap::new();
        if let Some(target) = target {
            headers.insert("x-amz-target", HeaderValue::from_str(target).unwrap());
        }
        let body = body.to_string();
        let call = Call {
            method: &method,
            path,
            query,
            headers: &headers,
            body: body.as_bytes(),
        };
        accesses(service, &call)
            .unwrap()
            .into_iter()
            .map(|a| (a.action, a.resource))
            .collect()
    }

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

    fn pair(action: &str, resource: &str) -> (String, String) {
        (action.to_owned(), resource.to_owned())
    }

    #[test]
    fn the_caller_is_the_access_key_of_the_signature() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=localBookingsApiFunction/20261201/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00",
            ),
        );
        let call = Call {
            method: &Method::POST,
            path: "/",
            query: "",
            headers: &headers,
            body: b"",
        };
        assert_eq!(
            caller(&call),
            Some(Caller {
                access_key_id: "localBookingsApiFunction".into(),
                service: "dynamodb".into()
            })
        );
    }

    #[test]
    fn a_presigned_url_names_its_caller_in_the_query() {
        let headers = HeaderMap::new();
        let call = Call {
            method: &Method::PUT,
            path: "/images/a.png",
            query: "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=localEventsApiFunction%2F20261201%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=00",
            headers: &headers,
            body: b"",
        };
        assert_eq!(
            caller(&call).unwrap().access_key_id,
            "localEventsApiFunction"
        );
        assert_eq!(caller(&call).unwrap().service, "s3");
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

    #[test]
    fn a_mail_needs_send_email_on_the_sender_or_its_domain() {
        let body = serde_json::json!({ "FromEmailAddress": "Tickets <no-reply@tickets.local>" });
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        let body = body.to_string();
        let call = Call {
            method: &Method::POST,
            path: "/v2/email/outbound-emails",
            query: "",
            headers: &headers,
            body: body.as_bytes(),
        };
        let access = accesses("ses", &call).unwrap().remove(0);
        assert_eq!(access.action, "ses:SendEmail");
        assert_eq!(
            access.resource,
            "arn:aws:ses:us-east-1:123456789012:identity/no-reply@tickets.local"
        );
        assert_eq!(
            access.alternatives,
            vec!["arn:aws:ses:us-east-1:123456789012:identity/tickets.local".to_owned()]
        );
    }

    #[test]
    fn s3_objects_and_listing_map_to_their_actions() {
        let s3 = |method: Method, path: &str, query: &str| {
            needs("s3", method, path, query, None, Value::Null)
        };
        assert_eq!(
            s3(Method::PUT, "/images/events/a%20b.png", "x-id=PutObject"),
            vec![pair("s3:PutObject", "arn:aws:s3:::images/events/a b.png")]
        );
        assert_eq!(
            s3(Method::GET, "/images/k", ""),
            vec![pair("s3:GetObject", "arn:aws:s3:::images/k")]
        );
        assert_eq!(
            s3(Method::DELETE, "/images/k", ""),
            vec![pair("s3:DeleteObject", "arn:aws:s3:::images/k")]
        );
        assert_eq!(
            s3(Method::GET, "/images", "list-type=2&prefix=a"),
            vec![pair("s3:ListBucket", "arn:aws:s3:::images")]
        );
    }

    #[test]
    fn a_schedule_create_needs_the_schedule_arn_and_pass_role() {
        let body = serde_json::json!({
            "GroupName": "publish-schedule-group",
            "Target": { "Arn": "arn:aws:lambda:us-east-1:123456789012:function:s", "RoleArn": "arn:aws:iam::123456789012:role/r" },
        });
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        let body = body.to_string();
        let call = Call {
            method: &Method::POST,
            path: "/schedules/publish-e1",
            query: "",
            headers: &headers,
            body: body.as_bytes(),
        };
        let got = accesses("scheduler", &call).unwrap();
        assert_eq!(got[0].action, "scheduler:CreateSchedule");
        assert_eq!(
            got[0].resource,
            "arn:aws:scheduler:us-east-1:123456789012:schedule/publish-schedule-group/publish-e1"
        );
        assert_eq!(got[1].action, "iam:PassRole");
        assert_eq!(got[1].resource, "arn:aws:iam::123456789012:role/r");
        assert_eq!(
            got[1].context["iam:PassedToService"],
            "scheduler.amazonaws.com"
        );
    }

    #[test]
    fn a_schedule_delete_takes_its_group_from_the_query() {
        assert_eq!(
            needs(
                "scheduler",
                Method::DELETE,
                "/schedules/publish-e1",
                "groupName=g",
                None,
                Value::Null
            ),
            vec![pair(
                "scheduler:DeleteSchedule",
                "arn:aws:scheduler:us-east-1:123456789012:schedule/g/publish-e1"
            )]
        );
    }

    #[test]
    fn an_unknown_request_is_reported_not_allowed() {
        let headers = HeaderMap::new();
        let call = Call {
            method: &Method::PUT,
            path: "/images",
            query: "policy",
            headers: &headers,
            body: b"",
        };
        assert!(accesses("s3", &call).is_err());
        assert!(accesses("kinesis", &call).is_err());
    }
}
