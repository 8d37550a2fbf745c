//! Rate-limit counters: taken alone, or as one write of the transaction
//! the hit is for.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use super::item::{key, n};
use super::{Store, StoreError, build_error, classify, keys};
use crate::domain::rate_limit::{Hit, Window};

/// The counter's update and condition: `hits` more, as long as at least
/// that many are left of `limit`. The condition makes the check and the
/// increment one atomic step.
struct Taking {
    pk: String,
    sk: String,
    hits: i64,
    room: i64,
    ttl: i64,
}

const ADD_HITS: &str = "ADD hits :hits SET #ttl = :ttl";
const ROOM_LEFT: &str = "attribute_not_exists(hits) OR hits <= :room";

impl Taking {
    /// `None` when `hits` alone are over `limit`.
    fn new(scope: &str, subject: &str, window: Window, limit: u32, hits: u32) -> Option<Self> {
        let room = limit.checked_sub(hits)?;
        let (pk, sk) = keys::rate_window(scope, subject, window.index);
        Some(Self {
            pk,
            sk,
            hits: i64::from(hits),
            room: i64::from(room),
            ttl: window.ends_at + 60,
        })
    }

    fn names() -> HashMap<String, String> {
        HashMap::from([("#ttl".to_owned(), "ttl".to_owned())])
    }

    fn values(&self) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (":hits".to_owned(), n(self.hits)),
            (":room".to_owned(), n(self.room)),
            (":ttl".to_owned(), n(self.ttl)),
        ])
    }
}

impl Store {
    /// Counts `hits` hits in the window; `false`, counting none, when fewer
    /// than that are left of `limit`.
    pub async fn take_rate_tokens(
        &self,
        scope: &str,
        subject: &str,
        window: Window,
        limit: u32,
        hits: u32,
    ) -> Result<bool, StoreError> {
        let Some(taking) = Taking::new(scope, subject, window, limit, hits) else {
            return Ok(false);
        };
        let result = self
            .client
            .update_item()
            .table_name(self.table_name())
            .update_expression(ADD_HITS)
            .condition_expression(ROOM_LEFT)
            .set_expression_attribute_names(Some(Taking::names()))
            .set_expression_attribute_values(Some(taking.values()))
            .set_key(Some(key(taking.pk, taking.sk)))
            .send()
            .await
            .map_err(classify);
        match result {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// The hit as a write of the transaction it limits: the transaction
    /// commits only with the hit counted, and is cancelled (this write's
    /// condition failing) when the limit is used up.
    pub(super) fn rate_hit(&self, hit: &Hit<'_>) -> Result<TransactWriteItem, StoreError> {
        let limit = hit.limit;
        let taking = Taking::new(limit.scope, limit.subject, hit.window, limit.per_window, 1)
            .ok_or_else(|| StoreError::Corrupt(format!("rate limit {} of 0", limit.scope)))?;
        let update = Update::builder()
            .table_name(self.table_name())
            .update_expression(ADD_HITS)
            .condition_expression(ROOM_LEFT)
            .set_expression_attribute_names(Some(Taking::names()))
            .set_expression_attribute_values(Some(taking.values()))
            .set_key(Some(key(taking.pk, taking.sk)))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}
