//! Non-secret tunables, stored as items and editable by the developer role
//! (`GET`/`PATCH /v1/admin/settings`). Missing items fall back to the
//! defaults; every value is checked against its range when it is written
//! and again when it is read.

use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use crate::error::FieldError;

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

/// Every setting, by the name the API and the stored items use.
pub const KEYS: [&str; 7] = [
    "hold_minutes",
    "magic_link_minutes",
    "max_per_booking",
    "platform_fee_fixed_cents",
    "platform_fee_percent",
    "brand_name",
    "stripe_account_id",
];

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
    /// The stored values over the defaults. A stored value out of range is
    /// skipped, so a bad item cannot take sign-in or sales down.
    pub fn from_stored<'a>(stored: impl IntoIterator<Item = (&'a str, &'a Value)>) -> Self {
        let mut settings = Self::default();
        for (key, value) in stored {
            if let Err(message) = settings.set(key, value) {
                tracing::warn!(setting = key, %message, "stored setting ignored");
            }
        }
        settings
    }

    /// Sets one setting, if the value is within its range; the message says
    /// what the range is.
    pub fn set(&mut self, key: &str, value: &Value) -> Result<(), String> {
        match key {
            "hold_minutes" => self.hold_minutes = whole(value, 1, 60)? as u32,
            "magic_link_minutes" => self.magic_link_minutes = whole(value, 5, 60)? as u32,
            "max_per_booking" => {
                self.max_per_booking = whole(value, 1, i64::from(MAX_PER_BOOKING_LIMIT))? as u32;
            }
            "platform_fee_fixed_cents" => self.platform_fee_fixed_cents = whole(value, 0, 100_000)?,
            "platform_fee_percent" => self.platform_fee_basis_points = basis_points(value)?,
            "brand_name" => {
                let name = value.as_str().map(str::trim).unwrap_or_default();
                if !(1..=60).contains(&name.chars().count()) {
                    return Err("must be a text of 1 to 60 characters".into());
                }
                self.brand_name = name.to_owned();
            }
            "stripe_account_id" => {
                self.stripe_account_id = match value {
                    Value::Null => None,
                    Value::String(account) if is_account_id(account) => Some(account.clone()),
                    _ => return Err("must be a Stripe account id (`acct_…`) or null".into()),
                };
            }
            _ => return Err("is not a setting".into()),
        }
        Ok(())
    }

    /// The value of one setting as the API shows and the store keeps it.
    pub fn value(&self, key: &str) -> Value {
        match key {
            "hold_minutes" => json!(self.hold_minutes),
            "magic_link_minutes" => json!(self.magic_link_minutes),
            "max_per_booking" => json!(self.max_per_booking),
            "platform_fee_fixed_cents" => json!(self.platform_fee_fixed_cents),
            "platform_fee_percent" => match self.platform_fee_basis_points {
                points if points % 100 == 0 => json!(points / 100),
                points => json!(f64::from(points) / 100.0),
            },
            "brand_name" => json!(self.brand_name),
            "stripe_account_id" => json!(self.stripe_account_id),
            _ => Value::Null,
        }
    }

    /// These settings with a patch applied; every refused field is named.
    pub fn patched(&self, patch: &SettingsPatch) -> Result<Settings, Vec<FieldError>> {
        let mut next = self.clone();
        let errors: Vec<FieldError> = patch
            .fields()
            .filter_map(|(key, value)| {
                next.set(key, value).err().map(|message| FieldError {
                    field: key.to_owned(),
                    message,
                })
            })
            .collect();
        if errors.is_empty() {
            Ok(next)
        } else {
            Err(errors)
        }
    }
}

/// The body of `PATCH /v1/admin/settings`: any subset of the settings.
/// Values are checked by `Settings::set`, so an out-of-range or mistyped
/// value is a 422 naming its field rather than a parse error.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = u32, minimum = 1, maximum = 60)]
    pub hold_minutes: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = u32, minimum = 5, maximum = 60)]
    pub magic_link_minutes: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = u32, minimum = 1, maximum = 50)]
    pub max_per_booking: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = i64, minimum = 0, maximum = 100000)]
    pub platform_fee_fixed_cents: Option<Value>,
    /// At most two decimals.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = f64, minimum = 0, maximum = 30)]
    pub platform_fee_percent: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, min_length = 1, max_length = 60)]
    pub brand_name: Option<Value>,
    /// `acct_…`, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable, pattern = "^acct_[A-Za-z0-9]+$")]
    pub stripe_account_id: Option<Value>,
}

impl SettingsPatch {
    /// The fields sent, by name (`null` included).
    fn fields(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        [
            ("hold_minutes", &self.hold_minutes),
            ("magic_link_minutes", &self.magic_link_minutes),
            ("max_per_booking", &self.max_per_booking),
            ("platform_fee_fixed_cents", &self.platform_fee_fixed_cents),
            ("platform_fee_percent", &self.platform_fee_percent),
            ("brand_name", &self.brand_name),
            ("stripe_account_id", &self.stripe_account_id),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value.as_ref()?)))
    }
}

