//! The contention layer's trace (`LOCAL_DDB_TRACE`, one JSON line per
//! DynamoDB request; the format is documented in
//! infra/iam-proxy/src/behaviour/trace.rs) read back: what each request
//! wrote and cost, and helpers over it. Plain functions.

use serde_json::Value;

pub const WRITE_LIMIT: f64 = 1_000.0;
pub const READ_LIMIT: f64 = 3_000.0;
const READ_PAGE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
    Conflict,
    ConflictException,
    Throttled,
}

impl Outcome {
    /// Did DynamoDB (Local) carry it out (so it consumed capacity)?
    pub fn reached_upstream(self) -> bool {
        matches!(self, Self::Ok | Self::Failed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Read,
    Write,
}

impl Kind {
    pub fn limit(self) -> f64 {
        match self {
            Self::Read => READ_LIMIT,
            Self::Write => WRITE_LIMIT,
        }
    }
}

/// Capacity on one partition key value: `table EVENT#1` or `GSI2 HELD#1`.
#[derive(Debug, Clone, PartialEq)]
pub struct Charge {
    pub partition: String,
    pub kind: Kind,
    pub units: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Transaction,
    SingleWrite,
    Read,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub micros: u64,
    pub op: String,
    pub outcome: Outcome,
    /// Written items, `PK SK`.
    pub items: Vec<String>,
    /// With reads charged for the answer's size (see `parse_line`).
    pub charges: Vec<Charge>,
}

impl Request {
    pub fn shape(&self) -> Shape {
        match self.op.as_str() {
            "TransactWriteItems" => Shape::Transaction,
            "PutItem" | "UpdateItem" | "DeleteItem" => Shape::SingleWrite,
            _ => Shape::Read,
        }
    }
}

/// One trace line. A read of one partition (GetItem, Query) is charged the
/// layer's units times the 4 KB pages of its answer (the layer charges one
/// page before it knows the answer; the answer's JSON stands in for the
/// items' size).
pub fn parse_line(line: &str) -> Result<Request, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("{e}: {line}"))?;
    let bad = || format!("not a trace line: {line}");
    let outcome = match value["outcome"].as_str().ok_or_else(bad)? {
        "ok" => Outcome::Ok,
        "failed" => Outcome::Failed,
        "conflict" => Outcome::Conflict,
        "conflict_exception" => Outcome::ConflictException,
        "throttled" => Outcome::Throttled,
        _ => return Err(bad()),
    };
    let items = value["items"]
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|item| {
            format!(
                "{} {}",
                item[0].as_str().unwrap_or("?"),
                item[1].as_str().unwrap_or("?")
            )
        })
        .collect();
    let mut charges: Vec<Charge> = value["charges"]
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|c| {
            Some(Charge {
                partition: format!("{} {}", c[0].as_str().unwrap_or("table"), c[1].as_str()?),
                kind: if c[2].as_str()? == "W" {
                    Kind::Write
                } else {
                    Kind::Read
                },
                units: c[3].as_f64()?,
            })
        })
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    if let ([read], Some(bytes)) = (charges.as_mut_slice(), value["bytes"].as_u64())
        && read.kind == Kind::Read
    {
        read.units *= (bytes as usize).div_ceil(READ_PAGE).max(1) as f64;
    }
    Ok(Request {
        micros: value["t"].as_u64().ok_or_else(bad)?,
        op: value["op"].as_str().ok_or_else(bad)?.to_owned(),
        outcome,
        items,
        charges,
    })
}

pub fn parse(text: &str) -> Result<Vec<Request>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse_line)
        .collect()
}

