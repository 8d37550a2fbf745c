//! HS256 access tokens (RFC 7519 JWTs signed with HMAC-SHA256, RFC 7515),
//! made and checked here with the HMAC the cursors and tickets use. A JWT
//! library would link every algorithm it can verify (RSA, ECDSA, EdDSA) into
//! every function, for a token that only ever has one (docs/benchmarks.md,
//! "What ships").

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::OffsetDateTime;

use crate::domain::Role;

type HmacSha256 = Hmac<Sha256>;

/// Access tokens live 15 minutes; refresh tokens renew them.
pub const ACCESS_TOKEN_SECONDS: i64 = 15 * 60;

/// The header of every token issued, base64url-encoded once.
const HEADER: &str = r#"{"typ":"JWT","alg":"HS256"}"#;

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

/// The part of a token's header that matters: which algorithm signed it.
#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// Issues and verifies HS256 access tokens. The key is set up once per cold
/// start, never per request.
pub struct AccessTokens {
    mac: HmacSha256,
    header: String,
}

impl AccessTokens {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            mac: HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length"),
            header: URL_SAFE_NO_PAD.encode(HEADER),
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
        let claims = serde_json::to_vec(&claims).expect("claims are plain strings and numbers");
        let signed = format!("{}.{}", self.header, URL_SAFE_NO_PAD.encode(claims));
        let signature = URL_SAFE_NO_PAD.encode(self.sign(&signed).finalize().into_bytes());
        format!("{signed}.{signature}")
    }

    /// Only a token whose header says HS256 and whose signature is ours is
    /// read: `alg: none`, any other algorithm and any other key fail alike.
    /// Expiry is checked against the injected clock.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<AccessClaims, TokenError> {
        let (signed, signature) = token.rsplit_once('.').ok_or(TokenError::Invalid)?;
        let (header, claims) = signed.split_once('.').ok_or(TokenError::Invalid)?;
        let header: Header = decode_json(header)?;
        if header.alg != "HS256" {
            return Err(TokenError::Invalid);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Invalid)?;
        self.sign(signed)
            .verify_slice(&signature)
            .map_err(|_| TokenError::Invalid)?;
        let claims: AccessClaims = decode_json(claims)?;
        if claims.exp <= now.unix_timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    fn sign(&self, signed: &str) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(signed.as_bytes());
        mac
    }
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Invalid)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
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

    fn forged(header: &str, claims: &str, secret: &[u8]) -> String {
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let mut mac = HmacSha256::new_from_slice(secret).unwrap();
        mac.update(signed.as_bytes());
        format!(
            "{signed}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    const CLAIMS: &str =
        r#"{"sub":"u1","role":"admin","exp":1800000900,"iat":1800000000,"jti":"x"}"#;

    #[test]
    fn a_token_signed_with_our_key_but_naming_another_algorithm_is_refused() {
        let token = forged(r#"{"alg":"HS512","typ":"JWT"}"#, CLAIMS, SECRET);
        assert_eq!(
            AccessTokens::new(SECRET).verify(&token, now()),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn a_token_whose_claims_were_changed_after_signing_is_refused() {
        let token = AccessTokens::new(SECRET).issue("u1", Role::User, now());
        let mut parts: Vec<&str> = token.split('.').collect();
        let admin = URL_SAFE_NO_PAD.encode(CLAIMS);
        parts[1] = &admin;
        assert_eq!(
            AccessTokens::new(SECRET).verify(&parts.join("."), now()),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn a_standard_hs256_token_with_the_header_fields_in_any_order_verifies() {
        let token = forged(r#"{"alg":"HS256","typ":"JWT"}"#, CLAIMS, SECRET);
        let claims = AccessTokens::new(SECRET).verify(&token, now()).unwrap();
        assert_eq!((claims.sub.as_str(), claims.role), ("u1", Role::Admin));
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(
            AccessTokens::new(SECRET).verify("not.a.jwt", now()),
            Err(TokenError::Invalid)
        );
    }
}
