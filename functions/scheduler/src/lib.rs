//! scheduler: the target of EventBridge Scheduler. A one-time schedule per
//! scheduled event publishes it at its time; the every-minute sweep
//! releases lapsed holds whose expiry message was lost, publishes
//! scheduled events whose schedule was lost, and hands the refund worker
//! every refund still owed whose message was lost or failed. Every step is a conditional
//! write, so a job that runs twice, late, or after a manual change does
//! nothing wrong.

use serde::Serialize;
use serde_json::{Value, json};
use shared::AppState;
use shared::config::ConfigError;
use shared::domain::audit::AuditEntry;
use shared::domain::event::{self, EventStatus};
use shared::domain::schedule::{PublishOrder, ScheduledJob};
use shared::metrics::{self, SWEEP_RELEASES};
use shared::queue::{QueueError, RefundMessage, RefundQueue};
use shared::store::{DueRefund, EventChange, EventSaved, StoreError};
use time::Duration;

/// Who the audit log names for publishing on schedule.
pub const ACTOR: &str = "scheduler";

/// How often a publish is decided afresh when the event keeps changing
/// under it, before the job fails (and EventBridge retries it).
const ATTEMPTS: usize = 3;

/// A refund the sweep handed over is not handed over again before this:
/// the worker has it (or its own retry delay, which it writes, is later).
const REFUND_HANDOVER: Duration = Duration::minutes(5);

#[derive(Clone)]
pub struct SchedulerState {
    pub app: AppState,
    pub refunds: RefundQueue,
}

impl SchedulerState {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let (app, aws) = AppState::from_env().await?;
        let refunds = RefundQueue::from_env(&aws)?;
        Ok(Self { app, refunds })
    }
}

/// What a job did, for the logs (and the tests).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Events this job put on sale.
    pub published: Vec<String>,
    /// Lapsed holds this job expired.
    pub holds_released: u32,
    /// Refunds (and event refund runs) handed back to the refund worker.
    pub refunds_resent: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("event {0} kept changing while being published")]
    EventKeptChanging(String),
}

pub async fn handle(state: &SchedulerState, job: ScheduledJob) -> Result<Report, JobError> {
    let report = match job {
        ScheduledJob::Publish(order) => Report {
            published: publish(&state.app, &order).await?.into_iter().collect(),
            ..Report::default()
        },
        ScheduledJob::Sweep {} => sweep(state).await?,
    };
    // A sweep that found nothing is the common case: not worth a log line a minute.
    if report == Report::default() {
        tracing::debug!("scheduled job found nothing to do");
    } else {
        tracing::info!(published = ?report.published, holds_released = report.holds_released,
            refunds_resent = report.refunds_resent, "scheduled job done");
    }
    Ok(report)
}

/// Releases every lapsed hold, publishes every overdue scheduled event and
/// hands every overdue refund back to the refund worker.
async fn sweep(state: &SchedulerState) -> Result<Report, JobError> {
    let app = &state.app;
    let now = app.clock.now();
    let holds_released = app.store.release_all_lapsed_holds(now).await?;
    metrics::add(SWEEP_RELEASES, holds_released.into());
    let mut published = Vec::new();
    for event in app.store.due_scheduled_events(now).await? {
        let Some(publish_at) = event.publish_at else {
            continue;
        };
        let order = PublishOrder {
            event_id: event.id,
            publish_at,
        };
        published.extend(publish(app, &order).await?);
    }
    Ok(Report {
        published,
        holds_released,
        refunds_resent: resend_refunds(state).await?,
    })
}

/// Refunds still owed whose next look is due: their message was lost, or
/// Stripe failed and the retry delay passed. Each goes to the worker again.
async fn resend_refunds(state: &SchedulerState) -> Result<u32, JobError> {
    let now = state.app.clock.now();
    let due = state.app.store.due_refunds(now).await?;
    for refund in &due {
        let message = match refund {
            DueRefund::Payment { payment_intent_id } => RefundMessage::Payment {
                payment_intent_id: payment_intent_id.clone(),
            },
            DueRefund::EventRun { event_id } => RefundMessage::Event {
                event_id: event_id.clone(),
                recheck: false,
            },
        };
        state.refunds.send(&message, 0).await?;
        state
            .app
            .store
            .postpone_refund(refund, now + REFUND_HANDOVER)
            .await?;
    }
    Ok(due.len() as u32)
}

/// Publishes the event if it is still scheduled for exactly the order's
/// time, with its audit entry; `None` when it is not (published by hand,
/// moved, cancelled, unknown).
async fn publish(app: &AppState, order: &PublishOrder) -> Result<Option<String>, JobError> {
    for _ in 0..ATTEMPTS {
        let Some(before) = app.store.event(&order.event_id).await? else {
            return Ok(None);
        };
        if before.status != EventStatus::Scheduled || before.publish_at != Some(order.publish_at) {
            return Ok(None);
        }
        let now = app.clock.now();
        let after = before.with_status(EventStatus::Published, now);
        let audit = AuditEntry::new(
            now,
            ACTOR,
            "event.published",
            format!("event:{}", before.id),
            json!({ "changes": Value::Object(event::changes(&before, &after)) }),
        );
        let change = EventChange {
            before: &before,
            after: &after,
            audit,
        };
        match app.store.save_event(change).await? {
            EventSaved::Saved => return Ok(Some(after.id)),
            // A status change never relayouts, so only a lost race lands here.
            EventSaved::Stale | EventSaved::LayoutLocked => continue,
        }
    }
    Err(JobError::EventKeptChanging(order.event_id.clone()))
}
