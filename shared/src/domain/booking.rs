//! Bookings: what a hold, a purchase or a walk-in sale produced.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::refund::RefundStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BookingStatus {
    Held,
    Confirmed,
    Expired,
    Cancelled,
    Refunded,
}

impl BookingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Confirmed => "confirmed",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
            Self::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Held,
            Self::Confirmed,
            Self::Expired,
            Self::Cancelled,
            Self::Refunded,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BookingSource {
    Online,
    WalkIn,
}

impl BookingSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::WalkIn => "walk_in",
        }
    }
}

/// Capacity taken from one open-mode inventory shard (of a tier's shards,
/// on a tiered event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    pub shard: u32,
    pub quantity: u32,
}

/// Places of one tier a hold on a tiered event asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierRequest {
    pub tier: String,
    pub quantity: u32,
}

/// Places of one tier a booking holds, at the tier's price of one place
/// when it was held (the layout is frozen from then on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TierItem {
    pub tier: String,
    pub quantity: u32,
    pub price_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Booking {
    pub id: String,
    pub event_id: String,
    pub user_id: String,
    pub status: BookingStatus,
    /// Grid events: the units, each held or sold whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub units: Option<Vec<String>>,
    /// Tiered open events: the places per tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<TierItem>>,
    /// Units (grid) or places (open) in this booking.
    pub quantity: u32,
    pub amount_cents: i64,
    /// The platform's fee out of `amount_cents`; set at checkout.
    pub fee_cents: i64,
    pub currency: String,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub hold_expires_at: Option<OffsetDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_intent_id: Option<String>,
    pub source: BookingSource,
    /// Walk-in sales: who bought at the door.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder_email: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    /// Where the money owed back stands, once a refund was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_status: Option<RefundStatus>,
    /// Stripe's id of the refund, once Stripe confirmed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
    /// How much Stripe has given back so far (partial refunds included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refunded_cents: Option<i64>,
    /// The part paid (or, until confirmed, reserved) from the wallet, once
    /// checked out with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_wallet_cents: Option<i64>,
    /// The part paid by card, beside a wallet part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_card_cents: Option<i64>,
    /// Open events: which shards the places came from, to give them back.
    #[serde(skip)]
    pub allocations: Vec<Allocation>,
}

/// What cancelling a confirmed booking does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancellation {
    /// The booking ends as `to`, its seats free again; `refund` names the
    /// payment whose money is owed back (none for cash or free bookings).
    Cancel {
        to: BookingStatus,
        reason: &'static str,
        refund: Option<String>,
    },
    /// Cancelled before: the same answer again (a retried request).
    AlreadyCancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CancelRefusal {
    #[error("only the holder or an admin may cancel a booking")]
    NotOwner,
    #[error("a booking can be cancelled by its holder only before the event starts")]
    EventStarted,
    #[error("the booking is {}; only confirmed bookings are cancelled", .0.as_str())]
    NotConfirmed(BookingStatus),
}

