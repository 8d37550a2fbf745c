//! The one error type of the HTTP layer and its single mapping to RFC 9457
//! problem JSON. Handlers return `Result<_, ApiError>`; lower layers convert
//! their own errors into it with `From`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::http::request_id;

/// One offending input field, named the way the client wrote it (`units[1]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub retry_after_secs: Option<u64>,
}

/// The problem document as it goes over the wire.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub code: &'static str,
    pub detail: String,
    pub request_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after_secs: None,
        }
    }

    /// 400 naming the field that is wrong.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        Self::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
            format!("{field}: {message}"),
        )
        .with_errors(vec![FieldError { field, message }])
    }

    /// 400 naming every field that is wrong.
    pub fn invalid_fields(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self::new(StatusCode::BAD_REQUEST, "VALIDATION_FAILED", detail).with_errors(errors)
    }

    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, detail)
    }

    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("{what} not found"),
        )
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        let mut err = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            format!("too many requests; retry in {retry_after_secs} s"),
        );
        err.retry_after_secs = Some(retry_after_secs.max(1));
        err
    }

    /// A true internal fault. The cause is logged here; the client only
    /// sees a generic message and the request id to quote.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "an internal error occurred",
        )
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    fn problem(&self) -> Problem {
        Problem {
            type_: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            code: self.code,
            detail: self.detail.clone(),
            request_id: request_id::current().unwrap_or_default(),
            errors: self.errors.clone(),
        }
    }
}

/// The media type of every error answer (`IntoResponse` below).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Makes the OpenAPI document say what `IntoResponse` does: every 4xx and
/// 5xx response declared with a JSON body is `application/problem+json`.
/// Handlers keep declaring `body = Problem`; this is the one place that
/// knows how errors go over the wire.
pub fn document_problem_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            for (status, response) in &mut operation.responses.responses {
                let RefOr::T(response) = response else {
                    continue;
                };
                if !(status.starts_with('4') || status.starts_with('5')) {
                    continue;
                }
                if let Some(content) = response.content.shift_remove("application/json") {
                    response.content.insert(PROBLEM_JSON.to_owned(), content);
                }
            }
        }
    }
}

/// Wallet refusals: an amount out of range is a 422 naming its field; a
/// wallet short of the amount, or a checkout repeated with another wallet
/// part, a 409.
impl From<crate::domain::wallet::WalletError> for ApiError {
    fn from(err: crate::domain::wallet::WalletError) -> Self {
        use crate::domain::wallet::WalletError;
        match err {
            WalletError::Invalid { field, message } => {
                let mut invalid = Self::invalid_field(field, message);
                invalid.status = StatusCode::UNPROCESSABLE_ENTITY;
                invalid
            }
            WalletError::InsufficientFunds(_) => {
                Self::conflict("INSUFFICIENT_FUNDS", err.to_string())
            }
            WalletError::CheckoutChanged { .. } => {
                Self::conflict("CHECKOUT_WALLET_MISMATCH", err.to_string())
            }
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    async fn body_json(response: Response) -> serde_json::Value {
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn errors_render_as_problem_json_with_code_and_field() {
        let response = ApiError::invalid_field("email", "not an email address").into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let body = body_json(response).await;
        assert_eq!(body["type"], "about:blank");
        assert_eq!(body["title"], "Bad Request");
        assert_eq!(body["status"], 400);
        assert_eq!(body["code"], "VALIDATION_FAILED");
        assert_eq!(body["errors"][0]["field"], "email");
    }

    #[tokio::test]
    async fn rate_limit_errors_carry_retry_after() {
        let response = ApiError::too_many_requests(90).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "90");
    }

    #[tokio::test]
    async fn internal_errors_do_not_leak_their_cause() {
        let response = ApiError::internal("connection refused to 10.0.0.1").into_response();
        let body = body_json(response).await;
        assert_eq!(body["status"], 500);
        assert!(!body["detail"].as_str().unwrap().contains("10.0.0.1"));
    }

    #[test]
    fn the_document_declares_error_bodies_as_problem_json() {
        let mut doc: utoipa::openapi::OpenApi = serde_json::from_value(serde_json::json!({
            "openapi": "3.1.0", "info": { "title": "t", "version": "1" },
            "paths": { "/x": { "get": { "responses": {
                "200": { "description": "ok", "content": { "application/json": {} } },
                "404": { "description": "unknown", "content": { "application/json": {} } },
                "503": { "description": "busy", "content": { "application/json": {} } }
            } } } }
        }))
        .unwrap();
        document_problem_responses(&mut doc);
        let doc = serde_json::to_value(&doc).unwrap();
        let responses = &doc["paths"]["/x"]["get"]["responses"];
        assert!(responses["200"]["content"]["application/json"].is_object());
        for status in ["404", "503"] {
            let content = responses[status]["content"].as_object().unwrap();
            assert_eq!(
                content.keys().collect::<Vec<_>>(),
                [PROBLEM_JSON],
                "{status}"
            );
        }
    }
}
