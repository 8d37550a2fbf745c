//! Holds: taking units or places for a booking, all or nothing, and
//! giving them back when the owner cancels or the hold lapses. Oversell is
//! impossible by construction: every unit or place changes hands in one
//! conditional transaction. No item is shared by every hold of an event
//! (docs/holds.md): the event itself is read, not written, and only the
//! first hold freezes its layout, in a write of its own.

use time::OffsetDateTime;

use super::audit::audit_item;
use super::bookings::{HELD_INDEX_ATTRIBUTES, booking_from_item, booking_item};
use super::inventory::{ShardChange, places_if_full};
use super::item::{get_n, key, n, rfc3339, s};
use super::keys::{self, GSI2, GSI3};
use super::{Store, StoreError, build_error, classify, condition_failed_at, transaction_applied};
use crate::domain::audit::AuditEntry;
use crate::domain::booking::{Allocation, Booking, BookingStatus};
use crate::domain::event::{Event, Stock, shard_group_count};
use crate::domain::hold::{self, Plan, ShardScope, Take};
use crate::domain::rate_limit::Hit;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use futures::StreamExt;
use rand::Rng;

/// One stock's part of an open hold: where its search stands.
struct Want<'a> {
    stock: &'a Stock,
    quantity: u32,
    scope: ShardScope,
    /// Places per shard in `scope`, as last read or learned.
    remaining: Vec<(u32, u32)>,
    /// Whether `remaining` came from a read rather than the blind guess.
    read: bool,
}

impl<'a> Want<'a> {
    /// A random window of a random group, assumed full.
    fn new(stock: &'a Stock, quantity: u32) -> Self {
        let (group, at) = {
            let mut rng = rand::rng();
            (
                rng.random_range(0..shard_group_count(stock.shards)),
                rng.random(),
            )
        };
        let scope = ShardScope::window(stock.shards, group, at);
        Want {
            stock,
            quantity,
            scope,
            remaining: places_if_full(stock, scope),
            read: false,
        }
    }
}

/// What a sale's transaction writes besides its units or places and its
/// booking.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extra<'a> {
    /// The audit entry of a cash sale at the door.
    pub audit: Option<&'a AuditEntry>,
    /// The rate limit's hit an online hold is counted by.
    pub hit: Option<&'a Hit<'a>>,
}

/// Most rounds of allocate and take an open hold makes. Each lost round
/// means another buyer took from a shard we chose, and tells us what that
/// shard has left, so rounds are bounded by the shards in play.
const MAX_TAKE_ROUNDS: u32 = 64;

/// `HELD#` partitions read at once when asking whether a hold is pending.
const HELD_READS_AT_ONCE: usize = 4;

#[derive(Debug)]
pub enum HoldOutcome {
    Taken {
        booking: Box<Booking>,
        /// Capacity units the winning transaction consumed (for benchmarks).
        consumed_capacity: f64,
        /// Times the transaction was sent (conflicts and throttling retried).
        attempts: u32,
    },
    /// Grid: these units belong to someone else; nothing was taken.
    UnitsTaken(Vec<String>),
    /// Open: not enough places left of this tier (`None`: of a
    /// single-tier event); nothing was taken.
    SoldOut(Option<String>),
    /// The event stopped being on sale, or its layout changed, meanwhile.
    EventChanged,
    /// The hit counted with the hold found its limit used up; nothing was
    /// taken.
    RateLimited,
}

impl Store {
    /// Takes what the plan names for `booking`, all or nothing. The first
    /// hold of an event freezes its layout first (`freeze_sales`), so what
    /// the plan priced from cannot change under any hold. `extra.hit`, a
    /// rate limit's hit, is counted by the hold's own transaction: a hold taken
    /// was counted, and one over the limit takes nothing.
    pub async fn take(
        &self,
        event: &Event,
        plan: &Plan,
        booking: Booking,
        extra: Extra<'_>,
        now: OffsetDateTime,
    ) -> Result<HoldOutcome, StoreError> {
        if !event.sales_started && !self.freeze_sales(event).await? {
            return Ok(HoldOutcome::EventChanged);
        }
        match &plan.take {
            Take::Units(ids) => self.take_units(event, ids, booking, extra, now).await,
            Take::Places(places) => self.take_places(event, places, booking, extra, now).await,
        }
    }

