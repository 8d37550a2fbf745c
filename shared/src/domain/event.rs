//! Events and their layouts. Validation and status rules live here, free of I/O.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use axum::http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime, UtcOffset};

use super::currency::{STRIPE_MAX_AMOUNT, is_iso_4217, stripe_minimum_charge};
use super::role::Role;
use super::settings::MAX_PER_BOOKING_LIMIT;
use crate::error::{ApiError, FieldError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventStatus {
    Draft,
    Scheduled,
    Published,
    Cancelled,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Draft => "draft",
            EventStatus::Scheduled => "scheduled",
            EventStatus::Published => "published",
            EventStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Draft,
            Self::Scheduled,
            Self::Published,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// A table or reserved seat, held and sold whole. Priced by its own
/// `price_cents` or by its `category`, never both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    pub id: String,
    pub label: String,
    pub seats: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_cents: Option<i64>,
    /// The id of one of the layout's `categories`; the price comes from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<String>,
}

/// A price category of a grid (`Standard`, `Deluxe`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Category {
    pub id: String,
    pub name: String,
    pub price_cents: i64,
}

/// A ticket type of an open event (`General`, `VIP`), with its own
/// capacity and inventory shards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub id: String,
    pub name: String,
    pub capacity: u32,
    pub price_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "mode", rename_all = "lowercase", deny_unknown_fields)]
pub enum Layout {
    /// Named units (tables, reserved seats), each held and sold whole.
    Grid {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        categories: Vec<Category>,
        units: Vec<Unit>,
    },
    /// General admission: buyers ask for a quantity, of one kind
    /// (`capacity` and `price_cents`) or per tier (`tiers`), never both.
    Open {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        capacity: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        price_cents: Option<i64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tiers: Vec<Tier>,
    },
}

/// Places of one kind of an open event, kept in their own shards: the
/// whole capacity of a single-tier layout (`tier: None`, the keys it always
/// had), or one tier's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stock {
    pub tier: Option<String>,
    pub capacity: u32,
    pub price_cents: i64,
    pub shards: u32,
}

impl Layout {
    /// A grid's price categories (none for an open layout).
    pub fn categories(&self) -> &[Category] {
        match self {
            Layout::Grid { categories, .. } => categories,
            Layout::Open { .. } => &[],
        }
    }

    /// An open layout's tiers (none for a grid or a single-tier layout).
    pub fn tiers(&self) -> &[Tier] {
        match self {
            Layout::Open { tiers, .. } => tiers,
            Layout::Grid { .. } => &[],
        }
    }

    /// The price of a unit of this layout: its category's, or its own.
    pub fn unit_price(&self, unit: &Unit) -> i64 {
        unit.category
            .as_ref()
            .and_then(|id| self.categories().iter().find(|c| &c.id == id))
            .map(|c| c.price_cents)
            .or(unit.price_cents)
            .unwrap_or(0)
    }

    /// Whether holds name tiers (`items`) rather than a bare quantity.
    pub fn is_tiered(&self) -> bool {
        matches!(self, Layout::Open { tiers, .. } if !tiers.is_empty())
    }

    /// The stocks of an open layout (none for a grid); `single_shards` is
    /// the stored shard count of a single-tier layout.
    pub fn stocks(&self, single_shards: u32) -> Vec<Stock> {
        match self {
            Layout::Grid { .. } => Vec::new(),
            Layout::Open { tiers, .. } if !tiers.is_empty() => tiers
                .iter()
                .map(|t| Stock {
                    tier: Some(t.id.clone()),
                    capacity: t.capacity,
                    price_cents: t.price_cents,
                    shards: shard_count(t.capacity),
                })
                .collect(),
            Layout::Open {
                capacity,
                price_cents,
                ..
            } => vec![Stock {
                tier: None,
                capacity: capacity.unwrap_or(0),
                price_cents: price_cents.unwrap_or(0),
                shards: single_shards,
            }],
        }
    }
}

impl Event {
    /// The open event's stocks, each with its shard count.
    pub fn stocks(&self) -> Vec<Stock> {
        self.layout.stocks(self.shard_count)
    }

    /// The stock of `tier` (`None`: the single-tier layout's).
    pub fn stock(&self, tier: Option<&str>) -> Option<Stock> {
        self.stocks()
            .into_iter()
            .find(|stock| stock.tier.as_deref() == tier)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    pub id: String,
    pub title: String,
    pub description: String,
    pub venue: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: OffsetDateTime,
    /// IANA time zone of the venue, for display (`Europe/Paris`).
    pub timezone: String,
    pub status: EventStatus,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none",
        default
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub publish_at: Option<OffsetDateTime>,
    pub tags: Vec<String>,
    /// An `https://` URL set by an admin, or, for an uploaded image, a
    /// link to it made for each answer (`image_key`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub image_url: Option<String>,
    /// The S3 key of the uploaded image, when it has one.
    #[serde(skip)]
    pub image_key: Option<String>,
    /// ISO 4217, lowercase (`usd`).
    pub currency: String,
    pub max_per_booking: u32,
    pub layout: Layout,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    /// Open layouts: how many inventory shards hold the capacity.
    #[serde(skip)]
    pub shard_count: u32,
    /// Set by the first hold; from then on the layout and prices are frozen.
    #[serde(skip)]
    pub sales_started: bool,
}

/// Places per open-mode inventory shard. Each shard is its own item and
/// partition key, so concurrent holds rarely meet on one: at 4,000 holds/s
/// over the 5,000 shards of a 50,000-place event, a shard is in a
/// transaction about once a second (docs/holds.md).
pub const PLACES_PER_SHARD: u32 = 10;
/// Beyond this, shards hold more places instead of growing in number.
pub const MAX_SHARDS: u32 = 10_000;

/// How many inventory shards hold an open layout's capacity.
pub fn shard_count(capacity: u32) -> u32 {
    capacity.div_ceil(PLACES_PER_SHARD).clamp(1, MAX_SHARDS)
}

/// Shards are read in groups (one GSI2 partition each): a hold reads one
/// group, not every shard. About this many shards per group, at most
/// `MAX_SHARD_GROUPS` groups.
const SHARDS_PER_GROUP: u32 = 64;
const MAX_SHARD_GROUPS: u32 = 32;

pub fn shard_group_count(shards: u32) -> u32 {
    shards.div_ceil(SHARDS_PER_GROUP).clamp(1, MAX_SHARD_GROUPS)
}

/// The group a shard is read in.
pub fn shard_group(shard: u32, groups: u32) -> u32 {
    shard % groups.max(1)
}

/// A shard's share of `capacity` over `shards`: as even as possible,
/// earlier shards taking the remainder.
pub fn shard_capacity(capacity: u32, shards: u32, shard: u32) -> u32 {
    let shards = shards.max(1);
    capacity / shards + u32::from(shard < capacity % shards)
}

/// A new event id: UUIDv7, so ids sort by creation time.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Open layouts keep their capacity in `shard_count(capacity)` inventory
/// shards; grid layouts keep their state in unit items instead.
pub fn shards_for(layout: &Layout) -> u32 {
    layout
        .stocks(0)
        .iter()
        .map(|stock| match stock.tier {
            Some(_) => stock.shards,
            None => shard_count(stock.capacity),
        })
        .sum()
}

/// Why an event change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("invalid event: {0:?}")]
    Invalid(Vec<FieldError>),
    /// Cancelling is final: a cancelled event is neither published nor edited.
    #[error("the event is cancelled")]
    Cancelled,
    /// Something was held or sold at the current layout and currency.
    #[error("the layout is locked")]
    LayoutLocked,
    /// The event cannot go on sale at the time asked for.
    #[error("cannot schedule: {0:?}")]
    CannotSchedule(FieldError),
    /// Some grid unit has no one price (none, two, or an unknown category).
    #[error("units without one price: {0:?}")]
    Unpriced(Vec<FieldError>),
    /// Some booking it allows could not be charged through Stripe.
    #[error("amounts Stripe cannot charge: {0:?}")]
    Unchargeable(Vec<FieldError>),
}

