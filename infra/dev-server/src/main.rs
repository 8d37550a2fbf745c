use std::net::SocketAddr;

use auth_api::AuthState;

/// `dev-server` serves the API; `dev-server openapi` prints the document.
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
    let state = AuthState::from_env().await?;
    // In AWS the HTTP API answers CORS (template.yaml); locally we do.
    let cors = dev_server::cors(&state.sign_in.frontend_url)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!(url = %format!("http://127.0.0.1:{port}"), "dev server listening");
    axum::serve(
        listener,
        dev_server::app(state)
            .layer(cors)
            .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
