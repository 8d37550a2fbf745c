//! Stripe's rate limiter: a rolling one-second window per account and per
//! endpoint (a method and route, e.g. `POST /v1/payment_intents`), in front
//! of everything else. Off unless limits are set.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(1);

/// Operations per second that Stripe lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Every call of the account, whatever the endpoint.
    pub per_account: u32,
    /// Calls of one endpoint.
    pub per_endpoint: u32,
}

impl RateLimits {
    /// Live mode, as Stripe documents it: 100 operations/s per account, and
    /// 25/s per endpoint unless an endpoint is documented otherwise.
    pub const LIVE: Self = Self {
        per_account: 100,
        per_endpoint: 25,
    };
}

#[derive(Default)]
pub(crate) struct Limiter {
    window: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    limits: Option<RateLimits>,
    /// The calls let through in the last second, oldest first.
    admitted: VecDeque<(Instant, String)>,
}

impl Limiter {
    /// New limits (none: no limiting), with an empty window.
    pub fn set(&self, limits: Option<RateLimits>) {
        let mut window = self.window.lock().unwrap();
        window.limits = limits;
        window.admitted.clear();
    }

    /// Whether a call to `endpoint` at `now` is within the limits; a call
    /// let through counts against them for a second, a refused one not.
    pub fn admit(&self, endpoint: &str, now: Instant) -> bool {
        let mut window = self.window.lock().unwrap();
        let Some(limits) = window.limits else {
            return true;
        };
        while window
            .admitted
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) >= WINDOW)
        {
            window.admitted.pop_front();
        }
        let of_endpoint = window
            .admitted
            .iter()
            .filter(|(_, e)| e == endpoint)
            .count();
        if window.admitted.len() >= limits.per_account as usize
            || of_endpoint >= limits.per_endpoint as usize
        {
            return false;
        }
        window.admitted.push_back((now, endpoint.to_owned()));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATE: &str = "POST /v1/payment_intents";
    const REFUND: &str = "POST /v1/refunds";

    fn limiter(per_account: u32, per_endpoint: u32) -> Limiter {
        let limiter = Limiter::default();
        limiter.set(Some(RateLimits {
            per_account,
            per_endpoint,
        }));
        limiter
    }

    fn admitted(limiter: &Limiter, endpoint: &str, n: usize, at: Instant) -> usize {
        (0..n).filter(|_| limiter.admit(endpoint, at)).count()
    }

    #[test]
    fn without_limits_every_call_passes() {
        let limiter = Limiter::default();
        assert_eq!(admitted(&limiter, CREATE, 1_000, Instant::now()), 1_000);
    }

    #[test]
    fn the_26th_create_within_a_second_is_refused_and_the_next_second_passes() {
        let limiter = limiter(100, 25);
        let start = Instant::now();
        assert_eq!(admitted(&limiter, CREATE, 25, start), 25);
        assert!(!limiter.admit(CREATE, start + Duration::from_millis(999)));
        assert!(limiter.admit(CREATE, start + Duration::from_secs(1)));
    }

    #[test]
    fn the_window_rolls_call_by_call() {
        let limiter = limiter(100, 2);
        let start = Instant::now();
        assert!(limiter.admit(CREATE, start));
        assert!(limiter.admit(CREATE, start + Duration::from_millis(500)));
        assert!(!limiter.admit(CREATE, start + Duration::from_millis(900)));
        // The first call left the window; the second is still in it.
        assert!(limiter.admit(CREATE, start + Duration::from_millis(1_000)));
        assert!(!limiter.admit(CREATE, start + Duration::from_millis(1_400)));
    }

    #[test]
    fn refunds_have_their_own_endpoint_budget() {
        let limiter = limiter(100, 25);
        let now = Instant::now();
        assert_eq!(admitted(&limiter, CREATE, 30, now), 25);
        assert_eq!(admitted(&limiter, REFUND, 30, now), 25);
    }

    #[test]
    fn the_account_limit_spans_every_endpoint() {
        let limiter = limiter(30, 25);
        let now = Instant::now();
        assert_eq!(admitted(&limiter, CREATE, 25, now), 25);
        assert_eq!(admitted(&limiter, REFUND, 25, now), 5);
    }

    #[test]
    fn new_limits_start_with_an_empty_window() {
        let limiter = limiter(100, 1);
        let now = Instant::now();
        assert!(limiter.admit(CREATE, now));
        limiter.set(Some(RateLimits::LIVE));
        assert_eq!(admitted(&limiter, CREATE, 30, now), 25);
    }
}
