//! events-api as deployed, plus one DynamoDB request during init: a
//! GetItem of an event that does not exist. It opens the connection (and,
//! on AWS, does the TLS handshake and signs with the resolved credentials)
//! while Lambda's init phase runs at full CPU, instead of in the first
//! invocation. `make bench` compares it with events-api on the same first
//! request (docs/benchmarks.md, "What start-up costs"). A failed warm-up is
//! only logged: it must never stop the function from starting.

// Lambda sends a sandbox one invocation at a time: one thread, no wake-ups
// across threads (docs/benchmarks.md, "One thread per sandbox").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let state = events_api::EventsState::from_env().await?;
    if let Err(err) = state.app.store.event("warm-up").await {
        tracing::warn!(error = %err, "DynamoDB warm-up failed; the first request connects");
    }
    lambda_http::run(events_api::router(state)).await
}
