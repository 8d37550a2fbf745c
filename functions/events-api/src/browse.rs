use axum::extract::State;
use serde::{Deserialize, Serialize};
use shared::auth::MaybeAuthenticated;
use shared::domain::event::{self, Event, EventStatus, Layout, TAG_MAX_CHARS};
use shared::http::{Json, PathParam, Query, page_limit, time_param};
use shared::store::{Availability, EventQuery, UnitState};
use shared::{ApiError, AppState};
use time::OffsetDateTime;

use crate::EventsState;

/// The longest `q` accepted: a search phrase, not a document.
const QUERY_MAX_CHARS: usize = 100;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListEvents {
    /// Case-insensitive match on title, venue or description.
    q: Option<String>,
    /// Events with this tag (case-insensitive).
    tag: Option<String>,
    /// RFC 3339: events starting at or after this time.
    from: Option<String>,
    /// RFC 3339: events starting at or before this time.
    to: Option<String>,
    /// `draft`, `scheduled`, `published` or `cancelled`; default `published`.
    /// Staff and above only for anything but `published`.
    status: Option<String>,
    /// 1..=100, default 20.
    limit: Option<u32>,
    /// `next_cursor` of the previous page of the same query.
    cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EventList {
    items: Vec<Event>,
    next_cursor: Option<String>,
}

/// Lists events of one status (published unless staff ask otherwise) by
/// start time, earliest first.
#[utoipa::path(get, path = "/v1/events", operation_id = "listEvents", tag = "events", params(ListEvents),
    security((), ("bearer" = [])),
    responses((status = 200, body = EventList), (status = 400, body = shared::error::Problem),
              (status = 401, description = "a status other than published without a (valid) token", body = shared::error::Problem),
              (status = 403, description = "a status other than published below staff", body = shared::error::Problem)))]
pub async fn list(
    State(state): State<EventsState>,
    caller: MaybeAuthenticated,
    Query(params): Query<ListEvents>,
) -> Result<Json<EventList>, ApiError> {
    let app = &state.app;
    let limit = page_limit(params.limit)?;
    let status = match params.status.as_deref() {
        None => EventStatus::Published,
        Some(status) => EventStatus::parse(status).ok_or_else(|| {
            ApiError::invalid_field("status", "must be draft, scheduled, published or cancelled")
        })?,
    };
    let query = EventQuery {
        status: Some(status),
        text: search_term("q", params.q.as_deref(), QUERY_MAX_CHARS)?,
        tag: search_term("tag", params.tag.as_deref(), TAG_MAX_CHARS)?,
        from: time_param("from", params.from.as_deref())?,
        to: time_param("to", params.to.as_deref())?,
    };
    if !event::is_listable_by(status, caller.role()) {
        return Err(match caller.0 {
            None => ApiError::unauthorized(
                "UNAUTHENTICATED",
                "listing events by status needs a staff sign-in",
            ),
            Some(_) => ApiError::forbidden("FORBIDDEN", "only staff may list events by status"),
        });
    }
    // A cursor is a position in one exact query: resuming it in another
    // (other status, other bounds) could point outside that query's range.
    let listing = listing_name(&query);
    let start = params
        .cursor
        .as_deref()
        .map(|cursor| app.cursors.open(&listing, cursor))
        .transpose()?;
    let page = app.store.list_events(&query, limit, start).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for event in page.items {
        items.push(crate::images::shown(&state, event).await?);
    }
    Ok(Json(EventList {
        items,
        next_cursor: page.last_key.map(|key| app.cursors.seal(&listing, &key)),
    }))
}

/// One event: published and cancelled ones to anyone, every status to staff
/// and above; others get 404, as if it did not exist.
#[utoipa::path(get, path = "/v1/events/{id}", operation_id = "getEvent", tag = "events",
    params(("id" = String, Path, description = "Event id")), security((), ("bearer" = [])),
    responses((status = 200, body = Event), (status = 401, description = "an invalid token", body = shared::error::Problem),
              (status = 404, body = shared::error::Problem)))]
