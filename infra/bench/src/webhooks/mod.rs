//! `bench webhooks`: how long a booking's confirmation takes to reach a
//! subscribed endpoint (the table's stream → webhook-events → SQS →
//! webhook-deliverer → a receiver in this process), one booking at a time
//! and in a burst of confirmations, and whether every delivery arrived,
//! once, correctly signed (docs/benchmarks.md, "Part 6").

mod receiver;
mod tally;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use crate::client::{CHECKOUT_INTERVAL, Http};
use crate::contention::{User, create_event, sign_in, unix_secs};
use crate::{Args, quantile};
use receiver::{Arrival, Receiver};
use tally::{CONFIRMED, Confirmed, Tally, strays, tally};

/// How long one booking of the one-at-a-time phase waits for its delivery
/// before the next is made (a miss is counted at the end, after the drain).
const ONE_DELIVERY_WAIT: Duration = Duration::from_secs(30);

pub async fn run(args: &Args) -> Result<bool, String> {
    let api = Http::new(args.required("api")?)?;
    let moto = Http::new(args.required("moto")?)?;
    let clients: usize = args.get("clients", 32)?;
    let one_by_one: usize = args.get("latency-bookings", 100)?;
    let burst: usize = args.get("burst-bookings", 1_000)?;
    let drain = Duration::from_secs(args.get("drain-secs", 120)?);

    let receiver = Receiver::start().await?;
    let developer = sign_in(&api, &moto, "bench-dev@example.com").await?;
    let endpoint = register(&api, &developer, &receiver).await?;
    let nonce = unix_secs();
    let mut users = Vec::new();
    for i in 0..clients.max(1) {
        users.push(sign_in(&api, &moto, &format!("webhooks-{nonce}-{i}@example.com")).await?);
    }
    let layout = json!({ "mode": "open", "capacity": 1_000_000, "price_cents": 2_500 });
    let event = create_event(&api, &developer, "Webhook delivery", layout).await?;
    println!(
        "webhooks: a standard endpoint for {CONFIRMED} at {}; {one_by_one} bookings one at a time, then {burst} confirmed {clients} at a time",
        receiver.url
    );

    let shop = Shop {
        api: &api,
        event: &event,
        users: &users,
    };
    let single = shop.one_at_a_time(one_by_one, &receiver).await?;
    let confirmations = shop.burst(burst, clients).await?;
    let every = |arrivals: &[Arrival]| {
        tally(&single, arrivals).missing.is_empty()
            && tally(&confirmations, arrivals).missing.is_empty()
    };
    let drained = receiver.wait_until(every, drain).await;
    let path = format!("/v1/admin/webhooks/{endpoint}");
    api.send(Method::DELETE, &path, Some(&developer.token), None)
        .await?
        .expect(204, &path)?;

    let arrivals = receiver.arrivals();
    let single_tally = tally(&single, &arrivals);
    let burst_tally = tally(&confirmations, &arrivals);
    let all: Vec<Confirmed> = single.iter().chain(&confirmations).cloned().collect();
    let bad_signatures = arrivals.iter().filter(|a| !a.signed).count();
    print_one_at_a_time(&single, &single_tally);
    print_burst(&confirmations, &burst_tally);
    println!(
        "  all: {} POSTs received, {} not a delivery of these confirmations, {bad_signatures} with a bad signature{}",
        arrivals.len(),
        strays(&all, &arrivals),
        if drained {
            String::new()
        } else {
            format!(" (still missing after a {}-s drain)", drain.as_secs())
        }
    );
    let missing = single_tally.missing.len() + burst_tally.missing.len();
    let ok = missing == 0 && bad_signatures == 0;
    if !ok {
        println!(
            "  FAILED: {missing} missing (e.g. {:?}), {bad_signatures} bad signatures",
            single_tally
                .missing
                .iter()
                .chain(&burst_tally.missing)
                .take(3)
                .collect::<Vec<_>>()
        );
    }
    println!(
        "webhooks: latency p50 {} ms p99 {} ms; burst {burst} delivered in {} s, missing {}, duplicates {}",
        ms(quantile(&single_tally.latencies, 0.5)),
        ms(quantile(&single_tally.latencies, 0.99)),
        burst_tally
            .span
            .map_or("-".to_owned(), |(first, last)| format!(
                "{:.1}",
                (last - first).as_secs_f64()
            )),
        burst_tally.missing.len(),
        burst_tally.duplicates,
    );
    Ok(ok)
}