/// The trace file's size: the offset the next line will start at.
pub fn offset(path: &std::path::Path) -> Result<u64, String> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// A key or partition with its ids blanked: `INV#0193ab-..#3` → `INV#<id>#<n>`
/// (an index name such as `GSI3` stays).
pub fn pattern(key: &str) -> String {
    key.split(' ')
        .map(|part| {
            if part
                .strip_prefix("GSI")
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
            {
                return part.to_owned();
            }
            part.split('#')
                .map(|segment| {
                    if !segment.is_empty() && segment.chars().all(|c| c.is_ascii_digit()) {
                        "<n>"
                    } else if segment.chars().any(|c| c.is_ascii_digit()) {
                        "<id>"
                    } else {
                        segment
                    }
                })
                .collect::<Vec<_>>()
                .join("#")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The most units any one-second window holds, of `(µs, units)` samples
/// sorted by time.
pub fn peak_per_second(samples: &[(u64, f64)]) -> f64 {
    let (mut start, mut sum, mut peak) = (0, 0.0, 0.0f64);
    for &(at, units) in samples {
        sum += units;
        while samples[start].0 + 1_000_000 <= at {
            sum -= samples[start].1;
            start += 1;
        }
        peak = peak.max(sum);
    }
    peak
}

/// Per partition and kind, the busiest second's units (what DynamoDB
/// carried out: refused requests consumed nothing), busiest first.
pub fn busiest(requests: &[Request]) -> Vec<(String, Kind, f64)> {
    let mut samples: std::collections::HashMap<(&str, Kind), Vec<(u64, f64)>> =
        std::collections::HashMap::new();
    for request in requests.iter().filter(|r| r.outcome.reached_upstream()) {
        for charge in &request.charges {
            samples
                .entry((&charge.partition, charge.kind))
                .or_default()
                .push((request.micros, charge.units));
        }
    }
    let mut peaks: Vec<(String, Kind, f64)> = samples
        .into_iter()
        .map(|((partition, kind), mut samples)| {
            samples.sort_by_key(|s| s.0);
            (partition.to_owned(), kind, peak_per_second(&samples))
        })
        .collect();
    peaks.sort_by(|a, b| (b.2 / b.1.limit()).total_cmp(&(a.2 / a.1.limit())));
    peaks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lines_reads_are_charged_per_4_kb_page_of_the_answer() {
        let line = r#"{"t":5,"op":"GetItem","outcome":"ok","items":[],"charges":[[null,"EVENT#1","R",0.5,null]],"bytes":9000}"#;
        let request = parse_line(line).unwrap();
        assert_eq!(request.charges[0].units, 1.5);
        assert_eq!(request.charges[0].partition, "table EVENT#1");
        assert_eq!(request.shape(), Shape::Read);
    }

    #[test]
    fn a_transactions_line_keeps_its_items_and_index_charges() {
        let line = r#"{"t":1,"op":"TransactWriteItems","outcome":"conflict","items":[["EVENT#1","META"],["BOOKING#b","META"]],"charges":[[null,"EVENT#1","W",2.0,0],["GSI2","HELD#1","W",2.0,1]],"bytes":null}"#;
        let request = parse_line(line).unwrap();
        assert_eq!(request.items, ["EVENT#1 META", "BOOKING#b META"]);
        assert_eq!(request.charges[1].partition, "GSI2 HELD#1");
        assert_eq!(request.outcome, Outcome::Conflict);
        assert!(!request.outcome.reached_upstream());
    }

    #[test]
    fn ids_are_blanked_in_key_patterns() {
        assert_eq!(pattern("INV#0193ab-77#3 INV"), "INV#<id>#<n> INV");
        assert_eq!(pattern("table EVENT#01j9 META"), "table EVENT#<id> META");
        assert_eq!(pattern("GSI3 EXPIRING#2"), "GSI3 EXPIRING#<n>");
    }

    #[test]
    fn the_peak_is_the_busiest_one_second_window() {
        let samples = [
            (0, 1.0),
            (500_000, 1.0),
            (999_999, 1.0),
            (1_000_000, 1.0),
            (1_600_000, 1.0),
        ];
        // 0..1 s holds three; 0.5..1.5 s holds three; 1.0..2.0 s two.
        assert_eq!(peak_per_second(&samples), 3.0);
    }

    #[test]
    fn refused_requests_consume_nothing_and_the_busiest_partition_comes_first() {
        let line = |outcome: &str, pk: &str| {
            parse_line(&format!(
                r#"{{"t":1,"op":"PutItem","outcome":"{outcome}","items":[["{pk}","X"]],"charges":[[null,"{pk}","W",1.0,null]],"bytes":2}}"#
            ))
            .unwrap()
        };
        let requests = [
            line("ok", "A"),
            line("ok", "B"),
            line("ok", "B"),
            line("throttled", "A"),
        ];
        let peaks = busiest(&requests);
        assert_eq!(peaks[0], ("table B".to_owned(), Kind::Write, 2.0));
        assert_eq!(peaks[1], ("table A".to_owned(), Kind::Write, 1.0));
    }
}
