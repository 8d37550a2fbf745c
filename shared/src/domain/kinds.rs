//! What a booking holds of each price category (grid) or ticket type
//! (tiered open event): the attendee export lists it and the revenue
//! report sums it.

use std::collections::HashMap;

use super::booking::Booking;
use super::event::{Event, Layout};

/// A booking's units (grid) or places (open) of one category or tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The category's or tier's id.
    pub kind: String,
    pub quantity: u32,
    /// The tickets they give (a table of 8 is one unit, 8 seats).
    pub seats: u32,
    /// The price of one unit or place.
    pub price_cents: i64,
}

impl Line {
    pub fn cents(&self) -> i64 {
        self.price_cents * i64::from(self.quantity)
    }
}

/// An event's categories or tiers, indexed once for all its bookings.
pub struct Kinds<'a> {
    event: &'a Event,
    /// Grid: each categorised unit's (category index, seats).
    units: HashMap<&'a str, (usize, u32)>,
}

impl<'a> Kinds<'a> {
    pub fn of(event: &'a Event) -> Self {
        let units = match &event.layout {
            Layout::Grid { categories, units } => units
                .iter()
                .filter_map(|unit| {
                    let id = unit.category.as_deref()?;
                    let index = categories.iter().position(|c| c.id == id)?;
                    Some((unit.id.as_str(), (index, unit.seats)))
                })
                .collect(),
            Layout::Open { .. } => HashMap::new(),
        };
        Kinds { event, units }
    }

    /// The ids of the event's categories or tiers, in the layout's order.
    pub fn ids(&self) -> impl Iterator<Item = &'a str> {
        let layout = &self.event.layout;
        let categories = layout.categories().iter().map(|c| c.id.as_str());
        categories.chain(layout.tiers().iter().map(|t| t.id.as_str()))
    }

    /// Whether the event sells by category (grid) rather than by tier.
    pub fn by_category(&self) -> bool {
        matches!(self.event.layout, Layout::Grid { .. })
    }

    /// The booking's lines, in the layout's order of categories, or in the
    /// order its tiers were asked for; none on an event without either
    /// (units without a category count in none).
    pub fn lines(&self, booking: &Booking) -> Vec<Line> {
        match (&self.event.layout, &booking.units, &booking.items) {
            (Layout::Grid { categories, .. }, Some(booked), _) => {
                let mut lines: Vec<Line> = categories
                    .iter()
                    .map(|c| Line {
                        kind: c.id.clone(),
                        quantity: 0,
                        seats: 0,
                        price_cents: c.price_cents,
                    })
                    .collect();
                for (index, seats) in booked.iter().filter_map(|id| self.units.get(id.as_str())) {
                    lines[*index].quantity += 1;
                    lines[*index].seats += seats;
                }
                lines.retain(|line| line.quantity > 0);
                lines
            }
            (Layout::Open { .. }, _, Some(items)) => items
                .iter()
                .map(|item| Line {
                    kind: item.tier.clone(),
                    quantity: item.quantity,
                    seats: item.quantity,
                    price_cents: item.price_cents,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::booking::TierItem;
    use crate::domain::event::test_event as event;
    use serde_json::json;

    fn line(kind: &str, quantity: u32, seats: u32, price_cents: i64) -> Line {
        Line {
            kind: kind.into(),
            quantity,
            seats,
            price_cents,
        }
    }

    #[test]
    fn a_grid_booking_counts_its_units_per_category_in_layout_order() {
        let cinema = event(json!({ "mode": "grid",
            "categories": [ { "id": "standard", "name": "Standard", "price_cents": 1200 },
                            { "id": "box", "name": "Box", "price_cents": 8000 } ],
            "units": [
                { "id": "A1", "label": "A1", "seats": 1, "category": "standard" },
                { "id": "B1", "label": "Box 1", "seats": 4, "category": "box" },
                { "id": "A2", "label": "A2", "seats": 1, "category": "standard" },
                { "id": "X", "label": "Aisle", "seats": 1, "price_cents": 500 } ] }));
        let booking = Booking {
            units: Some(vec!["B1".into(), "X".into(), "A2".into(), "A1".into()]),
            ..Booking::example()
        };
        let kinds = Kinds::of(&cinema);
        assert!(kinds.by_category());
        assert_eq!(kinds.ids().collect::<Vec<_>>(), ["standard", "box"]);
        assert_eq!(
            kinds.lines(&booking),
            [line("standard", 2, 2, 1200), line("box", 1, 4, 8000)]
        );
        assert_eq!(kinds.lines(&booking)[1].cents(), 8000);
    }

    #[test]
    fn a_tiered_booking_has_a_line_per_item_at_the_price_it_was_held_at() {
        let festival = event(json!({ "mode": "open", "tiers": [
            { "id": "ga", "name": "General", "capacity": 500, "price_cents": 2500 },
            { "id": "vip", "name": "VIP", "capacity": 50, "price_cents": 9000 } ] }));
        let booking = Booking {
            items: Some(vec![TierItem {
                tier: "vip".into(),
                quantity: 2,
                price_cents: 9000,
            }]),
            ..Booking::example()
        };
        let kinds = Kinds::of(&festival);
        assert!(!kinds.by_category());
        assert_eq!(kinds.ids().collect::<Vec<_>>(), ["ga", "vip"]);
        assert_eq!(kinds.lines(&booking), [line("vip", 2, 2, 9000)]);
    }

    #[test]
    fn a_single_price_event_has_no_lines() {
        let open = event(json!({ "mode": "open", "capacity": 100, "price_cents": 100 }));
        assert!(Kinds::of(&open).lines(&Booking::example()).is_empty());
    }
}
