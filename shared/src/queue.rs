//! The queues: the only code that builds SQS requests. The hold-expiry
//! queue takes a message per online hold, delayed until the hold lapses (at
//! most 15 minutes, so the worker sends longer holds' messages again); the
//! refund queue takes a message per refund owed and per page of a
//! cancelled event's refund run.

use std::future::Future;
use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};

use aws_sdk_sqs::types::Message;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::{self, ConfigError};
use crate::domain::expiry;
use crate::domain::webhook::delivery::Delivery;
use crate::store::StoreError;

/// The body of a hold-expiry message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldExpiryMessage {
    pub booking_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub hold_expires_at: OffsetDateTime,
}

/// A worker's batch as its SQS event source hands it over: each message's
/// body to `handle`, and the ids of those it failed reported back
/// (ReportBatchItemFailures), so SQS retries just those.
pub async fn each_message<F, Fut, E>(
    worker: &str,
    event: SqsEvent,
    mut handle: F,
) -> SqsBatchResponse
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let id = message.message_id.unwrap_or_default();
        // Boxed: the workers' futures (a Stripe call's among them) nest
        // too deep for the compiler's layout query when held inline here.
        if let Err(err) = Box::pin(handle(message.body.unwrap_or_default())).await {
            tracing::warn!(worker, message_id = %id, error = %err, "message failed; it will be retried");
            response.add_failure(id);
        }
    }
    response
}

/// `each_message`, with the batch's messages handled concurrently (on
/// the same thread): for workers whose messages wait on third parties, so
/// one slow message does not hold up the others.
pub async fn each_message_concurrently<F, Fut, E>(
    worker: &str,
    event: SqsEvent,
    handle: F,
) -> SqsBatchResponse
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let handled = event.records.into_iter().map(|message| {
        let id = message.message_id.unwrap_or_default();
        let result = handle(message.body.unwrap_or_default());
        async move { (id, Box::pin(result).await) }
    });
    let mut response = SqsBatchResponse::default();
    for (id, result) in futures::future::join_all(handled).await {
        if let Err(err) = result {
            tracing::warn!(worker, message_id = %id, error = %err, "message failed; it will be retried");
            response.add_failure(id);
        }
    }
    response
}

/// The body of a refund-queue message: one payment's refund, or one page
/// of a cancelled event's refund run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "refund", rename_all = "snake_case")]
pub enum RefundMessage {
    Payment {
        payment_intent_id: String,
    },
    Event {
        event_id: String,
        /// The run found nothing last time and looks once more.
        #[serde(default)]
        recheck: bool,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("queue: {0}")]
pub struct QueueError(String);

/// Why a worker could not handle one message; it comes back later (and,
/// after the queue's tries, goes to its dead-letter queue).
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("malformed message: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The work cannot be done yet (Stripe did not answer, say).
    #[error("not yet: {0}")]
    NotYet(String),
}

/// One SQS queue: JSON messages in, batches out.
#[derive(Clone)]
pub struct Queue {
    client: aws_sdk_sqs::Client,
    url: Arc<str>,
}

impl Queue {
    pub fn new(aws: &aws_config::SdkConfig, url: &str) -> Self {
        Self {
            client: aws_sdk_sqs::Client::new(aws),
            url: Arc::from(url),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends `message` as JSON, to arrive after `delay_seconds` (SQS allows
    /// up to 900).
    pub async fn send_json(
        &self,
        message: &impl Serialize,
        delay_seconds: u32,
    ) -> Result<(), QueueError> {
        let body = serde_json::to_string(message).map_err(|e| QueueError(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(self.url())
            .message_body(body)
            .delay_seconds(delay_seconds.min(900) as i32)
            .send()
            .await
            .map_err(|e| QueueError(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    /// Up to 10 messages, waiting up to `wait_seconds` for the first (the
    /// dev server's poll; in AWS the Lambda event source does this).
    pub async fn receive(&self, wait_seconds: i32) -> Result<Vec<Message>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(self.url())
            .max_number_of_messages(10)
            .wait_time_seconds(wait_seconds)
            .send()
            .await
            .map_err(|e| QueueError(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        Ok(out.messages.unwrap_or_default())
    }

    /// Removes a handled message (what the Lambda event source does after a
    /// successful batch item).
    pub async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(self.url())
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|e| QueueError(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}

/// The hold-expiry queue (`HOLD_EXPIRY_QUEUE_URL`).
#[derive(Clone)]
pub struct HoldExpiryQueue(pub Queue);

impl HoldExpiryQueue {
    pub fn new(aws: &aws_config::SdkConfig, url: &str) -> Self {
        Self(Queue::new(aws, url))
    }

    pub fn from_env(aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(
            aws,
            &config::hold_expiry_queue_url(&config::ProcessEnv)?,
        ))
    }

    /// Sends the message to arrive when the hold lapses (or in 15 minutes,
    /// whichever comes first).
    pub async fn send(
        &self,
        message: &HoldExpiryMessage,
        now: OffsetDateTime,
    ) -> Result<(), QueueError> {
        let delay = expiry::delay_seconds(message.hold_expires_at, now);
        self.0.send_json(message, delay).await
    }
}

/// The refund queue (`REFUND_QUEUE_URL`): refunds owed, for the refund worker.
#[derive(Clone)]
pub struct RefundQueue(pub Queue);

impl RefundQueue {
    pub fn new(aws: &aws_config::SdkConfig, url: &str) -> Self {
        Self(Queue::new(aws, url))
    }

    pub fn from_env(aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(
            aws,
            &config::refund_queue_url(&config::ProcessEnv)?,
        ))
    }

    pub async fn send(
        &self,
        message: &RefundMessage,
        delay_seconds: u32,
    ) -> Result<(), QueueError> {
        self.0.send_json(message, delay_seconds).await
    }

    /// Tells the worker about a refund just recorded. A lost message only
    /// delays it: the sweep finds every pending refund (store/refunds.rs).
    pub async fn notify(&self, payment_intent_id: &str) {
        let message = RefundMessage::Payment {
            payment_intent_id: payment_intent_id.to_owned(),
        };
        if let Err(err) = self.send(&message, 0).await {
            tracing::warn!(payment_intent_id, error = %err, "refund message not sent; the sweep will pick the refund up");
        }
    }
}

/// The body of a webhook-queue message: a delivery whose next attempt is
/// due, as of the attempts it had made. A message about an attempt already
/// made (a duplicate, a stale one) is dropped by the deliverer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookMessage {
    pub delivery_id: String,
    pub attempts: u32,
}

/// The webhook queue (`WEBHOOK_QUEUE_URL`): deliveries due, for the
/// webhook deliverer.
#[derive(Clone)]
pub struct WebhookQueue(pub Queue);

impl WebhookQueue {
    pub fn new(aws: &aws_config::SdkConfig, url: &str) -> Self {
        Self(Queue::new(aws, url))
    }

    pub fn from_env(aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(
            aws,
            &config::webhook_queue_url(&config::ProcessEnv)?,
        ))
    }

    /// Sends `delivery` to arrive when its next attempt is due (or in 15
    /// minutes, whichever comes first: the deliverer sends it on again).
    pub async fn send(&self, delivery: &Delivery, now: OffsetDateTime) -> Result<(), QueueError> {
        let delay = delivery
            .next_attempt_at
            .map_or(0, |at| expiry::delay_seconds(at, now));
        let message = WebhookMessage {
            delivery_id: delivery.id.clone(),
            attempts: delivery.attempts,
        };
        self.0.send_json(&message, delay).await
    }
}
