//! bookings-api: holds on events, the caller's bookings, releasing a hold,
//! checkout through Stripe and the wallet, the tickets of a confirmed
//! booking, and the caller's wallet (balances, ledger, top-ups).

mod bookings;
mod cancel;
mod checkout;
mod holds;
mod tickets;
mod wallet;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{get, post};
use std::sync::Arc;

use shared::AppState;
use shared::config::{MailConfig, PaymentsConfig};
use shared::mail::Mailer;
use shared::payments::Payments;
use shared::queue::{HoldExpiryQueue, RefundQueue};
use utoipa::OpenApi;

/// bookings-api's state: the common state plus the Stripe client, the
/// hold-expiry and refund queues, and the mailer (free bookings are
/// confirmed, and mailed, at checkout).
#[derive(Clone)]
pub struct BookingsState {
    pub app: AppState,
    pub payments: Payments,
    pub expiry: HoldExpiryQueue,
    pub refunds: RefundQueue,
    pub mailer: Mailer,
    pub mail: Arc<MailConfig>,
}

impl FromRef<BookingsState> for AppState {
    fn from_ref(state: &BookingsState) -> Self {
        state.app.clone()
    }
}

impl BookingsState {
    pub async fn from_env() -> Result<Self, lambda_http::Error> {
        let (app, aws) = AppState::from_env().await?;
        let payments = Payments::new(&PaymentsConfig::from_env()?)?;
        let expiry = HoldExpiryQueue::from_env(&aws)?;
        let mail = MailConfig::from_env()?;
        Ok(Self {
            payments,
            expiry,
            refunds: RefundQueue::from_env(&aws)?,
            mailer: Mailer::new(&aws, &mail.mail_from),
            mail: Arc::new(mail),
            app,
        })
    }
}

/// The function as Lambda serves it.
pub fn router(state: BookingsState) -> Router {
    let app = state.app.clone();
    shared::http::finish(routes(state), &app)
}

/// The bare routes, for the dev server to merge with other functions'.
pub fn routes(state: BookingsState) -> Router {
    Router::new()
        .route("/v1/events/{id}/holds", post(holds::create))
        .route(
            "/v1/bookings/{id}",
            get(bookings::show).delete(bookings::release),
        )
        .route("/v1/bookings/{id}/checkout", post(checkout::checkout))
        .route("/v1/bookings/{id}/cancel", post(cancel::cancel))
        .route("/v1/bookings/{id}/tickets", get(tickets::list))
        .route("/v1/me/bookings", get(bookings::mine))
        .route("/v1/me/wallet", get(wallet::show))
        .route("/v1/me/wallet/top-ups", post(wallet::top_up))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    paths(
        holds::create,
        bookings::show,
        bookings::release,
        bookings::mine,
        checkout::checkout,
        cancel::cancel,
        tickets::list,
        wallet::show,
        wallet::top_up
    ),
    tags((name = "bookings", description = "Holds, bookings, checkout and tickets"),
         (name = "wallet", description = "The caller's wallet: balances, ledger and top-ups"))
)]
struct ApiDoc;

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
