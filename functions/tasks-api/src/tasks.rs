use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared::auth::{Authenticated, RequireRole, Staff};
use shared::domain::Role;
use shared::domain::audit::AuditEntry;
use shared::domain::id::is_plausible_id;
use shared::domain::task::{
    self, NewTask, Priority, Task, TaskPatch, TaskStatus, View, can_delete, can_edit, can_see,
};
use shared::http::{Json, PathParam, Query, page_limit};
use shared::store::{TaskChange, TaskQuery};
use shared::{ApiError, AppState};

use crate::TasksState;
use crate::notices;
use crate::references::resolve;

/// Creates a task; whoever it assigns or mentions (by id or `@<email>` in
/// the title or description) is mailed once.
#[utoipa::path(post, path = "/v1/tasks", operation_id = "createTask", tag = "tasks", request_body = NewTask,
    security(("bearer" = [])),
    responses((status = 201, body = Task), (status = 400, body = shared::error::Problem),
              (status = 401, body = shared::error::Problem), (status = 403, body = shared::error::Problem),
              (status = 413, body = shared::error::Problem),
              (status = 422, description = "VALIDATION_FAILED: every invalid field is named (blank title, unknown assignee, mention or event, over 20 mentions)", body = shared::error::Problem)))]
pub async fn create(
    State(state): State<TasksState>,
    RequireRole { caller, .. }: RequireRole<Staff>,
    Json(body): Json<NewTask>,
) -> Result<(StatusCode, Json<Task>), ApiError> {
    let now = state.app.clock.now();
    let blank = Task::blank(task::new_id(), &caller.user_id, now);
    let patch = TaskPatch::from(body);
    let resolved = resolve(&state.app, patch.references(&blank)?).await?;
    let created = patch.apply(&blank, &resolved, now)?;
    let effects = task::effects(None, &created, &caller.user_id, now);
    state
        .app
        .store
        .create_task(&created, &effects.notices)
        .await?;
    notices::send(&state, &created, &effects.notices).await;
    Ok((StatusCode::CREATED, Json(created)))
}

/// The task, if the caller may see it.
#[utoipa::path(get, path = "/v1/tasks/{id}", operation_id = "getTask", tag = "tasks",
    params(("id" = String, Path, description = "Task id")), security(("bearer" = [])),
    responses((status = 200, body = Task), (status = 401, body = shared::error::Problem),
              (status = 403, body = shared::error::Problem),
              (status = 404, description = "unknown, or not visible to the caller", body = shared::error::Problem)))]
pub async fn show(
    State(app): State<AppState>,
    RequireRole { caller, .. }: RequireRole<Staff>,
    PathParam(id): PathParam<String>,
) -> Result<Json<Task>, ApiError> {
    visible(&app, &id, &caller).await.map(Json)
}

/// Changes any subset of the fields; the creator, the assignee and admins
/// may. A status change and a reassignment are audited; whoever is newly
/// assigned or mentioned is mailed once. A change that changes nothing
/// writes and mails nothing.
#[utoipa::path(patch, path = "/v1/tasks/{id}", operation_id = "updateTask", tag = "tasks", request_body = TaskPatch,
    params(("id" = String, Path, description = "Task id")), security(("bearer" = [])),
    responses((status = 200, body = Task), (status = 400, body = shared::error::Problem),
              (status = 401, body = shared::error::Problem),
              (status = 403, description = "neither its creator, its assignee nor an admin", body = shared::error::Problem),
              (status = 404, description = "unknown, or not visible to the caller", body = shared::error::Problem),
              (status = 409, description = "TASK_CHANGED: changed by someone else since it was read; nothing was written", body = shared::error::Problem),
              (status = 413, body = shared::error::Problem),
              (status = 422, description = "VALIDATION_FAILED: every invalid field is named", body = shared::error::Problem)))]
pub async fn update(
    State(state): State<TasksState>,
    RequireRole { caller, .. }: RequireRole<Staff>,
    PathParam(id): PathParam<String>,
    Json(patch): Json<TaskPatch>,
) -> Result<Json<Task>, ApiError> {
    let before = visible(&state.app, &id, &caller).await?;
    if !can_edit(&before, &caller.user_id, caller.role) {
        return Err(ApiError::forbidden(
            "NOT_YOUR_TASK",
            "only its creator, its assignee and admins change a task",
        ));
    }
    let now = state.app.clock.now();
    let resolved = resolve(&state.app, patch.references(&before)?).await?;
    let after = patch.apply(&before, &resolved, now)?;
    if after.version == before.version {
        return Ok(Json(before));
    }
    let effects = task::effects(Some(&before), &after, &caller.user_id, now);
    let change = TaskChange {
        before: &before,
        after: &after,
        audit: &effects.audit,
        notices: &effects.notices,
    };
    if !state.app.store.save_task(change).await? {
        return Err(task_changed());
    }
    notices::send(&state, &after, &effects.notices).await;
    Ok(Json(after))
}

