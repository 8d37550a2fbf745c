//! Outbound webhooks: what an endpoint subscribes to, how a delivery moves
//! between states, and the rules of the parts (`address`, `signature`,
//! `retry`, `changes`, `sold_out`, `body`). Plain types and functions, no I/O
//! (docs/webhooks.md).

pub mod address;
pub mod body;
pub mod changes;
pub mod delivery;
pub mod retry;
pub mod signature;
pub mod sold_out;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What happened. Raising a new type is a variant here plus its name in
/// `as_str`, and a rule in `changes` (or a direct `Raised` from the code
/// that knows it happened). The `task.*` types are subscribable now so
/// endpoints registered today receive them once tasks raise them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum EventType {
    #[serde(rename = "booking.confirmed")]
    BookingConfirmed,
    #[serde(rename = "booking.cancelled")]
    BookingCancelled,
    #[serde(rename = "booking.refunded")]
    BookingRefunded,
    #[serde(rename = "event.published")]
    EventPublished,
    #[serde(rename = "event.cancelled")]
    EventCancelled,
    #[serde(rename = "event.sold_out")]
    EventSoldOut,
    #[serde(rename = "checkin.admitted")]
    CheckinAdmitted,
    #[serde(rename = "task.created")]
    TaskCreated,
    #[serde(rename = "task.updated")]
    TaskUpdated,
    #[serde(rename = "task.assigned")]
    TaskAssigned,
    #[serde(rename = "task.mentioned")]
    TaskMentioned,
    /// Sent by `POST /v1/admin/webhooks/{id}/test` only; no subscription needed.
    #[serde(rename = "ping")]
    Ping,
}

impl EventType {
    /// Every type an endpoint may subscribe to.
    pub const SUBSCRIBABLE: [EventType; 11] = [
        Self::BookingConfirmed,
        Self::BookingCancelled,
        Self::BookingRefunded,
        Self::EventPublished,
        Self::EventCancelled,
        Self::EventSoldOut,
        Self::CheckinAdmitted,
        Self::TaskCreated,
        Self::TaskUpdated,
        Self::TaskAssigned,
        Self::TaskMentioned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BookingConfirmed => "booking.confirmed",
            Self::BookingCancelled => "booking.cancelled",
            Self::BookingRefunded => "booking.refunded",
            Self::EventPublished => "event.published",
            Self::EventCancelled => "event.cancelled",
            Self::EventSoldOut => "event.sold_out",
            Self::CheckinAdmitted => "checkin.admitted",
            Self::TaskCreated => "task.created",
            Self::TaskUpdated => "task.updated",
            Self::TaskAssigned => "task.assigned",
            Self::TaskMentioned => "task.mentioned",
            Self::Ping => "ping",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::SUBSCRIBABLE
            .into_iter()
            .chain([Self::Ping])
            .find(|t| t.as_str() == name)
    }
}

/// How deliveries to an endpoint are shaped and signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Standard Webhooks: `{type, timestamp, data}`, signed.
    Standard,
    /// Discord's webhook body: `{content, embeds}`.
    Discord,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Discord => "discord",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::Standard, Self::Discord]
            .into_iter()
            .find(|f| f.as_str() == name)
    }
}

/// The event types an endpoint wants: some, or all (`["*"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    All,
    Only(Vec<EventType>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionError {
    #[error("events must name at least one event type, or \"*\"")]
    Empty,
    #[error("unknown event type {0:?}")]
    Unknown(String),
}

impl Subscription {
    /// `["*"]` or known, subscribable type names (duplicates dropped).
    pub fn parse(names: &[String]) -> Result<Self, SubscriptionError> {
        if names.is_empty() {
            return Err(SubscriptionError::Empty);
        }
        if names.iter().any(|n| n == "*") {
            return Ok(Self::All);
        }
        let mut types = Vec::new();
        for name in names {
            let t = EventType::parse(name)
                .filter(|t| *t != EventType::Ping)
                .ok_or_else(|| SubscriptionError::Unknown(name.clone()))?;
            if !types.contains(&t) {
                types.push(t);
            }
        }
        Ok(Self::Only(types))
    }

    /// A ping goes to whoever asked for it, whatever they subscribe to.
    pub fn wants(&self, event_type: EventType) -> bool {
        match self {
            Self::All => true,
            Self::Only(types) => event_type == EventType::Ping || types.contains(&event_type),
        }
    }

    /// As stored and shown: `["*"]` or the type names.
    pub fn names(&self) -> Vec<String> {
        match self {
            Self::All => vec!["*".into()],
            Self::Only(types) => types.iter().map(|t| t.as_str().to_owned()).collect(),
        }
    }
}

/// Where a delivery stands. `pending` until it is delivered or its last
/// attempt failed; a failed delivery goes back to pending only by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_star_subscribes_to_everything() {
        let all = Subscription::parse(&names(&["booking.confirmed", "*"])).unwrap();
        assert_eq!(all, Subscription::All);
        assert!(all.wants(EventType::CheckinAdmitted));
    }

    #[test]
    fn unknown_or_no_event_types_are_refused() {
        assert_eq!(
            Subscription::parse(&names(&["booking.paid"])),
            Err(SubscriptionError::Unknown("booking.paid".into()))
        );
        assert_eq!(Subscription::parse(&[]), Err(SubscriptionError::Empty));
        assert!(Subscription::parse(&names(&["ping"])).is_err());
    }

    #[test]
    fn a_subscription_wants_its_types_and_pings_only() {
        let some =
            Subscription::parse(&names(&["booking.confirmed", "booking.confirmed"])).unwrap();
        assert_eq!(some.names(), names(&["booking.confirmed"]));
        assert!(some.wants(EventType::BookingConfirmed));
        assert!(some.wants(EventType::Ping));
        assert!(!some.wants(EventType::BookingRefunded));
    }

    #[test]
    fn every_type_name_parses_back() {
        for t in EventType::SUBSCRIBABLE.into_iter().chain([EventType::Ping]) {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }
}
