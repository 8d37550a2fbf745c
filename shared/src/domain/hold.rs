//! Planning a hold: what may be taken and at what price, decided from the
//! event alone, before any write. Amounts always come from the layout, never
//! from the client.

use std::collections::{BTreeSet, HashMap};

use time::{Duration, OffsetDateTime};

use super::booking::{Allocation, Booking, BookingSource, BookingStatus, TierItem, TierRequest};
use super::event::{Event, EventStatus, Layout, Stock, Unit, shard_capacity, shard_group_count};

/// What a client asks for: named units (grid), a quantity (open, one
/// tier) or places per tier (open, tiered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Units(Vec<String>),
    Quantity(u32),
    Items(Vec<TierRequest>),
}

/// Who the sale is for: an online hold that must be paid before it lapses,
/// or a cash sale at the door, confirmed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sale {
    OnlineHold { hold_minutes: u32 },
    WalkIn,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Take {
    Units(Vec<String>),
    /// Places from each stock, all in one transaction.
    Places(Vec<(Stock, u32)>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub take: Take,
    pub quantity: u32,
    pub amount_cents: i64,
    pub currency: String,
    /// Online holds only.
    pub expires_at: Option<OffsetDateTime>,
}

/// Who bought at the door (walk-in sales).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub name: String,
    pub email: Option<String>,
}

