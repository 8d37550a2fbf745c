//! One-time publish schedules in EventBridge Scheduler: the only code that
//! builds Scheduler requests. A schedule fires once at `publish_at`, invokes
//! the scheduler function with a `ScheduledJob::Publish` and deletes itself.

use std::sync::Arc;

use aws_sdk_scheduler::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, Target,
};
use time::OffsetDateTime;

use crate::config::ScheduleConfig;
use crate::domain::schedule::{PublishOrder, ScheduledJob, at_expression, publish_schedule_name};

#[derive(Debug, thiserror::Error)]
#[error("publish schedule: {0}")]
pub struct ScheduleError(String);

fn failed<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    err: aws_sdk_scheduler::error::SdkError<E, R>,
) -> ScheduleError {
    ScheduleError(DisplayErrorContext(err).to_string())
}

#[derive(Clone)]
pub struct PublishSchedules {
    client: aws_sdk_scheduler::Client,
    config: Arc<ScheduleConfig>,
}

impl PublishSchedules {
    pub fn new(aws: &aws_config::SdkConfig, config: ScheduleConfig) -> Self {
        Self {
            client: aws_sdk_scheduler::Client::new(aws),
            config: Arc::new(config),
        }
    }

    /// Creates the event's publish schedule, or moves it when it exists.
    pub async fn put(
        &self,
        event_id: &str,
        publish_at: OffsetDateTime,
    ) -> Result<(), ScheduleError> {
        let name = publish_schedule_name(event_id);
        let job = ScheduledJob::Publish(PublishOrder {
            event_id: event_id.to_owned(),
            publish_at,
        });
        let input = serde_json::to_string(&job).map_err(|e| ScheduleError(e.to_string()))?;
        let target = Target::builder()
            .arn(&self.config.target_arn)
            .role_arn(&self.config.role_arn)
            .input(input)
            .build()
            .map_err(|e| ScheduleError(e.to_string()))?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| ScheduleError(e.to_string()))?;
        let expression = at_expression(publish_at);
        let created = self
            .client
            .create_schedule()
            .group_name(&self.config.group)
            .name(&name)
            .schedule_expression(&expression)
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window.clone())
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(target.clone())
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(err) if err.code() == Some("ConflictException") => {
                self.client
                    .update_schedule()
                    .group_name(&self.config.group)
                    .name(&name)
                    .schedule_expression(&expression)
                    .schedule_expression_timezone("UTC")
                    .flexible_time_window(window)
                    .action_after_completion(ActionAfterCompletion::Delete)
                    .target(target)
                    .send()
                    .await
                    .map_err(failed)?;
                Ok(())
            }
            Err(err) => Err(failed(err)),
        }
    }

    /// Deletes the event's publish schedule; one that is gone already (it
    /// fired, or there never was one) is fine.
    pub async fn delete(&self, event_id: &str) -> Result<(), ScheduleError> {
        let deleted = self
            .client
            .delete_schedule()
            .group_name(&self.config.group)
            .name(publish_schedule_name(event_id))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(err) if err.code() == Some("ResourceNotFoundException") => Ok(()),
            Err(err) => Err(failed(err)),
        }
    }
}
