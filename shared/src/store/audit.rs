use time::Duration;

use super::item::{key, n, rfc3339, s};
use super::{Item, keys};
use crate::domain::audit::{AuditEntry, RETENTION_DAYS};

/// The audit entry as an item. It is written in the transaction that makes
/// the change, so no change goes unrecorded and no record describes a change
/// not made.
pub(super) fn audit_item(entry: &AuditEntry) -> Item {
    let at = rfc3339(entry.at);
    let day = at.get(..10).unwrap_or_default().to_owned();
    let (pk, sk) = keys::audit(&day, &at, &entry.id);
    let mut item = key(pk, sk);
    item.extend([
        ("id".into(), s(&entry.id)),
        ("at".into(), s(&at)),
        ("actor_id".into(), s(&entry.actor_id)),
        ("action".into(), s(entry.action)),
        ("target".into(), s(&entry.target)),
        ("details".into(), s(entry.details.to_string())),
        (
            "ttl".into(),
            n((entry.at + Duration::days(RETENTION_DAYS)).unix_timestamp()),
        ),
    ]);
    item
}
