//! `bench model`: the trace-driven model of one event's flash sale
//! (docs/benchmarks.md, "The model"). `record` drives real holds,
//! availability reads, confirmations and releases through the dev server
//! with the layer's trace on and notes which trace lines each operation
//! made; `search` replays them at scale in `sim` and finds the highest
//! sustainable seats/s.

mod record;
mod search;
mod sim;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::Args;
use crate::client::Http;
use crate::trace::{Kind, parse};
use search::{CONFLICT_CEILING, Mix, Names, PARTITION_CEILING, Recorded, Verdict};

pub async fn run(args: &Args) -> Result<bool, String> {
    let segments = PathBuf::from(args.required("segments")?);
    let api = args.get("api", String::new())?;
    if !api.is_empty() {
        let settings = record::Settings {
            trace: PathBuf::from(args.required("trace")?),
            open_places: args.get("open-places", 50_000)?,
            grid_seats: args.get("grid-seats", 20_000)?,
            grid_max_units: args.get("grid-max-units", 2_000)?,
            sample: args.get("sample", 200)?,
            budget: Duration::from_secs(args.get("record-secs", 420)?),
            users: args.get("users", 200)?,
        };
        let api = Http::new(&api)?;
        let moto = Http::new(args.required("moto")?)?;
        let recorded = record::record(&api, &moto, &settings).await?;
        std::fs::write(&segments, recorded.to_string())
            .map_err(|e| format!("writing {}: {e}", segments.display()))?;
    }
    let config = sim::Config {
        commit_latency_us: args.get("commit-ms", 5.0)? as u64 * 1_000,
        request_latency_us: (args.get("request-ms", 5.0)? * 1_000.0) as u64,
        ..sim::Config::default()
    };
    let mix = Mix {
        browse_per_hold: args.get("browse-per-hold", 1.0)?,
        confirm_share: args.get("confirm-share", 0.8)?,
        release_share: args.get("release-share", 0.1)?,
        hold_seconds: args.get("hold-ms", 50.0)? / 1_000.0,
    };
    model(&segments, mix, config, args.get("max-rate", 1_000_000.0)?)
}

/// Reads the recording `segments` names, replays each event and prints
/// the report, ending with the `model:` line.
fn model(segments: &Path, mix: Mix, config: sim::Config, max_rate: f64) -> Result<bool, String> {
    let text = std::fs::read_to_string(segments)
        .map_err(|e| format!("reading {}: {e}", segments.display()))?;
    let segments: Value = serde_json::from_str(&text).map_err(|e| format!("{e}"))?;
    let trace_path = segments["trace"].as_str().ok_or("segments: no trace")?;
    let trace = std::fs::read(trace_path).map_err(|e| format!("reading {trace_path}: {e}"))?;
    println!(
        "Model: replaying {trace_path} ({:.1} MiB); in flight {} ms, {} ms between an operation's requests; per successful hold {:.2} confirmations and {:.2} releases, {:.2} availability reads per hold attempt; limits: every partition ≤ {:.0} % of 1,000 WCU/s / 3,000 RCU/s, conflicts < {:.0} % of write attempts (lost races apart: conflicts of attempts refused when recorded, which no key design avoids)",
        trace.len() as f64 / 1_048_576.0,
        config.commit_latency_us / 1_000,
        config.request_latency_us as f64 / 1e3,
        mix.confirm_share,
        mix.release_share,
        mix.browse_per_hold,
        PARTITION_CEILING * 100.0,
        CONFLICT_CEILING * 100.0,
    );
    let mut results = Vec::new();
    for event in segments["events"].as_array().ok_or("segments: no events")? {
        let name = event["name"].as_str().unwrap_or("?").to_owned();
        let mut names = Names::default();
        let mut ops = |kind: &str| -> Result<Vec<sim::Op>, String> {
            let mut ops = Vec::new();
            for range in event[kind].as_array().into_iter().flatten() {
                let (from, to) = (
                    range[0].as_u64().unwrap_or(0),
                    range[1].as_u64().unwrap_or(0),
                );
                let bytes = trace
                    .get(from as usize..to as usize)
                    .ok_or("a range past the trace")?;
                ops.push(names.op(&parse(&String::from_utf8_lossy(bytes))?));
            }
            Ok(ops)
        };
        let mut holds = ops("holds")?;
        let (browse, confirm, release) = (ops("browse")?, ops("confirm")?, ops("release")?);
        let refresh = names.take_refreshes(&mut holds);
        let recorded = Recorded {
            holds,
            refresh,
            browse,
            confirm,
            release,
            seats: event["seats"].as_u64().unwrap_or(0),
            successful_holds: event["successful_holds"].as_u64().unwrap_or(0),
        };
        let requests: usize = recorded.holds.iter().map(Vec::len).sum();
        println!(
            "\n{name}: {} hold attempts ({} successful, {} seats, {:.1} DynamoDB requests each), {} availability reads, {} confirmations, {} releases recorded",
            recorded.holds.len(),
            recorded.successful_holds,
            recorded.seats,
            requests as f64 / recorded.holds.len().max(1) as f64,
            recorded.browse.len(),
            recorded.confirm.len(),
            recorded.release.len(),
        );
        let (good, bad) = search::search(&recorded, &names, mix, config, max_rate);
        report(&name, good.as_ref(), bad.as_ref(), &names);
        results.push((name, good));
    }
    let rate = |name: &str| {
        results
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_ref())
            .map_or(0.0, |v| v.rate)
    };
    let verdicts: Vec<&Verdict> = results.iter().filter_map(|(_, v)| v.as_ref()).collect();
    let busiest = verdicts
        .iter()
        .map(|v| v.busiest_share())
        .fold(0.0, f64::max);
    let conflicts = verdicts
        .iter()
        .map(|v| v.outcome.conflict_rate())
        .fold(0.0, f64::max);
    println!(
        "\nmodel: open {:.0} seats/s, grid {:.0} seats/s, busiest partition {:.1}%, conflicts {:.2}%",
        rate("open"),
        rate("grid"),
        busiest * 100.0,
        conflicts * 100.0
    );
    Ok(true)
}

