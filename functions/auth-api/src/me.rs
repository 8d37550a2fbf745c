use axum::extract::State;
use serde::Deserialize;
use shared::ApiError;
use shared::auth::Authenticated;
use shared::domain::{User, user};
use shared::http::Json;

use crate::AuthState;

/// The signed-in user's profile.
#[utoipa::path(get, path = "/v1/me", operation_id = "getMe", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = shared::error::Problem)))]
pub async fn show(
    State(state): State<AuthState>,
    caller: Authenticated,
) -> Result<Json<User>, ApiError> {
    let user = state
        .app
        .store
        .user(&caller.user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    Ok(Json(crate::avatar::shown(&state, user).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    /// 1..=100 characters.
    name: Option<String>,
}

/// Updates the signed-in user's own profile (only the name: role and email
/// are not the user's to change here).
#[utoipa::path(patch, path = "/v1/me", operation_id = "updateMe", tag = "auth", security(("bearer" = [])), request_body = UpdateMe,
    responses((status = 200, body = User), (status = 400, body = shared::error::Problem),
              (status = 401, body = shared::error::Problem)))]
pub async fn update(
    State(state): State<AuthState>,
    caller: Authenticated,
    Json(req): Json<UpdateMe>,
) -> Result<Json<User>, ApiError> {
    let Some(name) = req.name else {
        return show(State(state), caller).await;
    };
    let name = user::parse_name(&name).map_err(|msg| ApiError::invalid_field("name", msg))?;
    let user = state
        .app
        .store
        .rename_user(&caller.user_id, &name)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    Ok(Json(crate::avatar::shown(&state, user).await?))
}
