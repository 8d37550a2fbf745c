//! Contention through the local stack's HTTP API (the dev server on DynamoDB
//! Local): many clients hold the same units or places at the same instant.
//! Correctness is asserted (no unit or place sold twice, availability agrees
//! with the winners); speed is only reported.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use crate::client::{Http, Reply};
use crate::{Args, quantile};

const GRID_UNITS: usize = 10;

struct Config {
    developer: String,
    users: usize,
    grid_rounds: usize,
    grid_clients: usize,
    open_rounds: usize,
    open_clients: usize,
    open_capacity: u64,
    purchase_clients: usize,
    purchase_capacity: u64,
}

pub(crate) struct User {
    pub(crate) token: String,
    refresh_token: String,
    role: String,
}

impl User {
    /// A new access token (they last 15 minutes; a long recording outlives
    /// one).
    pub(crate) async fn refresh(&mut self, api: &Http) -> Result<(), String> {
        let body = json!({ "refresh_token": self.refresh_token });
        let renewed = api
            .send(Method::POST, "/v1/auth/refresh", None, Some(&body))
            .await?
            .expect(200, "POST /v1/auth/refresh")?;
        *self = signed_in(&renewed.json)?;
        Ok(())
    }
}

fn signed_in(answer: &Value) -> Result<User, String> {
    let field = |name: &str| {
        answer[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no {name} in {answer}"))
    };
    Ok(User {
        token: field("access_token")?,
        refresh_token: field("refresh_token")?,
        role: answer["user"]["role"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    })
}

#[derive(Default)]
struct Stats {
    attempts: usize,
    holds: usize,
    conflicts: usize,
    errors: usize,
    error_samples: Vec<String>,
    latencies: Vec<Duration>,
    /// Wall time of the bursts (first request sent → last answer).
    busy: Duration,
    oversold: u64,
    failures: Vec<String>,
}

impl Stats {
    /// Counts one hold answer; the booking when it was a 201.
    fn tally<'a>(
        &mut self,
        reply: &'a Result<Reply, String>,
        conflict_code: &str,
    ) -> Option<&'a Value> {
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
                Some(&reply.json)
            }
            StatusCode::CONFLICT => {
                self.conflicts += 1;
                if reply.code() != conflict_code {
                    self.sample(format!("409 {} (counted as a conflict)", reply.code()));
                }
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
        self.sample(what);
    }

    fn sample(&mut self, what: String) {
        if self.error_samples.len() < 5 && !self.error_samples.contains(&what) {
            self.error_samples.push(what);
        }
    }

    fn ok(&self) -> bool {
        self.oversold == 0 && self.failures.is_empty()
    }
}

pub async fn run(args: &Args) -> Result<bool, String> {
    let api = Http::new(args.required("api")?)?;
    let moto = Http::new(args.required("moto")?)?;
    let log = args.required("log")?.to_owned();
    let config = Config {
        developer: args.get("developer", "bench-dev@example.com".to_owned())?,
        users: args.get("users", 20)?,
        grid_rounds: args.get("grid-rounds", 10)?,
        grid_clients: args.get("grid-clients", 200)?,
        open_rounds: args.get("open-rounds", 3)?,
        open_clients: args.get("open-clients", 300)?,
        open_capacity: args.get("open-capacity", 100)?,
        purchase_clients: args.get("purchase-clients", 200)?,
        purchase_capacity: args.get("purchase-capacity", 100)?,
    };
    if config.users == 0 {
        return Err("--users must be at least 1".into());
    }
    let limit = Duration::from_secs(args.get("timeout-secs", 900)?);
    tokio::time::timeout(limit, scenarios(&api, &moto, Path::new(&log), &config))
        .await
        .map_err(|_| format!("did not finish within {limit:?}"))?
}

