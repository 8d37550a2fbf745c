//! tasks-api: the team's tasks under /v1/tasks (staff and above). Each
//! write is one transaction over the task, its per-person index items, its
//! audit entries and the claims of the mails it owes; the mails go out
//! after it commits (notices.rs).

mod notice_mail;
mod notices;
mod references;
mod tasks;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::get;
use shared::AppState;
use shared::config::{ConfigError, MailConfig};
use shared::mail::Mailer;
use utoipa::OpenApi;

/// tasks-api's state: the common state plus what mailing the assigned and
/// mentioned people needs.
#[derive(Clone)]
pub struct TasksState {
    pub app: AppState,
    pub mailer: Mailer,
    pub mail: Arc<MailConfig>,
}

impl FromRef<TasksState> for AppState {
    fn from_ref(state: &TasksState) -> Self {
        state.app.clone()
    }
}

impl TasksState {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let mail = MailConfig::from_env()?;
        let (app, aws) = AppState::from_env().await?;
        Ok(Self {
            mailer: Mailer::new(&aws, &mail.mail_from),
            mail: Arc::new(mail),
            app,
        })
    }
}

/// The function as Lambda serves it.
pub fn router(state: TasksState) -> Router {
    let app = state.app.clone();
    shared::http::finish(routes(state), &app)
}

/// The bare routes, for the dev server to merge with other functions'.
pub fn routes(state: TasksState) -> Router {
    Router::new()
        .route("/v1/tasks", get(tasks::list).post(tasks::create))
        .route(
            "/v1/tasks/{id}",
            get(tasks::show).patch(tasks::update).delete(tasks::remove),
        )
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    paths(tasks::create, tasks::list, tasks::show, tasks::update, tasks::remove),
    // Named only by a query parameter, which utoipa does not collect.
    components(schemas(shared::domain::task::View)),
    tags((name = "tasks", description = "The team's tasks, with mail to whoever is assigned or mentioned"))
)]
struct ApiDoc;

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
