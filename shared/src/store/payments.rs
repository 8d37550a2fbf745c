//! Money-side transitions of a booking: its PaymentIntent, confirmation when
//! the payment arrives (taking the seats again if the hold ran out), refunds,
//! and the record of Stripe deliveries already handled.

use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem, Update};
use time::{Duration, OffsetDateTime};

use super::audit::audit_item;
use super::holds::{ShardChange, booked_pk, booking_from_item};
use super::item::{get_s, key, n, rfc3339, s};
use super::keys;
use super::{
    Store, StoreError, applied, build_error, classify, condition_failed_at, transaction_applied,
};
use crate::domain::audit::AuditEntry;
use crate::domain::booking::{Booking, BookingStatus};
use crate::domain::event::Event;

/// Stripe retries a delivery for up to three days; a month is ample.
const STRIPE_EVENT_RETENTION: Duration = Duration::days(30);

#[derive(Debug)]
pub enum ConfirmOutcome {
    /// This call confirmed the booking, with the capacity units its
    /// transaction consumed (for benchmarks).
    Confirmed {
        booking: Box<Booking>,
        consumed_capacity: f64,
    },
    /// An earlier delivery of the same payment did.
    AlreadyConfirmed(Box<Booking>),
    /// The hold ran out and its seats went to someone else: refund.
    SeatsGone(Box<Booking>),
    /// The booking cannot take this payment (released by its owner, already
    /// refunded, or paid through another PaymentIntent): refund.
    NotPayable(Box<Booking>),
    /// The payment was refunded before its success was handled (deliveries
    /// out of order): nothing to confirm, nothing to give back.
    AlreadyRefunded,
}

