//! Stripe's idempotency layer for `POST`s: the first answer given under a
//! key (success or refusal, once the endpoint ran) is replayed for the same
//! endpoint and parameters; the key with anything else is an
//! `idempotency_error`.

use std::collections::HashMap;

use axum::http::StatusCode;
use serde_json::Value;

#[derive(Default)]
pub(crate) struct Idempotency {
    answers: HashMap<String, Answer>,
}

struct Answer {
    endpoint: String,
    params: Vec<(String, String)>,
    status: StatusCode,
    body: Value,
}

#[derive(Debug, PartialEq)]
pub(crate) enum Seen {
    New,
    Replay(StatusCode, Value),
    OtherRequest,
}

fn sorted(params: &[(String, String)]) -> Vec<(String, String)> {
    let mut sorted = params.to_vec();
    sorted.sort();
    sorted
}

impl Idempotency {
    pub fn seen(&self, key: &str, endpoint: &str, params: &[(String, String)]) -> Seen {
        match self.answers.get(key) {
            None => Seen::New,
            Some(first) if first.endpoint == endpoint && first.params == sorted(params) => {
                Seen::Replay(first.status, first.body.clone())
            }
            Some(_) => Seen::OtherRequest,
        }
    }

    pub fn store(
        &mut self,
        key: &str,
        endpoint: &str,
        params: &[(String, String)],
        status: StatusCode,
        body: Value,
    ) {
        let answer = Answer {
            endpoint: endpoint.to_owned(),
            params: sorted(params),
            status,
            body,
        };
        self.answers.insert(key.to_owned(), answer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_same_request_in_another_order_replays_the_first_answer() {
        let mut cache = Idempotency::default();
        let params = form(&[("a", "1"), ("b", "2")]);
        cache.store(
            "k",
            "/v1/refunds",
            &params,
            StatusCode::BAD_REQUEST,
            json!({"e": 1}),
        );
        assert_eq!(
            cache.seen("k", "/v1/refunds", &form(&[("b", "2"), ("a", "1")])),
            Seen::Replay(StatusCode::BAD_REQUEST, json!({"e": 1}))
        );
    }

    #[test]
    fn the_key_with_other_parameters_or_another_endpoint_is_another_request() {
        let mut cache = Idempotency::default();
        let params = form(&[("a", "1")]);
        cache.store("k", "/v1/refunds", &params, StatusCode::OK, json!({}));
        assert_eq!(
            cache.seen("k", "/v1/refunds", &form(&[("a", "2")])),
            Seen::OtherRequest
        );
        assert_eq!(
            cache.seen("k", "/v1/payment_intents", &params),
            Seen::OtherRequest
        );
        assert_eq!(cache.seen("other", "/v1/refunds", &params), Seen::New);
    }
}
