//! The DynamoDB store: the only module that builds DynamoDB requests. One
//! table, keys per access pattern (see docs/data-model.md). Every state
//! change is a conditional write or a transaction; "someone else won" comes
//! back as a typed error, never a string.

mod audit;
mod bookings;
mod changes;
mod events;
mod exports;
mod holds;
mod inventory;
mod item;
mod keys;
mod limits;
mod paging;
mod payments;
mod refunds;
mod sessions;
mod settings;
mod tasks;
mod tickets;
mod transact;
mod uploads;
mod users;
mod wallet;
mod webhooks;

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use time::OffsetDateTime;

pub use crate::domain::hold::{Availability, UnitState};
pub use changes::snapshot;
pub use events::{EventChange, EventQuery, EventSaved};
pub use exports::BookingRecord;
pub use holds::{Extra, HoldOutcome};
pub use paging::Page;
pub use payments::{Attached, ConfirmOutcome, Payment};
pub use refunds::{DueRefund, RefundJob, RefundOrder, RefundRecorded};
pub use sessions::{MagicLinkError, RefreshError, RefreshGrant};
pub use settings::StoredSettings;
pub use tasks::{TaskChange, TaskQuery};
pub use tickets::CheckIn;
pub use users::{NewUser, RoleChange};
pub use wallet::{TopUp, TopUpRefundApplied, WalletChange};
pub use webhooks::Recorded;

pub type Item = HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct Store {
    client: Client,
    table: Arc<str>,
}

/// Why a transaction was cancelled, per item, in request order.
#[derive(Debug, Clone, PartialEq)]
pub struct Cancellation {
    /// `ConditionalCheckFailed`, `TransactionConflict`, `None`, ...
    pub code: Option<String>,
    /// The item as it was, when the request asked for it.
    pub item: Option<Item>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a write condition did not hold")]
    ConditionFailed { item: Option<Item> },
    #[error("transaction cancelled: {reasons:?}")]
    TransactionCanceled { reasons: Vec<Cancellation> },
    #[error("throttled by DynamoDB")]
    Throttled,
    /// Transactions kept meeting others on the same items, retries included.
    #[error("transaction conflicts persisted")]
    Contended,
    /// DynamoDB did not answer in time, or could not be reached (the SDK's
    /// timeouts, shared::state::aws_timeouts): worth retrying later, not a bug.
    #[error("DynamoDB unavailable: {0}")]
    Unavailable(String),
    #[error("DynamoDB request failed: {0}")]
    Service(String),
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
}

/// Every item a Query finds, all pages.
async fn every_item(query: QueryFluentBuilder) -> Result<Vec<Item>, StoreError> {
    query
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(classify)
}