impl Store {
    /// Records the PaymentIntent of a live hold. `false` when the booking is
    /// no longer a live hold, or already has another PaymentIntent.
    pub async fn attach_payment_intent(
        &self,
        booking: &Booking,
        payment_intent_id: &str,
        fee_cents: i64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = keys::booking(&booking.id);
        let update = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression("SET payment_intent_id = :pi, fee_cents = :fee, updated_at = :now")
            .condition_expression(
                "#status = :held AND hold_expires_epoch > :epoch \
                 AND (attribute_not_exists(payment_intent_id) OR payment_intent_id = :pi)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":held", s("held"))
            .expression_attribute_values(":pi", s(payment_intent_id))
            .expression_attribute_values(":fee", n(fee_cents))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(":epoch", n(now.unix_timestamp()))
            .build()
            .map_err(build_error)?;
        // Refund notifications name only the PaymentIntent: map it back.
        let (pk, sk) = keys::payment_intent(payment_intent_id);
        let mut map = key(pk, sk);
        map.insert("booking_id".into(), s(&booking.id));
        let put = Put::builder()
            .table_name(self.table_name())
            .set_item(Some(map))
            .build()
            .map_err(build_error)?;
        let writes = vec![
            TransactWriteItem::builder().update(update).build(),
            TransactWriteItem::builder().put(put).build(),
        ];
        transaction_applied(self.transact(writes).await)
    }

    /// Turns a paid booking into a confirmed one: held units become booked,
    /// and a hold that ran out takes its units (or places) again if they are
    /// still free. Conditional on the status read, so concurrent deliveries
    /// and an expiring worker agree on one outcome.
    pub async fn confirm_payment(
        &self,
        booking_id: &str,
        payment_intent_id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<ConfirmOutcome>, StoreError> {
        // A lost race re-reads and decides again; three rounds settle it
        // (held → expired is the only transition another writer can make).
        for _ in 0..3 {
            let Some(booking) = self.booking(booking_id).await? else {
                return Ok(None);
            };
            let outcome = match booking.status {
                BookingStatus::Confirmed
                    if booking.payment_intent_id.as_deref() == Some(payment_intent_id) =>
                {
                    ConfirmOutcome::AlreadyConfirmed(Box::new(booking))
                }
                BookingStatus::Held | BookingStatus::Expired => {
                    match self
                        .transact(self.confirmation(&booking, payment_intent_id, now)?)
                        .await
                    {
                        Ok(consumed_capacity) => {
                            let mut confirmed = booking;
                            confirmed.status = BookingStatus::Confirmed;
                            confirmed.payment_intent_id = Some(payment_intent_id.to_owned());
                            confirmed.hold_expires_at = None;
                            confirmed.updated_at = now;
                            ConfirmOutcome::Confirmed {
                                booking: Box::new(confirmed),
                                consumed_capacity,
                            }
                        }
                        Err(StoreError::TransactionCanceled { reasons })
                            if condition_failed_at(&reasons, 0) =>
                        {
                            continue;
                        }
                        Err(StoreError::TransactionCanceled { reasons })
                            if condition_failed_at(&reasons, reasons.len().saturating_sub(1)) =>
                        {
                            ConfirmOutcome::AlreadyRefunded
                        }
                        Err(StoreError::TransactionCanceled { .. }) => {
                            ConfirmOutcome::SeatsGone(Box::new(booking))
                        }
                        Err(err) => return Err(err),
                    }
                }
                _ => ConfirmOutcome::NotPayable(Box::new(booking)),
            };
            return Ok(Some(outcome));
        }
        Err(StoreError::Throttled)
    }

    /// The confirmation transaction: the booking first (its condition
    /// failing means someone else moved it), then each unit or shard, and
    /// last a check that the payment was not refunded meanwhile.
    fn confirmation(
        &self,
        booking: &Booking,
        payment_intent_id: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let (pk, sk) = keys::booking(&booking.id);
        let update = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            // From the held indexes to the event's confirmed bookings.
            .update_expression(
                "SET #status = :confirmed, payment_intent_id = :pi, updated_at = :now, \
                 GSI2PK = :booked, GSI2SK = :id \
                 REMOVE hold_expires_at, hold_expires_epoch, GSI3PK, GSI3SK",
            )
            .expression_attribute_values(":booked", s(booked_pk(&booking.event_id)))
            .expression_attribute_values(":id", s(&booking.id))
            .condition_expression("#status = :read_status")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":confirmed", s("confirmed"))
            .expression_attribute_values(":read_status", s(booking.status.as_str()))
            .expression_attribute_values(":pi", s(payment_intent_id))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .build()
            .map_err(build_error)?;
        let mut writes = vec![TransactWriteItem::builder().update(update).build()];
        // An open hold keeps its places, unless it expired and gave them back.
        let places = (booking.status == BookingStatus::Expired).then_some(ShardChange::Take);
        writes.extend(self.inventory_writes(
            booking,
            |unit_id| self.unit_taken(&booking.event_id, unit_id, &booking.id, None, now),
            places,
        )?);
        let (pk, sk) = keys::payment_intent(payment_intent_id);
        let not_refunded = ConditionCheck::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .condition_expression("attribute_not_exists(refunded_at)")
            .build()
            .map_err(build_error)?;
        writes.push(
            TransactWriteItem::builder()
                .condition_check(not_refunded)
                .build(),
        );
        Ok(writes)
    }

    /// Cancels a confirmed booking nobody has been admitted with: the
    /// booking becomes `to` (refunded, or cancelled for cash sales) with its
    /// reason, its units are available again and its places back in their
    /// shards, in one transaction. `false` when it is no longer a confirmed
    /// booking without check-ins. Its tickets are then deleted; until they
    /// are, check-in refuses them (it checks the booking).
    pub async fn cancel_confirmed(
        &self,
        booking: &Booking,
        to: BookingStatus,
        reason: &str,
        audit: Option<&AuditEntry>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = keys::booking(&booking.id);
        let update = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression(format!(
                "SET #status = :to, refund_reason = :reason, updated_at = :now REMOVE {}",
                super::holds::HELD_INDEX_ATTRIBUTES
            ))
            .condition_expression(
                "#status = :confirmed AND (attribute_not_exists(checked_in) OR checked_in = :zero)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":confirmed", s("confirmed"))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":reason", s(reason))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .build()
            .map_err(build_error)?;
        let mut writes = vec![TransactWriteItem::builder().update(update).build()];
        writes.extend(self.inventory_writes(
            booking,
            |unit_id| self.unit_freed(&booking.event_id, unit_id, &booking.id),
            Some(ShardChange::GiveBack),
        )?);
        if let Some(entry) = audit {
            writes.push(self.create(audit_item(entry))?);
        }
        if !transaction_applied(self.transact(writes).await)? {
            return Ok(false);
        }
        self.delete_tickets(&booking.id).await?;
        Ok(true)
    }

    /// A booked unit of this booking is available again.
    fn unit_freed(
        &self,
        event_id: &str,
        unit_id: &str,
        booking_id: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = keys::unit(event_id, unit_id);
        let update = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression("SET #state = :available REMOVE booking_id")
            .condition_expression("booking_id = :booking AND #state = :booked")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":available", s("available"))
            .expression_attribute_values(":booked", s("booked"))
            .expression_attribute_values(":booking", s(booking_id))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Marks a booking refunded, from any status but refunded, with why.
    /// Lapsed holds first give their units or places back.
    pub async fn mark_refunded(
        &self,
        booking: &Booking,
        event: &Event,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        if booking.status == BookingStatus::Held {
            self.release_lapsed_holds(&event.id, now).await?;
        }
        let (pk, sk) = keys::booking(&booking.id);
        let update = self
            .client
            .update_item()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression(format!(
                "SET #status = :refunded, refund_reason = :reason, updated_at = :now REMOVE {}",
                super::holds::HELD_INDEX_ATTRIBUTES
            ))
            .condition_expression("#status IN (:held, :expired, :cancelled, :confirmed)")
            .expression_attribute_values(":held", s("held"))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":refunded", s("refunded"))
            .expression_attribute_values(":expired", s("expired"))
            .expression_attribute_values(":cancelled", s("cancelled"))
            .expression_attribute_values(":confirmed", s("confirmed"))
            .expression_attribute_values(":reason", s(reason))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .send()
            .await
            .map_err(classify);
        applied(update)
    }

    /// Notes that Stripe refunded the payment, so a success delivered after
    /// the refund (out of order) never confirms the booking.
    pub async fn record_payment_refunded(
        &self,
        payment_intent_id: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::payment_intent(payment_intent_id);
        let update = self
            .client
            .update_item()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression("SET refunded_at = if_not_exists(refunded_at, :now)")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":now", s(rfc3339(now)))
            .send()
            .await
            .map_err(classify);
        // A PaymentIntent this platform never recorded has nothing to mark.
        applied(update).map(|_| ())
    }

