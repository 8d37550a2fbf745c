//! What an AWS request needs: its caller (the SigV4 access key id and
//! service) and the permissions it needs, from its method, path, headers
//! and body. Plain functions, no I/O.

use axum::http::{HeaderMap, Method};
use serde_json::Value;

mod dynamodb;
mod s3;
mod scheduler;
mod ses;
mod sqs;

use crate::policy::Access;

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
        "dynamodb" => {
            dynamodb::accesses(call).ok_or_else(|| unknown(target(call).unwrap_or_default()))
        }
        "sqs" => sqs::accesses(call).ok_or_else(|| unknown(target(call).unwrap_or_default())),
        "ses" => {
            ses::accesses(call).ok_or_else(|| unknown(format!("{} {}", call.method, call.path)))
        }
        "s3" => s3::accesses(call)
            .ok_or_else(|| unknown(format!("{} {}?{}", call.method, call.path, call.query))),
        "scheduler" => scheduler::accesses(call)
            .ok_or_else(|| unknown(format!("{} {}", call.method, call.path))),
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

/// Helpers of the services' tests.
#[cfg(test)]
mod test_support {
    use super::*;
    use axum::http::HeaderValue;

    /// (action, resource) of every permission the request needs.
    pub fn needs(
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

    pub fn pair(action: &str, resource: &str) -> (String, String) {
        (action.to_owned(), resource.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

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