impl Store {
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: Arc::from(table),
        }
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// A strongly consistent read of one item.
    async fn get(&self, key: (String, String)) -> Result<Option<Item>, StoreError> {
        self.get_with(key, true).await
    }

    /// One item, strongly consistent or not: an eventually consistent read
    /// costs half (0.5 RCU per 4 KB) and may miss a write of the last
    /// second.
    async fn get_with(
        &self,
        (pk, sk): (String, String),
        consistent: bool,
    ) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(self.table_name())
            .set_key(Some(item::key(pk, sk)))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(classify)?;
        Ok(out.item)
    }

    /// Every item of one partition whose sort key starts with `prefix`,
    /// strongly consistent, all pages.
    async fn items_under(&self, pk: &str, prefix: &str) -> Result<Vec<Item>, StoreError> {
        every_item(
            self.client
                .query()
                .table_name(self.table_name())
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":pk", item::s(pk))
                .expression_attribute_values(":prefix", item::s(prefix))
                .consistent_read(true),
        )
        .await
    }

    /// Items of one partition of a sparse index keyed by due time
    /// (`<epoch 12>#<id>`) that are due at `now`, all pages.
    async fn due_in_index(
        &self,
        index: &str,
        pk: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<Item>, StoreError> {
        let (pk_name, sk_name) = match index {
            keys::GSI2 => (keys::GSI2PK, keys::GSI2SK),
            _ => (keys::GSI3PK, keys::GSI3SK),
        };
        every_item(
            self.client
                .query()
                .table_name(self.table_name())
                .index_name(index)
                .key_condition_expression(format!("{pk_name} = :pk AND {sk_name} <= :now"))
                .expression_attribute_values(":pk", item::s(pk))
                .expression_attribute_values(":now", item::s(keys::due_by(now.unix_timestamp()))),
        )
        .await
    }

    /// A put inside a transaction that only creates, never overwrites.
    fn create(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(self.table_name())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Is the table reachable? (the readiness probe)
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .describe_table()
            .table_name(self.table_name())
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}

/// A fresh ClientRequestToken per transaction attempt: when the SDK sends
/// an attempt again because its answer was lost, DynamoDB recognises it
/// and reports the committed write as done, not as a conflict with itself.
fn request_token() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// `false` when a conditional write's condition did not hold.
fn applied<T>(result: Result<T, StoreError>) -> Result<bool, StoreError> {
    match result {
        Ok(_) => Ok(true),
        Err(StoreError::ConditionFailed { .. }) => Ok(false),
        Err(err) => Err(err),
    }
}

/// `false` when a transaction was cancelled by its first write's condition
/// (the item that says whether the change still applies).
fn transaction_applied<T>(result: Result<T, StoreError>) -> Result<bool, StoreError> {
    match result {
        Ok(_) => Ok(true),
        Err(StoreError::TransactionCanceled { reasons }) if condition_failed_at(&reasons, 0) => {
            Ok(false)
        }
        Err(err) => Err(err),
    }
}

/// Did the `index`-th write of a cancelled transaction fail its condition?
fn condition_failed_at(reasons: &[Cancellation], index: usize) -> bool {
    reasons.get(index).and_then(|r| r.code.as_deref()) == Some("ConditionalCheckFailed")
}

fn build_error(err: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Service(format!("building request: {err}"))
}

/// Answers that mean "busy, try again": throttling, and a single-item
/// write that met an item of an in-flight transaction (which the SDK does
/// not retry by itself). A 503, never a 500.
const RETRYABLE_CODES: [&str; 5] = [
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "ThrottlingException",
    "LimitExceededException",
    "TransactionConflictException",
];

/// Maps any SDK error to a store error; condition failures are recognised
/// by their code and carry the old item when the request asked for it.
fn classify<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + ConditionItem + Send + Sync + 'static,
    R: std::fmt::Debug + ServerFault,
{
    if matches!(
        err,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_)
    ) {
        return StoreError::Unavailable(
            aws_sdk_dynamodb::error::DisplayErrorContext(err).to_string(),
        );
    }
    if let SdkError::ServiceError(service) = &err {
        let inner = service.err();
        if let Some(item) = inner.condition_failed() {
            return StoreError::ConditionFailed { item };
        }
        if let Some(reasons) = inner.cancellation() {
            return StoreError::TransactionCanceled { reasons };
        }
        if inner.code().is_some_and(|c| RETRYABLE_CODES.contains(&c)) {
            return StoreError::Throttled;
        }
        // DynamoDB failed on its side (500, 503), and kept failing through
        // the SDK's retries: the caller's request was fine.
        if service.raw().is_server_fault() {
            return StoreError::Unavailable(
                aws_sdk_dynamodb::error::DisplayErrorContext(err).to_string(),
            );
        }
    }
    StoreError::Service(aws_sdk_dynamodb::error::DisplayErrorContext(err).to_string())
}

/// Whether an answer was a 5xx from the service.
trait ServerFault {
    fn is_server_fault(&self) -> bool;
}

impl ServerFault for aws_sdk_dynamodb::config::http::HttpResponse {
    fn is_server_fault(&self) -> bool {
        self.status().is_server_error()
    }
}

/// Lets `classify` see inside the operation-specific error enums.
trait ConditionItem {
    /// `Some(old item)` when a conditional write failed its condition.
    fn condition_failed(&self) -> Option<Option<Item>> {
        None
    }
    fn cancellation(&self) -> Option<Vec<Cancellation>> {
        None
    }
}

mod condition_items {
    use super::{Cancellation, ConditionItem, Item};
    use aws_sdk_dynamodb::operation::{
        batch_get_item::BatchGetItemError, delete_item::DeleteItemError,
        describe_table::DescribeTableError, get_item::GetItemError, put_item::PutItemError,
        query::QueryError, transact_write_items::TransactWriteItemsError,
        update_item::UpdateItemError,
    };

    impl ConditionItem for GetItemError {}
    impl ConditionItem for BatchGetItemError {}
    impl ConditionItem for QueryError {}
    impl ConditionItem for DescribeTableError {}

