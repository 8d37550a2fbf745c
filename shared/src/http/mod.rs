//! HTTP plumbing shared by every API function: the request-id and logging
//! middleware, security headers, the per-address API limit, problem-JSON
//! fallbacks, body limits and extractors whose rejections are problem JSON
//! too.

mod api_limit;
mod client_ip;
mod headers;
mod json;
mod panic;
mod path;
mod query;
pub mod request_id;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;

pub use client_ip::ClientIp;
pub use json::{Json, parse_optional_body};
pub use path::PathParam;
pub use query::{Query, page_limit, time_param};

use crate::AppState;
use crate::config::AppEnv;
use crate::error::ApiError;

/// Request bodies above this are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Wraps a function's routes (or, in the dev server, all functions' routes
/// merged) with what every API must have: problem-JSON answers for unknown
/// routes and methods, the body limit, the per-address API limit (before
/// any handler's work), a 500 problem for a panicking handler, the
/// security headers (on every answer, refusals included), and the
/// request-id middleware outermost so that every response carries it and
/// every problem quotes it.
pub fn finish(routes: Router, app: &AppState) -> Router {
    let counted = routes
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            api_limit::middleware,
        ));
    around(counted, app.config.env)
}

/// Everything `finish` adds but the API limit (which needs the table).
fn around(routes: Router, env: AppEnv) -> Router {
    routes
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(panic::layer())
        .layer(axum::middleware::from_fn_with_state(
            env,
            headers::middleware,
        ))
        .layer(axum::middleware::from_fn(request_id::middleware))
}

async fn route_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "ROUTE_NOT_FOUND", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "this route does not accept that method",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tower::ServiceExt;

    /// An API Gateway HTTP API (payload v2) event, trimmed to what matters.
    const GATEWAY_EVENT: &str = r#"{
        "version": "2.0", "routeKey": "$default", "rawPath": "/probe", "rawQueryString": "",
        "headers": { "host": "api.example.com", "x-forwarded-for": "6.6.6.6" },
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
            "domainPrefix": "api", "stage": "$default", "routeKey": "$default",
            "http": { "method": "GET", "path": "/probe", "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4", "userAgent": "test" },
            "requestId": "LV7fzho-PHcEJPw=", "time": "21/Apr/2020:15:08:21 +0000", "timeEpoch": 1587481701067
        },
        "isBase64Encoded": false
    }"#;

    fn probe() -> Router {
        around(
            Router::new().route("/probe", get(|ClientIp(ip): ClientIp| async move { ip })),
            AppEnv::Local,
        )
    }

    #[tokio::test]
    async fn behind_api_gateway_its_request_id_and_source_ip_are_used() {
        let request = lambda_http::request::from_str(GATEWAY_EVENT).unwrap();
        let response = probe().oneshot(request).await.unwrap();
        assert_eq!(response.headers()["x-request-id"], "LV7fzho-PHcEJPw=");
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        // sourceIp, not the spoofable x-forwarded-for header.
        assert_eq!(&body[..], b"1.2.3.4");
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_a_500_problem_with_the_request_id() {
        async fn boom() -> &'static str {
            panic!("a bug")
        }
        let app = around(Router::new().route("/boom", get(boom)), AppEnv::Local);
        let request = axum::http::Request::get("/boom")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let request_id = response.headers()["x-request-id"].clone();
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["code"], "INTERNAL");
        assert_eq!(problem["request_id"], request_id.to_str().unwrap());
        assert!(
            !problem.to_string().contains("a bug"),
            "the cause stays in the log"
        );
    }

    #[tokio::test]
    async fn without_api_gateway_a_request_id_is_generated() {
        let request = axum::http::Request::get("/probe")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = probe().oneshot(request).await.unwrap();
        assert_eq!(response.headers()["x-request-id"].len(), 36);
    }
}
