//! The booking item: how a booking is stored, read and listed. Which
//! indexes it sits in follows its status (`booking_item`): a held booking
//! in its event's lapsed-hold partitions (GSI2) and the sweep's expiry
//! partitions (GSI3), a confirmed one among its event's bookings (GSI2);
//! every booking among all of its event's (GSI4, the export).

use aws_sdk_dynamodb::types::AttributeValue;

use super::item::{get_n, get_s, get_time, has, key, n, rfc3339, s};
use super::keys::{
    self, GSI1, GSI1PK, GSI1SK, GSI2PK, GSI2SK, GSI3PK, GSI3SK, GSI4PK, GSI4SK, PK, SK,
    epoch_sort_key,
};
use super::paging::Page;
use super::{Item, Store, StoreError};
use crate::cursor::PageKey;
use crate::domain::booking::{Booking, BookingSource, BookingStatus};
use crate::domain::id::is_plausible_id;
use crate::domain::refund::RefundStatus;

/// Index attributes only a held booking carries (GSI2: lapsed holds of an
/// event; GSI3: every event's holds by expiry, for the sweep); every
/// transition out of `held` removes them.
pub(super) const HELD_INDEX_ATTRIBUTES: &str = "GSI2PK, GSI2SK, GSI3PK, GSI3SK";

impl Store {
    /// The booking; `None` for unknown (or impossible) ids.
    pub async fn booking(&self, id: &str) -> Result<Option<Booking>, StoreError> {
        if !is_plausible_id(id) {
            return Ok(None);
        }
        self.get(keys::booking(id))
            .await?
            .as_ref()
            .map(booking_from_item)
            .transpose()
    }

    /// A user's bookings, newest first.
    pub async fn bookings_of_user(
        &self,
        user_id: &str,
        limit: usize,
        start: Option<PageKey>,
    ) -> Result<Page<Booking>, StoreError> {
        let query = || {
            self.client
                .query()
                .table_name(self.table_name())
                .index_name(GSI1)
                .key_condition_expression("GSI1PK = :pk")
                .expression_attribute_values(":pk", s(keys::user_bookings_pk(user_id)))
                .scan_index_forward(false)
        };
        self.query_page(
            query,
            &[PK, SK, GSI1PK, GSI1SK],
            limit,
            start,
            booking_from_item,
        )
        .await
    }
}

pub(super) fn booking_item(booking: &Booking) -> Item {
    let (pk, sk) = keys::booking(&booking.id);
    let created_at = rfc3339(booking.created_at);
    let mut item = key(pk, sk);
    item.extend([
        ("id".into(), s(&booking.id)),
        ("event_id".into(), s(&booking.event_id)),
        ("user_id".into(), s(&booking.user_id)),
        ("status".into(), s(booking.status.as_str())),
        ("quantity".into(), n(booking.quantity.into())),
        ("amount_cents".into(), n(booking.amount_cents)),
        ("fee_cents".into(), n(booking.fee_cents)),
        ("currency".into(), s(&booking.currency)),
        ("source".into(), s(booking.source.as_str())),
        ("created_at".into(), s(&created_at)),
        ("updated_at".into(), s(rfc3339(booking.updated_at))),
        (GSI1PK.into(), s(keys::user_bookings_pk(&booking.user_id))),
        (GSI1SK.into(), s(format!("{created_at}#{}", booking.id))),
        (
            GSI4PK.into(),
            s(keys::event_bookings_pk(&booking.event_id, &booking.id)),
        ),
        (GSI4SK.into(), s(format!("{created_at}#{}", booking.id))),
    ]);
    if let Some(units) = &booking.units {
        item.insert(
            "units".into(),
            AttributeValue::L(units.iter().map(s).collect()),
        );
    }
    if let Some(items) = &booking.items {
        item.insert(
            "items".into(),
            s(serde_json::to_string(items).unwrap_or_default()),
        );
    }
    if !booking.allocations.is_empty() {
        item.insert(
            "allocations".into(),
            s(serde_json::to_string(&booking.allocations).unwrap_or_default()),
        );
    }
    if let Some(expires) = booking.hold_expires_at {
        item.insert("hold_expires_at".into(), s(rfc3339(expires)));
        item.insert("hold_expires_epoch".into(), n(expires.unix_timestamp()));
        if booking.status == BookingStatus::Held {
            let by_expiry = format!(
                "{}#{}",
                epoch_sort_key(expires.unix_timestamp()),
                booking.id
            );
            item.extend([
                (
                    GSI2PK.into(),
                    s(keys::held_pk(&booking.event_id, &booking.id)),
                ),
                (GSI2SK.into(), s(&by_expiry)),
                (
                    GSI3PK.into(),
                    s(keys::expiring_pk(keys::expiring_shard(&booking.id))),
                ),
                (GSI3SK.into(), s(by_expiry)),
            ]);
        }
    }
    if booking.status == BookingStatus::Confirmed {
        item.extend([
            (
                GSI2PK.into(),
                s(keys::booked_pk(&booking.event_id, &booking.id)),
            ),
            (GSI2SK.into(), s(&booking.id)),
        ]);
    }
    for (name, value) in [
        ("holder_name", &booking.holder_name),
        ("holder_email", &booking.holder_email),
    ] {
        if let Some(value) = value {
            item.insert(name.into(), s(value));
        }
    }
    item
}

