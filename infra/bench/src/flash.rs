//! The flash sale through the contention layer (docs/benchmarks.md,
//! "Flash sale"): waves of simultaneous buyers on one big open event and
//! one grid event, the dev server's DynamoDB conflicting and throttling as
//! on AWS. What the layer did is read back from its trace. Oversell fails
//! the run; the rest is reported.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::client::{Http, Reply};
use crate::contention::{
    User, availability, burst, create_event, grid_layout, grid_taken, open_remaining, sign_in,
    unix_secs,
};
use crate::rng::Rng;
use crate::trace::{self, Kind, Outcome, Request, Shape};
use crate::{Args, quantile};

struct Config {
    buyers: usize,
    waves: usize,
    open_places: u64,
    grid_seats: u64,
    grid_max_units: u64,
    grid_readers: usize,
}

#[derive(Default)]
struct Tally {
    attempts: usize,
    holds: usize,
    conflicts: usize,
    unavailable: usize,
    errors: usize,
    samples: Vec<String>,
    latencies: Vec<Duration>,
    busy: Duration,
    seats: u64,
    bookings: Vec<String>,
    failures: Vec<String>,
}

impl Tally {
    /// Counts one answer; the booking when it was a 201.
    fn count<'a>(&mut self, reply: &'a Result<Reply, String>) -> Option<&'a Value> {
        self.attempts += 1;
        let reply = match reply {
            Ok(reply) => reply,
            Err(err) => {
                self.error(err.clone());
                return None;
            }
        };
        self.latencies.push(reply.elapsed);
        match reply.status {
            StatusCode::CREATED => {
                self.holds += 1;
                self.bookings
                    .push(reply.json["id"].as_str().unwrap_or_default().to_owned());
                Some(&reply.json)
            }
            StatusCode::CONFLICT => {
                self.conflicts += 1;
                None
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                self.unavailable += 1;
                None
            }
            status => {
                self.error(format!("{status} {}", reply.json));
                None
            }
        }
    }

    fn error(&mut self, what: String) {
        self.errors += 1;
        if self.samples.len() < 5 && !self.samples.contains(&what) {
            self.samples.push(what);
        }
    }
}

pub async fn run(args: &Args) -> Result<bool, String> {
    let api = Http::new(args.required("api")?)?;
    let moto = Http::new(args.required("moto")?)?;
    let trace = args.required("trace")?.to_owned();
    let config = Config {
        buyers: args.get("buyers", 2_000)?,
        waves: args.get("waves", 4)?,
        open_places: args.get("open-places", 50_000)?,
        grid_seats: args.get("grid-seats", 5_000)?,
        grid_max_units: args.get("grid-max-units", 2_000)?,
        grid_readers: args.get::<usize>("grid-readers", 50)?.max(1),
    };
    let users: usize = args.get("users", 50)?;
    let limit = Duration::from_secs(args.get("timeout-secs", 1_200)?);
    let run = async {
        let developer = sign_in(&api, &moto, "bench-dev@example.com").await?;
        let nonce = unix_secs();
        let mut signed_in = Vec::new();
        for i in 0..users.max(1) {
            signed_in.push(sign_in(&api, &moto, &format!("flash-{nonce}-{i}@example.com")).await?);
        }
        let trace = Path::new(&trace);
        let open = open_sale(&api, &signed_in, &developer, &config, trace).await?;
        let grid = grid_sale(&api, &signed_in, &developer, &config, trace).await?;
        Ok::<bool, String>(open && grid)
    };
    tokio::time::timeout(limit, run)
        .await
        .map_err(|_| format!("did not finish within {limit:?}"))?
}

async fn open_sale(
    api: &Http,
    users: &[User],
    developer: &User,
    config: &Config,
    trace: &Path,
) -> Result<bool, String> {
    let capacity = config.open_places;
    let layout = json!({ "mode": "open", "capacity": capacity, "price_cents": 2_500 });
    let event = create_event(api, developer, "Flash open", layout).await?;
    let path = format!("/v1/events/{event}/holds");
    let mut rng = Rng::new(11);
    let mut tally = Tally::default();
    let from = trace::offset(trace)?;
    for wave in 0..config.waves {
        let bodies: Vec<(usize, Value)> = (0..config.buyers)
            .map(|i| (i % users.len(), json!({ "quantity": 1 + rng.below(4) })))
            .collect();
        let (replies, elapsed) = burst(api, &path, users, bodies).await;
        tally.busy += elapsed;
        let before = tally.holds;
        for reply in &replies {
            if let Some(booking) = tally.count(reply) {
                tally.seats += booking["quantity"].as_u64().unwrap_or(0);
            }
        }
        println!(
            "  open wave {wave}: {} buyers, {} held, {:.0} ms",
            replies.len(),
            tally.holds - before,
            elapsed.as_secs_f64() * 1e3
        );
        if tally.seats >= capacity {
            break;
        }
    }
    let to = trace::offset(trace)?;
    let remaining = open_remaining(api, &event, capacity).await?;
    let oversold = tally.seats.saturating_sub(capacity);
    // A hold whose answer never came (an error) may still have been taken.
    let agrees = if tally.errors == 0 {
        remaining == capacity.saturating_sub(tally.seats)
    } else {
        remaining <= capacity.saturating_sub(tally.seats)
    };
    if !agrees {
        tally.failures.push(format!(
            "availability says {remaining} remaining after {} of {capacity} held ({} errors)",
            tally.seats, tally.errors
        ));
    }
    let requests = read(trace, from, to)?;
    print(
        &format!(
            "Flash sale, open: {capacity} places, waves of {} buyers holding 1–4",
            config.buyers
        ),
        &tally,
        oversold,
        &requests,
    );
    Ok(oversold == 0 && tally.failures.is_empty())
}

