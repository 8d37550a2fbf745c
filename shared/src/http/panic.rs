//! A handler that panics answers a 500 problem (with the request id, like
//! every other error) instead of dropping the connection. Needs
//! `panic = "unwind"` in release builds (Cargo.toml), or the process dies
//! before this layer can answer.

use std::any::Any;

use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;

use crate::error::ApiError;

type PanicHandler = fn(Box<dyn Any + Send + 'static>) -> Response;

pub fn layer() -> CatchPanicLayer<PanicHandler> {
    CatchPanicLayer::custom(answer as PanicHandler)
}

fn answer(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message");
    ApiError::internal(format_args!("handler panicked: {message}")).into_response()
}
