//! SES v2 (REST JSON): the permissions of a send.

use axum::http::Method;

use super::{Call, json};
use crate::locals::{ACCOUNT, REGION};
use crate::policy::Access;

/// SES v2 (REST JSON): a send is authorised on the sender's identity, the
/// address or its domain (whichever is verified; locally either).
pub(super) fn accesses(call: &Call) -> Option<Vec<Access>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};

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
        let access = accesses(&call).unwrap().remove(0);
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
}
