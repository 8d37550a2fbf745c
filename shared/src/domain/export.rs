//! The attendee export of one event (`GET /v1/admin/events/{id}/bookings`):
//! one row per booking, the same rows in JSON, CSV and XLSX.

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::booking::{Booking, BookingSource, BookingStatus, TierItem};
use super::event::Event;
use super::kinds::{Kinds, Line};
use super::refund::RefundStatus;
use super::ticket::tickets_for;
use super::user::User;

/// One booking as the organizer sees it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ExportRow {
    pub booking_id: String,
    pub status: BookingStatus,
    pub source: BookingSource,
    /// The walk-in buyer's name, else the account's name (may be empty).
    pub holder_name: String,
    /// The walk-in buyer's email if given, else the account's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub units: Option<Vec<String>>,
    pub quantity: u32,
    /// Tiered open events: the places per tier, as on the booking.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<TierItem>>,
    /// Grids with price categories: the units per category.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<CategoryItem>>,
    pub amount_cents: i64,
    pub fee_cents: i64,
    pub currency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_status: Option<RefundStatus>,
    /// What Stripe has given back so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refunded_cents: Option<i64>,
    /// Tickets the booking carries: issued while it is confirmed, none otherwise.
    pub tickets: u32,
    /// Of them, admitted at the door.
    pub checked_in: u32,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// Units of one price category in a booking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CategoryItem {
    pub category: String,
    pub quantity: u32,
    pub price_cents: i64,
}

/// The row of a booking; `account` is the user who booked online (walk-ins
/// carry their buyer on the booking); `kinds` are the event's.
pub fn row(
    booking: &Booking,
    checked_in: u32,
    event: &Event,
    kinds: &Kinds,
    account: Option<&User>,
) -> ExportRow {
    let (holder_name, holder_email) = match booking.source {
        BookingSource::WalkIn => (
            booking.holder_name.clone().unwrap_or_default(),
            booking.holder_email.clone(),
        ),
        BookingSource::Online => (
            account.map(|u| u.name.clone()).unwrap_or_default(),
            account.map(|u| u.email.clone()),
        ),
    };
    let tickets = match booking.status {
        BookingStatus::Confirmed => tickets_for(booking, event).len() as u32,
        _ => 0,
    };
    ExportRow {
        booking_id: booking.id.clone(),
        status: booking.status,
        source: booking.source,
        holder_name,
        holder_email,
        units: booking.units.clone(),
        quantity: booking.quantity,
        items: booking.items.clone(),
        categories: categories(kinds, booking),
        amount_cents: booking.amount_cents,
        fee_cents: booking.fee_cents,
        currency: booking.currency.clone(),
        refund_status: booking.refund_status,
        refunded_cents: booking.refunded_cents,
        tickets,
        checked_in,
        created_at: booking.created_at,
    }
}

/// The booking's units per category, on a grid that has categories.
fn categories(kinds: &Kinds, booking: &Booking) -> Option<Vec<CategoryItem>> {
    if !kinds.by_category() {
        return None;
    }
    let lines = kinds.lines(booking);
    (!lines.is_empty()).then(|| {
        lines
            .into_iter()
            .map(
                |Line {
                     kind,
                     quantity,
                     price_cents,
                     ..
                 }| CategoryItem {
                    category: kind,
                    quantity,
                    price_cents,
                },
            )
            .collect()
    })
}

/// The header row of the CSV and XLSX files.
pub const COLUMNS: [&str; 17] = [
    "booking_id",
    "status",
    "source",
    "holder_name",
    "holder_email",
    "units",
    "quantity",
    "amount_cents",
    "fee_cents",
    "currency",
    "refund_status",
    "refunded_cents",
    "tickets",
    "checked_in",
    "created_at",
    // New columns go last, so files read by position keep their meaning.
    "items",
    "categories",
];

/// A cell of a file, typed so spreadsheets sort and sum it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Number(i64),
    Time(OffsetDateTime),
}

