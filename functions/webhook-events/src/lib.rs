//! webhook-events: the table's DynamoDB Stream, turned into webhook
//! deliveries. Every change to the table is in the stream (new and old
//! images), so the event a change raises is recorded by the change's own
//! write: nothing is lost between a change and its delivery, and the hot
//! paths write nothing more. Each record's change raises events
//! (`domain::webhook::changes`); each event is recorded once per subscribed
//! endpoint, its delivery id derived from the stream record and the
//! endpoint, then handed to the deliverer's queue. A failure reports the
//! first record it touched: Lambda retries the batch from there, and what
//! was recorded already is recorded once (docs/webhooks.md).
//!
//! `event.sold_out` is no one item's change: when an endpoint wants it,
//! each event a batch confirmed bookings of is checked once (`sold_out`),
//! and raised the first time it is found sold out, under a cause of the
//! event's own, so never again for that event and endpoint.

use std::collections::HashMap;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_dynamodb::types::AttributeValue;
use futures::StreamExt;
use shared::AppState;
use shared::config::ConfigError;
use shared::domain::webhook::body;
use shared::domain::webhook::changes::{self, Raised};
use shared::domain::webhook::delivery::{Delivery, new_delivery};
use shared::domain::webhook::{EventType, sold_out as sold_out_rule};
use shared::queue::{QueueError, WebhookQueue};
use shared::store::{self, Item, Recorded, StoreError};

mod sold_out;
use sold_out::Confirmed;
use time::OffsetDateTime;

/// Deliveries recorded at once: a batch of 100 changes to a dozen
/// endpoints stays well within the function's timeout.
const CONCURRENT_DELIVERIES: usize = 16;

/// Events checked for sold out at once.
const CONCURRENT_CHECKS: usize = 4;

#[derive(Clone)]
pub struct ChangesState {
    pub app: AppState,
    /// The deliverer's queue.
    pub queue: WebhookQueue,
}

impl ChangesState {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let (app, aws) = AppState::from_env().await?;
        let queue = WebhookQueue::from_env(&aws)?;
        Ok(Self { app, queue })
    }
}

#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// An event a record raised, with what makes its deliveries unique.
struct RaisedBy {
    /// The record's place in the batch.
    record: usize,
    /// The stream record's id and the event type: the same on a replay.
    cause: String,
    raised: Raised,
    at: OffsetDateTime,
    /// For a cause fixed whatever raised it (`event.sold_out`): the stream
    /// record that did, to tell its replay from a later record.
    raised_by: Option<String>,
}

/// What one record gives: the events it raises, and the confirmation of a
/// booking's event it may be.
struct FromRecord {
    raised: Vec<RaisedBy>,
    confirmed: Option<Confirmed>,
}

/// Handles a batch of stream records; on a failure, the first record it
/// touched is reported, so Lambda retries from it.
pub async fn handle(state: &ChangesState, event: Event) -> DynamoDbEventResponse {
    let now = state.app.clock.now();
    let mut sequence_numbers = Vec::with_capacity(event.records.len());
    let mut raised = Vec::new();
    let mut confirmed = Vec::new();
    for (index, record) in event.records.into_iter().enumerate() {
        sequence_numbers.push(record.change.sequence_number.clone());
        let from = from_record(index, record, now);
        raised.extend(from.raised);
        confirmed.extend(from.confirmed);
    }
    if raised.is_empty() && confirmed.is_empty() {
        return DynamoDbEventResponse::default();
    }
    let failed = match state.app.store.webhook_endpoints().await {
        Ok(endpoints) => {
            let mut failed = Vec::new();
            // Checked only for someone who wants it: free for everyone else.
            if endpoints
                .iter()
                .any(|endpoint| endpoint.events.wants(EventType::EventSoldOut))
            {
                let (sold_out, unchecked) = sold_out_raised(state, confirmed, now).await;
                raised.extend(sold_out);
                failed.extend(unchecked);
            }
            let deliveries = raised.iter().flat_map(|event| {
                endpoints
                    .iter()
                    .filter(|endpoint| endpoint.events.wants(event.raised.event_type))
                    .map(move |endpoint| {
                        let rendered = body::render(
                            endpoint.format,
                            event.raised.event_type,
                            &event.raised.data,
                            event.at,
                        );
                        let delivery = new_delivery(
                            endpoint,
                            &event.cause,
                            event.raised.event_type,
                            rendered,
                            now,
                        );
                        (event, delivery)
                    })
            });
            let unrecorded = futures::stream::iter(deliveries)
                .map(|(event, delivery)| async move {
                    let result =
                        record_and_enqueue(state, &delivery, event.raised_by.as_deref(), now)
                            .await;
                    if let Err(err) = &result {
                        tracing::warn!(delivery_id = %delivery.id, error = %err, "recording a webhook delivery failed; the stream retries it");
                    }
                    result.err().map(|_| event.record)
                })
                .buffer_unordered(CONCURRENT_DELIVERIES)
                .filter_map(|failed| async move { failed })
                .collect::<Vec<usize>>()
                .await;
            failed.extend(unrecorded);
            failed.into_iter().min()
        }
        Err(err) => {
            tracing::warn!(error = %err, "reading the webhook endpoints failed; the stream retries");
            raised
                .iter()
                .map(|event| event.record)
                .chain(confirmed.iter().map(|c| c.record))
                .min()
        }
    };
    let mut response = DynamoDbEventResponse::default();
    if let Some(record) = failed {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = sequence_numbers[record].clone();
        response.batch_item_failures.push(failure);
    }
    response
}

