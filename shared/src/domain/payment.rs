//! Payment rules without I/O: the platform fee, Stripe's webhook signature
//! scheme, the few webhook events the platform acts on, and what a payment
//! of ours means for its booking.

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

use super::booking::Booking;
use super::refund::{BookingRefund, ChargeRefunded};
use super::wallet::TOP_UP_KIND;

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

/// One booking and wallet part, one PaymentIntent: Stripe answers a
/// repeated create with this key with the intent it made the first time.
/// The wallet part is in the key (when there is one), as it changes the
/// card amount, which Stripe refuses to change under one key.
pub fn checkout_idempotency_key(booking_id: &str, wallet_cents: i64) -> String {
    match wallet_cents {
        0 => format!("checkout-{booking_id}"),
        wallet => format!("checkout-{booking_id}-wallet-{wallet}"),
    }
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

/// The metadata key naming the deployment that created a PaymentIntent, so
/// that several stacks (or other tools) can share one Stripe account.
pub const STACK_METADATA_KEY: &str = "stack";

/// A payment of ours arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentSucceeded {
    pub payment_intent_id: String,
    pub booking_id: String,
    pub amount_cents: i64,
    pub currency: String,
}

/// What a webhook delivery asks the platform to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentEvent {
    /// The money for one of our bookings arrived.
    Succeeded(PaymentSucceeded),
    /// The money of one of our wallet top-ups arrived.
    TopUpSucceeded {
        payment_intent_id: String,
        amount_cents: i64,
        currency: String,
    },
    /// A payment attempt failed; the booking stays held until it expires.
    Failed { payment_intent_id: String },
    /// Money went back to the buyer, wholly or in part (from the dashboard,
    /// or our own refund).
    Refunded(ChargeRefunded),
    /// Validly signed, but about no booking of this stack (another stack's
    /// payment, a dashboard payment, a charge without a PaymentIntent):
    /// acknowledged, never acted on, so Stripe does not retry it for days.
    NotOurs(&'static str),
    /// Any other type: acknowledged and ignored.
    Ignored,
}

impl StripeEvent {
    /// What the delivery means to the stack `stack_id`.
    pub fn action(&self, stack_id: &str) -> PaymentEvent {
        let object = &self.data.object;
        let text = |field: &str| object[field].as_str().map(str::to_owned);
        match self.kind.as_str() {
            "payment_intent.succeeded" => {
                if object["metadata"][STACK_METADATA_KEY].as_str() != Some(stack_id) {
                    return PaymentEvent::NotOurs("a PaymentIntent of another stack or tool");
                }
                if object["metadata"]["kind"].as_str() == Some(TOP_UP_KIND) {
                    let (Some(payment_intent_id), Some(amount_cents), Some(currency)) = (
                        text("id"),
                        object["amount_received"]
                            .as_i64()
                            .or_else(|| object["amount"].as_i64()),
                        text("currency"),
                    ) else {
                        return PaymentEvent::NotOurs("a top-up without its amount");
                    };
                    return PaymentEvent::TopUpSucceeded {
                        payment_intent_id,
                        amount_cents,
                        currency: currency.to_lowercase(),
                    };
                }
                let (Some(payment_intent_id), Some(booking_id), Some(amount_cents), Some(currency)) = (
                    text("id"),
                    object["metadata"]["booking_id"].as_str(),
                    object["amount_received"]
                        .as_i64()
                        .or_else(|| object["amount"].as_i64()),
                    text("currency"),
                ) else {
                    return PaymentEvent::NotOurs("a PaymentIntent without its booking or amount");
                };
                PaymentEvent::Succeeded(PaymentSucceeded {
                    payment_intent_id,
                    booking_id: booking_id.to_owned(),
                    amount_cents,
                    currency: currency.to_lowercase(),
                })
            }
            "payment_intent.payment_failed" => match text("id") {
                Some(payment_intent_id) => PaymentEvent::Failed { payment_intent_id },
                None => PaymentEvent::NotOurs("a failed payment without an id"),
            },
            "charge.refunded" => {
                let (Some(payment_intent_id), Some(amount_cents)) =
                    (text("payment_intent"), object["amount"].as_i64())
                else {
                    return PaymentEvent::NotOurs("a charge without a PaymentIntent");
                };
                PaymentEvent::Refunded(ChargeRefunded {
                    payment_intent_id,
                    amount_cents,
                    amount_refunded_cents: object["amount_refunded"].as_i64().unwrap_or(0),
                    refunded: object["refunded"].as_bool().unwrap_or(false),
                })
            }
            _ => PaymentEvent::Ignored,
        }
    }
}

/// What to do with a payment of ours, before trying to confirm it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuccessDecision {
    /// Try to confirm: the confirmation transaction's conditions decide.
    Confirm,
    /// The money can never buy this booking: give it back.
    Refund {
        reason: &'static str,
        booking: BookingRefund,
    },
}

