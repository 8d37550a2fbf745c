//! Webhook endpoints and their deliveries. An admin's change is one
//! transaction with its audit entry; a delivery is created once (its id
//! comes from its cause, `attribute_not_exists`) and moved on only from
//! the state its attempt read (`status = pending AND attempts = :made`).

use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use time::{Duration, OffsetDateTime};

use super::audit::audit_item;
use super::item::{get_n, get_s, get_time, has, key, n, rfc3339, s};
use super::keys::{self, GSI1, GSI1PK, GSI1SK, PK, SK, WEBHOOKS_INDEX_PK};
use super::paging::Page;
use super::{
    Item, Store, StoreError, applied, build_error, classify, every_item, transaction_applied,
};
use crate::cursor::PageKey;
use crate::domain::audit::AuditEntry;
use crate::domain::webhook::delivery::{AttemptRecord, Delivery, Endpoint};
use crate::domain::webhook::{DeliveryStatus, EventType, Format, Subscription};

/// What recording a delivery with a fixed id came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded by this call.
    Now,
    /// Recorded before, by this stream record (`None`: by none named).
    Before { raised_by: Option<String> },
}

/// Deliveries are kept this long, then expire through the table's TTL.
const DELIVERY_RETENTION_DAYS: i64 = 30;

impl Store {
    /// Registers `endpoint`, with its audit entry.
    pub async fn create_webhook_endpoint(
        &self,
        endpoint: &Endpoint,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        self.transact(vec![
            self.create(endpoint_item(endpoint))?,
            self.create(audit_item(audit))?,
        ])
        .await
        .map(|_| ())
    }

