//! `make bench` (infra/bench.sh; what and how: docs/benchmarks.md). Prints
//! numbers; exits non-zero only when a correctness check fails.
//!
//! ```text
//! bench startup [--runs 15] [--timeout-secs 10] [--log-dir DIR] [--max-ratio 2] [--rss-limit-mib 16]
//!               [--triggers NAME=sqs|schedule,..] [--probes NAME=/http/path,..] [--invoke-cpu-share 0.15]
//!               BASELINE=PATH NAME=PATH..
//! bench contention --api http://127.0.0.1:PORT --moto http://127.0.0.1:PORT --log DEV_SERVER_LOG
//!               [--users 20] [--grid-rounds 10] [--grid-clients 200] [--open-rounds 3]
//!               [--open-clients 300] [--open-capacity 100] [--timeout-secs 900]
//! bench flash --api URL --moto URL --trace LAYER_TRACE [--buyers 2000] [--waves 4] [--users 50]
//!               [--open-places 50000] [--grid-seats 5000] [--grid-max-units 2000] [--grid-readers 50]
//! bench model --segments FILE [--api URL --moto URL --trace LAYER_TRACE (record first)]
//!               [--open-places 50000] [--grid-seats 20000] [--sample 200] [--record-secs 420] [--users 200]
//!               [--commit-ms 5] [--request-ms 5] [--browse-per-hold 1] [--confirm-share 0.8]
//!               [--release-share 0.1] [--max-rate 1000000]
//! bench cpu --api URL --moto URL --server-pid PID [--emulators NAME=PID,..] [--clients 32]
//!               [--ops 400] [--confirmations 200]
//! bench webhooks --api URL --moto URL [--clients 32] [--latency-bookings 100]
//!               [--burst-bookings 1000] [--drain-secs 120]
//! ```

mod client;
mod contention;
mod cpu;
mod flash;
mod model;
mod rng;
mod startup;
mod trace;
mod webhooks;

use std::collections::HashMap;
use std::process::ExitCode;
use std::str::FromStr;

const USAGE: &str = "usage: bench startup [options] BASELINE=PATH NAME=PATH.. | bench contention --api URL --moto URL --log FILE [options] | bench flash --api URL --moto URL --trace FILE [options] | bench model --segments FILE [options] | bench cpu --api URL --moto URL --server-pid PID [options] | bench webhooks --api URL --moto URL [options] (see the top of infra/bench/src/main.rs)";

/// `--key value` options and positional arguments; nothing more is needed.
pub struct Args {
    options: HashMap<String, String>,
    pub positional: Vec<String>,
}

impl Args {
    fn parse(args: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut options = HashMap::new();
        let mut positional = Vec::new();
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            match arg.strip_prefix("--") {
                Some(key) => {
                    let value = args
                        .next()
                        .ok_or_else(|| format!("--{key} needs a value"))?;
                    options.insert(key.to_owned(), value);
                }
                None => positional.push(arg),
            }
        }
        Ok(Self {
            options,
            positional,
        })
    }

    /// The option's value, or `default` when it is absent.
    pub fn get<T: FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        match self.options.get(key) {
            Some(value) => value
                .parse()
                .map_err(|_| format!("--{key}: cannot parse {value:?}")),
            None => Ok(default),
        }
    }

    pub fn required(&self, key: &str) -> Result<&str, String> {
        self.options
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| format!("--{key} is required\n{USAGE}"))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1);
    let command = argv.next().unwrap_or_default();
    let result = match Args::parse(argv) {
        Ok(args) => match command.as_str() {
            "startup" => startup::run(&args).await,
            "contention" => contention::run(&args).await,
            "flash" => flash::run(&args).await,
            "model" => model::run(&args).await,
            "cpu" => cpu::run(&args).await,
            "webhooks" => webhooks::run(&args).await,
            _ => Err(USAGE.to_owned()),
        },
        Err(err) => Err(err),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("bench {command}: a correctness check FAILED (see above)");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("bench {command}: {err}");
            ExitCode::from(2)
        }
    }
}

/// The `q`-quantile (0..=1) of sorted values, nearest rank.
pub fn quantile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}
