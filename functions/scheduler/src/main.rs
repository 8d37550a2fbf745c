use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::domain::schedule::ScheduledJob;

// Lambda sends a sandbox one invocation at a time: one thread, no wake-ups
// across threads (docs/benchmarks.md, "One thread per sandbox").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let state = scheduler::SchedulerState::from_env().await?;
    shared::metrics::run(service_fn(|event: LambdaEvent<ScheduledJob>| {
        let state = state.clone();
        async move {
            scheduler::handle(&state, event.payload)
                .await
                .map_err(Error::from)
        }
    }))
    .await
}
