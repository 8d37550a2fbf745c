//! Rate-limit counters.

use super::item::{key, n};
use super::{Store, StoreError, classify, keys};
use crate::domain::rate_limit::Window;

impl Store {
    /// Counts `hits` hits in the window; `false`, counting none, when fewer
    /// than that are left of `limit`. The condition makes the check and the
    /// increment one atomic step.
    pub async fn take_rate_tokens(
        &self,
        scope: &str,
        subject: &str,
        window: Window,
        limit: u32,
        hits: u32,
    ) -> Result<bool, StoreError> {
        let Some(room) = limit.checked_sub(hits) else {
            return Ok(false);
        };
        let (pk, sk) = keys::rate_window(scope, subject, window.index);
        let result = self
            .client
            .update_item()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression("ADD hits :hits SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(hits) OR hits <= :room")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":hits", n(i64::from(hits)))
            .expression_attribute_values(":room", n(i64::from(room)))
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
