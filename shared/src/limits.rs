//! Rate limits applied: each hit is counted in DynamoDB (so a limit holds
//! across every Lambda instance) and a subject over its limit is answered
//! 429 with `retry-after` until its window ends.

use std::collections::HashMap;
use std::sync::Mutex;

use futures::future::try_join_all;

use crate::domain::rate_limit::{self, Hit, Limit, Window};
use crate::metrics::{self, RATE_LIMITED};
use crate::{ApiError, AppState};

/// Beyond this many subjects the oldest are not worth keeping.
const MAX_SUBJECTS: usize = 4096;

/// Counts one hit against every limit at once (one round trip, not one per
/// limit, and none for a limit this process still has hits of); any limit
/// used up refuses the request (and is counted in the `RateLimited` metric
/// by its scope).
pub async fn enforce(app: &AppState, limits: &[Limit<'_>]) -> Result<(), ApiError> {
    let now = app.clock.now();
    let outcomes = try_join_all(limits.iter().map(|limit| async move {
        let window = rate_limit::window(now, limit.window_secs);
        let served = match app.counted.serve(limit, window) {
            Some(served) => served,
            None => take(app, limit, window).await?,
        };
        Ok::<_, ApiError>((!served).then_some(window))
    }))
    .await?;
    let refused = limits.iter().zip(outcomes).filter_map(|(limit, refused)| {
        if refused.is_some() {
            metrics::count_by(RATE_LIMITED, limit.scope);
        }
        refused
    });
    match refused.max_by_key(|w| w.ends_at) {
        Some(window) => Err(ApiError::too_many_requests(rate_limit::retry_after(
            window, now,
        ))),
        None => Ok(()),
    }
}

/// The hit of `limit` that a transaction counts as one of its writes (an
/// online hold's own), so a request that commits makes no call for it.
/// Refused at once when this process saw the limit used up in this window.
pub fn hit<'a>(app: &AppState, limit: Limit<'a>) -> Result<Hit<'a>, ApiError> {
    let now = app.clock.now();
    let window = rate_limit::window(now, limit.window_secs);
    if app.counted.is_refused(&limit, window) {
        metrics::count_by(RATE_LIMITED, limit.scope);
        return Err(ApiError::too_many_requests(rate_limit::retry_after(
            window, now,
        )));
    }
    Ok(Hit { limit, window })
}

/// The transaction counting `hit` was cancelled by its limit: remembered
/// for the rest of the window, and answered 429.
pub fn refused(app: &AppState, hit: &Hit<'_>) -> ApiError {
    app.counted.record(&hit.limit, hit.window, None);
    metrics::count_by(RATE_LIMITED, hit.limit.scope);
    ApiError::too_many_requests(rate_limit::retry_after(hit.window, app.clock.now()))
}

/// A request refused for another reason than `hit`'s limit committed no
/// transaction, so its hit is counted alone: a client retrying a taken
/// seat is limited like one that gets it. A failure to count is logged,
/// not answered: the request's own refusal is what the client needs.
pub async fn count_apart(app: &AppState, hit: &Hit<'_>) {
    let limit = hit.limit;
    let taken = app
        .store
        .take_rate_tokens(limit.scope, limit.subject, hit.window, limit.per_window, 1)
        .await;
    match taken {
        Ok(true) => {}
        Ok(false) => app.counted.record(&limit, hit.window, None),
        Err(err) => {
            tracing::warn!(scope = limit.scope, error = %err, "refused request not counted")
        }
    }
}

/// The per-user payments limit: checkouts and wallet top-ups count against
/// one window together.
pub fn payments_of<'a>(app: &AppState, user_id: &'a str) -> Limit<'a> {
    Limit {
        scope: "payments-user",
        subject: user_id,
        per_window: app.config.rate_limits.payments_per_user,
        window_secs: rate_limit::MINUTE,
    }
}

/// Takes a block of hits from the shared counter, or near the limit, where
/// a whole block no longer fits, the one hit this request needs; the
/// outcome is remembered for the rest of the window.
async fn take(app: &AppState, limit: &Limit<'_>, window: Window) -> Result<bool, ApiError> {
    let take = |hits| {
        let store = &app.store;
        async move {
            store
                .take_rate_tokens(limit.scope, limit.subject, window, limit.per_window, hits)
                .await
        }
    };
    let block = rate_limit::block(limit.per_window);
    let taken = if take(block).await? {
        Some(block)
    } else if block > 1 && take(1).await? {
        Some(1)
    } else {
        None
    };
    app.counted.record(limit, window, taken);
    Ok(taken.is_some())
}

/// What this process knows of each subject's current window: hits it took
/// from the shared counter and has not served yet, or that the subject was
/// refused. A busy subject is served from memory between block takes, and
/// a client hammering past its limit does not write its counter item again
/// on every request (a hot key is what DynamoDB throttles).
#[derive(Default)]
pub struct CountedWindows {
    subjects: Mutex<HashMap<Subject, (Window, Counted)>>,
}

/// A limit's scope and subject.
type Subject = (&'static str, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counted {
    /// Taken from the shared counter and not served yet.
    Unserved(u32),
    Refused,
}

