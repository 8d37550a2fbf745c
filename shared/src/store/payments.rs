//! Money-side transitions of a booking: its PaymentIntent, confirmation when
//! the payment arrives (taking the seats again if the hold ran out), and
//! the record of Stripe deliveries already handled. Refunds are in
//! store/refunds.rs.

use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem, Update};
use time::{Duration, OffsetDateTime};

use super::audit::audit_item;
use super::bookings::HELD_INDEX_ATTRIBUTES;
use super::inventory::ShardChange;
use super::item::{get_s, key, n, rfc3339, s};
use super::keys;
use super::tickets::TRANSACTION_ITEMS;
use super::wallet::WalletChange;
use super::{
    Store, StoreError, applied, build_error, classify, condition_failed_at, transaction_applied,
};
use crate::domain::audit::AuditEntry;
use crate::domain::booking::{Booking, BookingStatus};
use crate::domain::event::Event;
use crate::domain::ticket::Ticket;
use crate::domain::wallet;

use crate::domain::payment::{ConfirmationRefused, confirmation_refused};

/// Stripe retries a delivery for up to three days; a month is ample.
const STRIPE_EVENT_RETENTION: Duration = Duration::days(30);

#[derive(Debug)]
pub enum ConfirmOutcome {
    /// This call confirmed the booking, with the capacity units its
    /// transaction consumed (for benchmarks).
    Confirmed {
        booking: Box<Booking>,
        /// Its tickets were written, and its confirmation mail claimed, by
        /// the confirming transaction (they fitted in it): only the mail is
        /// left to send.
        fulfilled: bool,
        consumed_capacity: f64,
    },
    /// An earlier delivery of the same payment did.
    AlreadyConfirmed(Box<Booking>),
    /// The hold ran out and its seats went to someone else: refund.
    SeatsGone(Box<Booking>),
    /// The event was cancelled: refund.
    EventCancelled(Box<Booking>),
    /// The booking cannot take this payment (released by its owner, or
    /// already refunded): refund.
    NotPayable(Box<Booking>),
    /// The payment's refund was asked for, or Stripe refunded it in full,
    /// before its success was handled: nothing to confirm, nothing to give
    /// back again.
    RefundUnderway,
    /// The wallet does not hold the wallet part (any more): nothing was
    /// spent; a card part paid goes back.
    WalletShort(Box<Booking>),
}

/// What a booking is confirmed with: its PaymentIntent (`None` when the
/// card pays nothing) and the part the wallet pays (0 for none).
#[derive(Debug, Clone, Copy)]
pub struct Payment<'a> {
    pub payment_intent_id: Option<&'a str>,
    pub wallet_cents: i64,
}

/// The confirmation transaction's writes.
struct ConfirmationWrites {
    writes: Vec<TransactWriteItem>,
    /// How many of them (the last ones) are the wallet's.
    wallet_writes: usize,
    /// The tickets and the mail's claim are among them.
    fulfilled: bool,
}

/// What recording a checkout's PaymentIntent came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attached {
    Attached,
    /// No longer a live hold, or it has another PaymentIntent (a wallet
    /// part is reserved only by the first).
    NotAttached,
    /// The wallet has less available than the wallet part; nothing written.
    InsufficientFunds,
}