fn describe(verdict: &Verdict, names: &Names) -> String {
    let busiest = verdict.busiest.map_or("none".to_owned(), |(p, share)| {
        let (name, kind) = &names.partition_names[p as usize];
        format!(
            "{:.1} % ({} {})",
            share * 100.0,
            kind_name(*kind),
            crate::trace::pattern(name)
        )
    });
    format!(
        "{:.0} seats/s: busiest partition {busiest}, conflicts {:.2} % of {} write attempts (and {:.2} % lost races), {} operations failed",
        verdict.rate,
        verdict.outcome.conflict_rate() * 100.0,
        verdict.outcome.attempts,
        verdict.outcome.lost_race_rate() * 100.0,
        verdict.outcome.failed_ops
    )
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Read => "RCU",
        Kind::Write => "WCU",
    }
}

fn report(name: &str, good: Option<&Verdict>, bad: Option<&Verdict>, names: &Names) {
    match good {
        Some(good) => println!("  sustainable   {}", describe(good, names)),
        None => println!("  sustainable   none: even 1 seat/s breaks a limit"),
    }
    match bad {
        Some(bad) => {
            let why = if bad.busiest_share() > PARTITION_CEILING {
                "a partition over 80 %"
            } else {
                "conflicts over 1 %"
            };
            println!("  limit         {} ← {why}", describe(bad, names));
        }
        None => println!("  limit         none below the search's ceiling"),
    }
    for (title, verdict) in [("sustainable", good), ("limit", bad)] {
        let Some(verdict) = verdict else { continue };
        println!(
            "  busiest partitions of {name} at {:.0} seats/s ({title}):",
            verdict.rate
        );
        for (share, units, kind, partition, pattern) in
            search::busiest_partitions(verdict, names, 5)
        {
            let short: String = partition.chars().take(60).collect();
            println!(
                "    {:>6.1} %  {:>9.1} {}/s  {pattern:<32} e.g. {short}",
                share * 100.0,
                units,
                kind_name(kind)
            );
        }
        let spots = search::hot_spots(verdict, names, 5);
        if spots.is_empty() {
            println!("  conflict hot spots at {:.0} seats/s: none", verdict.rate);
        } else {
            println!(
                "  conflict hot spots at {:.0} seats/s (item pattern, attempts that met it in flight):",
                verdict.rate
            );
            for (pattern, count, share) in spots {
                println!("    {:>6.1} %  {count:>8}  {pattern}", share * 100.0);
            }
        }
    }
}

/// The recording's description, as `record` writes it for `model`.
pub fn segments_json(trace: &Path, events: Vec<Value>) -> Value {
    json!({ "trace": trace.display().to_string(), "events": events })
}
