//! Outbound webhook HTTP: the one place that connects to an endpoint.
//! Every address a host resolves to is checked (`domain::webhook::address`)
//! by the connector itself, right before it connects, so a name that
//! resolved to a public address at registration cannot be rebound to a
//! private one later. Redirects are never followed (hyper does not), the
//! answer is read up to `MAX_RESPONSE_BYTES`, and the whole attempt has a
//! time limit, so a slow endpoint costs one attempt's timeout and no more.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::{HeaderMap, Request, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnectorBuilder;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;
use time::OffsetDateTime;

use crate::config::AppEnv;
use crate::domain::webhook::Format;
use crate::domain::webhook::address::{self, EndpointUrl, UrlRefused};
use crate::domain::webhook::delivery::{Delivery, Endpoint};
use crate::domain::webhook::retry::Attempt;
use crate::domain::webhook::signature;

/// The most of an answer read: enough for Discord's 429 body.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024;
/// One attempt, connection to last byte read.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// Resolves `url`'s host and checks every address; a literal address was
/// checked when the URL was (`address::check_url`).
pub async fn check_resolved(url: &EndpointUrl, env: AppEnv) -> Result<(), UrlRefused> {
    if url.host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    resolve_checked(url.host.clone(), env)
        .await
        .map(|_| ())
        .map_err(|_| UrlRefused::PrivateAddress)
}

/// Every address of `host`, or an error when it has none or any of them
/// is one deliveries may not reach (a name mixing public and private
/// addresses is refused whole).
async fn resolve_checked(host: String, env: AppEnv) -> std::io::Result<Vec<SocketAddr>> {
    // Bounded: a registration request must not hang on a slow resolver.
    let lookup = tokio::net::lookup_host((host.as_str(), 0));
    let addrs: Vec<SocketAddr> = tokio::time::timeout(RESOLVE_TIMEOUT, lookup)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "DNS timed out"))??
        .collect();
    if addrs.is_empty() || addrs.iter().any(|a| !address::address_allowed(a.ip(), env)) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("{host} resolves to an address webhooks may not reach"),
        ));
    }
    Ok(addrs)
}

type Connector = hyper_rustls::HttpsConnector<HttpConnector<CheckedResolver>>;

/// hyper's DNS step with the address check in it.
#[derive(Clone)]
struct CheckedResolver(AppEnv);

impl tower_service::Service<Name> for CheckedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let env = self.0;
        Box::pin(async move {
            resolve_checked(name.as_str().to_owned(), env)
                .await
                .map(Vec::into_iter)
        })
    }
}

/// Sends deliveries; built once per cold start.
#[derive(Clone)]
pub struct Sender {
    client: Client<Connector, Full<axum::body::Bytes>>,
    env: AppEnv,
}

impl Sender {
    pub fn new(env: AppEnv) -> Self {
        let mut http = HttpConnector::new_with_resolver(CheckedResolver(env));
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let https = HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Self {
            client: Client::builder(TokioExecutor::new()).build(https),
            env,
        }
    }

    /// One attempt of `delivery` to `endpoint` at `now`.
    pub async fn attempt(
        &self,
        endpoint: &Endpoint,
        delivery: &Delivery,
        now: OffsetDateTime,
    ) -> Attempt {
        // Checked again: the environment's rules may be stricter than when
        // the endpoint was registered.
        let Ok(url) = address::check_url(&endpoint.url, self.env) else {
            return Attempt::Forbidden;
        };
        if url.host.parse::<std::net::IpAddr>().is_err() {
            match resolve_checked(url.host.clone(), self.env).await {
                // A forbidden address stays forbidden: failed at once.
                Err(err) if err.kind() == std::io::ErrorKind::PermissionDenied => {
                    return Attempt::Forbidden;
                }
                // DNS may answer later: retried.
                Err(_) => return Attempt::Unreachable,
                Ok(_) => {}
            }
        }
        let Some(request) = request(endpoint, delivery, &url, now) else {
            return Attempt::Forbidden;
        };
        match tokio::time::timeout(ATTEMPT_TIMEOUT, self.send(request)).await {
            Ok(Some(attempt)) => attempt,
            Ok(None) | Err(_) => Attempt::Unreachable,
        }
    }

