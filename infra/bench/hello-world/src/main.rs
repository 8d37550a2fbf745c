//! The baseline of the start-up benchmark (`make bench`): lambda_http with
//! nothing else, so a function's start-up can be compared against it.

use lambda_http::{Body, Error, Request, Response, service_fn};

// Lambda sends a sandbox one invocation at a time: one thread, no wake-ups
// across threads (docs/benchmarks.md, "One thread per sandbox").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|_request: Request| async {
        let response = Response::builder()
            .status(200)
            .header("content-type", "text/plain")
            .body(Body::from("hello"))?;
        Ok::<_, Error>(response)
    }))
    .await
}
