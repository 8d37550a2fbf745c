use axum::extract::State;
use serde::{Deserialize, Serialize};
use shared::auth::{Admin, RequireRole};
use shared::domain::audit::{AuditFilter, AuditRecord, RETENTION_DAYS};
use shared::http::{Json, Query, page_limit, time_param};
use shared::{ApiError, AppState};
use time::Duration;

/// The longest filter value accepted (ids and action names are far shorter).
const FILTER_MAX_CHARS: usize = 200;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListAuditLogs {
    /// Entries of this action only (`event.published`, `settings.updated`, …).
    action: Option<String>,
    /// Entries by this user (or `scheduler`) only.
    actor_id: Option<String>,
    /// Entries about this target only (`event:<id>`, `booking:<id>`, `user:<id>`, `settings`).
    target: Option<String>,
    /// RFC 3339, to the second; default: as far back as entries are kept (400 days).
    from: Option<String>,
    /// RFC 3339, to the second, included; default: now.
    to: Option<String>,
    /// 1..=100, default 20.
    limit: Option<u32>,
    /// `next_cursor` of the previous page of the same query.
    cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditLogPage {
    items: Vec<AuditRecord>,
    next_cursor: Option<String>,
}

/// The audit log, newest first: every administrative change, who made it
/// and what it changed. Read by day, never by a Scan.
#[utoipa::path(get, path = "/v1/admin/audit-logs", operation_id = "listAuditLogs", tag = "admin", params(ListAuditLogs),
    security(("bearer" = [])),
    responses((status = 200, body = AuditLogPage), (status = 400, body = shared::error::Problem),
              (status = 401, body = shared::error::Problem), (status = 403, body = shared::error::Problem)))]
pub async fn list(
    State(app): State<AppState>,
    _admin: RequireRole<Admin>,
    Query(params): Query<ListAuditLogs>,
) -> Result<Json<AuditLogPage>, ApiError> {
    let limit = page_limit(params.limit)?;
    let now = app.clock.now();
    let filter = AuditFilter {
        action: filter_param("action", params.action)?,
        actor_id: filter_param("actor_id", params.actor_id)?,
        target: filter_param("target", params.target)?,
    };
    let from =
        time_param("from", params.from.as_deref())?.unwrap_or(now - Duration::days(RETENTION_DAYS));
    let to = time_param("to", params.to.as_deref())?.unwrap_or(now);
    if from > to {
        return Err(ApiError::invalid_field("from", "must not be after `to`"));
    }
    // A cursor is a position in one exact query (same filters and bounds).
    let listing = serde_json::json!([
        "audit-logs",
        filter.action,
        filter.actor_id,
        filter.target,
        params.from,
        params.to
    ])
    .to_string();
    let start = params
        .cursor
        .as_deref()
        .map(|c| app.cursors.open(&listing, c))
        .transpose()?;
    let page = app.store.audit_log(&filter, from, to, limit, start).await?;
    Ok(Json(AuditLogPage {
        items: page.items,
        next_cursor: page.last_key.map(|k| app.cursors.seal(&listing, &k)),
    }))
}

fn filter_param(field: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    if value
        .as_ref()
        .is_some_and(|v| v.chars().count() > FILTER_MAX_CHARS)
    {
        return Err(ApiError::invalid_field(
            field,
            format!("must be at most {FILTER_MAX_CHARS} characters"),
        ));
    }
    Ok(value)
}
