//! auth-api: magic-link sign-in, token refresh and logout, the caller's own
//! profile and avatar, health probes and the OpenAPI document.

mod avatar;
mod health;
mod magic_link_mail;
mod me;
mod session;
mod sign_in;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{get, post};
use shared::AppState;
use shared::config::{ConfigError, ImagesConfig, SignInConfig};
use shared::images::Images;
use shared::mail::Mailer;
use utoipa::OpenApi;

/// auth-api's state: the common state plus what sign-in needs and the
/// images bucket (avatars).
#[derive(Clone)]
pub struct AuthState {
    pub app: AppState,
    pub sign_in: Arc<SignInConfig>,
    pub mailer: Mailer,
    pub images: Images,
}

impl FromRef<AuthState> for AppState {
    fn from_ref(state: &AuthState) -> Self {
        state.app.clone()
    }
}

impl AuthState {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let sign_in = SignInConfig::from_env()?;
        let images = ImagesConfig::from_env()?;
        let (app, aws) = AppState::from_env().await?;
        let mailer = Mailer::new(&aws, &sign_in.mail_from);
        Ok(Self {
            app,
            sign_in: Arc::new(sign_in),
            mailer,
            images: Images::new(&aws, images),
        })
    }
}

/// The function as Lambda serves it.
pub fn router(state: AuthState) -> Router {
    let app = state.app.clone();
    shared::http::finish(routes(state), &app)
}

/// The bare routes, for the dev server to merge with other functions'.
pub fn routes(state: AuthState) -> Router {
    Router::new()
        .route("/v1/auth/magic-link", post(sign_in::request_magic_link))
        .route(
            "/v1/auth/magic-link/verify",
            post(sign_in::verify_magic_link),
        )
        .route("/v1/auth/refresh", post(session::refresh))
        .route("/v1/auth/logout", post(session::logout))
        .route("/v1/me", get(me::show).patch(me::update))
        .route("/v1/me/avatar-upload", post(avatar::request_upload))
        .route("/v1/me/avatar", post(avatar::set_avatar))
        .route("/v1/health/live", get(health::live))
        .route("/v1/health/ready", get(health::ready))
        .route("/v1/openapi.json", get(health::openapi_document))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    paths(
        sign_in::request_magic_link,
        sign_in::verify_magic_link,
        session::refresh,
        session::logout,
        me::show,
        me::update,
        avatar::request_upload,
        avatar::set_avatar,
        health::live,
        health::ready,
        health::openapi_document,
    ),
    tags((name = "auth", description = "Magic-link sign-in and sessions"), (name = "health"))
)]
struct ApiDoc;

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
