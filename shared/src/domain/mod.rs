//! Domain rules as plain functions on plain types: no I/O, unit-tested.

pub mod audit;
pub mod backoff;
pub mod booking;
pub mod currency;
pub mod email;
pub mod event;
pub mod expiry;
pub mod export;
pub mod hold;
pub mod id;
pub mod image;
pub mod kinds;
pub mod payment;
pub mod rate_limit;
pub mod refund;
pub mod revenue;
pub mod role;
pub mod schedule;
pub mod secret_token;
pub mod settings;
pub mod task;
pub mod ticket;
pub mod user;
pub mod wallet;
pub mod webhook;

pub use email::Email;
pub use event::{Event, EventStatus, Layout, Unit};
pub use role::Role;
pub use user::User;
