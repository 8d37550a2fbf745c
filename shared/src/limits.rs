//! Rate limits applied: each hit is counted in DynamoDB (so a limit holds
//! across every Lambda instance) and a subject over its limit is answered
//! 429 with `retry-after` until its window ends.

use std::collections::HashMap;
use std::sync::Mutex;

use futures::future::try_join_all;

use crate::domain::rate_limit::{self, Limit, Window};
use crate::metrics::{self, RATE_LIMITED};
use crate::{ApiError, AppState};

/// Beyond this many refused subjects the oldest are not worth keeping.
const MAX_REFUSED: usize = 4096;

/// Counts one hit against every limit at once (one round trip, not one per
/// limit); any limit used up refuses the request (and is counted in the
/// `RateLimited` metric by its scope).
pub async fn enforce(app: &AppState, limits: &[Limit<'_>]) -> Result<(), ApiError> {
    let now = app.clock.now();
    let outcomes = try_join_all(limits.iter().map(|limit| async move {
        let window = rate_limit::window(now, limit.window_secs);
        if app.refused.contains(limit, window) {
            return Ok::<_, ApiError>(Some(window));
        }
        let taken = app
            .store
            .take_rate_token(limit.scope, limit.subject, window, limit.per_window)
            .await?;
        if taken {
            Ok(None)
        } else {
            app.refused.insert(limit, window);
            Ok(Some(window))
        }
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

/// The subjects this process saw refused, until their window ends: a
/// client hammering past its limit is answered from memory instead of
/// writing its counter item again on every request (a hot key is what
/// DynamoDB throttles).
#[derive(Default)]
pub struct RefusedWindows {
    until: Mutex<HashMap<(&'static str, String), Window>>,
}

impl RefusedWindows {
    fn contains(&self, limit: &Limit<'_>, window: Window) -> bool {
        let until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        until
            .get(&(limit.scope, limit.subject.to_owned()))
            .is_some_and(|refused| *refused == window)
    }

    fn insert(&self, limit: &Limit<'_>, window: Window) {
        let mut until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        if until.len() >= MAX_REFUSED {
            until.retain(|_, refused| refused.index >= window.index);
            if until.len() >= MAX_REFUSED {
                until.clear();
            }
        }
        until.insert((limit.scope, limit.subject.to_owned()), window);
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
    fn a_refused_subject_stays_refused_for_its_window_only() {
        let refused = RefusedWindows::default();
        refused.insert(&limit("u1"), window_at(600));
        assert!(refused.contains(&limit("u1"), window_at(659)));
        assert!(!refused.contains(&limit("u1"), window_at(660)));
        assert!(!refused.contains(&limit("u2"), window_at(600)));
    }

    #[test]
    fn a_full_memory_forgets_past_windows_first() {
        let refused = RefusedWindows::default();
        for i in 0..MAX_REFUSED {
            refused.insert(&limit(&i.to_string()), window_at(0));
        }
        refused.insert(&limit("now"), window_at(600));
        assert!(refused.contains(&limit("now"), window_at(600)));
        assert!(!refused.contains(&limit("0"), window_at(0)));
    }
}
