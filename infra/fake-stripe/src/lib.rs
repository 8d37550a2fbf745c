//! A fake Stripe for the local stack and the tests: exactly the endpoints
//! the platform calls, strict where the platform's money code depends on
//! Stripe's behaviour. State lives in memory; never deployed.
//!
//! # Faithful to Stripe
//! - `POST /v1/payment_intents`, `GET /v1/payment_intents/{id}`,
//!   `POST /v1/refunds`, answering objects with every field async-stripe
//!   (rc.10) requires, and errors as Stripe's error object
//!   `{"error": {"type", "code", "message", "param"}}`.
//! - A PaymentIntent that succeeded has one charge (`latest_charge`) that
//!   refunds draw down: `amount` (default: what remains), `amount_refunded`,
//!   `refunded` only once nothing remains. Refusals: no successful charge
//!   (400 with Stripe's message), nothing left (`charge_already_refunded`),
//!   more than remains (`amount_too_large`, Stripe's message), unknown or
//!   malformed parameters (`parameter_unknown`, `parameter_invalid_integer`),
//!   `reverse_transfer` without a destination charge, `refund_application_fee`
//!   without an application fee.
//! - Idempotency keys as documented for API v1: the first answer of an
//!   endpoint that ran (success or 4xx refusal) is replayed for the same
//!   endpoint and parameters, with `Idempotent-Replayed: true`; the key with
//!   other parameters is a 400 `idempotency_error`. Answers given before the
//!   endpoint runs are not stored: a bad API key (401), malformed parameters,
//!   rate limiting (429).
//! - Rate limits, when set ([`FakeStripe::with_rate_limits`],
//!   [`RateLimits::LIVE`]; off by default): operations per second per
//!   account and per endpoint (a method and route: `POST
//!   /v1/payment_intents` and `GET /v1/payment_intents/{id}` are two),
//!   counted over a rolling second. A call over either is a 429
//!   `rate_limit`, answered before anything else (no injected failure is
//!   used up), recorded with `rate_limited`, and does not count.
//! - Webhook events signed like Stripe's (`Stripe-Signature`), including
//!   `charge.refunded` carrying the charge in its current refunded state.
//!
//! Every `/v1` call is recorded ([`FakeStripe::requests`]) and can be made to
//! fail ([`FakeStripe::fail_next`], [`Failure`]). The dev routes play the
//! customer and the dashboard: `POST /dev/stripe/payment_intents/{id}/succeed`
//! and `POST /dev/stripe/payment_intents/{id}/refund` (form `amount`
//! optional) deliver the signed event to the configured webhook URL; they are
//! neither recorded nor failed.
//!
//! # Not faithful
//! - An injected 500 is answered before the endpoint runs and is not stored
//!   under the key; real Stripe stores a 500 that happens inside an endpoint
//!   and replays it. (Tests want "failed, retry succeeds"; a replayed 500
//!   would only test the key's lifetime.)
//! - Requests with one key are serialized, so a concurrent duplicate gets
//!   the replay, never Stripe's 409 `idempotency_key_in_use`.
//! - No accounts: `Stripe-Account` is recorded but not scoped by (nor rate
//!   limited by: every call counts against one account); keys never
//!   expire; any `sk_...` key is accepted.
//! - No concurrency limiter, no `lock_timeout` 429 for concurrent writes to
//!   one object, and no stricter limits of particular endpoints.
//! - Unverified against the live API: the absence of a `code` on "no
//!   successful charge", the exact texts for `reverse_transfer` /
//!   `refund_application_fee` refusals, 400 (not 404) for an unknown
//!   `payment_intent`/`charge` parameter, and whether a 429 carries a
//!   `Stripe-Should-Retry` header (none is sent; async-stripe then treats
//!   429 and 500 as retryable).
//! - Money in messages is worded as dollars and cents whatever the currency.

mod error;
mod failures;
mod idempotency;
mod ledger;
mod limits;
mod params;
mod record;
mod routes;
mod webhook;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use serde_json::Value;

pub use failures::Failure;
pub use limits::RateLimits;
pub use record::RecordedRequest;
pub use webhook::Delivery;

use crate::failures::Failures;
use crate::idempotency::Idempotency;
use crate::ledger::{Ledger, Metadata, RefundRequest, RefundTarget};
use crate::limits::Limiter;

#[derive(Clone)]
pub struct FakeStripe {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    failures: Failures,
    limiter: Limiter,
    requests: Mutex<Vec<RecordedRequest>>,
    webhook_secret: String,
    /// Where the dev routes deliver webhooks; none in tests, which post the
    /// signed deliveries through the router themselves.
    webhook_url: Option<String>,
}

