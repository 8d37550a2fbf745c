//! Start-up: spawn each bootstrap against a fake Lambda Runtime API served
//! here, hand it one invocation and time process spawn → its response.
//! Peak RSS is the process's VmHWM read right after the response, before it
//! is killed. Runs are interleaved (every function once per round) after one
//! discarded warm-up round, so background load spreads evenly. Each run gets
//! a Runtime API on a port of its own (nothing left over from an earlier
//! process can take its invocation) and an environment of only what Lambda
//! sets plus `--env-file` (nothing from the calling shell).

use std::fs::OpenOptions;
use std::path::{Path as FsPath, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::sync::oneshot;

use crate::{Args, quantile};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
/// What an API function is asked on its first invocation.
const PROBE_PATH: &str = "/v1/health/live";

struct Function {
    name: String,
    path: PathBuf,
    trigger: Trigger,
}

/// What invokes a function in AWS, and so which event it gets here.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Trigger {
    /// API Gateway: an HTTP API request.
    Http,
    /// An SQS event source: a batch of messages (empty here).
    Queue,
    /// EventBridge Scheduler: the every-minute sweep's input.
    Schedule,
}

impl Trigger {
    fn parse(name: &str, triggers: &str) -> Result<Self, String> {
        let named = triggers
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .find(|(function, _)| *function == name);
        match named.map(|(_, trigger)| trigger) {
            None => Ok(Self::Http),
            Some("sqs") => Ok(Self::Queue),
            Some("schedule") => Ok(Self::Schedule),
            Some(other) => Err(format!(
                "{name}: unknown trigger {other:?} (sqs or schedule)"
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Response,
    FunctionError,
    InitError,
}

struct Outcome {
    kind: Kind,
    at: Instant,
    body: Bytes,
}

/// The one invocation the fake Runtime API hands out next.
#[derive(Default)]
struct Slot {
    request_id: String,
    function_name: String,
    event: Option<Bytes>,
    next_at: Option<Instant>,
    done: Option<oneshot::Sender<Outcome>>,
}

type Shared = Arc<Mutex<Slot>>;

struct Sample {
    total: Duration,
    init: Duration,
    hwm_kib: u64,
    status: String,
}

pub async fn run(args: &Args) -> Result<bool, String> {
    let runs: usize = args.get("runs", 15)?;
    let timeout = Duration::from_secs(args.get("timeout-secs", 10)?);
    let log_dir = PathBuf::from(args.get("log-dir", ".".to_owned())?);
    let max_ratio: f64 = args.get("max-ratio", 2.0)?;
    let rss_limit_mib: f64 = args.get("rss-limit-mib", 16.0)?;
    let triggers: String = args.get("triggers", String::new())?;
    let pause = Duration::from_millis(args.get("pause-ms", 25)?);
    let env = match args.get("env-file", String::new())?.as_str() {
        "" => Vec::new(),
        file => env_file(FsPath::new(file))?,
    };
    let functions = args
        .positional
        .iter()
        .map(|spec| {
            let (name, path) = spec
                .split_once('=')
                .ok_or_else(|| format!("expected NAME=PATH, got {spec:?}"))?;
            Ok(Function {
                name: name.to_owned(),
                path: PathBuf::from(path),
                trigger: Trigger::parse(name, &triggers)?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    if functions.len() < 2 || runs == 0 {
        return Err("need --runs ≥ 1, the baseline and at least one function".into());
    }

    println!(
        "Start-up: {} functions, {runs} runs each (+1 warm-up), interleaved, fake Runtime API on 127.0.0.1",
        functions.len()
    );
    let mut samples: Vec<Vec<Sample>> = functions.iter().map(|_| Vec::new()).collect();
    let mut failures: Vec<Vec<String>> = functions.iter().map(|_| Vec::new()).collect();
    let mut sequence = 0u64;
    for round in 0..=runs {
        for (i, function) in functions.iter().enumerate() {
            sequence += 1;
            let log = log_dir.join(format!("startup-{}.log", function.name));
            // Let the previous process's teardown finish before the next spawn.
            tokio::time::sleep(pause).await;
            match invoke_once(function, &env, sequence, timeout, &log).await {
                Ok(sample) if round > 0 => samples[i].push(sample),
                Ok(_) => {}
                Err(err) => {
                    failures[i].push(format!("run {round}: {err} (log: {})", log.display()))
                }
            }
        }
    }

    report(&functions, &samples, &failures, max_ratio, rss_limit_mib);
    Ok(failures.iter().all(Vec::is_empty))
}

fn report(
    functions: &[Function],
    samples: &[Vec<Sample>],
    failures: &[Vec<String>],
    max_ratio: f64,
    rss_limit_mib: f64,
) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!();
    println!(
        "{:<14} {:>8} | {:>8} {:>7} {:>7} | {:>8} {:>8} | {:>7} {:>7} | {:>6} | verdict (time ≤ {max_ratio}× baseline, RSS ≤ {rss_limit_mib} MiB)",
        "function",
        "size MiB",
        "1st resp",
        "min",
        "max",
        "init",
        "invoke",
        "RSS p50",
        "RSS max",
        "status"
    );
    println!(
        "{:<14} {:>8} | {:>8} {:>7} {:>7} | {:>8} {:>8} | {:>7} {:>7} |",
        "", "", "ms p50", "ms", "ms", "ms p50", "ms p50", "MiB", "MiB"
    );
    let mut baseline_ms = None;
    for (i, function) in functions.iter().enumerate() {
        let size = std::fs::metadata(&function.path)
            .map(|m| m.len() as f64 / 1048576.0)
            .unwrap_or(f64::NAN);
        let runs = &samples[i];
        let mut total: Vec<Duration> = runs.iter().map(|s| s.total).collect();
        let mut init: Vec<Duration> = runs.iter().map(|s| s.init).collect();
        let mut invoke: Vec<Duration> = runs
            .iter()
            .map(|s| s.total.saturating_sub(s.init))
            .collect();
        let mut hwm: Vec<u64> = runs.iter().map(|s| s.hwm_kib).collect();
        total.sort_unstable();
        init.sort_unstable();
        invoke.sort_unstable();
        hwm.sort_unstable();
        let mut statuses: Vec<&str> = runs.iter().map(|s| s.status.as_str()).collect();
        statuses.sort_unstable();
        statuses.dedup();
        let (Some(median), Some(min), Some(max)) =
            (quantile(&total, 0.5), total.first(), total.last())
        else {
            println!(
                "{:<14} {size:>8.1} | no successful run | FAIL",
                function.name
            );
            continue;
        };
        let rss_max = mib(*hwm.last().unwrap_or(&0));
        let verdict = match baseline_ms {
            None => {
                baseline_ms = Some(ms(median));
                "baseline".to_owned()
            }
            Some(base) => {
                let ratio = ms(median) / base;
                let mut misses = Vec::new();
                if ratio > max_ratio {
                    misses.push(format!("time {ratio:.2}×"));
                }
                if rss_max > rss_limit_mib {
                    misses.push(format!("RSS {rss_max:.1} MiB"));
                }
                if misses.is_empty() {
                    format!("PASS ({ratio:.2}×)")
                } else {
                    format!("MISS ({})", misses.join(", "))
                }
            }
        };
        println!(
            "{:<14} {size:>8.1} | {:>8.2} {:>7.2} {:>7.2} | {:>8.2} {:>8.2} | {:>7.1} {:>7.1} | {:>6} | {verdict}{}",
            function.name,
            ms(median),
            ms(*min),
            ms(*max),
            ms(quantile(&init, 0.5).unwrap_or_default()),
            ms(quantile(&invoke, 0.5).unwrap_or_default()),
            mib(quantile(&hwm, 0.5).unwrap_or_default()),
            rss_max,
            statuses.join(","),
            if failures[i].is_empty() {
                ""
            } else {
                "; FAILED runs below"
            },
        );
    }
    println!(
        "\n1st resp = process spawn → the response body received by the fake Runtime API; init = spawn → first GET /next;\ninvoke = GET /next → response; RSS = VmHWM right after the response; status = the function's HTTP status for GET {PROBE_PATH}."
    );
    for (function, failed) in functions.iter().zip(failures) {
        for failure in failed {
            println!("FAIL {}: {failure}", function.name);
        }
    }
}

async fn invoke_once(
    function: &Function,
    env: &[(String, String)],
    sequence: u64,
    timeout: Duration,
    log: &FsPath,
) -> Result<Sample, String> {
    let request_id = format!("00000000-0000-4000-8000-{sequence:012x}");
    let (done, outcome) = oneshot::channel();
    let shared: Shared = Arc::new(Mutex::new(Slot {
        event: Some(Bytes::from(event(function, &request_id).to_string())),
        request_id,
        function_name: function.name.clone(),
        next_at: None,
        done: Some(done),
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("binding the fake Runtime API: {e}"))?;
    let runtime_api = listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .to_string();
    let server = tokio::spawn(axum::serve(listener, router(shared.clone())).into_future());
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("opening {}: {e}", log.display()))?;
    let stderr = log.try_clone().map_err(|e| e.to_string())?;
    let mut command = Command::new(&function.path);
    command
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("LANG", "en_US.UTF-8")
        .env("TZ", ":UTC")
        .env("AWS_LAMBDA_RUNTIME_API", &runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", &function.name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", function.name),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_REGION", REGION)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(stderr);

    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("spawning {}: {e}", function.path.display()))?;
    let outcome = tokio::time::timeout(timeout, outcome).await;
    let hwm_kib = proc_status_kib(child.id(), "VmHWM:");
    let exited = child.try_wait().ok().flatten();
    let _ = child.kill();
    let _ = child.wait();
    server.abort();
    let next_at = shared.lock().map_err(|_| "poisoned")?.next_at;

    let outcome = match (outcome, exited) {
        (Ok(Ok(outcome)), _) => outcome,
        (_, Some(status)) => return Err(format!("exited ({status}) before answering")),
        _ => return Err(format!("no answer within {timeout:?}")),
    };
    let body = String::from_utf8_lossy(&outcome.body);
    let status = match outcome.kind {
        Kind::Response if function.trigger == Trigger::Http => {
            serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["statusCode"].as_u64())
                .map_or_else(|| "?".to_owned(), |code| code.to_string())
        }
        Kind::Response => "ok".to_owned(),
        kind => return Err(format!("{kind:?}: {body}")),
    };
    Ok(Sample {
        total: outcome.at - started,
        init: next_at.map_or(Duration::ZERO, |at| at - started),
        hwm_kib: hwm_kib.ok_or("could not read VmHWM (exited already?)")?,
        status,
    })
}

/// `KEY=VALUE` lines; blank lines and `#` comments are skipped.
fn env_file(path: &FsPath) -> Result<Vec<(String, String)>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect())
}

/// A `kB` line of /proc/<pid>/status.
fn proc_status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Each function gets what its real trigger sends: API functions an API
/// Gateway HTTP API (payload 2.0) `GET /v1/health/live`, queue workers an
/// empty SQS batch, the scheduler the sweep's input (template.yaml).
fn event(function: &Function, request_id: &str) -> serde_json::Value {
    match function.trigger {
        Trigger::Http => {}
        Trigger::Queue => return json!({ "Records": [] }),
        Trigger::Schedule => return json!({ "sweep": {} }),
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let host = "bench.execute-api.us-east-1.amazonaws.com";
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": PROBE_PATH,
        "rawQueryString": "",
        "headers": {
            "accept": "*/*", "host": host, "user-agent": "bench", "x-forwarded-for": "127.0.0.1",
            "x-forwarded-port": "443", "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": ACCOUNT, "apiId": "bench", "domainName": host, "domainPrefix": "bench",
            "http": { "method": "GET", "path": PROBE_PATH, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench" },
            "requestId": request_id, "routeKey": "$default", "stage": "$default",
            "time": "01/Jan/2030:00:00:00 +0000", "timeEpoch": now_ms
        },
        "isBase64Encoded": false
    })
}

/// The Runtime API endpoints lambda_runtime uses.
fn router(shared: Shared) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            post(function_error),
        )
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .fallback(unexpected)
        .with_state(shared)
}

async fn next(State(shared): State<Shared>) -> Response {
    let delivery = shared.lock().ok().and_then(|mut slot| {
        let event = slot.event.take()?;
        slot.next_at = Some(Instant::now());
        Some((slot.request_id.clone(), slot.function_name.clone(), event))
    });
    let Some((request_id, name, event)) = delivery else {
        // One invocation per process: like a frozen sandbox, the next one never comes.
        return std::future::pending().await;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let deadline_ms = (now + Duration::from_secs(10)).as_millis().to_string();
    let trace = format!(
        "Root=1-{:08x}-{:024x};Parent={:016x};Sampled=0",
        now.as_secs(),
        now.as_nanos(),
        now.as_nanos() as u64
    );
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::HeaderName::from_static("lambda-runtime-aws-request-id"),
                request_id,
            ),
            (
                header::HeaderName::from_static("lambda-runtime-deadline-ms"),
                deadline_ms,
            ),
            (
                header::HeaderName::from_static("lambda-runtime-invoked-function-arn"),
                format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"),
            ),
            (
                header::HeaderName::from_static("lambda-runtime-trace-id"),
                trace,
            ),
        ],
        event,
    )
        .into_response()
}

async fn response(State(shared): State<Shared>, Path(id): Path<String>, body: Bytes) -> Response {
    finish(&shared, Some(&id), Kind::Response, body)
}

async fn function_error(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    finish(&shared, Some(&id), Kind::FunctionError, body)
}

async fn init_error(State(shared): State<Shared>, body: Bytes) -> Response {
    finish(&shared, None, Kind::InitError, body)
}

fn finish(shared: &Shared, id: Option<&str>, kind: Kind, body: Bytes) -> Response {
    let at = Instant::now();
    let Ok(mut slot) = shared.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if id.is_some_and(|id| id != slot.request_id) {
        return StatusCode::BAD_REQUEST.into_response();
    }
    if let Some(done) = slot.done.take() {
        let _ = done.send(Outcome { kind, at, body });
    }
    (StatusCode::ACCEPTED, axum::Json(json!({ "status": "OK" }))).into_response()
}

async fn unexpected(uri: Uri) -> StatusCode {
    eprintln!("fake Runtime API: unexpected request {uri}");
    StatusCode::NOT_FOUND
}
