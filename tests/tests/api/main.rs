//! Black-box specifications of the HTTP API, run by `make test` against
//! DynamoDB Local and moto.

mod bad_input;
mod checkin;
mod events;
mod holds;
mod payments;
mod platform;
mod roles;
mod sessions;
mod sign_in;
