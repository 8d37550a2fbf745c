//! DynamoDB's behaviour under contention, which DynamoDB Local lacks
//! (docs/adr/0003-local-dynamodb-contention.md): transaction conflicts and
//! throughput per partition key value. Off unless the proxy is started
//! with a `Behaviour`. The rules are plain functions (`touched`,
//! `conflicts`, `capacity`); this module holds their state behind two
//! mutexes and counts what they refused.

mod answers;
mod capacity;
mod conflicts;
mod touched;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Response;
use serde_json::Value;

use capacity::Capacity;
use conflicts::{InFlight, TransactionId};
use touched::{Writes, touched};

/// The switch for `make dev`: `LOCAL_DDB_CONTENTION=1`.
pub const ENV_SWITCH: &str = "LOCAL_DDB_CONTENTION";

/// How the proxy behaves like DynamoDB under contention.
#[derive(Debug, Clone, Copy)]
pub struct Behaviour {
    /// How long a transaction's items stay taken after DynamoDB Local
    /// answered it (its commit on AWS).
    pub commit_latency: Duration,
    /// Throttle beyond 1,000 WCU/s or 3,000 RCU/s per partition key value.
    pub throughput: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            commit_latency: Duration::from_millis(5),
            throughput: true,
        }
    }
}

impl Behaviour {
    /// The default behaviour when `LOCAL_DDB_CONTENTION=1`, else none.
    pub fn from_env() -> Option<Self> {
        (std::env::var(ENV_SWITCH).as_deref() == Ok("1")).then(Self::default)
    }
}

/// What the layer refused so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Contention {
    /// TransactWriteItems cancelled with `TransactionConflict`.
    pub transactions_cancelled: u64,
    /// Single-item writes answered `TransactionConflictException`.
    pub writes_refused: u64,
    /// Requests throttled (either way).
    pub throttled: u64,
}

pub struct Layer {
    behaviour: Behaviour,
    in_flight: Mutex<InFlight>,
    capacity: Mutex<Capacity>,
    transactions_cancelled: AtomicU64,
    writes_refused: AtomicU64,
    throttled: AtomicU64,
}

/// A request the layer let through; `finish` it once upstream answered.
pub struct Admitted(Option<TransactionId>);

impl Layer {
    pub fn new(behaviour: Behaviour) -> Self {
        Self {
            behaviour,
            in_flight: Mutex::default(),
            capacity: Mutex::default(),
            transactions_cancelled: AtomicU64::new(0),
            writes_refused: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
        }
    }

    pub fn contention(&self) -> Contention {
        Contention {
            transactions_cancelled: self.transactions_cancelled.load(Ordering::Relaxed),
            writes_refused: self.writes_refused.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
        }
    }

    /// Lets the DynamoDB operation `op` through, or answers as DynamoDB
    /// would under contention.
    pub fn admit(&self, op: &str, body: &[u8]) -> Result<Admitted, Box<Response<Body>>> {
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let Some(touched) = touched(op, &body) else {
            return Ok(Admitted(None));
        };
        let now = Instant::now();
        let transaction = match &touched.writes {
            Writes::Transaction(keys) => match self.in_flight().begin(keys, now) {
                Ok(id) => Some(id),
                Err(conflicts) => {
                    self.transactions_cancelled.fetch_add(1, Ordering::Relaxed);
                    return Err(Box::new(answers::cancelled(
                        keys.len(),
                        &conflicts,
                        answers::Reason::TransactionConflict,
                    )));
                }
            },
            Writes::Single(keys) if self.in_flight().any_held(keys, now) => {
                self.writes_refused.fetch_add(1, Ordering::Relaxed);
                return Err(Box::new(answers::transaction_conflict()));
            }
            _ => None,
        };
        if self.behaviour.throughput {
            let mut capacity = self.capacity.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(over) = capacity.consume(&touched.charges, now) {
                drop(capacity);
                self.throttled.fetch_add(1, Ordering::Relaxed);
                return Err(Box::new(match (&touched.writes, transaction) {
                    (Writes::Transaction(keys), Some(id)) => {
                        self.in_flight().end(id, now, now);
                        let items: Vec<usize> = over.iter().filter_map(|c| c.item).collect();
                        answers::cancelled(keys.len(), &items, answers::Reason::Throttling)
                    }
                    _ => answers::throttling(&over[0].partition),
                }));
            }
        }
        Ok(Admitted(transaction))
    }

