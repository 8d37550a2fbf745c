#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let state = bookings_api::BookingsState::from_env().await?;
    lambda_http::run(bookings_api::router(state)).await
}