    /// Every endpoint, oldest first (one GSI1 partition of a handful).
    pub async fn webhook_endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        every_item(
            self.client
                .query()
                .table_name(self.table_name())
                .index_name(GSI1)
                .key_condition_expression("GSI1PK = :pk")
                .expression_attribute_values(":pk", s(WEBHOOKS_INDEX_PK)),
        )
        .await?
        .iter()
        .map(endpoint_from_item)
        .collect()
    }

    pub async fn webhook_endpoint(&self, id: &str) -> Result<Option<Endpoint>, StoreError> {
        self.get(keys::webhook_endpoint(id))
            .await?
            .as_ref()
            .map(endpoint_from_item)
            .transpose()
    }

    /// Removes the endpoint, with its audit entry; `false` when there was
    /// none. Its deliveries stay listed until they expire; the deliverer
    /// sends nothing more to it.
    pub async fn delete_webhook_endpoint(
        &self,
        id: &str,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = keys::webhook_endpoint(id);
        let delete = Delete::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .condition_expression("attribute_exists(PK)")
            .build()
            .map_err(build_error)?;
        transaction_applied(
            self.transact(vec![
                TransactWriteItem::builder().delete(delete).build(),
                self.create(audit_item(audit))?,
            ])
            .await,
        )
    }

    /// Records a delivery; `false` when it was recorded before (a replayed
    /// stream record, a repeated request).
    pub async fn record_delivery(&self, delivery: &Delivery) -> Result<bool, StoreError> {
        applied(
            self.client
                .put_item()
                .table_name(self.table_name())
                .set_item(Some(delivery_item(delivery)))
                .condition_expression("attribute_not_exists(PK)")
                .send()
                .await
                .map_err(classify),
        )
    }

    /// Records a delivery whose id is fixed whatever raised it (an event's
    /// `event.sold_out`), noting the stream record that raised it; when it
    /// was recorded before, says by which record (the old item comes back
    /// with the failed condition), so a replay of that record can be told
    /// from a later one.
    pub async fn record_delivery_raised_by(
        &self,
        delivery: &Delivery,
        raised_by: &str,
    ) -> Result<Recorded, StoreError> {
        let mut item = delivery_item(delivery);
        item.insert("raised_by".into(), s(raised_by));
        let put = self
            .client
            .put_item()
            .table_name(self.table_name())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await
            .map_err(classify);
        match put {
            Ok(_) => Ok(Recorded::Now),
            Err(StoreError::ConditionFailed { item }) => Ok(Recorded::Before {
                raised_by: item
                    .as_ref()
                    .and_then(|item| get_s(item, "raised_by").ok())
                    .map(str::to_owned),
            }),
            Err(err) => Err(err),
        }
    }

    /// Records an admin's delivery (a ping), with its audit entry.
    pub async fn record_delivery_audited(
        &self,
        delivery: &Delivery,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        self.transact(vec![
            self.create(delivery_item(delivery))?,
            self.create(audit_item(audit))?,
        ])
        .await
        .map(|_| ())
    }

    pub async fn webhook_delivery(&self, id: &str) -> Result<Option<Delivery>, StoreError> {
        self.get(keys::webhook_delivery(id))
            .await?
            .as_ref()
            .map(delivery_from_item)
            .transpose()
    }

    /// An endpoint's deliveries, newest first.
    pub async fn webhook_deliveries(
        &self,
        endpoint_id: &str,
        limit: usize,
        start: Option<PageKey>,
    ) -> Result<Page<Delivery>, StoreError> {
        let pk = keys::webhook_deliveries_pk(endpoint_id);
        let request = || {
            self.client
                .query()
                .table_name(self.table_name())
                .index_name(GSI1)
                .key_condition_expression("GSI1PK = :pk")
                .expression_attribute_values(":pk", s(&pk))
                .scan_index_forward(false)
        };
        self.query_page(
            request,
            &[PK, SK, GSI1PK, GSI1SK],
            limit,
            start,
            delivery_from_item,
        )
        .await
    }

    /// Writes what an attempt came to; `false` when another attempt of the
    /// same delivery was recorded first (a duplicate message).
    pub async fn record_attempt(
        &self,
        delivery: &Delivery,
        record: &AttemptRecord,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = keys::webhook_delivery(&delivery.id);
        let mut set = vec!["#status = :status", "attempts = :attempts"];
        let mut remove = Vec::new();
        let mut request = self
            .client
            .update_item()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(record.status.as_str()))
            .expression_attribute_values(":attempts", n(record.attempts.into()))
            .expression_attribute_values(":pending", s(DeliveryStatus::Pending.as_str()))
            .expression_attribute_values(":made", n(delivery.attempts.into()));
        match record.last_status_code {
            Some(code) => {
                set.push("last_status_code = :code");
                request = request.expression_attribute_values(":code", n(code.into()));
            }
            None => remove.push("last_status_code"),
        }
        match record.next_attempt_at {
            Some(at) => {
                set.push("next_attempt_at = :next");
                request = request.expression_attribute_values(":next", s(rfc3339(at)));
            }
            None => remove.push("next_attempt_at"),
        }
        let mut update = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            update.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        applied(
            request
                .update_expression(update)
                .condition_expression("#status = :pending AND attempts = :made")
                .send()
                .await
                .map_err(classify),
        )
    }

    /// Puts a failed delivery back to pending, due at `now`, with its audit
    /// entry; `false` when it was not failed (any more).
    pub async fn retry_delivery(
        &self,
        delivery: &Delivery,
        now: OffsetDateTime,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = keys::webhook_delivery(&delivery.id);
        let update = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression("SET #status = :pending, next_attempt_at = :now")
            .condition_expression("#status = :failed AND attempts = :made")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s(DeliveryStatus::Pending.as_str()))
            .expression_attribute_values(":failed", s(DeliveryStatus::Failed.as_str()))
            .expression_attribute_values(":made", n(delivery.attempts.into()))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .build()
            .map_err(build_error)?;
        transaction_applied(
            self.transact(vec![
                TransactWriteItem::builder().update(update).build(),
                self.create(audit_item(audit))?,
            ])
            .await,
        )
    }
}

