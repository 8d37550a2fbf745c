use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};

// One invocation at a time per sandbox; a batch's deliveries run
// concurrently on this one thread (docs/benchmarks.md, "One thread per sandbox").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let state = webhook_deliverer::DelivererState::from_env().await?;
    shared::metrics::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let state = state.clone();
        async move {
            Ok::<SqsBatchResponse, Error>(webhook_deliverer::handle(&state, event.payload).await)
        }
    }))
    .await
}
