//! The webhook endpoint `bench webhooks` registers: a local HTTP server
//! that keeps, for each POST, when it arrived and what it was, and checks
//! its Standard Webhooks signature with its own code (as the integration
//! tests' receiver does), not the deliverer's.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::Notify;

/// One POST the receiver got.
#[derive(Clone, Debug)]
pub struct Arrival {
    pub at: Instant,
    pub webhook_id: String,
    pub event_type: String,
    pub booking_id: Option<String>,
    pub signed: bool,
}

#[derive(Default)]
struct Inner {
    arrivals: Mutex<Vec<Arrival>>,
    arrived: Notify,
    /// Known once the endpoint is registered (its URL comes first).
    secret: OnceLock<String>,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Inner>,
}

impl Receiver {
    pub async fn start() -> Result<Self, String> {
        let inner = Arc::new(Inner::default());
        let router = Router::new()
            .route("/hook", post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| format!("a free port for the webhook receiver: {e}"))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        tokio::spawn(axum::serve(listener, router).into_future());
        Ok(Self {
            url: format!("http://{address}/hook"),
            inner,
        })
    }

    /// The endpoint's `whsec_` secret, which every signature is checked
    /// against.
    pub fn expect_secret(&self, secret: String) {
        let _ = self.inner.secret.set(secret);
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        self.inner.arrivals.lock().expect("not poisoned").clone()
    }

    /// Waits until `done` holds for what has arrived, at most `limit`;
    /// whether it holds.
    pub async fn wait_until(&self, done: impl Fn(&[Arrival]) -> bool, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            // Registered before the check, so an arrival in between wakes it.
            let arrived = self.inner.arrived.notified();
            if done(&self.inner.arrivals.lock().expect("not poisoned")) {
                return true;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return done(&self.inner.arrivals.lock().expect("not poisoned"));
            }
        }
    }
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let at = Instant::now();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let webhook_id = header("webhook-id").to_owned();
    let signed = inner.secret.get().is_some_and(|secret| {
        verified(
            secret,
            &webhook_id,
            header("webhook-timestamp"),
            &body,
            header("webhook-signature"),
        )
    });
    let json: Value = serde_json::from_slice(&body).unwrap_or_default();
    let arrival = Arrival {
        at,
        webhook_id,
        event_type: json["type"].as_str().unwrap_or_default().to_owned(),
        booking_id: json["data"]["booking_id"].as_str().map(str::to_owned),
        signed,
    };
    inner.arrivals.lock().expect("not poisoned").push(arrival);
    inner.arrived.notify_waiters();
    StatusCode::NO_CONTENT
}

/// A Standard Webhooks signature check: HMAC-SHA256 of
/// `<id>.<timestamp>.<body>` keyed by the secret's base64-decoded bytes,
/// one of the space-separated `v1,<base64>` values.
fn verified(secret: &str, id: &str, timestamp: &str, body: &[u8], signatures: &str) -> bool {
    let Some(key) = secret
        .strip_prefix("whsec_")
        .and_then(|b64| STANDARD.decode(b64).ok())
    else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
        return false;
    };
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    signatures.split(' ').any(|signature| signature == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const BODY: &[u8] = br#"{"test": 2432232314}"#;

    /// The example of the specification's reference libraries.
    #[test]
    fn accepts_the_specifications_example() {
        let signature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert!(verified(SECRET, ID, "1614265330", BODY, signature));
        assert!(verified(
            SECRET,
            ID,
            "1614265330",
            BODY,
            &format!("v1,other {signature}")
        ));
    }

    #[test]
    fn refuses_another_timestamp_body_or_secret() {
        let signature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert!(!verified(SECRET, ID, "1614265331", BODY, signature));
        assert!(!verified(SECRET, ID, "1614265330", b"{}", signature));
        assert!(!verified("whsec_AAAA", ID, "1614265330", BODY, signature));
        assert!(!verified("no-prefix", ID, "1614265330", BODY, signature));
    }
}
