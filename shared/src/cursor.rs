//! Opaque, tamper-proof pagination cursors: the last key of a page, encoded
//! and signed with HMAC-SHA256, bound to the listing it came from. A forged or
//! swapped cursor is a 400, never a 500 and never a read of someone's keys.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::ApiError;

type HmacSha256 = Hmac<Sha256>;

/// The key attributes of the item a page ended on.
pub type PageKey = BTreeMap<String, String>;

#[derive(Clone)]
pub struct CursorKey([u8; 32]);

impl CursorKey {
    /// Derived from the signing secret with its own label, so a cursor
    /// signature can never double as a token signature.
    pub fn derive(secret: &[u8]) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
        mac.update(b"pagination-cursor-v1");
        Self(mac.finalize().into_bytes().into())
    }

    pub fn seal(&self, listing: &str, key: &PageKey) -> String {
        let payload = serde_json::to_vec(key).unwrap_or_default();
        let tag = self.tag(listing, &payload);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    pub fn open(&self, listing: &str, cursor: &str) -> Result<PageKey, ApiError> {
        let invalid = || ApiError::invalid_field("cursor", "is not a cursor this listing issued");
        let (payload, tag) = cursor.split_once('.').ok_or_else(invalid)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        let mut mac = self.mac(listing);
        mac.update(&payload);
        mac.verify_slice(&tag).map_err(|_| invalid())?;
        serde_json::from_slice(&payload).map_err(|_| invalid())
    }

    fn mac(&self, listing: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC accepts any key length");
        mac.update(listing.as_bytes());
        mac.update(b"\0");
        mac
    }

    fn tag(&self, listing: &str, payload: &[u8]) -> Vec<u8> {
        let mut mac = self.mac(listing);
        mac.update(payload);
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PageKey {
        PageKey::from([
            ("PK".to_owned(), "USER#1".to_owned()),
            ("SK".to_owned(), "PROFILE".to_owned()),
        ])
    }

    #[test]
    fn a_sealed_cursor_opens_to_the_same_key() {
        let k = CursorKey::derive(b"secret");
        assert_eq!(k.open("users", &k.seal("users", &key())).unwrap(), key());
    }

    #[test]
    fn a_tampered_cursor_is_refused() {
        let k = CursorKey::derive(b"secret");
        let sealed = k.seal("users", &key());
        let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"PK":"USER#2","SK":"PROFILE"}"#);
        let forged = format!("{forged_payload}.{}", sealed.split_once('.').unwrap().1);
        assert_eq!(k.open("users", &forged).unwrap_err().status, 400);
        assert!(k.open("users", "garbage").is_err());
        assert!(k.open("users", "").is_err());
    }

    #[test]
    fn a_cursor_from_another_listing_is_refused() {
        let k = CursorKey::derive(b"secret");
        assert!(k.open("events", &k.seal("users", &key())).is_err());
    }

    #[test]
    fn a_cursor_signed_with_another_secret_is_refused() {
        let sealed = CursorKey::derive(b"secret").seal("users", &key());
        assert!(CursorKey::derive(b"other").open("users", &sealed).is_err());
    }
}
