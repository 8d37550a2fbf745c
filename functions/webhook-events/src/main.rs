use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use lambda_runtime::{Error, LambdaEvent, service_fn};

// One invocation at a time per sandbox; a batch's deliveries are recorded
// concurrently on this one thread (docs/benchmarks.md, "One thread per sandbox").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let state = webhook_events::ChangesState::from_env().await?;
    shared::metrics::run(service_fn(|event: LambdaEvent<Event>| {
        let state = state.clone();
        async move {
            Ok::<DynamoDbEventResponse, Error>(webhook_events::handle(&state, event.payload).await)
        }
    }))
    .await
}
