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
use shared::queue::{QueueError, WebhookQueue};
use shared::store::{self, Item, StoreError};
use time::OffsetDateTime;

/// Deliveries recorded at once: a batch of 100 changes to a dozen
/// endpoints stays well within the function's timeout.
const CONCURRENT_DELIVERIES: usize = 16;

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
}

/// Handles a batch of stream records; on a failure, the first record it
/// touched is reported, so Lambda retries from it.
pub async fn handle(state: &ChangesState, event: Event) -> DynamoDbEventResponse {
    let now = state.app.clock.now();
    let mut sequence_numbers = Vec::with_capacity(event.records.len());
    let mut raised = Vec::new();
    for (index, record) in event.records.into_iter().enumerate() {
        sequence_numbers.push(record.change.sequence_number.clone());
        raised.extend(raised_by(index, record, now));
    }
    if raised.is_empty() {
        return DynamoDbEventResponse::default();
    }
    let failed = match state.app.store.webhook_endpoints().await {
        Ok(endpoints) => {
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
                        (event.record, delivery)
                    })
            });
            futures::stream::iter(deliveries)
                .map(|(record, delivery)| async move {
                    let result = record_and_enqueue(state, &delivery, now).await;
                    if let Err(err) = &result {
                        tracing::warn!(delivery_id = %delivery.id, error = %err, "recording a webhook delivery failed; the stream retries it");
                    }
                    result.err().map(|_| record)
                })
                .buffer_unordered(CONCURRENT_DELIVERIES)
                .filter_map(|failed| async move { failed })
                .collect::<Vec<usize>>()
                .await
                .into_iter()
                .min()
        }
        Err(err) => {
            tracing::warn!(error = %err, "reading the webhook endpoints failed; the stream retries");
            raised.first().map(|event| event.record)
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

/// The events the record's change raises. A record whose item cannot be
/// read raises nothing: retrying would not change it, and it must not hold
/// up the stream.
fn raised_by(index: usize, record: EventRecord, now: OffsetDateTime) -> Vec<RaisedBy> {
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
            return Vec::new();
        }
    };
    // When the change happened; the record's own time, to the second.
    let at = OffsetDateTime::from_unix_timestamp(
        record.change.approximate_creation_date_time.timestamp(),
    )
    .ok()
    .filter(|at| at.unix_timestamp() > 0)
    .unwrap_or(now);
    changes::raised(old.as_ref(), new.as_ref())
        .into_iter()
        .map(|raised| RaisedBy {
            record: index,
            cause: format!("{}:{}", record.event_id, raised.event_type.as_str()),
            raised,
            at,
        })
        .collect()
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
/// and the deliverer drops a message about an attempt already made.
async fn record_and_enqueue(
    state: &ChangesState,
    delivery: &Delivery,
    now: OffsetDateTime,
) -> Result<(), DeliveryError> {
    state.app.store.record_delivery(delivery).await?;
    state.queue.send(delivery, now).await?;
    Ok(())
}
