use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared::auth::{Admin, RequireRole};
use shared::domain::audit::AuditEntry;
use shared::domain::role::{RoleChangeError, check_role_change};
use shared::domain::{Role, User};
use shared::http::{Json, PathParam, Query, page_limit};
use shared::store::{RoleChange, StoreError};
use shared::{ApiError, AppState};

/// Cursors of this listing are bound to it.
const LISTING: &str = "admin-users";

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListUsers {
    /// Case-insensitive match on email or name.
    q: Option<String>,
    /// 1..=100, default 20.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserList {
    items: Vec<User>,
    next_cursor: Option<String>,
}

/// Lists users, oldest first.
#[utoipa::path(get, path = "/v1/admin/users", operation_id = "listUsers", tag = "admin", params(ListUsers), security(("bearer" = [])),
    responses((status = 200, body = UserList), (status = 400, body = shared::error::Problem),
              (status = 401, body = shared::error::Problem), (status = 403, body = shared::error::Problem)))]
pub async fn list(
    State(app): State<AppState>,
    _admin: RequireRole<Admin>,
    Query(params): Query<ListUsers>,
) -> Result<Json<UserList>, ApiError> {
    let limit = page_limit(params.limit)?;
    let q = params.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.chars().count() > 100) {
        return Err(ApiError::invalid_field(
            "q",
            "must be at most 100 characters",
        ));
    }
    let start = params
        .cursor
        .as_deref()
        .map(|c| app.cursors.open(LISTING, c))
        .transpose()?;
    let page = app.store.list_users(q, limit, start).await?;
    Ok(Json(UserList {
        items: page.items,
        next_cursor: page.last_key.map(|k| app.cursors.seal(LISTING, &k)),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRole {
    role: Role,
}

/// Sets a user's role: admins up to admin, developers any role, nobody their
/// own. Takes effect in the user's next access token (at refresh).
#[utoipa::path(put, path = "/v1/admin/users/{id}/role", operation_id = "setUserRole", tag = "admin", request_body = SetRole,
    params(("id" = String, Path, description = "User id")), security(("bearer" = [])),
    responses((status = 200, body = User), (status = 400, body = shared::error::Problem),
              (status = 403, body = shared::error::Problem), (status = 404, body = shared::error::Problem),
              (status = 409, body = shared::error::Problem)))]
pub async fn set_role(
    State(app): State<AppState>,
    RequireRole { caller, .. }: RequireRole<Admin>,
    PathParam(user_id): PathParam<String>,
    Json(req): Json<SetRole>,
) -> Result<Json<User>, ApiError> {
    let mut target = app
        .store
        .user(&user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    check_role_change(
        &caller.user_id,
        caller.role,
        &target.id,
        target.role,
        req.role,
    )
    .map_err(role_change_error)?;
    if target.role == req.role {
        return Ok(Json(target));
    }
    let audit = AuditEntry::new(
        app.clock.now(),
        &caller.user_id,
        "user.role_changed",
        format!("user:{}", target.id),
        json!({ "before": { "role": target.role }, "after": { "role": req.role } }),
    );
    let change = RoleChange {
        user_id: &target.id,
        from: target.role,
        to: req.role,
        audit,
    };
    match app.store.change_role(change).await {
        Ok(()) => {
            target.role = req.role;
            Ok(Json(target))
        }
        Err(StoreError::ConditionFailed { .. }) => Err(ApiError::conflict(
            "ROLE_CHANGED_CONCURRENTLY",
            "the user's role changed meanwhile; reload and retry",
        )),
        Err(err) => Err(err.into()),
    }
}

fn role_change_error(err: RoleChangeError) -> ApiError {
    let code = match err {
        RoleChangeError::OwnRole => "CANNOT_CHANGE_OWN_ROLE",
        RoleChangeError::NotAllowed
        | RoleChangeError::AboveCeiling { .. }
        | RoleChangeError::TargetAboveCeiling { .. } => "ROLE_NOT_GRANTABLE",
    };
    ApiError::forbidden(code, err.to_string())
}
