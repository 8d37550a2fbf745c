//! Non-secret tunables, stored as items and editable by the developer role.
//! Missing items fall back to these defaults.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub magic_link_minutes: u32,
    pub brand_name: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            magic_link_minutes: 15,
            brand_name: "Tickets".to_owned(),
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