impl From<EventError> for ApiError {
    fn from(err: EventError) -> Self {
        match err {
            EventError::Invalid(errors) => ApiError::invalid_fields(errors),
            EventError::Cancelled => ApiError::new(
                StatusCode::CONFLICT,
                "EVENT_CANCELLED",
                "the event is cancelled; cancelling is final",
            ),
            EventError::LayoutLocked => ApiError::new(
                StatusCode::CONFLICT,
                "LAYOUT_LOCKED",
                "the layout and currency cannot change once something was held or sold",
            ),
            EventError::CannotSchedule(error) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "INVALID_SCHEDULE",
                format!("{}: {}", error.field, error.message),
            )
            .with_errors(vec![error]),
            EventError::Unpriced(errors) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "UNIT_PRICE_INVALID",
                "every unit takes its price from its category or has one of its own, not both",
            )
            .with_errors(errors),
            EventError::Unchargeable(errors) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "AMOUNT_OUT_OF_RANGE",
                "a booking this event allows could not be charged through Stripe",
            )
            .with_errors(errors),
        }
    }
}

/// The body of `POST /v1/events`: every field an organizer sets.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    /// 1..=200 characters.
    pub title: String,
    /// At most 5000 characters.
    #[serde(default)]
    pub description: String,
    /// 1..=200 characters.
    pub venue: String,
    /// In the future; stored in UTC, to the second.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: OffsetDateTime,
    /// After `starts_at`.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: OffsetDateTime,
    /// IANA time zone of the venue (`Europe/Paris`).
    pub timezone: String,
    /// At most 20, each 1..=30 characters; stored lowercase, without duplicates.
    #[serde(default)]
    pub tags: Vec<String>,
    /// An `https://` URL.
    #[serde(default)]
    pub image_url: Option<String>,
    /// ISO 4217 code (`usd`).
    pub currency: String,
    /// 1..=50; the platform's `max_per_booking` setting when absent.
    #[serde(default)]
    pub max_per_booking: Option<u32>,
    pub layout: Layout,
}

/// The body of `PATCH /v1/events/{id}`: any subset of the create fields.
/// `null` is refused except for `image_url`, where it removes the image.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventPatch {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String)]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String)]
    pub venue: Option<String>,
    #[serde(default, deserialize_with = "present_time")]
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: Option<OffsetDateTime>,
    #[serde(default, deserialize_with = "present_time")]
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: Option<OffsetDateTime>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String)]
    pub timezone: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Vec<String>)]
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    pub image_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String)]
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = u32)]
    pub max_per_booking: Option<u32>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Layout)]
    pub layout: Option<Layout>,
}

/// A field that is present: `null` must then deserialize as `T` itself
/// (it does for `Option<String>`, it does not for `String`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

fn present_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<OffsetDateTime>, D::Error> {
    time::serde::rfc3339::deserialize(d).map(Some)
}

impl NewEvent {
    /// The draft this body describes, normalized and validated; every bad
    /// field is named. `default_max_per_booking` is the platform setting.
    pub fn into_event(
        self,
        id: String,
        now: OffsetDateTime,
        default_max_per_booking: u32,
    ) -> Result<Event, EventError> {
        let event = Event {
            id,
            title: self.title,
            description: self.description,
            venue: self.venue,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            timezone: self.timezone,
            status: EventStatus::Draft,
            publish_at: None,
            tags: self.tags,
            image_url: self.image_url,
            image_key: None,
            currency: self.currency,
            max_per_booking: self.max_per_booking.unwrap_or(default_max_per_booking),
            shard_count: shards_for(&self.layout),
            layout: self.layout,
            created_at: now,
            updated_at: now,
            sales_started: false,
        };
        validated(event, Some(now))
    }
}

impl Event {
    /// This event with `patch` merged in, validated as a whole. The start must
    /// lie in the future only if the patch moves it.
    pub fn patched(&self, patch: EventPatch, now: OffsetDateTime) -> Result<Event, EventError> {
        if self.status == EventStatus::Cancelled {
            return Err(EventError::Cancelled);
        }
        let mut next = self.clone();
        let EventPatch {
            title,
            description,
            venue,
            starts_at,
            ends_at,
            timezone,
            tags,
            image_url,
            currency,
            max_per_booking,
            layout,
        } = patch;
        next.title = title.unwrap_or(next.title);
        next.description = description.unwrap_or(next.description);
        next.venue = venue.unwrap_or(next.venue);
        next.starts_at = starts_at.unwrap_or(next.starts_at);
        next.ends_at = ends_at.unwrap_or(next.ends_at);
        next.timezone = timezone.unwrap_or(next.timezone);
        next.tags = tags.unwrap_or(next.tags);
        if let Some(image_url) = image_url {
            // A URL of the admin's own, or none, replaces an uploaded image.
            next.image_url = image_url;
            next.image_key = None;
        }
        next.currency = currency.unwrap_or(next.currency);
        next.max_per_booking = max_per_booking.unwrap_or(next.max_per_booking);
        if let Some(layout) = layout
            && layout != next.layout
        {
            next.shard_count = shards_for(&layout);
            next.layout = layout;
        }
        let moves_start = starts_at.is_some_and(|t| to_stored_time(t) != Some(self.starts_at));
        let mut next = validated(next, moves_start.then_some(now))?;
        // A scheduled event goes on sale before it starts (`scheduled`).
        if next.status == EventStatus::Scheduled
            && next.publish_at.is_some_and(|at| at >= next.starts_at)
        {
            return Err(EventError::Invalid(vec![FieldError {
                field: "starts_at".into(),
                message: "must be after the scheduled publish_at".into(),
            }]));
        }
        // The store checks this again atomically; this answers without a write.
        if self.sales_started && next.sells_differently_from(self) {
            return Err(EventError::LayoutLocked);
        }
        next.updated_at = touched_at(self.updated_at, now);
        Ok(next)
    }

    /// This event in `status`, stamped as changed now.
    pub fn with_status(&self, status: EventStatus, now: OffsetDateTime) -> Event {
        Event {
            status,
            updated_at: touched_at(self.updated_at, now),
            ..self.clone()
        }
    }

    /// This event showing the uploaded image stored at `key` (in place of
    /// any URL set before), stamped as changed now. A cancelled event is
    /// not changed any more.
    pub fn with_image(&self, key: &str, now: OffsetDateTime) -> Result<Event, EventError> {
        if self.status == EventStatus::Cancelled {
            return Err(EventError::Cancelled);
        }
        Ok(Event {
            image_url: None,
            image_key: Some(key.to_owned()),
            updated_at: touched_at(self.updated_at, now),
            ..self.clone()
        })
    }

    /// Whether the sellable shape changed: what holds priced from. Once
    /// sales started, this may no longer change.
    pub fn sells_differently_from(&self, other: &Event) -> bool {
        self.layout != other.layout || self.currency != other.currency
    }
}

/// What a status rule decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    To(EventStatus),
    /// The event already has the target status: repeats are no-ops.
    AlreadyThere,
}

/// Draft and scheduled events go on sale; published stays published.
pub fn publish(from: EventStatus) -> Result<Transition, EventError> {
    match from {
        EventStatus::Draft | EventStatus::Scheduled => Ok(Transition::To(EventStatus::Published)),
        EventStatus::Published => Ok(Transition::AlreadyThere),
        EventStatus::Cancelled => Err(EventError::Cancelled),
    }
}

