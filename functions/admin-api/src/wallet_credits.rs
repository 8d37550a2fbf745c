//! Goodwill credits: an admin adds to a user's wallet, with a reason, and
//! the credit and its audit entry are one transaction.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use shared::auth::{Admin, RequireRole};
use shared::domain::audit::AuditEntry;
use shared::domain::wallet::{self, Entry};
use shared::http::{Json, PathParam};
use shared::store::WalletChange;
use shared::{ApiError, AppState};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditRequest {
    /// 1..=100000 minor units.
    amount_cents: i64,
    /// ISO 4217, any case.
    currency: String,
    /// Why (1 to 500 characters); kept in the audit log.
    reason: String,
}

/// Credits a user's wallet (audited as `wallet.credited`); answers the
/// ledger entry.
#[utoipa::path(post, path = "/v1/admin/users/{id}/wallet/credits", operation_id = "creditUserWallet", tag = "admin",
    request_body = CreditRequest, params(("id" = String, Path, description = "User id")), security(("bearer" = [])),
    responses((status = 201, body = Entry), (status = 400, body = shared::error::Problem),
              (status = 401, body = shared::error::Problem), (status = 403, body = shared::error::Problem),
              (status = 404, body = shared::error::Problem),
              (status = 422, description = "amount out of range, not a currency, or no reason", body = shared::error::Problem)))]
pub async fn credit(
    State(app): State<AppState>,
    RequireRole { caller, .. }: RequireRole<Admin>,
    PathParam(user_id): PathParam<String>,
    Json(req): Json<CreditRequest>,
) -> Result<(StatusCode, Json<Entry>), ApiError> {
    let (amount_cents, currency, reason) =
        wallet::credit_request(req.amount_cents, &req.currency, &req.reason)?;
    let user = app
        .store
        .user(&user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let now = app.clock.now();
    let audit = AuditEntry::new(
        now,
        &caller.user_id,
        "wallet.credited",
        format!("user:{}", user.id),
        json!({ "amount_cents": amount_cents, "currency": currency, "reason": reason }),
    );
    let change = WalletChange {
        user_id: &user.id,
        currency: &currency,
        movements: wallet::credit(amount_cents),
        booking_id: None,
        payment_intent_id: None,
        now,
    };
    let entry = app.store.credit_wallet(&change, &audit).await?;
    Ok((StatusCode::CREATED, Json(entry)))
}
