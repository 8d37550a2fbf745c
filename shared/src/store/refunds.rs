//! Refunds as durable jobs. The money owed is written on the payment's
//! `PI#<id>` item in the same transaction that changes its booking; the
//! refund worker then asks Stripe and records the answer. While a refund is
//! pending, the payment item sits in GSI3 (`REFUNDS#<n>`) by when the sweep
//! should look at it next, so a lost message or a crashed worker only
//! delays it. A cancelled event's refund run (`REFUNDRUN#<event>`) sits
//! there too until no confirmed booking of the event is left.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use futures::future::try_join_all;
use time::OffsetDateTime;

use super::audit::audit_item;
use super::bookings::{HELD_INDEX_ATTRIBUTES, booking_from_item};
use super::inventory::ShardChange;
use super::item::{get_n, get_s, has, key, n, rfc3339, s};
use super::keys::{self, GSI2, GSI3PK, GSI3SK, epoch_sort_key};
use super::{Item, Store, StoreError, build_error, classify, condition_failed_at};
use crate::domain::audit::AuditEntry;
use crate::domain::booking::Booking;
use crate::domain::refund::{self, BookingRefund, ChargeRefunded, RefundStatus, RefundStep};

/// A refund to record: the payment whose money goes back, and what happens
/// to its booking in the same transaction.
pub struct RefundOrder<'a> {
    pub booking_id: &'a str,
    /// The booking as read; needed unless `change` keeps it as it is.
    pub booking: Option<&'a Booking>,
    pub payment_intent_id: &'a str,
    pub reason: &'a str,
    pub change: BookingRefund,
    pub audit: Option<&'a AuditEntry>,
    pub now: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundRecorded {
    /// Owed from now on; the worker should be told.
    Recorded,
    /// This payment's refund was recorded before.
    AlreadyRecorded,
    /// The booking is no longer what was read: read it again and decide.
    BookingMoved,
}

/// A payment's refund job as stored on its `PI#` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundJob {
    pub payment_intent_id: String,
    pub booking_id: String,
    pub status: Option<RefundStatus>,
    /// The organizer's account of a destination charge.
    pub connected_account: Option<String>,
    pub attempts: u32,
    /// Whether the booking shows this refund's status (not when the payment
    /// was never the booking's own).
    pub mirrors_booking: bool,
}

/// What the sweep found overdue in the refund index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DueRefund {
    Payment { payment_intent_id: String },
    EventRun { event_id: String },
}

impl Store {
    /// Records that the payment's money is owed back, and changes the
    /// booking as the order says, in one transaction.
    pub async fn record_refund(
        &self,
        order: RefundOrder<'_>,
    ) -> Result<RefundRecorded, StoreError> {
        let mut writes = Vec::new();
        match (order.change, order.booking) {
            (BookingRefund::Keep, _) => {}
            (BookingRefund::CancelConfirmed, Some(booking)) => {
                writes.push(self.booking_refunded(booking, &order, true)?);
                writes.extend(self.inventory_writes(
                    booking,
                    |unit_id| self.unit_freed(&booking.event_id, unit_id, &booking.id),
                    Some(ShardChange::GiveBack),
                )?);
            }
            (BookingRefund::MarkRefunded, Some(booking)) => {
                writes.push(self.booking_refunded(booking, &order, false)?);
            }
            (_, None) => {
                return Err(StoreError::Corrupt(format!(
                    "refunding booking {} needs the booking read",
                    order.booking_id
                )));
            }
        }
        let payment_at = writes.len();
        writes.push(self.refund_owed(&order)?);
        if let Some(entry) = order.audit {
            writes.push(self.create(audit_item(entry))?);
        }
        // The wallet part goes back at once, beside the card part owed.
        if let (BookingRefund::CancelConfirmed | BookingRefund::MarkRefunded, Some(booking)) =
            (order.change, order.booking)
        {
            writes.extend(self.wallet_given_back(booking, order.now)?);
        }
        match self.transact(writes).await {
            Ok(_) => Ok(RefundRecorded::Recorded),
            Err(StoreError::TransactionCanceled { reasons })
                if payment_at > 0 && condition_failed_at(&reasons, 0) =>
            {
                Ok(RefundRecorded::BookingMoved)
            }
            Err(StoreError::TransactionCanceled { reasons })
                if condition_failed_at(&reasons, payment_at) =>
            {
                Ok(RefundRecorded::AlreadyRecorded)
            }
            Err(err) => Err(err),
        }
    }

