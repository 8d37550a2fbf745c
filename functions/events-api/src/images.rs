//! An event's image, uploaded by an admin: a presigned upload first, then
//! the commit that checks it and shows it (shared::images).

use axum::extract::State;
use shared::ApiError;
use shared::auth::{Admin, RequireRole};
use shared::domain::event::Event;
use shared::domain::image::{ImageTarget, UploadRequest};
use shared::http::{Json, PathParam};
use shared::images::{self, CommitRequest, UploadTicket};

use crate::EventsState;
use crate::manage::change_event;

/// Answers a presigned upload for the event's image, limited to the
/// declared type and size (at most 5 MiB). The image changes only when the
/// upload is committed.
#[utoipa::path(post, path = "/v1/events/{id}/image-upload", operation_id = "requestEventImageUpload", tag = "events",
    params(("id" = String, Path, description = "Event id")), request_body = UploadRequest,
    security(("bearer" = [])),
    responses((status = 200, body = UploadTicket), (status = 400, body = shared::error::Problem),
              (status = 401, body = shared::error::Problem), (status = 403, body = shared::error::Problem),
              (status = 404, body = shared::error::Problem),
              (status = 422, description = "VALIDATION_FAILED: content_type not png, jpeg or webp, or bytes out of range", body = shared::error::Problem)))]
pub async fn request_upload(
    State(state): State<EventsState>,
    RequireRole { caller, .. }: RequireRole<Admin>,
    PathParam(id): PathParam<String>,
    Json(req): Json<UploadRequest>,
) -> Result<Json<UploadTicket>, ApiError> {
    let event = state
        .app
        .store
        .event(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    let target = ImageTarget::Event(event.id);
    let now = state.app.clock.now();
    let ticket = images::hand_out(
        &state.app.store,
        &state.images,
        target,
        &caller.user_id,
        &req,
        now,
    )
    .await?;
    Ok(Json(ticket))
}

/// Commits an upload as the event's image once the stored file is checked
/// (size within the limit, magic bytes of the declared type, decodes);
/// otherwise it is deleted and the answer is 422 `IMAGE_INVALID`. The
/// change is audited; the image it replaces is deleted.
#[utoipa::path(post, path = "/v1/events/{id}/image", operation_id = "setEventImage", tag = "events",
    params(("id" = String, Path, description = "Event id")), request_body = CommitRequest,
    security(("bearer" = [])),
    responses((status = 200, body = Event), (status = 400, body = shared::error::Problem),
              (status = 401, body = shared::error::Problem), (status = 403, body = shared::error::Problem),
              (status = 404, description = "unknown event, or an upload_id unknown, expired or not the caller's for this event", body = shared::error::Problem),
              (status = 409, description = "UPLOAD_USED, EVENT_CANCELLED or EVENT_CHANGED", body = shared::error::Problem),
              (status = 422, description = "IMAGE_INVALID: nothing uploaded yet, or the file is not the declared image", body = shared::error::Problem)))]
pub async fn set_image(
    State(state): State<EventsState>,
    RequireRole { caller, .. }: RequireRole<Admin>,
    PathParam(id): PathParam<String>,
    Json(req): Json<CommitRequest>,
) -> Result<Json<Event>, ApiError> {
    let target = ImageTarget::Event(id.clone());
    let now = state.app.clock.now();
    let accepted = images::accept(
        &state.app.store,
        &state.images,
        &req.upload_id,
        &target,
        &caller.user_id,
        now,
    )
    .await?;
    let key = accepted.image_key;
    let saved = change_event(&state.app, &caller, &id, "event.image_set", |event, now| {
        event.with_image(&key, now)
    })
    .await;
    let (before, after) = match saved {
        Ok(saved) => saved,
        Err(err) => {
            state.images.discard(&key).await;
            return Err(err);
        }
    };
    if let Some(old) = before.image_key.as_deref()
        && old != key
    {
        state.images.discard(old).await;
    }
    Ok(Json(shown(&state, after).await?))
}

/// The event as clients see it: an uploaded image as a link valid for a
/// while (or under the CDN), made for this answer.
pub(crate) async fn shown(state: &EventsState, mut event: Event) -> Result<Event, ApiError> {
    if let Some(key) = &event.image_key {
        event.image_url = Some(state.images.url(key, state.app.clock.now()).await?);
    }
    Ok(event)
}
