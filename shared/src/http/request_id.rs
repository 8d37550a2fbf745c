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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use lambda_http::Context;
    use serde_json::Value;
    use tower::ServiceExt;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// Log lines written while the test runs.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("not poisoned").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    #[tokio::test]
    async fn log_lines_carry_lambdas_request_id_beside_the_apis() {
        let captured = Captured::default();
        // As telemetry::init writes them.
        let json = tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(captured.clone());
        let _logs = tracing::subscriber::set_default(tracing_subscriber::registry().with(json));
        let app = Router::new()
            .route(
                "/",
                get(|| async {
                    tracing::info!("handled");
                    "ok"
                }),
            )
            .layer(axum::middleware::from_fn(middleware));
        let mut context = Context::default();
        context.request_id = "lambda-invocation-1".to_owned();
        let request = Request::builder()
            .uri("/")
            .body(Body::empty())
            .expect("a request")
            .with_lambda_context(context);
        let response = app.oneshot(request).await.expect("an answer");
        let api_id = response.headers()[&HEADER].to_str().expect("ascii");

        let logs = String::from_utf8(captured.0.lock().expect("not poisoned").clone()).unwrap();
        let lines: Vec<Value> = logs
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON lines"))
            .collect();
        let messages: Vec<&Value> = lines.iter().map(|l| &l["fields"]["message"]).collect();
        assert_eq!(messages, ["handled", "served"], "{logs}");
        for line in &lines {
            assert_eq!(line["span"]["lambda_request_id"], "lambda-invocation-1");
            assert_eq!(line["span"]["request_id"], api_id);
        }
    }
}