impl Plan {
    /// The booking this plan makes: held until `expires_at` online, or
    /// confirmed at once for a walk-in sale.
    pub fn booking(
        &self,
        event_id: &str,
        user_id: &str,
        holder: Option<Holder>,
        now: OffsetDateTime,
    ) -> Booking {
        let (status, source) = match self.expires_at {
            Some(_) => (BookingStatus::Held, BookingSource::Online),
            None => (BookingStatus::Confirmed, BookingSource::WalkIn),
        };
        let (holder_name, holder_email) = match holder {
            Some(h) => (Some(h.name), h.email),
            None => (None, None),
        };
        Booking {
            id: uuid::Uuid::now_v7().to_string(),
            event_id: event_id.to_owned(),
            user_id: user_id.to_owned(),
            status,
            units: match &self.take {
                Take::Units(ids) => Some(ids.clone()),
                Take::Places(_) => None,
            },
            items: match &self.take {
                Take::Places(places) if places.iter().any(|(stock, _)| stock.tier.is_some()) => {
                    Some(
                        places
                            .iter()
                            .map(|(stock, quantity)| TierItem {
                                tier: stock.tier.clone().unwrap_or_default(),
                                quantity: *quantity,
                                price_cents: stock.price_cents,
                            })
                            .collect(),
                    )
                }
                _ => None,
            },
            quantity: self.quantity,
            amount_cents: self.amount_cents,
            fee_cents: 0,
            currency: self.currency.clone(),
            hold_expires_at: self.expires_at,
            payment_intent_id: None,
            source,
            holder_name,
            holder_email,
            created_at: now,
            updated_at: now,
            refund_status: None,
            refund_id: None,
            refunded_cents: None,
            paid_wallet_cents: None,
            paid_card_cents: None,
            allocations: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the event is not on sale ({0})")]
    NotOnSale(&'static str),
    #[error("at most {max} per booking")]
    OverMax { max: u32 },
    #[error("ask for at least one")]
    Empty,
    #[error("unknown units: {}", .0.join(", "))]
    UnknownUnits(Vec<String>),
    #[error("units requested twice: {}", .0.join(", "))]
    DuplicateUnits(Vec<String>),
    #[error("this event sells {0}")]
    WrongMode(&'static str),
    #[error("unknown tiers: {}", .0.join(", "))]
    UnknownTiers(Vec<String>),
    #[error("tiers asked for twice: {}", .0.join(", "))]
    DuplicateTiers(Vec<String>),
}

pub fn plan(
    event: &Event,
    request: &Request,
    sale: Sale,
    now: OffsetDateTime,
) -> Result<Plan, PlanError> {
    check_on_sale(event, sale, now)?;
    let (take, quantity, amount_cents) = match (&event.layout, request) {
        (Layout::Grid { units, .. }, Request::Units(ids)) => {
            let duplicates = duplicates(ids.iter().map(String::as_str));
            if !duplicates.is_empty() {
                return Err(PlanError::DuplicateUnits(duplicates));
            }
            let unknown: Vec<_> = ids
                .iter()
                .filter(|id| !units.iter().any(|u| &u.id == *id))
                .cloned()
                .collect();
            if !unknown.is_empty() {
                return Err(PlanError::UnknownUnits(unknown));
            }
            let amount = units
                .iter()
                .filter(|u| ids.contains(&u.id))
                .map(|u| event.layout.unit_price(u))
                .sum();
            (Take::Units(ids.clone()), ids.len() as u32, amount)
        }
        (Layout::Open { .. }, Request::Quantity(n)) if !event.layout.is_tiered() => {
            let stock = event.stocks().remove(0);
            let amount = stock.price_cents * i64::from(*n);
            (Take::Places(vec![(stock, *n)]), *n, amount)
        }
        (Layout::Open { .. }, Request::Items(items)) if event.layout.is_tiered() => {
            let places = tier_places(event, items)?;
            if places.iter().any(|(_, n)| *n == 0) {
                return Err(PlanError::Empty);
            }
            // max_per_booking counts every item; a sum past u32 is over it too.
            let quantity = places
                .iter()
                .try_fold(0u32, |sum, (_, n)| sum.checked_add(*n))
                .unwrap_or(u32::MAX);
            let amount = places
                .iter()
                .map(|(stock, n)| stock.price_cents * i64::from(*n))
                .sum();
            (Take::Places(places), quantity, amount)
        }
        (Layout::Grid { .. }, _) => {
            return Err(PlanError::WrongMode("named units: send `units`"));
        }
        (Layout::Open { .. }, _) if event.layout.is_tiered() => {
            return Err(PlanError::WrongMode(
                "tickets by tier: send `items` of `tier` and `quantity`",
            ));
        }
        (Layout::Open { .. }, _) => {
            return Err(PlanError::WrongMode("a quantity: send `quantity`"));
        }
    };
    if quantity == 0 {
        return Err(PlanError::Empty);
    }
    if quantity > event.max_per_booking {
        return Err(PlanError::OverMax {
            max: event.max_per_booking,
        });
    }
    Ok(Plan {
        take,
        quantity,
        amount_cents,
        currency: event.currency.clone(),
        expires_at: match sale {
            Sale::OnlineHold { hold_minutes } => Some(now + Duration::minutes(hold_minutes.into())),
            Sale::WalkIn => None,
        },
    })
}

/// Each item's stock, in the order asked; every tier known and named once.
fn tier_places(event: &Event, items: &[TierRequest]) -> Result<Vec<(Stock, u32)>, PlanError> {
    let duplicates = duplicates(items.iter().map(|item| item.tier.as_str()));
    if !duplicates.is_empty() {
        return Err(PlanError::DuplicateTiers(duplicates));
    }
    let (known, unknown): (Vec<_>, Vec<_>) = items
        .iter()
        .map(|item| (item, event.stock(Some(&item.tier))))
        .partition(|(_, stock)| stock.is_some());
    if !unknown.is_empty() {
        return Err(PlanError::UnknownTiers(
            unknown
                .into_iter()
                .map(|(item, _)| item.tier.clone())
                .collect(),
        ));
    }
    Ok(known
        .into_iter()
        .filter_map(|(item, stock)| Some((stock?, item.quantity)))
        .collect())
}

/// The names given more than once, each once, sorted.
fn duplicates<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let duplicates: BTreeSet<&str> = names.filter(|name| !seen.insert(*name)).collect();
    duplicates.into_iter().map(str::to_owned).collect()
}

/// Online sales close when the event starts; the door sells until it ends.
fn check_on_sale(event: &Event, sale: Sale, now: OffsetDateTime) -> Result<(), PlanError> {
    match event.status {
        EventStatus::Published => {}
        EventStatus::Cancelled => return Err(PlanError::NotOnSale("cancelled")),
        EventStatus::Draft | EventStatus::Scheduled => {
            return Err(PlanError::NotOnSale("not published"));
        }
    }
    let closes_at = match sale {
        Sale::OnlineHold { .. } => event.starts_at,
        Sale::WalkIn => event.ends_at,
    };
    if now >= closes_at {
        return Err(PlanError::NotOnSale("sales have closed"));
    }
    Ok(())
}

/// How many consecutive shards of its group a hold reads first: enough
/// places for any booking (`max_per_booking` ≤ 50), and a read whose size
/// does not grow with the event (docs/holds.md).
pub const SHARD_WINDOW: u32 = 16;

/// The shards a hold reads: a window of one group, then, when that cannot
/// serve it, the whole group, then every shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardScope {
    /// Up to `SHARD_WINDOW` consecutive shards of `group`, from its
    /// `first`-th.
    Window {
        group: u32,
        first: u32,
    },
    Group(u32),
    All,
}

impl ShardScope {
    /// A window of `group` at `at` (any number: it is wrapped onto the
    /// starts where a whole window fits, so concurrent holds spread).
    pub fn window(shards: u32, group: u32, at: u32) -> Self {
        let members = group_members(shards, group);
        let starts = members.saturating_sub(SHARD_WINDOW) + 1;
        ShardScope::Window {
            group,
            first: at % starts,
        }
    }

    /// The next scope to read when this one cannot serve the hold.
    pub fn wider(self) -> Option<Self> {
        match self {
            ShardScope::Window { group, .. } => Some(ShardScope::Group(group)),
            ShardScope::Group(_) => Some(ShardScope::All),
            ShardScope::All => None,
        }
    }

    /// The shards in scope, in shard order.
    pub fn shards(self, shards: u32) -> Vec<u32> {
        let groups = shard_group_count(shards);
        match self {
            ShardScope::Window { group, first } => (first..first + SHARD_WINDOW)
                .map(|k| group + k * groups)
                .take_while(|&shard| shard < shards)
                .collect(),
            ShardScope::Group(group) => (group..shards).step_by(groups as usize).collect(),
            ShardScope::All => (0..shards).collect(),
        }
    }
}

/// How many shards `group` has.
fn group_members(shards: u32, group: u32) -> u32 {
    shards
        .saturating_sub(group)
        .div_ceil(shard_group_count(shards))
}

/// Places left per shard in `scope` of an open layout, from the shards
/// holds have touched (`touched`: shard → remaining); a shard no hold
/// touched yet is still full.
pub fn places_left(
    capacity: u32,
    shards: u32,
    scope: ShardScope,
    touched: &HashMap<u32, u32>,
) -> Vec<(u32, u32)> {
    scope
        .shards(shards)
        .into_iter()
        .map(|shard| {
            let full = shard_capacity(capacity, shards, shard);
            (shard, touched.get(&shard).copied().unwrap_or(full))
        })
        .collect()
}

/// Where to take `quantity` places from, given each shard's remaining count:
/// one shard when any can serve it alone (starting at `start`, so concurrent
/// buyers spread over shards), else the fewest shards, largest first. `None`
/// when the total is short.
pub fn allocate(remaining: &[(u32, u32)], quantity: u32, start: usize) -> Option<Vec<Allocation>> {
    let n = remaining.len();
    if n == 0 {
        return None;
    }
    if let Some(&(shard, _)) = (0..n)
        .map(|i| &remaining[(start + i) % n])
        .find(|(_, left)| *left >= quantity)
    {
        return Some(vec![Allocation {
            tier: None,
            shard,
            quantity,
        }]);
    }
    let mut by_size: Vec<_> = remaining
        .iter()
        .filter(|(_, left)| *left > 0)
        .copied()
        .collect();
    by_size.sort_by_key(|&(_, left)| std::cmp::Reverse(left));
    let mut needed = quantity;
    let mut allocations = Vec::new();
    for (shard, left) in by_size {
        let take = left.min(needed);
        allocations.push(Allocation {
            tier: None,
            shard,
            quantity: take,
        });
        needed -= take;
        if needed == 0 {
            return Some(allocations);
        }
    }
    None
}

/// A unit's state as availability reads it: a lapsed hold is available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitState {
    Available,
    Held,
    Booked,
}

/// What is free of an event right now (`Store::availability`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// Every unit of the layout, in layout order, with its state.
    Grid(Vec<(Unit, UnitState)>),
    /// Each stock (one, or one per tier) with the places it has left.
    Open(Vec<(Stock, u32)>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{Category, Tier, Unit, shard_group};

    #[test]
    fn untouched_shards_are_full_and_touched_ones_keep_what_is_left() {
        let touched = HashMap::from([(1, 0), (2, 4)]);
        assert_eq!(
            places_left(35, 4, ShardScope::All, &touched),
            [(0, 9), (1, 0), (2, 4), (3, 8)]
        );
    }

    #[test]
    fn a_groups_places_are_those_of_its_own_shards() {
        let shards = 200;
        let groups = shard_group_count(shards);
        let touched = HashMap::from([(1, 3)]);
        let group = places_left(2_000, shards, ShardScope::Group(1), &touched);
        assert_eq!(group.len(), (shards / groups) as usize);
        assert!(
            group
                .iter()
                .all(|&(shard, _)| shard_group(shard, groups) == 1)
        );
        assert_eq!(group[0], (1, 3));
        assert_eq!(group[1], (1 + groups, 10));
    }

    #[test]
    fn a_window_is_consecutive_shards_of_its_group_wherever_it_starts() {
        let shards = 5_000;
        let groups = shard_group_count(shards);
        let group = ShardScope::Group(7).shards(shards);
        for at in [0, 1, 100, 139, 140, 10_000, u32::MAX] {
            let window = ShardScope::window(shards, 7, at).shards(shards);
            assert_eq!(window.len(), SHARD_WINDOW as usize, "at {at}");
            let first = group.iter().position(|&s| s == window[0]).unwrap();
            assert_eq!(window, group[first..first + window.len()], "at {at}");
            assert!(window.iter().all(|&s| shard_group(s, groups) == 7));
        }
    }

    #[test]
    fn a_window_of_a_small_event_is_all_of_its_group() {
        assert_eq!(
            ShardScope::window(10, 0, 12_345).shards(10),
            (0..10).collect::<Vec<_>>()
        );
        assert_eq!(ShardScope::window(1, 0, 3).shards(1), [0]);
    }

    #[test]
    fn a_scope_widens_from_its_window_to_its_group_to_every_shard() {
        let window = ShardScope::window(5_000, 3, 9);
        assert_eq!(window.wider(), Some(ShardScope::Group(3)));
        assert_eq!(ShardScope::Group(3).wider(), Some(ShardScope::All));
        assert_eq!(ShardScope::All.wider(), None);
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn event(layout: Layout) -> Event {
        Event {
            id: "e".into(),
            title: "t".into(),
            description: String::new(),
            venue: "v".into(),
            starts_at: now() + Duration::days(1),
            ends_at: now() + Duration::days(1) + Duration::hours(3),
            timezone: "UTC".into(),
            status: EventStatus::Published,
            publish_at: None,
            tags: vec![],
            image_url: None,
            image_key: None,
            currency: "usd".into(),
            max_per_booking: 3,
            layout,
            created_at: now(),
            updated_at: now(),
            shard_count: 2,
            sales_started: false,
        }
    }

    fn grid() -> Event {
        let unit = |id: &str, price| Unit {
            id: id.into(),
            label: id.into(),
            seats: 4,
            price_cents: Some(price),
            category: None,
            section: None,
            row: None,
        };
        event(Layout::Grid {
            categories: Vec::new(),
            units: vec![
                unit("T1", 1000),
                unit("T2", 2500),
                unit("T3", 500),
                unit("T4", 1),
            ],
        })
    }

    fn open() -> Event {
        event(Layout::Open {
            capacity: Some(100),
            price_cents: Some(1250),
            tiers: Vec::new(),
        })
    }

    const HOLD: Sale = Sale::OnlineHold { hold_minutes: 10 };

    fn units(ids: &[&str]) -> Request {
        Request::Units(ids.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn a_grid_hold_is_priced_from_the_layout() {
        let plan = plan(&grid(), &units(&["T1", "T2"]), HOLD, now()).unwrap();
        assert_eq!((plan.amount_cents, plan.quantity), (3500, 2));
        assert_eq!(plan.expires_at, Some(now() + Duration::minutes(10)));
    }

    #[test]
    fn an_open_hold_is_quantity_times_price() {
        let plan = plan(&open(), &Request::Quantity(3), HOLD, now()).unwrap();
        assert_eq!(plan.amount_cents, 3750);
    }

    fn festival() -> Event {
        let tier = |id: &str, capacity, price_cents| Tier {
            id: id.into(),
            name: id.to_uppercase(),
            capacity,
            price_cents,
        };
        event(Layout::Open {
            capacity: None,
            price_cents: None,
            tiers: vec![tier("ga", 500, 2500), tier("vip", 50, 9000)],
        })
    }

    fn items(wanted: &[(&str, u32)]) -> Request {
        Request::Items(
            wanted
                .iter()
                .map(|(tier, quantity)| TierRequest {
                    tier: (*tier).into(),
                    quantity: *quantity,
                })
                .collect(),
        )
    }

    #[test]
    fn a_tiered_hold_is_priced_per_tier_and_takes_from_each_tiers_stock() {
        let plan = plan(&festival(), &items(&[("ga", 2), ("vip", 1)]), HOLD, now()).unwrap();
        assert_eq!(plan.amount_cents, 2 * 2500 + 9000);
        assert_eq!(plan.quantity, 3);
        let Take::Places(places) = &plan.take else {
            panic!("not places");
        };
        let taken: Vec<(Option<&str>, u32)> = places
            .iter()
            .map(|(stock, n)| (stock.tier.as_deref(), *n))
            .collect();
        assert_eq!(taken, [(Some("ga"), 2), (Some("vip"), 1)]);
        let booking = plan.booking("e", "u", None, now());
        assert_eq!(
            booking.items.unwrap()[1],
            TierItem {
                tier: "vip".into(),
                quantity: 1,
                price_cents: 9000,
            }
        );
    }

    #[test]
    fn max_per_booking_counts_the_items_together() {
        let mut event = festival();
        event.max_per_booking = 4;
        assert_eq!(
            plan(&event, &items(&[("ga", 3), ("vip", 2)]), HOLD, now()),
            Err(PlanError::OverMax { max: 4 })
        );
        assert!(plan(&event, &items(&[("ga", 2), ("vip", 2)]), HOLD, now()).is_ok());
    }

    #[test]
    fn items_whose_sum_overflows_are_over_max_per_booking() {
        assert_eq!(
            plan(
                &festival(),
                &items(&[("ga", u32::MAX), ("vip", 2)]),
                HOLD,
                now()
            ),
            Err(PlanError::OverMax { max: 3 })
        );
    }

    #[test]
    fn tiers_must_be_known_named_once_and_each_asked_for() {
        let event = festival();
        assert_eq!(
            plan(&event, &items(&[("ga", 1), ("pit", 1)]), HOLD, now()),
            Err(PlanError::UnknownTiers(vec!["pit".into()]))
        );
        assert_eq!(
            plan(&event, &items(&[("ga", 1), ("ga", 2)]), HOLD, now()),
            Err(PlanError::DuplicateTiers(vec!["ga".into()]))
        );
        assert_eq!(
            plan(&event, &items(&[("ga", 1), ("vip", 0)]), HOLD, now()),
            Err(PlanError::Empty)
        );
        assert_eq!(
            plan(&event, &items(&[]), HOLD, now()),
            Err(PlanError::Empty)
        );
    }

    #[test]
    fn a_tiered_event_sells_by_items_and_a_single_tier_one_by_quantity() {
        assert!(matches!(
            plan(&festival(), &Request::Quantity(1), HOLD, now()),
            Err(PlanError::WrongMode(_))
        ));
        assert!(matches!(
            plan(&open(), &items(&[("ga", 1)]), HOLD, now()),
            Err(PlanError::WrongMode(_))
        ));
    }

    #[test]
    fn a_grid_unit_is_priced_by_its_category() {
        let mut event = grid();
        let Layout::Grid {
            categories,
            units: layout_units,
        } = &mut event.layout
        else {
            unreachable!()
        };
        categories.push(Category {
            id: "deluxe".into(),
            name: "Deluxe".into(),
            price_cents: 7000,
        });
        layout_units[0].price_cents = None;
        layout_units[0].category = Some("deluxe".into());
        let plan = plan(&event, &units(&["T1", "T2"]), HOLD, now()).unwrap();
        assert_eq!(plan.amount_cents, 7000 + 2500);
    }

    #[test]
    fn more_than_max_per_booking_is_refused() {
        assert_eq!(
            plan(&grid(), &units(&["T1", "T2", "T3", "T4"]), HOLD, now()),
            Err(PlanError::OverMax { max: 3 })
        );
        assert_eq!(
            plan(&open(), &Request::Quantity(4), HOLD, now()),
            Err(PlanError::OverMax { max: 3 })
        );
    }

    #[test]
    fn unknown_and_duplicate_units_are_named() {
        assert_eq!(
            plan(&grid(), &units(&["T1", "T9"]), HOLD, now()),
            Err(PlanError::UnknownUnits(vec!["T9".into()]))
        );
        assert_eq!(
            plan(&grid(), &units(&["T1", "T1"]), HOLD, now()),
            Err(PlanError::DuplicateUnits(vec!["T1".into()]))
        );
    }

    #[test]
    fn nothing_is_not_a_hold() {
        assert_eq!(
            plan(&grid(), &units(&[]), HOLD, now()),
            Err(PlanError::Empty)
        );
        assert_eq!(
            plan(&open(), &Request::Quantity(0), HOLD, now()),
            Err(PlanError::Empty)
        );
    }

    #[test]
    fn the_request_must_match_the_layout_mode() {
        assert!(matches!(
            plan(&grid(), &Request::Quantity(1), HOLD, now()),
            Err(PlanError::WrongMode(_))
        ));
        assert!(matches!(
            plan(&open(), &units(&["T1"]), HOLD, now()),
            Err(PlanError::WrongMode(_))
        ));
    }

    #[test]
    fn drafts_cancelled_and_started_events_are_not_on_sale() {
        for status in [
            EventStatus::Draft,
            EventStatus::Scheduled,
            EventStatus::Cancelled,
        ] {
            let mut e = open();
            e.status = status;
            assert!(matches!(
                plan(&e, &Request::Quantity(1), HOLD, now()),
                Err(PlanError::NotOnSale(_))
            ));
        }
        let started = now() + Duration::days(1);
        assert!(matches!(
            plan(&open(), &Request::Quantity(1), HOLD, started),
            Err(PlanError::NotOnSale(_))
        ));
    }

    #[test]
    fn the_door_sells_until_the_event_ends() {
        let during = now() + Duration::days(1) + Duration::hours(1);
        let plan = plan(&open(), &Request::Quantity(1), Sale::WalkIn, during).unwrap();
        assert_eq!(plan.expires_at, None);
        let after = now() + Duration::days(2);
        assert!(super::plan(&open(), &Request::Quantity(1), Sale::WalkIn, after).is_err());
    }

    #[test]
    fn a_walk_in_booking_is_confirmed_at_once_and_an_online_one_held() {
        let walk_in = plan(&open(), &Request::Quantity(1), Sale::WalkIn, now()).unwrap();
        let holder = Holder {
            name: "Ada".into(),
            email: None,
        };
        let booking = walk_in.booking("e", "admin", Some(holder), now());
        assert_eq!(
            (booking.status, booking.source),
            (BookingStatus::Confirmed, BookingSource::WalkIn)
        );
        assert_eq!(booking.holder_name.as_deref(), Some("Ada"));
        let online = plan(&grid(), &units(&["T1"]), HOLD, now())
            .unwrap()
            .booking("e", "u", None, now());
        assert_eq!(
            (online.status, online.source),
            (BookingStatus::Held, BookingSource::Online)
        );
        assert_eq!(online.units, Some(vec!["T1".to_owned()]));
    }

    #[test]
    fn one_shard_serves_a_quantity_when_it_can() {
        let shards = [(0, 1), (1, 5), (2, 5)];
        assert_eq!(
            allocate(&shards, 3, 0),
            Some(vec![Allocation {
                tier: None,
                shard: 1,
                quantity: 3
            }])
        );
        assert_eq!(
            allocate(&shards, 3, 2),
            Some(vec![Allocation {
                tier: None,
                shard: 2,
                quantity: 3
            }])
        );
    }

    #[test]
    fn a_quantity_no_shard_has_alone_is_split() {
        let split = allocate(&[(0, 2), (1, 3), (2, 0)], 4, 0).unwrap();
        assert_eq!(
            split,
            vec![
                Allocation {
                    tier: None,
                    shard: 1,
                    quantity: 3
                },
                Allocation {
                    tier: None,
                    shard: 0,
                    quantity: 1
                }
            ]
        );
    }

    #[test]
    fn a_short_total_allocates_nothing() {
        assert_eq!(allocate(&[(0, 1), (1, 1)], 3, 0), None);
        assert_eq!(allocate(&[], 1, 0), None);
    }
}
