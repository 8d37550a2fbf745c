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