/// `event.sold_out` of each event the batch confirmed bookings of and that
/// has nothing left, raised by its first confirmation; and the records
/// whose check failed (the stream retries them).
async fn sold_out_raised(
    state: &ChangesState,
    confirmed: Vec<Confirmed>,
    now: OffsetDateTime,
) -> (Vec<RaisedBy>, Vec<usize>) {
    let checks = futures::stream::iter(sold_out::first_per_event(confirmed))
        .map(|confirmed| async move {
            let checked = sold_out::check(&state.app.store, &confirmed.event_id, now).await;
            (confirmed, checked)
        })
        .buffer_unordered(CONCURRENT_CHECKS)
        .collect::<Vec<_>>()
        .await;
    let mut raised = Vec::new();
    let mut failed = Vec::new();
    for (confirmed, checked) in checks {
        match checked {
            Ok(Some(sold_out)) => raised.push(RaisedBy {
                record: confirmed.record,
                cause: sold_out_rule::cause(&confirmed.event_id),
                raised: sold_out,
                at: confirmed.at,
                raised_by: Some(confirmed.record_id),
            }),
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(event_id = %confirmed.event_id, error = %err, "checking whether an event sold out failed; the stream retries");
                failed.push(confirmed.record);
            }
        }
    }
    (raised, failed)
}

/// The events the record's change raises, and the event whose booking it
/// confirmed. A record whose item cannot be read raises nothing: retrying
/// would not change it, and it must not hold up the stream.
fn from_record(index: usize, record: EventRecord, now: OffsetDateTime) -> FromRecord {
    let read = |image: Option<Item>| {
        image
            .as_ref()
            .map(store::snapshot)
            .transpose()
            .map(Option::flatten)
    };
    let (old, new) = match (
        read(image(record.change.old_image)),
        read(image(record.change.new_image)),
    ) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(err), _) | (_, Err(err)) => {
            tracing::error!(event_id = %record.event_id, error = %err, "a stream record's item cannot be read; it raises nothing");
            return FromRecord {
                raised: Vec::new(),
                confirmed: None,
            };
        }
    };
    // When the change happened; the record's own time, to the second.
    let at = OffsetDateTime::from_unix_timestamp(
        record.change.approximate_creation_date_time.timestamp(),
    )
    .ok()
    .filter(|at| at.unix_timestamp() > 0)
    .unwrap_or(now);
    let confirmed = changes::confirmation(old.as_ref(), new.as_ref()).map(|event_id| Confirmed {
        record: index,
        record_id: record.event_id.clone(),
        event_id: event_id.to_owned(),
        at,
    });
    let raised = changes::raised(old.as_ref(), new.as_ref())
        .into_iter()
        .map(|raised| RaisedBy {
            record: index,
            cause: format!("{}:{}", record.event_id, raised.event_type.as_str()),
            raised,
            at,
            raised_by: None,
        })
        .collect();
    FromRecord { raised, confirmed }
}

/// A stream image as the store's items; `None` when the record has none
/// (an insert's old image, a removal's new one).
fn image(image: serde_dynamo::Item) -> Option<Item> {
    let item: HashMap<String, AttributeValue> = image.into();
    (!item.is_empty()).then_some(item)
}

/// Records the delivery (once, whatever the replays) and asks the deliverer
/// for its first attempt. The message is sent on a replay too: a batch
/// that failed after recording and before sending still gets its attempt,
/// and the deliverer drops a message about an attempt already made. A
/// delivery of a fixed cause (`raised_by`) recorded before by another
/// record is not sent again: the event was raised already.
async fn record_and_enqueue(
    state: &ChangesState,
    delivery: &Delivery,
    raised_by: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), DeliveryError> {
    match raised_by {
        None => {
            state.app.store.record_delivery(delivery).await?;
        }
        Some(record) => match state
            .app
            .store
            .record_delivery_raised_by(delivery, record)
            .await?
        {
            Recorded::Now => {}
            Recorded::Before { raised_by } if raised_by.as_deref() == Some(record) => {}
            Recorded::Before { .. } => return Ok(()),
        },
    }
    state.queue.send(delivery, now).await?;
    Ok(())
}
