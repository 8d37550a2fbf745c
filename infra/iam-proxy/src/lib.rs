//! The local stack's IAM: a proxy in front of DynamoDB Local and moto that
//! checks every call against the calling function's policy as template.yaml
//! declares it, and answers a missing permission with the service's own
//! AccessDenied (docs/adr/0002-local-iam-enforcement.md).
//!
//! Each function's SDK config (in the dev server and the integration
//! tests, never in the functions) signs with an access key id naming the
//! function; that is the caller's identity here. A key the proxy does not
//! know is unrestricted. The policy model (`template`, `policy`, `request`)
//! is plain functions; `proxy` is the HTTP side.

pub mod behaviour;
mod denied;
mod intrinsics;
pub mod locals;
pub mod policy;
mod proxy;
mod request;
pub mod template;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

pub use behaviour::{Behaviour, Contention};
pub use locals::Locals;
pub use policy::Policy;
pub use template::{Template, TemplateError};

use proxy::{Principal, Principals, Proxy};

/// Where allowed requests go: DynamoDB Local, and moto for the others.
#[derive(Debug, Clone)]
pub struct Upstreams {
    pub dynamodb: String,
    pub other: String,
}

impl Upstreams {
    /// `AWS_ENDPOINT_URL_DYNAMODB` and `AWS_ENDPOINT_URL`, as `make dev`
    /// and `make test` set them.
    pub fn from_env() -> Result<Self, std::env::VarError> {
        Ok(Self {
            dynamodb: std::env::var("AWS_ENDPOINT_URL_DYNAMODB")?,
            other: std::env::var("AWS_ENDPOINT_URL")?,
        })
    }
}

/// The access key id a function signs with: `local<LogicalId><suffix>`,
/// e.g. `localBookingsApiFunction`. Letters and digits only: DynamoDB Local
/// refuses any other key (UnrecognizedClientException).
pub fn access_key_id(function: &str, suffix: &str) -> String {
    format!("local{function}{suffix}")
}

/// A running proxy: its endpoint, and the identities it knows.
#[derive(Clone)]
pub struct IamProxy {
    addr: SocketAddr,
    principals: Arc<Principals>,
    behaviour: Option<Arc<behaviour::Layer>>,
}

impl IamProxy {
    /// Listens on a free local port, serving on a thread and runtime of its
    /// own, so it outlives whichever runtime started it (each integration
    /// test has its own).
    pub fn start(upstreams: Upstreams) -> std::io::Result<Self> {
        Self::start_with(upstreams, None)
    }

    /// `start`, answering DynamoDB calls as DynamoDB does under contention
    /// when `behaviour` is given (transaction conflicts, throttling per
    /// partition key value; docs/adr/0003-local-dynamodb-contention.md).
    pub fn start_with(upstreams: Upstreams, behaviour: Option<Behaviour>) -> std::io::Result<Self> {
        let behaviour = behaviour
            .map(|b| behaviour::Layer::new(b).map(Arc::new))
            .transpose()?;
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let principals: Arc<Principals> = Arc::new(RwLock::new(HashMap::new()));
        let proxy = Proxy::new(principals.clone(), upstreams, behaviour.clone());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("iam-proxy")
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("iam-proxy".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let router = axum::Router::new()
                        .fallback(proxy::handle)
                        .with_state(proxy);
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => {
                            if let Err(err) = axum::serve(listener, router).await {
                                tracing::error!(error = %err, "iam-proxy stopped");
                            }
                        }
                        Err(err) => tracing::error!(error = %err, "iam-proxy could not listen"),
                    }
                });
            })?;
        Ok(Self {
            addr,
            principals,
            behaviour,
        })
    }

    /// What the contention layer refused so far (all zero when it is off).
    pub fn contention(&self) -> Contention {
        self.behaviour
            .as_ref()
            .map(|layer| layer.contention())
            .unwrap_or_default()
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every function of the template, each under `access_key_id(fn, suffix)`
    /// with its policy resolved against `locals`.
    pub fn register_template(
        &self,
        template: &Template,
        locals: &Locals,
        suffix: &str,
    ) -> Result<(), TemplateError> {
        let mut resolved = Vec::new();
        for function in template.functions() {
            let policy = template.policy(&function, locals)?;
            resolved.push((
                access_key_id(&function, suffix),
                Principal { function, policy },
            ));
        }
        let mut principals = self.principals.write().unwrap_or_else(|e| e.into_inner());
        for (key, principal) in resolved {
            principals.insert(key, Arc::new(principal));
        }
        Ok(())
    }

    /// `base` signing as `access_key_id` and sending every service's calls
    /// here (the environment's per-service endpoints no longer apply).
    pub fn sdk_config(&self, base: &SdkConfig, access_key_id: &str) -> SdkConfig {
        let credentials = Credentials::new(access_key_id, "local", None, None, "iam-proxy");
        let mut builder = base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .endpoint_url(self.endpoint());
        builder.set_service_config(Some(NoServiceEndpoints));
        builder.build()
    }
}