/// Registers the receiver for `booking.confirmed`; the endpoint's id.
async fn register(api: &Http, admin: &User, receiver: &Receiver) -> Result<String, String> {
    let body = json!({
        "url": receiver.url, "events": [CONFIRMED], "format": "standard",
        "description": "make bench: webhook delivery"
    });
    let created = api
        .send(
            Method::POST,
            "/v1/admin/webhooks",
            Some(&admin.token),
            Some(&body),
        )
        .await?
        .expect(201, "POST /v1/admin/webhooks")?;
    let field = |name: &str| {
        created.json[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("POST /v1/admin/webhooks: no {name} in {}", created.json))
    };
    receiver.expect_secret(field("secret")?);
    field("id")
}

/// Bookings of one open event, by the signed-in attendees in turn.
struct Shop<'a> {
    api: &'a Http,
    event: &'a str,
    users: &'a [User],
}

impl Shop<'_> {
    fn user(&self, i: usize) -> &User {
        &self.users[i % self.users.len()]
    }

    /// Hold, checkout and confirmation of one booking after another, each
    /// waiting for its delivery: the latency with nothing else in flight.
    async fn one_at_a_time(
        &self,
        count: usize,
        receiver: &Receiver,
    ) -> Result<Vec<Confirmed>, String> {
        let mut confirmed = Vec::new();
        for i in 0..count {
            let user = self.user(i);
            let booking = hold(self.api, self.event, &user.token).await?;
            let intent = checkout(self.api, user, &booking).await?;
            tokio::time::sleep(CHECKOUT_INTERVAL).await;
            let done = confirm(self.api.clone(), booking, intent).await?;
            let ours = |arrivals: &[Arrival]| {
                arrivals
                    .iter()
                    .any(|a| a.booking_id.as_deref() == Some(&done.booking_id))
            };
            receiver.wait_until(ours, ONE_DELIVERY_WAIT).await;
            confirmed.push(done);
        }
        Ok(confirmed)
    }

    /// `count` holds and their checkouts made ahead, then every
    /// confirmation at once, `clients` at a time.
    async fn burst(&self, count: usize, clients: usize) -> Result<Vec<Confirmed>, String> {
        let holders: Vec<(Http, String, String)> = (0..count)
            .map(|i| {
                (
                    self.api.clone(),
                    self.event.to_owned(),
                    self.user(i).token.clone(),
                )
            })
            .collect();
        let bookings = concurrently(holders, clients, |(api, event, token)| async move {
            hold(&api, &event, &token).await
        })
        .await?;
        let started = Instant::now();
        let mut pace = tokio::time::interval(CHECKOUT_INTERVAL);
        pace.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut paid = Vec::new();
        for (i, booking) in bookings.into_iter().enumerate() {
            pace.tick().await;
            let intent = checkout(self.api, self.user(i), &booking).await?;
            paid.push((self.api.clone(), booking, intent));
        }
        println!(
            "  burst: {count} holds and checkouts made ahead (checkouts {:.1} s, at most {} per second)",
            started.elapsed().as_secs_f64(),
            1_000 / CHECKOUT_INTERVAL.as_millis()
        );
        concurrently(paid, clients, |(api, booking, intent)| {
            confirm(api, booking, intent)
        })
        .await
    }
}

/// A hold of one place; the booking's id.
async fn hold(api: &Http, event: &str, token: &str) -> Result<String, String> {
    let path = format!("/v1/events/{event}/holds");
    let held = api
        .send(
            Method::POST,
            &path,
            Some(token),
            Some(&json!({ "quantity": 1 })),
        )
        .await?
        .expect(201, &path)?;
    held.json["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{path}: no id in {}", held.json))
}

/// The booking's PaymentIntent.
async fn checkout(api: &Http, user: &User, booking: &str) -> Result<String, String> {
    let path = format!("/v1/bookings/{booking}/checkout");
    let checkout = api
        .send(Method::POST, &path, Some(&user.token), Some(&json!({})))
        .await?
        .expect(200, &path)?;
    checkout.json["payment_intent_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{path}: no payment_intent_id in {}", checkout.json))
}

