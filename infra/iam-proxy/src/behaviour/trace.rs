//! The layer's record of every DynamoDB request it saw, one JSON line each
//! (`LOCAL_DDB_TRACE=<path>`), for `make bench` (docs/benchmarks.md): what
//! the request touched and what came of it. Local only; the line format is
//! the contract with `infra/bench/src/trace.rs`:
//!
//! ```text
//! {"t":<µs since the layer started>,"op":"TransactWriteItems","outcome":"ok",
//!  "items":[["EVENT#1","META"],..],
//!  "charges":[[null|"GSI2","EVENT#1","W"|"R",<units>,<item index>|null],..],
//!  "bytes":<response body bytes>|null}
//! ```
//!
//! `outcome`: `ok` (upstream answered 2xx), `failed` (upstream answered an
//! error, e.g. a failed condition), or what the layer answered itself:
//! `conflict` (TransactionConflict), `conflict_exception`
//! (TransactionConflictException), `throttled`. `items` are the written
//! items (transactions and single writes); key values are the attributes'
//! strings (`{"S":"EVENT#1"}` → `EVENT#1`).

use std::fs::File;
use std::io::Write;
use std::sync::Mutex;

use serde_json::{Value, json};

use super::touched::{Kind, Touched, Writes};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
    Conflict,
    ConflictException,
    Throttled,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Conflict => "conflict",
            Self::ConflictException => "conflict_exception",
            Self::Throttled => "throttled",
        }
    }
}

/// A request's line, written once its outcome is known.
#[derive(Debug, Clone)]
pub struct Pending {
    micros: u64,
    op: String,
    touched: Touched,
}

impl Pending {
    pub fn new(micros: u64, op: &str, touched: Touched) -> Self {
        Self {
            micros,
            op: op.to_owned(),
            touched,
        }
    }
}

/// The string inside an attribute value's JSON (`{"S":"A"}` → `A`), or the
/// JSON itself for anything else.
fn plain(attribute: &str) -> Value {
    match serde_json::from_str::<Value>(attribute) {
        Ok(Value::Object(map)) if map.len() == 1 => match map.values().next() {
            Some(Value::String(s)) => Value::String(s.clone()),
            _ => Value::String(attribute.to_owned()),
        },
        _ => Value::String(attribute.to_owned()),
    }
}

/// The JSON line of one request (without its newline).
pub fn line(pending: &Pending, outcome: Outcome, bytes: Option<usize>) -> String {
    let items: Vec<Value> = match &pending.touched.writes {
        Writes::Transaction(keys) | Writes::Single(keys) => keys
            .iter()
            .map(|key| json!([plain(&key.pk), plain(&key.sk)]))
            .collect(),
        Writes::None => Vec::new(),
    };
    let charges: Vec<Value> = pending
        .touched
        .charges
        .iter()
        .map(|c| {
            let kind = match c.partition.kind {
                Kind::Read => "R",
                Kind::Write => "W",
            };
            json!([
                c.partition.index,
                plain(&c.partition.value),
                kind,
                c.units,
                c.item
            ])
        })
        .collect();
    json!({
        "t": pending.micros,
        "op": pending.op,
        "outcome": outcome.as_str(),
        "items": items,
        "charges": charges,
        "bytes": bytes,
    })
    .to_string()
}

/// Appends lines to a file, each with one write, so a reader of the file
/// sees whole lines of every request answered so far.
pub struct Sink(Mutex<File>);

impl Sink {
    pub fn create(path: &std::path::Path) -> std::io::Result<Self> {
        Ok(Self(Mutex::new(File::create(path)?)))
    }

    pub fn write(&self, pending: &Pending, outcome: Outcome, bytes: Option<usize>) {
        let mut text = line(pending, outcome, bytes);
        text.push('\n');
        let mut file = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(err) = file.write_all(text.as_bytes()) {
            tracing::warn!(error = %err, "could not write the DynamoDB trace");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::behaviour::touched::touched;

    #[test]
    fn a_transactions_line_names_its_items_and_charges_in_plain_strings() {
        let body = json!({ "TransactItems": [
            { "ConditionCheck": { "TableName": "t", "Key": { "PK": {"S":"EVENT#1"}, "SK": {"S":"META"} } } },
            { "Put": { "TableName": "t", "Item": { "PK": {"S":"BOOKING#b"}, "SK": {"S":"META"},
                "GSI2PK": {"S":"HELD#1"} } } },
        ]});
        let pending = Pending::new(
            7,
            "TransactWriteItems",
            touched("TransactWriteItems", &body).unwrap(),
        );
        let line: Value = serde_json::from_str(&line(&pending, Outcome::Conflict, None)).unwrap();
        assert_eq!(
            line,
            json!({
                "t": 7, "op": "TransactWriteItems", "outcome": "conflict",
                "items": [["EVENT#1", "META"], ["BOOKING#b", "META"]],
                "charges": [
                    [null, "EVENT#1", "W", 2.0, 0],
                    [null, "BOOKING#b", "W", 2.0, 1],
                    ["GSI2", "HELD#1", "W", 2.0, 1],
                ],
                "bytes": null,
            })
        );
    }

    #[test]
    fn a_reads_line_has_no_items_and_its_answers_size() {
        let body =
            json!({ "TableName": "t", "Key": { "PK": {"S":"EVENT#1"}, "SK": {"S":"META"} } });
        let pending = Pending::new(0, "GetItem", touched("GetItem", &body).unwrap());
        let line: Value = serde_json::from_str(&line(&pending, Outcome::Ok, Some(9000))).unwrap();
        assert_eq!(line["items"], json!([]));
        assert_eq!(line["charges"], json!([[null, "EVENT#1", "R", 0.5, null]]));
        assert_eq!(line["bytes"], 9000);
    }
}
