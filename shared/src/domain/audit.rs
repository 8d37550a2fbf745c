use serde_json::Value;
use time::OffsetDateTime;

/// Audit entries are kept this long, then expire through the table's TTL.
pub const RETENTION_DAYS: i64 = 400;

/// One administrative change: who did what to which thing, with before/after.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: String,
    pub at: OffsetDateTime,
    pub actor_id: String,
    pub action: &'static str,
    pub target: String,
    pub details: Value,
}

impl AuditEntry {
    pub fn new(
        at: OffsetDateTime,
        actor_id: &str,
        action: &'static str,
        target: String,
        details: Value,
    ) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            at,
            actor_id: actor_id.to_owned(),
            action,
            target,
            details,
        }
    }
}

/// An audit entry as read back (`GET /v1/admin/audit-logs`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    pub actor_id: String,
    pub action: String,
    /// `<kind>:<id>`: `event:…`, `booking:…`, `user:…`, `settings`.
    pub target: String,
    /// What changed, usually `before` and `after`.
    #[schema(value_type = Object)]
    pub details: Value,
}

/// Which entries a reader wants: all of them between `from` and `to`, or
/// only those matching every filter given.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor_id: Option<String>,
    pub target: Option<String>,
}

/// The days whose partitions hold entries between `from` and `to`, newest
/// first, as the `yyyy-mm-dd` of their keys.
pub fn days_newest_first(from: OffsetDateTime, to: OffsetDateTime) -> Vec<String> {
    let utc = |t: OffsetDateTime| t.to_offset(time::UtcOffset::UTC).date();
    let (first, mut day) = (utc(from), utc(to));
    let mut days = Vec::new();
    while day >= first {
        days.push(day.to_string());
        match day.previous_day() {
            Some(previous) => day = previous,
            None => break,
        }
    }
    days
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn days_run_from_the_last_back_to_the_first() {
        assert_eq!(
            days_newest_first(
                datetime!(2026-02-27 23:00 UTC),
                datetime!(2026-03-01 00:10 UTC)
            ),
            ["2026-03-01", "2026-02-28", "2026-02-27"]
        );
    }

    #[test]
    fn no_days_when_the_range_is_reversed() {
        assert!(
            days_newest_first(
                datetime!(2026-03-02 0:00 UTC),
                datetime!(2026-03-01 0:00 UTC)
            )
            .is_empty()
        );
    }
}