fn endpoint_item(endpoint: &Endpoint) -> Item {
    let (pk, sk) = keys::webhook_endpoint(&endpoint.id);
    let created_at = rfc3339(endpoint.created_at);
    let mut item = key(pk, sk);
    item.extend([
        ("id".into(), s(&endpoint.id)),
        ("url".into(), s(&endpoint.url)),
        (
            "events".into(),
            AttributeValue::L(endpoint.events.names().into_iter().map(s).collect()),
        ),
        ("format".into(), s(endpoint.format.as_str())),
        ("created_at".into(), s(&created_at)),
        (GSI1PK.into(), s(WEBHOOKS_INDEX_PK)),
        (GSI1SK.into(), s(format!("{created_at}#{}", endpoint.id))),
    ]);
    for (name, value) in [
        ("description", &endpoint.description),
        ("secret", &endpoint.secret),
    ] {
        if let Some(value) = value {
            item.insert(name.into(), s(value));
        }
    }
    item
}

fn endpoint_from_item(item: &Item) -> Result<Endpoint, StoreError> {
    let names: Vec<String> = item
        .get("events")
        .and_then(|v| v.as_l().ok())
        .ok_or_else(|| StoreError::Corrupt("missing list attribute events".into()))?
        .iter()
        .filter_map(|v| v.as_s().ok().cloned())
        .collect();
    let format = get_s(item, "format")?;
    let optional = |name: &str| {
        has(item, name)
            .then(|| get_s(item, name).map(str::to_owned))
            .transpose()
    };
    Ok(Endpoint {
        id: get_s(item, "id")?.to_owned(),
        url: get_s(item, "url")?.to_owned(),
        events: Subscription::parse(&names)
            .map_err(|e| StoreError::Corrupt(format!("webhook events: {e}")))?,
        format: Format::parse(format)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown webhook format {format}")))?,
        description: optional("description")?,
        secret: optional("secret")?,
        created_at: get_time(item, "created_at")?,
    })
}

fn delivery_item(delivery: &Delivery) -> Item {
    let (pk, sk) = keys::webhook_delivery(&delivery.id);
    let created_at = rfc3339(delivery.created_at);
    let mut item = key(pk, sk);
    item.extend([
        ("id".into(), s(&delivery.id)),
        ("endpoint_id".into(), s(&delivery.endpoint_id)),
        ("event_type".into(), s(delivery.event_type.as_str())),
        ("body".into(), s(&delivery.body)),
        ("status".into(), s(delivery.status.as_str())),
        ("attempts".into(), n(delivery.attempts.into())),
        ("created_at".into(), s(&created_at)),
        (
            GSI1PK.into(),
            s(keys::webhook_deliveries_pk(&delivery.endpoint_id)),
        ),
        (GSI1SK.into(), s(format!("{created_at}#{}", delivery.id))),
        (
            "ttl".into(),
            n((delivery.created_at + Duration::days(DELIVERY_RETENTION_DAYS)).unix_timestamp()),
        ),
    ]);
    if let Some(at) = delivery.next_attempt_at {
        item.insert("next_attempt_at".into(), s(rfc3339(at)));
    }
    if let Some(code) = delivery.last_status_code {
        item.insert("last_status_code".into(), n(code.into()));
    }
    item
}

fn delivery_from_item(item: &Item) -> Result<Delivery, StoreError> {
    let event_type = get_s(item, "event_type")?;
    let status = get_s(item, "status")?;
    let number = |name: &str, value: i64| {
        u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("{name} out of range")))
    };
    Ok(Delivery {
        id: get_s(item, "id")?.to_owned(),
        endpoint_id: get_s(item, "endpoint_id")?.to_owned(),
        event_type: EventType::parse(event_type)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown event type {event_type}")))?,
        body: get_s(item, "body")?.to_owned(),
        status: DeliveryStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown delivery status {status}")))?,
        attempts: number("attempts", get_n(item, "attempts")?)?,
        last_status_code: has(item, "last_status_code")
            .then(|| get_n(item, "last_status_code"))
            .transpose()?
            .map(|code| number("last_status_code", code))
            .transpose()?
            .and_then(|code| u16::try_from(code).ok()),
        next_attempt_at: has(item, "next_attempt_at")
            .then(|| get_time(item, "next_attempt_at"))
            .transpose()?,
        created_at: get_time(item, "created_at")?,
    })
}
