//! Everything the ticketing functions share: configuration, the clock, the
//! error type and its problem+json mapping, HTTP plumbing, authentication,
//! the domain rules (pure) and the DynamoDB store (the only place that builds
//! DynamoDB requests).

mod allocator;
pub mod auth;
pub mod aws_env;
pub mod clock;
pub mod config;
#[cfg(feature = "mail")]
pub mod confirmation_mail;
pub mod cursor;
pub mod domain;
pub mod error;
#[cfg(feature = "files")]
pub mod files;
#[cfg(feature = "mail")]
pub mod fulfilment;
pub mod http;
#[cfg(feature = "images")]
pub mod images;
pub mod limits;
#[cfg(feature = "mail")]
pub mod mail;
pub mod metrics;
#[cfg(feature = "webhooks")]
pub mod outbound;
#[cfg(feature = "payments")]
pub mod payments;
#[cfg(feature = "queue")]
pub mod queue;
pub mod recent;
pub mod recent_reads;
pub mod sale;
#[cfg(feature = "schedules")]
pub mod schedules;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tickets;

pub use error::ApiError;
pub use state::AppState;