    impl ConditionItem for PutItemError {
        fn condition_failed(&self) -> Option<Option<Item>> {
            match self {
                PutItemError::ConditionalCheckFailedException(e) => Some(e.item().cloned()),
                _ => None,
            }
        }
    }

    impl ConditionItem for UpdateItemError {
        fn condition_failed(&self) -> Option<Option<Item>> {
            match self {
                UpdateItemError::ConditionalCheckFailedException(e) => Some(e.item().cloned()),
                _ => None,
            }
        }
    }

    impl ConditionItem for DeleteItemError {
        fn condition_failed(&self) -> Option<Option<Item>> {
            match self {
                DeleteItemError::ConditionalCheckFailedException(e) => Some(e.item().cloned()),
                _ => None,
            }
        }
    }

    impl ConditionItem for TransactWriteItemsError {
        fn cancellation(&self) -> Option<Vec<Cancellation>> {
            match self {
                TransactWriteItemsError::TransactionCanceledException(e) => Some(
                    e.cancellation_reasons()
                        .iter()
                        .map(|r| Cancellation {
                            code: r.code().map(str::to_owned),
                            item: r.item().cloned(),
                        })
                        .collect(),
                ),
                _ => None,
            }
        }
    }
}

impl From<StoreError> for crate::error::ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Throttled | StoreError::Contended => Self::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "BUSY",
                "the service is busy; retry shortly",
            ),
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %err, "DynamoDB unavailable");
                Self::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "UNAVAILABLE",
                    "a dependency did not answer in time; retry shortly",
                )
            }
            StoreError::ConditionFailed { .. } | StoreError::TransactionCanceled { .. } => {
                Self::conflict("CONFLICT", "the resource changed concurrently; retry")
            }
            StoreError::Service(_) | StoreError::Corrupt(_) => Self::internal(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use aws_sdk_dynamodb::error::ConnectorError;
    use aws_sdk_dynamodb::operation::get_item::GetItemError;

    #[test]
    fn throttling_is_a_retryable_503_not_a_500() {
        let err: ApiError = StoreError::Throttled.into();
        assert_eq!(err.status, 503);
    }

    impl ServerFault for () {
        fn is_server_fault(&self) -> bool {
            false
        }
    }

    fn classified(err: SdkError<GetItemError, ()>) -> StoreError {
        classify(err)
    }

    #[test]
    fn a_server_error_that_outlasted_the_retries_is_a_503_not_a_500() {
        use aws_sdk_dynamodb::config::http::HttpResponse;
        use aws_sdk_dynamodb::error::ErrorMetadata;
        let raw = HttpResponse::new(502.try_into().unwrap(), "bad gateway".into());
        let err = classify(SdkError::service_error(
            GetItemError::generic(ErrorMetadata::builder().message("bad gateway").build()),
            raw,
        ));
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert_eq!(ApiError::from(err).status, 503);
    }

    #[test]
    fn a_timed_out_call_is_a_503_not_a_500() {
        let err = classified(SdkError::timeout_error(
            "operation timeout (all attempts) after 8s",
        ));
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert_eq!(ApiError::from(err).status, 503);
    }

    #[test]
    fn an_unreachable_table_is_a_503_not_a_500() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        for failure in [
            ConnectorError::io(refused.into()),
            ConnectorError::timeout("connect timeout after 1s".into()),
        ] {
            let err = classified(SdkError::dispatch_failure(failure));
            assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
            assert_eq!(ApiError::from(err).status, 503);
        }
    }

    #[test]
    fn a_single_write_meeting_a_transaction_in_flight_is_a_503_not_a_500() {
        use aws_sdk_dynamodb::error::ErrorMetadata;
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        use aws_sdk_dynamodb::types::error::TransactionConflictException;
        let conflict = TransactionConflictException::builder()
            .message("Transaction is ongoing for the item")
            .meta(
                ErrorMetadata::builder()
                    .code("TransactionConflictException")
                    .build(),
            )
            .build();
        let err = classify(SdkError::service_error(
            UpdateItemError::TransactionConflictException(conflict),
            (),
        ));
        assert!(matches!(err, StoreError::Throttled), "{err:?}");
        assert_eq!(ApiError::from(err).status, 503);
    }

    #[test]
    fn a_lost_race_is_a_409() {
        let err: ApiError = StoreError::ConditionFailed { item: None }.into();
        assert_eq!(err.status, 409);
    }
}
