//! The hold-expiry queue: the only code that builds SQS requests. A message
//! per online hold, delayed until the hold lapses (at most 15 minutes, so
//! the worker sends longer holds' messages again).

use std::sync::Arc;

use aws_sdk_sqs::types::Message;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::{self, ConfigError};
use crate::domain::expiry;

/// The body of a hold-expiry message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldExpiryMessage {
    pub booking_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub hold_expires_at: OffsetDateTime,
}

#[derive(Debug, thiserror::Error)]
#[error("hold-expiry queue: {0}")]
pub struct QueueError(String);

#[derive(Clone)]
pub struct HoldExpiryQueue {
    client: aws_sdk_sqs::Client,
    url: Arc<str>,
}

impl HoldExpiryQueue {
    pub fn new(aws: &aws_config::SdkConfig, url: &str) -> Self {
        Self {
            client: aws_sdk_sqs::Client::new(aws),
            url: Arc::from(url),
        }
    }

    /// The queue named by `HOLD_EXPIRY_QUEUE_URL`.
    pub fn from_env(aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(
            aws,
            &config::hold_expiry_queue_url(&config::ProcessEnv)?,
        ))
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends the message to arrive when the hold lapses (or in 15 minutes,
    /// whichever comes first).
    pub async fn send(
        &self,
        message: &HoldExpiryMessage,
        now: OffsetDateTime,
    ) -> Result<(), QueueError> {
        let body = serde_json::to_string(message).map_err(|e| QueueError(e.to_string()))?;
        let delay = expiry::delay_seconds(message.hold_expires_at, now);
        self.client
            .send_message()
            .queue_url(self.url())
            .message_body(body)
            .delay_seconds(delay as i32)
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
