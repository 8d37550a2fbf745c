//! Recording for the model: real operations through the dev server (its
//! layer tracing, conflicts off), one at a time, so the trace lines
//! between an operation's start and its answer are that operation's. Per
//! event: availability reads, holds of 1–4 until sold out (or the time
//! budget ends), then a sample of confirmations (checkout → the fake
//! Stripe's succeed → webhook) and of releases (DELETE).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::Http;
use crate::contention::{User, availability, create_event, grid_layout, pay, sign_in, unix_secs};
use crate::rng::Rng;
use crate::trace::offset;

/// Grid buyers choose from availability read this many holds ago.
const GRID_REFRESH: usize = 50;

pub struct Settings {
    pub trace: PathBuf,
    pub open_places: u64,
    pub grid_seats: u64,
    pub grid_max_units: u64,
    /// Availability reads, confirmations and releases recorded per event.
    pub sample: usize,
    /// Recording time per event's holds.
    pub budget: Duration,
    /// Buyers the holds are spread over: each one's bookings share its
    /// `USERBOOKINGS#` key, so too few make that key hot in the replay.
    pub users: usize,
}

/// Trace byte ranges per kind of operation.
#[derive(Default)]
struct Ranges {
    holds: Vec<[u64; 2]>,
    browse: Vec<[u64; 2]>,
    confirm: Vec<[u64; 2]>,
    release: Vec<[u64; 2]>,
    seats: u64,
    /// `(owner, booking id)` of the successful holds.
    bookings: Vec<(usize, String)>,
}

enum Layout {
    Open,
    /// Seats per unit id.
    Grid(HashMap<String, u64>),
}

pub async fn record(api: &Http, moto: &Http, settings: &Settings) -> Result<Value, String> {
    let developer = sign_in(api, moto, "bench-dev@example.com").await?;
    let nonce = unix_secs();
    let mut users = Vec::new();
    for i in 0..settings.users.max(1) {
        users.push(sign_in(api, moto, &format!("model-{nonce}-{i}@example.com")).await?);
    }
    let layout = json!({ "mode": "open", "capacity": settings.open_places, "price_cents": 2_500 });
    let open = create_event(api, &developer, "Model open", layout).await?;
    let open = record_event(api, &mut users, &open, Layout::Open, settings).await?;

    let (seats, layout) = grid_layout(settings.grid_seats, settings.grid_max_units);
    let grid = create_event(api, &developer, "Model grid", layout).await?;
    let grid = record_event(api, &mut users, &grid, Layout::Grid(seats), settings).await?;
    Ok(super::segments_json(
        &settings.trace,
        vec![event_json("open", open), event_json("grid", grid)],
    ))
}

fn event_json(name: &str, ranges: Ranges) -> Value {
    json!({
        "name": name, "seats": ranges.seats, "successful_holds": ranges.bookings.len(),
        "holds": ranges.holds, "browse": ranges.browse,
        "confirm": ranges.confirm, "release": ranges.release,
    })
}

/// Runs `operation` and notes the trace lines it made under `kind`.
async fn traced<T>(
    trace: &Path,
    kind: &mut Vec<[u64; 2]>,
    operation: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    let from = offset(trace)?;
    let out = operation.await?;
    kind.push([from, offset(trace)?]);
    Ok(out)
}

