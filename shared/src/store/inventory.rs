//! Inventory: grid units and open-mode shards, each its own item, spread
//! over partition keys (docs/holds.md). Only conditional writes change
//! them, so two buyers never get the same unit or place.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use futures::future::try_join_all;
use rand::Rng;
use time::OffsetDateTime;

use super::item::{get_n, get_s, key, n, s};
use super::keys::{self, GSI2, GSI2PK, GSI2SK};
use super::{Item, Store, StoreError, build_error, every_item};
use crate::domain::booking::{Allocation, Booking};
use crate::domain::event::{Event, Layout, Stock, shard_capacity, shard_group, shard_group_count};
use crate::domain::hold::{self, Availability, ShardScope, UnitState};

#[derive(Debug, Clone, Copy)]
pub(super) enum ShardChange<'a> {
    /// Places go to a booking of this event; a shard no hold touched yet
    /// is created full first.
    Take(&'a Event),
    GiveBack,
}

impl Store {
    /// What is free right now; lapsed holds count as free.
    pub async fn availability(
        &self,
        event: &Event,
        now: OffsetDateTime,
    ) -> Result<Availability, StoreError> {
        match &event.layout {
            Layout::Grid { units, .. } => {
                let stored = self.unit_states(&event.id, now).await?;
                Ok(Availability::Grid(
                    units
                        .iter()
                        .map(|u| {
                            let state = stored.get(&u.id).copied();
                            (u.clone(), state.unwrap_or(UnitState::Available))
                        })
                        .collect(),
                ))
            }
            Layout::Open { .. } => {
                let stocks = event.stocks();
                let in_shards = try_join_all(
                    stocks
                        .iter()
                        .map(|stock| self.places_left(&event.id, stock, ShardScope::All)),
                )
                .await?;
                let lapsed = self.lapsed_holds(&event.id, now).await?;
                Ok(Availability::Open(
                    stocks
                        .into_iter()
                        .zip(in_shards)
                        .map(|(stock, shards)| {
                            let in_shards: u32 = shards.iter().map(|(_, left)| left).sum();
                            let lapsed: u32 = lapsed.iter().map(|b| places_of(b, &stock)).sum();
                            let remaining = (in_shards + lapsed).min(stock.capacity);
                            (stock, remaining)
                        })
                        .collect(),
                ))
            }
        }
    }

    /// The state of every unit a hold ever wrote, from all its buckets.
    async fn unit_states(
        &self,
        event_id: &str,
        now: OffsetDateTime,
    ) -> Result<HashMap<String, UnitState>, StoreError> {
        let buckets: Vec<String> = keys::unit_buckets(event_id).collect();
        let items = try_join_all(buckets.iter().map(|pk| self.items_under(pk, "UNIT#"))).await?;
        items
            .iter()
            .flatten()
            .map(|item| Ok((get_s(item, "unit_id")?.to_owned(), unit_state(item, now)?)))
            .collect()
    }

    /// Which of `unit_ids` another booking holds (live) or booked, read now.
    pub(super) async fn units_taken_by_others(
        &self,
        event: &Event,
        unit_ids: &[String],
        booking_id: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<String>, StoreError> {
        let reads = unit_ids
            .iter()
            .map(|unit_id| self.get(keys::unit(&event.id, unit_id)));
        let items = try_join_all(reads).await?;
        let mut taken = Vec::new();
        for (unit_id, item) in unit_ids.iter().zip(items) {
            let Some(item) = item else { continue };
            let live = unit_state(&item, now)? != UnitState::Available;
            if live && get_s(&item, "booking_id").ok() != Some(booking_id) {
                taken.push(unit_id.clone());
            }
        }
        Ok(taken)
    }

    /// Places left per shard of an open event in `scope`. Read from the
    /// groups' GSI2 partitions (only shards a hold touched are there; the
    /// others are full), so it may lag a moment behind the shards: takes
    /// are conditional, and a stale read only costs a retry.
    pub(super) async fn places_left(
        &self,
        event_id: &str,
        stock: &Stock,
        scope: ShardScope,
    ) -> Result<Vec<(u32, u32)>, StoreError> {
        let reads: Vec<(u32, Option<(u32, u32)>)> = match scope {
            // A window is one range of its group's sort keys.
            ShardScope::Window { group, .. } => {
                let shards = scope.shards(stock.shards);
                let range = shards.first().copied().zip(shards.last().copied());
                vec![(group, range)]
            }
            ShardScope::Group(group) => vec![(group, None)],
            ShardScope::All => (0..shard_group_count(stock.shards))
                .map(|group| (group, None))
                .collect(),
        };
        let tier = stock.tier.as_deref();
        let pages = try_join_all(
            reads
                .iter()
                .map(|&(group, range)| self.touched_shards(event_id, tier, group, range)),
        )
        .await?;
        let touched = pages
            .iter()
            .flatten()
            .map(|item| {
                let shard = get_n(item, "shard")? as u32;
                Ok((shard, get_n(item, "remaining")?.max(0) as u32))
            })
            .collect::<Result<HashMap<u32, u32>, StoreError>>()?;
        Ok(hold::places_left(
            stock.capacity,
            stock.shards,
            scope,
            &touched,
        ))
    }

    /// The touched shards of a group, or of the range of it from the first
    /// to the last shard given; only the two attributes a hold needs.
    async fn touched_shards(
        &self,
        event_id: &str,
        tier: Option<&str>,
        group: u32,
        range: Option<(u32, u32)>,
    ) -> Result<Vec<Item>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(self.table_name())
            .index_name(GSI2)
            .projection_expression("#shard, remaining")
            .expression_attribute_names("#shard", "shard")
            .expression_attribute_values(":pk", s(keys::shard_group_pk(event_id, tier, group)));
        let query = match range {
            Some((first, last)) => query
                .key_condition_expression("GSI2PK = :pk AND GSI2SK BETWEEN :first AND :last")
                .expression_attribute_values(":first", s(keys::shard_group_sk(first)))
                .expression_attribute_values(":last", s(keys::shard_group_sk(last))),
            None => query.key_condition_expression("GSI2PK = :pk"),
        };
        every_item(query).await
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
    pub(super) fn unit_released(
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
        places: Option<ShardChange<'_>>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        match (&booking.units, places) {
            (Some(units), _) => units.iter().map(|unit_id| unit(unit_id)).collect(),
            (None, Some(change)) => booking
                .allocations
                .iter()
                .map(|allocation| self.shard_changed(&booking.event_id, allocation, change))
                .collect(),
            (None, None) => Ok(Vec::new()),
        }
    }