/// The event set to go on sale at `publish_at` (UTC, whole seconds): a
/// draft, or a scheduled event whose time moves. The time must lie in the
/// future and before the event starts.
pub fn scheduled(
    event: &Event,
    publish_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<Event, EventError> {
    let refused = |field: &str, message: &str| {
        EventError::CannotSchedule(FieldError {
            field: field.into(),
            message: message.into(),
        })
    };
    if !matches!(event.status, EventStatus::Draft | EventStatus::Scheduled) {
        return Err(refused(
            "status",
            &format!(
                "only draft or scheduled events can be scheduled; this one is {}",
                event.status.as_str()
            ),
        ));
    }
    let publish_at = to_stored_time(publish_at)
        .ok_or_else(|| refused("publish_at", "must be a time between years 1 and 9999"))?;
    if publish_at <= now {
        return Err(refused("publish_at", "must be in the future"));
    }
    if publish_at >= event.starts_at {
        return Err(refused("publish_at", "must be before the event starts"));
    }
    Ok(Event {
        status: EventStatus::Scheduled,
        publish_at: Some(publish_at),
        updated_at: touched_at(event.updated_at, now),
        ..event.clone()
    })
}

/// Any event may be cancelled, once.
pub fn cancel(from: EventStatus) -> Result<Transition, EventError> {
    match from {
        EventStatus::Draft | EventStatus::Scheduled | EventStatus::Published => {
            Ok(Transition::To(EventStatus::Cancelled))
        }
        EventStatus::Cancelled => Ok(Transition::AlreadyThere),
    }
}

/// Published and cancelled events are public (a cancelled one must stay
/// findable by those who had tickets); staff and above see every event.
pub fn is_visible_to(status: EventStatus, role: Option<Role>) -> bool {
    matches!(status, EventStatus::Published | EventStatus::Cancelled)
        || role.is_some_and(|r| r.includes(Role::Staff))
}

/// The listing shows published events to everyone, other statuses to staff+.
pub fn is_listable_by(status: EventStatus, role: Option<Role>) -> bool {
    status == EventStatus::Published || role.is_some_and(|r| r.includes(Role::Staff))
}

/// The next `updated_at`: now, but always after the previous one, because
/// writes are conditioned on the `updated_at` they read and two writes in
/// the same instant must not look alike.
pub fn touched_at(previous: OffsetDateTime, now: OffsetDateTime) -> OffsetDateTime {
    if now > previous {
        now
    } else {
        previous + Duration::microseconds(1)
    }
}

/// Event times as stored: UTC, whole seconds. The listing index sorts by
/// the RFC 3339 text, which sorts like the time only when every stored time
/// has the same shape. `None` for times not representable in UTC.
pub fn to_stored_time(t: OffsetDateTime) -> Option<OffsetDateTime> {
    let utc = t.checked_to_offset(UtcOffset::UTC)?;
    let whole = utc.replace_nanosecond(0).ok()?;
    (1..=9999).contains(&whole.year()).then_some(whole)
}

/// The earliest stored start at or after `t` (listing lower bound).
pub fn first_stored_time_from(t: OffsetDateTime) -> Option<OffsetDateTime> {
    let whole = to_stored_time(t)?;
    if whole < t {
        to_stored_time(whole + Duration::SECOND)
    } else {
        Some(whole)
    }
}

/// What changed between two versions of an event, field by field, for the
/// audit log. Layouts are summarized: a 2000-unit grid twice over would
/// not fit an item. Empty when nothing but the timestamps differ.
pub fn changes(before: &Event, after: &Event) -> Map<String, Value> {
    let (old, new) = (audit_view(before), audit_view(after));
    let mut changed = Map::new();
    for (field, value) in &new {
        let previous = old.get(field).unwrap_or(&Value::Null);
        if previous != value {
            changed.insert(field.clone(), json!({ "before": previous, "after": value }));
        }
    }
    for (field, previous) in &old {
        if !new.contains_key(field) {
            changed.insert(field.clone(), json!({ "before": previous, "after": null }));
        }
    }
    changed
}

/// An event as the audit log records it: its fields, the layout summarized.
pub fn audit_view(event: &Event) -> Map<String, Value> {
    let mut view = match serde_json::to_value(event) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    // Identity and timestamps are the entry's own (`target`, `at`).
    for field in ["id", "created_at", "updated_at"] {
        view.remove(field);
    }
    view.insert("layout".into(), layout_summary(&event.layout));
    if let Some(key) = &event.image_key {
        view.insert("image_key".into(), json!(key));
    }
    view
}

fn layout_summary(layout: &Layout) -> Value {
    match layout {
        Layout::Grid { categories, units } => json!({
            "mode": "grid",
            "units": units.len(),
            "seats": units.iter().map(|u| u64::from(u.seats)).sum::<u64>(),
            "price_cents": units.iter().map(|u| layout.unit_price(u)).sum::<i64>(),
            "categories": categories,
        }),
        Layout::Open { .. } => {
            let stocks = layout.stocks(0);
            let mut summary = json!({
                "mode": "open",
                "capacity": stocks.iter().map(|s| u64::from(s.capacity)).sum::<u64>(),
            });
            if layout.is_tiered() {
                summary["tiers"] = json!(
                    stocks
                        .iter()
                        .map(|s| json!({
                            "id": s.tier, "capacity": s.capacity, "price_cents": s.price_cents,
                        }))
                        .collect::<Vec<_>>()
                );
            } else {
                summary["price_cents"] = json!(stocks.first().map_or(0, |s| s.price_cents));
            }
            summary
        }
    }
}

pub const TITLE_MAX_CHARS: usize = 200;
pub const DESCRIPTION_MAX_CHARS: usize = 5000;
pub const VENUE_MAX_CHARS: usize = 200;
pub const TIMEZONE_MAX_CHARS: usize = 64;
pub const MAX_TAGS: usize = 20;
pub const TAG_MAX_CHARS: usize = 30;
pub const IMAGE_URL_MAX_BYTES: usize = 2048;
pub const MAX_UNITS: usize = 2000;
pub const UNIT_ID_MAX_CHARS: usize = 20;
pub const UNIT_LABEL_MAX_CHARS: usize = 100;
pub const MAX_SEATS_PER_UNIT: u32 = 100;
pub const MAX_CAPACITY: u32 = 1_000_000;
/// Categories of a grid, tiers of an open event.
pub const MAX_KINDS: usize = 20;
pub const KIND_NAME_MAX_CHARS: usize = 100;
pub const MAX_PRICE_CENTS: i64 = 100_000_000;
/// The layout is stored as JSON inside the event item, which DynamoDB caps
/// at 400 KB with everything else the event holds.
pub const LAYOUT_MAX_BYTES: usize = 300_000;

/// Collects every problem with an event, named as the client wrote it.
#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// A trimmed text of 1..=`max` characters.
    fn text(&mut self, field: &str, value: &str, max: usize) -> String {
        let trimmed = value.trim();
        if !(1..=max).contains(&trimmed.chars().count()) {
            self.add(field, format!("must be 1 to {max} characters (trimmed)"));
        }
        trimmed.to_owned()
    }

    fn time(&mut self, field: &str, value: OffsetDateTime) -> OffsetDateTime {
        to_stored_time(value).unwrap_or_else(|| {
            self.add(field, "must be a time between years 1 and 9999 in UTC");
            value
        })
    }

    fn price(&mut self, field: String, cents: i64) {
        if !(0..=MAX_PRICE_CENTS).contains(&cents) {
            self.add(
                field,
                format!("must be 0 to {MAX_PRICE_CENTS} (minor units)"),
            );
        }
    }
}

