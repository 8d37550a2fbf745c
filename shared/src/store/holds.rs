//! Holds, releases and availability. Oversell is impossible by construction:
//! every unit or place changes hands inside one conditional transaction that
//! also checks the event is still on sale with the layout the price came from.

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, KeysAndAttributes, ReturnConsumedCapacity, TransactWriteItem,
    Update,
};
use rand::Rng;
use time::OffsetDateTime;

use super::audit::audit_item;
use super::item::{get_n, get_s, get_time, has, key, n, rfc3339, s};
use super::keys::{
    self, GSI1, GSI1PK, GSI1SK, GSI2, GSI2PK, GSI2SK, GSI3, GSI3PK, GSI3SK, PK, SK, epoch_sort_key,
};
use super::paging::Page;
use super::{
    Item, Store, StoreError, build_error, classify, condition_failed_at, transaction_applied,
};
use crate::cursor::PageKey;
use crate::domain::audit::AuditEntry;
use crate::domain::booking::{Allocation, Booking, BookingSource, BookingStatus};
use crate::domain::event::{Event, Layout};
use crate::domain::hold::{self, Plan, Take};
use crate::domain::id::is_plausible_id;
use crate::domain::refund::RefundStatus;

/// A transaction cancelled only by contention is retried this many times.
const MAX_TRANSACTION_ATTEMPTS: u32 = 6;

#[derive(Debug)]
pub enum HoldOutcome {
    Taken {
        booking: Box<Booking>,
        /// Capacity units the winning transaction consumed (for benchmarks).
        consumed_capacity: f64,
    },
    /// Grid: these units belong to someone else; nothing was taken.
    UnitsTaken(Vec<String>),
    /// Open: not enough places left; nothing was taken.
    SoldOut,
    /// The event stopped being on sale, or its layout changed, meanwhile.
    EventChanged,
}

/// Index attributes only a held booking carries (GSI2: lapsed holds of an
/// event; GSI3: every event's holds by expiry, for the sweep); every
/// transition out of `held` removes them.
pub(super) const HELD_INDEX_ATTRIBUTES: &str = "GSI2PK, GSI2SK, GSI3PK, GSI3SK";

#[derive(Debug, Clone, Copy)]
pub(super) enum ShardChange {
    Take,
    GiveBack,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitState {
    Available,
    Held,
    Booked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Grid(Vec<(String, UnitState)>),
    Open { capacity: u32, remaining: u32 },
}

impl Store {
    /// Takes what the plan names for `booking`, all or nothing.
    pub async fn take(
        &self,
        event: &Event,
        plan: &Plan,
        booking: Booking,
        audit: Option<&AuditEntry>,
        now: OffsetDateTime,
    ) -> Result<HoldOutcome, StoreError> {
        match &plan.take {
            Take::Units(ids) => self.take_units(event, ids, booking, audit, now).await,
            Take::Quantity(quantity) => {
                self.take_quantity(event, *quantity, booking, audit, now)
                    .await
            }
        }
    }

