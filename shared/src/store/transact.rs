//! The one path every transaction takes: a fresh ClientRequestToken per
//! attempt, jittered backoff while DynamoDB cancels it for contention or
//! throttling, and, once it gives up, an error that says which of the
//! three stopped it (a failed condition is final at once).

use std::time::Duration as StdDuration;

use aws_sdk_dynamodb::types::{ReturnConsumedCapacity, TransactWriteItem};
use rand::Rng;

use super::{Cancellation, Store, StoreError, classify, request_token};
use crate::metrics::{self, TRANSACTION_CONFLICTS, TRANSACTION_RETRIES};

/// A transaction cancelled only by contention or throttling is sent this
/// many times in all.
const MAX_ATTEMPTS: u32 = 6;

/// Why DynamoDB cancelled a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// A condition did not hold: final, whatever else happened.
    Condition,
    /// Another transaction had one of its items in flight.
    Conflict,
    /// A partition key was over its throughput.
    Throttling,
    /// Anything else (validation, item size): not worth retrying.
    Other,
}

/// Reads a cancellation's per-item reasons.
pub fn cancelled_by(reasons: &[Cancellation]) -> Cancelled {
    let mut cause = Cancelled::Other;
    for code in reasons.iter().filter_map(|r| r.code.as_deref()) {
        match code {
            "ConditionalCheckFailed" => return Cancelled::Condition,
            "TransactionConflict" => cause = Cancelled::Conflict,
            "ThrottlingError" | "ProvisionedThroughputExceeded" if cause != Cancelled::Conflict => {
                cause = Cancelled::Throttling
            }
            _ => {}
        }
    }
    cause
}

/// A transaction DynamoDB applied.
#[derive(Debug, Clone, Copy)]
pub struct Committed {
    /// Capacity units it consumed (for benchmarks and logs).
    pub capacity: f64,
    /// How many times it was sent (1 when nothing was in its way).
    pub attempts: u32,
}

impl Store {
    /// Runs a transaction. Retried while cancelled by conflicts or
    /// throttling only; gives up as `Contended` or `Throttled` (both 503s),
    /// and a failed condition comes back at once as `TransactionCanceled`
    /// with its reasons, for the caller to read.
    pub(super) async fn transact(
        &self,
        writes: Vec<TransactWriteItem>,
    ) -> Result<Committed, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .client
                .transact_write_items()
                .client_request_token(request_token())
                .set_transact_items(Some(writes.clone()))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(classify);
            let err = match result {
                Ok(out) => {
                    return Ok(Committed {
                        capacity: out
                            .consumed_capacity()
                            .iter()
                            .filter_map(|c| c.capacity_units())
                            .sum(),
                        attempts: attempt,
                    });
                }
                Err(err) => err,
            };
            let gave_up = match &err {
                StoreError::TransactionCanceled { reasons } => match cancelled_by(reasons) {
                    Cancelled::Conflict => {
                        metrics::count(TRANSACTION_CONFLICTS);
                        StoreError::Contended
                    }
                    Cancelled::Throttling => StoreError::Throttled,
                    Cancelled::Condition | Cancelled::Other => return Err(err),
                },
                StoreError::Throttled => StoreError::Throttled,
                _ => return Err(err),
            };
            if attempt >= MAX_ATTEMPTS {
                return Err(gave_up);
            }
            metrics::count(TRANSACTION_RETRIES);
            tokio::time::sleep(backoff(attempt - 1)).await;
        }
    }
}

/// Full jitter over an exponential ceiling: 25 ms, 50 ms, ... up to 800 ms.
pub(super) fn backoff(attempt: u32) -> StdDuration {
    let ceiling_ms = 25u64 << attempt.min(5);
    StdDuration::from_millis(rand::rng().random_range(1..=ceiling_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reasons(codes: &[&str]) -> Vec<Cancellation> {
        codes
            .iter()
            .map(|c| Cancellation {
                code: Some((*c).to_owned()),
                item: None,
            })
            .collect()
    }

    #[test]
    fn a_transaction_conflict_is_contention() {
        assert_eq!(
            cancelled_by(&reasons(&["None", "TransactionConflict", "None"])),
            Cancelled::Conflict
        );
    }

    #[test]
    fn a_hot_partition_is_throttling_and_a_conflict_beside_it_wins() {
        assert_eq!(
            cancelled_by(&reasons(&["ThrottlingError"])),
            Cancelled::Throttling
        );
        assert_eq!(
            cancelled_by(&reasons(&["ThrottlingError", "TransactionConflict"])),
            Cancelled::Conflict
        );
    }

    #[test]
    fn a_failed_condition_is_final_even_beside_a_conflict() {
        assert_eq!(
            cancelled_by(&reasons(&["TransactionConflict", "ConditionalCheckFailed"])),
            Cancelled::Condition
        );
        assert_eq!(
            cancelled_by(&reasons(&["None", "ValidationError"])),
            Cancelled::Other
        );
    }

    #[test]
    fn backoff_stays_within_its_growing_ceiling() {
        for attempt in 0..8 {
            let delay = backoff(attempt).as_millis() as u64;
            assert!((1..=(25 << attempt.min(5))).contains(&delay));
        }
    }
}
