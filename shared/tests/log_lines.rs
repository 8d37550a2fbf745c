//! Log lines name both request ids. In a test binary of its own: tracing
//! caches per call site whether anyone listens, and a test running beside
//! it on another thread without a subscriber can make the request span's
//! call site look unwanted to this one's.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use lambda_http::Context;
use serde_json::Value;
use tower::ServiceExt;
use tracing_subscriber::layer::SubscriberExt;

use axum::extract::Request;
use lambda_http::RequestExt;
use shared::http::request_id::{HEADER, middleware};

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
