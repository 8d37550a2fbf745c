use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::domain::rate_limit::{self, Limit};
use shared::domain::{Email, User, secret_token};
use shared::http::{ClientIp, Json};
use shared::metrics::{self, MAGIC_LINKS_SENT};
use shared::store::{MagicLinkError, NewUser};
use shared::{ApiError, AppState, limits};
use time::{Duration, OffsetDateTime};

use crate::AuthState;
use crate::magic_link_mail::magic_link_mail;
use crate::session::{TokenResponse, open_session};

/// Rate-limit window for magic-link requests.
const WINDOW_SECS: i64 = 15 * 60;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct MagicLinkRequest {
    email: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MagicLinkSent {
    status: &'static str,
}

/// Emails a single-use sign-in link. Answers the same for every address, so
/// it does not reveal who has an account.
#[utoipa::path(post, path = "/v1/auth/magic-link", operation_id = "requestMagicLink", tag = "auth", request_body = MagicLinkRequest,
    responses((status = 202, body = MagicLinkSent), (status = 400, body = shared::error::Problem),
              (status = 429, body = shared::error::Problem),
              (status = 503, description = "the mail could not be sent (MAIL_UNAVAILABLE); retry after `retry-after`", body = shared::error::Problem)))]
pub async fn request_magic_link(
    State(state): State<AuthState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<MagicLinkRequest>,
) -> Result<(StatusCode, Json<MagicLinkSent>), ApiError> {
    let email = Email::parse(&req.email).map_err(|msg| ApiError::invalid_field("email", msg))?;
    let (app, cfg) = (&state.app, &state.sign_in);
    let ip = rate_limit::ip_subject(&ip);
    let per = |scope, subject, per_window| Limit {
        scope,
        subject,
        per_window,
        window_secs: WINDOW_SECS,
    };
    limits::enforce(
        app,
        &[
            per("magic-link-ip", &ip, cfg.magic_link_limit_per_ip),
            per(
                "magic-link-email",
                email.as_str(),
                cfg.magic_link_limit_per_email,
            ),
        ],
    )
    .await?;

    let now = app.clock.now();
    let settings = app.store.settings().await?;
    let token = secret_token::generate();
    let expires_at = now + Duration::minutes(settings.magic_link_minutes.into());
    app.store
        .put_magic_link(&secret_token::digest(&token), email.as_str(), expires_at)
        .await?;
    let mail = magic_link_mail(
        &settings.brand_name,
        &cfg.frontend_url,
        &token,
        email.as_str(),
        settings.magic_link_minutes,
    );
    state.mailer.send(mail).await?;
    metrics::count(MAGIC_LINKS_SENT);
    Ok((StatusCode::ACCEPTED, Json(MagicLinkSent { status: "sent" })))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct VerifyRequest {
    token: String,
}

/// Exchanges a magic-link token (once) for a session; the first sign-in
/// creates the account.
#[utoipa::path(post, path = "/v1/auth/magic-link/verify", operation_id = "verifyMagicLink", tag = "auth", request_body = VerifyRequest,
    responses((status = 200, body = TokenResponse), (status = 400, body = shared::error::Problem),
              (status = 401, body = shared::error::Problem)))]
pub async fn verify_magic_link(
    State(state): State<AuthState>,
    Json(req): Json<VerifyRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let app = &state.app;
    if !secret_token::looks_valid(&req.token) {
        return Err(link_error(MagicLinkError::Unknown));
    }
    let now = app.clock.now();
    let email = app
        .store
        .consume_magic_link(&secret_token::digest(&req.token), now)
        .await?
        .map_err(link_error)?;
    let user = find_or_create_user(
        app,
        &email,
        state.sign_in.bootstrap_developer_email.as_deref(),
        now,
    )
    .await?;
    open_session(app, user, now).await.map(Json)
}

fn link_error(err: MagicLinkError) -> ApiError {
    let code = match err {
        MagicLinkError::Unknown => "MAGIC_LINK_INVALID",
        MagicLinkError::Used => "MAGIC_LINK_USED",
        MagicLinkError::Expired => "MAGIC_LINK_EXPIRED",
    };
    ApiError::unauthorized(code, err.to_string())
}

async fn find_or_create_user(
    app: &AppState,
    email: &str,
    bootstrap_developer_email: Option<&str>,
    now: OffsetDateTime,
) -> Result<User, ApiError> {
    // Two links for one new address verified at once: one creates the
    // account, the other finds it on its second look.
    for _ in 0..2 {
        if let Some(id) = app.store.user_id_by_email(email).await? {
            return app.store.user(&id).await?.ok_or_else(|| {
                ApiError::internal(format!("email {email} points at missing user {id}"))
            });
        }
        let new_user = User::first_sign_in(email, bootstrap_developer_email, now);
        if let NewUser::Created(user) = app.store.create_user(new_user).await? {
            tracing::info!(user_id = %user.id, role = user.role.as_str(), "user created");
            return Ok(user);
        }
    }
    Err(ApiError::internal(format!(
        "could not create or find the user for {email}"
    )))
}
