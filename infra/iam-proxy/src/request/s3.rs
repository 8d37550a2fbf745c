//! S3 (REST, path-style): the permissions of an object or bucket call.

use super::{Call, has_flag, percent_decode, query_param};
use crate::policy::Access;

/// S3 (REST, path-style): object actions on `bucket/key`, listing on the bucket.
pub(super) fn accesses(call: &Call) -> Option<Vec<Access>> {
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

#[cfg(test)]
mod tests {
    use super::super::test_support::{needs, pair};
    use axum::http::Method;
    use serde_json::Value;

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
}
