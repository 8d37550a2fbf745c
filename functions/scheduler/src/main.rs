use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::domain::schedule::ScheduledJob;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let (app, _aws) = shared::AppState::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<ScheduledJob>| {
        let app = app.clone();
        async move {
            scheduler::handle(&app, event.payload)
                .await
                .map_err(Error::from)
        }
    }))
    .await
}
