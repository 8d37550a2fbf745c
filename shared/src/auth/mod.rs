//! Access tokens and the extractors that authenticate and authorize requests.

mod extract;
mod tokens;

pub use extract::{
    Admin, Authenticated, Developer, MaybeAuthenticated, MinRole, RequireRole, Staff,
};
pub use tokens::{ACCESS_TOKEN_SECONDS, AccessClaims, AccessTokens, TokenError};