    async fn take_units(
        &self,
        event: &Event,
        unit_ids: &[String],
        booking: Booking,
        extra: Extra<'_>,
        now: OffsetDateTime,
    ) -> Result<HoldOutcome, StoreError> {
        let mut writes = Vec::with_capacity(unit_ids.len() + 2);
        for unit_id in unit_ids {
            writes.push(self.unit_taken(
                &event.id,
                unit_id,
                &booking.id,
                booking.hold_expires_at,
                now,
            )?);
        }
        writes.push(self.create(booking_item(&booking))?);
        let hit_at = self.push_extra(&mut writes, extra)?;
        match self.transact(writes).await {
            Ok(committed) => Ok(HoldOutcome::Taken {
                booking: Box::new(booking),
                consumed_capacity: committed.capacity,
                attempts: committed.attempts,
            }),
            // Buyers racing for one unit conflict until one commits; by the
            // time the retries give up the winner has, so say what is taken
            // rather than "busy".
            Err(StoreError::Contended) => {
                let taken = self
                    .units_taken_by_others(event, unit_ids, &booking.id, now)
                    .await?;
                if taken.is_empty() {
                    Err(StoreError::Contended)
                } else {
                    Ok(HoldOutcome::UnitsTaken(taken))
                }
            }
            Err(StoreError::TransactionCanceled { reasons })
                if hit_at.is_some_and(|at| condition_failed_at(&reasons, at)) =>
            {
                Ok(HoldOutcome::RateLimited)
            }
            Err(StoreError::TransactionCanceled { reasons }) => {
                let taken: Vec<String> = unit_ids
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| condition_failed_at(&reasons, *i))
                    .map(|(_, id)| id.clone())
                    .collect();
                if taken.is_empty() {
                    Err(StoreError::TransactionCanceled { reasons })
                } else {
                    Ok(HoldOutcome::UnitsTaken(taken))
                }
            }
            Err(err) => Err(err),
        }
    }

    /// Takes each stock's quantity from a random window of a random group
    /// of its shards, all in one transaction: first blind, as if every
    /// shard there were full (early in a sale nearly all are, so a hold is
    /// one transaction and no read), then, once a shard turned out short,
    /// from what a read of the window says. A stock's search widens to its
    /// group, then to all its shards, only when the window cannot serve its
    /// quantity; lapsed holds are reclaimed before answering sold out.
    async fn take_places(
        &self,
        event: &Event,
        places: &[(Stock, u32)],
        mut booking: Booking,
        extra: Extra<'_>,
        now: OffsetDateTime,
    ) -> Result<HoldOutcome, StoreError> {
        let mut wants: Vec<Want> = places
            .iter()
            .map(|(stock, quantity)| Want::new(stock, *quantity))
            .collect();
        let shards: u32 = places.iter().map(|(stock, _)| stock.shards).sum();
        let mut reclaimed_lapsed = false;
        'rounds: for _ in 0..(2 * shards + 8).min(MAX_TAKE_ROUNDS) {
            let mut allocations = Vec::new();
            for want in &mut wants {
                let start = rand::rng().random_range(0..want.remaining.len().max(1));
                let Some(taken) = hold::allocate(&want.remaining, want.quantity, start) else {
                    if !want.read {
                        want.read = true;
                    } else if let Some(wider) = want.scope.wider() {
                        want.scope = wider;
                    } else if reclaimed_lapsed {
                        return Ok(HoldOutcome::SoldOut(want.stock.tier.clone()));
                    } else {
                        // Lazy expiry: places of lapsed holds are free before any worker runs.
                        self.release_lapsed_holds(&event.id, now).await?;
                        reclaimed_lapsed = true;
                    }
                    want.remaining = self.places_left(&event.id, want.stock, want.scope).await?;
                    continue 'rounds;
                };
                allocations.extend(taken.into_iter().map(|allocation| Allocation {
                    tier: want.stock.tier.clone(),
                    ..allocation
                }));
            }
            booking.allocations = allocations;
            let mut writes = Vec::with_capacity(booking.allocations.len() + 2);
            for allocation in &booking.allocations {
                writes.push(self.shard_changed(&event.id, allocation, ShardChange::Take(event))?);
            }
            writes.push(self.create(booking_item(&booking))?);
            let hit_at = self.push_extra(&mut writes, extra)?;
            match self.transact(writes).await {
                Ok(committed) => {
                    return Ok(HoldOutcome::Taken {
                        booking: Box::new(booking),
                        consumed_capacity: committed.capacity,
                        attempts: committed.attempts,
                    });
                }
                Err(StoreError::TransactionCanceled { reasons })
                    if hit_at.is_some_and(|at| condition_failed_at(&reasons, at)) =>
                {
                    return Ok(HoldOutcome::RateLimited);
                }
                // A shard ran short under us: what it holds came back with
                // the cancellation; allocate again from that.
                Err(StoreError::TransactionCanceled { reasons }) => {
                    let short: Vec<(&Allocation, u32)> = booking
                        .allocations
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| condition_failed_at(&reasons, *i))
                        .map(|(i, allocation)| {
                            let old = reasons[i].item.as_ref();
                            let left = old.and_then(|item| get_n(item, "remaining").ok());
                            (allocation, left.unwrap_or(0).max(0) as u32)
                        })
                        .collect();
                    if short.is_empty() {
                        return Err(StoreError::TransactionCanceled { reasons });
                    }
                    for (allocation, left) in short {
                        let Some(want) = wants
                            .iter_mut()
                            .find(|want| want.stock.tier == allocation.tier)
                        else {
                            continue;
                        };
                        if !want.read {
                            want.remaining =
                                self.places_left(&event.id, want.stock, want.scope).await?;
                            want.read = true;
                        }
                        // The cancellation's copy is fresher than the index.
                        if let Some(entry) = want
                            .remaining
                            .iter_mut()
                            .find(|(s, _)| *s == allocation.shard)
                        {
                            entry.1 = left;
                        }
                    }
                }
                // Its shards stayed busy through the retries: others are
                // as good, so allocate again from another random start.
                Err(StoreError::Contended) => {}
                Err(err) => return Err(err),
            }
        }
        Err(StoreError::Contended)
    }

    /// Appends what rides along with a sale's writes; returns where the
    /// rate-limit hit went, to read its cancellation reason.
    fn push_extra(
        &self,
        writes: &mut Vec<TransactWriteItem>,
        extra: Extra<'_>,
    ) -> Result<Option<usize>, StoreError> {
        if let Some(entry) = extra.audit {
            writes.push(self.create(audit_item(entry))?);
        }
        let Some(hit) = extra.hit else {
            return Ok(None);
        };
        writes.push(self.rate_hit(hit)?);
        Ok(Some(writes.len() - 1))
    }

    /// Gives a live hold back at once (the owner changed their mind).
    /// `None` when the booking is no longer a live hold.
    pub async fn cancel_hold(
        &self,
        booking: &Booking,
        now: OffsetDateTime,
    ) -> Result<Option<Booking>, StoreError> {
        let mut writes = vec![self.booking_released(booking, BookingStatus::Cancelled, now)?];
        writes.extend(self.inventory_writes(
            booking,
            |unit_id| self.unit_released(&booking.event_id, unit_id, &booking.id, None),
            Some(ShardChange::GiveBack),
        )?);
        writes.extend(self.wallet_given_back(booking, now)?);
        if !transaction_applied(self.transact(writes).await)? {
            return Ok(None);
        }
        let mut released = booking.clone();
        released.status = BookingStatus::Cancelled;
        released.updated_at = now;
        Ok(Some(released))
    }

    /// Marks the event's lapsed holds expired and gives their places back.
    pub async fn release_lapsed_holds(
        &self,
        event_id: &str,
        now: OffsetDateTime,
    ) -> Result<u32, StoreError> {
        let mut released = 0;
        for booking in self.lapsed_holds(event_id, now).await? {
            released += u32::from(self.expire_hold(&booking, now).await?);
        }
        Ok(released)
    }

    /// Marks every lapsed hold of every event expired and gives its units
    /// or places back (the sweep): a Query per GSI3 expiry partition, up to
    /// now.
    pub async fn release_all_lapsed_holds(&self, now: OffsetDateTime) -> Result<u32, StoreError> {
        let mut released = 0;
        for shard in 0..keys::EXPIRING_SHARDS {
            let items = self
                .due_in_index(GSI3, &keys::expiring_pk(shard), now)
                .await?;
            for item in &items {
                released += u32::from(self.expire_hold(&booking_from_item(item)?, now).await?);
            }
        }
        Ok(released)
    }

    /// Ends one lapsed hold: the booking goes `held → expired` on condition
    /// that it is still held with the hold read (same expiry, lapsed by
    /// now), its shard places go back in the same transaction, and its units
    /// go back where this booking still holds them. Racing releasers free
    /// each place once. `false` when the booking was no longer that hold.
    pub async fn expire_hold(
        &self,
        booking: &Booking,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut writes = vec![self.booking_released(booking, BookingStatus::Expired, now)?];
        for allocation in &booking.allocations {
            writes.push(self.shard_changed(
                &booking.event_id,
                allocation,
                ShardChange::GiveBack,
            )?);
        }
        writes.extend(self.wallet_given_back(booking, now)?);
        let expired = transaction_applied(self.transact(writes).await)?;
        if let Some(units) = &booking.units {
            // Apart from the booking: a unit may have been taken over
            // already (lazy expiry), and that must not undo the expiry.
            // Only units this booking still holds with a lapsed hold go
            // back; one left behind by a run that stops here is free
            // anyway, as its hold lapsed.
            for unit_id in units {
                let update =
                    self.unit_released(&booking.event_id, unit_id, &booking.id, Some(now))?;
                match self.update_alone(update).await {
                    Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
                    Err(err) => return Err(err),
                }
            }
        }
        Ok(expired)
    }

    /// Held bookings of the event whose time ran out (sparse GSI2, by
    /// expiry, over the event's held partitions).
    pub(super) async fn lapsed_holds(
        &self,
        event_id: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<Booking>, StoreError> {
        let partitions: Vec<String> = keys::held_pks(event_id).collect();
        let pages = futures::future::try_join_all(
            partitions.iter().map(|pk| self.due_in_index(GSI2, pk, now)),
        )
        .await?;
        pages.iter().flatten().map(booking_from_item).collect()
    }

    /// Is any hold of the event still live at `now`? One Query of at most
    /// one item (keys only) per GSI2 `HELD#` partition, four at a time,
    /// stopping at the first live hold: what the sold-out check reads
    /// first, since a pending hold means the event is not sold out yet. The
    /// index may lag a moment behind a hold just taken.
    pub async fn holds_pending(
        &self,
        event_id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut partitions = futures::stream::iter(keys::held_pks(event_id))
            .map(|pk| self.live_hold_in(pk, now))
            .buffer_unordered(HELD_READS_AT_ONCE);
        while let Some(live) = partitions.next().await {
            if live? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Does this `HELD#` partition have a hold expiring after `now`?
    async fn live_hold_in(&self, pk: String, now: OffsetDateTime) -> Result<bool, StoreError> {
        let found = self
            .client
            .query()
            .table_name(self.table_name())
            .index_name(GSI2)
            .key_condition_expression("GSI2PK = :pk AND GSI2SK > :now")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":now", s(keys::due_by(now.unix_timestamp())))
            .projection_expression("PK")
            .limit(1)
            .send()
            .await
            .map_err(classify)?;
        Ok(found.count() > 0)
    }

    /// Ends a hold, conditional on it still being held: live for a
    /// cancellation; lapsed, and still the hold that was read, for an
    /// expiry; and with the wallet part read, so a read that missed a
    /// checkout's reservation (an index lags) never ends the hold without
    /// giving the reservation back. Leaves the hold indexes.
    fn booking_released(
        &self,
        booking: &Booking,
        to: BookingStatus,
        now: OffsetDateTime,
    ) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = keys::booking(&booking.id);
        let update = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression(format!(
                "SET #status = :to, updated_at = :updated_at REMOVE {HELD_INDEX_ATTRIBUTES}"
            ))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":held", s("held"))
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .expression_attribute_values(":updated_at", s(rfc3339(now)));
        let (wallet, update) = match booking.paid_wallet_cents {
            Some(cents) => (
                "paid_wallet_cents = :wallet",
                update.expression_attribute_values(":wallet", n(cents)),
            ),
            None => ("attribute_not_exists(paid_wallet_cents)", update),
        };
        let update = match (to, booking.hold_expires_at) {
            (BookingStatus::Expired, Some(expires)) => update
                .condition_expression(format!(
                    "#status = :held AND hold_expires_epoch = :expires AND hold_expires_epoch <= :now AND {wallet}"
                ))
                .expression_attribute_values(":expires", n(expires.unix_timestamp())),
            (BookingStatus::Expired, None) => {
                return Err(StoreError::Corrupt(format!(
                    "held booking {} has no expiry",
                    booking.id
                )));
            }
            _ => update.condition_expression(format!(
                "#status = :held AND hold_expires_epoch > :now AND {wallet}"
            )),
        };
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(build_error)?)
            .build())
    }

    /// Sends one update of a transaction's kind on its own.
    async fn update_alone(&self, write: TransactWriteItem) -> Result<(), StoreError> {
        let Some(update) = write.update else {
            return Err(StoreError::Service("update_alone needs an update".into()));
        };
        self.client
            .update_item()
            .table_name(update.table_name)
            .set_key(Some(update.key))
            .update_expression(update.update_expression)
            .set_condition_expression(update.condition_expression)
            .set_expression_attribute_names(update.expression_attribute_names)
            .set_expression_attribute_values(update.expression_attribute_values)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}
