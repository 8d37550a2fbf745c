//! Tickets: one per seat of each booked unit, or per place of an open event,
//! each with a signed token a door scanner can check without a lookup.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;
use time::OffsetDateTime;

use super::booking::Booking;
use super::event::{Event, Layout};

type HmacSha256 = Hmac<Sha256>;

/// Enough against forgery (2^-128 per guess) while keeping the QR code small.
const TAG_BYTES: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Ticket {
    /// `<booking id>-<n>`, n counting from 1.
    pub id: String,
    pub booking_id: String,
    pub event_id: String,
    /// What the ticket admits to: `Table 1, seat 2`, or `Admission 3 of 4`.
    pub label: String,
    /// Grid events: the id of the unit's price category, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Tiered open events: the id of the ticket's tier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder_name: Option<String>,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub checked_in_at: Option<OffsetDateTime>,
}

impl Ticket {
    pub fn number(&self) -> u32 {
        ticket_number(&self.id).unwrap_or(0)
    }
}

/// The tickets a confirmed booking gets; the same list every time, so
/// issuing them twice writes nothing new.
pub fn tickets_for(booking: &Booking, event: &Event) -> Vec<Ticket> {
    // (label, category, tier) of each ticket, in booking order.
    let admissions: Vec<(String, Option<String>, Option<String>)> =
        match (&event.layout, &booking.units, &booking.items) {
            (Layout::Grid { units, .. }, Some(booked), _) => booked
                .iter()
                .filter_map(|id| units.iter().find(|u| &u.id == id))
                .flat_map(|unit| {
                    (1..=unit.seats).map(move |seat| {
                        let label = match unit.seats {
                            1 => unit.label.clone(),
                            _ => format!("{}, seat {seat}", unit.label),
                        };
                        (label, unit.category.clone(), None)
                    })
                })
                .collect(),
            (Layout::Open { tiers, .. }, _, Some(items)) => items
                .iter()
                .flat_map(|item| {
                    let name = tiers
                        .iter()
                        .find(|t| t.id == item.tier)
                        .map_or(item.tier.as_str(), |t| t.name.as_str());
                    (1..=item.quantity).map(move |n| {
                        let label = format!("{name} {n} of {}", item.quantity);
                        (label, None, Some(item.tier.clone()))
                    })
                })
                .collect(),
            _ => (1..=booking.quantity)
                .map(|n| (format!("Admission {n} of {}", booking.quantity), None, None))
                .collect(),
        };
    admissions
        .into_iter()
        .enumerate()
        .map(|(i, (label, category, tier))| Ticket {
            id: format!("{}-{}", booking.id, i + 1),
            booking_id: booking.id.clone(),
            event_id: booking.event_id.clone(),
            label,
            category,
            tier,
            holder_name: booking.holder_name.clone(),
            checked_in_at: None,
        })
        .collect()
}

/// The booking and number a ticket id names.
pub fn ticket_number(ticket_id: &str) -> Option<u32> {
    ticket_id.rsplit_once('-')?.1.parse().ok()
}

pub fn booking_of_ticket(ticket_id: &str) -> Option<&str> {
    Some(ticket_id.rsplit_once('-')?.0).filter(|b| !b.is_empty())
}

/// Signs and checks ticket tokens: `<ticket id>.<event id>` and a truncated
/// HMAC-SHA256 tag, base64url. Anyone holding the key can verify offline.
#[derive(Clone)]
pub struct TicketKey([u8; 32]);

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketClaim {
    pub ticket_id: String,
    pub event_id: String,
}