    async fn take_units(
        &self,
        event: &Event,
        unit_ids: &[String],
        booking: Booking,
        audit: Option<&AuditEntry>,
        now: OffsetDateTime,
    ) -> Result<HoldOutcome, StoreError> {
        let mut writes = vec![self.event_guard(event)?];
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
        if let Some(entry) = audit {
            writes.push(self.create(audit_item(entry))?);
        }
        match self.transact(writes).await {
            Ok(consumed_capacity) => Ok(HoldOutcome::Taken {
                booking: Box::new(booking),
                consumed_capacity,
            }),
            Err(StoreError::TransactionCanceled { reasons })
                if condition_failed_at(&reasons, 0) =>
            {
                Ok(HoldOutcome::EventChanged)
            }
            Err(StoreError::TransactionCanceled { reasons }) => {
                let taken: Vec<String> = unit_ids
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| condition_failed_at(&reasons, i + 1))
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

    async fn take_quantity(
        &self,
        event: &Event,
        quantity: u32,
        mut booking: Booking,
        audit: Option<&AuditEntry>,
        now: OffsetDateTime,
    ) -> Result<HoldOutcome, StoreError> {
        let mut remaining = self.shard_remaining(event).await?;
        let start = rand::rng().random_range(0..remaining.len().max(1));
        let mut reclaimed_lapsed = false;
        // Each failed attempt means a shard ran short under us: re-read and
        // try again. Bounded, since every shard can run short only so often.
        for _ in 0..(2 * event.shard_count + 4) {
            let Some(allocations) = hold::allocate(&remaining, quantity, start) else {
                if reclaimed_lapsed {
                    return Ok(HoldOutcome::SoldOut);
                }
                // Lazy expiry: places of lapsed holds are free before any worker runs.
                self.release_lapsed_holds(&event.id, now).await?;
                reclaimed_lapsed = true;
                remaining = self.shard_remaining(event).await?;
                continue;
            };
            booking.allocations = allocations;
            let mut writes = vec![self.event_guard(event)?];
            for allocation in &booking.allocations {
                writes.push(self.shard_changed(&event.id, *allocation, ShardChange::Take)?);
            }
            writes.push(self.create(booking_item(&booking))?);
            if let Some(entry) = audit {
                writes.push(self.create(audit_item(entry))?);
            }
            match self.transact(writes).await {
                Ok(consumed_capacity) => {
                    return Ok(HoldOutcome::Taken {
                        booking: Box::new(booking),
                        consumed_capacity,
                    });
                }
                Err(StoreError::TransactionCanceled { reasons })
                    if condition_failed_at(&reasons, 0) =>
                {
                    return Ok(HoldOutcome::EventChanged);
                }
                Err(StoreError::TransactionCanceled { .. }) => {
                    remaining = self.shard_remaining(event).await?
                }
                Err(err) => return Err(err),
            }
        }
        Err(StoreError::Throttled)
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
                *allocation,
                ShardChange::GiveBack,
            )?);
        }
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

    /// The booking; `None` for unknown (or impossible) ids.
    pub async fn booking(&self, id: &str) -> Result<Option<Booking>, StoreError> {
        if !is_plausible_id(id) {
            return Ok(None);
        }
        self.get(keys::booking(id))
            .await?
            .as_ref()
            .map(booking_from_item)
            .transpose()
    }

    /// A user's bookings, newest first.
    pub async fn bookings_of_user(
        &self,
        user_id: &str,
        limit: usize,
        start: Option<PageKey>,
    ) -> Result<Page<Booking>, StoreError> {
        let query = || {
            self.client
                .query()
                .table_name(self.table_name())
                .index_name(GSI1)
                .key_condition_expression("GSI1PK = :pk")
                .expression_attribute_values(":pk", s(user_bookings_pk(user_id)))
                .scan_index_forward(false)
        };
        self.query_page(
            query,
            &[PK, SK, GSI1PK, GSI1SK],
            limit,
            start,
            booking_from_item,
        )
        .await
    }

    /// What is free right now; lapsed holds count as free.
    pub async fn availability(
        &self,
        event: &Event,
        now: OffsetDateTime,
    ) -> Result<Availability, StoreError> {
        match &event.layout {
            Layout::Grid { units } => {
                let stored = self.unit_states(&event.id, now).await?;
                Ok(Availability::Grid(
                    units
                        .iter()
                        .map(|u| {
                            (
                                u.id.clone(),
                                stored.get(&u.id).copied().unwrap_or(UnitState::Available),
                            )
                        })
                        .collect(),
                ))
            }
            Layout::Open { capacity, .. } => {
                let in_shards: u32 = self
                    .shard_remaining(event)
                    .await?
                    .iter()
                    .map(|(_, r)| r)
                    .sum();
                let lapsed: u32 = self
                    .lapsed_holds(&event.id, now)
                    .await?
                    .iter()
                    .map(|b| b.quantity)
                    .sum();
                Ok(Availability::Open {
                    capacity: *capacity,
                    remaining: (in_shards + lapsed).min(*capacity),
                })
            }
        }
    }

