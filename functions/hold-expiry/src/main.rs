use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};

// Lambda sends a sandbox one invocation at a time: one thread, no wake-ups
// across threads (docs/benchmarks.md, "One thread per sandbox").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let state = hold_expiry::HoldExpiryState::from_env().await?;
    shared::metrics::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let state = state.clone();
        async move { Ok::<SqsBatchResponse, Error>(hold_expiry::handle(&state, event.payload).await) }
    }))
    .await
}
