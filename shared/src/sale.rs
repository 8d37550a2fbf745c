//! Selling units or places: the one path shared by online holds
//! (bookings-api) and cash sales at the door (admin-api), so both go through
//! the same plan, the same conditional transaction and the same error mapping.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::json;

use crate::domain::audit::AuditEntry;
use crate::domain::booking::{Booking, TierRequest};
use crate::domain::event::Event;
use crate::domain::hold::{self, Holder, PlanError, Request, Sale};
use crate::domain::rate_limit::Hit;
use crate::error::{ApiError, FieldError};
use crate::state::AppState;
use crate::store::{Extra, HoldOutcome};
use crate::{limits, recent_reads};

pub struct Order {
    pub event_id: String,
    pub request: Request,
    /// Online sales are held; walk-ins are sold at once (`Sale::WalkIn`).
    pub walk_in: Option<Holder>,
    /// Who buys online, or who sells at the door.
    pub user_id: String,
}

/// Body shape shared by holds and walk-ins: exactly one of the three.
pub fn request(
    units: Option<Vec<String>>,
    quantity: Option<u32>,
    items: Option<Vec<TierRequest>>,
) -> Result<Request, ApiError> {
    match (units, quantity, items) {
        (Some(units), None, None) => Ok(Request::Units(units)),
        (None, Some(quantity), None) => Ok(Request::Quantity(quantity)),
        (None, None, Some(items)) => Ok(Request::Items(items)),
        _ => Err(ApiError::invalid_field(
            "units",
            "send one of `units` (grid events), `quantity` (open events) \
             or `items` (open events with tiers)",
        )),
    }
}

/// Sells the order. `hit`, an online hold's rate-limit hit, is counted by
/// the hold's transaction, or alone when the hold is refused otherwise.
pub async fn sell(
    app: &AppState,
    order: Order,
    hit: Option<&Hit<'_>>,
) -> Result<Booking, ApiError> {
    let sold = take(app, order, hit).await;
    if let (Err(err), Some(hit)) = (&sold, hit)
        && err.status != StatusCode::TOO_MANY_REQUESTS
    {
        limits::count_apart(app, hit).await;
    }
    sold
}

async fn take(app: &AppState, order: Order, hit: Option<&Hit<'_>>) -> Result<Booking, ApiError> {
    let now = app.clock.now();
    let event = recent_reads::event(app, &order.event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    let sale = match order.walk_in {
        Some(_) => Sale::WalkIn,
        None => Sale::OnlineHold {
            hold_minutes: recent_reads::settings(app).await?.hold_minutes,
        },
    };
    let plan = hold::plan(&event, &order.request, sale, now)?;
    let booking = plan.booking(&event.id, &order.user_id, order.walk_in, now);
    let audit = (booking.holder_name.is_some()).then(|| {
        AuditEntry::new(
            now,
            &order.user_id,
            "booking.walk_in",
            format!("booking:{}", booking.id),
            json!({ "event_id": event.id, "units": booking.units, "quantity": booking.quantity,
                    "amount_cents": booking.amount_cents, "holder_name": booking.holder_name }),
        )
    });
    match app
        .store
        .take(
            &event,
            &plan,
            booking,
            Extra {
                audit: audit.as_ref(),
                hit,
            },
            now,
        )
        .await?
    {
        HoldOutcome::Taken {
            booking,
            consumed_capacity,
            attempts,
        } => {
            tracing::info!(booking_id = %booking.id, event_id = %event.id, quantity = booking.quantity,
                consumed_capacity, attempts, "hold created");
            if !event.sales_started {
                // This hold froze the event as read: the process's next
                // holds reuse it instead of reading and freezing again.
                let frozen = Event {
                    sales_started: true,
                    ..Event::clone(&event)
                };
                app.recent_events.put(&event.id, Arc::new(frozen));
            }
            Ok(*booking)
        }
        HoldOutcome::UnitsTaken(taken) => Err(units_unavailable(&order.request, &taken)),
        HoldOutcome::SoldOut(tier) => Err(sold_out(&order.request, tier.as_deref())),
        HoldOutcome::RateLimited => Err(match hit {
            Some(hit) => limits::refused(app, hit),
            None => ApiError::internal("a sale without a rate limit was rate limited"),
        }),
        HoldOutcome::EventChanged => Err(ApiError::conflict(
            "EVENT_CHANGED",
            "the event changed or stopped selling meanwhile; reload it and retry",
        )),
    }
}

fn units_unavailable(request: &Request, taken: &[String]) -> ApiError {
    let errors = match request {
        Request::Units(ids) => ids
            .iter()
            .enumerate()
            .filter(|(_, id)| taken.contains(id))
            .map(|(i, _)| FieldError {
                field: format!("units[{i}]"),
                message: "taken".into(),
            })
            .collect(),
        Request::Quantity(_) | Request::Items(_) => Vec::new(),
    };
    ApiError::conflict(
        "UNITS_UNAVAILABLE",
        format!(
            "{} of the requested units are taken: {}",
            taken.len(),
            taken.join(", ")
        ),
    )
    .with_errors(errors)
}

/// Sold out, naming the short tier (and its item) on a tiered event.
fn sold_out(request: &Request, tier: Option<&str>) -> ApiError {
    let answer = ApiError::conflict("SOLD_OUT", "not enough places left");
    let (Request::Items(items), Some(tier)) = (request, tier) else {
        return answer;
    };
    let errors = items
        .iter()
        .enumerate()
        .filter(|(_, item)| item.tier == tier)
        .map(|(i, _)| FieldError {
            field: format!("items[{i}].tier"),
            message: format!("not enough places left of tier {tier}"),
        })
        .collect();
    ApiError::conflict("SOLD_OUT", format!("not enough places left of tier {tier}"))
        .with_errors(errors)
}

impl From<PlanError> for ApiError {
    fn from(err: PlanError) -> Self {
        let code = match err {
            PlanError::NotOnSale(_) => "NOT_ON_SALE",
            PlanError::OverMax { .. } => "OVER_MAX_PER_BOOKING",
            PlanError::Empty => "EMPTY_BOOKING",
            PlanError::UnknownUnits(_) => "UNKNOWN_UNITS",
            PlanError::DuplicateUnits(_) => "DUPLICATE_UNITS",
            PlanError::WrongMode(_) => "WRONG_LAYOUT_MODE",
            PlanError::UnknownTiers(_) => "UNKNOWN_TIERS",
            PlanError::DuplicateTiers(_) => "DUPLICATE_TIERS",
        };
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, err.to_string())
    }
}