/// Deletes a task; its creator and admins may.
#[utoipa::path(delete, path = "/v1/tasks/{id}", operation_id = "deleteTask", tag = "tasks",
    params(("id" = String, Path, description = "Task id")), security(("bearer" = [])),
    responses((status = 204, description = "deleted"), (status = 401, body = shared::error::Problem),
              (status = 403, description = "neither its creator nor an admin", body = shared::error::Problem),
              (status = 404, description = "unknown, or not visible to the caller", body = shared::error::Problem),
              (status = 409, description = "TASK_CHANGED: changed since it was read; not deleted", body = shared::error::Problem)))]
pub async fn remove(
    State(app): State<AppState>,
    RequireRole { caller, .. }: RequireRole<Staff>,
    PathParam(id): PathParam<String>,
) -> Result<StatusCode, ApiError> {
    let task = visible(&app, &id, &caller).await?;
    if !can_delete(&task, &caller.user_id, caller.role) {
        return Err(ApiError::forbidden(
            "NOT_YOUR_TASK",
            "only its creator and admins delete a task",
        ));
    }
    let audit = AuditEntry::new(
        app.clock.now(),
        &caller.user_id,
        "task.deleted",
        format!("task:{}", task.id),
        json!({ "before": task }),
    );
    if !app.store.delete_task(&task, &audit).await? {
        return Err(task_changed());
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListTasks {
    /// `all` (default: every task the caller may see), `assigned`, `mentioned` or `created`.
    view: Option<View>,
    status: Option<TaskStatus>,
    priority: Option<Priority>,
    event_id: Option<String>,
    /// 1..=100, default 20.
    limit: Option<u32>,
    /// `next_cursor` of the previous page of the same query.
    cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TaskList {
    items: Vec<Task>,
    next_cursor: Option<String>,
}

/// The tasks the caller may see, newest first: staff those they created,
/// are assigned or mentioned in; admins every task.
#[utoipa::path(get, path = "/v1/tasks", operation_id = "listTasks", tag = "tasks", params(ListTasks),
    security(("bearer" = [])),
    responses((status = 200, body = TaskList), (status = 400, body = shared::error::Problem),
              (status = 401, body = shared::error::Problem), (status = 403, body = shared::error::Problem)))]
pub async fn list(
    State(app): State<AppState>,
    RequireRole { caller, .. }: RequireRole<Staff>,
    Query(params): Query<ListTasks>,
) -> Result<Json<TaskList>, ApiError> {
    let limit = page_limit(params.limit)?;
    let view = params.view.unwrap_or_default();
    let query = TaskQuery {
        user_id: &caller.user_id,
        everyone: view == View::All && caller.role.includes(Role::Admin),
        view,
        status: params.status,
        priority: params.priority,
        event_id: params.event_id.as_deref(),
    };
    // A cursor is a position in one exact query of one caller's listing.
    let listing = format!(
        "tasks\0{}\0{}\0{}\0{}\0{}\0{}",
        if query.everyone { "" } else { query.user_id },
        view.as_str(),
        query.status.map_or("", TaskStatus::as_str),
        query.priority.map_or("", Priority::as_str),
        query.event_id.unwrap_or_default(),
        query.everyone,
    );
    let start = params
        .cursor
        .as_deref()
        .map(|c| app.cursors.open(&listing, c))
        .transpose()?;
    let page = app.store.list_tasks(&query, limit, start).await?;
    Ok(Json(TaskList {
        items: page.items,
        next_cursor: page.last_key.map(|k| app.cursors.seal(&listing, &k)),
    }))
}

/// The task if the caller may see it; 404 alike for unknown and hidden
/// ones, so ids of others' tasks reveal nothing.
async fn visible(app: &AppState, id: &str, caller: &Authenticated) -> Result<Task, ApiError> {
    let task = if is_plausible_id(id) {
        app.store.task(id).await?
    } else {
        None
    };
    task.filter(|task| can_see(task, &caller.user_id, caller.role))
        .ok_or_else(|| ApiError::not_found("task"))
}

fn task_changed() -> ApiError {
    ApiError::conflict(
        "TASK_CHANGED",
        "the task was changed by someone else since it was read; read it again and retry",
    )
}
