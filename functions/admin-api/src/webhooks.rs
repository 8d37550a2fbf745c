//! Outbound webhook endpoints: registration, listing, removal, their
//! deliveries, a ping and a manual retry. The deliveries themselves are
//! the webhook deliverer's.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared::ApiError;
use shared::auth::{Admin, RequireRole};
use shared::domain::audit::AuditEntry;
use shared::domain::webhook::delivery::{Delivery, DeliveryView, Endpoint, new_delivery};
use shared::domain::webhook::{
    DeliveryStatus, EventType, Format, Subscription, address, body, signature,
};
use shared::http::{Json, PathParam, Query, page_limit};
use shared::outbound;
use time::OffsetDateTime;

use crate::AdminState;

/// The longest description accepted.
const DESCRIPTION_MAX_CHARS: usize = 500;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    /// https (locally also `http://127.0.0.1:<port>`); never a private address.
    url: String,
    /// Event type names, or `["*"]` for all.
    events: Vec<String>,
    format: Format,
    description: Option<String>,
}

/// An endpoint as listed; `secret` only in the answer that creates it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    id: String,
    url: String,
    events: Vec<String>,
    format: Format,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    /// The Standard Webhooks signing secret (`whsec_…`), shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
}

impl EndpointView {
    fn without_secret(endpoint: Endpoint) -> Self {
        Self {
            secret: None,
            ..Self::with_secret(endpoint)
        }
    }

    fn with_secret(endpoint: Endpoint) -> Self {
        Self {
            id: endpoint.id,
            url: endpoint.url,
            events: endpoint.events.names(),
            format: endpoint.format,
            description: endpoint.description,
            secret: endpoint.secret,
            created_at: endpoint.created_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EndpointList {
    items: Vec<EndpointView>,
}

/// Registers an endpoint. A URL production would refuse (not https, or a
/// host naming or resolving to a loopback, private, link-local or metadata
/// address) is a 422.
#[utoipa::path(post, path = "/v1/admin/webhooks", operation_id = "createWebhook", tag = "admin", request_body = NewEndpoint,
    security(("bearer" = [])),
    responses((status = 201, body = EndpointView), (status = 400, body = shared::error::Problem),
              (status = 401, body = shared::error::Problem), (status = 403, body = shared::error::Problem),
              (status = 422, body = shared::error::Problem)))]
pub async fn create(
    State(state): State<AdminState>,
    RequireRole { caller, .. }: RequireRole<Admin>,
    Json(req): Json<NewEndpoint>,
) -> Result<(StatusCode, Json<EndpointView>), ApiError> {
    let app = &state.app;
    let events = Subscription::parse(&req.events)
        .map_err(|e| ApiError::invalid_field("events", e.to_string()))?;
    let description = req
        .description
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty());
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > DESCRIPTION_MAX_CHARS)
    {
        return Err(ApiError::invalid_field(
            "description",
            format!("must be at most {DESCRIPTION_MAX_CHARS} characters"),
        ));
    }
    let url = address::check_url(req.url.trim(), app.config.env).map_err(url_refused)?;
    outbound::check_resolved(&url, app.config.env)
        .await
        .map_err(url_refused)?;
    let now = app.clock.now();
    let endpoint = Endpoint {
        id: uuid::Uuid::now_v7().to_string(),
        url: req.url.trim().to_owned(),
        events,
        format: req.format,
        description,
        secret: (req.format == Format::Standard).then(signature::new_secret),
        created_at: now,
    };
    let audit = AuditEntry::new(
        now,
        &caller.user_id,
        "webhook.created",
        format!("webhook:{}", endpoint.id),
        json!({ "after": { "url": endpoint.url, "events": endpoint.events.names(), "format": endpoint.format } }),
    );
    app.store.create_webhook_endpoint(&endpoint, &audit).await?;
    Ok((
        StatusCode::CREATED,
        Json(EndpointView::with_secret(endpoint)),
    ))
}

fn url_refused(err: address::UrlRefused) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "WEBHOOK_URL_REFUSED",
        err.to_string(),
    )
    .with_errors(vec![shared::error::FieldError {
        field: "url".into(),
        message: err.to_string(),
    }])
}

/// Every endpoint, oldest first, without secrets.
#[utoipa::path(get, path = "/v1/admin/webhooks", operation_id = "listWebhooks", tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, body = EndpointList), (status = 401, body = shared::error::Problem),
              (status = 403, body = shared::error::Problem)))]
pub async fn list(
    State(state): State<AdminState>,
    _admin: RequireRole<Admin>,
) -> Result<Json<EndpointList>, ApiError> {
    let endpoints = state.app.store.webhook_endpoints().await?;
    Ok(Json(EndpointList {
        items: endpoints
            .into_iter()
            .map(EndpointView::without_secret)
            .collect(),
    }))
}

/// Removes an endpoint; nothing more is delivered to it.
#[utoipa::path(delete, path = "/v1/admin/webhooks/{id}", operation_id = "deleteWebhook", tag = "admin",
    params(("id" = String, Path, description = "Endpoint id")), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = shared::error::Problem),
              (status = 403, body = shared::error::Problem), (status = 404, body = shared::error::Problem)))]
