#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let (state, _aws) = shared::AppState::from_env().await?;
    lambda_http::run(checkin_api::router(state)).await
}