pub async fn show(
    State(state): State<EventsState>,
    caller: MaybeAuthenticated,
    PathParam(id): PathParam<String>,
) -> Result<Json<Event>, ApiError> {
    let event = visible_event(&state.app, &caller, &id).await?;
    Ok(Json(crate::images::shown(&state, event).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum AvailabilityView {
    /// Every unit of the layout, in layout order.
    Grid {
        units: Vec<UnitView>,
        /// The layout's price categories, with how many of their units are available.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        categories: Vec<CategoryView>,
    },
    Open {
        capacity: u32,
        remaining: u32,
        /// Tiered events: each tier's own places.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tiers: Vec<TierView>,
    },
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UnitView {
    id: String,
    /// `available`, `held` or `booked`; a lapsed hold is `available`.
    #[schema(value_type = String)]
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CategoryView {
    id: String,
    name: String,
    price_cents: i64,
    /// Units of this category available now.
    available: u32,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TierView {
    id: String,
    name: String,
    capacity: u32,
    remaining: u32,
    price_cents: i64,
}

impl AvailabilityView {
    fn of(availability: Availability, layout: &Layout) -> Self {
        match availability {
            Availability::Grid(states) => {
                let units: Vec<UnitView> = states
                    .into_iter()
                    .map(|(unit, state)| UnitView {
                        id: unit.id,
                        state: match state {
                            UnitState::Available => "available",
                            UnitState::Held => "held",
                            UnitState::Booked => "booked",
                        },
                        category: unit.category,
                    })
                    .collect();
                let categories = layout
                    .categories()
                    .iter()
                    .map(|category| CategoryView {
                        id: category.id.clone(),
                        name: category.name.clone(),
                        price_cents: category.price_cents,
                        available: units
                            .iter()
                            .filter(|u| {
                                u.state == "available"
                                    && u.category.as_deref() == Some(category.id.as_str())
                            })
                            .count() as u32,
                    })
                    .collect();
                AvailabilityView::Grid { units, categories }
            }
            // Stocks come in the layout's order of tiers (one stock and no
            // tiers on a single-tier layout).
            Availability::Open(stocks) => AvailabilityView::Open {
                capacity: stocks.iter().map(|(stock, _)| stock.capacity).sum(),
                remaining: stocks.iter().map(|(_, left)| left).sum(),
                tiers: layout
                    .tiers()
                    .iter()
                    .zip(&stocks)
                    .map(|(tier, (_, remaining))| TierView {
                        id: tier.id.clone(),
                        name: tier.name.clone(),
                        capacity: tier.capacity,
                        remaining: *remaining,
                        price_cents: tier.price_cents,
                    })
                    .collect(),
            },
        }
    }
}

/// What is still free, to whoever may see the event. Read at request time:
/// an expired hold counts as available before any worker releases it.
#[utoipa::path(get, path = "/v1/events/{id}/availability", operation_id = "getEventAvailability", tag = "events",
    params(("id" = String, Path, description = "Event id")), security((), ("bearer" = [])),
    responses((status = 200, body = AvailabilityView), (status = 401, description = "an invalid token", body = shared::error::Problem),
              (status = 404, body = shared::error::Problem)))]
pub async fn availability(
    State(app): State<AppState>,
    caller: MaybeAuthenticated,
    PathParam(id): PathParam<String>,
) -> Result<Json<AvailabilityView>, ApiError> {
    let event = visible_event(&app, &caller, &id).await?;
    let availability = app.store.availability(&event, app.clock.now()).await?;
    Ok(Json(AvailabilityView::of(availability, &event.layout)))
}

async fn visible_event(
    app: &AppState,
    caller: &MaybeAuthenticated,
    id: &str,
) -> Result<Event, ApiError> {
    app.store
        .event(id)
        .await?
        .filter(|event| event::is_visible_to(event.status, caller.role()))
        .ok_or_else(|| ApiError::not_found("event"))
}

/// A trimmed search term; blank means no filter.
fn search_term<'a>(
    field: &str,
    value: Option<&'a str>,
    max_chars: usize,
) -> Result<Option<&'a str>, ApiError> {
    let term = value.map(str::trim).filter(|term| !term.is_empty());
    if term.is_some_and(|term| term.chars().count() > max_chars) {
        return Err(ApiError::invalid_field(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    Ok(term)
}

fn listing_name(query: &EventQuery<'_>) -> String {
    let time = |t: Option<OffsetDateTime>| t.map(|t| t.unix_timestamp_nanos().to_string());
    serde_json::json!([
        "events",
        query.status.map(EventStatus::as_str),
        query.text.map(str::to_lowercase),
        query.tag.map(str::to_lowercase),
        time(query.from),
        time(query.to),
    ])
    .to_string()
}
