use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use shared::auth::{Admin, Authenticated, RequireRole};
use shared::domain::audit::AuditEntry;
use shared::domain::event::{self, Event, EventError, EventPatch, NewEvent, Transition};
use shared::http::{Json, PathParam};
use shared::queue::RefundMessage;
use shared::store::{EventChange, EventSaved};
use shared::{ApiError, AppState};
use time::OffsetDateTime;

use crate::EventsState;

/// How often a change is decided afresh when the event keeps changing
/// under it before giving up with 409.
const ATTEMPTS: usize = 3;

/// Creates a draft event; open layouts get their inventory at once.
#[utoipa::path(post, path = "/v1/events", operation_id = "createEvent", tag = "events", request_body = NewEvent,
    security(("bearer" = [])),
    responses((status = 201, body = Event), (status = 400, description = "every invalid field is named", body = shared::error::Problem),
              (status = 401, body = shared::error::Problem), (status = 403, body = shared::error::Problem),
              (status = 413, body = shared::error::Problem),
              (status = 422, description = "AMOUNT_OUT_OF_RANGE: a booking Stripe could not charge", body = shared::error::Problem)))]
pub async fn create(
    State(app): State<AppState>,
    RequireRole { caller, .. }: RequireRole<Admin>,
    Json(body): Json<NewEvent>,
) -> Result<(StatusCode, Json<Event>), ApiError> {
    let settings = app.store.settings().await?;
    let now = app.clock.now();
    let event = body.into_event(event::new_id(), now, settings.max_per_booking)?;
    let audit = AuditEntry::new(
        now,
        &caller.user_id,
        "event.created",
        target(&event.id),
        json!({ "after": event::audit_view(&event) }),
    );
    app.store.create_event(&event, &audit).await?;
    Ok((StatusCode::CREATED, Json(event)))
}

/// Changes any subset of the create fields; the merged event is validated
/// as a whole. Layout and currency are frozen once anything was held.
#[utoipa::path(patch, path = "/v1/events/{id}", operation_id = "updateEvent", tag = "events", request_body = EventPatch,
    params(("id" = String, Path, description = "Event id")), security(("bearer" = [])),
    responses((status = 200, body = Event), (status = 400, description = "every invalid field is named", body = shared::error::Problem),
              (status = 401, body = shared::error::Problem), (status = 403, body = shared::error::Problem),
              (status = 404, body = shared::error::Problem),
              (status = 409, description = "LAYOUT_LOCKED, EVENT_CANCELLED or EVENT_CHANGED", body = shared::error::Problem),
              (status = 422, description = "AMOUNT_OUT_OF_RANGE: a booking Stripe could not charge", body = shared::error::Problem)))]
pub async fn update(
    State(state): State<EventsState>,
    RequireRole { caller, .. }: RequireRole<Admin>,
    PathParam(id): PathParam<String>,
    Json(patch): Json<EventPatch>,
) -> Result<Json<Event>, ApiError> {
    let (before, after) = change_event(&state.app, &caller, &id, "event.updated", |event, now| {
        event.patched(patch.clone(), now)
    })
    .await?;
    // An image_url of the admin's own (or none) replaced the uploaded one.
    if let Some(old) = before.image_key.as_deref()
        && after.image_key.as_deref() != Some(old)
    {
        state.images.discard(old).await;
    }
    Ok(Json(crate::images::shown(&state, after).await?))
}

/// Puts a draft or scheduled event on sale. Publishing a published event
/// changes nothing. A pending publish schedule is deleted.
#[utoipa::path(post, path = "/v1/events/{id}/publish", operation_id = "publishEvent", tag = "events",
    params(("id" = String, Path, description = "Event id")), security(("bearer" = [])),
    responses((status = 200, body = Event), (status = 401, body = shared::error::Problem),
              (status = 403, body = shared::error::Problem), (status = 404, body = shared::error::Problem),
              (status = 409, description = "EVENT_CANCELLED", body = shared::error::Problem)))]
pub async fn publish(
    State(state): State<EventsState>,
    RequireRole { caller, .. }: RequireRole<Admin>,
    PathParam(id): PathParam<String>,
) -> Result<Json<Event>, ApiError> {
    let (_, event) = change_event(&state.app, &caller, &id, "event.published", |event, now| {
        transition(event, event::publish(event.status)?, now)
    })
    .await?;
    drop_schedule(&state, &id).await;
    Ok(Json(crate::images::shown(&state, event).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// When the event goes on sale (RFC 3339; stored in UTC whole seconds).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    publish_at: OffsetDateTime,
}

/// Sets a draft or scheduled event to go on sale at `publish_at` (in the
/// future, before the event starts) and creates or moves its one-time
/// publish schedule.
#[utoipa::path(post, path = "/v1/events/{id}/schedule", operation_id = "scheduleEvent", tag = "events",
    params(("id" = String, Path, description = "Event id")), request_body = ScheduleRequest,
    security(("bearer" = [])),
    responses((status = 200, body = Event), (status = 400, body = shared::error::Problem),
              (status = 401, body = shared::error::Problem), (status = 403, body = shared::error::Problem),
              (status = 404, body = shared::error::Problem),
              (status = 422, description = "INVALID_SCHEDULE: publish_at not in the future or not before the start, or the event is neither draft nor scheduled", body = shared::error::Problem)))]
