//! `bench cpu`: CPU time per operation of our own process, the dev server
//! (every function's routes, the fake Stripe and the local IAM proxy in one
//! process; the proxy's threads, named `iam-proxy`, and the fake Stripe's,
//! `fake-stripe`, are counted apart: neither exists on AWS; so is the
//! `change-stream` thread, webhook-events reading the table's stream,
//! a function of its own on AWS), and
//! of each emulator, read from /proc before and after many requests of one
//! kind, `--clients` at a time. The emulators' columns say what is theirs,
//! so the first column is what our code costs (docs/benchmarks.md).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::Args;
use crate::client::{CHECKOUT_INTERVAL, Http, Reply};
use crate::contention::{create_event, sign_in, unix_secs};
use crate::startup::schedstat;

/// Requests of each kind sent, unmeasured, before its measurement.
const WARM_UP: usize = 20;
/// How long the idle reading lasts.
const IDLE: Duration = Duration::from_secs(3);

/// What the issue asks of our process per operation, in ms.
const HOLD_TARGET_MS: f64 = 1.0;
const CONFIRMATION_TARGET_MS: f64 = 2.0;

/// CPU time of the processes measured, at one instant.
#[derive(Clone, Default)]
struct Cpu {
    ours: Duration,
    proxy: Duration,
    stripe: Duration,
    stream: Duration,
    emulators: Vec<Duration>,
}

struct Probe {
    server: u32,
    emulators: Vec<(String, u32)>,
}

impl Probe {
    fn read(&self) -> Result<Cpu, String> {
        let Server {
            ours,
            proxy,
            stripe,
            stream,
        } = server_cpu(self.server)?;
        let emulators = self
            .emulators
            .iter()
            .map(|(_, pid)| tree_cpu(*pid))
            .collect();
        Ok(Cpu {
            ours,
            proxy,
            stripe,
            stream,
            emulators,
        })
    }
}

/// One measured kind of request.
struct Row {
    name: &'static str,
    requests: usize,
    /// Wall time between the readings: the idle row's rate times this is
    /// the pollers' share of the row.
    wall: Duration,
    before: Cpu,
    after: Cpu,
    target_ms: Option<f64>,
}

pub async fn run(args: &Args) -> Result<bool, String> {
    let api = Http::new(args.required("api")?)?;
    let moto = Http::new(args.required("moto")?)?;
    let probe = Probe {
        server: args
            .required("server-pid")?
            .parse()
            .map_err(|_| "--server-pid: not a pid")?,
        emulators: emulator_pids(args.get("emulators", String::new())?)?,
    };
    let clients: usize = args.get("clients", 32)?;
    let ops: usize = args.get("ops", 400)?;
    let paid: usize = args.get("confirmations", 200)?.min(ops);

    let developer = sign_in(&api, &moto, "bench-dev@example.com").await?;
    let nonce = unix_secs();
    let mut users = Vec::new();
    for i in 0..clients {
        users.push(sign_in(&api, &moto, &format!("cpu-{nonce}-{i}@example.com")).await?);
    }
    let layout = json!({ "mode": "open", "capacity": 1_000_000, "price_cents": 2_500 });
    let event = create_event(&api, &developer, "CPU per operation", layout).await?;
    println!(
        "cpu: {ops} requests per kind, {clients} at a time (checkouts {} per second), one open event of 1,000,000 places",
        1_000 / CHECKOUT_INTERVAL.as_millis()
    );

    let mut rows = vec![idle(&probe).await?];
    let health = vec![(Method::GET, "/v1/health/live".to_owned(), None, None); ops];
    rows.push(
        measure(&api, &probe, "GET /v1/health/live", health, clients, None)
            .await?
            .0,
    );
    let path = format!("/v1/events/{event}");
    let reads = vec![(Method::GET, path, None, None); ops];
    rows.push(
        measure(&api, &probe, "GET /v1/events/{id}", reads, clients, None)
            .await?
            .0,
    );

    let holds_path = format!("/v1/events/{event}/holds");
    let hold = |i: usize| {
        let token = users[i % users.len()].token.clone();
        (
            Method::POST,
            holds_path.clone(),
            Some(token),
            Some(json!({ "quantity": 1 })),
        )
    };
    let requests: Vec<_> = (0..ops).map(hold).collect();
    let (row, replies) = measure(
        &api,
        &probe,
        "POST /v1/events/{id}/holds",
        requests,
        clients,
        Some(HOLD_TARGET_MS),
    )
    .await?;
    rows.push(row);
    let bookings: Vec<(String, String)> = replies
        .iter()
        .enumerate()
        .map(|(i, reply)| {
            let id = reply.json["id"].as_str().unwrap_or_default().to_owned();
            (users[i % users.len()].token.clone(), id)
        })
        .collect();
    let (to_pay, to_release) = bookings.split_at(paid);

    let (row, intents) = checkouts(&api, &probe, to_pay).await?;
    rows.push(row);
    let succeed: Vec<_> = intents
        .iter()
        .map(|intent| {
            let path = format!("/dev/stripe/payment_intents/{intent}/succeed");
            (Method::POST, path, None, None)
        })
        .collect();
    let (row, replies) = measure(
        &api,
        &probe,
        "confirmation (webhook)",
        succeed,
        clients,
        Some(CONFIRMATION_TARGET_MS),
    )
    .await?;
    if let Some(bad) = replies.iter().find(|r| r.json["webhook_status"] != 200) {
        return Err(format!("a confirmation's webhook answered {}", bad.json));
    }
    rows.push(row);
    let releases: Vec<_> = to_release
        .iter()
        .map(|(token, id)| {
            let path = format!("/v1/bookings/{id}");
            (Method::DELETE, path, Some(token.clone()), None)
        })
        .collect();
    if !releases.is_empty() {
        rows.push(
            measure(
                &api,
                &probe,
                "DELETE /v1/bookings/{id}",
                releases,
                clients,
                None,
            )
            .await?
            .0,
        );
    }
    print(&rows, &probe);
    Ok(true)
}

