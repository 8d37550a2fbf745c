//! The wallet ledger in DynamoDB. A user's wallet is one partition,
//! `WALLET#<user>`: a balance item per currency (`BALANCE#<currency>`:
//! balance_cents, reserved_cents, available_cents) and an entry item per
//! change (`ENTRY#<uuidv7>`). Every change is one conditional update of the
//! balance and the put of its entries, inside the transaction of whatever
//! caused it (a checkout, a confirmation, a release, a refund, a top-up's
//! success, an admin's credit), so a balance never moves without its entry
//! and never goes below zero (`domain::wallet::Effect::requires`).
//!
//! A top-up is `PI#<payment intent>` / `TOPUP` (the PaymentIntent's own
//! partition, beside a booking payment's `PI` item): credited once, under
//! `attribute_not_exists(credited_at)`, in the crediting transaction.

use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem, Update};
use time::OffsetDateTime;

use super::audit::audit_item;
use super::item::{get_n, get_s, get_time, has, key, n, rfc3339, s};
use super::keys::{self, PK, SK, WALLET_BALANCE_PREFIX, WALLET_ENTRY_PREFIX};
use super::paging::Page;
use super::{
    Item, Store, StoreError, build_error, classify, condition_failed_at, transaction_applied,
};
use crate::cursor::PageKey;
use crate::domain::audit::AuditEntry;
use crate::domain::booking::{Booking, BookingStatus};
use crate::domain::wallet::{
    self, Balance, Effect, Entry, EntryKind, Movement, TopUpRefund, TopUpRefunds,
};

/// One change of one wallet, and what caused it.
#[derive(Debug, Clone)]
pub struct WalletChange<'a> {
    pub user_id: &'a str,
    pub currency: &'a str,
    pub movements: Vec<Movement>,
    pub booking_id: Option<&'a str>,
    pub payment_intent_id: Option<&'a str>,
    pub now: OffsetDateTime,
}

/// A top-up as recorded when its PaymentIntent was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopUp {
    pub top_up_id: String,
    pub user_id: String,
    pub payment_intent_id: String,
    pub amount_cents: i64,
    pub currency: String,
    pub created_at: OffsetDateTime,
}

/// What applying a refund's decision (`domain::wallet::top_up_refund`)
/// came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopUpRefundApplied {
    /// Written as decided.
    Applied,
    /// The top-up or the balance changed since they were read (another
    /// delivery decided, or the wallet moved): read again and decide again.
    Stale,
}

