//! Every booking of an event, for the attendee export: GSI4's
//! `EVENTBOOKINGS#<event>#<0..31>` partitions, read together and merged by
//! creation.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::KeysAndAttributes;
use futures::future::try_join_all;
use time::OffsetDateTime;

use super::bookings::booking_from_item;
use super::item::{get_n, get_s, key, s, second_bounds};
use super::keys::{self, GSI4, GSI4SK};
use super::users::user_from_item;
use super::{Item, Store, StoreError, classify, every_item};
use crate::domain::User;
use crate::domain::booking::Booking;

/// A booking with the admissions counted on it.
#[derive(Debug, Clone)]
pub struct BookingRecord {
    pub booking: Booking,
    pub checked_in: u32,
}

/// Which of a partition's bookings a read wants, by GSI4 sort key.
#[derive(Clone, Copy)]
enum SortRange<'a> {
    All,
    After(&'a str),
    Between(&'a str, &'a str),
}

/// BatchGetItem reads at most this many keys per call.
const BATCH_GET_KEYS: usize = 100;

impl Store {
    /// One page of an event's bookings, oldest first, after the booking
    /// whose GSI4 sort key is `after`: each partition is asked for `limit`
    /// items after it, and the first `limit` of them all are the page. The
    /// second value is the sort key to continue after, when more may follow.
    pub async fn event_bookings_page(
        &self,
        event_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<BookingRecord>, Option<String>), StoreError> {
        let range = match after {
            Some(after) => SortRange::After(after),
            None => SortRange::All,
        };
        let reads = keys::event_bookings_pks(event_id).map(|pk| {
            let query = self.event_bookings_query(pk, range).limit(limit as i32);
            async move {
                let out = query.send().await.map_err(classify)?;
                let more = out.last_evaluated_key().is_some_and(|k| !k.is_empty());
                Ok::<_, StoreError>((out.items.unwrap_or_default(), more))
            }
        });
        let pages = try_join_all(reads).await?;
        let more_in_partitions = pages.iter().any(|(_, more)| *more);
        let mut items: Vec<Item> = pages.into_iter().flat_map(|(items, _)| items).collect();
        let more = more_in_partitions || items.len() > limit;
        let (records, last) = sorted_records(&mut items, limit)?;
        Ok((records, last.filter(|_| more)))
    }

    /// Every booking of an event, oldest first; only those made between
    /// `made` (both included, to the second) when given.
    pub async fn all_event_bookings(
        &self,
        event_id: &str,
        made: Option<(OffsetDateTime, OffsetDateTime)>,
    ) -> Result<Vec<BookingRecord>, StoreError> {
        let bounds = made.map(|(from, to)| second_bounds(from, to));
        let range = match &bounds {
            Some((lowest, highest)) => SortRange::Between(lowest, highest),
            None => SortRange::All,
        };
        let reads = keys::event_bookings_pks(event_id)
            .map(|pk| every_item(self.event_bookings_query(pk, range)));
        let mut items: Vec<Item> = try_join_all(reads).await?.into_iter().flatten().collect();
        let all = items.len();
        Ok(sorted_records(&mut items, all)?.0)
    }

    fn event_bookings_query(&self, pk: String, range: SortRange<'_>) -> QueryFluentBuilder {
        let query = self
            .client
            .query()
            .table_name(self.table_name())
            .index_name(GSI4)
            .expression_attribute_values(":pk", s(pk));
        match range {
            SortRange::All => query.key_condition_expression("GSI4PK = :pk"),
            SortRange::After(after) => query
                .key_condition_expression("GSI4PK = :pk AND GSI4SK > :after")
                .expression_attribute_values(":after", s(after)),
            SortRange::Between(lowest, highest) => query
                .key_condition_expression("GSI4PK = :pk AND GSI4SK BETWEEN :lowest AND :highest")
                .expression_attribute_values(":lowest", s(lowest))
                .expression_attribute_values(":highest", s(highest)),
        }
    }

    /// The users with these ids (unknown ones are left out), read 100 at a
    /// time; keys DynamoDB leaves unprocessed are asked for again.
    pub async fn users_by_id(
        &self,
        ids: &HashSet<&str>,
    ) -> Result<HashMap<String, User>, StoreError> {
        let keys: Vec<Item> = ids
            .iter()
            .map(|id| {
                let (pk, sk) = keys::user(id);
                key(pk, sk)
            })
            .collect();
        let reads = keys
            .chunks(BATCH_GET_KEYS)
            .map(|chunk| self.batch_get(chunk.to_vec()));
        let mut users = HashMap::with_capacity(ids.len());
        for item in try_join_all(reads).await?.into_iter().flatten() {
            let user = user_from_item(&item)?;
            users.insert(user.id.clone(), user);
        }
        Ok(users)
    }

    async fn batch_get(&self, mut keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for attempt in 0.. {
            if keys.is_empty() {
                break;
            }
            if attempt >= 8 {
                return Err(StoreError::Throttled);
            }
            if attempt > 0 {
                tokio::time::sleep(super::transact::backoff(attempt - 1)).await;
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut keys)))
                .build()
                .map_err(super::build_error)?;
            let out = self
                .client
                .batch_get_item()
                .request_items(self.table_name(), request)
                .send()
                .await
                .map_err(classify)?;
            if let Some(mut responses) = out.responses {
                found.extend(responses.remove(self.table_name()).unwrap_or_default());
            }
            if let Some(mut unprocessed) = out.unprocessed_keys {
                keys = unprocessed
                    .remove(self.table_name())
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
        }
        Ok(found)
    }
}

/// The first `limit` items by sort key, as records, and the sort key of the
/// last one taken.
fn sorted_records(
    items: &mut [Item],
    limit: usize,
) -> Result<(Vec<BookingRecord>, Option<String>), StoreError> {
    items.sort_by(|a, b| get_s(a, GSI4SK).ok().cmp(&get_s(b, GSI4SK).ok()));
    let taken = &items[..limit.min(items.len())];
    let last = taken
        .last()
        .map(|item| get_s(item, GSI4SK).map(str::to_owned))
        .transpose()?;
    let records = taken
        .iter()
        .map(|item| {
            Ok(BookingRecord {
                booking: booking_from_item(item)?,
                checked_in: get_n(item, "checked_in").unwrap_or(0).max(0) as u32,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok((records, last))
}