async fn record_event(
    api: &Http,
    users: &mut [User],
    event: &str,
    layout: Layout,
    settings: &Settings,
) -> Result<Ranges, String> {
    for user in users.iter_mut() {
        user.refresh(api).await?;
    }
    let users = &*users;
    let trace = settings.trace.as_path();
    let mut ranges = Ranges::default();
    let mut rng = Rng::new(7);
    for _ in 0..settings.sample {
        traced(trace, &mut ranges.browse, availability(api, event)).await?;
    }
    let path = format!("/v1/events/{event}/holds");
    let started = Instant::now();
    let mut free: Vec<String> = Vec::new();
    let mut max_quantity = 4;
    let mut last_report = Instant::now();
    for attempt in 0usize.. {
        if started.elapsed() > settings.budget {
            println!(
                "  {event}: recording budget of {:?} reached",
                settings.budget
            );
            break;
        }
        let user = attempt % users.len();
        let body = match &layout {
            Layout::Open => json!({ "quantity": 1 + rng.below(max_quantity) }),
            Layout::Grid(_) => {
                if attempt % GRID_REFRESH == 0 {
                    free = free_units(api, event).await?;
                }
                if free.is_empty() {
                    break;
                }
                let wanted = (1 + rng.below(4) as usize).min(free.len());
                let mut chosen: Vec<String> = Vec::new();
                while chosen.len() < wanted {
                    let unit = &free[rng.below(free.len() as u64) as usize];
                    if !chosen.contains(unit) {
                        chosen.push(unit.clone());
                    }
                }
                json!({ "units": chosen })
            }
        };
        let token = users[user].token.as_str();
        let reply = traced(
            trace,
            &mut ranges.holds,
            api.send(Method::POST, &path, Some(token), Some(&body)),
        )
        .await?;
        match (reply.status, &layout) {
            (StatusCode::CREATED, Layout::Open) => {
                ranges.seats += body["quantity"].as_u64().unwrap_or(0);
            }
            (StatusCode::CREATED, Layout::Grid(seats)) => {
                for unit in body["units"].as_array().into_iter().flatten() {
                    ranges.seats += seats.get(unit.as_str().unwrap_or("")).copied().unwrap_or(0);
                }
            }
            (StatusCode::CONFLICT, Layout::Open) if reply.code() == "SOLD_OUT" => {
                max_quantity = body["quantity"].as_u64().unwrap_or(1) - 1;
                if max_quantity == 0 {
                    break;
                }
                continue;
            }
            (StatusCode::CONFLICT, Layout::Grid(_)) if reply.code() == "UNITS_UNAVAILABLE" => {
                continue;
            }
            (status, _) => return Err(format!("POST {path}: {status} {}", reply.json)),
        }
        ranges.bookings.push((
            user,
            reply.json["id"].as_str().unwrap_or_default().to_owned(),
        ));
        if last_report.elapsed() > Duration::from_secs(30) {
            last_report = Instant::now();
            println!(
                "  {event}: {} holds, {} seats in {:.0} s",
                ranges.bookings.len(),
                ranges.seats,
                started.elapsed().as_secs_f64()
            );
        }
    }
    println!(
        "  {event}: sold {} seats in {} holds ({} attempts) in {:.0} s",
        ranges.seats,
        ranges.bookings.len(),
        ranges.holds.len(),
        started.elapsed().as_secs_f64()
    );
    // Every other booking is confirmed, the ones between released.
    let stride = (ranges.bookings.len() / (2 * settings.sample).max(1)).max(1);
    let sampled: Vec<(usize, String)> = ranges.bookings.iter().step_by(stride).cloned().collect();
    for (i, (user, booking)) in sampled.iter().take(2 * settings.sample).enumerate() {
        let token = users[*user].token.as_str();
        if i % 2 == 0 {
            traced(trace, &mut ranges.confirm, pay(api, token, booking)).await?;
        } else {
            let path = format!("/v1/bookings/{booking}");
            let release = async {
                api.send(Method::DELETE, &path, Some(token), None)
                    .await?
                    .expect(200, &path)
            };
            traced(trace, &mut ranges.release, release).await?;
        }
    }
    Ok(ranges)
}

async fn free_units(api: &Http, event: &str) -> Result<Vec<String>, String> {
    let (what, reply) = availability(api, event).await?;
    let units = reply.json["units"]
        .as_array()
        .ok_or_else(|| format!("{what}: not a grid answer"))?;
    Ok(units
        .iter()
        .filter(|u| u["state"] == "available")
        .filter_map(|u| u["id"].as_str().map(str::to_owned))
        .collect())
}