impl Store {
    /// The writes of one wallet change, in this order: the balance's
    /// update (conditioned on what the change lowers staying at or above
    /// zero), then one put per entry. Returns the entries too.
    pub(super) fn wallet_writes(
        &self,
        change: &WalletChange<'_>,
    ) -> Result<(Vec<TransactWriteItem>, Vec<Entry>), StoreError> {
        let effect = Effect::of(&change.movements);
        let (pk, sk) = keys::wallet_balance(change.user_id, change.currency);
        let mut update = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression(
                "SET balance_cents = if_not_exists(balance_cents, :zero) + :balance, \
                 reserved_cents = if_not_exists(reserved_cents, :zero) + :reserved, \
                 available_cents = if_not_exists(available_cents, :zero) + :available, \
                 currency = :currency, user_id = :user, updated_at = :now",
            )
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":balance", n(effect.balance))
            .expression_attribute_values(":reserved", n(effect.reserved))
            .expression_attribute_values(":available", n(effect.available))
            .expression_attribute_values(":currency", s(change.currency))
            .expression_attribute_values(":user", s(change.user_id))
            .expression_attribute_values(":now", s(rfc3339(change.now)));
        let mut conditions = Vec::new();
        for (name, least) in effect.requires() {
            if let Some(least) = least {
                conditions.push(format!("{name} >= :least_{name}"));
                update = update.expression_attribute_values(format!(":least_{name}"), n(least));
            }
        }
        if !conditions.is_empty() {
            update = update.condition_expression(conditions.join(" AND "));
        }
        let mut writes = vec![
            TransactWriteItem::builder()
                .update(update.build().map_err(build_error)?)
                .build(),
        ];
        let mut entries = Vec::with_capacity(change.movements.len());
        for movement in &change.movements {
            let entry = Entry {
                id: uuid::Uuid::now_v7().to_string(),
                at: change.now,
                kind: movement.kind,
                amount_cents: movement.amount_cents,
                currency: change.currency.to_owned(),
                booking_id: change.booking_id.map(str::to_owned),
                payment_intent_id: change.payment_intent_id.map(str::to_owned),
            };
            writes.push(self.create(entry_item(change.user_id, &entry))?);
            entries.push(entry);
        }
        Ok((writes, entries))
    }

    /// A booking's wallet change (its owner's wallet, its currency).
    pub(super) fn booking_wallet_writes(
        &self,
        booking: &Booking,
        movements: Vec<Movement>,
        now: OffsetDateTime,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let change = WalletChange {
            user_id: &booking.user_id,
            currency: &booking.currency,
            movements,
            booking_id: Some(&booking.id),
            payment_intent_id: booking.payment_intent_id.as_deref(),
            now,
        };
        Ok(self.wallet_writes(&change)?.0)
    }

    /// What a booking that ends gives back to the wallet, by its status as
    /// read: a hold its reservation, a confirmed booking the wallet part it
    /// paid (a refund to the wallet). Nothing for a booking without a
    /// wallet part, or one expired (its reservation went back then).
    pub(super) fn wallet_given_back(
        &self,
        booking: &Booking,
        now: OffsetDateTime,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let cents = booking.wallet_part();
        let movements = match booking.status {
            _ if cents == 0 => return Ok(Vec::new()),
            BookingStatus::Held => wallet::release(cents),
            BookingStatus::Confirmed => wallet::refund(cents),
            _ => return Ok(Vec::new()),
        };
        self.booking_wallet_writes(booking, movements, now)
    }

    /// An admin's goodwill credit, with its audit entry, in one
    /// transaction. Returns the ledger entry.
    pub async fn credit_wallet(
        &self,
        change: &WalletChange<'_>,
        audit: &AuditEntry,
    ) -> Result<Entry, StoreError> {
        let (mut writes, mut entries) = self.wallet_writes(change)?;
        writes.push(self.create(audit_item(audit))?);
        self.transact(writes).await?;
        entries
            .pop()
            .ok_or_else(|| StoreError::Corrupt("a credit without its entry".into()))
    }

    /// The user's balance in each currency they ever had one in.
    pub async fn wallet_balances(&self, user_id: &str) -> Result<Vec<Balance>, StoreError> {
        self.items_under(&keys::wallet_pk(user_id), WALLET_BALANCE_PREFIX)
            .await?
            .iter()
            .map(|item| {
                Ok(Balance {
                    currency: get_s(item, "currency")?.to_owned(),
                    balance_cents: get_n(item, "balance_cents")?,
                    reserved_cents: get_n(item, "reserved_cents")?,
                })
            })
            .collect()
    }

    /// The user's ledger entries, newest first, a page at a time.
    pub async fn wallet_entries(
        &self,
        user_id: &str,
        limit: usize,
        start: Option<PageKey>,
    ) -> Result<Page<Entry>, StoreError> {
        let query = || {
            self.client
                .query()
                .table_name(self.table_name())
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":pk", s(keys::wallet_pk(user_id)))
                .expression_attribute_values(":prefix", s(WALLET_ENTRY_PREFIX))
                .scan_index_forward(false)
                .consistent_read(true)
        };
        self.query_page(query, &[PK, SK], limit, start, entry_from_item)
            .await
    }

    /// Records a top-up when its PaymentIntent is made.
    pub async fn record_top_up(&self, top_up: &TopUp) -> Result<(), StoreError> {
        let (pk, sk) = keys::top_up(&top_up.payment_intent_id);
        let mut item = key(pk, sk);
        item.extend([
            ("top_up_id".into(), s(&top_up.top_up_id)),
            ("user_id".into(), s(&top_up.user_id)),
            ("payment_intent_id".into(), s(&top_up.payment_intent_id)),
            ("amount_cents".into(), n(top_up.amount_cents)),
            ("currency".into(), s(&top_up.currency)),
            ("created_at".into(), s(rfc3339(top_up.created_at))),
        ]);
        self.client
            .put_item()
            .table_name(self.table_name())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// The top-up a PaymentIntent pays for, if it is one of ours.
    pub async fn top_up(&self, payment_intent_id: &str) -> Result<Option<TopUp>, StoreError> {
        self.get(keys::top_up(payment_intent_id))
            .await?
            .map(|item| top_up_from_item(payment_intent_id, &item))
            .transpose()
    }

    /// Credits a paid top-up, once however many deliveries race: the
    /// top-up is marked credited in the crediting transaction. `false` when
    /// it was credited before (or refunded before it was).
    pub async fn credit_top_up(
        &self,
        top_up: &TopUp,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut writes = vec![self.top_up_marked(
            top_up,
            "SET credited_at = :now",
            "attribute_exists(PK) AND attribute_not_exists(credited_at) \
             AND attribute_not_exists(refunded_at)",
            now,
        )?];
        writes.extend(self.top_up_wallet_writes(
            top_up,
            wallet::top_up(top_up.amount_cents),
            now,
        )?);
        transaction_applied(self.transact(writes).await)
    }

    /// What a top-up's user has available in its currency (0 before any
    /// balance), read strongly consistent.
    pub async fn wallet_available(&self, user_id: &str, currency: &str) -> Result<i64, StoreError> {
        let Some(item) = self.get(keys::wallet_balance(user_id, currency)).await? else {
            return Ok(0);
        };
        if has(&item, "available_cents") {
            get_n(&item, "available_cents")
        } else {
            Ok(0)
        }
    }

    /// A top-up and what of its refunds was decided, read strongly
    /// consistent.
    pub async fn top_up_refunds(
        &self,
        payment_intent_id: &str,
    ) -> Result<Option<(TopUp, TopUpRefunds)>, StoreError> {
        let Some(item) = self.get(keys::top_up(payment_intent_id)).await? else {
            return Ok(None);
        };
        let top_up = top_up_from_item(payment_intent_id, &item)?;
        let cents = |name: &str| {
            if has(&item, name) {
                get_n(&item, name)
            } else {
                Ok(0)
            }
        };
        let refunds = TopUpRefunds {
            amount_cents: top_up.amount_cents,
            credited: has(&item, "credited_at"),
            refunded_in_full: has(&item, "refunded_at"),
            reversed_cents: cents("reversed_cents")?,
            refused_cents: cents("refused_cents")?,
        };
        Ok(Some((top_up, refunds)))
    }

    /// Writes what a refund delivery of a top-up was decided to do, as one
    /// transaction conditioned on the top-up's `reversed_cents` and
    /// `refused_cents` being as `read` (so of deliveries racing with the
    /// same decision one applies, the rest find it `Stale`):
    ///
    /// * a reversal: `reversed_cents` grows by it, the balance's update
    ///   (`available_cents >= :cents`) and a `reversal` entry;
    /// * a refusal: `refused_cents` grows by it, a check that the balance
    ///   still cannot cover it (`available_cents < :cents`), and the audit
    ///   entry `wallet.top_up_reversal_refused` by `stripe`;
    /// * a refund in full before the credit: `refunded_at`, so a success
    ///   delivered later credits nothing.
    ///
    /// A refund in full also sets `refunded_at` (with `reversed_at` or
    /// `reversal_refused_at`): the top-up is settled.
    pub async fn apply_top_up_refund(
        &self,
        top_up: &TopUp,
        read: &TopUpRefunds,
        decision: TopUpRefund,
        refunded_cents: i64,
        now: OffsetDateTime,
    ) -> Result<TopUpRefundApplied, StoreError> {
        let writes = match decision {
            TopUpRefund::Nothing | TopUpRefund::NotCreditedYet => {
                return Ok(TopUpRefundApplied::Applied);
            }
            TopUpRefund::NeverCredit => vec![self.top_up_marked(
                top_up,
                "SET refunded_at = :now",
                "attribute_exists(PK) AND attribute_not_exists(credited_at) \
                 AND attribute_not_exists(refunded_at)",
                now,
            )?],
            TopUpRefund::Reverse { cents, in_full } => {
                let set = if in_full {
                    "SET reversed_cents = :reversed, refunded_at = :now, reversed_at = :now"
                } else {
                    "SET reversed_cents = :reversed"
                };
                let mut writes = vec![self.top_up_decided(
                    top_up,
                    read,
                    set,
                    (":reversed", read.reversed_cents + cents),
                    now,
                )?];
                writes.extend(self.top_up_wallet_writes(top_up, wallet::reversal(cents), now)?);
                writes
            }
            TopUpRefund::Refuse {
                cents,
                available_cents,
                in_full,
            } => {
                let set = if in_full {
                    "SET refused_cents = :refused, refunded_at = :now, reversal_refused_at = :now"
                } else {
                    "SET refused_cents = :refused"
                };
                let marked = self.top_up_decided(
                    top_up,
                    read,
                    set,
                    (":refused", read.refused_cents + cents),
                    now,
                )?;
                let (pk, sk) = keys::wallet_balance(&top_up.user_id, &top_up.currency);
                let still_short = ConditionCheck::builder()
                    .table_name(self.table_name())
                    .set_key(Some(key(pk, sk)))
                    .condition_expression(
                        "attribute_not_exists(available_cents) OR available_cents < :cents",
                    )
                    .expression_attribute_values(":cents", n(cents))
                    .build()
                    .map_err(build_error)?;
                let audit = AuditEntry::new(
                    now,
                    "stripe",
                    "wallet.top_up_reversal_refused",
                    format!("user:{}", top_up.user_id),
                    serde_json::json!({
                        "top_up_id": top_up.top_up_id,
                        "payment_intent_id": top_up.payment_intent_id,
                        "amount_cents": top_up.amount_cents,
                        "currency": top_up.currency,
                        "refunded_cents": refunded_cents,
                        "refused_cents": cents,
                        "available_cents": available_cents,
                        "reversed_cents": read.reversed_cents,
                        "why": "the refunded money was already spent or reserved",
                    }),
                );
                vec![
                    marked,
                    TransactWriteItem::builder()
                        .condition_check(still_short)
                        .build(),
                    self.create(audit_item(&audit))?,
                ]
            }
        };
        match self.transact(writes).await {
            Ok(_) => Ok(TopUpRefundApplied::Applied),
            Err(StoreError::TransactionCanceled { reasons })
                if condition_failed_at(&reasons, 0) || condition_failed_at(&reasons, 1) =>
            {
                Ok(TopUpRefundApplied::Stale)
            }
            Err(err) => Err(err),
        }
    }

    /// The top-up's update of a refund decided on it as `read`: credited,
    /// not refunded in full, its reversed and refused amounts unchanged.
    fn top_up_decided(
        &self,
        top_up: &TopUp,
        read: &TopUpRefunds,
        set: &str,
        (name, total): (&str, i64),
        now: OffsetDateTime,
    ) -> Result<TransactWriteItem, StoreError> {
        let unchanged = |attribute: &str, placeholder: &str, was: i64| {
            if was == 0 {
                format!("(attribute_not_exists({attribute}) OR {attribute} = {placeholder})")
            } else {
                format!("{attribute} = {placeholder}")
            }
        };
        let condition = format!(
            "attribute_exists(credited_at) AND attribute_not_exists(refunded_at) AND {} AND {}",
            unchanged("reversed_cents", ":read_reversed", read.reversed_cents),
            unchanged("refused_cents", ":read_refused", read.refused_cents),
        );
        let (pk, sk) = keys::top_up(&top_up.payment_intent_id);
        let update = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression(set)
            .condition_expression(condition)
            .expression_attribute_values(name, n(total))
            .expression_attribute_values(":read_reversed", n(read.reversed_cents))
            .expression_attribute_values(":read_refused", n(read.refused_cents));
        let update = if set.contains(":now") {
            update.expression_attribute_values(":now", s(rfc3339(now)))
        } else {
            update
        };
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(build_error)?)
            .build())
    }

    fn top_up_marked(
        &self,
        top_up: &TopUp,
        set: &str,
        condition: &str,
        now: OffsetDateTime,
    ) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = keys::top_up(&top_up.payment_intent_id);
        let update = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression(set)
            .condition_expression(condition)
            .expression_attribute_values(":now", s(rfc3339(now)))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn top_up_wallet_writes(
        &self,
        top_up: &TopUp,
        movements: Vec<Movement>,
        now: OffsetDateTime,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let change = WalletChange {
            user_id: &top_up.user_id,
            currency: &top_up.currency,
            movements,
            booking_id: None,
            payment_intent_id: Some(&top_up.payment_intent_id),
            now,
        };
        Ok(self.wallet_writes(&change)?.0)
    }
}

