//! The booking confirmation: plain text and HTML, built without I/O.

use crate::domain::Event;
use crate::domain::booking::Booking;
use crate::mail::{OutgoingMail, escape_html};

pub fn confirmation_mail(
    brand: &str,
    frontend_url: &str,
    booking: &Booking,
    event: &Event,
    tickets: usize,
    to: &str,
) -> OutgoingMail {
    let link = format!("{frontend_url}/bookings/{}", booking.id);
    let starts = event
        .starts_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let what = match &booking.units {
        Some(units) => units.join(", "),
        None => format!("{} place(s)", booking.quantity),
    };
    let text = format!(
        "Your booking for {title} is confirmed.\n\n\
         {what} at {venue}, {starts} (UTC).\n\
         {tickets} ticket(s): show their QR codes at the door.\n\n\
         Your tickets: {link}\n",
        title = event.title,
        venue = event.venue,
    );
    let html = format!(
        "<!doctype html><html><body>\
         <p>Your booking for <strong>{title}</strong> is confirmed.</p>\
         <p>{what} at {venue}, {starts} (UTC).</p>\
         <p>{tickets} ticket(s): show their QR codes at the door.</p>\
         <p><a href=\"{link}\">Your tickets</a></p>\
         </body></html>",
        title = escape_html(&event.title),
        what = escape_html(&what),
        venue = escape_html(&event.venue),
        link = escape_html(&link),
    );
    OutgoingMail {
        to: to.to_owned(),
        subject: format!("{brand}: your tickets for {}", event.title),
        text,
        html,
    }
}
