//! Start-up: spawn each bootstrap against a fake Lambda Runtime API served
//! here, hand it one invocation and time process spawn → its response.
//! Peak RSS is the process's VmHWM read right after the response, before it
//! is killed. Runs are interleaved (every function once per round) after one
//! discarded warm-up round, so background load spreads evenly. Each run gets
//! a Runtime API on a port of its own (nothing left over from an earlier
//! process can take its invocation) and an environment of only what Lambda
//! sets plus `--env-file` (nothing from the calling shell).
//!
//! CPU time of each phase is the sum of the process's threads' time on CPU
//! (/proc/<pid>/task/*/schedstat) at the first `GET /next` and at the
//! response; the same file gives the time they waited for a CPU. Lambda runs
//! init at full CPU but a 256 MB function's invoke phase on a fraction of a
//! vCPU, so the first response is also reported as it would take there:
//! both phases without their wait for a CPU (this machine's load), the
//! invoke's CPU time stretched to `--invoke-cpu-share` (0.15).

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
/// What an API function is asked on its first invocation, unless
/// `--probes NAME=PATH` names another path for it.
const PROBE_PATH: &str = "/v1/health/live";

struct Function {
    name: String,
    path: PathBuf,
    trigger: Trigger,
    /// The HTTP path of the first (and only) request, for `Trigger::Http`.
    probe: String,
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
        match named(triggers, name) {
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
    /// The process's CPU time when its response arrived.
    cpu: Option<CpuTime>,
    body: Bytes,
}

/// The one invocation the fake Runtime API hands out next.
#[derive(Default)]
struct Slot {
    request_id: String,
    function_name: String,
    event: Option<Bytes>,
    /// The function's process, once spawned (for its CPU time).
    pid: Option<u32>,
    next_at: Option<Instant>,
    /// The process's CPU time at its first `GET /next`.
    next_cpu: Option<CpuTime>,
    done: Option<oneshot::Sender<Outcome>>,
}

type Shared = Arc<Mutex<Slot>>;

/// What the threads of a process have spent so far: time on a CPU, and
/// time runnable but waiting for one.
#[derive(Debug, Clone, Copy, Default)]
struct CpuTime {
    on_cpu: Duration,
    waiting: Duration,
}

impl CpuTime {
    fn since(self, earlier: Self) -> Self {
        Self {
            on_cpu: self.on_cpu.saturating_sub(earlier.on_cpu),
            waiting: self.waiting.saturating_sub(earlier.waiting),
        }
    }
}

struct Sample {
    total: Duration,
    init: Duration,
    init_cpu: CpuTime,
    invoke_cpu: CpuTime,
    hwm_kib: u64,
    status: String,
}

impl Sample {
    fn invoke(&self) -> Duration {
        self.total.saturating_sub(self.init)
    }