pub(super) fn booking_from_item(item: &Item) -> Result<Booking, StoreError> {
    let status = get_s(item, "status")?;
    let optional = |name: &str| get_s(item, name).ok().map(str::to_owned);
    Ok(Booking {
        id: get_s(item, "id")?.to_owned(),
        event_id: get_s(item, "event_id")?.to_owned(),
        user_id: get_s(item, "user_id")?.to_owned(),
        status: BookingStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("booking status {status}")))?,
        units: item
            .get("units")
            .and_then(|v| v.as_l().ok())
            .map(|list| list.iter().filter_map(|v| v.as_s().ok().cloned()).collect()),
        items: match get_s(item, "items") {
            Ok(json) => Some(
                serde_json::from_str(json)
                    .map_err(|e| StoreError::Corrupt(format!("items: {e}")))?,
            ),
            Err(_) => None,
        },
        quantity: get_n(item, "quantity")? as u32,
        amount_cents: get_n(item, "amount_cents")?,
        fee_cents: get_n(item, "fee_cents")?,
        currency: get_s(item, "currency")?.to_owned(),
        hold_expires_at: has(item, "hold_expires_at")
            .then(|| get_time(item, "hold_expires_at"))
            .transpose()?,
        payment_intent_id: optional("payment_intent_id"),
        source: match get_s(item, "source")? {
            "walk_in" => BookingSource::WalkIn,
            _ => BookingSource::Online,
        },
        holder_name: optional("holder_name"),
        holder_email: optional("holder_email"),
        created_at: get_time(item, "created_at")?,
        updated_at: get_time(item, "updated_at")?,
        refund_status: get_s(item, "refund_status")
            .ok()
            .map(|status| {
                RefundStatus::parse(status)
                    .ok_or_else(|| StoreError::Corrupt(format!("refund status {status}")))
            })
            .transpose()?,
        refund_id: optional("refund_id"),
        refunded_cents: has(item, "refunded_cents")
            .then(|| get_n(item, "refunded_cents"))
            .transpose()?,
        paid_wallet_cents: has(item, "paid_wallet_cents")
            .then(|| get_n(item, "paid_wallet_cents"))
            .transpose()?,
        paid_card_cents: has(item, "paid_card_cents")
            .then(|| get_n(item, "paid_card_cents"))
            .transpose()?,
        allocations: match get_s(item, "allocations") {
            Ok(json) => serde_json::from_str(json)
                .map_err(|e| StoreError::Corrupt(format!("allocations: {e}")))?,
            Err(_) => Vec::new(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_booking_is_in_the_hold_indexes_and_a_confirmed_one_in_its_events_bookings() {
        let mut booking = Booking {
            id: "b1".into(),
            event_id: "e1".into(),
            ..Booking::example()
        };
        let item = booking_item(&booking);
        let held_only: Vec<&str> = HELD_INDEX_ATTRIBUTES.split(", ").collect();
        assert_eq!(held_only, [GSI2PK, GSI2SK, GSI3PK, GSI3SK]);
        for name in &held_only {
            assert!(item.contains_key(*name), "{name}");
        }
        assert_eq!(get_s(&item, GSI2SK).unwrap(), "001800000000#b1");
        assert_eq!(get_s(&item, GSI3SK).unwrap(), "001800000000#b1");
        assert_eq!(
            get_s(&item, GSI3PK).unwrap(),
            keys::expiring_pk(keys::expiring_shard("b1"))
        );
        booking.status = BookingStatus::Confirmed;
        let item = booking_item(&booking);
        assert!(![GSI3PK, GSI3SK].iter().any(|k| item.contains_key(*k)));
        assert_eq!(
            get_s(&item, GSI2PK).unwrap(),
            keys::booked_pk("e1", "b1"),
            "among the event's confirmed bookings"
        );
        booking.status = BookingStatus::Cancelled;
        let item = booking_item(&booking);
        assert!(!held_only.iter().any(|k| item.contains_key(*k)));
    }
}