impl CountedWindows {
    /// `Some(true)`: served from a block taken before; `Some(false)`:
    /// refused earlier in this window; `None`: the counter must be asked.
    fn serve(&self, limit: &Limit<'_>, window: Window) -> Option<bool> {
        let mut subjects = self.subjects.lock().unwrap_or_else(|e| e.into_inner());
        let (known, counted) = subjects.get_mut(&(limit.scope, limit.subject.to_owned()))?;
        if *known != window {
            return None;
        }
        match counted {
            Counted::Refused => Some(false),
            Counted::Unserved(0) => None,
            Counted::Unserved(left) => {
                *left -= 1;
                Some(true)
            }
        }
    }

    /// Was the subject refused earlier in this window?
    fn is_refused(&self, limit: &Limit<'_>, window: Window) -> bool {
        let subjects = self.subjects.lock().unwrap_or_else(|e| e.into_inner());
        subjects.get(&(limit.scope, limit.subject.to_owned())) == Some(&(window, Counted::Refused))
    }

    /// `taken`: the hits just taken, one of which the current request uses;
    /// `None` when the counter refused.
    fn record(&self, limit: &Limit<'_>, window: Window, taken: Option<u32>) {
        let counted = match taken {
            Some(hits) => Counted::Unserved(hits.saturating_sub(1)),
            None => Counted::Refused,
        };
        let mut subjects = self.subjects.lock().unwrap_or_else(|e| e.into_inner());
        if subjects.len() >= MAX_SUBJECTS {
            subjects.retain(|_, (known, _)| known.index >= window.index);
            if subjects.len() >= MAX_SUBJECTS {
                subjects.clear();
            }
        }
        // Concurrent requests of one subject may each have taken a block:
        // the hits add up, and hits still unserved outlast a refusal.
        let key = (limit.scope, limit.subject.to_owned());
        let merged = match subjects.get(&key) {
            Some(&(known, Counted::Unserved(left))) if known == window => match counted {
                Counted::Unserved(more) => Counted::Unserved(left + more),
                Counted::Refused if left > 0 => Counted::Unserved(left),
                Counted::Refused => Counted::Refused,
            },
            _ => counted,
        };
        subjects.insert(key, (window, merged));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn limit(subject: &str) -> Limit<'_> {
        Limit {
            scope: "holds-user",
            subject,
            per_window: 1,
            window_secs: 60,
        }
    }

    fn window_at(secs: i64) -> Window {
        rate_limit::window(OffsetDateTime::from_unix_timestamp(secs).unwrap(), 60)
    }

    #[test]
    fn an_unknown_subject_asks_the_counter() {
        let counted = CountedWindows::default();
        assert_eq!(counted.serve(&limit("u1"), window_at(600)), None);
    }

    #[test]
    fn a_block_serves_its_hits_then_asks_the_counter_again() {
        let counted = CountedWindows::default();
        counted.record(&limit("u1"), window_at(600), Some(3));
        assert_eq!(counted.serve(&limit("u1"), window_at(610)), Some(true));
        assert_eq!(counted.serve(&limit("u1"), window_at(620)), Some(true));
        assert_eq!(counted.serve(&limit("u1"), window_at(630)), None);
    }

    #[test]
    fn unserved_hits_lapse_with_their_window() {
        let counted = CountedWindows::default();
        counted.record(&limit("u1"), window_at(600), Some(10));
        assert_eq!(counted.serve(&limit("u1"), window_at(660)), None);
    }

    #[test]
    fn blocks_taken_at_once_add_up() {
        let counted = CountedWindows::default();
        counted.record(&limit("u1"), window_at(600), Some(2));
        counted.record(&limit("u1"), window_at(600), Some(2));
        assert_eq!(counted.serve(&limit("u1"), window_at(600)), Some(true));
        assert_eq!(counted.serve(&limit("u1"), window_at(600)), Some(true));
        assert_eq!(counted.serve(&limit("u1"), window_at(600)), None);
    }

    #[test]
    fn a_refused_subject_stays_refused_for_its_window_only() {
        let counted = CountedWindows::default();
        counted.record(&limit("u1"), window_at(600), None);
        assert_eq!(counted.serve(&limit("u1"), window_at(659)), Some(false));
        assert_eq!(counted.serve(&limit("u1"), window_at(660)), None);
        assert_eq!(counted.serve(&limit("u2"), window_at(600)), None);
    }

    #[test]
    fn a_refusal_is_known_within_its_window_without_serving_hits() {
        let counted = CountedWindows::default();
        counted.record(&limit("u1"), window_at(600), None);
        assert!(counted.is_refused(&limit("u1"), window_at(630)));
        assert!(!counted.is_refused(&limit("u1"), window_at(660)));
        counted.record(&limit("u2"), window_at(600), Some(2));
        assert!(!counted.is_refused(&limit("u2"), window_at(600)));
        assert_eq!(counted.serve(&limit("u2"), window_at(600)), Some(true));
    }

    #[test]
    fn a_full_memory_forgets_past_windows_first() {
        let counted = CountedWindows::default();
        for i in 0..MAX_SUBJECTS {
            counted.record(&limit(&i.to_string()), window_at(0), None);
        }
        counted.record(&limit("now"), window_at(600), None);
        assert_eq!(counted.serve(&limit("now"), window_at(600)), Some(false));
        assert_eq!(counted.serve(&limit("0"), window_at(0)), None);
    }
}
