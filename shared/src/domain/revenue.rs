//! The revenue report (`GET /v1/admin/reports/revenue`): sums over the
//! bookings themselves, so it always agrees with the attendee export.
//!
//! Per booking: a booking was *paid* if it is confirmed or refunded, if it
//! carries a refund (a late payment given back, a cancellation), or if it
//! is a walk-in cancelled at the door (its cash handed back). Its amount
//! counts in `gross`; what went back (Stripe's running total, the whole
//! amount while a refund is owed or once it succeeded, a cancelled walk-in's
//! cash) in `refunds`; the platform's fee in `fees`, less the share Stripe
//! gives back with a refund (`refund_application_fee`); and
//! `net = gross - refunds - fees`, what the organizer keeps. `bookings` and
//! `seats` count the sales that stand: confirmed bookings and their tickets.

use std::collections::BTreeMap;

use serde::Serialize;

use super::booking::{Booking, BookingSource, BookingStatus};
use super::kinds::Line;
use super::refund::RefundStatus;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Totals {
    pub gross_cents: i64,
    pub fees_cents: i64,
    pub refunds_cents: i64,
    pub net_cents: i64,
    pub bookings: u64,
    pub seats: u64,
}

impl Totals {
    /// Adds one booking with its `seats` (tickets while confirmed).
    pub fn add(&mut self, booking: &Booking, seats: u32) {
        if !was_paid(booking) {
            return;
        }
        let refunded = refunded_cents(booking);
        let fee = kept_fee(booking.fee_cents, booking.amount_cents, refunded);
        self.gross_cents += booking.amount_cents;
        self.refunds_cents += refunded;
        self.fees_cents += fee;
        self.net_cents += booking.amount_cents - refunded - fee;
        if booking.status == BookingStatus::Confirmed {
            self.bookings += 1;
            self.seats += u64::from(seats);
        }
    }

    pub fn merge(&mut self, other: &Totals) {
        self.gross_cents += other.gross_cents;
        self.fees_cents += other.fees_cents;
        self.refunds_cents += other.refunds_cents;
        self.net_cents += other.net_cents;
        self.bookings += other.bookings;
        self.seats += other.seats;
    }
}

/// One currency's totals, in all and by where the sale was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Split {
    pub all: Totals,
    pub online: Totals,
    pub walk_in: Totals,
}

/// Totals per currency: amounts in different currencies never add up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    pub by_currency: BTreeMap<String, Split>,
}

impl Ledger {
    pub fn add(&mut self, booking: &Booking, seats: u32) {
        let split = self
            .by_currency
            .entry(booking.currency.clone())
            .or_default();
        split.all.add(booking, seats);
        match booking.source {
            BookingSource::Online => split.online.add(booking, seats),
            BookingSource::WalkIn => split.walk_in.add(booking, seats),
        }
    }

    pub fn merge(&mut self, other: &Ledger) {
        for (currency, split) in &other.by_currency {
            let mine = self.by_currency.entry(currency.clone()).or_default();
            mine.all.merge(&split.all);
            mine.online.merge(&split.online);
            mine.walk_in.merge(&split.walk_in);
        }
    }
}

/// Sales of one price category or tier of an event: what its units or
/// places brought in (`gross_cents`, of the paid bookings as above; refunds
/// and fees belong to a booking, not to a category) and the tickets that
/// stand (`seats`, of confirmed bookings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct KindTotals {
    pub id: String,
    pub gross_cents: i64,
    pub seats: u64,
}

/// One event's totals per category or tier, in the layout's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ByKind(pub Vec<KindTotals>);

impl ByKind {
    /// Every one of `ids` (the event's categories or tiers), none sold yet.
    pub fn new<'a>(ids: impl Iterator<Item = &'a str>) -> Self {
        ByKind(
            ids.map(|id| KindTotals {
                id: id.to_owned(),
                gross_cents: 0,
                seats: 0,
            })
            .collect(),
        )
    }

    /// Adds the `lines` of `booking` (kinds::Kinds::lines).
    pub fn add(&mut self, booking: &Booking, lines: &[Line]) {
        if !was_paid(booking) {
            return;
        }
        for line in lines {
            // Every line names a kind of the layout, frozen since the sale.
            let Some(totals) = self.0.iter_mut().find(|t| t.id == line.kind) else {
                continue;
            };
            totals.gross_cents += line.cents();
            if booking.status == BookingStatus::Confirmed {
                totals.seats += u64::from(line.seats);
            }
        }
    }
}

fn was_paid(booking: &Booking) -> bool {
    matches!(
        booking.status,
        BookingStatus::Confirmed | BookingStatus::Refunded
    ) || booking.refund_status.is_some()
        || (booking.status == BookingStatus::Cancelled && booking.source == BookingSource::WalkIn)
}

/// What went back, or is owed back, of a paid booking.
fn refunded_cents(booking: &Booking) -> i64 {
    let whole = booking.amount_cents;
    match (booking.refunded_cents, booking.refund_status) {
        (Some(cents), _) => cents.clamp(0, whole),
        (None, Some(RefundStatus::Pending | RefundStatus::Succeeded)) => whole,
        // Stripe refused it: the money is still here until someone acts.
        (None, Some(RefundStatus::Failed)) => 0,
        (None, None) if booking.status == BookingStatus::Refunded => whole,
        (None, None) if booking.status == BookingStatus::Cancelled => whole,
        (None, None) => 0,
    }
}