/// Hides `AWS_ENDPOINT_URL_<SERVICE>` from the clients, which would
/// otherwise win over the proxy's endpoint.
#[derive(Debug)]
struct NoServiceEndpoints;

impl LoadServiceConfig for NoServiceEndpoints {
    fn load_config(&self, _key: ServiceConfigKey<'_>) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, Bytes};
    use axum::http::{HeaderMap, Request, StatusCode};
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use std::sync::Mutex;

    const TEMPLATE: &str = r#"
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - Statement:
            - Effect: Allow
              Action: dynamodb:GetItem
              Resource: !GetAtt Table.Arn
"#;

    type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

    /// An emulator stand-in that records what reaches it and answers 200.
    async fn upstream() -> (String, Seen) {
        let seen: Seen = Arc::default();
        let record = seen.clone();
        let router = axum::Router::new().fallback(move |request: Request<Body>| {
            let record = record.clone();
            async move {
                let (parts, body) = request.into_parts();
                let bytes = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                record.lock().unwrap().push((parts.headers, bytes));
                "{}"
            }
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(axum::serve(listener, router).into_future());
        (url, seen)
    }

    async fn call(
        proxy: &IamProxy,
        key: &str,
        op: &str,
        body: &'static str,
    ) -> (StatusCode, String) {
        let request = Request::post(proxy.endpoint())
            .header("x-amz-target", format!("DynamoDB_20120810.{op}"))
            .header(
                "authorization",
                format!("AWS4-HMAC-SHA256 Credential={key}/20261201/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0"),
            )
            .header("x-custom", "kept")
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap();
        let client = Client::builder(TokioExecutor::new()).build_http();
        let response = client.request(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn started() -> (IamProxy, Seen) {
        let (url, seen) = upstream().await;
        let proxy = IamProxy::start(Upstreams {
            dynamodb: url.clone(),
            other: url,
        })
        .unwrap();
        let locals = Locals::default().table("Table", "tickets");
        proxy
            .register_template(&Template::parse(TEMPLATE).unwrap(), &locals, "T")
            .unwrap();
        (proxy, seen)
    }

    #[tokio::test]
    async fn an_allowed_call_reaches_the_emulator_unchanged() {
        let (proxy, seen) = started().await;
        let body = r#"{"TableName":"tickets","Key":{}}"#;
        let (status, _) = call(&proxy, &access_key_id("Fn", "T"), "GetItem", body).await;
        assert_eq!(status, StatusCode::OK);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].1, body.as_bytes());
        assert_eq!(seen[0].0["x-custom"], "kept");
    }

    #[tokio::test]
    async fn a_denied_call_never_reaches_the_emulator() {
        let (proxy, seen) = started().await;
        let body = r#"{"TableName":"tickets","Key":{}}"#;
        let (status, answer) = call(&proxy, &access_key_id("Fn", "T"), "DeleteItem", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(answer.contains("AccessDeniedException"), "{answer}");
        assert!(answer.contains("dynamodb:DeleteItem"), "{answer}");
        assert!(seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_unknown_key_is_unrestricted() {
        let (proxy, seen) = started().await;
        let body = r#"{"TableName":"tickets","Key":{}}"#;
        let (status, _) = call(&proxy, "test", "DeleteItem", body).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(seen.lock().unwrap().len(), 1);
    }
}