/// `booking` is the booking the payment names, if it exists.
pub fn on_success(booking: Option<&Booking>, payment: &PaymentSucceeded) -> SuccessDecision {
    let keep = |reason| SuccessDecision::Refund {
        reason,
        booking: BookingRefund::Keep,
    };
    let Some(booking) = booking else {
        return keep("unknown_booking");
    };
    if booking.card_part() != payment.amount_cents || booking.currency != payment.currency {
        return keep("amount_mismatch");
    }
    match &booking.payment_intent_id {
        // Paid through another PaymentIntent: this one is extra.
        Some(own) if *own != payment.payment_intent_id => keep("another_payment"),
        _ => SuccessDecision::Confirm,
    }
}

/// Why a confirmation transaction was cancelled, from its reasons in the
/// order it writes them: the booking, each unit or shard, the event check,
/// (for a card payment, `payment_checked`) the payment's refund check, and
/// last the `wallet_writes` of a wallet part (its balance, its entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmationRefused {
    /// The booking moved meanwhile: read it again and decide again.
    BookingMoved,
    /// The payment is being (or was) refunded: nothing to confirm.
    RefundUnderway,
    /// The event was cancelled: give the money back.
    EventCancelled,
    /// A unit or shard condition failed: the seats are gone.
    SeatsGone,
    /// The wallet no longer holds the booking's wallet part (a late
    /// payment, whose reservation went back with the hold): the card part
    /// goes back.
    WalletShort,
    /// Only contention or throttling: not an answer, retry later (Stripe
    /// delivers again); never a reason to refund.
    Contention,
}

