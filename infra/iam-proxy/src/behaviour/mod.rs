//! DynamoDB's behaviour under contention, which DynamoDB Local lacks
//! (docs/adr/0003-local-dynamodb-contention.md): transaction conflicts and
//! throughput per partition key value. Off unless the proxy is started
//! with a `Behaviour`. The rules are plain functions (`touched`,
//! `conflicts`, `capacity`); this module holds their state behind two
//! mutexes and counts what they refused. With a trace path it also writes
//! one line per request (`trace`), for `make bench`.

mod answers;
mod capacity;
mod conflicts;
mod touched;
mod trace;

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Response;
use serde_json::Value;

use capacity::Capacity;
use conflicts::{InFlight, TransactionId};
use touched::{Writes, touched};
use trace::{Outcome, Pending, Sink};

/// The switch for `make dev`: `LOCAL_DDB_CONTENTION=1`.
pub const ENV_SWITCH: &str = "LOCAL_DDB_CONTENTION";

/// `LOCAL_DDB_TRACE=<path>`: write every DynamoDB request's items, charges
/// and outcome to that file (alone: conflicts and throttling stay off).
pub const TRACE_SWITCH: &str = "LOCAL_DDB_TRACE";

/// How the proxy behaves like DynamoDB under contention.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// How long a transaction's items stay taken after DynamoDB Local
    /// answered it (its commit on AWS).
    pub commit_latency: Duration,
    /// Throttle beyond 1,000 WCU/s or 3,000 RCU/s per partition key value.
    pub throughput: bool,
    /// Cancel transactions (and refuse single writes) that meet a
    /// transaction in flight.
    pub conflicts: bool,
    /// Write one JSON line per DynamoDB request to this file.
    pub trace: Option<PathBuf>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            commit_latency: Duration::from_millis(5),
            throughput: true,
            conflicts: true,
            trace: None,
        }
    }
}

impl Behaviour {
    /// With `LOCAL_DDB_CONTENTION=1` the default behaviour, tracing when
    /// `LOCAL_DDB_TRACE` names a file; with only the trace, a layer that
    /// refuses nothing and traces; else none.
    pub fn from_env() -> Option<Self> {
        let trace = std::env::var(TRACE_SWITCH)
            .ok()
            .filter(|path| !path.is_empty())
            .map(PathBuf::from);
        Self::from_switches(std::env::var(ENV_SWITCH).as_deref() == Ok("1"), trace)
    }

    fn from_switches(contention: bool, trace: Option<PathBuf>) -> Option<Self> {
        match (contention, trace) {
            (true, trace) => Some(Self {
                trace,
                ..Self::default()
            }),
            (false, Some(trace)) => Some(Self {
                throughput: false,
                conflicts: false,
                trace: Some(trace),
                ..Self::default()
            }),
            (false, None) => None,
        }
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
    started: Instant,
    in_flight: Mutex<InFlight>,
    capacity: Mutex<Capacity>,
    trace: Option<Sink>,
    transactions_cancelled: AtomicU64,
    writes_refused: AtomicU64,
    throttled: AtomicU64,
}

/// A request the layer let through; `finish` it once upstream answered.
pub struct Admitted {
    transaction: Option<TransactionId>,
    line: Option<Pending>,
}

impl Layer {
    /// Fails only when the trace file cannot be created.
    pub fn new(behaviour: Behaviour) -> std::io::Result<Self> {
        let trace = behaviour.trace.as_deref().map(Sink::create).transpose()?;
        Ok(Self {
            behaviour,
            started: Instant::now(),
            in_flight: Mutex::default(),
            capacity: Mutex::default(),
            trace,
            transactions_cancelled: AtomicU64::new(0),
            writes_refused: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
        })
    }

    pub fn contention(&self) -> Contention {
        Contention {
            transactions_cancelled: self.transactions_cancelled.load(Ordering::Relaxed),
            writes_refused: self.writes_refused.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
        }
    }

    /// Does `finish` want the size of upstream's answer? (Only the trace
    /// records it; without one a transaction's items are freed as soon as
    /// upstream's answer starts, not when its body has gone through.)
    pub fn traces(&self) -> bool {
        self.trace.is_some()
    }