impl TicketKey {
    /// Derived with its own label, so a ticket tag never doubles as any
    /// other signature made from the same secret.
    pub fn derive(secret: &[u8]) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
        mac.update(b"ticket-token-v1");
        Self(mac.finalize().into_bytes().into())
    }

    pub fn token(&self, ticket: &Ticket) -> String {
        let payload = format!("{}.{}", ticket.id, ticket.event_id);
        let tag = self.tag(payload.as_bytes());
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES])
        )
    }

    /// `None` for anything this key did not sign.
    pub fn verify(&self, token: &str) -> Option<TicketClaim> {
        let (payload, tag) = token.trim().split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if tag.len() != TAG_BYTES {
            return None;
        }
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_truncated_left(&tag).ok()?;
        let payload = String::from_utf8(payload).ok()?;
        let (ticket_id, event_id) = payload.split_once('.')?;
        Some(TicketClaim {
            ticket_id: ticket_id.to_owned(),
            event_id: event_id.to_owned(),
        })
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.0).expect("HMAC accepts any key length")
    }

    fn tag(&self, payload: &[u8]) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(payload);
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::booking::BookingStatus;
    use crate::domain::event::Unit;

    fn key() -> TicketKey {
        TicketKey::derive(b"a test secret of at least thirty-two bytes")
    }

    fn ticket() -> Ticket {
        Ticket {
            id: "0190-abc-1".into(),
            booking_id: "0190-abc".into(),
            event_id: "ev1".into(),
            label: "Admission 1 of 1".into(),
            category: None,
            tier: None,
            holder_name: None,
            checked_in_at: None,
        }
    }

    #[test]
    fn a_token_names_its_ticket_and_event() {
        let token = key().token(&ticket());
        assert_eq!(
            key().verify(&token),
            Some(TicketClaim {
                ticket_id: "0190-abc-1".into(),
                event_id: "ev1".into()
            })
        );
    }

    #[test]
    fn a_token_with_a_changed_payload_or_tag_is_refused() {
        let token = key().token(&ticket());
        let (payload, tag) = token.split_once('.').unwrap();
        let other = key().token(&Ticket {
            id: "0190-abc-2".into(),
            ..ticket()
        });
        let other_payload = other.split_once('.').unwrap().0;
        assert_eq!(key().verify(&format!("{other_payload}.{tag}")), None);
        assert_eq!(
            key().verify(&format!("{payload}.{}", &tag[..tag.len() - 2])),
            None
        );
        assert_eq!(key().verify("garbage"), None);
        assert_eq!(TicketKey::derive(b"another secret").verify(&token), None);
    }

    #[test]
    fn ticket_ids_name_their_booking_and_number() {
        assert_eq!(ticket_number("0190-abc-12"), Some(12));
        assert_eq!(booking_of_ticket("0190-abc-12"), Some("0190-abc"));
        assert_eq!(booking_of_ticket("12"), None);
    }

    fn booking(units: Option<Vec<&str>>, quantity: u32) -> Booking {
        Booking {
            status: BookingStatus::Confirmed,
            units: units.map(|u| u.into_iter().map(str::to_owned).collect()),
            quantity,
            hold_expires_at: None,
            ..Booking::example()
        }
    }

    fn event(layout: Layout) -> Event {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        Event {
            id: "e".into(),
            title: "t".into(),
            description: String::new(),
            venue: "v".into(),
            starts_at: now,
            ends_at: now,
            timezone: "UTC".into(),
            status: crate::domain::EventStatus::Published,
            publish_at: None,
            tags: vec![],
            image_url: None,
            image_key: None,
            currency: "usd".into(),
            max_per_booking: 10,
            layout,
            created_at: now,
            updated_at: now,
            shard_count: 1,
            sales_started: true,
        }
    }

    #[test]
    fn a_grid_booking_gets_one_ticket_per_seat_of_each_unit() {
        let unit = |id: &str, seats| Unit {
            id: id.into(),
            label: format!("Table {id}"),
            seats,
            price_cents: Some(100),
            category: None,
            section: None,
            row: None,
        };
        let layout = Layout::Grid {
            categories: Vec::new(),
            units: vec![unit("T1", 2), unit("T2", 1), unit("T3", 4)],
        };
        let tickets = tickets_for(&booking(Some(vec!["T1", "T2"]), 2), &event(layout));
        let labels: Vec<&str> = tickets.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["Table T1, seat 1", "Table T1, seat 2", "Table T2"]);
        assert_eq!(tickets[2].id, "b-3");
    }

    #[test]
    fn an_open_booking_gets_one_ticket_per_place() {
        let layout = Layout::Open {
            capacity: Some(5),
            price_cents: Some(1),
            tiers: Vec::new(),
        };
        let tickets = tickets_for(&booking(None, 3), &event(layout));
        assert_eq!(tickets.len(), 3);
        assert_eq!(tickets[0].label, "Admission 1 of 3");
    }
}