async fn scenarios(api: &Http, moto: &Http, log: &Path, config: &Config) -> Result<bool, String> {
    // events-api and bookings-api may not be merged into the dev server yet.
    let probes = [
        (Method::POST, "/v1/events"),
        (Method::POST, "/v1/events/x/holds"),
        (Method::GET, "/v1/events/x/availability"),
    ];
    for (method, path) in probes {
        let body = (method == Method::POST).then(|| json!({}));
        let probe = api.send(method.clone(), path, None, body.as_ref()).await?;
        if probe.status == StatusCode::NOT_FOUND && probe.code() == "ROUTE_NOT_FOUND" {
            println!(
                "Contention: SKIPPED, the dev server does not serve {method} {path} yet (404 ROUTE_NOT_FOUND)"
            );
            return Ok(true);
        }
    }

    let started = Instant::now();
    let developer = sign_in(api, moto, &config.developer).await?;
    if developer.role != "developer" {
        return Err(format!(
            "{} signed in as {:?}, not developer: is BOOTSTRAP_DEVELOPER_EMAIL set?",
            config.developer, developer.role
        ));
    }
    let nonce = unix_secs();
    let mut users = Vec::with_capacity(config.users);
    for i in 0..config.users {
        users.push(sign_in(api, moto, &format!("bench-{nonce}-{i}@example.com")).await?);
    }
    println!(
        "Contention: {} attendees and 1 developer signed in ({:.1} s)",
        users.len(),
        started.elapsed().as_secs_f64()
    );

    let units: Vec<Value> = (1..=GRID_UNITS)
        .map(|i| json!({ "id": format!("T{i}"), "label": format!("Table {i}"), "seats": 4, "price_cents": 10_000 }))
        .collect();
    let grid_event = create_event(
        api,
        &developer,
        "Bench grid",
        json!({ "mode": "grid", "units": units }),
    )
    .await?;
    let grid = grid_scenario(api, &users, &grid_event, config).await?;

    let layout = json!({ "mode": "open", "capacity": config.open_capacity, "price_cents": 2_500 });
    let open_event = create_event(api, &developer, "Bench open", layout).await?;
    let open = open_scenario(api, &users, &open_event, config).await?;

    let layout =
        json!({ "mode": "open", "capacity": config.purchase_capacity, "price_cents": 4_200 });
    let purchase_event = create_event(api, &developer, "Bench purchase", layout).await?;
    let purchase = purchase_scenario(api, &users, &purchase_event, config).await?;

    // The dev server writes each log line as it happens; give the last ones a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let capacity = consumed_capacity(log)?;
    print(
        &format!(
            "Scenario A: grid, {GRID_UNITS} units, {} clients × {} rounds, each holding 2 overlapping units",
            config.grid_clients, config.grid_rounds
        ),
        &grid,
        HOLDS,
        capacity.get(&grid_event),
    );
    print(
        &format!(
            "Scenario B: open, capacity {}, {} clients × {} rounds, each holding 1 place",
            config.open_capacity, config.open_clients, config.open_rounds
        ),
        &open,
        HOLDS,
        capacity.get(&open_event),
    );
    print(
        &format!(
            "Scenario C: purchase, capacity {}, {} buyers at once, each: hold 1 place → checkout → pay (fake Stripe → signed webhook) → tickets",
            config.purchase_capacity, config.purchase_clients
        ),
        &purchase,
        PURCHASES,
        capacity.get(&purchase_event),
    );
    Ok(grid.ok() && open.ok() && purchase.ok())
}

