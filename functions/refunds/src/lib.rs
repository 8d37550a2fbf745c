//! refunds: the SQS consumer that gives money back. Every refund owed was
//! recorded on its payment before a message was sent (store/refunds.rs),
//! so this worker only asks Stripe (with the payment's idempotency key) and
//! records the answer: done, retried later, or failed for an operator to
//! look at. A cancelled event's refund run comes here too, a page of its
//! confirmed bookings per message, until none is left. Failed messages
//! alone come back (ReportBatchItemFailures); after five tries they go to
//! the dead-letter queue, and the sweep keeps handing pending refunds back
//! until Stripe confirms them.

mod event_run;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use shared::AppState;
use shared::config::{ConfigError, PaymentsConfig};
use shared::domain::refund::{self, RefundStatus, RefundStep};
use shared::metrics::{self, REFUNDS_FAILED};
use shared::payments::{Payments, PaymentsError, RefundRequest};
use shared::queue::{self, MessageError, RefundMessage, RefundQueue};

#[derive(Clone)]
pub struct RefundsState {
    pub app: AppState,
    pub payments: Payments,
    /// Where refunds of a cancelled event's bookings, and its run's next
    /// page, go.
    pub queue: RefundQueue,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Payments(#[from] PaymentsError),
}

impl RefundsState {
    pub async fn from_env() -> Result<Self, StartError> {
        let payments = Payments::new(&PaymentsConfig::from_env()?)?;
        let (app, aws) = AppState::from_env().await?;
        let queue = RefundQueue::from_env(&aws)?;
        Ok(Self {
            app,
            payments,
            queue,
        })
    }
}

/// Handles a batch; the ids of messages that failed are reported.
pub async fn handle(state: &RefundsState, event: SqsEvent) -> SqsBatchResponse {
    queue::each_message("refunds", event, |body| async move {
        handle_message(state, &body).await
    })
    .await
}

async fn handle_message(state: &RefundsState, body: &str) -> Result<(), MessageError> {
    match serde_json::from_str(body)? {
        RefundMessage::Payment { payment_intent_id } => {
            refund_payment(state, &payment_intent_id).await
        }
        RefundMessage::Event { event_id, recheck } => {
            event_run::next_page(state, &event_id, recheck).await
        }
    }
}

/// Asks Stripe for a pending refund and records the answer. An error means
/// Stripe did not confirm it yet: the message comes back.
pub async fn refund_payment(
    state: &RefundsState,
    payment_intent_id: &str,
) -> Result<(), MessageError> {
    let store = &state.app.store;
    let Some(job) = store.refund_job(payment_intent_id).await? else {
        tracing::warn!(payment_intent_id, "refund message for an unknown payment");
        return Ok(());
    };
    if job.status != Some(RefundStatus::Pending) {
        return Ok(());
    }
    let attempt = state
        .payments
        .refund(&RefundRequest {
            booking_id: &job.booking_id,
            payment_intent_id,
            destination_charge: job.connected_account.is_some(),
        })
        .await;
    let step = refund::after_attempt(attempt, job.attempts);
    store
        .finish_refund(&job, &step, state.app.clock.now())
        .await?;
    match step {
        RefundStep::Succeeded { refund_id } => {
            tracing::info!(payment_intent_id, booking_id = %job.booking_id, ?refund_id, "refund confirmed by Stripe");
            Ok(())
        }
        RefundStep::Failed { reason } => {
            // Money is owed and Stripe will not send it: a person must act.
            metrics::count(REFUNDS_FAILED);
            tracing::error!(payment_intent_id, booking_id = %job.booking_id, %reason, "refund refused by Stripe");
            Ok(())
        }
        RefundStep::RetryAfter { after } => Err(MessageError::NotYet(format!(
            "Stripe did not refund yet; retrying in {} s",
            after.whole_seconds()
        ))),
    }
}