fn top_up_from_item(payment_intent_id: &str, item: &Item) -> Result<TopUp, StoreError> {
    Ok(TopUp {
        top_up_id: get_s(item, "top_up_id")?.to_owned(),
        user_id: get_s(item, "user_id")?.to_owned(),
        payment_intent_id: payment_intent_id.to_owned(),
        amount_cents: get_n(item, "amount_cents")?,
        currency: get_s(item, "currency")?.to_owned(),
        created_at: get_time(item, "created_at")?,
    })
}

fn entry_item(user_id: &str, entry: &Entry) -> Item {
    let (pk, sk) = keys::wallet_entry(user_id, &entry.id);
    let mut item = key(pk, sk);
    item.extend([
        ("id".into(), s(&entry.id)),
        ("at".into(), s(rfc3339(entry.at))),
        ("kind".into(), s(entry.kind.as_str())),
        ("amount_cents".into(), n(entry.amount_cents)),
        ("currency".into(), s(&entry.currency)),
        ("user_id".into(), s(user_id)),
    ]);
    for (name, value) in [
        ("booking_id", &entry.booking_id),
        ("payment_intent_id", &entry.payment_intent_id),
    ] {
        if let Some(value) = value {
            item.insert(name.into(), s(value));
        }
    }
    item
}

fn entry_from_item(item: &Item) -> Result<Entry, StoreError> {
    let kind = get_s(item, "kind")?;
    let optional = |name: &str| has(item, name).then(|| get_s(item, name).map(str::to_owned));
    Ok(Entry {
        id: get_s(item, "id")?.to_owned(),
        at: get_time(item, "at")?,
        kind: EntryKind::parse(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("wallet entry kind {kind}")))?,
        amount_cents: get_n(item, "amount_cents")?,
        currency: get_s(item, "currency")?.to_owned(),
        booking_id: optional("booking_id").transpose()?,
        payment_intent_id: optional("payment_intent_id").transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_reads_back_as_written() {
        let entry = Entry {
            id: "0190f1c2-7b3a-7cde-8f00-123456789abc".into(),
            at: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
            kind: EntryKind::Reservation,
            amount_cents: -300,
            currency: "usd".into(),
            booking_id: Some("b".into()),
            payment_intent_id: None,
        };
        let item = entry_item("u", &entry);
        assert_eq!(get_s(&item, PK).unwrap(), "WALLET#u");
        assert!(get_s(&item, SK).unwrap().starts_with(WALLET_ENTRY_PREFIX));
        assert_eq!(entry_from_item(&item).unwrap(), entry);
    }
}
