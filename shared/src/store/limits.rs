//! Rate-limit counters.

use super::item::{key, n};
use super::{Store, StoreError, classify, keys};
use crate::domain::rate_limit::Window;

impl Store {
    /// Counts one hit in the window; `false` once `limit` hits were counted.
    /// The condition makes the check and the increment one atomic step.
    pub async fn take_rate_token(
        &self,
        scope: &str,
        subject: &str,
        window: Window,
        limit: u32,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = keys::rate_window(scope, subject, window.index);
        let result = self
            .client
            .update_item()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression("ADD hits :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(hits) OR hits < :limit")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(i64::from(limit)))
            .expression_attribute_values(":ttl", n(window.ends_at + 60))
            .send()
            .await
            .map_err(classify);
        match result {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }
}