    async fn unit_states(
        &self,
        event_id: &str,
        now: OffsetDateTime,
    ) -> Result<HashMap<String, UnitState>, StoreError> {
        let (pk, _) = keys::unit(event_id, "");
        self.items_under(&pk, "UNIT#")
            .await?
            .iter()
            .map(|item| {
                let state = match get_s(item, "state")? {
                    "booked" => UnitState::Booked,
                    "held" if get_n(item, "hold_expires_at")? > now.unix_timestamp() => {
                        UnitState::Held
                    }
                    _ => UnitState::Available,
                };
                Ok((get_s(item, "unit_id")?.to_owned(), state))
            })
            .collect()
    }

    /// Held bookings of the event whose time ran out (sparse GSI2, by expiry).
    async fn lapsed_holds(
        &self,
        event_id: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<Booking>, StoreError> {
        self.due_in_index(GSI2, &held_pk(event_id), now)
            .await?
            .iter()
            .map(booking_from_item)
            .collect()
    }

    /// Remaining places per shard, read consistently.
    pub(super) async fn shard_remaining(
        &self,
        event: &Event,
    ) -> Result<Vec<(u32, u32)>, StoreError> {
        let keys: Vec<Item> = (0..event.shard_count)
            .map(|shard| {
                let (pk, sk) = keys::inventory_shard(&event.id, shard);
                key(pk, sk)
            })
            .collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut request = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(build_error)?,
        );
        let mut remaining = Vec::new();
        while let Some(keys_and_attributes) = request.take() {
            let out = self
                .client
                .batch_get_item()
                .request_items(self.table_name(), keys_and_attributes)
                .send()
                .await
                .map_err(classify)?;
            for item in out
                .responses()
                .and_then(|r| r.get(self.table_name()))
                .into_iter()
                .flatten()
            {
                let shard = get_s(item, PK)?
                    .rsplit('#')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| StoreError::Corrupt("inventory shard key".into()))?;
                remaining.push((shard, get_n(item, "remaining")?.max(0) as u32));
            }
            // Unprocessed keys (throttling) are asked for again.
            request = out
                .unprocessed_keys()
                .and_then(|u| u.get(self.table_name()))
                .filter(|k| !k.keys().is_empty())
                .cloned();
        }
        remaining.sort_unstable();
        Ok(remaining)
    }