    /// An event's confirmed bookings (GSI2 `BOOKED#<event>`).
    pub async fn confirmed_bookings(&self, event_id: &str) -> Result<Vec<Booking>, StoreError> {
        let items = self
            .client
            .query()
            .table_name(self.table_name())
            .index_name(keys::GSI2)
            .key_condition_expression("GSI2PK = :pk")
            .expression_attribute_values(":pk", s(booked_pk(event_id)))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(classify)?;
        items.iter().map(booking_from_item).collect()
    }

    /// The booking a PaymentIntent paid for.
    pub async fn booking_of_payment_intent(
        &self,
        payment_intent_id: &str,
    ) -> Result<Option<Booking>, StoreError> {
        let Some(map) = self.get(keys::payment_intent(payment_intent_id)).await? else {
            return Ok(None);
        };
        self.booking(get_s(&map, "booking_id")?).await
    }

    /// Has this Stripe delivery been handled already?
    pub async fn stripe_event_handled(&self, event_id: &str) -> Result<bool, StoreError> {
        Ok(self.get(keys::stripe_event(event_id)).await?.is_some())
    }

    /// Records a handled delivery, after its effects are written: a crash in
    /// between means Stripe's retry does the (idempotent) work again.
    pub async fn record_stripe_event(
        &self,
        event_id: &str,
        kind: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::stripe_event(event_id);
        let mut item = key(pk, sk);
        item.insert("type".into(), s(kind));
        item.insert("handled_at".into(), s(rfc3339(now)));
        item.insert(
            "ttl".into(),
            n((now + STRIPE_EVENT_RETENTION).unix_timestamp()),
        );
        self.client
            .put_item()
            .table_name(self.table_name())
            .set_item(Some(item))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// The one caller that gets `true` sends the confirmation mail, however
    /// many deliveries confirm the booking at once.
    pub async fn claim_confirmation_mail(
        &self,
        booking_id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = keys::booking(booking_id);
        let update = self
            .client
            .update_item()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression("SET confirmation_mailed_at = :now")
            .condition_expression(
                "attribute_exists(PK) AND attribute_not_exists(confirmation_mailed_at)",
            )
            .expression_attribute_values(":now", s(rfc3339(now)))
            .send()
            .await
            .map_err(classify);
        applied(update)
    }
}
