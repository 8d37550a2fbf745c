//! webhook-deliverer: the SQS consumer that sends webhook deliveries. A
//! message names a delivery and the attempts it had made; the worker makes
//! the next attempt when it is due, then records what it came to,
//! conditionally on nobody having recorded that attempt first. A failed
//! attempt sends the message for the next one (delayed by the retry
//! schedule) before it is recorded, so a crash in between repeats the
//! attempt rather than losing the delivery. A batch's deliveries are sent
//! concurrently: a slow endpoint holds up only its own.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use shared::AppState;
use shared::config::{self, ConfigError, ProcessEnv};
use shared::domain::webhook::DeliveryStatus;
use shared::domain::webhook::delivery::Delivery;
use shared::domain::webhook::retry::{Attempt, RetrySchedule};
use shared::outbound::Sender;
use shared::queue::{self, MessageError, WebhookMessage, WebhookQueue};

#[derive(Clone)]
pub struct DelivererState {
    pub app: AppState,
    /// Where the message for a delivery's next attempt goes.
    pub queue: WebhookQueue,
    pub sender: Sender,
    pub schedule: RetrySchedule,
}

impl DelivererState {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let (app, aws) = AppState::from_env().await?;
        let queue = WebhookQueue::from_env(&aws)?;
        let sender = Sender::new(app.config.env);
        let schedule = config::webhook_retry_schedule(&ProcessEnv)?;
        Ok(Self {
            app,
            queue,
            sender,
            schedule,
        })
    }
}

/// Handles a batch; the ids of messages that failed are reported.
pub async fn handle(state: &DelivererState, event: SqsEvent) -> SqsBatchResponse {
    queue::each_message_concurrently("webhook-deliverer", event, |body| async move {
        handle_message(state, &body).await
    })
    .await
}

async fn handle_message(state: &DelivererState, body: &str) -> Result<(), MessageError> {
    let message: WebhookMessage = serde_json::from_str(body)?;
    let store = &state.app.store;
    let Some(delivery) = store.webhook_delivery(&message.delivery_id).await? else {
        tracing::warn!(delivery_id = %message.delivery_id, "webhook message for an unknown delivery");
        return Ok(());
    };
    // A message about an attempt already made (a duplicate) or a delivery
    // that is done: nothing to do, and retrying would not change that.
    if delivery.status != DeliveryStatus::Pending || delivery.attempts != message.attempts {
        return Ok(());
    }
    let now = state.app.clock.now();
    if !delivery.due(now) {
        // Waits longer than SQS's 15-minute delay arrive early: on again.
        state.queue.send(&delivery, now).await?;
        return Ok(());
    }
    let attempt = match store.webhook_endpoint(&delivery.endpoint_id).await? {
        Some(endpoint) => state.sender.attempt(&endpoint, &delivery, now).await,
        // Removed meanwhile: there is nowhere to deliver to any more.
        None => Attempt::Forbidden,
    };
    let record = delivery.after(attempt, &state.schedule, now);
    if record.status == DeliveryStatus::Pending {
        let next = Delivery {
            attempts: record.attempts,
            next_attempt_at: record.next_attempt_at,
            ..delivery.clone()
        };
        state.queue.send(&next, now).await?;
    }
    let recorded = store.record_attempt(&delivery, &record).await?;
    tracing::info!(delivery_id = %delivery.id, attempts = record.attempts, status = record.status.as_str(),
        code = ?record.last_status_code, recorded, "webhook attempt");
    Ok(())
}
