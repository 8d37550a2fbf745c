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
    /// The platform's cut of a connected organizer's sale: a fixed part in
    /// the sale's minor units plus a percentage in basis points (1/100 %).
    pub platform_fee_fixed_cents: i64,
    pub platform_fee_basis_points: u32,
    /// The organizer's Stripe connected account (`acct_…`): when set, sales
    /// are destination charges to it, minus the platform fee.
    pub stripe_account_id: Option<String>,
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
            platform_fee_fixed_cents: 0,
            platform_fee_basis_points: 0,
            stripe_account_id: None,
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
            "platform_fee_fixed_cents" => {
                if let Some(n) = value.as_i64().filter(|n| (0..=100_000).contains(n)) {
                    self.platform_fee_fixed_cents = n;
                }
            }
            "platform_fee_percent" => {
                // A percentage with at most two decimals, kept as basis points.
                if let Some(points) = value
                    .as_f64()
                    .filter(|p| (0.0..=100.0).contains(p))
                    .map(|p| p * 100.0)
                    .filter(|points| (points - points.round()).abs() < 1e-6)
                {
                    self.platform_fee_basis_points = points.round() as u32;
                }
            }
            "stripe_account_id" => {
                if let Some(account) = value.as_str().filter(|a| a.starts_with("acct_")) {
                    self.stripe_account_id = Some(account.to_owned());
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

    #[test]
    fn the_fee_percentage_is_kept_in_basis_points() {
        let mut s = Settings::default();
        s.apply("platform_fee_percent", &json!(2.9));
        assert_eq!(s.platform_fee_basis_points, 290);
        s.apply("platform_fee_percent", &json!(2.905));
        s.apply("platform_fee_percent", &json!(101));
        assert_eq!(s.platform_fee_basis_points, 290);
    }

    #[test]
    fn only_stripe_account_ids_name_a_connected_account() {
        let mut s = Settings::default();
        s.apply("stripe_account_id", &json!("cus_123"));
        assert_eq!(s.stripe_account_id, None);
        s.apply("stripe_account_id", &json!("acct_123"));
        assert_eq!(s.stripe_account_id.as_deref(), Some("acct_123"));
    }
}
