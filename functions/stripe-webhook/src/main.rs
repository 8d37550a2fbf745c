// Lambda sends a sandbox one invocation at a time: one thread, no wake-ups
// across threads (docs/benchmarks.md, "One thread per sandbox").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let state = stripe_webhook::WebhookState::from_env().await?;
    shared::metrics::run_http(stripe_webhook::router(state)).await
}
