//! Scheduled work: what EventBridge Scheduler hands the scheduler function,
//! and how a one-time publish schedule is named and timed.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;

/// The scheduler function's input: a one-time publish schedule sends
/// `{"publish": {...}}`, the every-minute sweep sends `{"sweep": {}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ScheduledJob {
    Publish(PublishOrder),
    Sweep {},
}

/// Publish `event_id`, if it is still scheduled for exactly `publish_at`
/// (a moved schedule's old order then does nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishOrder {
    pub event_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub publish_at: OffsetDateTime,
}

/// One schedule per event, so scheduling again moves it.
pub fn publish_schedule_name(event_id: &str) -> String {
    format!("publish-{event_id}")
}

/// A one-time schedule expression in UTC: `at(2030-01-01T12:00:00)`.
pub fn at_expression(publish_at: OffsetDateTime) -> String {
    let utc = publish_at.to_offset(time::UtcOffset::UTC);
    let text = utc
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]"
        ))
        .unwrap_or_default();
    format!("at({text})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    #[test]
    fn the_at_expression_is_in_utc_to_the_second() {
        assert_eq!(
            at_expression(datetime!(2030-03-01 19:05:09 +01:00)),
            "at(2030-03-01T18:05:09)"
        );
    }

    #[test]
    fn schedule_names_fit_the_scheduler_limit_of_64_characters() {
        let name = publish_schedule_name("0190d5a4-7b8c-7def-8123-456789abcdef");
        assert_eq!(name, "publish-0190d5a4-7b8c-7def-8123-456789abcdef");
        assert!(name.len() <= 64);
    }

    #[test]
    fn jobs_read_as_the_schedules_send_them() {
        let publish: ScheduledJob = serde_json::from_value(json!({
            "publish": { "event_id": "e1", "publish_at": "2030-01-01T12:00:00Z" }
        }))
        .unwrap();
        assert_eq!(
            publish,
            ScheduledJob::Publish(PublishOrder {
                event_id: "e1".into(),
                publish_at: datetime!(2030-01-01 12:00:00 UTC),
            })
        );
        let sweep: ScheduledJob = serde_json::from_value(json!({ "sweep": {} })).unwrap();
        assert_eq!(sweep, ScheduledJob::Sweep {});
        assert!(serde_json::from_value::<ScheduledJob>(json!({ "other": {} })).is_err());
    }
}
