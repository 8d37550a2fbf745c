//! JSON logs (CloudWatch-friendly); the request middleware adds the request id
//! to every line written while a request is served.

use std::str::FromStr;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// `RUST_LOG` takes `info` or target lists like `info,aws_smithy_runtime=warn`.
pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| Targets::from_str(&v).ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_ansi(false);
    // A second init (tests, dev server) is harmless; ignore it.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(json)
        .try_init();
}
