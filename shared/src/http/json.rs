use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

/// JSON in and out. Unlike axum's own, a bad body is answered with problem
/// JSON naming the offending field (via serde_path_to_error), and an
/// oversized body with 413.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(&req) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "UNSUPPORTED_MEDIA_TYPE",
                "expected content-type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PAYLOAD_TOO_LARGE",
                    // Routes may raise the default limit, so no number here.
                    "the request body is too large for this route",
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "UNREADABLE_BODY",
                    rejection.body_text(),
                )
            }
        })?;
        parse(&bytes).map(Json)
    }
}

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// An optional JSON body: none at all is `T::default()`, anything else
/// must parse.
pub fn parse_optional_body<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        parse(bytes)
    }
}

/// Parses a JSON body; errors name the field path and keep serde's message.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "MALFORMED_JSON",
                format!("malformed JSON: {inner}"),
            );
        }
        // serde appends " at line L column C"; the field path says it better.
        let message = inner.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned();
        let field = if path == "." { "body".to_owned() } else { path };
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_BODY",
            format!("{field}: {message}"),
        )
        .with_errors(vec![FieldError { field, message }])
    })
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        count: Option<u32>,
    }

    #[test]
    fn malformed_json_is_named_as_such() {
        let err = parse::<Body>(b"{\"email\": ").unwrap_err();
        assert_eq!(
            (err.status, err.code),
            (StatusCode::BAD_REQUEST, "MALFORMED_JSON")
        );
    }

    #[test]
    fn a_wrong_type_names_the_field() {
        let err = parse::<Body>(br#"{"email": "a@b.c", "count": "three"}"#).unwrap_err();
        assert_eq!(err.code, "INVALID_BODY");
        assert_eq!(err.errors[0].field, "count");
    }

    #[test]
    fn a_missing_field_is_reported_for_the_body() {
        let err = parse::<Body>(b"{}").unwrap_err();
        assert_eq!(err.code, "INVALID_BODY");
        assert!(err.detail.contains("email"));
    }

    #[test]
    fn an_unknown_field_is_refused_where_the_type_denies_it() {
        let err = parse::<Body>(br#"{"email": "a@b.c", "admin": true}"#).unwrap_err();
        assert!(err.detail.contains("admin"));
    }
}