async fn grid_scenario(
    api: &Http,
    users: &[User],
    event: &str,
    config: &Config,
) -> Result<Stats, String> {
    let mut stats = Stats::default();
    let path = format!("/v1/events/{event}/holds");
    for round in 0..config.grid_rounds {
        // Neighbouring pairs (T1,T2), (T2,T3), ..: every pair overlaps two others.
        let asked: Vec<(usize, Vec<String>)> = (0..config.grid_clients)
            .map(|i| {
                let first = (i + round) % (GRID_UNITS - 1) + 1;
                (
                    i % users.len(),
                    vec![format!("T{first}"), format!("T{}", first + 1)],
                )
            })
            .collect();
        let bodies = asked
            .iter()
            .map(|(user, units)| (*user, json!({ "units": units })))
            .collect();
        let (replies, elapsed) = burst(api, &path, users, bodies).await;
        stats.busy += elapsed;

        let mut winners = Vec::new();
        let mut claims: BTreeMap<String, u64> = BTreeMap::new();
        for ((user, units), reply) in asked.iter().zip(&replies) {
            let Some(booking) = stats.tally(reply, "UNITS_UNAVAILABLE") else {
                continue;
            };
            let held: Vec<String> = booking["units"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|u| u.as_str().map(str::to_owned))
                .collect();
            if &held != units || booking["status"] != "held" {
                stats
                    .failures
                    .push(format!("round {round}: asked for {units:?}, got {booking}"));
            }
            for unit in held {
                *claims.entry(unit).or_default() += 1;
            }
            winners.push((*user, booking["id"].as_str().unwrap_or_default().to_owned()));
        }
        let oversold: u64 = claims.values().map(|n| n - 1).sum();
        stats.oversold += oversold;
        if oversold > 0 {
            stats.failures.push(format!(
                "round {round}: units held by more than one winner: {claims:?}"
            ));
        }
        let expected: BTreeMap<String, String> = claims
            .keys()
            .map(|u| (u.clone(), "held".to_owned()))
            .collect();
        let shown = grid_taken(api, event).await?;
        if shown != expected {
            stats.failures.push(format!(
                "round {round}: availability shows {shown:?}, the winners hold {expected:?}"
            ));
        }
        release(api, users, &winners, &mut stats.failures).await;
        let after = grid_taken(api, event).await?;
        if !after.is_empty() {
            stats.failures.push(format!(
                "round {round}: after releasing every hold, still taken: {after:?}"
            ));
        }
        println!(
            "  grid round {round:>2}: {} held, {} answered, {:.0} ms",
            winners.len(),
            replies.len(),
            elapsed.as_secs_f64() * 1e3
        );
    }
    Ok(stats)
}

async fn open_scenario(
    api: &Http,
    users: &[User],
    event: &str,
    config: &Config,
) -> Result<Stats, String> {
    let mut stats = Stats::default();
    let path = format!("/v1/events/{event}/holds");
    let capacity = config.open_capacity;
    for round in 0..config.open_rounds {
        let bodies: Vec<(usize, Value)> = (0..config.open_clients)
            .map(|i| (i % users.len(), json!({ "quantity": 1 })))
            .collect();
        let owners: Vec<usize> = bodies.iter().map(|(user, _)| *user).collect();
        let (replies, elapsed) = burst(api, &path, users, bodies).await;
        stats.busy += elapsed;

        let mut winners = Vec::new();
        let mut sold = 0;
        for (user, reply) in owners.iter().zip(&replies) {
            let Some(booking) = stats.tally(reply, "SOLD_OUT") else {
                continue;
            };
            sold += booking["quantity"].as_u64().unwrap_or(0);
            winners.push((*user, booking["id"].as_str().unwrap_or_default().to_owned()));
        }
        let oversold = sold.saturating_sub(capacity);
        stats.oversold += oversold;
        if sold != capacity {
            stats.failures.push(format!(
                "round {round}: {sold} places held, capacity {capacity}"
            ));
        }
        let remaining = open_remaining(api, event, capacity).await?;
        if remaining != capacity.saturating_sub(sold) {
            stats.failures.push(format!(
                "round {round}: availability says {remaining} remaining after {sold} held"
            ));
        }
        release(api, users, &winners, &mut stats.failures).await;
        let after = open_remaining(api, event, capacity).await?;
        if after != capacity {
            stats.failures.push(format!(
                "round {round}: {after} remaining after releasing every hold, not {capacity}"
            ));
        }
        println!(
            "  open round {round:>2}: {sold} held, {} answered, remaining {remaining}, {:.0} ms",
            replies.len(),
            elapsed.as_secs_f64() * 1e3
        );
    }
    Ok(stats)
}

