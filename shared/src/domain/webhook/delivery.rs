//! Endpoints and deliveries as plain records, and how an attempt moves a
//! delivery on. The body is rendered once, when the delivery is recorded,
//! so every attempt sends the same bytes under the same `webhook-id`.

use serde::Serialize;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;

use super::retry::{Attempt, Next, RetrySchedule};
use super::{DeliveryStatus, EventType, Format, Subscription};

/// A registered endpoint. `secret` is the Standard Webhooks signing
/// secret (none for Discord, which signs nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    pub events: Subscription,
    pub format: Format,
    pub description: Option<String>,
    pub secret: Option<String>,
    pub created_at: OffsetDateTime,
}

/// One event on its way to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The `webhook-id`: the same on every attempt.
    pub id: String,
    pub endpoint_id: String,
    pub event_type: EventType,
    pub body: String,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    pub last_status_code: Option<u16>,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

/// A delivery's id, derived from what caused it (a stream record's id, a
/// ping's id) and the endpoint, so recording it twice records it once.
pub fn delivery_id(endpoint_id: &str, cause: &str) -> String {
    let digest = Sha256::digest(format!("{endpoint_id}.{cause}").as_bytes());
    format!("msg_{}", hex::encode(&digest[..16]))
}

/// A delivery recorded now, due at once.
pub fn new_delivery(
    endpoint: &Endpoint,
    cause: &str,
    event_type: EventType,
    body: String,
    now: OffsetDateTime,
) -> Delivery {
    Delivery {
        id: delivery_id(&endpoint.id, cause),
        endpoint_id: endpoint.id.clone(),
        event_type,
        body,
        status: DeliveryStatus::Pending,
        attempts: 0,
        last_status_code: None,
        next_attempt_at: Some(now),
        created_at: now,
    }
}

/// What an attempt changes on its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptRecord {
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub last_status_code: Option<u16>,
    pub next_attempt_at: Option<OffsetDateTime>,
}

impl Delivery {
    /// Is an attempt due at `now`? Only pending deliveries are attempted.
    pub fn due(&self, now: OffsetDateTime) -> bool {
        self.status == DeliveryStatus::Pending && self.next_attempt_at.is_none_or(|at| at <= now)
    }

    /// The delivery after one more attempt came to `attempt` at `now`.
    pub fn after(
        &self,
        attempt: Attempt,
        schedule: &RetrySchedule,
        now: OffsetDateTime,
    ) -> AttemptRecord {
        let attempts = self.attempts + 1;
        let (status, next_attempt_at) = match schedule.next(attempts, attempt) {
            Next::Delivered => (DeliveryStatus::Delivered, None),
            Next::Failed => (DeliveryStatus::Failed, None),
            Next::RetryIn(wait) => (
                DeliveryStatus::Pending,
                Some(now + Duration::try_from(wait).unwrap_or(Duration::MAX)),
            ),
        };
        AttemptRecord {
            status,
            attempts,
            last_status_code: attempt.status(),
            next_attempt_at,
        }
    }
}

/// A delivery as `GET /v1/admin/webhooks/{id}/deliveries` lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: String,
    pub event_type: EventType,
    pub status: DeliveryStatus,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status_code: Option<u16>,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.id,
            event_type: d.event_type,
            status: d.status,
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            next_attempt_at: d.next_attempt_at,
            created_at: d.created_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2027-01-01 10:00 UTC);

    fn endpoint() -> Endpoint {
        Endpoint {
            id: "wh1".into(),
            url: "https://hooks.example.com/".into(),
            events: Subscription::All,
            format: Format::Standard,
            description: None,
            secret: Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
            created_at: NOW,
        }
    }

    fn delivery() -> Delivery {
        new_delivery(
            &endpoint(),
            "record-1",
            EventType::BookingConfirmed,
            "{}".into(),
            NOW,
        )
    }

    #[test]
    fn the_same_cause_gives_the_same_delivery_id_per_endpoint() {
        assert_eq!(delivery_id("wh1", "r1"), delivery_id("wh1", "r1"));
        assert_ne!(delivery_id("wh1", "r1"), delivery_id("wh2", "r1"));
        assert_ne!(delivery_id("wh1", "r1"), delivery_id("wh1", "r2"));
        assert!(delivery_id("wh1", "r1").starts_with("msg_"));
    }

    #[test]
    fn a_failed_attempt_waits_its_step_and_a_2xx_delivers() {
        let schedule = RetrySchedule::parse("2,4").unwrap();
        let failed = Attempt::Refused {
            status: 500,
            retry_after: None,
        };
        let first = delivery().after(failed, &schedule, NOW);
        assert_eq!(first.status, DeliveryStatus::Pending);
        assert_eq!(first.attempts, 1);
        assert_eq!(first.last_status_code, Some(500));
        assert_eq!(first.next_attempt_at, Some(NOW + Duration::seconds(2)));

        let delivered = delivery().after(Attempt::Delivered { status: 200 }, &schedule, NOW);
        assert_eq!(delivered.status, DeliveryStatus::Delivered);
        assert_eq!(delivered.next_attempt_at, None);
    }

    #[test]
    fn the_last_failed_attempt_fails_the_delivery() {
        let schedule = RetrySchedule::parse("2").unwrap();
        let mut d = delivery();
        d.attempts = 1;
        let last = d.after(Attempt::Unreachable, &schedule, NOW);
        assert_eq!(last.status, DeliveryStatus::Failed);
        assert_eq!(last.attempts, 2);
        assert_eq!(last.last_status_code, None);
    }

    #[test]
    fn only_pending_deliveries_whose_time_came_are_due() {
        let mut d = delivery();
        assert!(d.due(NOW));
        d.next_attempt_at = Some(NOW + Duration::seconds(1));
        assert!(!d.due(NOW));
        d.next_attempt_at = None;
        d.status = DeliveryStatus::Failed;
        assert!(!d.due(NOW));
    }
}
