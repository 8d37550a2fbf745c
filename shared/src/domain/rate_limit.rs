//! Fixed-window rate limiting arithmetic. The counter itself lives in
//! DynamoDB (one item per key and window, expired by TTL).

use std::net::IpAddr;

use time::OffsetDateTime;

pub const MINUTE: i64 = 60;

/// At most `per_window` hits per window of `window_secs` for one subject
/// (a user id, a client address) of a scope (what is counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit<'a> {
    pub scope: &'static str,
    pub subject: &'a str,
    pub per_window: u32,
    pub window_secs: i64,
}

/// What a client address is counted as: an IPv4 address itself, an IPv6
/// address by its /64, which a provider gives one subscriber whole
/// (stepping through it must not reset the count). Anything unparsable is
/// counted as itself.
pub fn ip_subject(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(IpAddr::V6(v6)) => v6.to_canonical().to_string(),
        _ => ip.to_owned(),
    }
}

/// How many hits one counter write takes for this process at once. A busy
/// subject (an office's address, a flood) then costs one write per block
/// of requests instead of one each. Every hit served was counted first, so
/// a limit is never exceeded; the hits other processes took and have not
/// used yet can refuse a subject a little early, at most `block − 1` per
/// warm process. Limits under 100 a window are counted hit by hit.
pub fn block(per_window: u32) -> u32 {
    (per_window / 50).clamp(1, 10)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Index of the window since the epoch; part of the counter's key.
    pub index: i64,
    /// When the window closes (unix seconds): the counter's TTL and the
    /// basis of `retry-after`.
    pub ends_at: i64,
}

/// One hit of a limit in its current window, counted by a write of the
/// transaction it limits rather than a call of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit<'a> {
    pub limit: Limit<'a>,
    pub window: Window,
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
    fn an_ipv4_address_is_counted_as_itself() {
        assert_eq!(ip_subject("203.0.113.7"), "203.0.113.7");
        assert_eq!(ip_subject("::ffff:203.0.113.7"), "203.0.113.7");
    }

    #[test]
    fn ipv6_addresses_of_one_slash_64_are_counted_together() {
        let a = ip_subject("2001:db8:1:2:aaaa::1");
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(a, ip_subject("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        assert_ne!(a, ip_subject("2001:db8:1:3::1"));
    }

    #[test]
    fn small_limits_are_counted_hit_by_hit() {
        assert_eq!(block(1), 1);
        assert_eq!(block(20), 1);
        assert_eq!(block(99), 1);
    }

    #[test]
    fn large_limits_are_counted_in_blocks_of_at_most_ten() {
        assert_eq!(block(300), 6);
        assert_eq!(block(600), 10);
        assert_eq!(block(1_000_000), 10);
    }

    #[test]
    fn retry_after_counts_down_to_the_window_end() {
        assert_eq!(retry_after(window(at(1000), 900), at(1000)), 800);
        assert_eq!(retry_after(window(at(1799), 900), at(1799)), 1);
    }
}