pub async fn schedule(
    State(state): State<EventsState>,
    RequireRole { caller, .. }: RequireRole<Admin>,
    PathParam(id): PathParam<String>,
    Json(req): Json<ScheduleRequest>,
) -> Result<Json<Event>, ApiError> {
    let (_, event) = change_event(&state.app, &caller, &id, "event.scheduled", |event, now| {
        event::scheduled(event, req.publish_at, now)
    })
    .await?;
    if let Some(publish_at) = event.publish_at {
        // The event is scheduled either way; without its schedule the
        // every-minute sweep publishes it, so a failure here is a warning.
        if let Err(err) = state.schedules.put(&event.id, publish_at).await {
            tracing::warn!(event_id = %event.id, error = %err, "publish schedule not set; the sweep will publish");
        }
    }
    Ok(Json(crate::images::shown(&state, event).await?))
}

/// Cancels an event for good and answers at once: its refund run starts in
/// the same transaction, and the refund worker gives every confirmed
/// booking its money back, a page at a time, however many there are.
/// Cancelling a cancelled event changes nothing but nudges the run again.
/// A pending publish schedule is deleted.
#[utoipa::path(post, path = "/v1/events/{id}/cancel", operation_id = "cancelEvent", tag = "events",
    params(("id" = String, Path, description = "Event id")), security(("bearer" = [])),
    responses((status = 200, body = Event), (status = 401, body = shared::error::Problem),
              (status = 403, body = shared::error::Problem), (status = 404, body = shared::error::Problem)))]
pub async fn cancel(
    State(state): State<EventsState>,
    RequireRole { caller, .. }: RequireRole<Admin>,
    PathParam(id): PathParam<String>,
) -> Result<Json<Event>, ApiError> {
    let (_, event) = change_event(&state.app, &caller, &id, "event.cancelled", |event, now| {
        transition(event, event::cancel(event.status)?, now)
    })
    .await?;
    drop_schedule(&state, &id).await;
    let run = RefundMessage::Event {
        event_id: event.id.clone(),
        recheck: false,
    };
    // The run is recorded with the cancellation: a lost message only
    // delays it until the sweep finds it.
    if let Err(err) = state.refunds.send(&run, 0).await {
        tracing::warn!(event_id = %event.id, error = %err, "refund run message not sent; the sweep will start it");
    }
    Ok(Json(crate::images::shown(&state, event).await?))
}

/// A schedule left behind does no harm (it publishes only an event still
/// scheduled for its time), so failing to delete it is a warning.
async fn drop_schedule(state: &EventsState, event_id: &str) {
    if let Err(err) = state.schedules.delete(event_id).await {
        tracing::warn!(event_id, error = %err, "publish schedule not deleted");
    }
}

fn transition(
    event: &Event,
    transition: Transition,
    now: OffsetDateTime,
) -> Result<Event, EventError> {
    Ok(match transition {
        Transition::To(status) => event.with_status(status, now),
        Transition::AlreadyThere => event.clone(),
    })
}

/// Reads the event, lets `decide` derive its next version and saves that
/// with an audit entry of what changed, conditioned on the version read. If
/// the event changed meanwhile, `decide` runs again on the fresh version; a
/// decision that changes nothing writes nothing. Answers the event as read
/// last and as saved.
pub(crate) async fn change_event(
    app: &AppState,
    caller: &Authenticated,
    id: &str,
    action: &'static str,
    decide: impl Fn(&Event, OffsetDateTime) -> Result<Event, EventError>,
) -> Result<(Event, Event), ApiError> {
    for _ in 0..ATTEMPTS {
        let before = app
            .store
            .event(id)
            .await?
            .ok_or_else(|| ApiError::not_found("event"))?;
        let now = app.clock.now();
        let after = decide(&before, now)?;
        let changes = event::changes(&before, &after);
        if changes.is_empty() {
            return Ok((before.clone(), before));
        }
        let audit = AuditEntry::new(
            now,
            &caller.user_id,
            action,
            target(id),
            json!({ "changes": Value::Object(changes) }),
        );
        let change = EventChange {
            before: &before,
            after: &after,
            audit,
        };
        match app.store.save_event(change).await? {
            EventSaved::Saved => return Ok((before, after)),
            EventSaved::LayoutLocked => return Err(EventError::LayoutLocked.into()),
            EventSaved::Stale => continue,
        }
    }
    Err(ApiError::conflict(
        "EVENT_CHANGED",
        "the event kept changing meanwhile; reload it and retry",
    ))
}

fn target(event_id: &str) -> String {
    format!("event:{event_id}")
}