async fn grid_sale(
    api: &Http,
    users: &[User],
    developer: &User,
    config: &Config,
    trace: &Path,
) -> Result<bool, String> {
    let (seats, layout) = grid_layout(config.grid_seats, config.grid_max_units);
    let units = seats.len();
    let event = create_event(api, developer, "Flash grid", layout).await?;
    let path = format!("/v1/events/{event}/holds");
    let mut rng = Rng::new(13);
    let mut tally = Tally::default();
    let mut claims: BTreeMap<String, u64> = BTreeMap::new();
    let from = trace::offset(trace)?;
    for wave in 0..config.waves {
        // Some buyers read availability at once; every buyer picks from
        // one of their answers.
        let mut reads = JoinSet::new();
        for _ in 0..config.grid_readers {
            let (api, event) = (api.clone(), event.clone());
            reads.spawn(async move { availability(&api, &event).await });
        }
        let mut views: Vec<Vec<String>> = Vec::new();
        while let Some(read) = reads.join_next().await {
            let (_, reply) = read.map_err(|e| e.to_string())??;
            views.push(
                reply.json["units"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|u| u["state"] == "available")
                    .filter_map(|u| u["id"].as_str().map(str::to_owned))
                    .collect(),
            );
        }
        if views.iter().all(Vec::is_empty) {
            break;
        }
        let bodies: Vec<(usize, Value)> = (0..config.buyers)
            .filter_map(|i| {
                let view = &views[i % views.len()];
                if view.is_empty() {
                    return None;
                }
                let wanted = (1 + rng.below(4) as usize).min(view.len());
                let mut chosen: Vec<&String> = Vec::new();
                while chosen.len() < wanted {
                    let unit = &view[rng.below(view.len() as u64) as usize];
                    if !chosen.contains(&unit) {
                        chosen.push(unit);
                    }
                }
                Some((i % users.len(), json!({ "units": chosen })))
            })
            .collect();
        let (replies, elapsed) = burst(api, &path, users, bodies).await;
        tally.busy += elapsed;
        let before = tally.holds;
        for reply in &replies {
            if let Some(booking) = tally.count(reply) {
                for unit in booking["units"].as_array().into_iter().flatten() {
                    let unit = unit.as_str().unwrap_or_default();
                    tally.seats += seats.get(unit).copied().unwrap_or(0);
                    *claims.entry(unit.to_owned()).or_default() += 1;
                }
            }
        }
        println!(
            "  grid wave {wave}: {} buyers, {} held, {:.0} ms",
            replies.len(),
            tally.holds - before,
            elapsed.as_secs_f64() * 1e3
        );
    }
    let to = trace::offset(trace)?;
    let oversold: u64 = claims.values().map(|n| n - 1).sum();
    let shown: BTreeSet<String> = grid_taken(api, &event).await?.into_keys().collect();
    let claimed: BTreeSet<String> = claims.keys().cloned().collect();
    // A hold whose answer never came (an error) may still have been taken.
    let agrees = if tally.errors == 0 {
        shown == claimed
    } else {
        shown.is_superset(&claimed)
    };
    if !agrees {
        tally.failures.push(format!(
            "availability shows {} units taken, the winners hold {}",
            shown.len(),
            claimed.len()
        ));
    }
    let requests = read(trace, from, to)?;
    print(
        &format!(
            "Flash sale, grid: {} seats in {units} units, waves of {} buyers holding 1–4 units chosen from availability ({} readers a wave)",
            config.grid_seats, config.buyers, config.grid_readers
        ),
        &tally,
        oversold,
        &requests,
    );
    Ok(oversold == 0 && tally.failures.is_empty())
}

