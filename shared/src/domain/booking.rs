//! Bookings: what a hold, a purchase or a walk-in sale produced.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

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

/// Capacity taken from one open-mode inventory shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub shard: u32,
    pub quantity: u32,
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
    /// Open events: which shards the places came from, to give them back.
    #[serde(skip)]
    pub allocations: Vec<Allocation>,
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

    #[test]
    fn booking_json_uses_the_contract_names() {
        let json = serde_json::to_value(held(Duration::minutes(10))).unwrap();
        assert_eq!(json["status"], "held");
        assert_eq!(json["source"], "online");
        assert!(json.get("allocations").is_none());
        assert!(json["hold_expires_at"].is_string());
    }
}
