//! Key layout of the single table (docs/data-model.md). Only this module
//! spells key strings.

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const GSI1: &str = "GSI1";
pub const GSI2PK: &str = "GSI2PK";
pub const GSI2SK: &str = "GSI2SK";
pub const GSI2: &str = "GSI2";

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

pub fn event(id: &str) -> (String, String) {
    (format!("EVENT#{id}"), "META".into())
}

/// Events sit in GSI1 by status, sorted by start time.
pub fn events_index_pk(status: &str) -> String {
    format!("EVENTS#{status}")
}

/// A grid unit's state lives beside its event.
pub fn unit(event_id: &str, unit_id: &str) -> (String, String) {
    (format!("EVENT#{event_id}"), format!("UNIT#{unit_id}"))
}

/// Each open-mode inventory shard is its own partition key, so shards spread
/// writes over partitions.
pub fn inventory_shard(event_id: &str, shard: u32) -> (String, String) {
    (format!("INV#{event_id}#{shard}"), "INV".into())
}

pub fn booking(id: &str) -> (String, String) {
    (format!("BOOKING#{id}"), "META".into())
}

/// Tickets live in their booking's partition, numbered from 1.
pub fn ticket(booking_id: &str, number: u32) -> (String, String) {
    (
        format!("BOOKING#{booking_id}"),
        format!("TICKET#{number:04}"),
    )
}

/// An event's tickets in GSI2, for door counts.
pub fn event_tickets_pk(event_id: &str) -> String {
    format!("TICKETS#{event_id}")
}

pub fn payment_intent(id: &str) -> (String, String) {
    (format!("PI#{id}"), "PI".into())
}

pub fn stripe_event(id: &str) -> (String, String) {
    (format!("STRIPE_EVENT#{id}"), "EVT".into())
}

pub const SETTINGS_PK: &str = "SETTINGS";

pub fn audit(day: &str, at: &str, id: &str) -> (String, String) {
    (format!("AUDIT#{day}"), format!("{at}#{id}"))
}