    async fn send(&self, request: Request<Full<axum::body::Bytes>>) -> Option<Attempt> {
        let response = self.client.request(request).await.ok()?;
        let status = response.status();
        let headers = response.headers().clone();
        // An answer longer than the limit is cut, not an error: only its
        // status and a 429's wait matter.
        let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Some(if status.is_success() {
            Attempt::Delivered {
                status: status.as_u16(),
            }
        } else {
            Attempt::Refused {
                status: status.as_u16(),
                retry_after: (status == 429)
                    .then(|| retry_after(&headers, &body))
                    .flatten(),
            }
        })
    }
}

/// The POST of one attempt: the rendered body, signed per the Standard
/// Webhooks specification for `standard` endpoints.
fn request(
    endpoint: &Endpoint,
    delivery: &Delivery,
    url: &EndpointUrl,
    now: OffsetDateTime,
) -> Option<Request<Full<axum::body::Bytes>>> {
    let mut builder = Request::post(url.uri.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::USER_AGENT, "ticketing-webhooks/1");
    if endpoint.format == Format::Standard {
        let timestamp = now.unix_timestamp();
        let signature = signature::sign(
            endpoint.secret.as_deref()?,
            &delivery.id,
            timestamp,
            &delivery.body,
        )
        .ok()?;
        builder = builder
            .header("webhook-id", &delivery.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature);
    }
    builder
        .body(Full::new(axum::body::Bytes::from(delivery.body.clone())))
        .ok()
}

/// The wait a 429 asks for: Discord's JSON `retry_after` (seconds, may be
/// fractional), else a `Retry-After` header in seconds.
fn retry_after(headers: &HeaderMap, body: &[u8]) -> Option<Duration> {
    let from_body = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("retry_after")?.as_f64());
    let from_header = || {
        headers
            .get(header::RETRY_AFTER)?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
    };
    from_body
        .or_else(from_header)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discords_retry_after_is_read_from_the_body_then_the_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            retry_after(&headers, br#"{"message":"rate limited","retry_after":1.5}"#),
            Some(Duration::from_millis(1500))
        );
        headers.insert(header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers, b""), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(&HeaderMap::new(), b"nope"), None);
    }

    #[tokio::test]
    async fn production_sends_nothing_to_a_private_address_whatever_was_registered() {
        let endpoint = Endpoint {
            id: "wh1".into(),
            url: "http://127.0.0.1:9/hook".into(),
            events: crate::domain::webhook::Subscription::All,
            format: Format::Standard,
            description: None,
            secret: Some(signature::new_secret()),
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        let delivery = crate::domain::webhook::delivery::new_delivery(
            &endpoint,
            "cause",
            crate::domain::webhook::EventType::Ping,
            "{}".into(),
            OffsetDateTime::UNIX_EPOCH,
        );
        let now = OffsetDateTime::UNIX_EPOCH;
        for url in [
            "http://127.0.0.1:9/hook",
            "https://127.0.0.1:9/hook",
            "https://localhost:9/",
        ] {
            let endpoint = Endpoint {
                url: url.into(),
                ..endpoint.clone()
            };
            assert_eq!(
                Sender::new(AppEnv::Production)
                    .attempt(&endpoint, &delivery, now)
                    .await,
                Attempt::Forbidden,
                "{url}"
            );
        }
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_in_production_only() {
        let url = address::check_url("https://localhost:8443/", AppEnv::Local).unwrap();
        assert!(check_resolved(&url, AppEnv::Local).await.is_ok());
        assert_eq!(
            check_resolved(&url, AppEnv::Production).await,
            Err(UrlRefused::PrivateAddress)
        );
    }
}
