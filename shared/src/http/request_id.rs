//! Every response carries `x-request-id`: API Gateway's request id when the
//! request came through it, else a generated one. The id is kept in a
//! task-local so problem bodies and log lines can quote it; log lines also
//! carry Lambda's request id of the invocation.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use tracing::Instrument;

pub static HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served, if called while serving one.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

pub async fn middleware(request: Request, next: Next) -> Response {
    let id = gateway_request_id(&request).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    // Lambda's own id of the invocation (its START/END/REPORT lines and
    // the EMF metrics quote it); none outside Lambda.
    let lambda_request_id = request
        .lambda_context_ref()
        .map(|ctx| ctx.request_id.clone());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        lambda_request_id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let started = std::time::Instant::now();
    let mut response = REQUEST_ID
        .scope(id.clone(), next.run(request))
        .instrument(span.clone())
        .await;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "served"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER.clone(), value);
    }
    response
}

fn gateway_request_id(request: &Request) -> Option<String> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => ctx.request_id.clone(),
        _ => None,
    }
}
