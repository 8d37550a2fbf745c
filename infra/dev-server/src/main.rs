use std::net::SocketAddr;

use dev_server::Functions;
use fake_stripe::FakeStripe;
use shared::config::LOCAL_STRIPE_WEBHOOK_SECRET;

/// `dev-server` serves the API; `dev-server openapi` prints the document.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if std::env::args().nth(1).as_deref() == Some("openapi") {
        print!("{}", dev_server::openapi_json());
        return Ok(());
    }
    shared::telemetry::init();
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let functions = Functions::from_env().await?;
    // In AWS the HTTP API answers CORS (template.yaml); locally we do.
    let cors = dev_server::cors(&functions.auth.sign_in.frontend_url)?;
    // The fake Stripe answers on this port too (STRIPE_API_BASE points here)
    // and delivers its webhooks back to it.
    let webhook_secret = std::env::var("STRIPE_WEBHOOK_SECRET")
        .unwrap_or_else(|_| LOCAL_STRIPE_WEBHOOK_SECRET.to_owned());
    let stripe = FakeStripe::new(
        &webhook_secret,
        Some(format!("http://127.0.0.1:{port}/v1/webhooks/stripe")),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!(url = %format!("http://127.0.0.1:{port}"), "dev server listening");
    axum::serve(
        listener,
        dev_server::app(functions)
            .merge(stripe.router())
            .layer(cors)
            .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