    /// The first response as Lambda would time it: init at full CPU, the
    /// invoke on a `share` of one vCPU. Each phase is its CPU time at that
    /// share plus its time off CPU (waiting for DynamoDB, the Runtime API);
    /// neither keeps the time it waited for a CPU here (this machine's load).
    fn first_response_at_share(&self, share: f64) -> Duration {
        let phase = |wall: Duration, cpu: CpuTime, share: f64| {
            wall.saturating_sub(cpu.on_cpu).saturating_sub(cpu.waiting) + cpu.on_cpu.div_f64(share)
        };
        phase(self.init, self.init_cpu, 1.0) + phase(self.invoke(), self.invoke_cpu, share)
    }
}

pub async fn run(args: &Args) -> Result<bool, String> {
    let runs: usize = args.get("runs", 15)?;
    let timeout = Duration::from_secs(args.get("timeout-secs", 10)?);
    let log_dir = PathBuf::from(args.get("log-dir", ".".to_owned())?);
    let max_ratio: f64 = args.get("max-ratio", 2.0)?;
    let rss_limit_mib: f64 = args.get("rss-limit-mib", 16.0)?;
    let triggers: String = args.get("triggers", String::new())?;
    let probes: String = args.get("probes", String::new())?;
    let share: f64 = args.get("invoke-cpu-share", 0.15)?;
    if !(share > 0.0 && share <= 1.0) {
        return Err("--invoke-cpu-share must be in (0, 1]".into());
    }
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
                probe: named(&probes, name).unwrap_or(PROBE_PATH).to_owned(),
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

    report(
        &functions,
        &samples,
        &failures,
        max_ratio,
        rss_limit_mib,
        share,
    );
    Ok(failures.iter().all(Vec::is_empty))
}

/// The value of `name` in a `NAME=VALUE,..` list.
fn named<'a>(list: &'a str, name: &str) -> Option<&'a str> {
    list.split(',')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn report(
    functions: &[Function],
    samples: &[Vec<Sample>],
    failures: &[Vec<String>],
    max_ratio: f64,
    rss_limit_mib: f64,
    share: f64,
) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mib = |kib: u64| kib as f64 / 1024.0;
    let p50 = |mut values: Vec<Duration>| {
        values.sort_unstable();
        ms(quantile(&values, 0.5).unwrap_or_default())
    };
    println!();
    println!(
        "{:<22} {:>8} | {:>8} {:>7} {:>7} | {:>7} {:>7} | {:>7} {:>7} | {:>9} | {:>7} {:>7} | {:>6} | verdict (time ≤ {max_ratio}× baseline, RSS ≤ {rss_limit_mib} MiB)",
        "function",
        "size MiB",
        "1st resp",
        "min",
        "max",
        "init",
        "CPU",
        "invoke",
        "CPU",
        format!("at {share}"),
        "RSS p50",
        "RSS max",
        "status"
    );
    println!(
        "{:<22} {:>8} | {:>8} {:>7} {:>7} | {:>7} {:>7} | {:>7} {:>7} | {:>9} | {:>7} {:>7} |",
        "",
        "",
        "ms p50",
        "ms",
        "ms",
        "ms p50",
        "ms p50",
        "ms p50",
        "ms p50",
        "ms p50",
        "MiB",
        "MiB"
    );
    let mut baseline_ms = None;
    for (i, function) in functions.iter().enumerate() {
        let size = std::fs::metadata(&function.path)
            .map(|m| m.len() as f64 / 1048576.0)
            .unwrap_or(f64::NAN);
        let runs = &samples[i];
        let mut total: Vec<Duration> = runs.iter().map(|s| s.total).collect();
        let mut hwm: Vec<u64> = runs.iter().map(|s| s.hwm_kib).collect();
        total.sort_unstable();
        hwm.sort_unstable();
        let mut statuses: Vec<&str> = runs.iter().map(|s| s.status.as_str()).collect();
        statuses.sort_unstable();
        statuses.dedup();
        let (Some(median), Some(min), Some(max)) =
            (quantile(&total, 0.5), total.first(), total.last())
        else {
            println!(
                "{:<22} {size:>8.1} | no successful run | FAIL",
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
            "{:<22} {size:>8.1} | {:>8.2} {:>7.2} {:>7.2} | {:>7.2} {:>7.2} | {:>7.2} {:>7.2} | {:>9.2} | {:>7.1} {:>7.1} | {:>6} | {verdict}{}",
            function.name,
            ms(median),
            ms(*min),
            ms(*max),
            p50(runs.iter().map(|s| s.init).collect()),
            p50(runs.iter().map(|s| s.init_cpu.on_cpu).collect()),
            p50(runs.iter().map(Sample::invoke).collect()),
            p50(runs.iter().map(|s| s.invoke_cpu.on_cpu).collect()),
            p50(runs
                .iter()
                .map(|s| s.first_response_at_share(share))
                .collect()),
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
        "\nsize = the bootstrap as `sam build` ships it (built per package); 1st resp = process spawn → the response body\n\
         received by the fake Runtime API; init = spawn → first GET /next; invoke = GET /next → response; CPU = the\n\
         process's time on CPU in that phase (all threads); at {share} = the 1st response as Lambda would time it: init\n\
         at full CPU, the invoke's CPU time at {share} vCPU (its share at 256 MB), neither phase's wait for a CPU here;\n\
         RSS = VmHWM right after the response;\n\
         status = the function's HTTP status for its probe (GET {PROBE_PATH} unless named otherwise below)."
    );
    for function in functions {
        if function.trigger == Trigger::Http && function.probe != PROBE_PATH {
            println!("  {}: GET {}", function.name, function.probe);
        }
    }
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
        done: Some(done),
        ..Slot::default()
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
    shared.lock().map_err(|_| "poisoned")?.pid = Some(child.id());
    let outcome = tokio::time::timeout(timeout, outcome).await;
    let hwm_kib = proc_status_kib(child.id(), "VmHWM:");
    let exited = child.try_wait().ok().flatten();
    let _ = child.kill();
    let _ = child.wait();
    server.abort();
    let (next_at, next_cpu) = {
        let slot = shared.lock().map_err(|_| "poisoned")?;
        (slot.next_at, slot.next_cpu)
    };

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
    let (Some(next_cpu), Some(done_cpu)) = (next_cpu, outcome.cpu) else {
        return Err("could not read the process's CPU time (/proc/<pid>/task/*/schedstat)".into());
    };
    Ok(Sample {
        total: outcome.at - started,
        init: next_at.map_or(Duration::ZERO, |at| at - started),
        init_cpu: next_cpu,
        invoke_cpu: done_cpu.since(next_cpu),
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

/// The CPU time of every thread of a process so far (`schedstat`: time on
/// a CPU, and waiting on a run queue). A thread that exits while they are
/// read is left out, not an error.
fn cpu_time(pid: u32) -> Option<CpuTime> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = CpuTime::default();
    for (on_cpu, waiting) in tasks.flatten().filter_map(|task| schedstat(&task.path())) {
        total.on_cpu += on_cpu;
        total.waiting += waiting;
    }
    Some(total)
}

/// A thread's time on a CPU and waiting on a run queue: the first two
/// fields of `/proc/<pid>/task/<tid>/schedstat`, in ns. `None` once the
/// thread is gone.
pub(crate) fn schedstat(task: &std::path::Path) -> Option<(Duration, Duration)> {
    let line = std::fs::read_to_string(task.join("schedstat")).ok()?;
    let mut fields = line
        .split_whitespace()
        .map(|field| field.parse::<u64>().map(Duration::from_nanos));
    Some((fields.next()?.ok()?, fields.next()?.ok()?))
}

/// Each function gets what its real trigger sends: API functions an API
/// Gateway HTTP API (payload 2.0) `GET` of their probe path, queue workers
/// an empty SQS batch, the scheduler the sweep's input (template.yaml).
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
        "rawPath": function.probe,
        "rawQueryString": "",
        "headers": {
            "accept": "*/*", "host": host, "user-agent": "bench", "x-forwarded-for": "127.0.0.1",
            "x-forwarded-port": "443", "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": ACCOUNT, "apiId": "bench", "domainName": host, "domainPrefix": "bench",
            "http": { "method": "GET", "path": function.probe, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench" },
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
        slot.next_cpu = slot.pid.and_then(cpu_time);
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
        let cpu = slot.pid.and_then(cpu_time);
        let _ = done.send(Outcome {
            kind,
            at,
            cpu,
            body,
        });
    }
    (StatusCode::ACCEPTED, axum::Json(json!({ "status": "OK" }))).into_response()
}

async fn unexpected(uri: Uri) -> StatusCode {
    eprintln!("fake Runtime API: unexpected request {uri}");
    StatusCode::NOT_FOUND
}
