//! Events: the `EVENT#<id>/META` item and the listing on GSI1 (`EVENTS#<status>`, sorted by `<starts_at>#<id>`).
//! Every change is one transaction with its audit entry, conditioned on the
//! `updated_at` it was based on.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use time::OffsetDateTime;

use super::audit::audit_item;
use super::item::{get_n, get_s, get_time, has, key, n, rfc3339, s};
use super::keys::{self, GSI1, GSI1PK, GSI1SK, GSI3, GSI3PK, GSI3SK, PK, SK, epoch_sort_key};
use super::paging::Page;
use super::{Item, Store, StoreError, build_error, classify, condition_failed_at};
use crate::cursor::PageKey;
use crate::domain::audit::AuditEntry;
use crate::domain::event::{self, Event, EventStatus};
use crate::domain::id::is_plausible_id;

/// Set before the first hold (`freeze_sales`); while present, what holds
/// priced from (layout, currency) may not change.
const SALES_STARTED: &str = "sales_started";

/// A change to an event as decided by the domain rules: `after` replaces
/// `before` only if the stored event is still `before`.
pub struct EventChange<'a> {
    pub before: &'a Event,
    pub after: &'a Event,
    pub audit: AuditEntry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSaved {
    Saved,
    /// The event changed since it was read; re-read and decide again.
    Stale,
    /// The layout or currency would change, but something was already held
    /// or sold at the old one.
    LayoutLocked,
}

/// What the events listing asks for; all filters are optional.
#[derive(Debug, Clone, Default)]
pub struct EventQuery<'a> {
    pub status: Option<EventStatus>,
    /// Case-insensitive substring of title, venue or description.
    pub text: Option<&'a str>,
    pub tag: Option<&'a str>,
    /// Events starting at or after this time.
    pub from: Option<OffsetDateTime>,
    /// Events starting at or before this time.
    pub to: Option<OffsetDateTime>,
}

impl Store {
    /// The event, read strongly consistent, with its shard count and whether
    /// sales started. `None` for unknown (or impossible) ids.
    pub async fn event(&self, id: &str) -> Result<Option<Event>, StoreError> {
        self.event_with(id, true).await
    }

    /// The event as an eventually consistent read sees it: for the sell
    /// path's refresh of an event whose sales started, where a second-old
    /// copy is as good (shared::sale) and a large grid's item costs half.
    pub async fn event_eventually(&self, id: &str) -> Result<Option<Event>, StoreError> {
        self.event_with(id, false).await
    }

    async fn event_with(&self, id: &str, consistent: bool) -> Result<Option<Event>, StoreError> {
        if !is_plausible_id(id) {
            return Ok(None);
        }
        self.get_with(keys::event(id), consistent)
            .await?
            .as_ref()
            .map(event_from_item)
            .transpose()
    }

    /// Creates the event and its audit entry in one transaction. Open
    /// layouts' shards are created by the holds that first touch them
    /// (store/inventory.rs).
    pub async fn create_event(&self, event: &Event, audit: &AuditEntry) -> Result<(), StoreError> {
        let mut item = event_key(&event.id);
        item.extend(present(event_attributes(event)?));
        item.extend([
            ("id".into(), s(&event.id)),
            ("created_at".into(), s(rfc3339(event.created_at))),
            ("layout_version".into(), n(1)),
        ]);
        let writes = vec![self.create(item)?, self.create(audit_item(audit))?];
        self.transact(writes).await?;
        Ok(())
    }

