use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::domain::event;
use crate::error::ApiError;

/// Query parameters whose parse failure is a 400 problem naming the parameter.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Self(value))
            .map_err(|rejection| {
                let text = rejection.body_text();
                let text = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                let field = text
                    .split(':')
                    .next()
                    .filter(|f| !f.contains(' '))
                    .unwrap_or("query");
                ApiError::invalid_field(field.to_owned(), text.to_owned())
            })
    }
}

/// An RFC 3339 time parameter, within the years the store keeps (its UTC
/// form is what keys compare).
pub fn time_param(field: &str, value: Option<&str>) -> Result<Option<OffsetDateTime>, ApiError> {
    value
        .map(|text| {
            OffsetDateTime::parse(text, &Rfc3339)
                .ok()
                .filter(|t| event::to_stored_time(*t).is_some())
                .ok_or_else(|| ApiError::invalid_field(field, "must be an RFC 3339 time"))
        })
        .transpose()
}

/// A page size: 1..=100, 20 when absent.
pub fn page_limit(limit: Option<u32>) -> Result<usize, ApiError> {
    match limit.unwrap_or(20) {
        n @ 1..=100 => Ok(n as usize),
        _ => Err(ApiError::invalid_field(
            "limit",
            "must be between 1 and 100",
        )),
    }
}
