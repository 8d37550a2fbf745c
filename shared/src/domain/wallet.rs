//! The wallet as a ledger, without I/O: what each kind of entry does to a
//! balance, what a change must find on the balance to apply (so it never
//! goes negative), how a checkout splits its amount between the wallet and
//! the card, and what top-ups and credits may ask for.
//!
//! A balance keeps three numbers: `balance_cents` (the money the user has),
//! `reserved_cents` (promised to checkouts not yet paid) and
//! `available_cents` = balance − reserved. Every entry's `amount_cents` is
//! what it does to `available_cents`; money entries (top-up, credit,
//! refund, payment, reversal) also move `balance_cents` by it, reservation
//! entries (reservation, release) move `reserved_cents` by its opposite.
//! So the sum of all entries is the available amount, the sum of the money
//! entries the balance (docs/wallet.md).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::currency::{is_iso_4217, stripe_minimum_charge};
use super::refund::ChargeRefunded;

/// The metadata `kind` of a PaymentIntent that tops up a wallet (booking
/// payments carry none).
pub const TOP_UP_KIND: &str = "wallet_top_up";

/// A top-up is 1.00 to 1 000.00 in the currency's minor units.
pub const TOP_UP_RANGE: std::ops::RangeInclusive<i64> = 100..=100_000;

/// An admin's goodwill credit, at most 1 000.00.
pub const CREDIT_RANGE: std::ops::RangeInclusive<i64> = 1..=100_000;

/// The longest reason a credit may give, in characters.
pub const MAX_REASON_CHARS: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    TopUp,
    Payment,
    Reservation,
    Release,
    Refund,
    Credit,
    Reversal,
}

impl EntryKind {
    const ALL: [Self; 7] = [
        Self::TopUp,
        Self::Payment,
        Self::Reservation,
        Self::Release,
        Self::Refund,
        Self::Credit,
        Self::Reversal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TopUp => "top_up",
            Self::Payment => "payment",
            Self::Reservation => "reservation",
            Self::Release => "release",
            Self::Refund => "refund",
            Self::Credit => "credit",
            Self::Reversal => "reversal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == s)
    }

    /// Whether it moves money in or out (else it only reserves or releases).
    pub fn moves_money(self) -> bool {
        !matches!(self, Self::Reservation | Self::Release)
    }
}

/// One change of a wallet as the ledger shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Entry {
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    pub kind: EntryKind,
    /// Signed: what the entry did to the available amount.
    pub amount_cents: i64,
    pub currency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_intent_id: Option<String>,
}

/// A wallet in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Balance {
    pub currency: String,
    pub balance_cents: i64,
    pub reserved_cents: i64,
}

/// One entry to write: its kind and its signed amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Movement {
    pub kind: EntryKind,
    pub amount_cents: i64,
}

impl Movement {
    fn new(kind: EntryKind, amount_cents: i64) -> Self {
        Self { kind, amount_cents }
    }
}

/// The entries of each change, all of positive `cents`.
pub fn top_up(cents: i64) -> Vec<Movement> {
    vec![Movement::new(EntryKind::TopUp, cents)]
}

pub fn credit(cents: i64) -> Vec<Movement> {
    vec![Movement::new(EntryKind::Credit, cents)]
}

pub fn refund(cents: i64) -> Vec<Movement> {
    vec![Movement::new(EntryKind::Refund, cents)]
}

/// A refunded top-up taken back out.
pub fn reversal(cents: i64) -> Vec<Movement> {
    vec![Movement::new(EntryKind::Reversal, -cents)]
}

/// Set aside for a checkout whose card part is not paid yet.
pub fn reservation(cents: i64) -> Vec<Movement> {
    vec![Movement::new(EntryKind::Reservation, -cents)]
}

/// A reservation given back (the hold lapsed or was released).
pub fn release(cents: i64) -> Vec<Movement> {
    vec![Movement::new(EntryKind::Release, cents)]
}

/// Paying from the wallet: out of a reservation made at checkout (it is
/// released and spent in one change), or straight from what is available.
pub fn payment(cents: i64, reserved: bool) -> Vec<Movement> {
    let pay = Movement::new(EntryKind::Payment, -cents);
    if reserved {
        vec![Movement::new(EntryKind::Release, cents), pay]
    } else {
        vec![pay]
    }
}

