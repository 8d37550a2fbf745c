//! What a delivery's body says, per endpoint format. Rendered once when the
//! delivery is recorded, so every retry sends the same bytes.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{EventType, Format};

/// The body for `format`: Standard Webhooks' `{type, timestamp, data}` or
/// Discord's `{content, embeds}`.
pub fn render(format: Format, event_type: EventType, data: &Value, at: OffsetDateTime) -> String {
    let timestamp = at.format(&Rfc3339).unwrap_or_default();
    let body = match format {
        Format::Standard => {
            json!({ "type": event_type.as_str(), "timestamp": timestamp, "data": data })
        }
        Format::Discord => discord(event_type, data, &timestamp),
    };
    body.to_string()
}

fn discord(event_type: EventType, data: &Value, timestamp: &str) -> Value {
    let text = |name: &str| data.get(name).map(plain).unwrap_or_default();
    let content = match event_type {
        EventType::BookingConfirmed => format!(
            "Booking {} confirmed: {} ticket(s), {} {} (event {})",
            text("booking_id"),
            text("quantity"),
            money(data),
            text("currency"),
            text("event_id")
        ),
        EventType::BookingCancelled => format!(
            "Booking {} cancelled (event {})",
            text("booking_id"),
            text("event_id")
        ),
        EventType::BookingRefunded => format!(
            "Booking {} refunded (event {})",
            text("booking_id"),
            text("event_id")
        ),
        EventType::EventPublished => format!(
            "Event \"{}\" published, starts {}",
            text("title"),
            text("starts_at")
        ),
        EventType::EventCancelled => format!("Event \"{}\" cancelled", text("title")),
        EventType::EventSoldOut => format!("Event \"{}\" sold out", text("title")),
        EventType::CheckinAdmitted => format!(
            "Ticket {} admitted (booking {})",
            text("label"),
            text("booking_id")
        ),
        EventType::TaskCreated
        | EventType::TaskUpdated
        | EventType::TaskAssigned
        | EventType::TaskMentioned => format!("{}: {}", event_type.as_str(), text("title")),
        EventType::Ping => "Ping: this webhook endpoint is set up.".to_owned(),
    };
    let fields: Vec<Value> = data
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, value)| json!({ "name": name, "value": plain(value), "inline": true }))
        .collect();
    // Discord caps content at 2000 characters and an embed at 25 fields.
    let content: String = content.chars().take(2000).collect();
    json!({
        "content": content,
        "embeds": [{ "title": event_type.as_str(), "timestamp": timestamp, "fields": fields.into_iter().take(25).collect::<Vec<_>>() }],
    })
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `amount_cents` as `12.50`.
fn money(data: &Value) -> String {
    let cents = data
        .get("amount_cents")
        .and_then(Value::as_i64)
        .unwrap_or_default();
    format!("{}.{:02}", cents / 100, (cents % 100).abs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn data() -> Value {
        json!({ "booking_id": "b1", "event_id": "e1", "quantity": 2, "amount_cents": 5050, "currency": "EUR" })
    }

    #[test]
    fn a_standard_body_has_type_timestamp_and_data() {
        let body = render(
            Format::Standard,
            EventType::BookingConfirmed,
            &data(),
            datetime!(2027-01-01 10:00 UTC),
        );
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["type"], "booking.confirmed");
        assert_eq!(body["timestamp"], "2027-01-01T10:00:00Z");
        assert_eq!(body["data"], data());
    }

    #[test]
    fn a_discord_body_reads_as_a_sentence_with_fields() {
        let body = render(
            Format::Discord,
            EventType::BookingConfirmed,
            &data(),
            datetime!(2027-01-01 10:00 UTC),
        );
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            body["content"],
            "Booking b1 confirmed: 2 ticket(s), 50.50 EUR (event e1)"
        );
        assert_eq!(body["embeds"][0]["title"], "booking.confirmed");
        assert_eq!(body["embeds"][0]["fields"][0]["name"], "amount_cents");
    }
}