    /// Takes places from a shard, never below zero, or gives them back. A
    /// shard is created, full, by the first take (so an event of 50,000
    /// places needs no 5,000 writes up front), and from then on sits in its
    /// group's GSI2 partition. A failed take returns the shard as it was, so
    /// the caller learns what is left without another read.
    pub(super) fn shard_changed(
        &self,
        event_id: &str,
        allocation: &Allocation,
        change: ShardChange<'_>,
    ) -> Result<TransactWriteItem, StoreError> {
        let tier = allocation.tier.as_deref();
        let (pk, sk) = keys::inventory_shard(event_id, tier, allocation.shard);
        let update = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .expression_attribute_values(":quantity", n(allocation.quantity.into()));
        let update = match change {
            ShardChange::Take(event) => {
                let stock = event.stock(tier).ok_or_else(|| {
                    StoreError::Corrupt(format!("event {event_id} has no tier {tier:?}"))
                })?;
                let full = shard_capacity(stock.capacity, stock.shards, allocation.shard);
                let group = shard_group(allocation.shard, shard_group_count(stock.shards));
                update
                    .update_expression(
                        "SET remaining = if_not_exists(remaining, :full) - :quantity, \
                         #capacity = :full, #shard = :shard, #gsi2pk = :group, #gsi2sk = :order",
                    )
                    .condition_expression(
                        "attribute_not_exists(remaining) OR remaining >= :quantity",
                    )
                    .expression_attribute_names("#capacity", "capacity")
                    .expression_attribute_names("#shard", "shard")
                    .expression_attribute_names("#gsi2pk", GSI2PK)
                    .expression_attribute_names("#gsi2sk", GSI2SK)
                    .expression_attribute_values(":full", n(full.into()))
                    .expression_attribute_values(":shard", n(allocation.shard.into()))
                    .expression_attribute_values(
                        ":group",
                        s(keys::shard_group_pk(event_id, tier, group)),
                    )
                    .expression_attribute_values(
                        ":order",
                        s(keys::shard_group_sk(allocation.shard)),
                    )
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
            }
            ShardChange::GiveBack => update
                .update_expression("SET remaining = remaining + :quantity")
                .condition_expression("attribute_exists(remaining)"),
        };
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(build_error)?)
            .build())
    }
}

/// A stored unit's state at `now`: a hold whose time ran out is available.
fn unit_state(item: &Item, now: OffsetDateTime) -> Result<UnitState, StoreError> {
    Ok(match get_s(item, "state")? {
        "booked" => UnitState::Booked,
        "held" if get_n(item, "hold_expires_at")? > now.unix_timestamp() => UnitState::Held,
        _ => UnitState::Available,
    })
}

/// Places per shard in `scope` if no hold had touched them: every shard
/// full. What a blind first take allocates from.
pub(super) fn places_if_full(stock: &Stock, scope: ShardScope) -> Vec<(u32, u32)> {
    hold::places_left(stock.capacity, stock.shards, scope, &HashMap::new())
}

impl Store {
    /// Where an expired open booking could take its places anew (a late
    /// payment): free ones from every shard of each of its stocks. `None`
    /// when some stock is short.
    pub(super) async fn allocate_anew(
        &self,
        event: &Event,
        booking: &Booking,
    ) -> Result<Option<Vec<Allocation>>, StoreError> {
        let wanted: Vec<(Option<String>, u32)> = match &booking.items {
            Some(items) => items
                .iter()
                .map(|item| (Some(item.tier.clone()), item.quantity))
                .collect(),
            None => vec![(None, booking.quantity)],
        };
        let mut allocations = Vec::new();
        for (tier, quantity) in wanted {
            let Some(stock) = event.stock(tier.as_deref()) else {
                return Ok(None);
            };
            let remaining = self.places_left(&event.id, &stock, ShardScope::All).await?;
            let start = rand::rng().random_range(0..remaining.len().max(1));
            let Some(taken) = hold::allocate(&remaining, quantity, start) else {
                return Ok(None);
            };
            allocations.extend(taken.into_iter().map(|a| Allocation {
                tier: tier.clone(),
                ..a
            }));
        }
        Ok(Some(allocations))
    }
}

/// The places `booking` holds of `stock`.
fn places_of(booking: &Booking, stock: &Stock) -> u32 {
    match stock.tier {
        None => booking.quantity,
        Some(_) => booking
            .allocations
            .iter()
            .filter(|a| a.tier == stock.tier)
            .map(|a| a.quantity)
            .sum(),
    }
}