/// What one scenario counts: a hold request, or a whole purchase.
struct Noun {
    one: &'static str,
    many: &'static str,
    done: &'static str,
    /// Which answers the latency figures cover.
    timed: &'static str,
}

const HOLDS: Noun = Noun {
    one: "hold request",
    many: "holds",
    done: "held (201)",
    timed: "every hold request",
};

const PURCHASES: Noun = Noun {
    one: "purchase flow",
    many: "purchases",
    done: "ticketed",
    timed: "every ticketed purchase, hold sent to tickets received",
};

/// One buyer's whole purchase, timed from the hold to the tickets.
enum Flow {
    Ticketed {
        elapsed: Duration,
        booking_id: String,
    },
    SoldOut,
}

async fn purchase_scenario(
    api: &Http,
    users: &[User],
    event: &str,
    config: &Config,
) -> Result<Stats, String> {
    let mut stats = Stats::default();
    let count = config.purchase_clients;
    let gate = Arc::new(Barrier::new(count + 1));
    let mut tasks = JoinSet::new();
    for i in 0..count {
        let (api, token, event, gate) = (
            api.clone(),
            users[i % users.len()].token.clone(),
            event.to_owned(),
            gate.clone(),
        );
        tasks.spawn(async move {
            gate.wait().await;
            purchase(&api, &token, &event).await
        });
    }
    gate.wait().await;
    let started = Instant::now();
    let mut ticketed = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        stats.attempts += 1;
        match joined.map_err(|e| e.to_string()).and_then(|flow| flow) {
            Ok(Flow::Ticketed {
                elapsed,
                booking_id,
            }) => {
                stats.holds += 1;
                stats.latencies.push(elapsed);
                ticketed.push(booking_id);
            }
            Ok(Flow::SoldOut) => stats.conflicts += 1,
            Err(err) => stats.error(err),
        }
    }
    stats.busy = started.elapsed();
    let capacity = config.purchase_capacity;
    let sold = ticketed.len() as u64;
    stats.oversold = sold.saturating_sub(capacity);
    if sold != capacity.min(count as u64) {
        stats
            .failures
            .push(format!("{sold} purchases ticketed, capacity {capacity}"));
    }
    let remaining = open_remaining(api, event, capacity).await?;
    if remaining != capacity.saturating_sub(sold) {
        stats.failures.push(format!(
            "availability says {remaining} remaining after {sold} sold"
        ));
    }
    println!(
        "  purchase burst: {sold} ticketed, {} sold out, {} errors, {:.0} ms",
        stats.conflicts,
        stats.errors,
        stats.busy.as_secs_f64() * 1e3
    );
    Ok(stats)
}

/// How often a buyer comes back to a busy checkout (Stripe's 25
/// PaymentIntents/s, in the dev server's fake, meet 200 buyers at once).
const CHECKOUT_RETRIES: usize = 20;