/// "The customer paid": the fake Stripe delivers `payment_intent.succeeded`
/// to our webhook and answers once it has answered.
async fn confirm(api: Http, booking_id: String, intent: String) -> Result<Confirmed, String> {
    let path = format!("/dev/stripe/payment_intents/{intent}/succeed");
    let sent = Instant::now();
    let reply = api
        .send(Method::POST, &path, None, None)
        .await?
        .expect(200, &path)?;
    let answered = Instant::now();
    if reply.json["webhook_status"] != 200 {
        return Err(format!("{path}: our webhook answered {}", reply.json));
    }
    Ok(Confirmed {
        booking_id,
        sent,
        answered,
    })
}

/// Each input through `each`, `clients` at a time; the results in the
/// inputs' order, or the first error.
async fn concurrently<I, T, F, Fut>(
    inputs: Vec<I>,
    clients: usize,
    each: F,
) -> Result<Vec<T>, String>
where
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<T, String>> + Send + 'static,
{
    let gate = Arc::new(Semaphore::new(clients.max(1)));
    let mut tasks = JoinSet::new();
    for (index, input) in inputs.into_iter().enumerate() {
        let gate = gate.clone();
        let work = each(input);
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await;
            (index, work.await)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (index, result) = joined.map_err(|e| e.to_string())?;
        results.push((index, result?));
    }
    results.sort_by_key(|(index, _)| *index);
    Ok(results.into_iter().map(|(_, result)| result).collect())
}

fn ms(value: Option<Duration>) -> String {
    value.map_or("-".to_owned(), |d| {
        format!("{:.0}", d.as_secs_f64() * 1_000.0)
    })
}

/// p50, p90, p99, max of sorted durations.
fn spread(sorted: &[Duration]) -> String {
    format!(
        "p50 {} / p90 {} / p99 {} / max {} ms",
        ms(quantile(sorted, 0.5)),
        ms(quantile(sorted, 0.9)),
        ms(quantile(sorted, 0.99)),
        ms(sorted.last().copied())
    )
}

/// The `succeed` calls' own durations, sorted.
fn answer_times(confirmed: &[Confirmed]) -> Vec<Duration> {
    let mut times: Vec<_> = confirmed.iter().map(|c| c.answered - c.sent).collect();
    times.sort();
    times
}

fn print_one_at_a_time(confirmed: &[Confirmed], tally: &Tally) {
    println!(
        "  one at a time: {} of {} delivered, {} duplicates",
        tally.delivered,
        confirmed.len(),
        tally.duplicates
    );
    println!(
        "    latency (arrival - confirmation answered): {}",
        spread(&tally.latencies)
    );
    println!(
        "    from the confirmation sent (bound from above): {}",
        spread(&tally.latencies_from_sent)
    );
    println!(
        "    confirmation answers: {}",
        spread(&answer_times(confirmed))
    );
}

fn print_burst(confirmed: &[Confirmed], tally: &Tally) {
    let first_sent = confirmed.iter().map(|c| c.sent).min();
    let last_answered = confirmed.iter().map(|c| c.answered).max();
    if let (Some(first), Some(last)) = (first_sent, last_answered) {
        let wall = (last - first).as_secs_f64();
        println!(
            "  burst: {} confirmations in {wall:.1} s ({:.0} per second), answers {}",
            confirmed.len(),
            confirmed.len() as f64 / wall.max(f64::EPSILON),
            spread(&answer_times(confirmed))
        );
    }
    println!(
        "    deliveries: {} of {} arrived, {} duplicates, {} missing",
        tally.delivered,
        confirmed.len(),
        tally.duplicates,
        tally.missing.len()
    );
    if let (Some((first, last)), Some(start)) = (tally.span, first_sent) {
        let span = (last - first).as_secs_f64();
        println!(
            "    first to last delivery {span:.1} s ({:.0} per second); first confirmation sent to last delivery {:.1} s",
            tally.delivered as f64 / span.max(f64::EPSILON),
            (last - start).as_secs_f64()
        );
    }
    println!("    latency: {}", spread(&tally.latencies));
}
