use std::net::SocketAddr;
use std::time::Duration;

use auth_api::AuthState;
use bookings_api::BookingsState;
use events_api::EventsState;
use hold_expiry::HoldExpiryState;
use shared::config::ScheduleConfig;
use shared::queue::HoldExpiryQueue;
use shared::schedules::PublishSchedules;

/// `dev-server` serves the API and runs the workers; `dev-server openapi`
/// prints the document.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("openapi") {
        print!("{}", dev_server::openapi_json());
        return Ok(());
    }
    shared::telemetry::init();
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    // The sweep runs every minute in AWS; locally it may run more often.
    let sweep_seconds: u64 = std::env::var("SWEEP_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&s| s > 0)
        .unwrap_or(60);
    let auth = AuthState::from_env().await?;
    let aws = shared::state::load_aws().await;
    let core = auth.app.clone();
    let expiry = HoldExpiryQueue::from_env(&aws)?;
    let bookings = BookingsState {
        app: core.clone(),
        expiry: expiry.clone(),
    };
    let events = EventsState {
        app: core.clone(),
        schedules: PublishSchedules::new(&aws, ScheduleConfig::from_env()?),
    };
    // In AWS the HTTP API answers CORS (template.yaml); locally we do.
    let cors = dev_server::cors(&auth.sign_in.frontend_url)?;
    tokio::spawn(dev_server::poll_hold_expiry(HoldExpiryState {
        app: core.clone(),
        queue: expiry,
    }));
    tokio::spawn(dev_server::sweep_every(
        core,
        Duration::from_secs(sweep_seconds),
    ));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!(url = %format!("http://127.0.0.1:{port}"), sweep_seconds, "dev server listening; hold-expiry poll and sweep running");
    axum::serve(
        listener,
        dev_server::app(auth, bookings, events)
            .layer(cors)
            .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