    /// Upstream answered: a transaction's items stay taken for the commit
    /// latency, then are free.
    pub fn finish(&self, admitted: Admitted) {
        if let Some(id) = admitted.0 {
            let now = Instant::now();
            self.in_flight()
                .end(id, now + self.behaviour.commit_latency, now);
        }
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, InFlight> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn transaction(sks: &[&str]) -> Vec<u8> {
        let items: Vec<Value> = sks
            .iter()
            .map(|sk| {
                serde_json::json!({ "ConditionCheck": { "TableName": "t",
                    "Key": { "PK": {"S":"EVENT#1"}, "SK": {"S": sk} } } })
            })
            .collect();
        serde_json::json!({ "TransactItems": items })
            .to_string()
            .into_bytes()
    }

    async fn body_of(response: Response<Body>) -> Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_conflict_is_answered_with_dynamodbs_cancellation_body() {
        let layer = Layer::new(Behaviour::default());
        let _first = layer
            .admit("TransactWriteItems", &transaction(&["EVENT"]))
            .unwrap();
        let refused = layer
            .admit("TransactWriteItems", &transaction(&["UNIT#1", "EVENT"]))
            .err()
            .unwrap();
        assert_eq!(refused.status(), 400);
        assert_eq!(
            body_of(*refused).await,
            serde_json::json!({
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "CancellationReasons": [
                    { "Code": "None" },
                    { "Code": "TransactionConflict", "Message": "Transaction is ongoing for the item" },
                ],
                "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]",
            })
        );
        assert_eq!(layer.contention().transactions_cancelled, 1);
    }

    #[tokio::test]
    async fn a_throttled_transaction_is_cancelled_with_throttling_errors_and_holds_nothing() {
        let layer = Layer::new(Behaviour::default());
        // Each condition check costs 2 WCU on EVENT#1: 500 fill its second.
        let _full = layer
            .admit(
                "TransactWriteItems",
                &transaction(&(0..500).map(|_| "X").collect::<Vec<_>>()),
            )
            .unwrap();
        let refused = layer
            .admit("TransactWriteItems", &transaction(&["UNIT#1"]))
            .err()
            .unwrap();
        let body = body_of(*refused).await;
        assert_eq!(body["CancellationReasons"][0]["Code"], "ThrottlingError");
        assert_eq!(layer.contention().throttled, 1);
        // Throttled, it took no item: a write to it meets the capacity
        // limit, not a conflict.
        let single = serde_json::json!({ "TableName": "t",
            "Key": { "PK": {"S":"EVENT#1"}, "SK": {"S":"UNIT#1"} } });
        let refused = layer
            .admit("DeleteItem", single.to_string().as_bytes())
            .err()
            .unwrap();
        assert_eq!(
            body_of(*refused).await["__type"],
            "com.amazonaws.dynamodb.v20120810#ThrottlingException"
        );
    }

    #[tokio::test]
    async fn a_single_write_to_a_held_item_is_a_transaction_conflict_exception() {
        let layer = Layer::new(Behaviour::default());
        let _held = layer
            .admit("TransactWriteItems", &transaction(&["UNIT#1"]))
            .unwrap();
        let write = serde_json::json!({ "TableName": "t",
            "Key": { "PK": {"S":"EVENT#1"}, "SK": {"S":"UNIT#1"} } });
        let refused = layer
            .admit("UpdateItem", write.to_string().as_bytes())
            .err()
            .unwrap();
        assert_eq!(
            body_of(*refused).await["__type"],
            "com.amazonaws.dynamodb.v20120810#TransactionConflictException"
        );
        let read = serde_json::json!({ "TableName": "t",
            "Key": { "PK": {"S":"EVENT#1"}, "SK": {"S":"UNIT#1"} } });
        assert!(layer.admit("GetItem", read.to_string().as_bytes()).is_ok());
    }
}
