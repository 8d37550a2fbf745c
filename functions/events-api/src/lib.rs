//! events-api: browsing events (anyone) and managing them (admins) under
//! /v1/events. Every change is one transaction with its audit entry;
//! scheduling also keeps the event's one-time publish schedule in step.
//! An event image is uploaded to S3 with a presigned PUT and shown once
//! the commit has checked it (images.rs).

mod browse;
mod images;
mod manage;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::{get, post};
use shared::AppState;
use shared::config::{ImagesConfig, ScheduleConfig};
use shared::images::Images;
use shared::queue::RefundQueue;
use shared::schedules::PublishSchedules;
use utoipa::OpenApi;

/// events-api's state: the common state plus the publish schedules and
/// the refund queue (cancelling an event starts its refund run) and the
/// images bucket (event images).
#[derive(Clone)]
pub struct EventsState {
    pub app: AppState,
    pub schedules: PublishSchedules,
    pub refunds: RefundQueue,
    pub images: Images,
}

impl FromRef<EventsState> for AppState {
    fn from_ref(state: &EventsState) -> Self {
        state.app.clone()
    }
}

impl EventsState {
    pub async fn from_env() -> Result<Self, lambda_http::Error> {
        let schedules = ScheduleConfig::from_env()?;
        let images = ImagesConfig::from_env()?;
        let (app, aws) = AppState::from_env().await?;
        Ok(Self {
            schedules: PublishSchedules::new(&aws, schedules),
            refunds: RefundQueue::from_env(&aws)?,
            images: Images::new(&aws, images),
            app,
        })
    }
}

/// Event bodies may carry a grid of up to 2000 units, more than the
/// platform's default body limit; the domain bounds the layout itself.
const EVENT_BODY_MAX_BYTES: usize = 512 * 1024;

/// The function as Lambda serves it.
pub fn router(state: EventsState) -> Router {
    let app = state.app.clone();
    shared::http::finish(routes(state), &app)
}

/// The bare routes, for the dev server to merge with other functions'.
pub fn routes(state: EventsState) -> Router {
    let event_body = || DefaultBodyLimit::max(EVENT_BODY_MAX_BYTES);
    Router::new()
        .route(
            "/v1/events",
            get(browse::list).post(manage::create).layer(event_body()),
        )
        .route(
            "/v1/events/{id}",
            get(browse::show).patch(manage::update).layer(event_body()),
        )
        .route("/v1/events/{id}/availability", get(browse::availability))
        .route("/v1/events/{id}/publish", post(manage::publish))
        .route("/v1/events/{id}/schedule", post(manage::schedule))
        .route("/v1/events/{id}/cancel", post(manage::cancel))
        .route("/v1/events/{id}/image-upload", post(images::request_upload))
        .route("/v1/events/{id}/image", post(images::set_image))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    paths(
        browse::list,
        browse::show,
        browse::availability,
        manage::create,
        manage::update,
        manage::publish,
        manage::schedule,
        manage::cancel,
        images::request_upload,
        images::set_image
    ),
    tags((name = "events", description = "Browsing and managing events"))
)]
struct ApiDoc;

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