    /// The booking becomes `refunded` with its refund pending: from
    /// confirmed with nobody admitted (`cancel`), or from whatever status
    /// was read.
    fn booking_refunded(
        &self,
        booking: &Booking,
        order: &RefundOrder<'_>,
        cancel: bool,
    ) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = keys::booking(&booking.id);
        let update = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression(format!(
                "SET #status = :refunded, refund_reason = :reason, refund_status = :pending, \
                 updated_at = :now REMOVE {HELD_INDEX_ATTRIBUTES}"
            ))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":refunded", s("refunded"))
            .expression_attribute_values(":pending", s(RefundStatus::Pending.as_str()))
            .expression_attribute_values(":reason", s(order.reason))
            .expression_attribute_values(":now", s(rfc3339(order.now)))
            .expression_attribute_values(":read", s(booking.status.as_str()));
        let update = if cancel {
            update
                .condition_expression(
                    "#status = :read AND payment_intent_id = :pi \
                     AND (attribute_not_exists(checked_in) OR checked_in = :zero)",
                )
                .expression_attribute_values(":pi", s(order.payment_intent_id))
                .expression_attribute_values(":zero", n(0))
        } else {
            update.condition_expression("#status = :read AND #status <> :refunded")
        };
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(build_error)?)
            .build())
    }

    /// The payment item records the refund owed, once, and enters the
    /// refund index (its first look by the sweep comes after the worker's).
    fn refund_owed(&self, order: &RefundOrder<'_>) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = keys::payment_intent(order.payment_intent_id);
        let due = refund::first_due(order.now);
        let update = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression(
                "SET refund_status = :pending, refund_reason = :reason, \
                 refund_requested_at = :now, refund_attempts = :zero, \
                 mirrors_booking = :mirrors, payment_intent_id = :pi, \
                 booking_id = if_not_exists(booking_id, :booking), \
                 GSI3PK = :index, GSI3SK = :due",
            )
            // Only the first request: later ones find it owed already.
            .condition_expression("attribute_not_exists(refund_status)")
            .expression_attribute_values(":pending", s(RefundStatus::Pending.as_str()))
            .expression_attribute_values(":reason", s(order.reason))
            .expression_attribute_values(":now", s(rfc3339(order.now)))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(
                ":mirrors",
                aws_sdk_dynamodb::types::AttributeValue::Bool(order.change != BookingRefund::Keep),
            )
            .expression_attribute_values(":pi", s(order.payment_intent_id))
            .expression_attribute_values(":booking", s(order.booking_id))
            .expression_attribute_values(":index", s(keys::refunds_pk(order.payment_intent_id)))
            .expression_attribute_values(":due", s(due_key(due, order.payment_intent_id)))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The refund job of a payment, if this stack ever recorded the payment.
    pub async fn refund_job(
        &self,
        payment_intent_id: &str,
    ) -> Result<Option<RefundJob>, StoreError> {
        let Some(item) = self.get(keys::payment_intent(payment_intent_id)).await? else {
            return Ok(None);
        };
        Ok(Some(RefundJob {
            payment_intent_id: payment_intent_id.to_owned(),
            booking_id: get_s(&item, "booking_id")?.to_owned(),
            status: get_s(&item, "refund_status")
                .ok()
                .and_then(RefundStatus::parse),
            connected_account: get_s(&item, "connected_account").ok().map(str::to_owned),
            attempts: if has(&item, "refund_attempts") {
                get_n(&item, "refund_attempts")? as u32
            } else {
                0
            },
            mirrors_booking: item
                .get("mirrors_booking")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false),
        }))
    }

    /// Applies what the worker decided after asking Stripe: the end of the
    /// job (on the payment and, where it shows it, the booking, in one
    /// transaction), or its next look. `false` when the job was no longer
    /// pending (finished by a concurrent delivery).
    pub async fn finish_refund(
        &self,
        job: &RefundJob,
        step: &RefundStep,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = keys::payment_intent(&job.payment_intent_id);
        let (status, refund_id, error) = match step {
            RefundStep::RetryAfter { after } => {
                let update = Update::builder()
                    .table_name(self.table_name())
                    .set_key(Some(key(pk, sk)))
                    .update_expression(
                        "SET refund_attempts = refund_attempts + :one, GSI3SK = :due",
                    )
                    .condition_expression("refund_status = :pending")
                    .expression_attribute_values(":one", n(1))
                    .expression_attribute_values(
                        ":due",
                        s(due_key(now + *after, &job.payment_intent_id)),
                    )
                    .expression_attribute_values(":pending", s(RefundStatus::Pending.as_str()))
                    .build()
                    .map_err(build_error)?;
                let writes = vec![TransactWriteItem::builder().update(update).build()];
                return super::transaction_applied(self.transact(writes).await);
            }
            RefundStep::Succeeded { refund_id } => {
                (RefundStatus::Succeeded, refund_id.clone(), None)
            }
            RefundStep::Failed { reason } => (RefundStatus::Failed, None, Some(reason.clone())),
        };
        let mut writes = vec![self.refund_ended(
            (pk, sk),
            status,
            refund_id.as_deref(),
            error.as_deref(),
            now,
            Some("refund_status = :pending"),
        )?];
        if job.mirrors_booking {
            writes.push(self.refund_ended(
                keys::booking(&job.booking_id),
                status,
                refund_id.as_deref(),
                None,
                now,
                None,
            )?);
        }
        super::transaction_applied(self.transact(writes).await)
    }

    fn refund_ended(
        &self,
        (pk, sk): (String, String),
        status: RefundStatus,
        refund_id: Option<&str>,
        error: Option<&str>,
        now: OffsetDateTime,
        condition: Option<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut set = vec!["refund_status = :status", "refund_finished_at = :now"];
        let mut update = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":now", s(rfc3339(now)));
        if let Some(id) = refund_id {
            set.push("refund_id = :refund_id");
            update = update.expression_attribute_values(":refund_id", s(id));
        }
        if let Some(error) = error {
            set.push("refund_error = :error");
            update = update.expression_attribute_values(":error", s(error));
        }
        update = match condition {
            Some(condition) => update
                .condition_expression(condition)
                .expression_attribute_values(":pending", s(RefundStatus::Pending.as_str())),
            None => update.condition_expression("attribute_exists(PK)"),
        };
        let update = update
            .update_expression(format!("SET {} REMOVE {GSI3PK}, {GSI3SK}", set.join(", ")))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Records what a `charge.refunded` says went back (Stripe's running
    /// total), on the payment and on its booking; a full refund also marks
    /// the payment refunded, so a later success never confirms it. Returns
    /// the payment's job, `None` for a payment this stack never recorded.
    pub async fn record_charge_refunded(
        &self,
        charge: &ChargeRefunded,
        now: OffsetDateTime,
    ) -> Result<Option<RefundJob>, StoreError> {
        let Some(job) = self.refund_job(&charge.payment_intent_id).await? else {
            return Ok(None);
        };
        let (pk, sk) = keys::payment_intent(&charge.payment_intent_id);
        let refunded_at = if charge.is_full() {
            ", refunded_at = if_not_exists(refunded_at, :now)"
        } else {
            ""
        };
        for (pk, sk, expression) in [
            (pk, sk, format!("SET refunded_cents = :amount{refunded_at}")),
            {
                let (pk, sk) = keys::booking(&job.booking_id);
                (pk, sk, "SET refunded_cents = :amount".to_owned())
            },
        ] {
            let mut update = self
                .client
                .update_item()
                .table_name(self.table_name())
                .set_key(Some(key(pk, sk)))
                .update_expression(&expression)
                // Deliveries come out of order: a smaller total never
                // replaces a larger one.
                .condition_expression(
                    "attribute_exists(PK) AND (attribute_not_exists(refunded_cents) \
                     OR refunded_cents < :amount)",
                )
                .expression_attribute_values(":amount", n(charge.amount_refunded_cents));
            if expression.contains(":now") {
                update = update.expression_attribute_values(":now", s(rfc3339(now)));
            }
            super::applied(update.send().await.map_err(classify))?;
        }
        Ok(Some(job))
    }

    /// Stripe refunded a confirmed booking in full without us (from its
    /// dashboard): the booking is refunded with the refund done, and its
    /// seats are free again unless someone was admitted with it. `false`
    /// when the booking is no longer confirmed.
    pub async fn refunded_elsewhere(
        &self,
        booking: &Booking,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        for free_seats in [true, false] {
            let (pk, sk) = keys::booking(&booking.id);
            let condition = if free_seats {
                "#status = :confirmed AND (attribute_not_exists(checked_in) OR checked_in = :zero)"
            } else {
                "#status = :confirmed AND checked_in > :zero"
            };
            let update = Update::builder()
                .table_name(self.table_name())
                .set_key(Some(key(pk, sk)))
                .update_expression(format!(
                    "SET #status = :refunded, refund_reason = :reason, refund_status = :succeeded, \
                     updated_at = :now REMOVE {HELD_INDEX_ATTRIBUTES}"
                ))
                .condition_expression(condition)
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":refunded", s("refunded"))
                .expression_attribute_values(":confirmed", s("confirmed"))
                .expression_attribute_values(":succeeded", s(RefundStatus::Succeeded.as_str()))
                .expression_attribute_values(":reason", s("refunded"))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":now", s(rfc3339(now)))
                .build()
                .map_err(build_error)?;
            let mut writes = vec![TransactWriteItem::builder().update(update).build()];
            if free_seats {
                writes.extend(self.inventory_writes(
                    booking,
                    |unit_id| self.unit_freed(&booking.event_id, unit_id, &booking.id),
                    Some(ShardChange::GiveBack),
                )?);
            }
            writes.extend(self.wallet_given_back(booking, now)?);
            if super::transaction_applied(self.transact(writes).await)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Up to `limit` of an event's confirmed bookings (GSI2 `BOOKED#<event>`,
    /// a share of the page from each of its partitions, read at once):
    /// those a refund run has taken on leave the index, so each run reads
    /// the first page again.
    pub async fn confirmed_bookings_page(
        &self,
        event_id: &str,
        limit: usize,
    ) -> Result<Vec<Booking>, StoreError> {
        let share = limit.div_ceil(keys::CONFIRMED_SHARDS as usize).max(1);
        let pages = try_join_all(keys::booked_pks(event_id).map(|pk| {
            self.client
                .query()
                .table_name(self.table_name())
                .index_name(GSI2)
                .key_condition_expression("GSI2PK = :pk")
                .expression_attribute_values(":pk", s(pk))
                .limit(share as i32)
                .send()
        }))
        .await
        .map_err(classify)?;
        pages
            .iter()
            .flat_map(|page| page.items())
            .take(limit)
            .map(booking_from_item)
            .collect()
    }

    /// The refund run an event's cancellation starts, in the cancelling
    /// transaction (store/events.rs).
    pub(super) fn refund_run_started(
        &self,
        event_id: &str,
        now: OffsetDateTime,
    ) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = keys::refund_run(event_id);
        let mut item = key(pk, sk);
        item.extend([
            ("event_id".into(), s(event_id)),
            ("started_at".into(), s(rfc3339(now))),
            (GSI3PK.into(), s(keys::refunds_pk(event_id))),
            (GSI3SK.into(), s(due_key(refund::first_due(now), event_id))),
        ]);
        let put = Put::builder()
            .table_name(self.table_name())
            .set_item(Some(item))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Every confirmed booking of the event was taken on: the run leaves
    /// the refund index.
    pub async fn finish_refund_run(
        &self,
        event_id: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::refund_run(event_id);
        let update = self
            .client
            .update_item()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression(format!("SET finished_at = :now REMOVE {GSI3PK}, {GSI3SK}"))
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":now", s(rfc3339(now)));
        super::applied(update.send().await.map_err(classify))?;
        Ok(())
    }

    /// Pending refunds and unfinished refund runs whose next look is due.
    pub async fn due_refunds(&self, now: OffsetDateTime) -> Result<Vec<DueRefund>, StoreError> {
        let mut due = Vec::new();
        for pk in keys::refunds_pks() {
            for item in self.due_in_index(keys::GSI3, &pk, now).await? {
                due.extend(due_refund(&item));
            }
        }
        Ok(due)
    }

    /// The sweep handed it to the worker: look again only after `until`.
    pub async fn postpone_refund(
        &self,
        due: &DueRefund,
        until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let ((pk, sk), id) = match due {
            DueRefund::Payment { payment_intent_id } => {
                (keys::payment_intent(payment_intent_id), payment_intent_id)
            }
            DueRefund::EventRun { event_id } => (keys::refund_run(event_id), event_id),
        };
        let update = self
            .client
            .update_item()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression(format!("SET {GSI3SK} = :due"))
            .condition_expression(format!("attribute_exists({GSI3PK})"))
            .expression_attribute_values(":due", s(due_key(until, id)));
        super::applied(update.send().await.map_err(classify))?;
        Ok(())
    }
}