type Request = (Method, String, Option<String>, Option<serde_json::Value>);

/// Warms up with the first requests (idempotent kinds) or none (those that
/// change state: each request is sent exactly once), then sends them all,
/// `clients` at a time, between two CPU readings. Every answer must be a
/// 2xx.
async fn measure(
    api: &Http,
    probe: &Probe,
    name: &'static str,
    requests: Vec<Request>,
    clients: usize,
    target_ms: Option<f64>,
) -> Result<(Row, Vec<Reply>), String> {
    if requests[0].0 == Method::GET {
        send_all(
            api,
            requests[..WARM_UP.min(requests.len())].to_vec(),
            clients,
        )
        .await?;
    }
    let count = requests.len();
    let started = Instant::now();
    let before = probe.read()?;
    let replies = send_all(api, requests, clients).await?;
    let after = probe.read()?;
    let row = Row {
        name,
        requests: count,
        wall: started.elapsed(),
        before,
        after,
        target_ms,
    };
    Ok((row, replies))
}

async fn send_all(
    api: &Http,
    requests: Vec<Request>,
    clients: usize,
) -> Result<Vec<Reply>, String> {
    let gate = Arc::new(Semaphore::new(clients.max(1)));
    let mut tasks = JoinSet::new();
    for (index, (method, path, token, body)) in requests.into_iter().enumerate() {
        let (api, gate) = (api.clone(), gate.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let reply = api
                .send(method, &path, token.as_deref(), body.as_ref())
                .await;
            (index, path, reply)
        });
    }
    let mut replies: Vec<Option<Reply>> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (index, path, reply) = joined.map_err(|e| e.to_string())?;
        let reply = reply?;
        if !reply.status.is_success() {
            return Err(format!("{path}: {} {}", reply.status, reply.json));
        }
        if replies.len() <= index {
            replies.resize_with(index + 1, || None);
        }
        replies[index] = Some(reply);
    }
    Ok(replies.into_iter().flatten().collect())
}

/// Checkouts one at a time, below Stripe's rate, measured as one kind;
/// their PaymentIntents.
async fn checkouts(
    api: &Http,
    probe: &Probe,
    bookings: &[(String, String)],
) -> Result<(Row, Vec<String>), String> {
    let mut intents = Vec::new();
    let started = Instant::now();
    let before = probe.read()?;
    for (token, id) in bookings {
        let path = format!("/v1/bookings/{id}/checkout");
        let checkout = api
            .send(Method::POST, &path, Some(token), Some(&json!({})))
            .await?
            .expect(200, &path)?;
        let intent = checkout.json["payment_intent_id"]
            .as_str()
            .ok_or_else(|| format!("{path}: no payment_intent_id: {}", checkout.json))?;
        intents.push(intent.to_owned());
        tokio::time::sleep(CHECKOUT_INTERVAL).await;
    }
    let after = probe.read()?;
    let row = Row {
        name: "POST /v1/bookings/{id}/checkout",
        requests: bookings.len(),
        wall: started.elapsed(),
        before,
        after,
        target_ms: None,
    };
    Ok((row, intents))
}