    /// Lets the DynamoDB operation `op` through, or answers as DynamoDB
    /// would under contention.
    pub fn admit(&self, op: &str, body: &[u8]) -> Result<Admitted, Box<Response<Body>>> {
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let Some(touched) = touched(op, &body) else {
            return Ok(Admitted {
                transaction: None,
                line: None,
            });
        };
        let now = Instant::now();
        let line = self.trace.as_ref().map(|_| {
            let micros = now.duration_since(self.started).as_micros() as u64;
            Pending::new(micros, op, touched.clone())
        });
        let refuse = |outcome: Outcome, answer: Response<Body>| {
            if let (Some(sink), Some(line)) = (&self.trace, &line) {
                sink.write(line, outcome, None);
            }
            Err(Box::new(answer))
        };
        let transaction = match &touched.writes {
            Writes::Transaction(keys) if self.behaviour.conflicts => {
                match self.in_flight().begin(keys, now) {
                    Ok(id) => Some(id),
                    Err(conflicts) => {
                        self.transactions_cancelled.fetch_add(1, Ordering::Relaxed);
                        return refuse(
                            Outcome::Conflict,
                            answers::cancelled(
                                keys.len(),
                                &conflicts,
                                answers::Reason::TransactionConflict,
                            ),
                        );
                    }
                }
            }
            Writes::Single(keys)
                if self.behaviour.conflicts && self.in_flight().any_held(keys, now) =>
            {
                self.writes_refused.fetch_add(1, Ordering::Relaxed);
                return refuse(Outcome::ConflictException, answers::transaction_conflict());
            }
            _ => None,
        };
        if self.behaviour.throughput {
            let mut capacity = self.capacity.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(over) = capacity.consume(&touched.charges, now) {
                drop(capacity);
                self.throttled.fetch_add(1, Ordering::Relaxed);
                let answer = match (&touched.writes, transaction) {
                    (Writes::Transaction(keys), Some(id)) => {
                        self.in_flight().end(id, now, now);
                        let items: Vec<usize> = over.iter().filter_map(|c| c.item).collect();
                        answers::cancelled(keys.len(), &items, answers::Reason::Throttling)
                    }
                    _ => answers::throttling(&over[0].partition),
                };
                return refuse(Outcome::Throttled, answer);
            }
        }
        Ok(Admitted { transaction, line })
    }

    /// Upstream answered (`ok`: with a success status; `bytes`: its body's
    /// size, when `traces`): a transaction's items stay taken for the
    /// commit latency, then are free.
    pub fn finish(&self, admitted: Admitted, ok: bool, bytes: Option<usize>) {
        if let (Some(sink), Some(line)) = (&self.trace, &admitted.line) {
            let outcome = if ok { Outcome::Ok } else { Outcome::Failed };
            sink.write(line, outcome, bytes);
        }
        if let Some(id) = admitted.transaction {
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
        let layer = Layer::new(Behaviour::default()).unwrap();
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
        let layer = Layer::new(Behaviour::default()).unwrap();
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
        let layer = Layer::new(Behaviour::default()).unwrap();
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

    #[test]
    fn a_trace_alone_switches_conflicts_and_throttling_off() {
        let traced = Behaviour::from_switches(false, Some("t.jsonl".into())).unwrap();
        assert!(!traced.conflicts && !traced.throughput);
        let both = Behaviour::from_switches(true, Some("t.jsonl".into())).unwrap();
        assert!(both.conflicts && both.throughput && both.trace.is_some());
        assert!(Behaviour::from_switches(false, None).is_none());
    }

    #[test]
    fn a_tracing_layer_without_conflicts_lets_overlapping_transactions_through_and_writes_each() {
        let path = std::env::temp_dir().join(format!("ddb-trace-{}.jsonl", std::process::id()));
        let layer =
            Layer::new(Behaviour::from_switches(false, Some(path.clone())).unwrap()).unwrap();
        let first = layer
            .admit("TransactWriteItems", &transaction(&["EVENT"]))
            .unwrap();
        let second = layer
            .admit("TransactWriteItems", &transaction(&["EVENT"]))
            .unwrap();
        layer.finish(first, true, Some(2));
        layer.finish(second, false, Some(300));
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let outcomes: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["outcome"].to_string())
            .collect();
        assert_eq!(outcomes, ["\"ok\"", "\"failed\""]);
        assert_eq!(layer.contention(), Contention::default());
    }
}
