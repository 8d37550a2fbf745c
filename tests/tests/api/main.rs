//! Black-box specifications of the HTTP API, run by `make test` against
//! DynamoDB Local and moto.

mod audit_log;
mod bad_input;
mod categories;
mod chaos;
mod checkin;
mod contention;
mod events;
mod expiry;
mod exports;
mod holds;
mod hostile_input;
mod iam;
mod images;
mod metrics;
mod payments;
mod platform;
mod rate_limits;
mod refunds;
mod revenue;
mod roles;
mod scheduling;
mod sessions;
mod settings;
mod sign_in;
mod stripe_limits;
mod tasks;
mod tiers;
mod walk_in;
mod wallet;
mod webhook_events;
mod webhooks;