    /// Freezes what holds price from (layout, currency) before the first
    /// hold, on condition that the event is still on sale as read. Its own
    /// write, not part of any hold's transaction, so holds never contend on
    /// the event item. `false` when the event changed since it was read.
    pub async fn freeze_sales(&self, event: &Event) -> Result<bool, StoreError> {
        let (pk, sk) = keys::event(&event.id);
        let result = self
            .client
            .update_item()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression("SET #sales_started = :true")
            .condition_expression("#status = :published AND updated_at = :read_at")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#sales_started", SALES_STARTED)
            .expression_attribute_values(":published", s("published"))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":read_at", s(rfc3339(event.updated_at)))
            .send()
            .await
            .map_err(classify);
        super::applied(result)
    }

    /// Replaces the stored `before` with `after` (any field, status
    /// included) and writes the audit entry, in one transaction. A new
    /// layout or currency also needs no sales yet (so no unit or shard was
    /// written: they come with the first hold).
    pub async fn save_event(&self, change: EventChange<'_>) -> Result<EventSaved, StoreError> {
        let EventChange {
            before,
            after,
            audit,
        } = change;
        let relayout = after.sells_differently_from(before);
        let mut writes = vec![self.event_update(before, after, relayout)?];
        // A cancellation owes every confirmed booking its money back: the
        // refund run starts in the same transaction (store/refunds.rs).
        // The marks tell confirmations the event is cancelled
        // (keys::cancelled_mark).
        if after.status == EventStatus::Cancelled && before.status != EventStatus::Cancelled {
            writes.push(self.refund_run_started(&after.id, after.updated_at)?);
            for (pk, sk) in keys::cancelled_marks(&after.id) {
                writes.push(self.create(key(pk, sk))?);
            }
        }
        writes.push(self.create(audit_item(&audit))?);
        match self.transact(writes).await {
            Ok(_) => Ok(EventSaved::Saved),
            Err(StoreError::TransactionCanceled { reasons })
                if condition_failed_at(&reasons, 0) =>
            {
                let sold = reasons
                    .first()
                    .and_then(|reason| reason.item.as_ref())
                    .is_some_and(|old| has(old, SALES_STARTED));
                Ok(if relayout && sold {
                    EventSaved::LayoutLocked
                } else {
                    EventSaved::Stale
                })
            }
            Err(err) => Err(err),
        }
    }

    /// Events of one status (published by default) by start time, filtered;
    /// a Query on GSI1, never a Scan.
    pub async fn list_events(
        &self,
        query: &EventQuery<'_>,
        limit: usize,
        start: Option<PageKey>,
    ) -> Result<Page<Event>, StoreError> {
        let status = query.status.unwrap_or(EventStatus::Published);
        // Stored starts are whole UTC seconds, so the bounds are rounded to
        // whole seconds inward; "~" sorts after every "#<id>" suffix.
        let from = query.from.and_then(event::first_stored_time_from);
        let to = query.to.and_then(event::to_stored_time);
        if query.from.is_some() && from.is_none() || from.zip(to).is_some_and(|(f, t)| f > t) {
            return Ok(Page {
                items: Vec::new(),
                last_key: None,
            });
        }
        let key_condition = match (from, to) {
            (Some(_), Some(_)) => "GSI1PK = :pk AND GSI1SK BETWEEN :from AND :to",
            (Some(_), None) => "GSI1PK = :pk AND GSI1SK >= :from",
            (None, Some(_)) => "GSI1PK = :pk AND GSI1SK <= :to",
            (None, None) => "GSI1PK = :pk",
        };
        // Filter attributes go by name placeholders: SEARCH is a reserved word.
        let filters: Vec<(&str, AttributeValue)> = [
            query.text.map(|text| ("search", s(text.to_lowercase()))),
            query.tag.map(|tag| ("tags", s(tag.to_lowercase()))),
        ]
        .into_iter()
        .flatten()
        .collect();
        let filter_expression = (!filters.is_empty()).then(|| {
            let tests: Vec<String> = filters
                .iter()
                .map(|(name, _)| format!("contains(#{name}, :{name})"))
                .collect();
            tests.join(" AND ")
        });
        let names: Option<HashMap<String, String>> = (!filters.is_empty()).then(|| {
            filters
                .iter()
                .map(|(name, _)| (format!("#{name}"), (*name).to_owned()))
                .collect()
        });
        let mut values =
            HashMap::from([(":pk".to_owned(), s(keys::events_index_pk(status.as_str())))]);
        values.extend(from.map(|t| (":from".to_owned(), s(rfc3339(t)))));
        values.extend(to.map(|t| (":to".to_owned(), s(format!("{}~", rfc3339(t))))));
        values.extend(
            filters
                .into_iter()
                .map(|(name, value)| (format!(":{name}"), value)),
        );
        let request = || {
            self.client
                .query()
                .table_name(self.table_name())
                .index_name(GSI1)
                .key_condition_expression(key_condition)
                .set_filter_expression(filter_expression.clone())
                .set_expression_attribute_names(names.clone())
                .set_expression_attribute_values(Some(values.clone()))
        };
        self.query_page(
            request,
            &[PK, SK, GSI1PK, GSI1SK],
            limit,
            start,
            event_from_item,
        )
        .await
    }

    /// Scheduled events whose publish time has come (the sweep's backstop
    /// for a lost schedule): a Query of the sparse GSI3 `PUBLISHING`
    /// partition, which holds only scheduled events.
    pub async fn due_scheduled_events(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<Event>, StoreError> {
        let items = self.due_in_index(GSI3, keys::PUBLISHING_PK, now).await?;
        items.iter().map(event_from_item).collect()
    }

    /// The META update: every attribute `after` defines, on condition that
    /// the item is still the `before` we read.
    fn event_update(
        &self,
        before: &Event,
        after: &Event,
        relayout: bool,
    ) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = keys::event(&before.id);
        let mut update = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_values(":read_at", s(rfc3339(before.updated_at)))
            // On failure, the old item tells a lost race from locked sales.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let mut set = Vec::new();
        let mut remove = Vec::new();
        for (i, (name, value)) in event_attributes(after)?.into_iter().enumerate() {
            let (alias, placeholder) = (format!("#a{i}"), format!(":a{i}"));
            update = update.expression_attribute_names(&alias, name);
            match value {
                Some(value) => {
                    set.push(format!("{alias} = {placeholder}"));
                    update = update.expression_attribute_values(placeholder, value);
                }
                None => remove.push(alias),
            }
        }
        let mut condition = "#updated_at = :read_at".to_owned();
        if relayout {
            set.push("layout_version = layout_version + :one".into());
            update = update
                .expression_attribute_names("#sales_started", SALES_STARTED)
                .expression_attribute_values(":one", n(1));
            condition.push_str(" AND attribute_not_exists(#sales_started)");
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let update = update
            .update_expression(expression)
            .condition_expression(condition)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

fn event_key(id: &str) -> Item {
    let (pk, sk) = keys::event(id);
    key(pk, sk)
}

/// The attributes an event change may set; `None` means removed. Keys,
/// `id`, `created_at`, `layout_version` and `sales_started` are not here:
/// they are written once (or by holds) and never replaced.
fn event_attributes(
    event: &Event,
) -> Result<Vec<(&'static str, Option<AttributeValue>)>, StoreError> {
    let starts_at = rfc3339(event.starts_at);
    let layout = serde_json::to_string(&event.layout)
        .map_err(|e| StoreError::Service(format!("encoding layout: {e}")))?;
    let search = [&event.title, &event.venue, &event.description]
        .map(|text| text.to_lowercase())
        .join("\n");
    // Only scheduled events are in the publishing index.
    let publishing = match (event.status, event.publish_at) {
        (EventStatus::Scheduled, Some(at)) => Some(format!(
            "{}#{}",
            epoch_sort_key(at.unix_timestamp()),
            event.id
        )),
        _ => None,
    };
    Ok(vec![
        ("title", Some(s(&event.title))),
        ("description", Some(s(&event.description))),
        ("venue", Some(s(&event.venue))),
        ("starts_at", Some(s(&starts_at))),
        ("ends_at", Some(s(rfc3339(event.ends_at)))),
        ("timezone", Some(s(&event.timezone))),
        ("status", Some(s(event.status.as_str()))),
        ("publish_at", event.publish_at.map(|t| s(rfc3339(t)))),
        (
            "tags",
            Some(AttributeValue::L(event.tags.iter().map(s).collect())),
        ),
        ("image_url", event.image_url.as_ref().map(s)),
        ("image_key", event.image_key.as_ref().map(s)),
        ("currency", Some(s(&event.currency))),
        ("max_per_booking", Some(n(event.max_per_booking.into()))),
        ("layout", Some(s(layout))),
        ("shard_count", Some(n(event.shard_count.into()))),
        ("search", Some(s(search))),
        ("updated_at", Some(s(rfc3339(event.updated_at)))),
        (
            GSI1PK,
            Some(s(keys::events_index_pk(event.status.as_str()))),
        ),
        (GSI1SK, Some(s(format!("{starts_at}#{}", event.id)))),
        (GSI3PK, publishing.as_ref().map(|_| s(keys::PUBLISHING_PK))),
        (GSI3SK, publishing.map(s)),
    ])
}

/// The attributes that have a value, as item entries.
fn present(
    attributes: Vec<(&'static str, Option<AttributeValue>)>,
) -> impl Iterator<Item = (String, AttributeValue)> {
    attributes
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_owned(), value?)))
}

