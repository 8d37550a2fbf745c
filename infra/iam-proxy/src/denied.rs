//! A refused request answered the way the real service answers it, so the
//! SDK gives the function the error it would get in AWS.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};

use crate::locals::ACCOUNT;
use crate::policy::Decision;

/// AWS's wording, e.g. `User: arn:aws:sts::123456789012:assumed-role/Fn/Fn
/// is not authorized to perform: dynamodb:DeleteItem on resource: <arn>
/// because no identity-based policy allows the dynamodb:DeleteItem action`.
pub fn message(function: &str, action: &str, resource: &str, decision: Decision) -> String {
    let why = match decision {
        Decision::ExplicitDeny => "with an explicit deny in an identity-based policy".to_owned(),
        _ => format!("because no identity-based policy allows the {action} action"),
    };
    format!(
        "User: arn:aws:sts::{ACCOUNT}:assumed-role/{function}/{function} is not authorized to perform: {action} on resource: {resource} {why}"
    )
}

/// The service's AccessDenied: JSON 1.0 (DynamoDB, SQS), REST JSON (SES v2,
/// Scheduler) or S3's XML.
pub fn response(service: &str, message: &str) -> Response<Body> {
    let (status, content_type, body) = match service {
        "dynamodb" | "sqs" => (
            StatusCode::BAD_REQUEST,
            "application/x-amz-json-1.0",
            serde_json::json!({
                "__type": "com.amazon.coral.service#AccessDeniedException",
                "message": message,
            })
            .to_string(),
        ),
        "s3" => (
            StatusCode::FORBIDDEN,
            "application/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>{}</Message></Error>",
                xml_escape(message)
            ),
        ),
        _ => (
            StatusCode::FORBIDDEN,
            "application/json",
            serde_json::json!({ "message": message }).to_string(),
        ),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    match service {
        // SQS's JSON protocol names the query-protocol code too.
        "sqs" => {
            headers.insert(
                "x-amzn-query-error",
                HeaderValue::from_static("AccessDenied;Sender"),
            );
        }
        "ses" | "scheduler" => {
            headers.insert(
                "x-amzn-errortype",
                HeaderValue::from_static("AccessDeniedException"),
            );
        }
        _ => {}
    }
    response
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_reads_like_aws() {
        assert_eq!(
            message("Fn", "dynamodb:DeleteItem", "arn:t", Decision::ImplicitDeny),
            "User: arn:aws:sts::123456789012:assumed-role/Fn/Fn is not authorized to perform: dynamodb:DeleteItem on resource: arn:t because no identity-based policy allows the dynamodb:DeleteItem action"
        );
    }

    #[test]
    fn each_protocol_gets_its_shape() {
        let dynamodb = response("dynamodb", "m");
        assert_eq!(dynamodb.status(), 400);
        let sqs = response("sqs", "m");
        assert_eq!(sqs.headers()["x-amzn-query-error"], "AccessDenied;Sender");
        let scheduler = response("scheduler", "m");
        assert_eq!(scheduler.status(), 403);
        assert_eq!(
            scheduler.headers()["x-amzn-errortype"],
            "AccessDeniedException"
        );
        assert_eq!(
            response("s3", "m").headers()["content-type"],
            "application/xml"
        );
    }
}
