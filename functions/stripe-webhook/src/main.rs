#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let state = stripe_webhook::WebhookState::from_env().await?;
    lambda_http::run(stripe_webhook::router(state)).await
}
