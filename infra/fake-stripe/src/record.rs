//! What the fake was asked: every API call, as the platform sent it.

use axum::http::Method;

use crate::failures::Failure;

#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: Method,
    pub path: String,
    pub idempotency_key: Option<String>,
    /// The `Stripe-Account` header: a call on a connected account's behalf.
    pub stripe_account: Option<String>,
    /// Form (or, for `GET`, query) parameters, decoded, in the order sent.
    pub params: Vec<(String, String)>,
    /// The failure this call was answered with, if one was injected.
    pub injected: Option<Failure>,
    /// Refused by the rate limits with a 429 before anything else.
    pub rate_limited: bool,
}

impl RecordedRequest {
    /// The first value sent for `name`, e.g. `param("metadata[booking_id]")`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}
