#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let state = auth_api::AuthState::from_env().await?;
    lambda_http::run(auth_api::router(state)).await
}
