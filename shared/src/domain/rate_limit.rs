//! Fixed-window rate limiting arithmetic. The counter itself lives in
//! DynamoDB (one item per key and window, expired by TTL).

use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Index of the window since the epoch; part of the counter's key.
    pub index: i64,
    /// When the window closes (unix seconds): the counter's TTL and the
    /// basis of `retry-after`.
    pub ends_at: i64,
}

pub fn window(now: OffsetDateTime, length_secs: i64) -> Window {
    let index = now.unix_timestamp().div_euclid(length_secs);
    Window {
        index,
        ends_at: (index + 1) * length_secs,
    }
}

/// Seconds until the window closes, at least 1.
pub fn retry_after(window: Window, now: OffsetDateTime) -> u64 {
    (window.ends_at - now.unix_timestamp()).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs).unwrap()
    }

    #[test]
    fn instants_in_one_window_share_it() {
        assert_eq!(window(at(900), 900), window(at(1799), 900));
        assert_ne!(window(at(1799), 900), window(at(1800), 900));
    }

    #[test]
    fn retry_after_counts_down_to_the_window_end() {
        assert_eq!(retry_after(window(at(1000), 900), at(1000)), 800);
        assert_eq!(retry_after(window(at(1799), 900), at(1799)), 1);
    }
}
