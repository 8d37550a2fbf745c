//! A small JSON client over hyper-util's pooled HTTP/1 client (keep-alive),
//! for 127.0.0.1 only.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Stripe's default limit is 25 PaymentIntents/s; the parts that check out
/// stay below it, so none is answered `PAYMENTS_BUSY` and retried (which
/// would be counted).
pub const CHECKOUT_INTERVAL: Duration = Duration::from_millis(50);

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

pub struct Reply {
    pub status: StatusCode,
    /// The body as JSON; `Null` when empty, a string when not JSON.
    pub json: Value,
    pub elapsed: Duration,
    /// The `retry-after` header, in seconds, when the server sent one.
    pub retry_after: Option<u64>,
}

impl Reply {
    /// The problem code of an error answer.
    pub fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or("")
    }

    pub fn expect(self, status: u16, what: &str) -> Result<Self, String> {
        if self.status.as_u16() == status {
            Ok(self)
        } else {
            Err(format!(
                "{what}: expected {status}, got {} {}",
                self.status, self.json
            ))
        }
    }
}

impl Http {
    pub fn new(base: &str) -> Result<Self, String> {
        if !base.starts_with("http://127.0.0.1:") {
            return Err(format!("{base}: only http://127.0.0.1:<port> is allowed"));
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Reply, String> {
        let what = format!("{method} {path}");
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(json) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(json.to_string()))
            }
            None => Full::new(Bytes::new()),
        };
        let request = request.body(body).map_err(|e| format!("{what}: {e}"))?;
        let started = Instant::now();
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| format!("{what}: {e}"))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("{what}: reading the body: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, retry_after, bytes))
        };
        let (status, retry_after, bytes) =
            tokio::time::timeout(REQUEST_TIMEOUT, exchange)
                .await
                .map_err(|_| format!("{what}: no answer within {REQUEST_TIMEOUT:?}"))??;
        let elapsed = started.elapsed();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok(Reply {
            status,
            json,
            elapsed,
            retry_after,
        })
    }
}
