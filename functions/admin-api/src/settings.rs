use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value, json};
use shared::auth::{Developer, RequireRole};
use shared::domain::audit::AuditEntry;
use shared::domain::settings::{self, Settings, SettingsPatch};
use shared::http::Json;
use shared::store::StoreError;
use shared::{ApiError, AppState};

/// Every setting, as `GET` and `PATCH /v1/admin/settings` answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SettingsView {
    /// Minutes a hold keeps its units (1..=60).
    hold_minutes: u32,
    /// Minutes a magic link stays valid (5..=60).
    magic_link_minutes: u32,
    /// The default cap per booking for new events (1..=50).
    max_per_booking: u32,
    /// The platform's fixed fee per connected sale, in minor units.
    platform_fee_fixed_cents: i64,
    /// The platform's percentage of a connected sale (0..=30).
    platform_fee_percent: f64,
    /// The name in mails (1..=60 characters).
    brand_name: String,
    /// The organizer's Stripe connected account, if sales go to one.
    stripe_account_id: Option<String>,
}

impl From<&Settings> for SettingsView {
    fn from(s: &Settings) -> Self {
        Self {
            hold_minutes: s.hold_minutes,
            magic_link_minutes: s.magic_link_minutes,
            max_per_booking: s.max_per_booking,
            platform_fee_fixed_cents: s.platform_fee_fixed_cents,
            platform_fee_percent: f64::from(s.platform_fee_basis_points) / 100.0,
            brand_name: s.brand_name.clone(),
            stripe_account_id: s.stripe_account_id.clone(),
        }
    }
}

/// The platform's tunables, defaults included.
#[utoipa::path(get, path = "/v1/admin/settings", operation_id = "getSettings", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = SettingsView), (status = 401, body = shared::error::Problem),
              (status = 403, body = shared::error::Problem)))]
pub async fn show(
    State(app): State<AppState>,
    _developer: RequireRole<Developer>,
) -> Result<Json<SettingsView>, ApiError> {
    Ok(Json(SettingsView::from(&app.store.settings().await?)))
}

/// Changes any subset of the settings, all or none, audited with the
/// values before and after. Other processes see the change within the
/// seconds they reuse what they read (`RECENT_SETTINGS_TTL`).
#[utoipa::path(patch, path = "/v1/admin/settings", operation_id = "updateSettings", tag = "admin",
    request_body = SettingsPatch, security(("bearer" = [])),
    responses((status = 200, body = SettingsView), (status = 400, body = shared::error::Problem),
              (status = 401, body = shared::error::Problem), (status = 403, body = shared::error::Problem),
              (status = 409, description = "SETTINGS_CHANGED: another change came first; reload and retry", body = shared::error::Problem),
              (status = 422, description = "INVALID_SETTING: every value out of range is named", body = shared::error::Problem)))]
pub async fn update(
    State(app): State<AppState>,
    RequireRole { caller, .. }: RequireRole<Developer>,
    Json(patch): Json<SettingsPatch>,
) -> Result<Json<SettingsView>, ApiError> {
    let read = app.store.stored_settings().await?;
    let before = read.settings();
    let after = before.patched(&patch).map_err(|errors| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_SETTING",
            "a setting is out of its range",
        )
        .with_errors(errors)
    })?;
    let changes = settings::changes(&before, &after);
    if changes.is_empty() {
        return Ok(Json(SettingsView::from(&after)));
    }
    let (mut was, mut now) = (Map::new(), Map::new());
    for (name, old, new) in &changes {
        was.insert((*name).to_owned(), old.clone());
        now.insert((*name).to_owned(), new.clone());
    }
    let audit = AuditEntry::new(
        app.clock.now(),
        &caller.user_id,
        "settings.updated",
        "settings".to_owned(),
        json!({ "before": was, "after": now }),
    );
    let writes: Vec<(&'static str, Value)> = changes
        .into_iter()
        .map(|(name, _, new)| (name, new))
        .collect();
    match app.store.change_settings(&read, &writes, &audit).await {
        Ok(()) => {
            app.recent_settings.put("", after.clone());
            Ok(Json(SettingsView::from(&after)))
        }
        Err(StoreError::ConditionFailed { .. }) => Err(ApiError::conflict(
            "SETTINGS_CHANGED",
            "a setting changed meanwhile; reload and retry",
        )),
        Err(err) => Err(err.into()),
    }
}
