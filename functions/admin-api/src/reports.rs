use axum::extract::State;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use shared::auth::{Admin, RequireRole};
use shared::domain::booking::BookingStatus;
use shared::domain::event::{Event, EventStatus};
use shared::domain::kinds::Kinds;
use shared::domain::revenue::{ByKind, KindTotals, Ledger, Split, Totals};
use shared::domain::ticket::tickets_for;
use shared::http::{Json, Query, time_param};
use shared::store::{EventQuery, StoreError};
use shared::{ApiError, AppState};
use time::OffsetDateTime;

/// Events whose bookings are read at once (each read is 32 queries).
const EVENTS_AT_ONCE: usize = 4;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RevenueParams {
    /// RFC 3339: bookings made at or after this second; default: all.
    from: Option<String>,
    /// RFC 3339: bookings made up to this second, included; default: now.
    to: Option<String>,
}

/// Amounts in one currency, or `null` when the sales counted are in
/// several (then see `by_currency`); counts add up across currencies.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Amounts {
    currency: Option<String>,
    gross_cents: Option<i64>,
    fees_cents: Option<i64>,
    refunds_cents: Option<i64>,
    net_cents: Option<i64>,
    bookings: u64,
    seats: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BySource<T> {
    online: T,
    walk_in: T,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EventRevenue {
    event_id: String,
    title: String,
    currency: String,
    #[serde(flatten)]
    totals: Totals,
    /// Grids with price categories: the sales of each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    by_category: Vec<KindTotals>,
    /// Open events with tiers: the sales of each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    by_tier: Vec<KindTotals>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CurrencyRevenue {
    currency: String,
    #[serde(flatten)]
    totals: Totals,
    by_source: BySource<Totals>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RevenueReport {
    #[serde(flatten)]
    amounts: Amounts,
    /// Events with a paid booking in the period.
    by_event: Vec<EventRevenue>,
    by_source: BySource<Amounts>,
    by_currency: Vec<CurrencyRevenue>,
}

/// Revenue of the bookings made in the period, summed from the bookings
/// themselves (the export's rows add up to it): `gross` paid, `refunds`
/// given or owed back, the platform's `fees` net of what refunds returned,
/// `net = gross - refunds - fees`; `bookings` and `seats` are the sales
/// that stand (confirmed). By event, by source (online card, walk-in cash)
/// and by currency.
#[utoipa::path(get, path = "/v1/admin/reports/revenue", operation_id = "revenueReport", tag = "admin", params(RevenueParams),
    security(("bearer" = [])),
    responses((status = 200, body = RevenueReport), (status = 400, body = shared::error::Problem),
              (status = 401, body = shared::error::Problem), (status = 403, body = shared::error::Problem)))]
pub async fn revenue(
    State(app): State<AppState>,
    _admin: RequireRole<Admin>,
    Query(params): Query<RevenueParams>,
) -> Result<Json<RevenueReport>, ApiError> {
    let from = time_param("from", params.from.as_deref())?.unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let to = time_param("to", params.to.as_deref())?.unwrap_or(app.clock.now());
    if from > to {
        return Err(ApiError::invalid_field("from", "must not be after `to`"));
    }
    let events = sold_events(&app).await?;
    let per_event: Vec<(Event, Ledger, ByKind)> = stream::iter(events)
        .map(|event| {
            let app = &app;
            async move {
                let records = app
                    .store
                    .all_event_bookings(&event.id, Some((from, to)))
                    .await?;
                let mut ledger = Ledger::default();
                let kinds = Kinds::of(&event);
                let mut by_kind = ByKind::new(kinds.ids());
                for record in &records {
                    by_kind.add(&record.booking, &kinds.lines(&record.booking));
                    let seats = match record.booking.status {
                        BookingStatus::Confirmed => {
                            tickets_for(&record.booking, &event).len() as u32
                        }
                        _ => 0,
                    };
                    ledger.add(&record.booking, seats);
                }
                Ok::<_, StoreError>((event, ledger, by_kind))
            }
        })
        .buffered(EVENTS_AT_ONCE)
        .try_collect()
        .await?;
    let mut ledger = Ledger::default();
    let mut by_event = Vec::new();
    for (event, mine, by_kind) in &per_event {
        ledger.merge(mine);
        let (by_category, by_tier) = match Kinds::of(event).by_category() {
            true => (by_kind.0.clone(), Vec::new()),
            false => (Vec::new(), by_kind.0.clone()),
        };
        for (currency, split) in &mine.by_currency {
            if split.all.gross_cents != 0 || split.all.bookings != 0 {
                by_event.push(EventRevenue {
                    event_id: event.id.clone(),
                    title: event.title.clone(),
                    currency: currency.clone(),
                    totals: split.all,
                    by_category: by_category.clone(),
                    by_tier: by_tier.clone(),
                });
            }
        }
    }
    let splits = &ledger.by_currency;
    Ok(Json(RevenueReport {
        amounts: amounts(splits.iter().map(|(c, s)| (c, s.all))),
        by_event,
        by_source: BySource {
            online: amounts(splits.iter().map(|(c, s)| (c, s.online))),
            walk_in: amounts(splits.iter().map(|(c, s)| (c, s.walk_in))),
        },
        by_currency: splits
            .iter()
            .map(|(currency, split): (&String, &Split)| CurrencyRevenue {
                currency: currency.clone(),
                totals: split.all,
                by_source: BySource {
                    online: split.online,
                    walk_in: split.walk_in,
                },
            })
            .collect(),
    }))
}

/// Every event that can have bookings: published or cancelled ones whose
/// sales started. Every booking, walk-ins too, is taken only after the
/// write that sets `sales_started` (store::freeze_sales), so the events
/// without it (a catalogue still being set up) are not read, 32 queries
/// each.
async fn sold_events(app: &AppState) -> Result<Vec<Event>, StoreError> {
    let mut events = Vec::new();
    for status in [EventStatus::Published, EventStatus::Cancelled] {
        let query = EventQuery {
            status: Some(status),
            text: None,
            tag: None,
            from: None,
            to: None,
        };
        let mut start = None;
        loop {
            let page = app.store.list_events(&query, 100, start).await?;
            events.extend(page.items.into_iter().filter(|e| e.sales_started));
            match page.last_key {
                Some(key) => start = Some(key),
                None => break,
            }
        }
    }
    Ok(events)
}

/// One currency's totals as amounts; `null` amounts for several.
fn amounts<'a>(totals: impl Iterator<Item = (&'a String, Totals)>) -> Amounts {
    let totals: Vec<(&String, Totals)> = totals.collect();
    let mut sum = Totals::default();
    for (_, t) in &totals {
        sum.merge(t);
    }
    let single = totals.len() <= 1;
    let money = |cents: i64| single.then_some(cents);
    Amounts {
        currency: match totals.as_slice() {
            [(currency, _)] => Some((*currency).clone()),
            _ => None,
        },
        gross_cents: money(sum.gross_cents),
        fees_cents: money(sum.fees_cents),
        refunds_cents: money(sum.refunds_cents),
        net_cents: money(sum.net_cents),
        bookings: sum.bookings,
        seats: sum.seats,
    }
}
