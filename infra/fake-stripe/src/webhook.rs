//! Webhook deliveries: events signed the way Stripe signs them, and the
//! dev routes' POST of one to the configured endpoint.

use axum::body::Bytes;
use axum::http::{Method, Request, header};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use shared::domain::payment::signature_header;

/// A signed delivery, as Stripe would POST it.
pub struct Delivery {
    pub body: String,
    pub signature: String,
}

pub(crate) fn event_id() -> String {
    format!("evt_{}", uuid::Uuid::now_v7().simple())
}

pub(crate) fn signed(
    secret: &str,
    event_id: &str,
    kind: &str,
    object: Value,
    signed_at: i64,
) -> Delivery {
    let body = json!({
        "id": event_id,
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": signed_at,
        "livemode": false,
        "pending_webhooks": 1,
        "type": kind,
        "data": { "object": object },
    })
    .to_string();
    let signature = signature_header(secret.as_bytes(), signed_at, body.as_bytes());
    Delivery { body, signature }
}

/// POSTs the delivery to `url`; the status the endpoint answered.
pub(crate) async fn deliver(url: &str, delivery: Delivery) -> Result<u16, String> {
    let request = Request::builder()
        .method(Method::POST)
        .uri(url)
        .header(header::CONTENT_TYPE, "application/json")
        .header("stripe-signature", &delivery.signature)
        .body(Full::new(Bytes::from(delivery.body)))
        .map_err(|e| e.to_string())?;
    let client = Client::builder(TokioExecutor::new()).build_http();
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    Ok(response.status().as_u16())
}
