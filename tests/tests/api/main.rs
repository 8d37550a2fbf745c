//! Black-box specifications of the HTTP API, run by `make test` against
//! DynamoDB Local and moto.

mod bad_input;
mod checkin;
mod events;
mod expiry;
mod holds;
mod iam;
mod payments;
mod platform;
mod roles;
mod scheduling;
mod sessions;
mod sign_in;
