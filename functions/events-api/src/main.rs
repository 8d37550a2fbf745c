#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let state = events_api::EventsState::from_env().await?;
    lambda_http::run(events_api::router(state)).await
}