/// What a change does to a balance, and what the balance must hold for it
/// to apply: never below zero, of the balance, the reserved or the
/// available amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Effect {
    pub balance: i64,
    pub reserved: i64,
    pub available: i64,
}

impl Effect {
    pub fn of(movements: &[Movement]) -> Self {
        movements.iter().fold(Self::default(), |sum, m| {
            let (balance, reserved) = if m.kind.moves_money() {
                (m.amount_cents, 0)
            } else {
                (0, -m.amount_cents)
            };
            Self {
                balance: sum.balance + balance,
                reserved: sum.reserved + reserved,
                available: sum.available + m.amount_cents,
            }
        })
    }

    /// The least each of balance, reserved and available must be before
    /// the change (`None`: anything, the change does not lower it).
    pub fn requires(&self) -> [(&'static str, Option<i64>); 3] {
        let least = |delta: i64| (delta < 0).then_some(-delta);
        [
            ("balance_cents", least(self.balance)),
            ("reserved_cents", least(self.reserved)),
            ("available_cents", least(self.available)),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalletError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("the wallet has less than {0} available")]
    InsufficientFunds(i64),
    #[error(
        "the booking was checked out with wallet_cents {existing}; check out again with the same amount"
    )]
    CheckoutChanged { existing: i64 },
}

fn invalid(field: &'static str, message: impl Into<String>) -> WalletError {
    WalletError::Invalid {
        field,
        message: message.into(),
    }
}

/// A booking's amount split between the wallet and the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    pub wallet_cents: i64,
    pub card_cents: i64,
}

/// How checkout pays `amount_cents`: `wallet_cents` (0 to the amount) from
/// the wallet, the rest by card, which must then be at least Stripe's
/// minimum charge for the currency.
pub fn split(amount_cents: i64, currency: &str, wallet_cents: i64) -> Result<Split, WalletError> {
    if !(0..=amount_cents).contains(&wallet_cents) {
        return Err(invalid(
            "wallet_cents",
            format!("must be between 0 and the booking's amount, {amount_cents}"),
        ));
    }
    let card_cents = amount_cents - wallet_cents;
    if let Some(minimum) = stripe_minimum_charge(currency)
        && wallet_cents > 0
        && card_cents > 0
        && card_cents < minimum
    {
        return Err(invalid(
            "wallet_cents",
            format!(
                "the card part would be {card_cents}, below the card minimum of {minimum}: pay it all from the wallet or less of it"
            ),
        ));
    }
    Ok(Split {
        wallet_cents,
        card_cents,
    })
}

/// A checkout repeated on a booking already checked out must ask for the
/// same wallet part (then it gets the same answer); another is a conflict,
/// as the first one's reservation and PaymentIntent stand.
pub fn same_checkout(existing_wallet_cents: i64, asked: i64) -> Result<(), WalletError> {
    if existing_wallet_cents == asked {
        Ok(())
    } else {
        Err(WalletError::CheckoutChanged {
            existing: existing_wallet_cents,
        })
    }
}

fn currency_code(currency: &str) -> Result<String, WalletError> {
    if is_iso_4217(currency) {
        Ok(currency.to_ascii_lowercase())
    } else {
        Err(invalid("currency", "must be an ISO 4217 currency code"))
    }
}

/// A top-up's amount and currency (lowercased), checked.
pub fn top_up_request(amount_cents: i64, currency: &str) -> Result<(i64, String), WalletError> {
    if !TOP_UP_RANGE.contains(&amount_cents) {
        return Err(invalid(
            "amount_cents",
            format!(
                "must be between {} and {}",
                TOP_UP_RANGE.start(),
                TOP_UP_RANGE.end()
            ),
        ));
    }
    Ok((amount_cents, currency_code(currency)?))
}

/// An admin credit's amount, currency (lowercased) and reason (trimmed).
pub fn credit_request(
    amount_cents: i64,
    currency: &str,
    reason: &str,
) -> Result<(i64, String, String), WalletError> {
    if !CREDIT_RANGE.contains(&amount_cents) {
        return Err(invalid(
            "amount_cents",
            format!(
                "must be between {} and {}",
                CREDIT_RANGE.start(),
                CREDIT_RANGE.end()
            ),
        ));
    }
    let currency = currency_code(currency)?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(invalid(
            "reason",
            format!("must be 1 to {MAX_REASON_CHARS} characters"),
        ));
    }
    Ok((amount_cents, currency, reason.to_owned()))
}