pub(super) fn event_from_item(item: &Item) -> Result<Event, StoreError> {
    let status = get_s(item, "status")?;
    let layout = serde_json::from_str(get_s(item, "layout")?)
        .map_err(|e| StoreError::Corrupt(format!("layout: {e}")))?;
    let tags = match item.get("tags") {
        Some(AttributeValue::L(tags)) => tags
            .iter()
            .map(|tag| tag.as_s().cloned())
            .collect::<Result<_, _>>()
            .map_err(|_| StoreError::Corrupt("tags holds a non-string".into()))?,
        _ => return Err(StoreError::Corrupt("missing list attribute tags".into())),
    };
    let count = |name| {
        u32::try_from(get_n(item, name)?)
            .map_err(|_| StoreError::Corrupt(format!("{name} is out of range")))
    };
    Ok(Event {
        id: get_s(item, "id")?.to_owned(),
        title: get_s(item, "title")?.to_owned(),
        description: get_s(item, "description")?.to_owned(),
        venue: get_s(item, "venue")?.to_owned(),
        starts_at: get_time(item, "starts_at")?,
        ends_at: get_time(item, "ends_at")?,
        timezone: get_s(item, "timezone")?.to_owned(),
        status: EventStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown event status {status}")))?,
        publish_at: has(item, "publish_at")
            .then(|| get_time(item, "publish_at"))
            .transpose()?,
        tags,
        image_url: has(item, "image_url")
            .then(|| get_s(item, "image_url").map(str::to_owned))
            .transpose()?,
        image_key: has(item, "image_key")
            .then(|| get_s(item, "image_key").map(str::to_owned))
            .transpose()?,
        currency: get_s(item, "currency")?.to_owned(),
        max_per_booking: count("max_per_booking")?,
        layout,
        created_at: get_time(item, "created_at")?,
        updated_at: get_time(item, "updated_at")?,
        shard_count: count("shard_count")?,
        sales_started: item
            .get(SALES_STARTED)
            .is_some_and(|v| matches!(v, AttributeValue::Bool(true))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::NewEvent;
    use serde_json::json;
    use time::macros::datetime;

    fn event(layout: serde_json::Value) -> Event {
        let body = json!({
            "title": "Gala", "description": "A Night", "venue": "Hall",
            "starts_at": "2030-02-01T19:00:00Z", "ends_at": "2030-02-01T23:00:00Z",
            "timezone": "UTC", "tags": ["jazz"], "image_url": "https://img.example.com/a.png",
            "currency": "usd", "layout": layout,
        });
        serde_json::from_value::<NewEvent>(body)
            .unwrap()
            .into_event("e1".into(), datetime!(2030-01-01 00:00:00.123456 UTC), 10)
            .unwrap()
    }

    fn item(event: &Event) -> Item {
        let mut item = event_key(&event.id);
        item.extend(present(event_attributes(event).unwrap()));
        item.extend([
            ("id".into(), s(&event.id)),
            ("created_at".into(), s(rfc3339(event.created_at))),
        ]);
        item
    }

    #[test]
    fn an_event_reads_back_as_written() {
        let event = event(json!({ "mode": "open", "capacity": 120, "price_cents": 2500 }));
        assert_eq!(event_from_item(&item(&event)).unwrap(), event);
    }

    #[test]
    fn the_listing_key_sorts_by_start_then_id() {
        let item = item(&event(
            json!({ "mode": "open", "capacity": 1, "price_cents": 0 }),
        ));
        assert_eq!(get_s(&item, GSI1PK).unwrap(), "EVENTS#draft");
        assert_eq!(get_s(&item, GSI1SK).unwrap(), "2030-02-01T19:00:00Z#e1");
        assert_eq!(get_s(&item, "search").unwrap(), "gala\nhall\na night");
    }

    #[test]
    fn only_a_scheduled_event_is_in_the_publishing_index() {
        let draft = event(json!({ "mode": "open", "capacity": 1, "price_cents": 0 }));
        assert!(!item(&draft).contains_key(GSI3PK));
        let mut scheduled = draft.with_status(EventStatus::Scheduled, draft.updated_at);
        scheduled.publish_at = Some(datetime!(2030-01-15 10:00:00 UTC));
        let item = item(&scheduled);
        assert_eq!(get_s(&item, GSI3PK).unwrap(), "PUBLISHING");
        assert_eq!(get_s(&item, GSI3SK).unwrap(), "001894701600#e1");
        let attributes =
            event_attributes(&scheduled.with_status(EventStatus::Published, scheduled.updated_at))
                .unwrap();
        assert!(
            attributes
                .iter()
                .any(|(name, value)| *name == GSI3PK && value.is_none())
        );
    }

    #[test]
    fn sales_started_is_read_from_the_holds_flag() {
        let event = event(json!({ "mode": "open", "capacity": 1, "price_cents": 0 }));
        let mut item = item(&event);
        assert!(!event_from_item(&item).unwrap().sales_started);
        item.insert(SALES_STARTED.into(), AttributeValue::Bool(true));
        assert!(event_from_item(&item).unwrap().sales_started);
    }
}