/// Who may cancel a booking, when, and what it becomes: the holder before
/// the event starts, an admin at any time. Paid online (by card, from the
/// wallet, or both), its money is owed back (`refunded`); paid in cash, or
/// free, it is `cancelled`.
pub fn cancellation(
    booking: &Booking,
    caller_id: &str,
    caller_is_admin: bool,
    event_starts_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<Cancellation, CancelRefusal> {
    let is_holder = booking.user_id == caller_id;
    if !is_holder && !caller_is_admin {
        return Err(CancelRefusal::NotOwner);
    }
    match booking.status {
        BookingStatus::Confirmed => {}
        BookingStatus::Refunded if booking.refund_status.is_some() || booking.wallet_part() > 0 => {
            return Ok(Cancellation::AlreadyCancelled);
        }
        status => return Err(CancelRefusal::NotConfirmed(status)),
    }
    if !caller_is_admin && event_starts_at <= now {
        return Err(CancelRefusal::EventStarted);
    }
    let reason = if is_holder {
        "cancelled_by_holder"
    } else {
        "cancelled_by_admin"
    };
    let refund = match booking.source {
        BookingSource::Online => booking.payment_intent_id.clone(),
        BookingSource::WalkIn => None,
    };
    // Money paid from the wallet goes back to it in the cancelling
    // transaction itself.
    let to = if refund.is_some() || booking.wallet_part() > 0 {
        BookingStatus::Refunded
    } else {
        BookingStatus::Cancelled
    };
    Ok(Cancellation::Cancel { to, reason, refund })
}

impl Booking {
    /// Lazy expiry: a hold past its time is expired, whether or not a worker
    /// has recorded it yet.
    pub fn as_of(mut self, now: OffsetDateTime) -> Self {
        if self.is_lapsed(now) {
            self.status = BookingStatus::Expired;
        }
        self
    }

    /// What the wallet paid, or holds reserved for it while held.
    pub fn wallet_part(&self) -> i64 {
        self.paid_wallet_cents.unwrap_or(0)
    }

    /// What the card pays: the amount less the wallet part.
    pub fn card_part(&self) -> i64 {
        self.amount_cents - self.wallet_part()
    }

    pub fn is_lapsed(&self, now: OffsetDateTime) -> bool {
        self.status == BookingStatus::Held && self.hold_expires_at.is_some_and(|at| at <= now)
    }
}

#[cfg(test)]
impl Booking {
    /// A live online hold of one place, for unit tests: booking `b` of user
    /// `u` on event `e`, created at epoch 1 800 000 000 and due then.
    pub(crate) fn example() -> Self {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("a valid time");
        Booking {
            id: "b".into(),
            event_id: "e".into(),
            user_id: "u".into(),
            status: BookingStatus::Held,
            units: None,
            items: None,
            quantity: 1,
            amount_cents: 100,
            fee_cents: 0,
            currency: "usd".into(),
            hold_expires_at: Some(now),
            payment_intent_id: None,
            source: BookingSource::Online,
            holder_name: None,
            holder_email: None,
            created_at: now,
            updated_at: now,
            refund_status: None,
            refund_id: None,
            refunded_cents: None,
            paid_wallet_cents: None,
            paid_card_cents: None,
            allocations: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    fn held(expires_in: Duration) -> Booking {
        let example = Booking::example();
        Booking {
            hold_expires_at: Some(example.created_at + expires_in),
            ..example
        }
    }

    #[test]
    fn a_hold_past_its_time_reads_as_expired() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        assert_eq!(
            held(Duration::ZERO).as_of(now).status,
            BookingStatus::Expired
        );
        assert_eq!(
            held(Duration::seconds(1)).as_of(now).status,
            BookingStatus::Held
        );
    }

    fn confirmed(source: BookingSource, payment_intent: Option<&str>) -> Booking {
        Booking {
            status: BookingStatus::Confirmed,
            source,
            payment_intent_id: payment_intent.map(str::to_owned),
            hold_expires_at: None,
            ..Booking::example()
        }
    }

    fn at(epoch: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(epoch).unwrap()
    }

    #[test]
    fn a_paid_booking_cancelled_by_its_holder_is_refunded_with_its_payment_owed() {
        let booking = confirmed(BookingSource::Online, Some("pi_1"));
        assert_eq!(
            cancellation(&booking, "u", false, at(2_000), at(1_000)),
            Ok(Cancellation::Cancel {
                to: BookingStatus::Refunded,
                reason: "cancelled_by_holder",
                refund: Some("pi_1".into()),
            })
        );
    }

    #[test]
    fn a_cash_or_free_booking_is_cancelled_with_nothing_to_refund() {
        for booking in [
            confirmed(BookingSource::WalkIn, None),
            confirmed(BookingSource::Online, None),
        ] {
            assert_eq!(
                cancellation(&booking, "admin", true, at(2_000), at(1_000)),
                Ok(Cancellation::Cancel {
                    to: BookingStatus::Cancelled,
                    reason: "cancelled_by_admin",
                    refund: None,
                })
            );
        }
    }

    #[test]
    fn only_an_admin_cancels_after_the_start_and_only_holder_or_admin_at_all() {
        let booking = confirmed(BookingSource::Online, Some("pi_1"));
        assert_eq!(
            cancellation(&booking, "u", false, at(1_000), at(1_000)),
            Err(CancelRefusal::EventStarted)
        );
        assert!(cancellation(&booking, "admin", true, at(1_000), at(1_000)).is_ok());
        assert_eq!(
            cancellation(&booking, "someone", false, at(2_000), at(1_000)),
            Err(CancelRefusal::NotOwner)
        );
    }

    #[test]
    fn cancelling_again_answers_the_same_and_a_hold_is_not_cancelled() {
        let refunded = Booking {
            status: BookingStatus::Refunded,
            refund_status: Some(RefundStatus::Pending),
            ..confirmed(BookingSource::Online, Some("pi_1"))
        };
        assert_eq!(
            cancellation(&refunded, "u", false, at(2_000), at(1_000)),
            Ok(Cancellation::AlreadyCancelled)
        );
        assert_eq!(
            cancellation(&Booking::example(), "u", false, at(2_000), at(1_000)),
            Err(CancelRefusal::NotConfirmed(BookingStatus::Held))
        );
    }

    #[test]
    fn a_booking_paid_from_the_wallet_alone_is_refunded_without_a_card_refund() {
        let booking = Booking {
            paid_wallet_cents: Some(100),
            paid_card_cents: Some(0),
            ..confirmed(BookingSource::Online, None)
        };
        assert_eq!(
            cancellation(&booking, "u", false, at(2_000), at(1_000)),
            Ok(Cancellation::Cancel {
                to: BookingStatus::Refunded,
                reason: "cancelled_by_holder",
                refund: None,
            })
        );
        let refunded = Booking {
            status: BookingStatus::Refunded,
            ..booking
        };
        assert_eq!(
            cancellation(&refunded, "u", false, at(2_000), at(1_000)),
            Ok(Cancellation::AlreadyCancelled)
        );
    }

    #[test]
    fn booking_json_uses_the_contract_names() {
        let json = serde_json::to_value(held(Duration::minutes(10))).unwrap();
        assert_eq!(json["status"], "held");
        assert_eq!(json["source"], "online");
        assert!(json.get("allocations").is_none());
        assert!(json["hold_expires_at"].is_string());
    }
}
