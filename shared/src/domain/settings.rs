//! Non-secret tunables, stored as items and editable by the developer role.
//! Missing items fall back to these defaults.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub magic_link_minutes: u32,
    pub brand_name: String,
    /// How long a hold keeps its units before they are free again.
    pub hold_minutes: u32,
    /// Default cap on units or quantity per booking for new events.
    pub max_per_booking: u32,
}

/// The most units one booking may take: one hold is one DynamoDB transaction
/// (at most 100 writes: the units, the booking and the event check).
pub const MAX_PER_BOOKING_LIMIT: u32 = 50;

impl Default for Settings {
    fn default() -> Self {
        Self {
            magic_link_minutes: 15,
            brand_name: "Tickets".to_owned(),
            hold_minutes: 10,
            max_per_booking: 10,
        }
    }
}

impl Settings {
    /// Applies one stored setting; unknown keys and out-of-range values are
    /// ignored so a bad item cannot take sign-in down.
    pub fn apply(&mut self, key: &str, value: &serde_json::Value) {
        match key {
            "magic_link_minutes" => {
                if let Some(n) = value.as_u64().filter(|n| (1..=1440).contains(n)) {
                    self.magic_link_minutes = n as u32;
                }
            }
            "hold_minutes" => {
                if let Some(n) = value.as_u64().filter(|n| (1..=120).contains(n)) {
                    self.hold_minutes = n as u32;
                }
            }
            "max_per_booking" => {
                if let Some(n) = value
                    .as_u64()
                    .filter(|n| (1..=u64::from(MAX_PER_BOOKING_LIMIT)).contains(n))
                {
                    self.max_per_booking = n as u32;
                }
            }
            "brand_name" => {
                if let Some(s) = value.as_str().filter(|s| !s.trim().is_empty()) {
                    self.brand_name = s.trim().to_owned();
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn magic_links_last_15_minutes_by_default() {
        assert_eq!(Settings::default().magic_link_minutes, 15);
    }

    #[test]
    fn stored_values_override_defaults_within_range() {
        let mut s = Settings::default();
        s.apply("magic_link_minutes", &json!(30));
        assert_eq!(s.magic_link_minutes, 30);
        s.apply("magic_link_minutes", &json!(0));
        s.apply("magic_link_minutes", &json!("ten"));
        assert_eq!(s.magic_link_minutes, 30);
    }
}
