//! Payment rules without I/O: the platform fee, Stripe's webhook signature
//! scheme, and the few webhook events the platform acts on.

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Stripe's own default: a signed delivery older than this is refused, so a
/// captured request cannot be replayed later.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

/// `platform_fee_fixed_cents + platform_fee_basis_points / 10 000 × amount`,
/// rounded half up, never more than the amount itself.
pub fn platform_fee(amount_cents: i64, fixed_cents: i64, basis_points: u32) -> i64 {
    let percent_part = (amount_cents * i64::from(basis_points) + 5_000) / 10_000;
    (fixed_cents + percent_part).clamp(0, amount_cents.max(0))
}

/// One booking, one PaymentIntent: Stripe answers a repeated create with
/// this key with the intent it made the first time.
pub fn checkout_idempotency_key(booking_id: &str) -> String {
    format!("checkout-{booking_id}")
}

/// A payment is refunded at most once, whoever asks and however often.
pub fn refund_idempotency_key(payment_intent_id: &str) -> String {
    format!("refund-{payment_intent_id}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing or malformed")]
    Malformed,
    #[error("the signature is older than {SIGNATURE_TOLERANCE_SECS} seconds")]
    Stale,
    #[error("no v1 signature matches the payload")]
    Mismatch,
}

/// Checks a `Stripe-Signature` header (`t=<unix>,v1=<hex>[,v1=..]`): any
/// `v1` entry must be the HMAC-SHA256 of `"<t>.<body>"` under the endpoint
/// secret, compared in constant time, and `t` within the tolerance of `now`.
pub fn verify_signature(
    header: &str,
    body: &[u8],
    secret: &[u8],
    now_unix: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    // abs_diff: any i64 from the header, even i64::MIN, is just far off.
    if now_unix.abs_diff(timestamp) > SIGNATURE_TOLERANCE_SECS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let matches = signatures.iter().any(|signature| {
        payload_mac(secret, timestamp, body)
            .verify_slice(signature)
            .is_ok()
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The header Stripe would send for `body` at `timestamp` (the local fake
/// Stripe signs with it; tests sign their deliveries with it).
pub fn signature_header(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let signature = payload_mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(signature))
}

fn payload_mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The part of a Stripe event the platform reads.
#[derive(Debug, Deserialize)]
pub struct StripeEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: StripeEventData,
}

#[derive(Debug, Deserialize)]
pub struct StripeEventData {
    pub object: serde_json::Value,
}

/// What a webhook delivery asks the platform to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentEvent {
    /// The money for a booking arrived.
    Succeeded {
        payment_intent_id: String,
        booking_id: String,
        amount_cents: i64,
        currency: String,
    },
    /// A payment attempt failed; the booking stays held until it expires.
    Failed { payment_intent_id: String },
    /// Money went back to the buyer (from the dashboard, or our own refund).
    Refunded { payment_intent_id: String },
    /// Anything else: acknowledged and ignored.
    Ignored,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the event's object lacks {0}")]
pub struct MissingField(pub &'static str);

impl StripeEvent {
    pub fn action(&self) -> Result<PaymentEvent, MissingField> {
        let object = &self.data.object;
        let text = |field: &'static str| {
            object[field]
                .as_str()
                .map(str::to_owned)
                .ok_or(MissingField(field))
        };
        Ok(match self.kind.as_str() {
            "payment_intent.succeeded" => PaymentEvent::Succeeded {
                payment_intent_id: text("id")?,
                booking_id: object["metadata"]["booking_id"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or(MissingField("metadata.booking_id"))?,
                amount_cents: object["amount_received"]
                    .as_i64()
                    .or_else(|| object["amount"].as_i64())
                    .ok_or(MissingField("amount"))?,
                currency: text("currency")?.to_lowercase(),
            },
            "payment_intent.payment_failed" => PaymentEvent::Failed {
                payment_intent_id: text("id")?,
            },
            "charge.refunded" => PaymentEvent::Refunded {
                payment_intent_id: text("payment_intent")?,
            },
            _ => PaymentEvent::Ignored,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &[u8] = b"whsec_test_secret_of_enough_length";
    const NOW: i64 = 1_800_000_000;

    #[test]
    fn the_fee_is_the_fixed_part_plus_the_percentage_rounded_half_up() {
        assert_eq!(platform_fee(10_000, 30, 290), 30 + 290);
        assert_eq!(platform_fee(1_005, 0, 250), 25); // 25.125
        assert_eq!(platform_fee(1_010, 0, 250), 25); // 25.25
        assert_eq!(platform_fee(1_020, 0, 250), 26); // 25.5 rounds up
    }

    #[test]
    fn the_fee_never_exceeds_the_amount() {
        assert_eq!(platform_fee(100, 500, 0), 100);
        assert_eq!(platform_fee(0, 30, 290), 0);
    }

    #[test]
    fn a_signature_made_with_the_secret_verifies() {
        let header = signature_header(SECRET, NOW, b"{}");
        assert_eq!(verify_signature(&header, b"{}", SECRET, NOW + 10), Ok(()));
    }

    #[test]
    fn any_matching_v1_entry_is_enough() {
        let good = signature_header(SECRET, NOW, b"{}");
        let v1 = good.split_once(",v1=").unwrap().1;
        let header = format!("t={NOW},v1={},v1={v1},v0=abc", "00".repeat(32));
        assert_eq!(verify_signature(&header, b"{}", SECRET, NOW), Ok(()));
    }

    #[test]
    fn another_body_or_secret_does_not_verify() {
        let header = signature_header(SECRET, NOW, b"{}");
        assert_eq!(
            verify_signature(&header, b"{ }", SECRET, NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(&header, b"{}", b"another secret", NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_signature_outside_the_tolerance_is_stale() {
        let header = signature_header(SECRET, NOW, b"{}");
        let late = NOW + SIGNATURE_TOLERANCE_SECS + 1;
        assert_eq!(
            verify_signature(&header, b"{}", SECRET, late),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_signature(&header, b"{}", SECRET, NOW + SIGNATURE_TOLERANCE_SECS),
            Ok(())
        );
    }

    #[test]
    fn headers_without_a_timestamp_or_v1_entry_are_malformed() {
        for header in ["", "t=abc,v1=00", "v1=00", &format!("t={NOW}"), "garbage"] {
            assert_eq!(
                verify_signature(header, b"{}", SECRET, NOW),
                Err(SignatureError::Malformed),
                "{header:?}"
            );
        }
    }

    fn event(kind: &str, object: serde_json::Value) -> StripeEvent {
        serde_json::from_value(json!({ "id": "evt_1", "type": kind, "data": { "object": object } }))
            .unwrap()
    }

    #[test]
    fn a_succeeded_payment_names_its_booking_and_amount() {
        let succeeded = event(
            "payment_intent.succeeded",
            json!({ "id": "pi_1", "amount": 500, "amount_received": 500, "currency": "EUR",
                    "metadata": { "booking_id": "b1" } }),
        );
        assert_eq!(
            succeeded.action(),
            Ok(PaymentEvent::Succeeded {
                payment_intent_id: "pi_1".into(),
                booking_id: "b1".into(),
                amount_cents: 500,
                currency: "eur".into(),
            })
        );
    }

    #[test]
    fn a_succeeded_payment_without_a_booking_is_refused() {
        let orphan = event(
            "payment_intent.succeeded",
            json!({ "id": "pi_1", "amount": 500, "currency": "eur", "metadata": {} }),
        );
        assert_eq!(orphan.action(), Err(MissingField("metadata.booking_id")));
    }

    #[test]
    fn other_event_types_are_ignored() {
        assert_eq!(
            event("customer.created", json!({})).action(),
            Ok(PaymentEvent::Ignored)
        );
    }
}