    /// The event must still be on sale with the layout we priced from. The
    /// first hold also freezes the layout (`sales_started`); later holds only
    /// check, so they do not contend on the event item.
    fn event_guard(&self, event: &Event) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = keys::event(&event.id);
        let published = s("published");
        if event.sales_started {
            let check = ConditionCheck::builder()
                .table_name(self.table_name())
                .set_key(Some(key(pk, sk)))
                .condition_expression("#status = :published")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":published", published)
                .build()
                .map_err(build_error)?;
            return Ok(TransactWriteItem::builder().condition_check(check).build());
        }
        let freeze = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression("SET sales_started = :true")
            .condition_expression("#status = :published AND updated_at = :read_at")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":published", published)
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":read_at", s(rfc3339(event.updated_at)))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(freeze).build())
    }

    /// The unit goes to the booking, held until `hold_expires_at` or booked
    /// when that is `None`, if it is free: never written, available, held by
    /// a hold whose time ran out (lazy expiry), or held by this booking (a
    /// paid hold becoming booked).
    pub(super) fn unit_taken(
        &self,
        event_id: &str,
        unit_id: &str,
        booking_id: &str,
        hold_expires_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = keys::unit(event_id, unit_id);
        let update = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .condition_expression(
                "attribute_not_exists(PK) OR #state = :available \
                 OR (#state = :held AND (hold_expires_at <= :now OR booking_id = :booking))",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":available", s("available"))
            .expression_attribute_values(":held", s("held"))
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .expression_attribute_values(":unit", s(unit_id))
            .expression_attribute_values(":booking", s(booking_id));
        let update = match hold_expires_at {
            Some(expires) => update
                .update_expression(
                    "SET #state = :held, unit_id = :unit, booking_id = :booking, hold_expires_at = :expires",
                )
                .expression_attribute_values(":expires", n(expires.unix_timestamp())),
            None => update
                .update_expression("SET #state = :booked, unit_id = :unit, booking_id = :booking REMOVE hold_expires_at")
                .expression_attribute_values(":booked", s("booked")),
        };
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(build_error)?)
            .build())
    }

    /// The unit goes back to available if `booking_id` still holds it;
    /// with `lapsed_by`, only if that hold had lapsed by then.
    fn unit_released(
        &self,
        event_id: &str,
        unit_id: &str,
        booking_id: &str,
        lapsed_by: Option<OffsetDateTime>,
    ) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = keys::unit(event_id, unit_id);
        let update = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression("SET #state = :available REMOVE booking_id, hold_expires_at")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":available", s("available"))
            .expression_attribute_values(":held", s("held"))
            .expression_attribute_values(":booking", s(booking_id));
        let update = match lapsed_by {
            Some(now) => update
                .condition_expression(
                    "booking_id = :booking AND #state = :held AND hold_expires_at <= :now",
                )
                .expression_attribute_values(":now", n(now.unix_timestamp())),
            None => update.condition_expression("booking_id = :booking AND #state = :held"),
        };
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(build_error)?)
            .build())
    }

    /// The writes a booking's units or places need: one per unit of a grid
    /// booking, or one shard change per allocation of an open one (`None`:
    /// its places stay where they are).
    pub(super) fn inventory_writes(
        &self,
        booking: &Booking,
        unit: impl Fn(&str) -> Result<TransactWriteItem, StoreError>,
        places: Option<ShardChange>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        match (&booking.units, places) {
            (Some(units), _) => units.iter().map(|unit_id| unit(unit_id)).collect(),
            (None, Some(change)) => booking
                .allocations
                .iter()
                .map(|allocation| self.shard_changed(&booking.event_id, *allocation, change))
                .collect(),
            (None, None) => Ok(Vec::new()),
        }
    }

    /// Takes places from a shard, never below zero, or gives them back.
    pub(super) fn shard_changed(
        &self,
        event_id: &str,
        allocation: Allocation,
        change: ShardChange,
    ) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = keys::inventory_shard(event_id, allocation.shard);
        let (update_expression, condition) = match change {
            ShardChange::Take => (
                "SET remaining = remaining - :quantity",
                "remaining >= :quantity",
            ),
            ShardChange::GiveBack => (
                "SET remaining = remaining + :quantity",
                "attribute_exists(PK)",
            ),
        };
        let update = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression(update_expression)
            .condition_expression(condition)
            .expression_attribute_values(":quantity", n(allocation.quantity.into()))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Ends a hold, conditional on it still being held: live for a
    /// cancellation; lapsed, and still the hold that was read, for an
    /// expiry. Leaves the hold indexes.
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
        let update = match (to, booking.hold_expires_at) {
            (BookingStatus::Expired, Some(expires)) => update
                .condition_expression(
                    "#status = :held AND hold_expires_epoch = :expires AND hold_expires_epoch <= :now",
                )
                .expression_attribute_values(":expires", n(expires.unix_timestamp())),
            (BookingStatus::Expired, None) => {
                return Err(StoreError::Corrupt(format!(
                    "held booking {} has no expiry",
                    booking.id
                )));
            }
            _ => update.condition_expression("#status = :held AND hold_expires_epoch > :now"),
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

    /// Runs a transaction, retrying with jittered backoff while it is
    /// cancelled only by contention or throttling. Returns the capacity used.
    pub(super) async fn transact(&self, writes: Vec<TransactWriteItem>) -> Result<f64, StoreError> {
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .transact_write_items()
                .client_request_token(super::request_token())
                .set_transact_items(Some(writes.clone()))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(classify);
            match result {
                Ok(out) => {
                    return Ok(out
                        .consumed_capacity()
                        .iter()
                        .filter_map(|c| c.capacity_units())
                        .sum());
                }
                Err(err) if is_transient(&err) && attempt + 1 < MAX_TRANSACTION_ATTEMPTS => {
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }
}

/// Cancelled by contention (or throttled), not by a failed condition: the
/// same transaction may well succeed if tried again.
pub fn is_transient(err: &StoreError) -> bool {
    match err {
        StoreError::Throttled => true,
        StoreError::TransactionCanceled { reasons } => {
            let codes: Vec<&str> = reasons.iter().filter_map(|r| r.code.as_deref()).collect();
            !codes.contains(&"ConditionalCheckFailed")
                && codes.iter().any(|c| {
                    matches!(
                        *c,
                        "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
                    )
                })
        }
        _ => false,
    }
}

/// Full jitter over an exponential ceiling: 25 ms, 50 ms, ... up to 800 ms.
fn backoff(attempt: u32) -> StdDuration {
    let ceiling_ms = 25u64 << attempt.min(5);
    StdDuration::from_millis(rand::rng().random_range(1..=ceiling_ms))
}

fn user_bookings_pk(user_id: &str) -> String {
    format!("USERBOOKINGS#{user_id}")
}

/// A confirmed booking's place in GSI2: its event's confirmed bookings
/// (refunded when the event is cancelled).
pub(super) fn booked_pk(event_id: &str) -> String {
    format!("BOOKED#{event_id}")
}

fn held_pk(event_id: &str) -> String {
    format!("HELD#{event_id}")
}

fn booking_item(booking: &Booking) -> Item {
    let (pk, sk) = keys::booking(&booking.id);
    let created_at = rfc3339(booking.created_at);
    let mut item = key(pk, sk);
    item.extend([
        ("id".into(), s(&booking.id)),
        ("event_id".into(), s(&booking.event_id)),
        ("user_id".into(), s(&booking.user_id)),
        ("status".into(), s(booking.status.as_str())),
        ("quantity".into(), n(booking.quantity.into())),
        ("amount_cents".into(), n(booking.amount_cents)),
        ("fee_cents".into(), n(booking.fee_cents)),
        ("currency".into(), s(&booking.currency)),
        ("source".into(), s(booking.source.as_str())),
        ("created_at".into(), s(&created_at)),
        ("updated_at".into(), s(rfc3339(booking.updated_at))),
        (GSI1PK.into(), s(user_bookings_pk(&booking.user_id))),
        (GSI1SK.into(), s(format!("{created_at}#{}", booking.id))),
    ]);
    if let Some(units) = &booking.units {
        item.insert(
            "units".into(),
            AttributeValue::L(units.iter().map(s).collect()),
        );
    }
    if !booking.allocations.is_empty() {
        item.insert(
            "allocations".into(),
            s(serde_json::to_string(&booking.allocations).unwrap_or_default()),
        );
    }
    if let Some(expires) = booking.hold_expires_at {
        item.insert("hold_expires_at".into(), s(rfc3339(expires)));
        item.insert("hold_expires_epoch".into(), n(expires.unix_timestamp()));
        if booking.status == BookingStatus::Held {
            let by_expiry = format!(
                "{}#{}",
                epoch_sort_key(expires.unix_timestamp()),
                booking.id
            );
            item.extend([
                (GSI2PK.into(), s(held_pk(&booking.event_id))),
                (GSI2SK.into(), s(&by_expiry)),
                (
                    GSI3PK.into(),
                    s(keys::expiring_pk(keys::expiring_shard(&booking.id))),
                ),
                (GSI3SK.into(), s(by_expiry)),
            ]);
        }
    }
    if booking.status == BookingStatus::Confirmed {
        item.extend([
            (GSI2PK.into(), s(booked_pk(&booking.event_id))),
            (GSI2SK.into(), s(&booking.id)),
        ]);
    }
    for (name, value) in [
        ("holder_name", &booking.holder_name),
        ("holder_email", &booking.holder_email),
    ] {
        if let Some(value) = value {
            item.insert(name.into(), s(value));
        }
    }
    item
}

pub(super) fn booking_from_item(item: &Item) -> Result<Booking, StoreError> {
    let status = get_s(item, "status")?;
    let optional = |name: &str| get_s(item, name).ok().map(str::to_owned);
    Ok(Booking {
        id: get_s(item, "id")?.to_owned(),
        event_id: get_s(item, "event_id")?.to_owned(),
        user_id: get_s(item, "user_id")?.to_owned(),
        status: BookingStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("booking status {status}")))?,
        units: item
            .get("units")
            .and_then(|v| v.as_l().ok())
            .map(|list| list.iter().filter_map(|v| v.as_s().ok().cloned()).collect()),
        quantity: get_n(item, "quantity")? as u32,
        amount_cents: get_n(item, "amount_cents")?,
        fee_cents: get_n(item, "fee_cents")?,
        currency: get_s(item, "currency")?.to_owned(),
        hold_expires_at: has(item, "hold_expires_at")
            .then(|| get_time(item, "hold_expires_at"))
            .transpose()?,
        payment_intent_id: optional("payment_intent_id"),
        source: match get_s(item, "source")? {
            "walk_in" => BookingSource::WalkIn,
            _ => BookingSource::Online,
        },
        holder_name: optional("holder_name"),
        holder_email: optional("holder_email"),
        created_at: get_time(item, "created_at")?,
        updated_at: get_time(item, "updated_at")?,
        refund_status: get_s(item, "refund_status")
            .ok()
            .map(|status| {
                RefundStatus::parse(status)
                    .ok_or_else(|| StoreError::Corrupt(format!("refund status {status}")))
            })
            .transpose()?,
        refund_id: optional("refund_id"),
        refunded_cents: has(item, "refunded_cents")
            .then(|| get_n(item, "refunded_cents"))
            .transpose()?,
        allocations: match get_s(item, "allocations") {
            Ok(json) => serde_json::from_str(json)
                .map_err(|e| StoreError::Corrupt(format!("allocations: {e}")))?,
            Err(_) => Vec::new(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Cancellation;

    fn cancelled(codes: &[&str]) -> StoreError {
        StoreError::TransactionCanceled {
            reasons: codes
                .iter()
                .map(|c| Cancellation {
                    code: Some((*c).to_owned()),
                    item: None,
                })
                .collect(),
        }
    }

    #[test]
    fn a_transaction_conflict_is_retried() {
        assert!(is_transient(&cancelled(&[
            "None",
            "TransactionConflict",
            "None"
        ])));
        assert!(is_transient(&cancelled(&["ThrottlingError"])));
        assert!(is_transient(&StoreError::Throttled));
    }

    #[test]
    fn a_failed_condition_is_final_even_beside_a_conflict() {
        assert!(!is_transient(&cancelled(&[
            "ConditionalCheckFailed",
            "TransactionConflict"
        ])));
        assert!(!is_transient(&cancelled(&[
            "None",
            "ConditionalCheckFailed"
        ])));
        assert!(!is_transient(&StoreError::ConditionFailed { item: None }));
    }

    #[test]
    fn backoff_stays_within_its_growing_ceiling() {
        for attempt in 0..8 {
            let delay = backoff(attempt).as_millis() as u64;
            assert!((1..=(25 << attempt.min(5))).contains(&delay));
        }
    }

    #[test]
    fn a_held_booking_is_in_the_hold_indexes_and_a_confirmed_one_in_its_events_bookings() {
        let mut booking = Booking {
            id: "b1".into(),
            event_id: "e1".into(),
            ..Booking::example()
        };
        let item = booking_item(&booking);
        let held_only: Vec<&str> = HELD_INDEX_ATTRIBUTES.split(", ").collect();
        assert_eq!(held_only, [GSI2PK, GSI2SK, GSI3PK, GSI3SK]);
        for name in &held_only {
            assert!(item.contains_key(*name), "{name}");
        }
        assert_eq!(get_s(&item, GSI2SK).unwrap(), "001800000000#b1");
        assert_eq!(get_s(&item, GSI3SK).unwrap(), "001800000000#b1");
        assert_eq!(
            get_s(&item, GSI3PK).unwrap(),
            keys::expiring_pk(keys::expiring_shard("b1"))
        );
        booking.status = BookingStatus::Confirmed;
        let item = booking_item(&booking);
        assert!(![GSI3PK, GSI3SK].iter().any(|k| item.contains_key(*k)));
        assert_eq!(
            get_s(&item, GSI2PK).unwrap(),
            "BOOKED#e1",
            "among the event's confirmed bookings"
        );
        booking.status = BookingStatus::Cancelled;
        let item = booking_item(&booking);
        assert!(!held_only.iter().any(|k| item.contains_key(*k)));
    }
}
