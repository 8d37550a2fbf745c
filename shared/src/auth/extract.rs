use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::TokenError;
use crate::domain::Role;
use crate::error::ApiError;
use crate::state::AppState;

/// A caller with a valid access token. Rejection: 401 problem JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub user_id: String,
    /// The role when the token was issued; it refreshes with the token.
    pub role: Role,
}

impl<S> FromRequestParts<S> for Authenticated
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized(
                "UNAUTHENTICATED",
                "an Authorization: Bearer token is required",
            )
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "UNAUTHENTICATED",
                    "the Authorization header must be `Bearer <token>`",
                )
            })?;
        let claims = app
            .tokens
            .verify(token, app.clock.now())
            .map_err(|err| match err {
                TokenError::Expired => ApiError::unauthorized("TOKEN_EXPIRED", err.to_string()),
                TokenError::Invalid => ApiError::unauthorized("TOKEN_INVALID", err.to_string()),
            })?;
        Ok(Self {
            user_id: claims.sub,
            role: claims.role,
        })
    }
}

/// A caller who may or may not have signed in, for routes anyone may use but
/// that show more to some roles. No `Authorization` header: `None`. A header
/// with a bad or expired token is a 401, not a silent downgrade to anonymous.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaybeAuthenticated(pub Option<Authenticated>);

impl MaybeAuthenticated {
    pub fn role(&self) -> Option<Role> {
        self.0.as_ref().map(|caller| caller.role)
    }
}

impl<S> FromRequestParts<S> for MaybeAuthenticated
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if !parts.headers.contains_key(AUTHORIZATION) {
            return Ok(Self(None));
        }
        Authenticated::from_request_parts(parts, state)
            .await
            .map(|caller| Self(Some(caller)))
    }
}

/// A role floor, as a type, for `RequireRole<R>`.
pub trait MinRole: Send + Sync {
    const ROLE: Role;
}

pub struct Staff;
pub struct Admin;
pub struct Developer;

impl MinRole for Staff {
    const ROLE: Role = Role::Staff;
}
impl MinRole for Admin {
    const ROLE: Role = Role::Admin;
}
impl MinRole for Developer {
    const ROLE: Role = Role::Developer;
}

/// A caller whose role is `R` or higher. Rejection: 401 without a valid
/// token, 403 with a role too low.
pub struct RequireRole<R: MinRole> {
    pub caller: Authenticated,
    _role: PhantomData<R>,
}

impl<S, R> FromRequestParts<S> for RequireRole<R>
where
    S: Send + Sync,
    R: MinRole,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = Authenticated::from_request_parts(parts, state).await?;
        if !caller.role.includes(R::ROLE) {
            return Err(ApiError::forbidden(
                "FORBIDDEN",
                format!("this action needs the {} role", R::ROLE.as_str()),
            ));
        }
        Ok(Self {
            caller,
            _role: PhantomData,
        })
    }
}