/// Hold → checkout → "the customer paid" (the fake Stripe delivers the
/// signed webhook to the dev server) → the booking's tickets.
async fn purchase(api: &Http, token: &str, event: &str) -> Result<Flow, String> {
    let started = Instant::now();
    let path = format!("/v1/events/{event}/holds");
    let held = api
        .send(
            Method::POST,
            &path,
            Some(token),
            Some(&json!({ "quantity": 1 })),
        )
        .await?;
    if held.status == StatusCode::CONFLICT && held.code() == "SOLD_OUT" {
        return Ok(Flow::SoldOut);
    }
    let booking_id = held.expect(201, &path)?.json["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    pay(api, token, &booking_id).await?;
    let path = format!("/v1/bookings/{booking_id}/tickets");
    let tickets = api
        .send(Method::GET, &path, Some(token), None)
        .await?
        .expect(200, &path)?;
    let count = tickets.json["items"].as_array().map_or(0, Vec::len);
    if count != 1 {
        return Err(format!("{path}: {count} tickets for one place"));
    }
    Ok(Flow::Ticketed {
        elapsed: started.elapsed(),
        booking_id,
    })
}

/// Checkout (coming back after `retry-after` while payments are busy) →
/// "the customer paid": the fake Stripe delivers the signed webhook, which
/// must answer 200.
pub(crate) async fn pay(api: &Http, token: &str, booking_id: &str) -> Result<(), String> {
    let path = format!("/v1/bookings/{booking_id}/checkout");
    // Over Stripe's rate limit, checkout answers PAYMENTS_BUSY while the
    // hold stands: a real client comes back after `retry-after`.
    let mut checkout = api
        .send(Method::POST, &path, Some(token), Some(&json!({})))
        .await?;
    for _ in 0..CHECKOUT_RETRIES {
        if checkout.code() != "PAYMENTS_BUSY" {
            break;
        }
        let wait = checkout.retry_after.unwrap_or(1);
        tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
        checkout = api
            .send(Method::POST, &path, Some(token), Some(&json!({})))
            .await?;
    }
    let checkout = checkout.expect(200, &path)?;
    let intent = checkout.json["payment_intent_id"]
        .as_str()
        .unwrap_or_default();
    let path = format!("/dev/stripe/payment_intents/{intent}/succeed");
    let paid = api
        .send(Method::POST, &path, None, None)
        .await?
        .expect(200, &path)?;
    if paid.json["webhook_status"] != 200 {
        return Err(format!(
            "{path}: the webhook answered {}",
            paid.json["webhook_status"]
        ));
    }
    Ok(())
}

/// Sends every hold at the same instant (all tasks wait at a barrier); the
/// replies in request order and the wall time from release to the last answer.
pub(crate) async fn burst(
    api: &Http,
    path: &str,
    users: &[User],
    bodies: Vec<(usize, Value)>,
) -> (Vec<Result<Reply, String>>, Duration) {
    let count = bodies.len();
    let gate = Arc::new(Barrier::new(count + 1));
    let mut tasks = JoinSet::new();
    for (index, (user, body)) in bodies.into_iter().enumerate() {
        let (api, path, token, gate) = (
            api.clone(),
            path.to_owned(),
            users[user].token.clone(),
            gate.clone(),
        );
        tasks.spawn(async move {
            gate.wait().await;
            (
                index,
                api.send(Method::POST, &path, Some(&token), Some(&body))
                    .await,
            )
        });
    }
    gate.wait().await;
    let started = Instant::now();
    let mut replies: Vec<Result<Reply, String>> = (0..count)
        .map(|_| Err("the task failed".to_owned()))
        .collect();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((index, reply)) = joined {
            replies[index] = reply;
        }
    }
    (replies, started.elapsed())
}

/// Releases holds by their owners, all at once.
pub(crate) async fn release(
    api: &Http,
    users: &[User],
    holds: &[(usize, String)],
    failures: &mut Vec<String>,
) {
    let mut tasks = JoinSet::new();
    for (user, id) in holds {
        let (api, token, path) = (
            api.clone(),
            users[*user].token.clone(),
            format!("/v1/bookings/{id}"),
        );
        tasks.spawn(async move { api.send(Method::DELETE, &path, Some(&token), None).await });
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(reply))
                if reply.status == StatusCode::OK && reply.json["status"] == "cancelled" => {}
            Ok(Ok(reply)) => failures.push(format!("release: {} {}", reply.status, reply.json)),
            Ok(Err(err)) => failures.push(format!("release: {err}")),
            Err(err) => failures.push(format!("release: {err}")),
        }
    }
}

pub(crate) async fn availability(api: &Http, event: &str) -> Result<(String, Reply), String> {
    let path = format!("/v1/events/{event}/availability");
    let reply = api.send(Method::GET, &path, None, None).await?;
    let what = format!("GET {path}");
    Ok((what.clone(), reply.expect(200, &what)?))
}

