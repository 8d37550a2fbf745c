//! How long to wait before asking a rate-limited service again: jittered
//! exponential backoff within a time budget, and the `retry-after` a client
//! is given once the budget is spent.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The step of the first retry; each later one doubles, up to `cap`.
    pub first: Duration,
    pub cap: Duration,
    /// No retry starts later than this after the first try.
    pub budget: Duration,
}

/// Stripe counts calls per second, so waits of about 100, 200, 400 and
/// 800 ms reach into the next second or two; all of it within 1.5 s, well
/// inside the function's 10 s timeout.
pub const STRIPE: Backoff = Backoff {
    first: Duration::from_millis(100),
    cap: Duration::from_millis(800),
    budget: Duration::from_millis(1_500),
};

impl Backoff {
    /// The wait before retry number `retry` (0 for the first), `elapsed`
    /// since the first try: half the step fixed, half scaled by `jitter`
    /// (in `[0, 1)`), so callers refused together spread out. None once the
    /// retry would start past the budget.
    pub fn delay(&self, retry: u32, elapsed: Duration, jitter: f64) -> Option<Duration> {
        let step = self
            .first
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.cap);
        let wait = step / 2 + step.mul_f64(jitter.clamp(0.0, 1.0) / 2.0);
        (elapsed + wait <= self.budget).then_some(wait)
    }
}

/// The `retry-after` (seconds) for a client whose request gave up on a busy
/// service: 1 or 2 by `jitter` (in `[0, 1)`), so the buyers turned away in
/// one second do not all come back in the same next one.
pub fn busy_retry_after_secs(jitter: f64) -> u64 {
    1 + (jitter.clamp(0.0, 0.999) * 2.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn waits_double_from_the_first_step_up_to_the_cap() {
        let waits: Vec<_> = (0..6)
            .map(|retry| STRIPE.delay(retry, Duration::ZERO, 0.0).unwrap())
            .collect();
        assert_eq!(waits, [ms(50), ms(100), ms(200), ms(400), ms(400), ms(400)]);
    }

    #[test]
    fn jitter_spreads_a_wait_over_the_upper_half_of_its_step() {
        assert_eq!(STRIPE.delay(2, Duration::ZERO, 0.5), Some(ms(300)));
        assert!(STRIPE.delay(2, Duration::ZERO, 0.999).unwrap() < ms(400));
    }

    #[test]
    fn no_retry_starts_past_the_budget() {
        assert_eq!(STRIPE.delay(3, ms(1_100), 0.0), Some(ms(400)));
        assert_eq!(STRIPE.delay(3, ms(1_101), 0.0), None);
        assert_eq!(STRIPE.delay(0, ms(1_500), 0.0), None);
    }

    #[test]
    fn retrying_at_the_slowest_stays_within_the_budget() {
        let (mut elapsed, mut retries) = (Duration::ZERO, 0);
        while let Some(wait) = STRIPE.delay(retries, elapsed, 0.999) {
            elapsed += wait;
            retries += 1;
        }
        assert!(elapsed <= STRIPE.budget, "{elapsed:?}");
        assert_eq!(retries, 4, "about 100 + 200 + 400 + 800 ms, then no more");
    }

    #[test]
    fn a_busy_client_comes_back_in_one_or_two_seconds() {
        assert_eq!(busy_retry_after_secs(0.0), 1);
        assert_eq!(busy_retry_after_secs(0.49), 1);
        assert_eq!(busy_retry_after_secs(0.5), 2);
        assert_eq!(busy_retry_after_secs(0.999), 2);
    }
}
