//! Stripe's error object, `{"error": {"type", "code", "message", "param"}}`,
//! the only error shape the fake answers with.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    kind: &'static str,
    code: Option<&'static str>,
    message: String,
    param: Option<String>,
}

impl ApiError {
    /// 400 `invalid_request_error`, Stripe's answer to most refusals.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: None,
            message: message.into(),
            param: None,
        }
    }

    /// `No such <object>: '<id>'`, code `resource_missing`.
    pub fn missing(object: &str, id: &str, param: &str) -> Self {
        Self::invalid(format!("No such {object}: '{id}'"))
            .code("resource_missing")
            .param(param)
    }

    pub fn unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            ..Self::invalid("Invalid API Key provided")
        }
    }

    pub fn idempotency(key: &str) -> Self {
        Self {
            kind: "idempotency_error",
            ..Self::invalid(format!(
                "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
            ))
        }
    }

    pub fn server_error() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "api_error",
            ..Self::invalid("An unknown error occurred")
        }
    }

    /// Stripe's limiter answer: 429, `invalid_request_error` with code
    /// `rate_limit` (the error object's `type` has only four values).
    pub fn rate_limited() -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            ..Self::invalid(
                "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
            )
            .code("rate_limit")
        }
    }

    pub fn code(self, code: &'static str) -> Self {
        Self {
            code: Some(code),
            ..self
        }
    }

    pub fn param(self, param: &str) -> Self {
        Self {
            param: Some(param.to_owned()),
            ..self
        }
    }

    pub fn with_status(self, status: StatusCode) -> Self {
        Self { status, ..self }
    }

    pub fn body(&self) -> Value {
        let mut error = json!({ "type": self.kind, "message": self.message });
        if let Some(code) = self.code {
            error["code"] = json!(code);
        }
        if let Some(param) = &self.param {
            error["param"] = json!(param);
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}