/// Units of a grid event that are not available, with their state.
pub(crate) async fn grid_taken(
    api: &Http,
    event: &str,
) -> Result<BTreeMap<String, String>, String> {
    let (what, reply) = availability(api, event).await?;
    let units = match (&reply.json["mode"], reply.json["units"].as_array()) {
        (mode, Some(units)) if mode == "grid" => units,
        _ => return Err(format!("{what}: not a grid answer: {}", reply.json)),
    };
    Ok(units
        .iter()
        .filter(|u| u["state"] != "available")
        .map(|u| {
            (
                u["id"].as_str().unwrap_or("?").to_owned(),
                u["state"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect())
}

pub(crate) async fn open_remaining(api: &Http, event: &str, capacity: u64) -> Result<u64, String> {
    let (what, reply) = availability(api, event).await?;
    match (
        &reply.json["mode"],
        reply.json["capacity"].as_u64(),
        reply.json["remaining"].as_u64(),
    ) {
        (mode, Some(c), Some(remaining)) if mode == "open" && c == capacity => Ok(remaining),
        _ => Err(format!(
            "{what}: expected an open answer with capacity {capacity}: {}",
            reply.json
        )),
    }
}

/// Magic-link sign-in; the link is read back from moto's SES.
pub(crate) async fn sign_in(api: &Http, moto: &Http, email: &str) -> Result<User, String> {
    let body = json!({ "email": email });
    api.send(Method::POST, "/v1/auth/magic-link", None, Some(&body))
        .await?
        .expect(202, "POST /v1/auth/magic-link")?;
    let mut token = None;
    for _ in 0..50 {
        let mail = moto
            .send(Method::GET, "/moto-api/data.json", None, None)
            .await?
            .expect(200, "moto data.json")?;
        token = mail.json["ses"]["Message"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| {
                m["destinations"]["ToAddresses"]
                    .as_array()
                    .is_some_and(|to| to.iter().any(|a| a == email))
            })
            .filter_map(|m| m["body"].as_str().and_then(link_token))
            .next_back();
        if token.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let token = token.ok_or_else(|| format!("no sign-in mail for {email} in moto's SES"))?;
    let verified = api
        .send(
            Method::POST,
            "/v1/auth/magic-link/verify",
            None,
            Some(&json!({ "token": token })),
        )
        .await?
        .expect(200, "POST /v1/auth/magic-link/verify")?;
    signed_in(&verified.json)
}

/// The token of the last `/auth/verify?token=` link in a mail body.
fn link_token(body: &str) -> Option<String> {
    const LINK: &str = "/auth/verify?token=";
    let start = body.rfind(LINK)? + LINK.len();
    let token: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (token.len() >= 43).then_some(token)
}

/// A grid of `seats` in at most `max_units` units `S0`.. (the domain caps a
/// layout's units), seats spread evenly: each unit's seats, and the layout.
pub(crate) fn grid_layout(seats: u64, max_units: u64) -> (HashMap<String, u64>, Value) {
    let units = seats.min(max_units).max(1);
    let (base, extra) = (seats / units, seats % units);
    let per_unit: HashMap<String, u64> = (0..units)
        .map(|i| (format!("S{i}"), base + u64::from(i < extra)))
        .collect();
    let layout_units: Vec<Value> = (0..units)
        .map(|i| {
            let id = format!("S{i}");
            json!({ "id": id, "label": id, "seats": per_unit[&id], "price_cents": 2_500 })
        })
        .collect();
    (per_unit, json!({ "mode": "grid", "units": layout_units }))
}

const PUBLISH_RETRIES: usize = 5;

/// A published event starting in 30 days.
pub(crate) async fn create_event(
    api: &Http,
    developer: &User,
    title: &str,
    layout: Value,
) -> Result<String, String> {
    let starts = unix_secs() + 30 * 86_400;
    let body = json!({
        "title": title, "description": "Created by make bench.", "venue": "Bench Hall",
        "starts_at": rfc3339(starts), "ends_at": rfc3339(starts + 3 * 3_600), "timezone": "UTC",
        "tags": ["bench"], "currency": "usd", "max_per_booking": 4, "layout": layout
    });
    let created = api
        .send(
            Method::POST,
            "/v1/events",
            Some(&developer.token),
            Some(&body),
        )
        .await?
        .expect(201, "POST /v1/events")?;
    let id = created.json["id"]
        .as_str()
        .ok_or("POST /v1/events: no id")?
        .to_owned();
    // A big layout is a big item: its first write may outlast the SDK's
    // timeout on this machine, which answers 503 "retry shortly".
    let publish = format!("/v1/events/{id}/publish");
    let mut published = api
        .send(Method::POST, &publish, Some(&developer.token), None)
        .await?;
    for _ in 0..PUBLISH_RETRIES {
        if published.status != StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        published = api
            .send(Method::POST, &publish, Some(&developer.token), None)
            .await?;
    }
    published.expect(200, &publish)?;
    Ok(id)
}

/// Per event id: how many "hold created" lines, and the capacity units of
/// those and of its "payment confirmed" lines (a purchase's confirmation).
fn consumed_capacity(log: &Path) -> Result<HashMap<String, (usize, f64)>, String> {
    let text =
        std::fs::read_to_string(log).map_err(|e| format!("reading {}: {e}", log.display()))?;
    let mut by_event: HashMap<String, (usize, f64)> = HashMap::new();
    for line in text.lines() {
        let Ok(entry) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let fields = &entry["fields"];
        let hold = match fields["message"].as_str() {
            Some("hold created") => true,
            Some("payment confirmed") => false,
            _ => continue,
        };
        if let (Some(event), Some(units)) = (
            fields["event_id"].as_str(),
            fields["consumed_capacity"].as_f64(),
        ) {
            let total = by_event.entry(event.to_owned()).or_default();
            total.0 += usize::from(hold);
            total.1 += units;
        }
    }
    Ok(by_event)
}

fn print(title: &str, stats: &Stats, noun: Noun, capacity: Option<&(usize, f64)>) {
    let ms = |d: Option<&Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
    let mut latencies = stats.latencies.clone();
    latencies.sort_unstable();
    let seconds = stats.busy.as_secs_f64().max(1e-9);
    println!("\n{title}");
    println!(
        "  {}s   {} attempted, {} {}, {} conflicts (409), {} errors",
        noun.one, stats.attempts, stats.holds, noun.done, stats.conflicts, stats.errors
    );
    println!(
        "  throughput      {:.0} attempted {many}/s, {:.0} successful {many}/s ({:.2} s of bursts)",
        stats.attempts as f64 / seconds,
        stats.holds as f64 / seconds,
        seconds,
        many = noun.many,
    );
    println!(
        "  latency         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({})",
        ms(quantile(&latencies, 0.5).as_ref()),
        ms(quantile(&latencies, 0.99).as_ref()),
        ms(latencies.last()),
        noun.timed
    );
    println!("  oversold        {}", stats.oversold);
    match capacity {
        Some(&(lines, total)) => println!(
            "  DynamoDB        {:.2} capacity units per successful {} ({lines} \"hold created\" and their \"payment confirmed\" log lines)",
            total / lines as f64,
            noun.one
        ),
        None => println!("  DynamoDB        n/a (no \"hold created\" log line for this event)"),
    }
    for sample in &stats.error_samples {
        println!("  error sample    {sample}");
    }
    println!(
        "  checks          {}",
        if stats.ok() { "PASS" } else { "FAIL" }
    );
    for failure in &stats.failures {
        println!("  FAIL {failure}");
    }
}

pub(crate) fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// `2030-01-31T18:00:00Z` (days to civil date: H. Hinnant's algorithm).
fn rfc3339(unix: u64) -> String {
    let (days, secs) = ((unix / 86_400) as i64, unix % 86_400);
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs / 60 % 60,
        secs % 60
    )
}
