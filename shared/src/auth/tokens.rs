use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::Role;

/// Access tokens live 15 minutes; refresh tokens renew them.
pub const ACCESS_TOKEN_SECONDS: i64 = 15 * 60;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub role: Role,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token is malformed or its signature is wrong")]
    Invalid,
    #[error("the access token has expired")]
    Expired,
}

/// Issues and verifies HS256 access tokens. Keys are derived once per cold
/// start, never per request.
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl AccessTokens {
    pub fn new(secret: &[u8]) -> Self {
        // Only HS256 is accepted: `alg: none` or any other algorithm fails
        // verification. Expiry is checked against the injected clock below,
        // not the library's wall clock.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn issue(&self, user_id: &str, role: Role, now: OffsetDateTime) -> String {
        let iat = now.unix_timestamp();
        let claims = AccessClaims {
            sub: user_id.to_owned(),
            role,
            iat,
            exp: iat + ACCESS_TOKEN_SECONDS,
            jti: uuid::Uuid::now_v7().to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing with an in-memory key cannot fail")
    }

    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<AccessClaims, TokenError> {
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        if data.claims.exp <= now.unix_timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use time::Duration;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    #[test]
    fn an_issued_token_verifies_with_its_claims() {
        let tokens = AccessTokens::new(SECRET);
        let claims = tokens
            .verify(&tokens.issue("u1", Role::Admin, now()), now())
            .unwrap();
        assert_eq!((claims.sub.as_str(), claims.role), ("u1", Role::Admin));
        assert_eq!(claims.exp - claims.iat, 900);
        assert!(!claims.jti.is_empty());
    }

    #[test]
    fn a_token_expires_after_15_minutes() {
        let tokens = AccessTokens::new(SECRET);
        let token = tokens.issue("u1", Role::User, now());
        assert!(tokens.verify(&token, now() + Duration::minutes(14)).is_ok());
        assert_eq!(
            tokens.verify(&token, now() + Duration::minutes(15)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let other = AccessTokens::new(b"another-secret-another-secret-xx");
        let token = other.issue("u1", Role::Developer, now());
        assert_eq!(
            AccessTokens::new(SECRET).verify(&token, now()),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn an_unsigned_alg_none_token_is_refused() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(
            format!(
                r#"{{"sub":"u1","role":"developer","exp":{},"iat":0,"jti":"x"}}"#,
                i64::MAX
            )
            .as_bytes(),
        );
        let token = format!("{header}.{body}.");
        assert_eq!(
            AccessTokens::new(SECRET).verify(&token, now()),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(
            AccessTokens::new(SECRET).verify("not.a.jwt", now()),
            Err(TokenError::Invalid)
        );
    }
}
