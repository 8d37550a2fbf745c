use axum::extract::State;
use qrcode::QrCode;
use qrcode::render::svg;
use serde::Serialize;
use shared::auth::Authenticated;
use shared::domain::booking::BookingStatus;
use shared::domain::ticket::Ticket;
use shared::http::{Json, PathParam};
use shared::{ApiError, AppState, tickets};

use crate::bookings::visible_booking;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TicketView {
    #[serde(flatten)]
    ticket: Ticket,
    /// Signed: a scanner verifies it without a lookup.
    token: String,
    /// The token as a QR code.
    qr_svg: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TicketList {
    items: Vec<TicketView>,
}

/// The tickets of a confirmed booking, with their QR codes; any the sale or
/// confirmation did not get to write are issued now.
#[utoipa::path(get, path = "/v1/bookings/{id}/tickets", operation_id = "listTickets", tag = "bookings",
    params(("id" = String, Path, description = "Booking id")), security(("bearer" = [])),
    responses((status = 200, body = TicketList), (status = 401, body = shared::error::Problem),
              (status = 404, body = shared::error::Problem),
              (status = 409, description = "the booking is not confirmed", body = shared::error::Problem)))]
pub async fn list(
    State(app): State<AppState>,
    caller: Authenticated,
    PathParam(id): PathParam<String>,
) -> Result<Json<TicketList>, ApiError> {
    let booking = visible_booking(&app, &caller, &id).await?;
    if booking.status != BookingStatus::Confirmed {
        return Err(ApiError::conflict(
            "BOOKING_NOT_CONFIRMED",
            format!(
                "the booking is {}; tickets come with confirmation",
                booking.status.as_str()
            ),
        ));
    }
    let items = tickets::of_confirmed(&app, &booking)
        .await?
        .into_iter()
        .map(|ticket| {
            let token = app.ticket_key.token(&ticket);
            let qr_svg = qr_svg(&token)?;
            Ok(TicketView {
                ticket,
                token,
                qr_svg,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(TicketList { items }))
}

fn qr_svg(token: &str) -> Result<String, ApiError> {
    let code = QrCode::new(token.as_bytes()).map_err(ApiError::internal)?;
    Ok(code
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}