pub fn confirmation_refused(
    codes: &[Option<&str>],
    payment_checked: bool,
    wallet_writes: usize,
) -> ConfirmationRefused {
    let failed = |code: &Option<&str>| *code == Some("ConditionalCheckFailed");
    let (codes, wallet) = codes.split_at(codes.len().saturating_sub(wallet_writes));
    let Some((booking, rest)) = codes.split_first() else {
        return ConfirmationRefused::Contention;
    };
    let checks = 1 + usize::from(payment_checked);
    let (inventory, checks) = rest.split_at(rest.len().saturating_sub(checks));
    if failed(booking) {
        ConfirmationRefused::BookingMoved
    } else if checks.get(1).is_some_and(failed) {
        ConfirmationRefused::RefundUnderway
    } else if checks.first().is_some_and(failed) {
        ConfirmationRefused::EventCancelled
    } else if inventory.iter().any(failed) {
        ConfirmationRefused::SeatsGone
    } else if wallet.iter().any(failed) {
        ConfirmationRefused::WalletShort
    } else {
        ConfirmationRefused::Contention
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

    fn succeeded(metadata: serde_json::Value) -> StripeEvent {
        event(
            "payment_intent.succeeded",
            json!({ "id": "pi_1", "amount": 500, "amount_received": 500, "currency": "EUR",
                    "metadata": metadata }),
        )
    }

    fn payment() -> PaymentSucceeded {
        PaymentSucceeded {
            payment_intent_id: "pi_1".into(),
            booking_id: "b".into(),
            amount_cents: 100,
            currency: "usd".into(),
        }
    }

    #[test]
    fn a_succeeded_payment_of_this_stack_names_its_booking_and_amount() {
        assert_eq!(
            succeeded(json!({ "booking_id": "b1", "stack": "prod" })).action("prod"),
            PaymentEvent::Succeeded(PaymentSucceeded {
                payment_intent_id: "pi_1".into(),
                booking_id: "b1".into(),
                amount_cents: 500,
                currency: "eur".into(),
            })
        );
    }

    #[test]
    fn a_succeeded_top_up_of_this_stack_is_told_from_a_booking_payment() {
        assert_eq!(
            succeeded(json!({ "kind": "wallet_top_up", "top_up_id": "t1", "stack": "prod" }))
                .action("prod"),
            PaymentEvent::TopUpSucceeded {
                payment_intent_id: "pi_1".into(),
                amount_cents: 500,
                currency: "eur".into(),
            }
        );
        assert!(matches!(
            succeeded(json!({ "kind": "wallet_top_up", "stack": "staging" })).action("prod"),
            PaymentEvent::NotOurs(_)
        ));
    }

    #[test]
    fn payments_of_another_stack_or_without_a_booking_are_not_ours() {
        for metadata in [
            json!({ "booking_id": "b1", "stack": "staging" }),
            json!({ "booking_id": "b1" }),
            json!({ "stack": "prod" }),
            json!({}),
        ] {
            assert!(
                matches!(
                    succeeded(metadata.clone()).action("prod"),
                    PaymentEvent::NotOurs(_)
                ),
                "{metadata}"
            );
        }
    }

    #[test]
    fn a_charge_refunded_reports_how_much_went_back() {
        let partial = event(
            "charge.refunded",
            json!({ "object": "charge", "id": "ch_1", "payment_intent": "pi_1",
                    "amount": 5000, "amount_refunded": 1000, "refunded": false }),
        );
        assert_eq!(
            partial.action("prod"),
            PaymentEvent::Refunded(ChargeRefunded {
                payment_intent_id: "pi_1".into(),
                amount_cents: 5000,
                amount_refunded_cents: 1000,
                refunded: false,
            })
        );
    }

    #[test]
    fn a_charge_without_a_payment_intent_is_not_ours() {
        let charge = event(
            "charge.refunded",
            json!({ "object": "charge", "id": "ch_1", "payment_intent": null, "amount": 5000 }),
        );
        assert!(matches!(charge.action("prod"), PaymentEvent::NotOurs(_)));
    }

    #[test]
    fn other_event_types_are_ignored() {
        assert_eq!(
            event("customer.created", json!({})).action("prod"),
            PaymentEvent::Ignored
        );
    }

    #[test]
    fn a_matching_payment_of_a_live_or_lapsed_booking_is_confirmed() {
        assert_eq!(
            on_success(Some(&Booking::example()), &payment()),
            SuccessDecision::Confirm
        );
    }

    #[test]
    fn a_payment_that_cannot_buy_its_booking_is_refunded_leaving_the_booking_alone() {
        let reason = |booking: Option<&Booking>, payment: &PaymentSucceeded| match on_success(
            booking, payment,
        ) {
            SuccessDecision::Refund {
                reason,
                booking: BookingRefund::Keep,
            } => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(reason(None, &payment()), "unknown_booking");
        let cheaper = PaymentSucceeded {
            amount_cents: 99,
            ..payment()
        };
        assert_eq!(
            reason(Some(&Booking::example()), &cheaper),
            "amount_mismatch"
        );
        let paid_otherwise = Booking {
            payment_intent_id: Some("pi_other".into()),
            ..Booking::example()
        };
        assert_eq!(reason(Some(&paid_otherwise), &payment()), "another_payment");
    }

    #[test]
    fn a_confirmation_cancelled_only_by_contention_is_not_seats_gone() {
        let conflict = Some("TransactionConflict");
        assert_eq!(
            confirmation_refused(&[None, conflict, None, None, None], true, 0),
            ConfirmationRefused::Contention
        );
        assert_eq!(
            confirmation_refused(&[None, Some("ThrottlingError"), None, None], true, 0),
            ConfirmationRefused::Contention
        );
    }

    #[test]
    fn a_failed_seat_condition_means_the_seats_are_gone() {
        let failed = Some("ConditionalCheckFailed");
        assert_eq!(
            confirmation_refused(&[None, None, failed, None, None], true, 0),
            ConfirmationRefused::SeatsGone
        );
    }

    #[test]
    fn a_free_booking_has_no_payment_check_to_fail() {
        let failed = Some("ConditionalCheckFailed");
        assert_eq!(
            confirmation_refused(&[None, None, failed], false, 0),
            ConfirmationRefused::EventCancelled
        );
        assert_eq!(
            confirmation_refused(&[None, failed, None], false, 0),
            ConfirmationRefused::SeatsGone
        );
    }

    #[test]
    fn a_failed_wallet_balance_after_the_checks_means_the_wallet_is_short() {
        let failed = Some("ConditionalCheckFailed");
        assert_eq!(
            confirmation_refused(&[None, None, None, None, failed, None, None], true, 3),
            ConfirmationRefused::WalletShort
        );
        assert_eq!(
            confirmation_refused(&[None, None, None, failed, None], false, 2),
            ConfirmationRefused::WalletShort,
            "a free-of-card booking has no payment check"
        );
        assert_eq!(
            confirmation_refused(&[None, failed, None, failed, None], false, 2),
            ConfirmationRefused::SeatsGone
        );
    }

    #[test]
    fn the_card_part_alone_is_charged_and_checked() {
        let split = Booking {
            paid_wallet_cents: Some(40),
            paid_card_cents: Some(60),
            ..Booking::example()
        };
        let card = PaymentSucceeded {
            amount_cents: 60,
            ..payment()
        };
        assert_eq!(on_success(Some(&split), &card), SuccessDecision::Confirm);
        assert_ne!(
            on_success(Some(&split), &payment()),
            SuccessDecision::Confirm
        );
        assert_eq!(checkout_idempotency_key("b", 0), "checkout-b");
        assert_eq!(checkout_idempotency_key("b", 40), "checkout-b-wallet-40");
    }

    #[test]
    fn the_checks_at_the_end_name_a_cancelled_event_or_a_refund_underway() {
        let failed = Some("ConditionalCheckFailed");
        assert_eq!(
            confirmation_refused(&[None, None, failed, None], true, 0),
            ConfirmationRefused::EventCancelled
        );
        assert_eq!(
            confirmation_refused(&[None, failed, failed, failed], true, 0),
            ConfirmationRefused::RefundUnderway
        );
        assert_eq!(
            confirmation_refused(&[failed, failed, failed, failed], true, 0),
            ConfirmationRefused::BookingMoved
        );
    }
}
