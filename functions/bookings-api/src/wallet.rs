//! The caller's wallet: its balances and ledger, and top-ups through Stripe
//! (credited by the stripe-webhook function when the payment arrives).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::auth::Authenticated;
use shared::domain::wallet::{self, Balance, Entry};
use shared::http::{Json, Query, page_limit};
use shared::store::TopUp;
use shared::{ApiError, AppState, limits};

use crate::BookingsState;
use crate::bookings::Paging;

/// Cursors of the ledger are bound to it and to its owner.
fn listing(user_id: &str) -> String {
    format!("my-wallet:{user_id}")
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Wallet {
    balances: Vec<Balance>,
    /// Newest first.
    entries: Vec<Entry>,
    next_cursor: Option<String>,
}

/// The caller's balance in each currency and their ledger, newest entry
/// first. The entries' amounts sum to what is available (balance less
/// reserved); those of money entries (all but reservations and releases)
/// to the balance.
#[utoipa::path(get, path = "/v1/me/wallet", operation_id = "getMyWallet", tag = "wallet",
    params(Paging), security(("bearer" = [])),
    responses((status = 200, body = Wallet), (status = 400, body = shared::error::Problem),
              (status = 401, body = shared::error::Problem)))]
pub async fn show(
    State(app): State<AppState>,
    caller: Authenticated,
    Query(paging): Query<Paging>,
) -> Result<Json<Wallet>, ApiError> {
    let limit = page_limit(paging.limit)?;
    let listing = listing(&caller.user_id);
    let start = paging
        .cursor
        .as_deref()
        .map(|c| app.cursors.open(&listing, c))
        .transpose()?;
    let (balances, page) = futures::try_join!(
        app.store.wallet_balances(&caller.user_id),
        app.store.wallet_entries(&caller.user_id, limit, start),
    )?;
    Ok(Json(Wallet {
        balances,
        entries: page.items,
        next_cursor: page.last_key.map(|k| app.cursors.seal(&listing, &k)),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopUpRequest {
    /// 100..=100000 minor units.
    amount_cents: i64,
    /// ISO 4217, any case.
    currency: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TopUpStarted {
    top_up_id: String,
    payment_intent_id: String,
    /// For Stripe.js on the client to confirm the payment.
    client_secret: String,
    amount_cents: i64,
    currency: String,
}

/// Starts a top-up: a Stripe PaymentIntent of its own kind. The wallet is
/// credited once Stripe's `payment_intent.succeeded` for it arrives.
/// Counts against the per-user payments limit, as checkout does.
#[utoipa::path(post, path = "/v1/me/wallet/top-ups", operation_id = "topUpMyWallet", tag = "wallet",
    request_body = TopUpRequest, security(("bearer" = [])),
    responses((status = 201, body = TopUpStarted), (status = 400, body = shared::error::Problem),
              (status = 401, body = shared::error::Problem),
              (status = 422, description = "amount out of range, or not a currency", body = shared::error::Problem),
              (status = 429, description = "RATE_LIMITED: too many checkouts and top-ups by this user", body = shared::error::Problem,
               headers(("retry-after" = u64, description = "seconds until the limit's window ends"))),
              (status = 503, description = "Stripe did not answer, or is at its rate limit", body = shared::error::Problem)))]
pub async fn top_up(
    State(state): State<BookingsState>,
    caller: Authenticated,
    Json(req): Json<TopUpRequest>,
) -> Result<(StatusCode, Json<TopUpStarted>), ApiError> {
    let app = &state.app;
    let (amount_cents, currency) = wallet::top_up_request(req.amount_cents, &req.currency)?;
    limits::enforce(app, &[limits::payments_of(app, &caller.user_id)]).await?;
    let top_up_id = uuid::Uuid::now_v7().to_string();
    let payment = state
        .payments
        .top_up_intent(&top_up_id, &caller.user_id, amount_cents, &currency)
        .await
        .map_err(|err| crate::checkout::unavailable(&top_up_id, err))?;
    app.store
        .record_top_up(&TopUp {
            top_up_id: top_up_id.clone(),
            user_id: caller.user_id.clone(),
            payment_intent_id: payment.payment_intent_id.clone(),
            amount_cents,
            currency: currency.clone(),
            created_at: app.clock.now(),
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(TopUpStarted {
            top_up_id,
            payment_intent_id: payment.payment_intent_id,
            client_secret: payment.client_secret,
            amount_cents,
            currency,
        }),
    ))
}
