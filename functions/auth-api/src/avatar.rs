//! The signed-in user's avatar: a presigned upload first, then the commit
//! that checks it and shows it (shared::images).

use axum::extract::State;
use shared::ApiError;
use shared::auth::Authenticated;
use shared::domain::User;
use shared::domain::image::{ImageTarget, UploadRequest};
use shared::http::Json;
use shared::images::{self, CommitRequest, UploadTicket};

use crate::AuthState;

/// Answers a presigned upload for the caller's avatar, limited to the
/// declared type and size (at most 1 MiB).
#[utoipa::path(post, path = "/v1/me/avatar-upload", operation_id = "requestAvatarUpload", tag = "auth",
    security(("bearer" = [])), request_body = UploadRequest,
    responses((status = 200, body = UploadTicket), (status = 400, body = shared::error::Problem),
              (status = 401, body = shared::error::Problem),
              (status = 422, description = "VALIDATION_FAILED: content_type not png, jpeg or webp, or bytes out of range", body = shared::error::Problem)))]
pub async fn request_upload(
    State(state): State<AuthState>,
    caller: Authenticated,
    Json(req): Json<UploadRequest>,
) -> Result<Json<UploadTicket>, ApiError> {
    let now = state.app.clock.now();
    let ticket = images::hand_out(
        &state.app.store,
        &state.images,
        ImageTarget::Avatar,
        &caller.user_id,
        &req,
        now,
    )
    .await?;
    Ok(Json(ticket))
}

/// Commits an upload as the caller's avatar after the same checks as event
/// images; the avatar it replaces is deleted.
#[utoipa::path(post, path = "/v1/me/avatar", operation_id = "setAvatar", tag = "auth",
    security(("bearer" = [])), request_body = CommitRequest,
    responses((status = 200, body = User), (status = 400, body = shared::error::Problem),
              (status = 401, body = shared::error::Problem),
              (status = 404, description = "an upload_id unknown, expired or not the caller's avatar upload", body = shared::error::Problem),
              (status = 409, description = "UPLOAD_USED", body = shared::error::Problem),
              (status = 422, description = "IMAGE_INVALID: nothing uploaded yet, or the file is not the declared image", body = shared::error::Problem)))]
pub async fn set_avatar(
    State(state): State<AuthState>,
    caller: Authenticated,
    Json(req): Json<CommitRequest>,
) -> Result<Json<User>, ApiError> {
    let now = state.app.clock.now();
    let accepted = images::accept(
        &state.app.store,
        &state.images,
        &req.upload_id,
        &ImageTarget::Avatar,
        &caller.user_id,
        now,
    )
    .await?;
    let key = accepted.image_key;
    let before = match state.app.store.set_avatar(&caller.user_id, &key).await {
        Ok(Some(before)) => before,
        Ok(None) => {
            state.images.discard(&key).await;
            return Err(ApiError::not_found("user"));
        }
        Err(err) => {
            state.images.discard(&key).await;
            return Err(err.into());
        }
    };
    if let Some(old) = before.avatar_key.as_deref()
        && old != key
    {
        state.images.discard(old).await;
    }
    let user = User {
        avatar_key: Some(key),
        ..before
    };
    Ok(Json(shown(&state, user).await?))
}

/// The user as clients see them: the avatar as a link valid for a while
/// (or under the CDN), made for this answer.
pub(crate) async fn shown(state: &AuthState, mut user: User) -> Result<User, ApiError> {
    if let Some(key) = &user.avatar_key {
        user.avatar_url = Some(state.images.url(key, state.app.clock.now()).await?);
    }
    Ok(user)
}
