//! Ids in paths. Events, bookings and users are named by UUIDs; anything
//! far off is answered as unknown without a lookup, so a client-chosen id
//! never reaches DynamoDB's key limits (2048 bytes for a partition key) or
//! smuggles a key separator in.

/// Could `id` name a stored event, booking or user?
pub fn is_plausible_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_far_from_a_uuid_are_not_looked_up() {
        assert!(is_plausible_id("0190f1c2-7b3a-7cde-8f00-123456789abc"));
        assert!(!is_plausible_id(""));
        assert!(!is_plausible_id(&"a".repeat(65)));
        assert!(!is_plausible_id(&"a".repeat(2100)));
        assert!(!is_plausible_id("a#b"));
    }
}
