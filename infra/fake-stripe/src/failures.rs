//! Failure injection: what the next API calls (or a random share of them)
//! answer instead of the real thing. One lock over the plans, so under
//! concurrent requests exactly `n` calls fail.

use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How an API call fails.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// 500 `api_error`, before the endpoint runs: nothing happens and
    /// nothing is stored under the idempotency key.
    ServerError,
    /// 429 `rate_limit`, from Stripe's limiter in front of the idempotency
    /// layer: nothing happens, nothing is stored.
    RateLimited,
    /// The call is carried out (and stored under its idempotency key), then
    /// the answer waits this long: a client timeout trips while the effect
    /// stands, as when Stripe is slow. `Duration::MAX` never answers.
    Stall(Duration),
    /// The call is carried out, then the connection breaks before the
    /// answer arrives: the client sees a transport error.
    ConnectionDrop,
}

#[derive(Default)]
pub(crate) struct Failures {
    plans: Mutex<Plans>,
}

#[derive(Default)]
struct Plans {
    queued: Vec<Queued>,
    random: Option<Random>,
}

struct Queued {
    path_prefix: String,
    remaining: usize,
    failure: Failure,
}

struct Random {
    rng: StdRng,
    probability: f64,
    failures: Vec<Failure>,
}

impl Failures {
    pub fn queue(&self, path_prefix: &str, n: usize, failure: Failure) {
        let mut plans = self.plans.lock().unwrap();
        plans.queued.push(Queued {
            path_prefix: path_prefix.to_owned(),
            remaining: n,
            failure,
        });
    }

    pub fn randomly(&self, seed: Option<u64>, probability: f64, failures: Vec<Failure>) {
        let rng = seed.map_or_else(StdRng::from_os_rng, StdRng::seed_from_u64);
        self.plans.lock().unwrap().random = Some(Random {
            rng,
            probability: probability.clamp(0.0, 1.0),
            failures,
        });
    }

    pub fn clear(&self) {
        *self.plans.lock().unwrap() = Plans::default();
    }

    /// The failure for a call to `path`: the oldest queued plan that matches
    /// and has calls left, else a random draw.
    pub fn next(&self, path: &str) -> Option<Failure> {
        let mut plans = self.plans.lock().unwrap();
        if let Some(plan) = plans
            .queued
            .iter_mut()
            .find(|p| p.remaining > 0 && path.starts_with(&p.path_prefix))
        {
            plan.remaining -= 1;
            return Some(plan.failure.clone());
        }
        let random = plans.random.as_mut()?;
        if random.failures.is_empty() || !random.rng.random_bool(random.probability) {
            return None;
        }
        let pick = random.rng.random_range(0..random.failures.len());
        Some(random.failures[pick].clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_n_calls_fail_then_calls_pass() {
        let failures = Failures::default();
        failures.queue("/v1/", 2, Failure::ServerError);
        assert_eq!(failures.next("/v1/refunds"), Some(Failure::ServerError));
        assert_eq!(
            failures.next("/v1/payment_intents"),
            Some(Failure::ServerError)
        );
        assert_eq!(failures.next("/v1/refunds"), None);
    }

    #[test]
    fn a_plan_for_refunds_leaves_other_endpoints_alone() {
        let failures = Failures::default();
        failures.queue("/v1/refunds", 1, Failure::RateLimited);
        assert_eq!(failures.next("/v1/payment_intents"), None);
        assert_eq!(failures.next("/v1/refunds"), Some(Failure::RateLimited));
        assert_eq!(failures.next("/v1/refunds"), None);
    }

    #[test]
    fn plans_are_used_up_in_the_order_they_were_made() {
        let failures = Failures::default();
        failures.queue("/v1/", 1, Failure::RateLimited);
        failures.queue("/v1/", 1, Failure::ConnectionDrop);
        assert_eq!(failures.next("/v1/refunds"), Some(Failure::RateLimited));
        assert_eq!(failures.next("/v1/refunds"), Some(Failure::ConnectionDrop));
    }

    #[test]
    fn concurrent_calls_share_exactly_n_failures() {
        let failures = Failures::default();
        failures.queue("/v1/", 50, Failure::ServerError);
        let failed: usize = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        (0..25)
                            .filter(|_| failures.next("/v1/refunds").is_some())
                            .count()
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).sum()
        });
        assert_eq!(failed, 50);
    }

    #[test]
    fn the_same_seed_fails_the_same_calls() {
        let draws = |seed| {
            let failures = Failures::default();
            failures.randomly(
                Some(seed),
                0.5,
                vec![Failure::ServerError, Failure::RateLimited],
            );
            (0..64)
                .map(|_| failures.next("/v1/refunds"))
                .collect::<Vec<_>>()
        };
        let first = draws(7);
        assert_eq!(first, draws(7));
        let failed = first.iter().filter(|f| f.is_some()).count();
        assert!((10..54).contains(&failed), "{failed} of 64 at p=0.5");
        assert!(first.contains(&Some(Failure::RateLimited)));
    }

    #[test]
    fn clearing_stops_all_failures() {
        let failures = Failures::default();
        failures.queue("/v1/", 3, Failure::ServerError);
        failures.randomly(Some(1), 1.0, vec![Failure::ServerError]);
        failures.clear();
        assert_eq!(failures.next("/v1/refunds"), None);
    }
}