/// What the processes spend doing nothing for a while (background pollers),
/// per second: the floor under every row, most of all the paced checkouts.
async fn idle(probe: &Probe) -> Result<Row, String> {
    let before = probe.read()?;
    tokio::time::sleep(IDLE).await;
    let after = probe.read()?;
    Ok(Row {
        name: "idle, per second",
        requests: IDLE.as_secs() as usize,
        wall: IDLE,
        before,
        after,
        target_ms: None,
    })
}

fn print(rows: &[Row], probe: &Probe) {
    let per_op = |before: Duration, after: Duration, requests: usize| {
        after.saturating_sub(before).as_secs_f64() * 1_000.0 / requests.max(1) as f64
    };
    let mut header =
        "| operation | requests | wall, s | ours, ms | iam-proxy (local only), ms | fake Stripe (local only), ms | webhook-events (stream), ms |"
            .to_owned();
    for (name, _) in &probe.emulators {
        header.push_str(&format!(" {name}, ms |"));
    }
    header.push_str(" target (ours) |");
    println!("{header}");
    println!(
        "{}",
        header.replace(|c: char| c != '|', "-").replace("||", "|-|")
    );
    for row in rows {
        let ours = per_op(row.before.ours, row.after.ours, row.requests);
        let mut line = format!(
            "| {} | {} | {:.1} | {ours:.2} | {:.2} | {:.2} | {:.2} |",
            row.name,
            row.requests,
            row.wall.as_secs_f64(),
            per_op(row.before.proxy, row.after.proxy, row.requests),
            per_op(row.before.stripe, row.after.stripe, row.requests),
            per_op(row.before.stream, row.after.stream, row.requests)
        );
        for (before, after) in row.before.emulators.iter().zip(&row.after.emulators) {
            line.push_str(&format!(" {:.2} |", per_op(*before, *after, row.requests)));
        }
        match row.target_ms {
            Some(target) if ours <= target => line.push_str(&format!(" PASS (≤ {target} ms) |")),
            Some(target) => line.push_str(&format!(" MISS (≤ {target} ms) |")),
            None => line.push_str(" |"),
        }
        println!("{line}");
    }
}

/// `dynamodb=PID,moto=PID`.
fn emulator_pids(list: String) -> Result<Vec<(String, u32)>, String> {
    list.split(',')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, pid) = part
                .split_once('=')
                .ok_or_else(|| format!("--emulators: {part:?} is not NAME=PID"))?;
            let pid = pid
                .parse()
                .map_err(|_| format!("--emulators: {pid:?} is not a pid"))?;
            Ok((name.to_owned(), pid))
        })
        .collect()
}

/// The dev server's CPU time so far, by whose threads spent it.
#[derive(Default)]
struct Server {
    ours: Duration,
    /// Threads named `iam-proxy`.
    proxy: Duration,
    /// Threads named `fake-stripe` (dev_server::on_own_threads).
    stripe: Duration,
    /// The thread named `change-stream` (webhook-events).
    stream: Duration,
}

fn server_cpu(pid: u32) -> Result<Server, String> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map_err(|e| format!("/proc/{pid}/task: {e} (is the dev server running?)"))?;
    let mut server = Server::default();
    for task in tasks.flatten() {
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let time = on_cpu(&task.path());
        match name.trim() {
            "iam-proxy" => server.proxy += time,
            "fake-stripe" => server.stripe += time,
            "change-stream" => server.stream += time,
            _ => server.ours += time,
        }
    }
    Ok(server)
}

/// A process and all its descendants (an emulator's launcher and the JVM
/// or Python it starts).
fn tree_cpu(pid: u32) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    let mut total = Duration::ZERO;
    for task in tasks.flatten() {
        total += on_cpu(&task.path());
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
            total += tree_cpu(child);
        }
    }
    total
}

/// A thread's time on a CPU; a thread that exits while it is read counts
/// nothing.
fn on_cpu(task: &Path) -> Duration {
    schedstat(task).map_or(Duration::ZERO, |(on_cpu, _)| on_cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulators_are_named_pids() {
        assert_eq!(
            emulator_pids("dynamodb=12,moto=34".into()).unwrap(),
            [("dynamodb".to_owned(), 12), ("moto".to_owned(), 34)]
        );
        assert!(emulator_pids("dynamodb".into()).is_err());
        assert!(emulator_pids(String::new()).unwrap().is_empty());
    }

    #[test]
    fn this_process_has_spent_cpu_time() {
        let pid = std::process::id();
        let busy: u64 = (0..2_000_000u64).map(std::hint::black_box).sum();
        assert!(busy > 0);
        assert!(server_cpu(pid).unwrap().ours > Duration::ZERO);
        assert!(tree_cpu(pid) > Duration::ZERO);
    }
}
