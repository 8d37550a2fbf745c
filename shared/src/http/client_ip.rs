use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::Extensions;
use axum::http::request::Parts;
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;

/// The caller's address: API Gateway's `sourceIp` in Lambda, the peer
/// address when served locally. Client-supplied headers are ignored because
/// they are trivially forged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIp(pub String);

impl ClientIp {
    pub fn of(extensions: &Extensions) -> Self {
        if let Some(RequestContext::ApiGatewayV2(ctx)) = extensions.request_context_ref()
            && let Some(ip) = &ctx.http.source_ip
        {
            return Self(ip.clone());
        }
        let peer = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string());
        Self(peer.unwrap_or_else(|| "unknown".to_owned()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.extensions))
    }
}
