use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::auth::{ACCESS_TOKEN_SECONDS, Authenticated};
use shared::domain::{User, secret_token};
use shared::http::Json;
use shared::store::RefreshError;
use shared::{ApiError, AppState};
use time::OffsetDateTime;

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: i64,
    user: User,
}

/// Starts a new token family for a freshly signed-in user.
pub async fn open_session(
    app: &AppState,
    user: User,
    now: OffsetDateTime,
) -> Result<TokenResponse, ApiError> {
    let refresh_token = secret_token::generate();
    app.store
        .start_session(&user.id, &secret_token::digest(&refresh_token), now)
        .await?;
    Ok(token_response(app, user, refresh_token, now))
}

fn token_response(
    app: &AppState,
    user: User,
    refresh_token: String,
    now: OffsetDateTime,
) -> TokenResponse {
    TokenResponse {
        access_token: app.tokens.issue(&user.id, user.role, now),
        refresh_token,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_SECONDS,
        user,
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RefreshRequest {
    refresh_token: String,
}

/// Rotates the refresh token and issues a new access token carrying the
/// user's current role. A token that was already used revokes its family.
#[utoipa::path(post, path = "/v1/auth/refresh", operation_id = "refreshSession", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = 400, body = shared::error::Problem),
              (status = 401, body = shared::error::Problem)))]
pub async fn refresh(
    State(app): State<AppState>,
    Json(req): Json<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    if !secret_token::looks_valid(&req.refresh_token) {
        return Err(refresh_error(RefreshError::Unknown));
    }
    let now = app.clock.now();
    let new_token = secret_token::generate();
    let grant = app
        .store
        .rotate_refresh_token(
            &secret_token::digest(&req.refresh_token),
            &secret_token::digest(&new_token),
            now,
        )
        .await?
        .map_err(refresh_error)?;
    let user = app
        .store
        .user(&grant.user_id)
        .await?
        .ok_or_else(|| refresh_error(RefreshError::Revoked))?;
    Ok(Json(token_response(&app, user, new_token, now)))
}

fn refresh_error(err: RefreshError) -> ApiError {
    let code = match err {
        RefreshError::Unknown => "REFRESH_TOKEN_INVALID",
        RefreshError::Expired => "REFRESH_TOKEN_EXPIRED",
        RefreshError::Reused => "REFRESH_TOKEN_REUSED",
        RefreshError::Revoked => "SESSION_REVOKED",
    };
    ApiError::unauthorized(code, err.to_string())
}

/// Ends the session: every refresh token of its family stops working.
#[utoipa::path(post, path = "/v1/auth/logout", operation_id = "logout", tag = "auth", request_body = RefreshRequest,
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = shared::error::Problem)))]
pub async fn logout(
    State(app): State<AppState>,
    caller: Authenticated,
    Json(req): Json<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    if secret_token::looks_valid(&req.refresh_token) {
        app.store
            .revoke_session(
                &secret_token::digest(&req.refresh_token),
                &caller.user_id,
                app.clock.now(),
            )
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
