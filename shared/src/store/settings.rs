//! The settings items: one per setting changed from its default, its value
//! kept as JSON text.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use serde_json::Value;

use super::audit::audit_item;
use super::item::{get_s, key, s};
use super::{Store, StoreError, build_error, classify, condition_failed_at, keys};
use crate::domain::audit::AuditEntry;
use crate::domain::settings::Settings;

/// The settings as stored: name → value as JSON text, for conditions on
/// exactly what was read.
#[derive(Debug, Clone, Default)]
pub struct StoredSettings(BTreeMap<String, String>);

impl StoredSettings {
    /// The stored values over the defaults.
    pub fn settings(&self) -> Settings {
        let values: Vec<(&str, Value)> = self
            .0
            .iter()
            .filter_map(|(name, json)| Some((name.as_str(), serde_json::from_str(json).ok()?)))
            .collect();
        Settings::from_stored(values.iter().map(|(name, value)| (*name, value)))
    }
}

impl Store {
    /// Current settings: stored values over defaults.
    pub async fn settings(&self) -> Result<Settings, StoreError> {
        Ok(self.stored_settings().await?.settings())
    }

    pub async fn stored_settings(&self) -> Result<StoredSettings, StoreError> {
        let out = self
            .client
            .query()
            .table_name(self.table_name())
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(keys::SETTINGS_PK))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        let mut stored = BTreeMap::new();
        for item in out.items() {
            if let Some(AttributeValue::S(json)) = item.get("value") {
                stored.insert(get_s(item, "SK")?.to_owned(), json.clone());
            }
        }
        Ok(StoredSettings(stored))
    }

    /// Writes the changed settings and their audit entry in one
    /// transaction, each conditioned on the value read (`read`): a setting
    /// changed meanwhile fails it with `ConditionFailed`. A `null` value
    /// removes the item (the default is then in force).
    pub async fn change_settings(
        &self,
        read: &StoredSettings,
        changes: &[(&'static str, Value)],
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut writes = Vec::with_capacity(changes.len() + 1);
        for (name, value) in changes {
            writes.push(self.setting_changed(name, read.0.get(*name), value)?);
        }
        writes.push(self.create(audit_item(audit))?);
        match self.transact(writes).await {
            Err(StoreError::TransactionCanceled { reasons })
                if (0..changes.len()).any(|i| condition_failed_at(&reasons, i)) =>
            {
                Err(StoreError::ConditionFailed { item: None })
            }
            other => other.map(|_| ()),
        }
    }

    fn setting_changed(
        &self,
        name: &str,
        read: Option<&String>,
        value: &Value,
    ) -> Result<TransactWriteItem, StoreError> {
        let (condition, was) = match read {
            Some(json) => ("#value = :was", Some(s(json))),
            None => ("attribute_not_exists(PK)", None),
        };
        let item_key = key(keys::SETTINGS_PK.to_owned(), name.to_owned());
        let write = if value.is_null() {
            let delete = Delete::builder()
                .table_name(self.table_name())
                .set_key(Some(item_key))
                .condition_expression(condition)
                .set_expression_attribute_names(was.is_some().then(value_name))
                .set_expression_attribute_values(was.map(|was| [(":was".to_owned(), was)].into()))
                .build()
                .map_err(build_error)?;
            TransactWriteItem::builder().delete(delete).build()
        } else {
            let mut item = item_key;
            item.insert("value".into(), s(value.to_string()));
            let put = Put::builder()
                .table_name(self.table_name())
                .set_item(Some(item))
                .condition_expression(condition)
                .set_expression_attribute_names(was.is_some().then(value_name))
                .set_expression_attribute_values(was.map(|was| [(":was".to_owned(), was)].into()))
                .build()
                .map_err(build_error)?;
            TransactWriteItem::builder().put(put).build()
        };
        Ok(write)
    }
}

/// `value` is a reserved word in DynamoDB expressions.
fn value_name() -> std::collections::HashMap<String, String> {
    [("#value".to_owned(), "value".to_owned())].into()
}