/// The fee left after Stripe returned its share with `refunded` of `amount`.
fn kept_fee(fee: i64, amount: i64, refunded: i64) -> i64 {
    if amount <= 0 {
        return fee;
    }
    fee - fee * refunded / amount
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paid(amount: i64, fee: i64) -> Booking {
        Booking {
            status: BookingStatus::Confirmed,
            amount_cents: amount,
            fee_cents: fee,
            quantity: 2,
            ..Booking::example()
        }
    }

    #[test]
    fn each_kind_sums_what_its_lines_brought_in_and_the_seats_that_stand_even_none() {
        let line = |kind: &str, quantity, price_cents| Line {
            kind: kind.into(),
            quantity,
            seats: quantity,
            price_cents,
        };
        let refunded = Booking {
            status: BookingStatus::Refunded,
            ..paid(2500, 0)
        };
        let mut by_kind = ByKind::new(["ga", "vip", "pit"].into_iter());
        by_kind.add(
            &paid(11500, 0),
            &[line("ga", 1, 2500), line("vip", 1, 9000)],
        );
        by_kind.add(&refunded, &[line("ga", 1, 2500)]);
        by_kind.add(&Booking::example(), &[line("vip", 5, 9000)]);
        assert_eq!(
            by_kind.0,
            [
                KindTotals {
                    id: "ga".into(),
                    gross_cents: 5000,
                    seats: 1
                },
                KindTotals {
                    id: "vip".into(),
                    gross_cents: 9000,
                    seats: 1
                },
                KindTotals {
                    id: "pit".into(),
                    gross_cents: 0,
                    seats: 0
                }
            ]
        );
    }

    fn totals(bookings: &[(Booking, u32)]) -> Totals {
        let mut totals = Totals::default();
        for (booking, seats) in bookings {
            totals.add(booking, *seats);
        }
        totals
    }

    #[test]
    fn a_confirmed_sale_counts_whole() {
        let t = totals(&[(paid(5000, 250), 2)]);
        assert_eq!(
            t,
            Totals {
                gross_cents: 5000,
                fees_cents: 250,
                refunds_cents: 0,
                net_cents: 4750,
                bookings: 1,
                seats: 2
            }
        );
    }

    #[test]
    fn holds_and_released_holds_are_not_revenue() {
        let released = Booking {
            status: BookingStatus::Cancelled,
            ..Booking::example()
        };
        let expired = Booking {
            status: BookingStatus::Expired,
            ..Booking::example()
        };
        assert_eq!(
            totals(&[(Booking::example(), 0), (released, 0), (expired, 0)]),
            Totals::default()
        );
    }

    #[test]
    fn a_partial_refund_keeps_the_sale_and_part_of_the_fee() {
        let booking = Booking {
            refunded_cents: Some(1000),
            ..paid(5000, 250)
        };
        let t = totals(&[(booking, 2)]);
        assert_eq!(
            (t.gross_cents, t.refunds_cents, t.fees_cents, t.net_cents),
            (5000, 1000, 200, 3800)
        );
        assert_eq!((t.bookings, t.seats), (1, 2));
    }

    #[test]
    fn a_refund_owed_counts_as_given_back_and_a_refused_one_does_not() {
        let owed = Booking {
            status: BookingStatus::Refunded,
            refund_status: Some(RefundStatus::Pending),
            ..paid(5000, 250)
        };
        let refused = Booking {
            status: BookingStatus::Expired,
            refund_status: Some(RefundStatus::Failed),
            ..paid(3000, 0)
        };
        let t = totals(&[(owed, 0), (refused, 0)]);
        assert_eq!(
            (t.gross_cents, t.refunds_cents, t.fees_cents, t.net_cents),
            (8000, 5000, 0, 3000)
        );
        assert_eq!(t.bookings, 0, "neither sale stands");
    }

    #[test]
    fn currencies_are_kept_apart_and_sources_split() {
        let mut ledger = Ledger::default();
        ledger.add(&paid(1000, 0), 1);
        ledger.add(
            &Booking {
                source: BookingSource::WalkIn,
                ..paid(500, 0)
            },
            1,
        );
        ledger.add(
            &Booking {
                currency: "eur".into(),
                ..paid(700, 0)
            },
            1,
        );
        let usd = ledger.by_currency["usd"];
        assert_eq!(
            (
                usd.all.gross_cents,
                usd.online.gross_cents,
                usd.walk_in.gross_cents
            ),
            (1500, 1000, 500)
        );
        assert_eq!(ledger.by_currency["eur"].all.gross_cents, 700);
    }

    #[test]
    fn a_cancelled_walk_in_hands_its_cash_back() {
        let booking = Booking {
            status: BookingStatus::Cancelled,
            source: BookingSource::WalkIn,
            ..paid(2000, 0)
        };
        let t = totals(&[(booking, 0)]);
        assert_eq!(
            (t.gross_cents, t.refunds_cents, t.net_cents),
            (2000, 2000, 0)
        );
    }
}
