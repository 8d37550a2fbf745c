//! When a failed delivery is tried again. Production follows the Standard
//! Webhooks schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight
//! attempts over 27.6 hours); locally the waits come from
//! `WEBHOOK_RETRY_SECONDS`. A Discord 429's `retry_after` is honoured when
//! it asks for longer.

use std::time::Duration;

/// The waits before the second, third, … attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(pub Vec<Duration>);

/// What an attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// A 2xx answer.
    Delivered { status: u16 },
    /// Another answer, with the wait the receiver asked for (429).
    Refused {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused or reset, timeout, TLS.
    Unreachable,
    /// The endpoint's address is one deliveries may not go to.
    Forbidden,
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Delivered,
    RetryIn(Duration),
    Failed,
}

impl RetrySchedule {
    pub fn production() -> Self {
        Self(
            [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000]
                .map(Duration::from_secs)
                .to_vec(),
        )
    }

    /// `"1,2,4"`: the waits in seconds.
    pub fn parse(text: &str) -> Option<Self> {
        text.split(',')
            .map(|s| s.trim().parse::<u64>().ok().map(Duration::from_secs))
            .collect::<Option<Vec<_>>>()
            .map(Self)
    }

    /// How many attempts a delivery gets in all.
    pub fn attempts(&self) -> u32 {
        self.0.len() as u32 + 1
    }

    /// After attempt number `made` (1 for the first) came to `attempt`.
    pub fn next(&self, made: u32, attempt: Attempt) -> Next {
        let retry_after = match attempt {
            Attempt::Delivered { .. } => return Next::Delivered,
            Attempt::Forbidden => return Next::Failed,
            Attempt::Refused { retry_after, .. } => retry_after,
            Attempt::Unreachable => None,
        };
        match self.0.get(made.saturating_sub(1) as usize) {
            Some(wait) => Next::RetryIn((*wait).max(retry_after.unwrap_or_default())),
            None => Next::Failed,
        }
    }
}

impl Attempt {
    /// The status code answered, if any.
    pub fn status(self) -> Option<u16> {
        match self {
            Self::Delivered { status } | Self::Refused { status, .. } => Some(status),
            Self::Unreachable | Self::Forbidden => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAILED_500: Attempt = Attempt::Refused {
        status: 500,
        retry_after: None,
    };

    #[test]
    fn production_retries_back_off_over_more_than_a_day() {
        let schedule = RetrySchedule::production();
        let total: Duration = schedule.0.iter().sum();
        assert!(total >= Duration::from_secs(24 * 3600), "{total:?}");
        assert!(schedule.0.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(schedule.attempts(), 8);
    }

    #[test]
    fn each_failure_waits_its_step_and_the_last_one_fails() {
        let schedule = RetrySchedule::parse("1, 2,4").unwrap();
        let steps: Vec<Next> = (1..=4)
            .map(|made| schedule.next(made, FAILED_500))
            .collect();
        assert_eq!(
            steps,
            [
                Next::RetryIn(Duration::from_secs(1)),
                Next::RetryIn(Duration::from_secs(2)),
                Next::RetryIn(Duration::from_secs(4)),
                Next::Failed
            ]
        );
    }

    #[test]
    fn a_2xx_is_delivered_and_a_forbidden_address_fails_at_once() {
        let schedule = RetrySchedule::production();
        assert_eq!(
            schedule.next(1, Attempt::Delivered { status: 204 }),
            Next::Delivered
        );
        assert_eq!(schedule.next(1, Attempt::Forbidden), Next::Failed);
    }

    #[test]
    fn a_longer_retry_after_is_honoured() {
        let schedule = RetrySchedule::parse("1").unwrap();
        let limited = Attempt::Refused {
            status: 429,
            retry_after: Some(Duration::from_secs(30)),
        };
        assert_eq!(
            schedule.next(1, limited),
            Next::RetryIn(Duration::from_secs(30))
        );
    }

    #[test]
    fn malformed_schedules_are_refused() {
        assert_eq!(RetrySchedule::parse("1,x"), None);
    }
}