/// `<epoch>#<id>`: the refund index sorts by when to look next.
fn due_key(at: OffsetDateTime, id: &str) -> String {
    format!("{}#{id}", epoch_sort_key(at.unix_timestamp()))
}

fn due_refund(item: &Item) -> Option<DueRefund> {
    if let Ok(payment_intent_id) = get_s(item, "payment_intent_id") {
        return Some(DueRefund::Payment {
            payment_intent_id: payment_intent_id.to_owned(),
        });
    }
    match get_s(item, "event_id") {
        Ok(event_id) => Some(DueRefund::EventRun {
            event_id: event_id.to_owned(),
        }),
        Err(_) => {
            tracing::warn!(pk = ?item.get(keys::PK), "unreadable item in the refund index; skipped");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_tells_payments_from_event_runs() {
        let mut payment = Item::new();
        payment.insert("payment_intent_id".into(), s("pi_1"));
        payment.insert("booking_id".into(), s("b"));
        let mut run = Item::new();
        run.insert("event_id".into(), s("e"));
        assert_eq!(
            due_refund(&payment),
            Some(DueRefund::Payment {
                payment_intent_id: "pi_1".into()
            })
        );
        assert_eq!(
            due_refund(&run),
            Some(DueRefund::EventRun {
                event_id: "e".into()
            })
        );
        assert_eq!(due_refund(&Item::new()), None);
    }

    #[test]
    fn the_due_key_sorts_by_time() {
        let at = |epoch| OffsetDateTime::from_unix_timestamp(epoch).unwrap();
        assert!(due_key(at(999), "z") < due_key(at(1_000), "a"));
        assert!(due_key(at(1_000), "pi_1") <= keys::due_by(1_000));
    }
}
