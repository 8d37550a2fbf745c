//! Hold expiry arithmetic: when the expiry message is due and what the
//! worker does with it. SQS delays a message by at most 15 minutes, so a
//! longer hold is looked at early and its message sent again for the rest.

use time::OffsetDateTime;

use super::booking::{Booking, BookingStatus};

/// SQS's largest `DelaySeconds`.
pub const MAX_DELAY_SECONDS: u32 = 900;

/// The delay that makes a message arrive when the hold lapses: whole
/// seconds rounded up (never early by a fraction), at most 15 minutes.
pub fn delay_seconds(hold_expires_at: OffsetDateTime, now: OffsetDateTime) -> u32 {
    let left = (hold_expires_at - now).as_seconds_f64().ceil();
    left.clamp(0.0, MAX_DELAY_SECONDS.into()) as u32
}

/// What the expiry worker does about one booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryStep {
    /// The hold lapsed: release it (conditionally on it being that hold).
    Release,
    /// Still held and not due until then (a hold longer than the longest
    /// SQS delay): look again then.
    NotDueUntil(OffsetDateTime),
    /// Paid, released or expired already: nothing to do.
    Done,
}

/// Due is decided in whole epoch seconds, as the store's release condition
/// (`hold_expires_epoch <= now`) decides it.
pub fn next_step(booking: &Booking, now: OffsetDateTime) -> ExpiryStep {
    match (booking.status, booking.hold_expires_at) {
        (BookingStatus::Held, Some(expires)) => {
            if expires.unix_timestamp() <= now.unix_timestamp() {
                ExpiryStep::Release
            } else {
                ExpiryStep::NotDueUntil(expires)
            }
        }
        _ => ExpiryStep::Done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2030-01-01 12:00:00 UTC);

    fn booking(status: BookingStatus, expires_in: Duration) -> Booking {
        Booking {
            status,
            hold_expires_at: Some(NOW + expires_in),
            created_at: NOW,
            updated_at: NOW,
            ..Booking::example()
        }
    }

    #[test]
    fn the_delay_is_the_time_left_rounded_up_and_capped_at_15_minutes() {
        assert_eq!(delay_seconds(NOW + Duration::minutes(10), NOW), 600);
        assert_eq!(delay_seconds(NOW + Duration::milliseconds(1_500), NOW), 2);
        assert_eq!(delay_seconds(NOW + Duration::minutes(40), NOW), 900);
        assert_eq!(delay_seconds(NOW - Duration::minutes(1), NOW), 0);
    }

    #[test]
    fn a_lapsed_hold_is_released() {
        let step = next_step(&booking(BookingStatus::Held, Duration::ZERO), NOW);
        assert_eq!(step, ExpiryStep::Release);
        let step = next_step(&booking(BookingStatus::Held, -Duration::hours(1)), NOW);
        assert_eq!(step, ExpiryStep::Release);
    }

    #[test]
    fn a_hold_not_yet_due_is_looked_at_again() {
        let step = next_step(&booking(BookingStatus::Held, Duration::seconds(3)), NOW);
        assert_eq!(step, ExpiryStep::NotDueUntil(NOW + Duration::seconds(3)));
        // Within the same second counts as due, as the store's condition has it.
        let step = next_step(
            &booking(BookingStatus::Held, Duration::milliseconds(300)),
            NOW,
        );
        assert_eq!(step, ExpiryStep::Release);
    }

    #[test]
    fn bookings_no_longer_held_need_nothing() {
        for status in [
            BookingStatus::Confirmed,
            BookingStatus::Expired,
            BookingStatus::Cancelled,
            BookingStatus::Refunded,
        ] {
            assert_eq!(
                next_step(&booking(status, -Duration::minutes(1)), NOW),
                ExpiryStep::Done
            );
        }
    }
}