/// `event`, normalized (trimmed texts, UTC whole-second times, lowercase
/// currency and tags without duplicates), or every field that is wrong.
/// With `starts_after`, the start must also lie after that time.
fn validated(event: Event, starts_after: Option<OffsetDateTime>) -> Result<Event, EventError> {
    let mut problems = Problems::default();
    let title = problems.text("title", &event.title, TITLE_MAX_CHARS);
    if event.description.chars().count() > DESCRIPTION_MAX_CHARS {
        problems.add(
            "description",
            format!("must be at most {DESCRIPTION_MAX_CHARS} characters"),
        );
    }
    let venue = problems.text("venue", &event.venue, VENUE_MAX_CHARS);
    let starts_at = problems.time("starts_at", event.starts_at);
    let ends_at = problems.time("ends_at", event.ends_at);
    if ends_at <= starts_at {
        problems.add("ends_at", "must be after starts_at");
    }
    if let Some(now) = starts_after
        && starts_at <= now
    {
        problems.add("starts_at", "must be in the future");
    }
    let timezone_ok = (1..=TIMEZONE_MAX_CHARS).contains(&event.timezone.len())
        && event
            .timezone
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '+' | '-'));
    if !timezone_ok {
        problems.add(
            "timezone",
            format!(
                "must be an IANA time zone name (1 to {TIMEZONE_MAX_CHARS} of A-Z a-z 0-9 _ / + -)"
            ),
        );
    }
    let tags = tags(&mut problems, &event.tags);
    if let Some(url) = &event.image_url {
        let ok = url.len() <= IMAGE_URL_MAX_BYTES
            && url.len() > "https://".len()
            && url.starts_with("https://")
            && !url.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            problems.add(
                "image_url",
                format!("must be an https:// URL of at most {IMAGE_URL_MAX_BYTES} bytes"),
            );
        }
    }
    if !is_iso_4217(&event.currency) {
        problems.add("currency", "must be an ISO 4217 currency code");
    }
    if !(1..=MAX_PER_BOOKING_LIMIT).contains(&event.max_per_booking) {
        problems.add(
            "max_per_booking",
            format!("must be 1 to {MAX_PER_BOOKING_LIMIT}"),
        );
    }
    let layout = layout(&mut problems, event.layout);
    if !problems.0.is_empty() {
        return Err(EventError::Invalid(problems.0));
    }
    let unpriced = unpriced(&layout);
    if !unpriced.is_empty() {
        return Err(EventError::Unpriced(unpriced));
    }
    let unchargeable = unchargeable(&layout, &event.currency, event.max_per_booking);
    if !unchargeable.is_empty() {
        return Err(EventError::Unchargeable(unchargeable));
    }
    Ok(Event {
        title,
        venue,
        starts_at,
        ends_at,
        tags,
        currency: event.currency.to_ascii_lowercase(),
        layout,
        ..event
    })
}

/// Units of a grid without one price: priced twice (a category and a
/// price of their own), by a category the layout does not have, or not
/// at all.
fn unpriced(layout: &Layout) -> Vec<FieldError> {
    let Layout::Grid { categories, units } = layout else {
        return Vec::new();
    };
    let mut problems = Problems::default();
    for (i, unit) in units.iter().enumerate() {
        let field = |name: &str| format!("layout.units[{i}].{name}");
        match (&unit.category, unit.price_cents) {
            (Some(_), Some(_)) => problems.add(
                field("price_cents"),
                "a unit with a category takes its price from it; send one of the two",
            ),
            (Some(id), None) if !categories.iter().any(|c| &c.id == id) => {
                problems.add(field("category"), "names no category of the layout");
            }
            (None, None) => problems.add(field("price_cents"), "send price_cents or category"),
            _ => {}
        }
    }
    problems.0
}

/// Bookings of a valid layout that Stripe could not charge: the dearest one
/// `max_per_booking` allows (the event's own limit, fixed when it was
/// created) above Stripe's maximum, or the cheapest paid one (a single unit
/// or place) below the currency's minimum. Free units and events are fine:
/// they are confirmed without Stripe.
fn unchargeable(layout: &Layout, currency: &str, max_per_booking: u32) -> Vec<FieldError> {
    let mut problems = Problems::default();
    let minimum = stripe_minimum_charge(currency);
    let too_little = |cents: i64| minimum.is_some_and(|min| (1..min).contains(&cents));
    let below_minimum = |cents: i64| {
        format!(
            "{cents} is below Stripe's minimum charge of {} {currency} minor units; use 0 (free) or more",
            minimum.unwrap_or_default()
        )
    };
    let most = match layout {
        Layout::Grid { units, .. } => {
            for (i, unit) in units.iter().enumerate() {
                let price = layout.unit_price(unit);
                if too_little(price) {
                    let priced_by = match unit.category {
                        Some(_) => "category",
                        None => "price_cents",
                    };
                    problems.add(
                        format!("layout.units[{i}].{priced_by}"),
                        below_minimum(price),
                    );
                }
            }
            let mut prices: Vec<i64> = units.iter().map(|u| layout.unit_price(u)).collect();
            prices.sort_unstable_by(|a, b| b.cmp(a));
            let dearest: i64 = prices.iter().take(max_per_booking as usize).sum();
            (dearest > STRIPE_MAX_AMOUNT).then_some(("layout.units", dearest))
        }
        Layout::Open { tiers, .. } => {
            let field = |i: usize| match tiers.is_empty() {
                true => "layout.price_cents".to_owned(),
                false => format!("layout.tiers[{i}].price_cents"),
            };
            let stocks = layout.stocks(0);
            for (i, stock) in stocks.iter().enumerate() {
                if too_little(stock.price_cents) {
                    problems.add(field(i), below_minimum(stock.price_cents));
                }
            }
            let dearest = stocks.iter().map(|s| s.price_cents).max().unwrap_or(0)
                * i64::from(max_per_booking);
            let field = match tiers.is_empty() {
                true => "layout.price_cents",
                false => "layout.tiers",
            };
            (dearest > STRIPE_MAX_AMOUNT).then_some((field, dearest))
        }
    };
    if let Some((field, dearest)) = most {
        problems.add(
            field,
            format!(
                "a booking of max_per_booking ({max_per_booking}) could cost {dearest}, \
                 over Stripe's maximum of {STRIPE_MAX_AMOUNT} minor units per payment; \
                 lower the prices or max_per_booking"
            ),
        );
    }
    problems.0
}

