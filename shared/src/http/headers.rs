//! Security headers on every response. The API serves JSON to scripts, never
//! pages, so browsers are told not to sniff, frame, or run anything from it;
//! an authenticated answer is the caller's own and is never stored by a
//! cache in between.

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY,
    STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::middleware::Next;
use axum::response::Response;

use crate::config::AppEnv;

/// Two years, the HSTS preload list's minimum being one.
const HSTS: &str = "max-age=63072000; includeSubDomains";

pub async fn middleware(State(env): State<AppEnv>, request: Request, next: Next) -> Response {
    let authenticated = request.headers().contains_key(AUTHORIZATION);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    // Only over HTTPS, which production is (API Gateway) and local is not:
    // a browser told this by http://localhost would refuse it afterwards.
    if env == AppEnv::Production {
        headers.insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    if authenticated {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    async fn headers_in(env: AppEnv) -> axum::http::HeaderMap {
        let app = Router::new()
            .route("/probe", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(env, middleware));
        let request = Request::get("/probe").body(Body::empty()).unwrap();
        app.oneshot(request).await.unwrap().headers().clone()
    }

    #[tokio::test]
    async fn production_tells_browsers_to_use_https_only() {
        let headers = headers_in(AppEnv::Production).await;
        assert_eq!(headers[STRICT_TRANSPORT_SECURITY], HSTS);
    }

    #[tokio::test]
    async fn an_anonymous_answer_keeps_its_own_caching() {
        let headers = headers_in(AppEnv::Local).await;
        assert!(!headers.contains_key(CACHE_CONTROL));
        assert!(!headers.contains_key(STRICT_TRANSPORT_SECURITY));
        assert_eq!(headers[X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
}