impl ExportRow {
    /// The row's cells in `COLUMNS` order.
    pub fn cells(&self) -> [Cell; 17] {
        let text = |s: &str| Cell::Text(s.to_owned());
        let optional = |n: Option<i64>| n.map_or(Cell::Text(String::new()), Cell::Number);
        [
            text(&self.booking_id),
            text(self.status.as_str()),
            text(self.source.as_str()),
            text(&self.holder_name),
            text(self.holder_email.as_deref().unwrap_or_default()),
            text(&self.units.as_deref().unwrap_or_default().join(" ")),
            Cell::Number(self.quantity.into()),
            Cell::Number(self.amount_cents),
            Cell::Number(self.fee_cents),
            text(&self.currency),
            text(
                self.refund_status
                    .map(RefundStatus::as_str)
                    .unwrap_or_default(),
            ),
            optional(self.refunded_cents),
            Cell::Number(self.tickets.into()),
            Cell::Number(self.checked_in.into()),
            Cell::Time(self.created_at),
            text(&counts(
                self.items.iter().flatten().map(|i| (&i.tier, i.quantity)),
            )),
            text(&counts(
                self.categories
                    .iter()
                    .flatten()
                    .map(|c| (&c.category, c.quantity)),
            )),
        ]
    }
}

/// `ga:2 vip:1`: one cell of how many of each tier or category.
fn counts<'a>(counts: impl Iterator<Item = (&'a String, u32)>) -> String {
    counts
        .map(|(kind, quantity)| format!("{kind}:{quantity}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Text a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, or a tab
/// or carriage return before one) gets a leading apostrophe, as OWASP's
/// CSV-injection advice says; everything else is kept as it is.
pub fn neutralised(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    }
}

/// RFC 4180 CSV, UTF-8, CRLF line ends, a header row; a field is quoted
/// when it holds a comma, a quote or a line break, and text is neutralised
/// (an XLSX string cell is never a formula, so only CSV needs it).
pub fn csv(rows: &[ExportRow]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + rows.len() * 160);
    write_record(&mut out, COLUMNS.iter().map(|c| (*c).to_owned()));
    for row in rows {
        write_record(
            &mut out,
            row.cells().into_iter().map(|cell| match cell {
                Cell::Text(text) => neutralised(&text),
                Cell::Number(n) => n.to_string(),
                Cell::Time(t) => t.format(&Rfc3339).unwrap_or_default(),
            }),
        );
    }
    out
}

fn write_record(out: &mut Vec<u8>, fields: impl Iterator<Item = String>) {
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if field.contains([',', '"', '\r', '\n']) {
            out.push(b'"');
            out.extend_from_slice(field.replace('"', "\"\"").as_bytes());
            out.push(b'"');
        } else {
            out.extend_from_slice(field.as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;
    use crate::domain::event::test_event as event;
    use serde_json::json;

    fn open() -> Event {
        event(json!({ "mode": "open", "capacity": 100, "price_cents": 100 }))
    }

    fn account() -> User {
        User {
            id: "u".into(),
            email: "ana@example.com".into(),
            name: "Ana".into(),
            role: Role::User,
            created_at: OffsetDateTime::UNIX_EPOCH,
            avatar_url: None,
            avatar_key: None,
        }
    }

    fn confirmed(quantity: u32) -> Booking {
        Booking {
            status: BookingStatus::Confirmed,
            quantity,
            ..Booking::example()
        }
    }

    #[test]
    fn an_online_booking_is_held_by_its_account() {
        let row = row(
            &confirmed(2),
            1,
            &open(),
            &Kinds::of(&open()),
            Some(&account()),
        );
        assert_eq!(row.holder_name, "Ana");
        assert_eq!(row.holder_email.as_deref(), Some("ana@example.com"));
        assert_eq!((row.tickets, row.checked_in), (2, 1));
    }

    #[test]
    fn a_walk_in_is_held_by_its_buyer() {
        let booking = Booking {
            source: BookingSource::WalkIn,
            holder_name: Some("Bo".into()),
            ..confirmed(1)
        };
        let row = row(&booking, 0, &open(), &Kinds::of(&open()), Some(&account()));
        assert_eq!(row.holder_name, "Bo");
        assert_eq!(row.holder_email, None);
    }

    #[test]
    fn only_a_confirmed_booking_carries_tickets() {
        assert_eq!(
            row(&Booking::example(), 0, &open(), &Kinds::of(&open()), None).tickets,
            0
        );
        let refunded = Booking {
            status: BookingStatus::Refunded,
            ..confirmed(3)
        };
        assert_eq!(
            row(&refunded, 0, &open(), &Kinds::of(&open()), None).tickets,
            0
        );
    }

    #[test]
    fn a_grid_booking_has_a_ticket_per_seat() {
        let grid = event(json!({ "mode": "grid", "units": [
            { "id": "T1", "label": "Table 1", "seats": 8, "price_cents": 100 } ] }));
        let booking = Booking {
            units: Some(vec!["T1".into()]),
            ..confirmed(1)
        };
        assert_eq!(row(&booking, 0, &grid, &Kinds::of(&grid), None).tickets, 8);
    }

    #[test]
    fn a_row_names_the_tiers_or_categories_booked_and_the_file_counts_them() {
        let festival = event(json!({ "mode": "open", "tiers": [
            { "id": "ga", "name": "General", "capacity": 500, "price_cents": 2500 },
            { "id": "vip", "name": "VIP", "capacity": 50, "price_cents": 9000 } ] }));
        let item = |tier: &str, quantity, price_cents| TierItem {
            tier: tier.into(),
            quantity,
            price_cents,
        };
        let booking = Booking {
            items: Some(vec![item("ga", 2, 2500), item("vip", 1, 9000)]),
            ..confirmed(3)
        };
        let tiered = row(&booking, 0, &festival, &Kinds::of(&festival), None);
        assert_eq!(tiered.categories, None);
        assert_eq!(tiered.items.as_ref().map(Vec::len), Some(2));
        let cells = tiered.cells();
        assert_eq!(cells[15], Cell::Text("ga:2 vip:1".into()));
        let cinema = event(json!({ "mode": "grid",
            "categories": [ { "id": "deluxe", "name": "Deluxe", "price_cents": 2000 } ],
            "units": [ { "id": "A1", "label": "A1", "seats": 1, "category": "deluxe" },
                       { "id": "A2", "label": "A2", "seats": 1, "category": "deluxe" } ] }));
        let booking = Booking {
            units: Some(vec!["A1".into(), "A2".into()]),
            ..confirmed(2)
        };
        let seated = row(&booking, 0, &cinema, &Kinds::of(&cinema), None);
        assert_eq!(
            seated.categories,
            Some(vec![CategoryItem {
                category: "deluxe".into(),
                quantity: 2,
                price_cents: 2000
            }])
        );
        assert_eq!(seated.cells()[16], Cell::Text("deluxe:2".into()));
    }

    #[test]
    fn formulas_are_neutralised_and_other_text_kept() {
        for formula in ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"] {
            assert_eq!(neutralised(formula), format!("'{formula}"));
        }
        assert_eq!(neutralised("Ana = 1"), "Ana = 1");
        assert_eq!(neutralised(""), "");
    }

    #[test]
    fn csv_quotes_what_needs_quoting_and_ends_lines_with_crlf() {
        let booking = Booking {
            source: BookingSource::WalkIn,
            holder_name: Some("=HYPERLINK(\"x\"), \"Bo\"\nSmith".into()),
            ..confirmed(1)
        };
        let csv = String::from_utf8(csv(&[row(&booking, 0, &open(), &Kinds::of(&open()), None)]))
            .unwrap();
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines[0], COLUMNS.join(","));
        assert!(
            lines[1]
                .starts_with("b,confirmed,walk_in,\"'=HYPERLINK(\"\"x\"\"), \"\"Bo\"\"\nSmith\",,"),
            "{}",
            lines[1]
        );
        assert!(csv.ends_with("\r\n"));
    }
}