/// Tags as stored: trimmed, lowercase, first occurrence kept.
fn tags(problems: &mut Problems, raw: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut tags = Vec::new();
    for (i, tag) in raw.iter().enumerate() {
        let tag = problems
            .text(&format!("tags[{i}]"), tag, TAG_MAX_CHARS)
            .to_lowercase();
        if seen.insert(tag.clone()) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS {
        problems.add("tags", format!("at most {MAX_TAGS} distinct tags"));
    }
    tags
}

fn layout(problems: &mut Problems, layout: Layout) -> Layout {
    let layout = match layout {
        Layout::Grid { categories, units } => grid(problems, categories, units),
        Layout::Open {
            capacity,
            price_cents,
            tiers,
        } => open(problems, capacity, price_cents, tiers),
    };
    let bytes = serde_json::to_vec(&layout).map_or(usize::MAX, |json| json.len());
    if bytes > LAYOUT_MAX_BYTES {
        problems.add(
            "layout",
            format!("is {bytes} bytes as JSON; at most {LAYOUT_MAX_BYTES} are stored"),
        );
    }
    layout
}

fn grid(problems: &mut Problems, categories: Vec<Category>, units: Vec<Unit>) -> Layout {
    if categories.len() > MAX_KINDS {
        problems.add(
            "layout.categories",
            format!("at most {MAX_KINDS} categories"),
        );
    }
    let mut category_ids = Ids::default();
    let categories: Vec<Category> = categories
        .into_iter()
        .enumerate()
        .map(|(i, category)| {
            let field = |name: &str| format!("layout.categories[{i}].{name}");
            category_ids.check(problems, "layout.categories", i, &category.id);
            let name = problems.text(&field("name"), &category.name, KIND_NAME_MAX_CHARS);
            problems.price(field("price_cents"), category.price_cents);
            Category { name, ..category }
        })
        .collect();
    if units.is_empty() || units.len() > MAX_UNITS {
        problems.add("layout.units", format!("must hold 1 to {MAX_UNITS} units"));
    }
    let mut unit_ids = Ids::default();
    let units = units
        .into_iter()
        .enumerate()
        .map(|(i, unit)| {
            let field = |name: &str| format!("layout.units[{i}].{name}");
            unit_ids.check(problems, "layout.units", i, &unit.id);
            let label = problems.text(&field("label"), &unit.label, UNIT_LABEL_MAX_CHARS);
            if !(1..=MAX_SEATS_PER_UNIT).contains(&unit.seats) {
                problems.add(field("seats"), format!("must be 1 to {MAX_SEATS_PER_UNIT}"));
            }
            if let Some(cents) = unit.price_cents {
                problems.price(field("price_cents"), cents);
            }
            let section = unit
                .section
                .as_deref()
                .map(|s| problems.text(&field("section"), s, KIND_NAME_MAX_CHARS));
            let row = unit
                .row
                .as_deref()
                .map(|r| problems.text(&field("row"), r, KIND_NAME_MAX_CHARS));
            Unit {
                label,
                section,
                row,
                ..unit
            }
        })
        .collect();
    Layout::Grid { categories, units }
}

fn open(
    problems: &mut Problems,
    capacity: Option<u32>,
    price_cents: Option<i64>,
    tiers: Vec<Tier>,
) -> Layout {
    if tiers.is_empty() {
        match capacity {
            Some(capacity) if (1..=MAX_CAPACITY).contains(&capacity) => {}
            _ => problems.add("layout.capacity", format!("must be 1 to {MAX_CAPACITY}")),
        }
        match price_cents {
            Some(cents) => problems.price("layout.price_cents".into(), cents),
            None => problems.add("layout.price_cents", "is required without tiers"),
        }
        return Layout::Open {
            capacity,
            price_cents,
            tiers,
        };
    }
    for (field, present) in [
        ("layout.capacity", capacity.is_some()),
        ("layout.price_cents", price_cents.is_some()),
    ] {
        if present {
            problems.add(field, "each tier has its own; send tiers or this, not both");
        }
    }
    if tiers.len() > MAX_KINDS {
        problems.add("layout.tiers", format!("at most {MAX_KINDS} tiers"));
    }
    let mut ids = Ids::default();
    let tiers: Vec<Tier> = tiers
        .into_iter()
        .enumerate()
        .map(|(i, tier)| {
            let field = |name: &str| format!("layout.tiers[{i}].{name}");
            ids.check(problems, "layout.tiers", i, &tier.id);
            let name = problems.text(&field("name"), &tier.name, KIND_NAME_MAX_CHARS);
            if !(1..=MAX_CAPACITY).contains(&tier.capacity) {
                problems.add(field("capacity"), format!("must be 1 to {MAX_CAPACITY}"));
            }
            problems.price(field("price_cents"), tier.price_cents);
            Tier { name, ..tier }
        })
        .collect();
    let total: u64 = tiers.iter().map(|t| u64::from(t.capacity)).sum();
    if total > u64::from(MAX_CAPACITY) {
        problems.add(
            "layout.tiers",
            format!("hold at most {MAX_CAPACITY} places together"),
        );
    }
    Layout::Open {
        capacity,
        price_cents,
        tiers,
    }
}

/// Ids of units, categories or tiers: the characters keys allow, each once.
#[derive(Default)]
struct Ids(HashMap<String, usize>);

impl Ids {
    /// Checks the id at `index` of `list`.
    fn check(&mut self, problems: &mut Problems, list: &str, index: usize, id: &str) {
        let field = format!("{list}[{index}].id");
        let ok = (1..=UNIT_ID_MAX_CHARS).contains(&id.len())
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
        if !ok {
            problems.add(
                &field,
                format!("must be 1 to {UNIT_ID_MAX_CHARS} of A-Z a-z 0-9 _ -"),
            );
            return;
        }
        match self.0.entry(id.to_owned()) {
            Entry::Occupied(first) => {
                problems.add(&field, format!("duplicates {list}[{}].id", first.get()));
            }
            Entry::Vacant(slot) => {
                slot.insert(index);
            }
        }
    }
}

/// An event of `layout` with everything else plausible, for other modules'
/// tests.
#[cfg(test)]
pub(crate) fn test_event(layout: serde_json::Value) -> Event {
    serde_json::from_value::<NewEvent>(serde_json::json!({
        "title": "Gala", "venue": "Hall", "starts_at": "2030-02-01T19:00:00Z",
        "ends_at": "2030-02-01T23:00:00Z", "timezone": "Europe/Paris", "currency": "usd",
        "layout": layout,
    }))
    .unwrap()
    .into_event("e".into(), OffsetDateTime::UNIX_EPOCH, 10)
    .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

    fn body() -> serde_json::Value {
        json!({
            "title": "  Spring Gala ", "venue": "Hall", "starts_at": "2030-02-01T19:30:00.750+01:00",
            "ends_at": "2030-02-01T23:00:00Z", "timezone": "Europe/Paris", "tags": ["Jazz", "jazz ", "Gala"],
            "currency": "EUR", "layout": { "mode": "open", "capacity": 120, "price_cents": 2500 },
        })
    }

    fn new_event(body: serde_json::Value) -> Result<Event, EventError> {
        serde_json::from_value::<NewEvent>(body)
            .unwrap()
            .into_event("e1".into(), NOW, 10)
    }

    fn problems(result: Result<Event, EventError>) -> Vec<String> {
        match result {
            Err(EventError::Invalid(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    fn with(field: &str, value: serde_json::Value) -> serde_json::Value {
        let mut body = body();
        body[field] = value;
        body
    }

    fn grid(units: usize) -> serde_json::Value {
        let units: Vec<_> = (0..units)
            .map(|i| json!({ "id": format!("T{i}"), "label": format!("Table {i}"), "seats": 8, "price_cents": 100 }))
            .collect();
        json!({ "mode": "grid", "units": units })
    }

    #[test]
    fn a_new_event_is_a_normalized_draft() {
        let event = new_event(body()).unwrap();
        assert_eq!(event.status, EventStatus::Draft);
        assert_eq!(event.title, "Spring Gala");
        assert_eq!(event.currency, "eur");
        assert_eq!(event.tags, ["jazz", "gala"]);
        assert_eq!(event.starts_at, datetime!(2030-02-01 18:30:00 UTC));
        assert_eq!(event.starts_at.offset(), UtcOffset::UTC);
        assert_eq!(event.max_per_booking, 10, "the platform default");
        assert_eq!(event.shard_count, shard_count(120));
        assert_eq!((event.created_at, event.updated_at), (NOW, NOW));
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut body = body();
        body["title"] = json!("   ");
        body["venue"] = json!("v".repeat(201));
        body["timezone"] = json!("Europe/Paris; DROP");
        body["currency"] = json!("EURO");
        body["max_per_booking"] = json!(51);
        body["image_url"] = json!("http://example.com/a.png");
        body["tags"] = json!(["ok", "", "x".repeat(31)]);
        body["description"] = json!("d".repeat(5001));
        assert_eq!(
            problems(new_event(body)),
            [
                "title",
                "description",
                "venue",
                "timezone",
                "tags[1]",
                "tags[2]",
                "image_url",
                "currency",
                "max_per_booking"
            ]
        );
    }

    #[test]
    fn times_must_be_ordered_and_in_the_future() {
        let ends_first = with("ends_at", json!("2030-02-01T18:30:00Z"));
        assert_eq!(problems(new_event(ends_first)), ["ends_at"]);
        let mut past = body();
        past["starts_at"] = json!("2029-12-31T00:00:00Z");
        assert_eq!(problems(new_event(past)), ["starts_at"]);
    }

    #[test]
    fn grid_units_are_checked_one_by_one() {
        let layout = json!({ "mode": "grid", "units": [
            { "id": "T1", "label": "Table 1", "seats": 8, "price_cents": 40000 },
            { "id": "T 2", "label": "", "seats": 0, "price_cents": -1 },
            { "id": "T1", "label": "Again", "seats": 101, "price_cents": 100_000_001 },
        ]});
        assert_eq!(
            problems(new_event(with("layout", layout))),
            [
                "layout.units[1].id",
                "layout.units[1].label",
                "layout.units[1].seats",
                "layout.units[1].price_cents",
                "layout.units[2].id",
                "layout.units[2].seats",
                "layout.units[2].price_cents"
            ]
        );
    }

    #[test]
    fn a_duplicate_unit_id_names_the_first_use() {
        let mut layout = grid(3);
        layout["units"][2]["id"] = json!("T0");
        let Err(EventError::Invalid(errors)) = new_event(with("layout", layout)) else {
            panic!("duplicate accepted");
        };
        assert_eq!(errors[0].field, "layout.units[2].id");
        assert_eq!(errors[0].message, "duplicates layout.units[0].id");
    }

    #[test]
    fn grids_hold_1_to_2000_units() {
        assert!(new_event(with("layout", grid(2000))).is_ok());
        assert_eq!(
            problems(new_event(with("layout", grid(2001)))),
            ["layout.units"]
        );
        assert_eq!(
            problems(new_event(with("layout", grid(0)))),
            ["layout.units"]
        );
    }

    #[test]
    fn open_capacity_and_price_are_bounded() {
        let layout = json!({ "mode": "open", "capacity": 0, "price_cents": -5 });
        assert_eq!(
            problems(new_event(with("layout", layout))),
            ["layout.capacity", "layout.price_cents"]
        );
        let layout = json!({ "mode": "open", "capacity": 1_000_001, "price_cents": 0 });
        assert_eq!(
            problems(new_event(with("layout", layout))),
            ["layout.capacity"]
        );
    }

    fn unchargeable(result: Result<Event, EventError>) -> Vec<String> {
        match result {
            Err(EventError::Unchargeable(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected amounts Stripe refuses, got {other:?}"),
        }
    }

    fn priced_grid(prices: &[i64]) -> serde_json::Value {
        let units: Vec<_> = prices
            .iter()
            .enumerate()
            .map(|(i, p)| json!({ "id": format!("T{i}"), "label": "Table", "seats": 8, "price_cents": p }))
            .collect();
        json!({ "mode": "grid", "units": units })
    }

    #[test]
    fn a_currency_must_be_a_real_iso_4217_code() {
        assert_eq!(
            problems(new_event(with("currency", json!("xyz")))),
            ["currency"]
        );
        assert_eq!(
            new_event(with("currency", json!("JPY"))).unwrap().currency,
            "jpy"
        );
    }

    #[test]
    fn a_booking_max_per_booking_allows_must_fit_in_one_stripe_payment() {
        // 10 places at 10,000,000 = 100,000,000 > 99,999,999.
        let mut body = with(
            "layout",
            json!({ "mode": "open", "capacity": 100, "price_cents": 10_000_000 }),
        );
        assert_eq!(
            unchargeable(new_event(body.clone())),
            ["layout.price_cents"]
        );
        body["max_per_booking"] = json!(9);
        assert!(new_event(body).is_ok(), "9 places cost 90,000,000");
        // The dearest booking of a grid: its max_per_booking dearest units.
        let mut body = with("layout", priced_grid(&[60_000_000, 40_000_000, 100, 100]));
        body["max_per_booking"] = json!(2);
        assert_eq!(unchargeable(new_event(body.clone())), ["layout.units"]);
        body["max_per_booking"] = json!(1);
        assert!(
            new_event(body).is_ok(),
            "one unit at a time stays under the maximum"
        );
    }

    #[test]
    fn a_paid_booking_below_stripes_minimum_charge_is_refused_but_free_is_fine() {
        let cheap_open = json!({ "mode": "open", "capacity": 100, "price_cents": 49 });
        let result = new_event(with("layout", cheap_open));
        assert_eq!(
            unchargeable(result),
            ["layout.price_cents"],
            "EUR 0.49 < EUR 0.50"
        );
        let free_open = json!({ "mode": "open", "capacity": 100, "price_cents": 0 });
        assert!(new_event(with("layout", free_open)).is_ok());
        let body = with("layout", priced_grid(&[0, 2500, 10]));
        assert_eq!(
            unchargeable(new_event(body)),
            ["layout.units[2].price_cents"]
        );
        // GBP's minimum is 30 pence.
        let mut body = with(
            "layout",
            json!({ "mode": "open", "capacity": 5, "price_cents": 30 }),
        );
        body["currency"] = json!("gbp");
        assert!(new_event(body).is_ok());
    }

    #[test]
    fn a_patch_is_checked_against_the_events_own_max_per_booking() {
        let mut body = with(
            "layout",
            json!({ "mode": "open", "capacity": 100, "price_cents": 5_000_000 }),
        );
        body["max_per_booking"] = json!(5);
        let event = new_event(body).unwrap();
        let raised = patch(&event, json!({ "max_per_booking": 20 }), NOW);
        assert!(
            matches!(&raised, Err(EventError::Unchargeable(_))),
            "20 x 5,000,000 is over Stripe's maximum: {raised:?}"
        );
        let cheaper = patch(
            &event,
            json!({ "currency": "jpy", "layout": { "mode": "open", "capacity": 100, "price_cents": 20 } }),
            NOW,
        );
        assert!(
            matches!(cheaper, Err(EventError::Unchargeable(_))),
            "JPY 20 < JPY 50"
        );
        assert_eq!(
            ApiError::from(EventError::Unchargeable(vec![])).status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }

    #[test]
    fn a_layout_too_large_for_an_item_is_refused() {
        let units: Vec<_> = (0..2000)
            .map(|i| json!({ "id": format!("T{i}"), "label": "l".repeat(100), "seats": 8, "price_cents": 1 }))
            .collect();
        let layout = json!({ "mode": "grid", "units": units });
        assert_eq!(problems(new_event(with("layout", layout))), ["layout"]);
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_value::<NewEvent>(with("status", json!("published"))).is_err());
        assert!(serde_json::from_value::<EventPatch>(json!({ "id": "x" })).is_err());
    }

    fn patch(
        event: &Event,
        patch: serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<Event, EventError> {
        event.patched(serde_json::from_value(patch).unwrap(), now)
    }

    #[test]
    fn a_patch_is_merged_and_the_result_validated() {
        let event = new_event(body()).unwrap();
        let later = NOW + Duration::minutes(1);
        let patched = patch(
            &event,
            json!({ "title": "Summer Gala", "tags": ["Summer"] }),
            later,
        )
        .unwrap();
        assert_eq!(
            (patched.title.as_str(), patched.venue.as_str()),
            ("Summer Gala", "Hall")
        );
        assert_eq!(patched.tags, ["summer"]);
        assert_eq!(patched.updated_at, later);
        assert_eq!(
            problems(patch(
                &event,
                json!({ "ends_at": "2030-02-01T18:00:00Z" }),
                later
            )),
            ["ends_at"]
        );
    }

    #[test]
    fn an_uploaded_image_replaces_the_url_and_is_audited_by_key() {
        let event = new_event(with("image_url", json!("https://img.example.com/a.png"))).unwrap();
        let shown = event.with_image("events/e/u.png", NOW).unwrap();
        assert_eq!(shown.image_url, None);
        assert_eq!(shown.image_key.as_deref(), Some("events/e/u.png"));
        let changed = changes(&event, &shown);
        assert_eq!(changed["image_key"]["after"], "events/e/u.png");
        assert_eq!(
            changed["image_url"]["before"],
            "https://img.example.com/a.png"
        );
    }

    #[test]
    fn a_patched_image_url_drops_the_uploaded_image() {
        let event = new_event(body())
            .unwrap()
            .with_image("events/e/u.png", NOW)
            .unwrap();
        let patched = patch(&event, json!({ "image_url": null }), NOW).unwrap();
        assert_eq!(patched.image_key, None);
        let untouched = patch(&event, json!({ "title": "Other" }), NOW).unwrap();
        assert_eq!(untouched.image_key.as_deref(), Some("events/e/u.png"));
    }

    #[test]
    fn null_removes_the_image_but_not_other_fields() {
        let event = new_event(with("image_url", json!("https://img.example.com/a.png"))).unwrap();
        assert_eq!(
            patch(&event, json!({ "image_url": null }), NOW)
                .unwrap()
                .image_url,
            None
        );
        assert!(serde_json::from_value::<EventPatch>(json!({ "title": null })).is_err());
    }

    #[test]
    fn the_start_must_be_in_the_future_only_when_moved() {
        let event = new_event(body()).unwrap();
        let after_start = event.starts_at + Duration::hours(1);
        let later_end = json!({ "ends_at": "2030-02-02T01:00:00Z" });
        assert!(patch(&event, later_end, after_start).is_ok());
        let same_start = json!({ "starts_at": "2030-02-01T18:30:00Z" });
        assert!(patch(&event, same_start, after_start).is_ok());
        let moved = json!({ "starts_at": "2030-02-01T18:00:00Z" });
        assert_eq!(problems(patch(&event, moved, after_start)), ["starts_at"]);
    }

    #[test]
    fn a_new_layout_gets_its_own_shard_count() {
        let event = new_event(body()).unwrap();
        let patched = patch(&event, json!({ "layout": grid(2) }), NOW).unwrap();
        assert_eq!(patched.shard_count, 0);
        assert!(patched.sells_differently_from(&event));
        let renamed = patch(&event, json!({ "title": "Other" }), NOW).unwrap();
        assert!(!renamed.sells_differently_from(&event));
        let recurrency = patch(&event, json!({ "currency": "usd" }), NOW).unwrap();
        assert!(recurrency.sells_differently_from(&event));
    }

    #[test]
    fn once_sales_started_only_the_selling_shape_is_frozen() {
        let mut event = new_event(body()).unwrap();
        event.sales_started = true;
        assert!(
            patch(
                &event,
                json!({ "title": "Renamed", "max_per_booking": 4 }),
                NOW
            )
            .is_ok()
        );
        assert_eq!(
            patch(&event, json!({ "layout": grid(1) }), NOW),
            Err(EventError::LayoutLocked)
        );
        assert_eq!(
            patch(&event, json!({ "currency": "usd" }), NOW),
            Err(EventError::LayoutLocked)
        );
    }

    fn cinema() -> serde_json::Value {
        json!({ "mode": "grid",
            "categories": [ { "id": "standard", "name": "Standard", "price_cents": 1200 },
                            { "id": "deluxe", "name": " Deluxe ", "price_cents": 2000 } ],
            "units": [
                { "id": "A1", "label": "A1", "seats": 1, "category": "deluxe", "section": "Stalls", "row": "A" },
                { "id": "B1", "label": "B1", "seats": 1, "category": "standard", "row": "B" },
                { "id": "X", "label": "Box", "seats": 4, "price_cents": 9000 } ] })
    }

    fn festival() -> serde_json::Value {
        json!({ "mode": "open", "tiers": [
            { "id": "ga", "name": "General", "capacity": 500, "price_cents": 2500 },
            { "id": "vip", "name": "VIP", "capacity": 50, "price_cents": 9000 } ] })
    }

    fn unpriced(result: Result<Event, EventError>) -> Vec<String> {
        match result {
            Err(EventError::Unpriced(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected units without one price, got {other:?}"),
        }
    }

    #[test]
    fn a_unit_takes_its_price_from_its_category_or_its_own() {
        let event = new_event(with("layout", cinema())).unwrap();
        let Layout::Grid { categories, units } = &event.layout else {
            panic!("not a grid");
        };
        assert_eq!(categories[1].name, "Deluxe");
        let prices: Vec<i64> = units.iter().map(|u| event.layout.unit_price(u)).collect();
        assert_eq!(prices, [2000, 1200, 9000]);
    }

    #[test]
    fn a_unit_with_a_category_and_a_price_or_neither_or_an_unknown_category_is_unpriced() {
        let mut layout = cinema();
        layout["units"][0]["price_cents"] = json!(100);
        layout["units"][1]["category"] = json!("balcony");
        layout["units"][2]
            .as_object_mut()
            .unwrap()
            .remove("price_cents");
        assert_eq!(
            unpriced(new_event(with("layout", layout))),
            [
                "layout.units[0].price_cents",
                "layout.units[1].category",
                "layout.units[2].price_cents"
            ]
        );
    }

    #[test]
    fn categories_are_checked_one_by_one() {
        let mut layout = cinema();
        layout["categories"][1]["id"] = json!("standard");
        layout["categories"][0]["price_cents"] = json!(-1);
        layout["categories"][0]["name"] = json!("");
        assert_eq!(
            problems(new_event(with("layout", layout))),
            [
                "layout.categories[0].name",
                "layout.categories[0].price_cents",
                "layout.categories[1].id"
            ]
        );
    }

    #[test]
    fn each_tier_gets_its_own_shards_and_the_single_shape_is_one_stock() {
        let event = new_event(with("layout", festival())).unwrap();
        let stocks = event.stocks();
        let shards: Vec<(Option<&str>, u32)> = stocks
            .iter()
            .map(|s| (s.tier.as_deref(), s.shards))
            .collect();
        assert_eq!(shards, [(Some("ga"), 50), (Some("vip"), 5)]);
        assert!(event.layout.is_tiered());
        let single = new_event(body()).unwrap();
        assert_eq!(single.stocks().len(), 1);
        assert_eq!(single.stocks()[0].tier, None);
        assert_eq!(single.stocks()[0].shards, shard_count(120));
    }

    #[test]
    fn tiers_are_checked_one_by_one_and_exclude_a_single_capacity() {
        let mut layout = festival();
        layout["price_cents"] = json!(100);
        layout["tiers"][0]["capacity"] = json!(0);
        layout["tiers"][1]["id"] = json!("ga");
        assert_eq!(
            problems(new_event(with("layout", layout))),
            [
                "layout.price_cents",
                "layout.tiers[0].capacity",
                "layout.tiers[1].id"
            ]
        );
        let empty = json!({ "mode": "open" });
        assert_eq!(
            problems(new_event(with("layout", empty))),
            ["layout.capacity", "layout.price_cents"]
        );
    }

    #[test]
    fn the_dearest_tier_bounds_what_one_booking_may_cost() {
        let mut layout = festival();
        layout["tiers"][1]["price_cents"] = json!(10_000_000);
        let mut body = with("layout", layout);
        body["max_per_booking"] = json!(10);
        assert_eq!(unchargeable(new_event(body)), ["layout.tiers"]);
    }

    #[test]
    fn once_sales_started_categories_tiers_and_their_prices_are_frozen() {
        for (layout, change) in [
            (cinema(), "/categories/0/price_cents"),
            (festival(), "/tiers/1/price_cents"),
            (festival(), "/tiers/0/capacity"),
        ] {
            let mut event = new_event(with("layout", layout.clone())).unwrap();
            event.sales_started = true;
            let mut changed = layout;
            *changed.pointer_mut(change).unwrap() = json!(1500);
            assert_eq!(
                patch(&event, json!({ "layout": changed }), NOW),
                Err(EventError::LayoutLocked),
                "{change}"
            );
        }
    }

    #[test]
    fn a_cancelled_event_is_not_edited() {
        let event = new_event(body())
            .unwrap()
            .with_status(EventStatus::Cancelled, NOW);
        assert_eq!(
            patch(&event, json!({ "title": "x" }), NOW),
            Err(EventError::Cancelled)
        );
    }

    #[test]
    fn publishing_is_idempotent_and_cancelling_final() {
        use EventStatus::*;
        assert_eq!(publish(Draft), Ok(Transition::To(Published)));
        assert_eq!(publish(Scheduled), Ok(Transition::To(Published)));
        assert_eq!(publish(Published), Ok(Transition::AlreadyThere));
        assert_eq!(publish(Cancelled), Err(EventError::Cancelled));
        for from in [Draft, Scheduled, Published] {
            assert_eq!(cancel(from), Ok(Transition::To(Cancelled)));
        }
        assert_eq!(cancel(Cancelled), Ok(Transition::AlreadyThere));
    }

    #[test]
    fn a_draft_is_scheduled_for_a_whole_second_before_it_starts() {
        let event = new_event(body()).unwrap();
        let at = NOW + Duration::days(1) + Duration::milliseconds(400);
        let scheduled = scheduled(&event, at, NOW).unwrap();
        assert_eq!(scheduled.status, EventStatus::Scheduled);
        assert_eq!(scheduled.publish_at, to_stored_time(at));
        let moved = super::scheduled(&scheduled, at + Duration::hours(1), NOW).unwrap();
        assert_eq!(moved.publish_at, to_stored_time(at + Duration::hours(1)));
    }

    #[test]
    fn a_scheduled_event_cannot_start_before_it_goes_on_sale() {
        let event = new_event(body()).unwrap();
        let scheduled = scheduled(&event, datetime!(2030-01-20 12:00 UTC), NOW).unwrap();
        let earlier =
            json!({ "starts_at": "2030-01-20T12:00:00Z", "ends_at": "2030-01-20T18:00:00Z" });
        assert_eq!(
            problems(patch(&scheduled, earlier.clone(), NOW)),
            ["starts_at"]
        );
        assert!(
            patch(&event, earlier, NOW).is_ok(),
            "a draft has no publish time"
        );
    }

    #[test]
    fn a_schedule_must_be_future_before_the_start_and_of_a_draft() {
        let event = new_event(body()).unwrap();
        let field = |result: Result<Event, EventError>| match result {
            Err(EventError::CannotSchedule(error)) => error.field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(scheduled(&event, NOW, NOW)), "publish_at");
        assert_eq!(field(scheduled(&event, event.starts_at, NOW)), "publish_at");
        for status in [EventStatus::Published, EventStatus::Cancelled] {
            let other = event.with_status(status, NOW);
            assert_eq!(
                field(scheduled(&other, NOW + Duration::hours(1), NOW)),
                "status"
            );
        }
    }

    #[test]
    fn drafts_are_visible_to_staff_only() {
        use EventStatus::*;
        for role in [None, Some(Role::User)] {
            assert!(is_visible_to(Published, role) && is_visible_to(Cancelled, role));
            assert!(!is_visible_to(Draft, role) && !is_visible_to(Scheduled, role));
            assert!(is_listable_by(Published, role) && !is_listable_by(Draft, role));
        }
        assert!(
            is_visible_to(Draft, Some(Role::Staff)) && is_listable_by(Scheduled, Some(Role::Admin))
        );
    }

    #[test]
    fn updated_at_always_moves_forward() {
        assert_eq!(
            touched_at(NOW, NOW + Duration::SECOND),
            NOW + Duration::SECOND
        );
        assert!(touched_at(NOW, NOW) > NOW);
        assert!(touched_at(NOW, NOW - Duration::SECOND) > NOW);
    }

    #[test]
    fn listing_bounds_round_to_stored_seconds() {
        let t = datetime!(2030-01-01 10:00:00.5 +01:00);
        assert_eq!(to_stored_time(t), Some(datetime!(2030-01-01 09:00:00 UTC)));
        assert_eq!(
            first_stored_time_from(t),
            Some(datetime!(2030-01-01 09:00:01 UTC))
        );
        assert_eq!(first_stored_time_from(NOW), Some(NOW));
    }

    #[test]
    fn changes_name_only_what_changed() {
        let event = new_event(body()).unwrap();
        let patched = patch(&event, json!({ "venue": "Park", "layout": grid(1) }), NOW).unwrap();
        let changed = changes(&event, &patched);
        assert_eq!(changed.keys().collect::<Vec<_>>(), ["layout", "venue"]);
        assert_eq!(
            changed["venue"],
            json!({ "before": "Hall", "after": "Park" })
        );
        assert_eq!(changed["layout"]["after"]["units"], 1);
        assert!(changes(&event, &event.with_status(EventStatus::Draft, NOW)).is_empty());
    }

    #[test]
    fn an_events_places_come_in_shards_of_ten_up_to_ten_thousand_shards() {
        assert_eq!(shard_count(1), 1);
        assert_eq!(shard_count(100), 10);
        assert_eq!(shard_count(50_000), 5_000);
        assert_eq!(shard_count(1_000_000), MAX_SHARDS);
    }

    #[test]
    fn shard_capacities_add_up_to_the_capacity() {
        for (capacity, shards) in [(100, 2), (101, 3), (7, 16), (1_000_000, MAX_SHARDS)] {
            let caps: Vec<u32> = (0..shards)
                .map(|shard| shard_capacity(capacity, shards, shard))
                .collect();
            assert_eq!(caps.iter().sum::<u32>(), capacity);
            assert!(caps.iter().max().unwrap() - caps.iter().min().unwrap() <= 1);
        }
    }

    #[test]
    fn shards_are_read_in_at_most_32_even_groups() {
        assert_eq!(shard_group_count(10), 1);
        assert_eq!(shard_group_count(5_000), 32);
        let groups = shard_group_count(200);
        assert_eq!(groups, 4);
        let mut per_group = vec![0; groups as usize];
        for shard in 0..200 {
            per_group[shard_group(shard, groups) as usize] += 1;
        }
        assert_eq!(per_group, [50, 50, 50, 50]);
    }

    #[test]
    fn layouts_read_as_the_api_writes_them() {
        let grid: Layout = serde_json::from_str(
            r#"{"mode":"grid","units":[{"id":"T1","label":"Table 1","seats":8,"price_cents":40000}]}"#,
        )
        .unwrap();
        assert!(matches!(grid, Layout::Grid { ref units, .. } if units[0].seats == 8));
        let open: Layout =
            serde_json::from_str(r#"{"mode":"open","capacity":500,"price_cents":2500}"#).unwrap();
        assert_eq!(
            open,
            Layout::Open {
                capacity: Some(500),
                price_cents: Some(2500),
                tiers: Vec::new(),
            }
        );
    }
}