#[derive(Default)]
struct State {
    ledger: Ledger,
    idempotency: Idempotency,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

impl FakeStripe {
    pub fn new(webhook_secret: &str, webhook_url: Option<String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::default(),
                failures: Failures::default(),
                limiter: Limiter::default(),
                requests: Mutex::default(),
                webhook_secret: webhook_secret.to_owned(),
                webhook_url,
            }),
        }
    }

    /// The fake with Stripe's rate limits in front of its API.
    pub fn with_rate_limits(self, limits: RateLimits) -> Self {
        self.set_rate_limits(Some(limits));
        self
    }

    /// From now on `limits` apply (none: no limiting), counted afresh.
    pub fn set_rate_limits(&self, limits: Option<RateLimits>) {
        self.inner.limiter.set(limits);
    }

    /// Stripe's API (`/v1/...`) and the dev routes (`/dev/stripe/...`).
    pub fn router(&self) -> Router {
        routes::router(self)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap()
    }

    pub fn payment_intent(&self, id: &str) -> Option<Value> {
        self.state().ledger.intent(id)
    }

    /// Every PaymentIntent made, in no particular order.
    pub fn payment_intents(&self) -> Vec<Value> {
        self.state().ledger.intents()
    }

    /// The PaymentIntent's charge, once it succeeded.
    pub fn charge(&self, payment_intent_id: &str) -> Option<Value> {
        self.state().ledger.charge(payment_intent_id)
    }

    /// Every refund made, oldest first.
    pub fn refunds(&self) -> Vec<Value> {
        self.state().ledger.refunds()
    }

    /// Every API call received (not the dev routes), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.requests.lock().unwrap().clone()
    }

    /// The `POST /v1/refunds` calls received, oldest first.
    pub fn refund_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == "/v1/refunds")
            .collect()
    }

    /// The next `n` API calls fail with `failure`.
    pub fn fail_next(&self, n: usize, failure: Failure) {
        self.fail_next_on("/v1/", n, failure);
    }

    /// The next `n` API calls whose path starts with `path_prefix` (e.g.
    /// `"/v1/refunds"`) fail with `failure`. Plans queue up in order.
    pub fn fail_next_on(&self, path_prefix: &str, n: usize, failure: Failure) {
        self.inner.failures.queue(path_prefix, n, failure);
    }

    /// From now on each API call not failed by a `fail_next` plan fails with
    /// `probability`, with one of `failures` picked at random. Seeded from
    /// the OS: use [`Self::fail_randomly_seeded`] to replay a run.
    pub fn fail_randomly(&self, probability: f64, failures: Vec<Failure>) {
        self.inner.failures.randomly(None, probability, failures);
    }

    /// [`Self::fail_randomly`] with a seed: the same sequence of calls meets
    /// the same failures (the order of concurrent calls still varies).
    pub fn fail_randomly_seeded(&self, seed: u64, probability: f64, failures: Vec<Failure>) {
        self.inner
            .failures
            .randomly(Some(seed), probability, failures);
    }

    /// Drops every failure plan, queued or random.
    pub fn stop_failing(&self) {
        self.inner.failures.clear();
    }

    /// Marks the PaymentIntent paid (it gets its charge) and returns the
    /// signed `payment_intent.succeeded` delivery, timestamped `signed_at`.
    pub fn succeed(&self, payment_intent_id: &str, signed_at: i64) -> Option<Delivery> {
        let intent = self.state().ledger.succeed(payment_intent_id, signed_at)?;
        let event_id = webhook::event_id();
        Some(self.delivery(&event_id, "payment_intent.succeeded", intent, signed_at))
    }

    /// A refund made in Stripe's dashboard (not through the API: no
    /// idempotency key, not recorded): `amount` or all that remains. The
    /// refund, or Stripe's error object.
    pub fn dashboard_refund(
        &self,
        payment_intent_id: &str,
        amount: Option<i64>,
    ) -> Result<Value, Value> {
        let request = RefundRequest {
            target: RefundTarget::PaymentIntent(payment_intent_id.to_owned()),
            amount,
            reason: None,
            metadata: Metadata::new(),
            reverse_transfer: false,
            refund_application_fee: false,
        };
        self.state()
            .ledger
            .refund(&request, unix_now())
            .map_err(|refused| refused.body())
    }

    /// The signed `charge.refunded` Stripe sends after a refund of the
    /// PaymentIntent's charge, its `data.object` the charge as it stands
    /// (`refunded: false` after a partial refund). None before anything
    /// was refunded.
    pub fn refund_delivery(&self, payment_intent_id: &str, signed_at: i64) -> Option<Delivery> {
        let charge = self.charge(payment_intent_id)?;
        if charge["amount_refunded"] == 0 {
            return None;
        }
        let event_id = webhook::event_id();
        Some(self.delivery(&event_id, "charge.refunded", charge, signed_at))
    }

    /// Any event, signed like Stripe signs it.
    pub fn delivery(&self, event_id: &str, kind: &str, object: Value, signed_at: i64) -> Delivery {
        webhook::signed(
            &self.inner.webhook_secret,
            event_id,
            kind,
            object,
            signed_at,
        )
    }
}
