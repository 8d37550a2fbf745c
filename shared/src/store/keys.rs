//! Key layout of the single table (docs/data-model.md). Only this module
//! spells key strings.

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const GSI1: &str = "GSI1";

pub fn user(id: &str) -> (String, String) {
    (format!("USER#{id}"), "PROFILE".into())
}

pub fn email(email: &str) -> (String, String) {
    (format!("EMAIL#{email}"), "USER".into())
}

/// All users sit in one GSI1 partition, newest last, for the admin listing.
pub const USERS_INDEX_PK: &str = "USERS";

pub fn magic_link(digest: &str) -> (String, String) {
    (format!("MAGIC#{digest}"), "MAGIC".into())
}

pub fn refresh_token(digest: &str) -> (String, String) {
    (format!("REFRESH#{digest}"), "REFRESH".into())
}

pub fn token_family(id: &str) -> (String, String) {
    (format!("FAMILY#{id}"), "FAMILY".into())
}

pub fn rate_window(scope: &str, key: &str, window: i64) -> (String, String) {
    (format!("RATE#{scope}#{key}#{window}"), "RATE".into())
}

pub const SETTINGS_PK: &str = "SETTINGS";

pub fn audit(day: &str, at: &str, id: &str) -> (String, String) {
    (format!("AUDIT#{day}"), format!("{at}#{id}"))
}
