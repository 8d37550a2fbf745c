//! The HTTP side: read the request, check it against its caller's policy,
//! forward it unchanged to the emulator or answer AccessDenied.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::behaviour::{Admitted, Layer};
use crate::policy::{Decision, Policy};
use crate::request::{self, Call};
use crate::{Upstreams, denied};

/// A function's identity on the local stack.
pub struct Principal {
    pub function: String,
    pub policy: Policy,
}

pub type Principals = RwLock<HashMap<String, Arc<Principal>>>;

#[derive(Clone)]
pub struct Proxy {
    pub principals: Arc<Principals>,
    pub upstreams: Arc<Upstreams>,
    pub client: Client<HttpConnector, Full<Bytes>>,
    /// DynamoDB's behaviour under contention, when switched on.
    pub behaviour: Option<Arc<Layer>>,
}

impl Proxy {
    pub fn new(
        principals: Arc<Principals>,
        upstreams: Upstreams,
        behaviour: Option<Arc<Layer>>,
    ) -> Self {
        Self {
            principals,
            upstreams: Arc::new(upstreams),
            client: Client::builder(TokioExecutor::new()).build_http(),
            behaviour,
        }
    }
}

pub async fn handle(State(proxy): State<Proxy>, request: Request) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            return plain(
                StatusCode::BAD_REQUEST,
                format!("iam-proxy: reading the body: {err}"),
            );
        }
    };
    let call = Call {
        method: &parts.method,
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or_default(),
        headers: &parts.headers,
        body: &body,
    };
    let caller = request::caller(&call);
    let service = caller
        .as_ref()
        .map(|c| c.service.clone())
        .unwrap_or_default();
    let principal = caller.as_ref().and_then(|c| {
        proxy
            .principals
            .read()
            .ok()
            .and_then(|p| p.get(&c.access_key_id).cloned())
    });
    // An identity the proxy does not know (the bootstrap's, a test's own
    // checks) is unrestricted, like an administrator.
    if let Some(principal) = principal
        && let Some(refusal) = refusal(&principal, &service, &call)
    {
        tracing::warn!(function = %principal.function, %service, reason = %refusal, "local IAM check denied a request");
        return denied::response(&service, &refusal);
    }
    // DynamoDB under contention, for every caller (it is the service's
    // behaviour, not a permission).
    let admitted = match (&proxy.behaviour, dynamodb_operation(&service, &call)) {
        (Some(layer), Some(op)) => match layer.admit(&op, &body) {
            Ok(admitted) => Some((layer, admitted)),
            Err(refusal) => return *refusal,
        },
        _ => None,
    };
    let upstream = if service == "dynamodb" {
        &proxy.upstreams.dynamodb
    } else {
        &proxy.upstreams.other
    };
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let uri: Uri = match format!("{}{path_and_query}", upstream.trim_end_matches('/')).parse() {
        Ok(uri) => uri,
        Err(err) => {
            return plain(
                StatusCode::BAD_GATEWAY,
                format!("iam-proxy: upstream URI: {err}"),
            );
        }
    };
    let mut forward = axum::http::Request::from_parts(parts, Full::new(body));
    *forward.uri_mut() = uri;
    let answer = proxy.client.request(forward).await;
    match answer {
        Ok(response) => match admitted {
            Some((layer, admitted)) if !layer.traces() => {
                layer.finish(admitted, response.status().is_success(), None);
                response.map(Body::new)
            }
            Some((layer, admitted)) => {
                // The answer's size (what a read costs) is known once its
                // body has gone through, however upstream framed it.
                let mut finish = Finish {
                    layer: layer.clone(),
                    admitted: Some(admitted),
                    ok: response.status().is_success(),
                    bytes: 0,
                };
                response.map(|body| {
                    Body::new(body.map_frame(move |frame| {
                        // The whole guard moves in (not just its counter),
                        // so it finishes when the body is dropped.
                        let finish = &mut finish;
                        if let Some(data) = frame.data_ref() {
                            finish.bytes += data.len();
                        }
                        frame
                    }))
                })
            }
            None => response.map(Body::new),
        },
        Err(err) => {
            if let Some((layer, admitted)) = admitted {
                layer.finish(admitted, false, None);
            }
            plain(
                StatusCode::BAD_GATEWAY,
                format!("iam-proxy: {upstream}: {err}"),
            )
        }
    }
}

/// Finishes an admitted request with its answer's size when the answer's
/// body is done with (sent, or dropped).
struct Finish {
    layer: Arc<Layer>,
    admitted: Option<Admitted>,
    ok: bool,
    bytes: usize,
}

impl Drop for Finish {
    fn drop(&mut self) {
        if let Some(admitted) = self.admitted.take() {
            self.layer.finish(admitted, self.ok, Some(self.bytes));
        }
    }
}

/// `PutItem` for `X-Amz-Target: DynamoDB_20120810.PutItem`.
fn dynamodb_operation(service: &str, call: &Call) -> Option<String> {
    if service != "dynamodb" {
        return None;
    }
    call.headers
        .get("x-amz-target")?
        .to_str()
        .ok()?
        .strip_prefix("DynamoDB_20120810.")
        .map(str::to_owned)
}

/// Why the principal may not make this call, in AWS's words; `None` when
/// every permission it needs is allowed.
fn refusal(principal: &Principal, service: &str, call: &Call) -> Option<String> {
    let accesses = match request::accesses(service, call) {
        Ok(accesses) => accesses,
        Err(unknown) => return Some(unknown.to_string()),
    };
    accesses.iter().find_map(|access| {
        let decision = principal.policy.decide(access);
        (decision != Decision::Allowed).then(|| {
            denied::message(
                &principal.function,
                &access.action,
                &access.resource,
                decision,
            )
        })
    })
}

fn plain(status: StatusCode, text: String) -> Response<Body> {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response
}