fn read(trace: &Path, from: u64, to: u64) -> Result<Vec<Request>, String> {
    let bytes = std::fs::read(trace).map_err(|e| format!("reading {}: {e}", trace.display()))?;
    let to = (to as usize).min(bytes.len());
    trace::parse(&String::from_utf8_lossy(
        &bytes[(from as usize).min(to)..to],
    ))
}

/// What the layer did to these requests: `(transactions cancelled by a
/// conflict, single writes refused, throttled)`.
fn layer_counts(requests: &[Request]) -> (usize, usize, usize) {
    let count = |outcome| requests.iter().filter(|r| r.outcome == outcome).count();
    (
        count(Outcome::Conflict),
        count(Outcome::ConflictException),
        count(Outcome::Throttled),
    )
}

/// TransactWriteItems attempts per booking, for these bookings: `(mean,
/// max)`. A hold's transaction writes its booking item, so every attempt
/// of it names `BOOKING#<id> META`.
fn attempts_per_hold(requests: &[Request], bookings: &[String]) -> (f64, usize) {
    let mut attempts: HashMap<&str, usize> = HashMap::new();
    for request in requests.iter().filter(|r| r.shape() == Shape::Transaction) {
        for item in &request.items {
            if let Some(id) = item
                .strip_prefix("BOOKING#")
                .and_then(|rest| rest.strip_suffix(" META"))
            {
                *attempts.entry(id).or_default() += 1;
            }
        }
    }
    let counts: Vec<usize> = bookings
        .iter()
        .map(|b| attempts.get(b.as_str()).copied().unwrap_or(0))
        .collect();
    let total: usize = counts.iter().sum();
    (
        total as f64 / counts.len().max(1) as f64,
        counts.into_iter().max().unwrap_or(0),
    )
}

fn print(title: &str, tally: &Tally, oversold: u64, requests: &[Request]) {
    let ms = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
    let mut latencies = tally.latencies.clone();
    latencies.sort_unstable();
    let seconds = tally.busy.as_secs_f64().max(1e-9);
    let (cancelled, refused, throttled) = layer_counts(requests);
    let (mean, max) = attempts_per_hold(requests, &tally.bookings);
    println!("\n{title}");
    println!(
        "  hold requests   {} attempted, {} held (201, {} seats), {} conflicts (409), {} unavailable (503), {} errors",
        tally.attempts, tally.holds, tally.seats, tally.conflicts, tally.unavailable, tally.errors
    );
    println!(
        "  throughput      {:.0} attempted holds/s, {:.0} successful holds/s, {:.0} seats/s ({:.2} s of waves)",
        tally.attempts as f64 / seconds,
        tally.holds as f64 / seconds,
        tally.seats as f64 / seconds,
        seconds
    );
    println!(
        "  latency         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(quantile(&latencies, 0.5)),
        ms(quantile(&latencies, 0.99)),
        ms(latencies.last().copied())
    );
    println!(
        "  layer           {} DynamoDB requests: {cancelled} transactions cancelled (TransactionConflict), {refused} TransactionConflictException, {throttled} throttled",
        requests.len()
    );
    println!("  retries         {mean:.2} TransactWriteItems per successful hold (max {max})");
    let peaks = trace::busiest(requests);
    if let Some((partition, _, units)) = peaks.iter().find(|p| p.1 == Kind::Write) {
        println!(
            "  busiest write   {units:.0} WCU/s ({:.0} % of 1,000) on {} (peak 1 s window)",
            units / 10.0,
            trace::pattern(partition)
        );
    }
    if let Some((partition, Kind::Read, units)) = peaks.first() {
        println!(
            "  busiest read    {units:.0} RCU/s ({:.0} % of 3,000) on {}",
            units / 30.0,
            trace::pattern(partition)
        );
    }
    println!("  oversold        {oversold}");
    for sample in &tally.samples {
        println!("  error sample    {sample}");
    }
    let ok = oversold == 0 && tally.failures.is_empty();
    println!("  checks          {}", if ok { "PASS" } else { "FAIL" });
    for failure in &tally.failures {
        println!("  FAIL {failure}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::parse_line;

    fn transaction(outcome: &str, booking: &str) -> Request {
        parse_line(&format!(
            r#"{{"t":1,"op":"TransactWriteItems","outcome":"{outcome}","items":[["EVENT#e","META"],["BOOKING#{booking}","META"]],"charges":[],"bytes":null}}"#
        ))
        .unwrap()
    }

    #[test]
    fn a_holds_attempts_are_its_bookings_transactions_whatever_came_of_them() {
        let requests = [
            transaction("conflict", "a"),
            transaction("conflict", "a"),
            transaction("ok", "a"),
            transaction("ok", "b"),
            transaction("conflict", "c"),
        ];
        let (mean, max) = attempts_per_hold(&requests, &["a".into(), "b".into()]);
        assert_eq!((mean, max), (2.0, 3));
        assert_eq!(layer_counts(&requests), (3, 0, 0));
    }
}
