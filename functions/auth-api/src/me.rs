use axum::extract::State;
use serde::Deserialize;
use shared::auth::Authenticated;
use shared::domain::{User, user};
use shared::http::Json;
use shared::{ApiError, AppState};

/// The signed-in user's profile.
#[utoipa::path(get, path = "/v1/me", operation_id = "getMe", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = shared::error::Problem)))]
pub async fn show(
    State(app): State<AppState>,
    caller: Authenticated,
) -> Result<Json<User>, ApiError> {
    app.store
        .user(&caller.user_id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("user"))
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
    State(app): State<AppState>,
    caller: Authenticated,
    Json(req): Json<UpdateMe>,
) -> Result<Json<User>, ApiError> {
    let Some(name) = req.name else {
        return show(State(app), caller).await;
    };
    let name = user::parse_name(&name).map_err(|msg| ApiError::invalid_field("name", msg))?;
    app.store
        .rename_user(&caller.user_id, &name)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("user"))
}
