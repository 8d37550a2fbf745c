//! Opaque bearer secrets (magic links, refresh tokens): 32 random bytes,
//! URL-safe, and only their SHA-256 is ever stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const TOKEN_BYTES: usize = 32;

/// A fresh token as handed to the client (43 URL-safe characters).
pub fn generate() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The form in which a token is stored and looked up.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Cheap shape check before any lookup: anything else cannot be ours.
pub fn looks_valid(token: &str) -> bool {
    token.len() == 43
        && URL_SAFE_NO_PAD
            .decode(token)
            .is_ok_and(|bytes| bytes.len() == TOKEN_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_url_safe_and_carry_32_random_bytes() {
        let token = generate();
        assert!(looks_valid(&token));
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(token, generate());
    }

    #[test]
    fn the_stored_digest_is_not_the_token() {
        let token = generate();
        assert_eq!(digest(&token).len(), 64);
        assert!(!digest(&token).contains(&token));
        assert_eq!(digest(&token), digest(&token));
    }

    #[test]
    fn malformed_tokens_are_recognised_without_a_lookup() {
        assert!(!looks_valid(""));
        assert!(!looks_valid("short"));
        assert!(!looks_valid(&"!".repeat(43)));
    }
}
