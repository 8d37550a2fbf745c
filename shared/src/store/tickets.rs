//! Tickets of confirmed bookings and their one-time check-in.

use aws_sdk_dynamodb::types::{Put, Select, TransactWriteItem};
use time::OffsetDateTime;

use super::item::{get_s, get_time, has, key, rfc3339, s};
use super::keys::{self, GSI2, GSI2PK, GSI2SK};
use super::{Item, Store, StoreError, build_error, classify, condition_failed_at};
use crate::domain::ticket::{Ticket, booking_of_ticket, ticket_number};

/// A transaction holds at most 100 writes.
const TICKETS_PER_TRANSACTION: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckIn {
    /// Admitted now.
    First(Ticket),
    /// Admitted before, at `checked_in_at`.
    Again(Ticket),
}

impl Store {
    /// Writes the tickets that do not exist yet. Chunks are transactions, so
    /// each is all there or not at all, and a repeat finds them there.
    pub async fn issue_tickets(&self, tickets: &[Ticket]) -> Result<(), StoreError> {
        for chunk in tickets.chunks(TICKETS_PER_TRANSACTION) {
            let writes = chunk
                .iter()
                .map(|ticket| {
                    let put = Put::builder()
                        .table_name(self.table_name())
                        .set_item(Some(ticket_item(ticket)))
                        .condition_expression("attribute_not_exists(PK)")
                        .build()
                        .map_err(build_error)?;
                    Ok(TransactWriteItem::builder().put(put).build())
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            match self.transact(writes).await {
                Ok(_) => {}
                Err(StoreError::TransactionCanceled { reasons })
                    if (0..chunk.len()).any(|i| condition_failed_at(&reasons, i)) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    pub async fn tickets_of_booking(&self, booking_id: &str) -> Result<Vec<Ticket>, StoreError> {
        let (pk, _) = keys::ticket(booking_id, 0);
        self.items_under(&pk, "TICKET#")
            .await?
            .iter()
            .map(ticket_from_item)
            .collect()
    }

    /// Admits a ticket once: the first call sets `checked_in_at`, later ones
    /// read it back. `None` for a ticket that does not exist.
    pub async fn check_in(
        &self,
        ticket_id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<CheckIn>, StoreError> {
        let Some(ticket_key) = ticket_key(ticket_id) else {
            return Ok(None);
        };
        let (pk, sk) = ticket_key.clone();
        let update = self
            .client
            .update_item()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression("SET checked_in_at = :now")
            .condition_expression("attribute_exists(PK) AND attribute_not_exists(checked_in_at)")
            .expression_attribute_values(":now", s(rfc3339(now)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(classify);
        match update {
            Ok(out) => out
                .attributes
                .as_ref()
                .map(ticket_from_item)
                .transpose()
                .map(|t| t.map(CheckIn::First)),
            Err(StoreError::ConditionFailed { .. }) => Ok(self
                .get(ticket_key)
                .await?
                .as_ref()
                .map(ticket_from_item)
                .transpose()?
                .map(CheckIn::Again)),
            Err(err) => Err(err),
        }
    }

    /// Tickets of an event, and how many of them were admitted.
    pub async fn checkin_counts(&self, event_id: &str) -> Result<(u64, u64), StoreError> {
        let count = |checked_in_only: bool| async move {
            let mut query = self
                .client
                .query()
                .table_name(self.table_name())
                .index_name(GSI2)
                .key_condition_expression("GSI2PK = :pk")
                .expression_attribute_values(":pk", s(keys::event_tickets_pk(event_id)))
                .select(Select::Count);
            if checked_in_only {
                query = query.filter_expression("attribute_exists(checked_in_at)");
            }
            let pages: Vec<_> = query
                .into_paginator()
                .send()
                .try_collect()
                .await
                .map_err(classify)?;
            Ok::<u64, StoreError>(pages.iter().map(|p| p.count().max(0) as u64).sum())
        };
        Ok((count(false).await?, count(true).await?))
    }
}

fn ticket_key(ticket_id: &str) -> Option<(String, String)> {
    Some(keys::ticket(
        booking_of_ticket(ticket_id)?,
        ticket_number(ticket_id)?,
    ))
}

fn ticket_item(ticket: &Ticket) -> Item {
    let (pk, sk) = keys::ticket(&ticket.booking_id, ticket.number());
    let mut item = key(pk, sk);
    item.extend([
        ("id".into(), s(&ticket.id)),
        ("booking_id".into(), s(&ticket.booking_id)),
        ("event_id".into(), s(&ticket.event_id)),
        ("label".into(), s(&ticket.label)),
        (GSI2PK.into(), s(keys::event_tickets_pk(&ticket.event_id))),
        (GSI2SK.into(), s(&ticket.id)),
    ]);
    if let Some(name) = &ticket.holder_name {
        item.insert("holder_name".into(), s(name));
    }
    item
}

fn ticket_from_item(item: &Item) -> Result<Ticket, StoreError> {
    Ok(Ticket {
        id: get_s(item, "id")?.to_owned(),
        booking_id: get_s(item, "booking_id")?.to_owned(),
        event_id: get_s(item, "event_id")?.to_owned(),
        label: get_s(item, "label")?.to_owned(),
        holder_name: get_s(item, "holder_name").ok().map(str::to_owned),
        checked_in_at: has(item, "checked_in_at")
            .then(|| get_time(item, "checked_in_at"))
            .transpose()?,
    })
}
