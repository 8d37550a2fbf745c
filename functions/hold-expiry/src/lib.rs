//! hold-expiry: the SQS consumer that releases holds whose time ran out.
//! Each online hold sends one message, delayed until the hold lapses; the
//! worker expires the booking and frees its units or places, conditionally
//! on it still being that lapsed hold. Messages are idempotent: a booking
//! paid, released or expired meanwhile is left alone. Only messages that
//! fail are reported back (ReportBatchItemFailures), so SQS retries just
//! those and, after five tries, parks them in the dead-letter queue.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use shared::AppState;
use shared::config::ConfigError;
use shared::domain::expiry::{self, ExpiryStep};
use shared::metrics::{self, HOLD_EXPIRY_LAG};
use shared::queue::{self, HoldExpiryMessage, HoldExpiryQueue, MessageError};

#[derive(Clone)]
pub struct HoldExpiryState {
    pub app: AppState,
    /// Where a message for a hold not yet due goes again.
    pub queue: HoldExpiryQueue,
}

impl HoldExpiryState {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let (app, aws) = AppState::from_env().await?;
        let queue = HoldExpiryQueue::from_env(&aws)?;
        Ok(Self { app, queue })
    }
}

/// Handles a batch; the ids of messages that failed are reported.
pub async fn handle(state: &HoldExpiryState, event: SqsEvent) -> SqsBatchResponse {
    queue::each_message("hold-expiry", event, |body| async move {
        handle_message(state, &body).await
    })
    .await
}

async fn handle_message(state: &HoldExpiryState, body: &str) -> Result<(), MessageError> {
    let message: HoldExpiryMessage = serde_json::from_str(body)?;
    let Some(booking) = state.app.store.booking(&message.booking_id).await? else {
        // Nothing to release, and retrying would not change that.
        tracing::warn!(booking_id = %message.booking_id, "hold-expiry message for an unknown booking");
        return Ok(());
    };
    let now = state.app.clock.now();
    match expiry::next_step(&booking, now) {
        ExpiryStep::Done => {}
        ExpiryStep::Release => {
            let expired = state.app.store.expire_hold(&booking, now).await?;
            tracing::info!(booking_id = %booking.id, expired, "lapsed hold released");
            if let Some(lapsed_at) = booking.hold_expires_at.filter(|_| expired) {
                metrics::observe_seconds(HOLD_EXPIRY_LAG, (now - lapsed_at).as_seconds_f64());
            }
        }
        ExpiryStep::NotDueUntil(hold_expires_at) => {
            let again = HoldExpiryMessage {
                booking_id: booking.id.clone(),
                hold_expires_at,
            };
            state.queue.send(&again, now).await?;
            tracing::info!(booking_id = %booking.id, %hold_expires_at, "hold not due yet; message sent again");
        }
    }
    Ok(())
}