/// Does a succeeded top-up's payment match the top-up as recorded?
pub fn top_up_paid_in_full(
    recorded_cents: i64,
    recorded_currency: &str,
    paid_cents: i64,
    paid_currency: &str,
) -> bool {
    recorded_cents == paid_cents && recorded_currency == paid_currency
}

/// A credited top-up as far as its refunds go: what it credited, and how
/// much of what Stripe refunded was decided already (taken back out, or
/// refused because the wallet no longer had it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopUpRefunds {
    pub amount_cents: i64,
    /// The wallet was credited with it.
    pub credited: bool,
    /// A refund in full was decided (`refunded_at`): nothing more to do.
    pub refunded_in_full: bool,
    /// Taken back out of the wallet so far.
    pub reversed_cents: i64,
    /// Refused so far (spent or reserved when refunded): an admin's to settle.
    pub refused_cents: i64,
}

/// What one refund delivery of a top-up does to the wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopUpRefund {
    /// Stripe's running total holds nothing not decided before (a repeated
    /// or an older delivery).
    Nothing,
    /// Refunded in full before it was credited: marked, so a success
    /// delivered later credits nothing.
    NeverCredit,
    /// Refunded in part before it was credited: decided once it is credited
    /// (the webhook answers 503; Stripe delivers again).
    NotCreditedYet,
    /// Take `cents` (the newly refunded part) back out of the wallet.
    Reverse { cents: i64, in_full: bool },
    /// The wallet has only `available_cents`, less than the `cents` newly
    /// refunded: it keeps them, nothing is taken, and the refusal is
    /// recorded for an admin.
    Refuse {
        cents: i64,
        available_cents: i64,
        in_full: bool,
    },
}

