//! `GET /v1/admin/events/{id}/bookings`: every booking of an event, as a
//! JSON page or as a whole CSV or XLSX file.

mod xlsx;

use std::collections::HashSet;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shared::auth::{RequireRole, Staff};
use shared::domain::booking::BookingSource;
use shared::domain::event::Event;
use shared::domain::export::{self, ExportRow};
use shared::domain::kinds::Kinds;
use shared::http::{Json, PathParam, Query, page_limit};
use shared::store::BookingRecord;
use shared::{ApiError, AppState};

use crate::AdminState;

/// Cursors of this listing are bound to it and to the event.
const LISTING: &str = "event-bookings";
const CSV: &str = "text/csv; charset=utf-8";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
/// Files larger than this go through S3: well inside Lambda's 6 MB response,
/// which a binary body fills at 4.5 MB once base64-encoded and a text body
/// sooner once JSON-escaped into the response envelope.
const INLINE_MAX_BYTES: usize = 1024 * 1024;
/// How long the presigned link of a large export works.
const LINK_VALID_FOR: Duration = Duration::from_secs(15 * 60);

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `json` (default, paged), `csv` or `xlsx` (every booking in one file).
    format: Option<String>,
    /// JSON only: 1..=100, default 20.
    limit: Option<u32>,
    /// JSON only: `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ExportPage {
    items: Vec<ExportRow>,
    next_cursor: Option<String>,
}

enum Format {
    Json,
    Csv,
    Xlsx,
}

/// Every booking of the event, oldest first, with its holder, amounts,
/// refund state and admissions: a JSON page, or the whole list as CSV (RFC
/// 4180, formulas neutralised) or XLSX (typed cells). A file over 1 MiB is
/// written to the exports bucket and answered `303 See Other` with a
/// presigned GET valid 15 minutes.
#[utoipa::path(get, path = "/v1/admin/events/{id}/bookings", operation_id = "exportEventBookings", tag = "admin",
    params(("id" = String, Path, description = "Event id"), ExportParams), security(("bearer" = [])),
    responses((status = 200, description = "JSON page, CSV or XLSX file, as `format` asks",
                content((ExportPage = "application/json"), (String = "text/csv"),
                        (String = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
              (status = 303, description = "a large file: `location` is a presigned GET, valid 15 minutes",
                headers(("location" = String, description = "where to download the file"))),
              (status = 400, body = shared::error::Problem), (status = 401, body = shared::error::Problem),
              (status = 403, body = shared::error::Problem), (status = 404, body = shared::error::Problem)))]
pub async fn bookings(
    State(AdminState { app, exports, .. }): State<AdminState>,
    _staff: RequireRole<Staff>,
    PathParam(event_id): PathParam<String>,
    Query(params): Query<ExportParams>,
) -> Result<Response, ApiError> {
    let format = match params.format.as_deref() {
        None | Some("json") => Format::Json,
        Some("csv") => Format::Csv,
        Some("xlsx") => Format::Xlsx,
        Some(_) => {
            return Err(ApiError::invalid_field(
                "format",
                "must be json, csv or xlsx",
            ));
        }
    };
    let limit = page_limit(params.limit)?;
    let event = app
        .store
        .event(&event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    let listing = format!("{LISTING}:{}", event.id);
    if let Format::Json = format {
        let after = params
            .cursor
            .as_deref()
            .map(|c| app.cursors.open(&listing, c))
            .transpose()?
            .map(|key| key.get("after").cloned().unwrap_or_default());
        let (records, last) = app
            .store
            .event_bookings_page(&event.id, after.as_deref(), limit)
            .await?;
        let next_cursor = last.map(|after| {
            app.cursors
                .seal(&listing, &[("after".to_owned(), after)].into())
        });
        let items = rows(&app, &event, &records).await?;
        return Ok(Json(ExportPage { items, next_cursor }).into_response());
    }
    let records = app.store.all_event_bookings(&event.id, None).await?;
    let rows = rows(&app, &event, &records).await?;
    let (body, content_type, extension) = match format {
        Format::Csv => (export::csv(&rows), CSV, "csv"),
        _ => (
            xlsx::workbook(&rows).map_err(ApiError::internal)?,
            XLSX,
            "xlsx",
        ),
    };
    let disposition = format!("attachment; filename=\"bookings-{}.{extension}\"", event.id);
    if body.len() > INLINE_MAX_BYTES {
        let key = format!("exports/{}/{}.{extension}", event.id, uuid::Uuid::now_v7());
        let link = exports
            .put_and_link(&key, body, content_type, &disposition, LINK_VALID_FOR)
            .await?;
        let location = HeaderValue::from_str(&link).map_err(ApiError::internal)?;
        return Ok((StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response());
    }
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).map_err(ApiError::internal)?,
            ),
        ],
        body,
    )
        .into_response())
}

/// The rows of these bookings, with the accounts of those booked online.
async fn rows(
    app: &AppState,
    event: &Event,
    records: &[BookingRecord],
) -> Result<Vec<ExportRow>, ApiError> {
    let online: HashSet<&str> = records
        .iter()
        .filter(|r| r.booking.source == BookingSource::Online)
        .map(|r| r.booking.user_id.as_str())
        .collect();
    let accounts = app.store.users_by_id(&online).await?;
    let kinds = Kinds::of(event);
    Ok(records
        .iter()
        .map(|r| {
            export::row(
                &r.booking,
                r.checked_in,
                event,
                &kinds,
                accounts.get(&r.booking.user_id),
            )
        })
        .collect())
}