pub async fn delete(
    State(state): State<AdminState>,
    RequireRole { caller, .. }: RequireRole<Admin>,
    PathParam(id): PathParam<String>,
) -> Result<StatusCode, ApiError> {
    let app = &state.app;
    let audit = AuditEntry::new(
        app.clock.now(),
        &caller.user_id,
        "webhook.deleted",
        format!("webhook:{id}"),
        json!({}),
    );
    if !app.store.delete_webhook_endpoint(&id, &audit).await? {
        return Err(ApiError::not_found("webhook"));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListDeliveries {
    /// 1..=100, default 20.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryPage {
    items: Vec<DeliveryView>,
    next_cursor: Option<String>,
}

/// An endpoint's deliveries, newest first.
#[utoipa::path(get, path = "/v1/admin/webhooks/{id}/deliveries", operation_id = "listWebhookDeliveries", tag = "admin",
    params(("id" = String, Path, description = "Endpoint id"), ListDeliveries), security(("bearer" = [])),
    responses((status = 200, body = DeliveryPage), (status = 400, body = shared::error::Problem),
              (status = 401, body = shared::error::Problem), (status = 403, body = shared::error::Problem),
              (status = 404, body = shared::error::Problem)))]
pub async fn deliveries(
    State(state): State<AdminState>,
    _admin: RequireRole<Admin>,
    PathParam(id): PathParam<String>,
    Query(params): Query<ListDeliveries>,
) -> Result<Json<DeliveryPage>, ApiError> {
    let app = &state.app;
    let limit = page_limit(params.limit)?;
    let endpoint = existing(&state, &id).await?;
    let listing = json!(["webhook-deliveries", endpoint.id]).to_string();
    let start = params
        .cursor
        .as_deref()
        .map(|c| app.cursors.open(&listing, c))
        .transpose()?;
    let page = app
        .store
        .webhook_deliveries(&endpoint.id, limit, start)
        .await?;
    Ok(Json(DeliveryPage {
        items: page.items.into_iter().map(DeliveryView::from).collect(),
        next_cursor: page.last_key.map(|k| app.cursors.seal(&listing, &k)),
    }))
}

/// Sends the endpoint a `ping`, as any other delivery (listed, retried).
#[utoipa::path(post, path = "/v1/admin/webhooks/{id}/test", operation_id = "testWebhook", tag = "admin",
    params(("id" = String, Path, description = "Endpoint id")), security(("bearer" = [])),
    responses((status = 202), (status = 401, body = shared::error::Problem),
              (status = 403, body = shared::error::Problem), (status = 404, body = shared::error::Problem)))]
pub async fn test(
    State(state): State<AdminState>,
    RequireRole { caller, .. }: RequireRole<Admin>,
    PathParam(id): PathParam<String>,
) -> Result<StatusCode, ApiError> {
    let app = &state.app;
    let endpoint = existing(&state, &id).await?;
    let now = app.clock.now();
    let data = json!({ "webhook_id": endpoint.id });
    let rendered = body::render(endpoint.format, EventType::Ping, &data, now);
    let ping_id = uuid::Uuid::now_v7().to_string();
    let delivery = new_delivery(&endpoint, &ping_id, EventType::Ping, rendered, now);
    let audit = AuditEntry::new(
        now,
        &caller.user_id,
        "webhook.tested",
        format!("webhook:{}", endpoint.id),
        json!({ "delivery_id": delivery.id }),
    );
    app.store.record_delivery_audited(&delivery, &audit).await?;
    enqueue(&state, &delivery, now).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Tries a failed delivery once more, under the same `webhook-id`.
#[utoipa::path(post, path = "/v1/admin/webhooks/{id}/deliveries/{delivery}/retry", operation_id = "retryWebhookDelivery", tag = "admin",
    params(("id" = String, Path, description = "Endpoint id"), ("delivery" = String, Path, description = "Delivery id")),
    security(("bearer" = [])),
    responses((status = 202), (status = 401, body = shared::error::Problem),
              (status = 403, body = shared::error::Problem), (status = 404, body = shared::error::Problem),
              (status = 409, body = shared::error::Problem)))]
pub async fn retry(
    State(state): State<AdminState>,
    RequireRole { caller, .. }: RequireRole<Admin>,
    PathParam((id, delivery_id)): PathParam<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let app = &state.app;
    let mut delivery = app
        .store
        .webhook_delivery(&delivery_id)
        .await?
        .filter(|d| d.endpoint_id == id)
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    if delivery.status != DeliveryStatus::Failed {
        return Err(not_failed());
    }
    let now = app.clock.now();
    let audit = AuditEntry::new(
        now,
        &caller.user_id,
        "webhook.delivery_retried",
        format!("webhook:{id}"),
        json!({ "delivery_id": delivery.id, "attempts": delivery.attempts }),
    );
    if !app.store.retry_delivery(&delivery, now, &audit).await? {
        return Err(not_failed());
    }
    delivery.status = DeliveryStatus::Pending;
    delivery.next_attempt_at = Some(now);
    enqueue(&state, &delivery, now).await?;
    Ok(StatusCode::ACCEPTED)
}

fn not_failed() -> ApiError {
    ApiError::conflict(
        "DELIVERY_NOT_FAILED",
        "only a failed delivery can be retried by hand",
    )
}

async fn existing(state: &AdminState, id: &str) -> Result<Endpoint, ApiError> {
    state
        .app
        .store
        .webhook_endpoint(id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))
}

/// Hands the delivery to the deliverer. It is recorded already; when the
/// message cannot be sent the caller gets a 503 (a ping can simply be sent
/// again) and the delivery stays listed as pending.
async fn enqueue(
    state: &AdminState,
    delivery: &Delivery,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    state.webhooks.send(delivery, now).await.map_err(|err| {
        tracing::warn!(delivery_id = %delivery.id, error = %err, "webhook message not sent");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "a dependency did not answer in time; retry shortly",
        )
    })
}