/// A field that is present, `null` included (plain `Option` reads `null`
/// as absent).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// The settings whose values differ, with the value before and after.
pub fn changes(before: &Settings, after: &Settings) -> Vec<(&'static str, Value, Value)> {
    KEYS.iter()
        .map(|key| (*key, before.value(key), after.value(key)))
        .filter(|(_, old, new)| old != new)
        .collect()
}

fn whole(value: &Value, min: i64, max: i64) -> Result<i64, String> {
    value
        .as_i64()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("must be a whole number from {min} to {max}"))
}

/// A percentage from 0 to 30 with at most two decimals, kept as basis points.
fn basis_points(value: &Value) -> Result<u32, String> {
    value
        .as_f64()
        .filter(|p| (0.0..=30.0).contains(p))
        .map(|p| p * 100.0)
        .filter(|points| (points - points.round()).abs() < 1e-6)
        .map(|points| points.round() as u32)
        .ok_or_else(|| "must be a percentage from 0 to 30 with at most two decimals".into())
}

fn is_account_id(account: &str) -> bool {
    account.strip_prefix("acct_").is_some_and(|rest| {
        !rest.is_empty() && rest.len() <= 255 && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(value: Value) -> SettingsPatch {
        serde_json::from_value(value).expect("a settings patch")
    }

    #[test]
    fn magic_links_last_15_minutes_by_default() {
        assert_eq!(Settings::default().magic_link_minutes, 15);
    }

    #[test]
    fn stored_values_override_defaults_within_range() {
        let stored = [
            ("magic_link_minutes".to_owned(), json!(30)),
            ("hold_minutes".to_owned(), json!(0)),
            ("brand_name".to_owned(), json!("  Night Owl  ")),
        ];
        let s = Settings::from_stored(stored.iter().map(|(k, v)| (k.as_str(), v)));
        assert_eq!(s.magic_link_minutes, 30);
        assert_eq!(s.hold_minutes, 10, "out of range: the default stays");
        assert_eq!(s.brand_name, "Night Owl");
    }

    #[test]
    fn the_fee_percentage_is_kept_in_basis_points() {
        let mut s = Settings::default();
        s.set("platform_fee_percent", &json!(2.9)).unwrap();
        assert_eq!(s.platform_fee_basis_points, 290);
        assert!(s.set("platform_fee_percent", &json!(2.905)).is_err());
        assert!(s.set("platform_fee_percent", &json!(31)).is_err());
        assert_eq!(s.value("platform_fee_percent"), json!(2.9));
        s.set("platform_fee_percent", &json!(5)).unwrap();
        assert_eq!(s.value("platform_fee_percent"), json!(5));
    }

    #[test]
    fn only_stripe_account_ids_name_a_connected_account() {
        let mut s = Settings::default();
        assert!(s.set("stripe_account_id", &json!("cus_123")).is_err());
        assert!(s.set("stripe_account_id", &json!("acct_")).is_err());
        s.set("stripe_account_id", &json!("acct_123")).unwrap();
        assert_eq!(s.stripe_account_id.as_deref(), Some("acct_123"));
        s.set("stripe_account_id", &Value::Null).unwrap();
        assert_eq!(s.stripe_account_id, None);
    }

    #[test]
    fn a_patch_names_every_value_out_of_range() {
        let refused = Settings::default()
            .patched(&patch(json!({
                "hold_minutes": 61, "magic_link_minutes": 4, "max_per_booking": 51,
                "platform_fee_fixed_cents": -1, "brand_name": "",
                "platform_fee_percent": "2", "stripe_account_id": 7
            })))
            .unwrap_err();
        let mut fields: Vec<&str> = refused.iter().map(|e| e.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "brand_name",
                "hold_minutes",
                "magic_link_minutes",
                "max_per_booking",
                "platform_fee_fixed_cents",
                "platform_fee_percent",
                "stripe_account_id"
            ]
        );
    }

    #[test]
    fn the_ranges_include_their_ends() {
        let next = Settings::default()
            .patched(&patch(json!({
                "hold_minutes": 60, "magic_link_minutes": 5, "max_per_booking": 50,
                "platform_fee_fixed_cents": 100000, "platform_fee_percent": 30,
                "brand_name": "x".repeat(60)
            })))
            .unwrap();
        assert_eq!(next.hold_minutes, 60);
        assert_eq!(next.magic_link_minutes, 5);
        assert_eq!(next.platform_fee_basis_points, 3000);
    }

    #[test]
    fn a_patch_may_name_only_settings() {
        assert!(serde_json::from_value::<SettingsPatch>(json!({ "colour": "red" })).is_err());
    }

    #[test]
    fn a_null_account_is_sent_not_absent() {
        let s = Settings {
            stripe_account_id: Some("acct_1".into()),
            ..Settings::default()
        };
        let next = s
            .patched(&patch(json!({ "stripe_account_id": null })))
            .unwrap();
        assert_eq!(next.stripe_account_id, None);
    }

    #[test]
    fn changes_list_only_what_differs() {
        let before = Settings::default();
        let after = before
            .patched(&patch(json!({ "hold_minutes": 10, "brand_name": "Owl" })))
            .unwrap();
        assert_eq!(
            changes(&before, &after),
            [("brand_name", json!("Tickets"), json!("Owl"))]
        );
    }
}