impl Store {
    /// Records the PaymentIntent of a live hold, and the payment item that
    /// maps Stripe's notifications back to the booking (with the connected
    /// account of a destination charge, which its refund must reverse).
    /// With a wallet part, the same transaction reserves it in the wallet
    /// and records the split on the booking; only the first PaymentIntent
    /// of the booking does (a second could reserve twice).
    pub async fn attach_payment_intent(
        &self,
        booking: &Booking,
        payment_intent_id: &str,
        destination: Option<(&str, i64)>,
        wallet_cents: i64,
        now: OffsetDateTime,
    ) -> Result<Attached, StoreError> {
        let fee_cents = destination.map_or(0, |(_, fee)| fee);
        let (pk, sk) = keys::booking(&booking.id);
        let mut set = "SET payment_intent_id = :pi, fee_cents = :fee, updated_at = :now".to_owned();
        let mut condition = "#status = :held AND hold_expires_epoch > :epoch".to_owned();
        let mut update = Update::builder();
        if wallet_cents > 0 {
            set.push_str(", paid_wallet_cents = :wallet, paid_card_cents = :card");
            condition.push_str(" AND attribute_not_exists(payment_intent_id)");
            update = update
                .expression_attribute_values(":wallet", n(wallet_cents))
                .expression_attribute_values(":card", n(booking.amount_cents - wallet_cents));
        } else {
            condition.push_str(
                " AND (attribute_not_exists(payment_intent_id) OR payment_intent_id = :pi)",
            );
        }
        let update = update
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression(set)
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":held", s("held"))
            .expression_attribute_values(":pi", s(payment_intent_id))
            .expression_attribute_values(":fee", n(fee_cents))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(":epoch", n(now.unix_timestamp()))
            .build()
            .map_err(build_error)?;
        // Never overwrites: a refund recorded on it must not be lost.
        let (pk, sk) = keys::payment_intent(payment_intent_id);
        let mut map = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .condition_expression("attribute_not_exists(PK) OR booking_id = :booking")
            .expression_attribute_values(":booking", s(&booking.id));
        map = match destination {
            Some((account, _)) => map
                .update_expression("SET booking_id = :booking, connected_account = :account")
                .expression_attribute_values(":account", s(account)),
            None => map.update_expression("SET booking_id = :booking"),
        };
        let mut writes = vec![
            TransactWriteItem::builder().update(update).build(),
            TransactWriteItem::builder()
                .update(map.build().map_err(build_error)?)
                .build(),
        ];
        if wallet_cents > 0 {
            let reservation = WalletChange {
                user_id: &booking.user_id,
                currency: &booking.currency,
                movements: wallet::reservation(wallet_cents),
                booking_id: Some(&booking.id),
                payment_intent_id: Some(payment_intent_id),
                now,
            };
            writes.extend(self.wallet_writes(&reservation)?.0);
        }
        match self.transact(writes).await {
            Ok(_) => Ok(Attached::Attached),
            Err(StoreError::TransactionCanceled { reasons })
                if condition_failed_at(&reasons, 0) =>
            {
                Ok(Attached::NotAttached)
            }
            Err(StoreError::TransactionCanceled { reasons })
                if condition_failed_at(&reasons, 2) =>
            {
                Ok(Attached::InsufficientFunds)
            }
            Err(err) => Err(err),
        }
    }

    /// Turns a paid (or free) booking into a confirmed one: held units
    /// become booked, and a hold that ran out takes units (or places) again
    /// if they are still free. One transaction, conditioned on the status
    /// read, on the event not being cancelled and on the payment's refund
    /// not being underway, so concurrent deliveries, an expiring worker and
    /// an event's cancellation agree on one outcome. Contention alone is
    /// never taken for "seats gone": it is an error (503; Stripe retries).
    ///
    /// `read` is the booking as the caller just read it: the first round
    /// decides on it, saving a read. `tickets` are the booking's
    /// (`tickets_for`): written by the same transaction when they fit.
    pub async fn confirm_payment(
        &self,
        read: Booking,
        payment: Payment<'_>,
        tickets: &[Ticket],
        now: OffsetDateTime,
    ) -> Result<Option<ConfirmOutcome>, StoreError> {
        let booking_id = read.id.clone();
        let mut read = Some(read);
        // A lost race re-reads and decides again; three rounds settle it
        // (held → expired is the only transition another writer can make).
        for _ in 0..3 {
            let read = match read.take() {
                Some(booking) => Some(booking),
                None => self.booking(&booking_id).await?,
            };
            let Some(mut booking) = read else {
                return Ok(None);
            };
            let outcome = match booking.status {
                BookingStatus::Confirmed
                    if booking.payment_intent_id.as_deref() == payment.payment_intent_id =>
                {
                    ConfirmOutcome::AlreadyConfirmed(Box::new(booking))
                }
                BookingStatus::Held | BookingStatus::Expired => {
                    let mut event = None;
                    if booking.status == BookingStatus::Expired && booking.units.is_none() {
                        // Its places went back: take any free ones, from
                        // every shard, not only those it held.
                        let Some(read) = self.event(&booking.event_id).await? else {
                            return Ok(None);
                        };
                        match self.allocate_anew(&read, &booking).await? {
                            Some(allocations) => booking.allocations = allocations,
                            None => return Ok(Some(ConfirmOutcome::SeatsGone(Box::new(booking)))),
                        }
                        event = Some(read);
                    }
                    let ConfirmationWrites {
                        writes,
                        wallet_writes,
                        fulfilled,
                    } = self.confirmation(&booking, event.as_ref(), payment, tickets, now)?;
                    match self.transact(writes).await {
                        Ok(committed) => {
                            let mut confirmed = booking;
                            confirmed.status = BookingStatus::Confirmed;
                            confirmed.payment_intent_id =
                                payment.payment_intent_id.map(str::to_owned);
                            if payment.wallet_cents > 0 {
                                confirmed.paid_wallet_cents = Some(payment.wallet_cents);
                                confirmed.paid_card_cents =
                                    Some(confirmed.amount_cents - payment.wallet_cents);
                            }
                            confirmed.hold_expires_at = None;
                            confirmed.updated_at = now;
                            ConfirmOutcome::Confirmed {
                                booking: Box::new(confirmed),
                                fulfilled,
                                consumed_capacity: committed.capacity,
                            }
                        }
                        Err(StoreError::TransactionCanceled { reasons }) => {
                            let codes: Vec<Option<&str>> =
                                reasons.iter().map(|r| r.code.as_deref()).collect();
                            match confirmation_refused(
                                &codes,
                                payment.payment_intent_id.is_some(),
                                wallet_writes,
                            ) {
                                ConfirmationRefused::BookingMoved => continue,
                                ConfirmationRefused::RefundUnderway => {
                                    ConfirmOutcome::RefundUnderway
                                }
                                ConfirmationRefused::EventCancelled => {
                                    ConfirmOutcome::EventCancelled(Box::new(booking))
                                }
                                ConfirmationRefused::SeatsGone => {
                                    ConfirmOutcome::SeatsGone(Box::new(booking))
                                }
                                ConfirmationRefused::WalletShort => {
                                    ConfirmOutcome::WalletShort(Box::new(booking))
                                }
                                ConfirmationRefused::Contention => {
                                    return Err(StoreError::Throttled);
                                }
                            }
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
    /// failing means someone else moved it), then its tickets when they fit
    /// (unconditioned: a booking that was never confirmed has none), then
    /// each unit or shard, then a check that the event is not cancelled
    /// (its cancellation mark is absent), (card payments) a check that the
    /// payment's refund is not underway, and last the wallet part's
    /// spending: of the reservation a live hold made at checkout, else
    /// (paid in full from the wallet, or a late payment whose reservation
    /// went back) of what is available. With the tickets, the booking also
    /// claims its confirmation mail: two calls fewer per confirmation.
    fn confirmation(
        &self,
        booking: &Booking,
        retaken_from: Option<&Event>,
        payment: Payment<'_>,
        tickets: &[Ticket],
        now: OffsetDateTime,
    ) -> Result<ConfirmationWrites, StoreError> {
        // A lapsed open hold takes its places anew (allocated by the caller).
        let places = retaken_from.map(ShardChange::Take);
        let mut after_tickets = self.inventory_writes(
            booking,
            |unit_id| self.unit_taken(&booking.event_id, unit_id, &booking.id, None, now),
            places,
        )?;
        after_tickets.extend(self.confirmation_checks(booking, payment)?);
        let mut wallet_writes = 0;
        if payment.wallet_cents > 0 {
            let reserved = booking.status == BookingStatus::Held && booking.wallet_part() > 0;
            let spent = self.booking_wallet_writes(
                booking,
                wallet::payment(payment.wallet_cents, reserved),
                now,
            )?;
            wallet_writes = spent.len();
            after_tickets.extend(spent);
        }
        let fulfilled =
            !tickets.is_empty() && 1 + tickets.len() + after_tickets.len() <= TRANSACTION_ITEMS;

        let (pk, sk) = keys::booking(&booking.id);
        let mut set = "SET #status = :confirmed, updated_at = :now, GSI2PK = :booked, GSI2SK = :id"
            .to_owned();
        let mut update = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .expression_attribute_values(
                ":booked",
                s(keys::booked_pk(&booking.event_id, &booking.id)),
            )
            .expression_attribute_values(":id", s(&booking.id))
            .condition_expression("#status = :read_status")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":confirmed", s("confirmed"))
            .expression_attribute_values(":read_status", s(booking.status.as_str()))
            .expression_attribute_values(":now", s(rfc3339(now)));
        if fulfilled {
            set.push_str(", confirmation_mailed_at = :now");
        }
        if let Some(intent) = payment.payment_intent_id {
            set.push_str(", payment_intent_id = :pi");
            update = update.expression_attribute_values(":pi", s(intent));
        }
        if payment.wallet_cents > 0 {
            set.push_str(", paid_wallet_cents = :wallet, paid_card_cents = :card");
            update = update
                .expression_attribute_values(":wallet", n(payment.wallet_cents))
                .expression_attribute_values(
                    ":card",
                    n(booking.amount_cents - payment.wallet_cents),
                );
        }
        if places.is_some() && booking.units.is_none() {
            set.push_str(", allocations = :allocations");
            update = update.expression_attribute_values(
                ":allocations",
                s(serde_json::to_string(&booking.allocations).unwrap_or_default()),
            );
        }
        // From the held indexes to the event's confirmed bookings.
        let update = update
            .update_expression(format!(
                "{set} REMOVE hold_expires_at, hold_expires_epoch, GSI3PK, GSI3SK"
            ))
            .build()
            .map_err(build_error)?;
        let mut writes = vec![TransactWriteItem::builder().update(update).build()];
        if fulfilled {
            for ticket in tickets {
                writes.push(self.ticket_put(ticket, None)?);
            }
        }
        writes.extend(after_tickets);
        Ok(ConfirmationWrites {
            writes,
            wallet_writes,
            fulfilled,
        })
    }

    /// The event is not cancelled (not the event item: every confirmation
    /// of an on-sale would include it and conflict with the others) and,
    /// for a card payment, its refund is not underway.
    fn confirmation_checks(
        &self,
        booking: &Booking,
        payment: Payment<'_>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let (pk, sk) = keys::cancelled_mark(&booking.event_id, &booking.id);
        let on_sale = ConditionCheck::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(build_error)?;
        let mut checks = vec![
            TransactWriteItem::builder()
                .condition_check(on_sale)
                .build(),
        ];
        if let Some(intent) = payment.payment_intent_id {
            let (pk, sk) = keys::payment_intent(intent);
            let not_refunded = ConditionCheck::builder()
                .table_name(self.table_name())
                .set_key(Some(key(pk, sk)))
                .condition_expression(
                    "attribute_not_exists(refunded_at) AND attribute_not_exists(refund_status)",
                )
                .build()
                .map_err(build_error)?;
            checks.push(
                TransactWriteItem::builder()
                    .condition_check(not_refunded)
                    .build(),
            );
        }
        Ok(checks)
    }

    /// Cancels a confirmed booking nobody has been admitted with and that
    /// owes no refund (cash or free): the booking becomes `to` with its
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
                "SET #status = :to, refund_reason = :reason, updated_at = :now REMOVE {HELD_INDEX_ATTRIBUTES}"
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
        writes.extend(self.wallet_given_back(booking, now)?);
        if !transaction_applied(self.transact(writes).await)? {
            return Ok(false);
        }
        self.forget_tickets(&booking.id).await;
        Ok(true)
    }

    /// Tickets of a booking that no longer admits anyone are deleted, for
    /// the door counts; check-in refuses them anyway (it checks the
    /// booking), so a failure here is only logged.
    pub async fn forget_tickets(&self, booking_id: &str) {
        if let Err(err) = self.delete_tickets(booking_id).await {
            tracing::warn!(booking_id, error = %err, "tickets of an ended booking not deleted");
        }
    }

    /// A booked unit of this booking is available again.
    pub(super) fn unit_freed(
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

    /// Marks a confirmed booking that owes no card refund (cash, free,
    /// paid from the wallet) refunded, with why: its event was cancelled.
    /// A wallet part goes back to the wallet in the same transaction.
    pub async fn mark_refunded(
        &self,
        booking: &Booking,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = keys::booking(&booking.id);
        let update = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression(format!(
                "SET #status = :refunded, refund_reason = :reason, updated_at = :now REMOVE {HELD_INDEX_ATTRIBUTES}"
            ))
            .condition_expression("#status = :confirmed")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":refunded", s("refunded"))
            .expression_attribute_values(":confirmed", s("confirmed"))
            .expression_attribute_values(":reason", s(reason))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .build()
            .map_err(build_error)?;
        let mut writes = vec![TransactWriteItem::builder().update(update).build()];
        writes.extend(self.wallet_given_back(booking, now)?);
        transaction_applied(self.transact(writes).await)
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
