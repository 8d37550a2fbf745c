//! Tickets of confirmed bookings and their one-time check-in.

use aws_sdk_dynamodb::types::{Put, Select, TransactWriteItem, Update};
use futures::future::try_join_all;
use time::OffsetDateTime;

use super::item::{get_s, get_time, has, key, n, rfc3339, s};
use super::keys::{self, GSI2, GSI2PK, GSI2SK};
use super::{Item, Store, StoreError, build_error, classify, condition_failed_at};
use crate::domain::ticket::{Ticket, booking_of_ticket, ticket_number};

/// A transaction holds at most 100 writes.
pub(super) const TRANSACTION_ITEMS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckIn {
    /// Admitted now.
    First(Ticket),
    /// Admitted before, at `checked_in_at`.
    Again(Ticket),
    /// The ticket's booking was cancelled or refunded.
    Void(Ticket),
    /// No such ticket.
    Unknown,
}

impl Store {
    /// Writes the tickets that do not exist yet. Chunks are transactions, so
    /// each is all there or not at all, and a repeat finds them there.
    pub async fn issue_tickets(&self, tickets: &[Ticket]) -> Result<(), StoreError> {
        for chunk in tickets.chunks(TRANSACTION_ITEMS) {
            let writes = chunk
                .iter()
                .map(|ticket| self.ticket_put(ticket, Some("attribute_not_exists(PK)")))
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

    /// A ticket's write, for a transaction, under `condition` if any.
    pub(super) fn ticket_put(
        &self,
        ticket: &Ticket,
        condition: Option<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(self.table_name())
            .set_item(Some(ticket_item(ticket)))
            .set_condition_expression(condition.map(str::to_owned))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub async fn tickets_of_booking(&self, booking_id: &str) -> Result<Vec<Ticket>, StoreError> {
        let (pk, _) = keys::ticket(booking_id, 0);
        self.items_under(&pk, "TICKET#")
            .await?
            .iter()
            .map(ticket_from_item)
            .collect()
    }

    /// Admits a ticket of a confirmed booking once: the first call sets
    /// `checked_in_at` and counts it on the booking (which stops the booking
    /// from being cancelled), in one transaction; later calls read it back.
    pub async fn check_in(
        &self,
        ticket_id: &str,
        now: OffsetDateTime,
    ) -> Result<CheckIn, StoreError> {
        let (Some(booking_id), Some(ticket_key)) =
            (booking_of_ticket(ticket_id), ticket_key(ticket_id))
        else {
            return Ok(CheckIn::Unknown);
        };
        let (pk, sk) = keys::booking(booking_id);
        let count = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression("ADD checked_in :one")
            .condition_expression("#status = :confirmed")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":confirmed", s("confirmed"))
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(build_error)?;
        let (pk, sk) = ticket_key.clone();
        let admit = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression("SET checked_in_at = :now")
            .condition_expression("attribute_exists(PK) AND attribute_not_exists(checked_in_at)")
            .expression_attribute_values(":now", s(rfc3339(now)))
            .build()
            .map_err(build_error)?;
        let writes = vec![
            TransactWriteItem::builder().update(count).build(),
            TransactWriteItem::builder().update(admit).build(),
        ];
        let first = match self.transact(writes).await {
            Ok(_) => true,
            Err(StoreError::TransactionCanceled { reasons })
                if condition_failed_at(&reasons, 0) || condition_failed_at(&reasons, 1) =>
            {
                false
            }
            Err(err) => return Err(err),
        };
        let Some(ticket) = self
            .get(ticket_key)
            .await?
            .as_ref()
            .map(ticket_from_item)
            .transpose()?
        else {
            return Ok(CheckIn::Unknown);
        };
        Ok(match (first, ticket.checked_in_at) {
            (true, _) => CheckIn::First(ticket),
            (false, Some(_)) => CheckIn::Again(ticket),
            // The ticket exists and was never admitted: its booking is not
            // confirmed (cancelled or refunded).
            (false, None) => CheckIn::Void(ticket),
        })
    }

    /// Deletes a booking's tickets (after the booking stopped being valid).
    pub(super) async fn delete_tickets(&self, booking_id: &str) -> Result<(), StoreError> {
        for ticket in self.tickets_of_booking(booking_id).await? {
            let (pk, sk) = keys::ticket(booking_id, ticket.number());
            self.client
                .delete_item()
                .table_name(self.table_name())
                .set_key(Some(key(pk, sk)))
                .send()
                .await
                .map_err(classify)?;
        }
        Ok(())
    }

    /// Tickets of an event, and how many of them were admitted: counted in
    /// each of the event's ticket partitions at once.
    pub async fn checkin_counts(&self, event_id: &str) -> Result<(u64, u64), StoreError> {
        let counts = try_join_all(
            keys::event_tickets_pks(event_id)
                .flat_map(|pk| [(pk.clone(), false), (pk, true)])
                .map(|(pk, checked_in_only)| self.count_tickets(pk, checked_in_only)),
        )
        .await?;
        let (all, checked_in): (Vec<_>, Vec<_>) =
            counts.chunks(2).map(|pair| (pair[0], pair[1])).unzip();
        Ok((all.iter().sum(), checked_in.iter().sum()))
    }

    async fn count_tickets(&self, pk: String, checked_in_only: bool) -> Result<u64, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(self.table_name())
            .index_name(GSI2)
            .key_condition_expression("GSI2PK = :pk")
            .expression_attribute_values(":pk", s(pk))
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
        Ok(pages.iter().map(|p| p.count().max(0) as u64).sum())
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
        (
            GSI2PK.into(),
            s(keys::event_tickets_pk(&ticket.event_id, &ticket.booking_id)),
        ),
        (GSI2SK.into(), s(&ticket.id)),
    ]);
    for (name, value) in [
        ("holder_name", &ticket.holder_name),
        ("category", &ticket.category),
        ("tier", &ticket.tier),
    ] {
        if let Some(value) = value {
            item.insert(name.into(), s(value));
        }
    }
    item
}

pub(super) fn ticket_from_item(item: &Item) -> Result<Ticket, StoreError> {
    Ok(Ticket {
        id: get_s(item, "id")?.to_owned(),
        booking_id: get_s(item, "booking_id")?.to_owned(),
        event_id: get_s(item, "event_id")?.to_owned(),
        label: get_s(item, "label")?.to_owned(),
        category: get_s(item, "category").ok().map(str::to_owned),
        tier: get_s(item, "tier").ok().map(str::to_owned),
        holder_name: get_s(item, "holder_name").ok().map(str::to_owned),
        checked_in_at: has(item, "checked_in_at")
            .then(|| get_time(item, "checked_in_at"))
            .transpose()?,
    })
}
