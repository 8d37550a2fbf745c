//! Refunds as a durable job, without I/O: what a cancellation owes, what a
//! `charge.refunded` delivery means, what Stripe's answer to our refund
//! means for the job, and when an event's refund run is finished.
//!
//! The money owed is recorded first (on the payment item, in the same
//! transaction that changes the booking); a worker then asks Stripe until
//! Stripe confirms. See docs/payments.md.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// What happens to the booking when its payment's refund is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingRefund {
    /// A confirmed booking nobody was admitted with: `refunded`, its seats
    /// free again, in the same transaction.
    CancelConfirmed,
    /// Any booking not refunded yet: `refunded`; its units or places stay
    /// where they are (its event is cancelled, or it holds none).
    MarkRefunded,
    /// The booking stays as it is: this payment was never its own.
    Keep,
}

/// Where a booking's refund stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RefundStatus {
    /// Owed and recorded; the worker has not had Stripe's confirmation yet.
    Pending,
    /// Stripe confirmed it (or said it was refunded already).
    Succeeded,
    /// Stripe refused it for good; an operator has to look (logged as an error).
    Failed,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|status| status.as_str() == s)
    }
}

/// A `charge.refunded` delivery: Stripe sends it for partial refunds too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRefunded {
    pub payment_intent_id: String,
    pub amount_cents: i64,
    pub amount_refunded_cents: i64,
    /// Stripe's own `refunded` flag: true once the whole charge went back.
    pub refunded: bool,
}

impl ChargeRefunded {
    /// Only a full refund ends a booking; a partial one is only recorded.
    pub fn is_full(&self) -> bool {
        self.refunded || self.amount_refunded_cents >= self.amount_cents
    }
}

/// Stripe's answer to one refund request, as the worker sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundAttempt {
    Refunded {
        refund_id: String,
    },
    /// `charge_already_refunded`: the money is back already (a dashboard
    /// refund, or our own request whose answer was lost).
    AlreadyRefunded,
    /// Stripe was down, slow, or rate-limiting: ask again later.
    Unavailable(String),
    /// Stripe refused the request itself (a disputed charge, say).
    Refused(String),
}

/// What the refund job does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundStep {
    Succeeded {
        refund_id: Option<String>,
    },
    /// Retried after `after`, by the queue's redelivery or the sweep.
    RetryAfter {
        after: Duration,
    },
    Failed {
        reason: String,
    },
}

/// Retry delays grow to this, and then stay: a refund is retried until
/// Stripe confirms, however long an outage lasts.
pub const MAX_RETRY_DELAY: Duration = Duration::minutes(30);

/// The backoff before attempt `attempts + 1`: 1, 2, 4, ... minutes, capped.
pub fn retry_delay(attempts: u32) -> Duration {
    let minutes = 1i64 << attempts.min(10);
    Duration::minutes(minutes).min(MAX_RETRY_DELAY)
}

pub fn after_attempt(attempt: RefundAttempt, attempts_before: u32) -> RefundStep {
    match attempt {
        RefundAttempt::Refunded { refund_id } => RefundStep::Succeeded {
            refund_id: Some(refund_id),
        },
        RefundAttempt::AlreadyRefunded => RefundStep::Succeeded { refund_id: None },
        RefundAttempt::Unavailable(_) => RefundStep::RetryAfter {
            after: retry_delay(attempts_before),
        },
        RefundAttempt::Refused(reason) => RefundStep::Failed { reason },
    }
}

/// When the sweep looks at a refund it has not heard of since: long enough
/// for the queue's message to have been handled first.
pub fn first_due(now: OffsetDateTime) -> OffsetDateTime {
    now + Duration::minutes(2)
}

/// How many confirmed bookings one run of an event's refund job takes on:
/// a few seconds of work, far inside the worker's timeout.
pub const EVENT_REFUND_PAGE: usize = 50;

/// The index an event's refund run reads is eventually consistent: a
/// booking confirmed just before the cancellation may show up late. So the
/// run ends only when a read this long after an empty one is empty too.
pub const EVENT_RECHECK_DELAY: Duration = Duration::seconds(30);

/// What an event's refund run does after one page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventRefundStep {
    /// More bookings to take on: run again at once.
    Continue,
    /// Nothing found: look once more after the delay.
    Recheck { after: Duration },
    /// Nothing found twice: every confirmed booking was taken on.
    Done,
}

pub fn event_refund_step(found: usize, rechecking: bool) -> EventRefundStep {
    match (found, rechecking) {
        (0, true) => EventRefundStep::Done,
        (0, false) => EventRefundStep::Recheck {
            after: EVENT_RECHECK_DELAY,
        },
        _ => EventRefundStep::Continue,
    }
}

/// A payment is refunded at most once, whoever asks and however often.
pub fn refund_idempotency_key(payment_intent_id: &str) -> String {
    format!("refund-{payment_intent_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charge(amount_refunded: i64, refunded: bool) -> ChargeRefunded {
        ChargeRefunded {
            payment_intent_id: "pi_1".into(),
            amount_cents: 5_000,
            amount_refunded_cents: amount_refunded,
            refunded,
        }
    }

    #[test]
    fn a_partial_refund_is_not_a_full_one() {
        assert!(!charge(1_000, false).is_full());
    }

    #[test]
    fn a_refund_of_the_whole_amount_is_full_with_or_without_the_flag() {
        assert!(charge(5_000, false).is_full());
        assert!(charge(5_000, true).is_full());
        assert!(charge(0, true).is_full());
    }

    #[test]
    fn already_refunded_counts_as_success_not_as_a_failure_to_retry() {
        assert_eq!(
            after_attempt(RefundAttempt::AlreadyRefunded, 7),
            RefundStep::Succeeded { refund_id: None }
        );
    }

    #[test]
    fn stripe_being_down_is_retried_with_growing_delays() {
        let delay =
            |attempts| match after_attempt(RefundAttempt::Unavailable("503".into()), attempts) {
                RefundStep::RetryAfter { after } => after,
                other => panic!("{other:?}"),
            };
        assert_eq!(delay(0), Duration::minutes(1));
        assert_eq!(delay(1), Duration::minutes(2));
        assert_eq!(delay(3), Duration::minutes(8));
        assert_eq!(delay(40), MAX_RETRY_DELAY);
    }

    #[test]
    fn a_refused_refund_fails_with_stripes_reason() {
        assert_eq!(
            after_attempt(RefundAttempt::Refused("charge_disputed".into()), 0),
            RefundStep::Failed {
                reason: "charge_disputed".into()
            }
        );
    }

    #[test]
    fn an_event_refund_run_ends_only_after_two_empty_reads() {
        assert_eq!(event_refund_step(3, false), EventRefundStep::Continue);
        assert_eq!(event_refund_step(3, true), EventRefundStep::Continue);
        assert_eq!(
            event_refund_step(0, false),
            EventRefundStep::Recheck {
                after: EVENT_RECHECK_DELAY
            }
        );
        assert_eq!(event_refund_step(0, true), EventRefundStep::Done);
    }

    #[test]
    fn refund_statuses_round_trip_through_their_names() {
        for status in [
            RefundStatus::Pending,
            RefundStatus::Succeeded,
            RefundStatus::Failed,
        ] {
            assert_eq!(RefundStatus::parse(status.as_str()), Some(status));
        }
    }
}
