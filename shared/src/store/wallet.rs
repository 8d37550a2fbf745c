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

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
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
use crate::domain::wallet::{self, Balance, Effect, Entry, EntryKind, Movement};

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

/// What a full refund of a top-up did to the wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopUpReversal {
    /// The credit was taken back out.
    Reversed,
    /// It was never credited; a success delivered later credits nothing.
    NeverCredited,
    /// The money was spent (or is promised to a checkout): the wallet keeps
    /// it, and the refusal is recorded on the top-up and in the audit log.
    Refused,
    /// An earlier delivery of the refund decided already.
    AlreadyDecided,
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
        let Some(item) = self.get(keys::top_up(payment_intent_id)).await? else {
            return Ok(None);
        };
        Ok(Some(TopUp {
            top_up_id: get_s(&item, "top_up_id")?.to_owned(),
            user_id: get_s(&item, "user_id")?.to_owned(),
            payment_intent_id: payment_intent_id.to_owned(),
            amount_cents: get_n(&item, "amount_cents")?,
            currency: get_s(&item, "currency")?.to_owned(),
            created_at: get_time(&item, "created_at")?,
        }))
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

    /// Stripe refunded a top-up in full: its credit comes back out of the
    /// wallet if that leaves nothing negative (nor takes money promised to
    /// a checkout). Otherwise the wallet keeps it and the refusal is
    /// recorded on the top-up (`reversal_refused_at`) with an audit entry
    /// by `stripe`, for an admin to settle.
    pub async fn reverse_top_up(
        &self,
        top_up: &TopUp,
        now: OffsetDateTime,
    ) -> Result<TopUpReversal, StoreError> {
        let mut writes = vec![self.top_up_marked(
            top_up,
            "SET refunded_at = :now, reversed_at = :now",
            "attribute_exists(credited_at) AND attribute_not_exists(refunded_at)",
            now,
        )?];
        writes.extend(self.top_up_wallet_writes(
            top_up,
            wallet::reversal(top_up.amount_cents),
            now,
        )?);
        let reasons = match self.transact(writes).await {
            Ok(_) => return Ok(TopUpReversal::Reversed),
            Err(StoreError::TransactionCanceled { reasons }) => reasons,
            Err(err) => return Err(err),
        };
        if !condition_failed_at(&reasons, 0) && condition_failed_at(&reasons, 1) {
            let refused = self.top_up_marked(
                top_up,
                "SET refunded_at = :now, reversal_refused_at = :now",
                "attribute_not_exists(refunded_at)",
                now,
            )?;
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
                    "why": "the refunded money was already spent or reserved",
                }),
            );
            let writes = vec![refused, self.create(audit_item(&audit))?];
            return Ok(if transaction_applied(self.transact(writes).await)? {
                TopUpReversal::Refused
            } else {
                TopUpReversal::AlreadyDecided
            });
        }
        // Not credited (yet), or decided before.
        let never_credited = self.top_up_marked(
            top_up,
            "SET refunded_at = :now",
            "attribute_exists(PK) AND attribute_not_exists(credited_at) \
             AND attribute_not_exists(refunded_at)",
            now,
        )?;
        Ok(
            if transaction_applied(self.transact(vec![never_credited]).await)? {
                TopUpReversal::NeverCredited
            } else {
                TopUpReversal::AlreadyDecided
            },
        )
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
