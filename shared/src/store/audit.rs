use time::{Duration, OffsetDateTime};

use super::item::{get_s, get_time, key, n, rfc3339, s, second_bounds};
use super::paging::{Page, with_equality_filters};
use super::{Item, Store, StoreError, keys};
use crate::cursor::PageKey;
use crate::domain::audit::{
    AuditEntry, AuditFilter, AuditRecord, RETENTION_DAYS, days_newest_first,
};

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

impl Store {
    /// Entries between `from` and `to` (to the second, both included),
    /// newest first: a Query per day's partition, newest day first, the
    /// filters applied by DynamoDB, until the page is full. `start` is the
    /// key of the last entry of the previous page.
    pub async fn audit_log(
        &self,
        filter: &AuditFilter,
        from: OffsetDateTime,
        to: OffsetDateTime,
        limit: usize,
        mut start: Option<PageKey>,
    ) -> Result<Page<AuditRecord>, StoreError> {
        let (lowest, highest) = second_bounds(from, to);
        let resume_day = start
            .as_ref()
            .and_then(|key| key.get(keys::SK)?.get(..10).map(str::to_owned));
        let mut items = Vec::with_capacity(limit);
        for day in days_newest_first(from, to) {
            if resume_day.as_ref().is_some_and(|resume| day > *resume) {
                continue;
            }
            let pk = keys::audit_day(&day);
            let request = || {
                let request = self
                    .client
                    .query()
                    .table_name(self.table_name())
                    .key_condition_expression("PK = :pk AND SK BETWEEN :lowest AND :highest")
                    .expression_attribute_values(":pk", s(&pk))
                    .expression_attribute_values(":lowest", s(&lowest))
                    .expression_attribute_values(":highest", s(&highest))
                    .scan_index_forward(false);
                with_equality_filters(
                    request,
                    Vec::new(),
                    &[
                        ("action", filter.action.as_deref()),
                        ("actor_id", filter.actor_id.as_deref()),
                        ("target", filter.target.as_deref()),
                    ],
                )
            };
            let page = self
                .query_page(
                    request,
                    &[keys::PK, keys::SK],
                    limit - items.len(),
                    start.take(),
                    record_from_item,
                )
                .await?;
            items.extend(page.items);
            if items.len() == limit {
                return Ok(Page {
                    items,
                    last_key: page.last_key,
                });
            }
        }
        Ok(Page {
            items,
            last_key: None,
        })
    }
}

fn record_from_item(item: &Item) -> Result<AuditRecord, StoreError> {
    let details = get_s(item, "details")?;
    Ok(AuditRecord {
        id: get_s(item, "id")?.to_owned(),
        at: get_time(item, "at")?,
        actor_id: get_s(item, "actor_id")?.to_owned(),
        action: get_s(item, "action")?.to_owned(),
        target: get_s(item, "target")?.to_owned(),
        details: serde_json::from_str(details)
            .map_err(|e| StoreError::Corrupt(format!("audit details are not JSON: {e}")))?,
    })
}
