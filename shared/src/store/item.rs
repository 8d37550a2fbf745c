//! Reading and writing plain values in DynamoDB items.

use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Item, StoreError};

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn key(pk: String, sk: String) -> Item {
    Item::from([
        (super::keys::PK.to_owned(), s(pk)),
        (super::keys::SK.to_owned(), s(sk)),
    ])
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// Text bounds that take in every sort key `<rfc3339>#…` from the second
/// of `from` through the second of `to` (fractions and ids included).
pub fn second_bounds(from: OffsetDateTime, to: OffsetDateTime) -> (String, String) {
    let second = |t: OffsetDateTime| rfc3339(t).get(..19).unwrap_or_default().to_owned();
    (second(from), format!("{}~", second(to)))
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("missing string attribute {name}")))
}

pub fn get_n(item: &Item, name: &str) -> Result<i64, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("missing number attribute {name}")))
}

pub fn get_time(item: &Item, name: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::parse(get_s(item, name)?, &Rfc3339)
        .map_err(|e| StoreError::Corrupt(format!("{name} is not RFC 3339: {e}")))
}

pub fn has(item: &Item, name: &str) -> bool {
    item.contains_key(name)
}