/// How much of a top-up's refund to take back out of its wallet, given
/// Stripe's running total (`amount_refunded` on the charge, which counts
/// every refund so far) and what the wallet has available (balance less
/// reservations). Only the part no earlier delivery decided is new: it is
/// reversed whole, or refused whole when the wallet cannot cover it, so
/// the wallet never goes negative nor takes money promised to a checkout.
pub fn top_up_refund(
    top_up: TopUpRefunds,
    charge: &ChargeRefunded,
    available_cents: i64,
) -> TopUpRefund {
    if top_up.refunded_in_full {
        return TopUpRefund::Nothing;
    }
    let in_full = charge.is_full() || charge.amount_refunded_cents >= top_up.amount_cents;
    let refunded = if in_full {
        top_up.amount_cents
    } else {
        charge.amount_refunded_cents.max(0)
    };
    if !top_up.credited {
        return if in_full {
            TopUpRefund::NeverCredit
        } else if refunded > 0 {
            TopUpRefund::NotCreditedYet
        } else {
            TopUpRefund::Nothing
        };
    }
    let cents = refunded - top_up.reversed_cents - top_up.refused_cents;
    if cents <= 0 {
        TopUpRefund::Nothing
    } else if available_cents >= cents {
        TopUpRefund::Reverse { cents, in_full }
    } else {
        TopUpRefund::Refuse {
            cents,
            available_cents,
            in_full,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(balance: Effect, movements: &[Movement]) -> Option<Effect> {
        let effect = Effect::of(movements);
        let now = [balance.balance, balance.reserved, balance.available];
        let allowed = effect
            .requires()
            .iter()
            .zip(now)
            .all(|((_, least), have)| least.is_none_or(|least| have >= least));
        allowed.then(|| Effect {
            balance: balance.balance + effect.balance,
            reserved: balance.reserved + effect.reserved,
            available: balance.available + effect.available,
        })
    }

    #[test]
    fn a_top_up_adds_to_the_balance_and_what_is_available() {
        assert_eq!(
            Effect::of(&top_up(500)),
            Effect {
                balance: 500,
                reserved: 0,
                available: 500
            }
        );
    }

    #[test]
    fn a_reservation_sets_money_aside_without_spending_it() {
        let funded = apply(Effect::default(), &credit(1_000)).unwrap();
        let reserved = apply(funded, &reservation(300)).unwrap();
        assert_eq!(
            reserved,
            Effect {
                balance: 1_000,
                reserved: 300,
                available: 700
            }
        );
        let spent = apply(reserved, &payment(300, true)).unwrap();
        assert_eq!(
            spent,
            Effect {
                balance: 700,
                reserved: 0,
                available: 700
            }
        );
        let released = apply(reserved, &release(300)).unwrap();
        assert_eq!(released, funded);
    }

    #[test]
    fn no_change_takes_more_than_is_available_or_reserved() {
        let funded = apply(Effect::default(), &top_up(500)).unwrap();
        let reserved = apply(funded, &reservation(400)).unwrap();
        assert_eq!(apply(reserved, &reservation(101)), None);
        assert_eq!(apply(reserved, &payment(101, false)), None);
        assert_eq!(
            apply(reserved, &reversal(500)),
            None,
            "400 of it is promised"
        );
        assert!(apply(reserved, &payment(100, false)).is_some());
        assert_eq!(apply(funded, &payment(100, true)), None, "nothing reserved");
        assert_eq!(apply(Effect::default(), &release(1)), None);
    }

    #[test]
    fn credits_ask_nothing_of_the_balance() {
        assert!(
            Effect::of(&refund(5))
                .requires()
                .iter()
                .all(|(_, least)| least.is_none())
        );
    }

    #[test]
    fn the_entries_sum_to_what_is_available_and_the_money_entries_to_the_balance() {
        let changes = [
            top_up(1_000),
            credit(50),
            reservation(300),
            payment(300, true),
            reservation(200),
            release(200),
            payment(100, false),
            refund(300),
            reversal(400),
        ];
        let entries: Vec<Movement> = changes.iter().flatten().copied().collect();
        let balance = changes
            .iter()
            .try_fold(Effect::default(), |b, change| apply(b, change))
            .unwrap();
        let sum = |keep: fn(&Movement) -> bool| {
            entries
                .iter()
                .filter(|m| keep(m))
                .map(|m| m.amount_cents)
                .sum::<i64>()
        };
        assert_eq!(balance.available, sum(|_| true));
        assert_eq!(balance.balance, sum(|m| m.kind.moves_money()));
        assert_eq!(balance.balance, 550);
        assert_eq!(balance.reserved, 0);
    }

    #[test]
    fn checkout_splits_between_wallet_and_card() {
        assert_eq!(
            split(2_500, "usd", 1_000),
            Ok(Split {
                wallet_cents: 1_000,
                card_cents: 1_500
            })
        );
        assert_eq!(split(2_500, "usd", 2_500).unwrap().card_cents, 0);
        assert_eq!(split(2_500, "usd", 0).unwrap().wallet_cents, 0);
    }

    #[test]
    fn the_wallet_part_is_within_the_amount_and_leaves_a_chargeable_card_part() {
        for wallet in [-1, 2_501] {
            assert!(matches!(
                split(2_500, "usd", wallet),
                Err(WalletError::Invalid {
                    field: "wallet_cents",
                    ..
                })
            ));
        }
        assert!(split(2_500, "usd", 2_490).is_err(), "10 cents by card");
        assert!(split(2_500, "usd", 2_450).is_ok(), "50 cents by card");
    }

    #[test]
    fn a_repeated_checkout_must_ask_for_the_same_wallet_part() {
        assert_eq!(same_checkout(500, 500), Ok(()));
        assert_eq!(
            same_checkout(500, 0),
            Err(WalletError::CheckoutChanged { existing: 500 })
        );
    }

    #[test]
    fn top_ups_and_credits_are_checked_and_lowercased() {
        assert_eq!(top_up_request(100, "EUR"), Ok((100, "eur".into())));
        assert!(top_up_request(99, "eur").is_err());
        assert!(top_up_request(100_001, "eur").is_err());
        assert!(top_up_request(100, "xyz").is_err());
        assert_eq!(
            credit_request(5, "usd", "  sorry  "),
            Ok((5, "usd".into(), "sorry".into()))
        );
        assert!(credit_request(5, "usd", "   ").is_err());
        assert!(credit_request(0, "usd", "x").is_err());
        assert!(credit_request(5, "usd", &"x".repeat(501)).is_err());
    }

    fn credited_top_up(reversed_cents: i64, refused_cents: i64) -> TopUpRefunds {
        TopUpRefunds {
            amount_cents: 1_000,
            credited: true,
            refunded_in_full: false,
            reversed_cents,
            refused_cents,
        }
    }

    fn refunded(amount_refunded_cents: i64) -> ChargeRefunded {
        ChargeRefunded {
            payment_intent_id: "pi_1".into(),
            amount_cents: 1_000,
            amount_refunded_cents,
            refunded: amount_refunded_cents == 1_000,
        }
    }

    #[test]
    fn a_partial_refund_of_a_top_up_reverses_the_refunded_part() {
        assert_eq!(
            top_up_refund(credited_top_up(0, 0), &refunded(300), 1_000),
            TopUpRefund::Reverse {
                cents: 300,
                in_full: false
            }
        );
    }

    #[test]
    fn a_later_refund_reverses_only_what_was_refunded_since() {
        assert_eq!(
            top_up_refund(credited_top_up(300, 0), &refunded(700), 1_000),
            TopUpRefund::Reverse {
                cents: 400,
                in_full: false
            }
        );
        assert_eq!(
            top_up_refund(credited_top_up(700, 0), &refunded(1_000), 300),
            TopUpRefund::Reverse {
                cents: 300,
                in_full: true
            }
        );
    }

    #[test]
    fn a_refund_already_decided_reverses_nothing_again() {
        for (reversed, refused, total) in [(300, 0, 300), (0, 300, 300), (700, 0, 300), (0, 0, 0)] {
            assert_eq!(
                top_up_refund(credited_top_up(reversed, refused), &refunded(total), 1_000),
                TopUpRefund::Nothing,
                "reversed {reversed}, refused {refused}, refunded {total}"
            );
        }
        let decided = TopUpRefunds {
            refunded_in_full: true,
            ..credited_top_up(0, 1_000)
        };
        assert_eq!(
            top_up_refund(decided, &refunded(1_000), 5_000),
            TopUpRefund::Nothing
        );
    }

    #[test]
    fn a_refund_the_wallet_cannot_cover_is_refused_whole() {
        assert_eq!(
            top_up_refund(credited_top_up(0, 0), &refunded(600), 599),
            TopUpRefund::Refuse {
                cents: 600,
                available_cents: 599,
                in_full: false
            }
        );
        assert_eq!(
            top_up_refund(credited_top_up(200, 0), &refunded(1_000), 0),
            TopUpRefund::Refuse {
                cents: 800,
                available_cents: 0,
                in_full: true
            }
        );
        assert_eq!(
            top_up_refund(credited_top_up(0, 0), &refunded(600), 600),
            TopUpRefund::Reverse {
                cents: 600,
                in_full: false
            },
            "exactly what is available"
        );
    }

    #[test]
    fn a_refused_part_is_not_asked_for_again_by_a_later_refund() {
        assert_eq!(
            top_up_refund(credited_top_up(0, 600), &refunded(800), 1_000),
            TopUpRefund::Reverse {
                cents: 200,
                in_full: false
            }
        );
    }

    #[test]
    fn a_refund_never_counts_more_than_the_top_up_nor_less_than_nothing() {
        let over = ChargeRefunded {
            amount_refunded_cents: 5_000,
            ..refunded(0)
        };
        assert_eq!(
            top_up_refund(credited_top_up(0, 0), &over, 10_000),
            TopUpRefund::Reverse {
                cents: 1_000,
                in_full: true
            }
        );
        assert_eq!(
            top_up_refund(credited_top_up(0, 0), &refunded(-5), 10_000),
            TopUpRefund::Nothing
        );
    }

    #[test]
    fn a_refund_before_the_credit_waits_for_it_unless_it_is_in_full() {
        let uncredited = TopUpRefunds {
            credited: false,
            ..credited_top_up(0, 0)
        };
        assert_eq!(
            top_up_refund(uncredited, &refunded(300), 0),
            TopUpRefund::NotCreditedYet
        );
        assert_eq!(
            top_up_refund(uncredited, &refunded(1_000), 0),
            TopUpRefund::NeverCredit
        );
    }

    #[test]
    fn entry_kinds_use_the_contract_names() {
        for kind in EntryKind::ALL {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
            assert_eq!(EntryKind::parse(kind.as_str()), Some(kind));
        }
    }
}
