//! Paged index queries with filters: DynamoDB applies filters after it reads
//! a page, so a filtered page may come back short; this reads on until the
//! page is full or the index is exhausted, and ends the page on the exact
//! last item returned (not DynamoDB's last evaluated key) so nothing is
//! skipped or repeated.

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;

use super::item::{get_s, s};
use super::{Item, Store, StoreError, classify};
use crate::cursor::PageKey;

/// Adds `#name = :name` for each filter that has a value, ANDed with
/// `conditions` (whose names and values are already on `request`).
pub(super) fn with_equality_filters(
    mut request: QueryFluentBuilder,
    mut conditions: Vec<String>,
    filters: &[(&str, Option<&str>)],
) -> QueryFluentBuilder {
    for &(name, value) in filters {
        if let Some(value) = value {
            conditions.push(format!("#{name} = :{name}"));
            request = request
                .expression_attribute_names(format!("#{name}"), name)
                .expression_attribute_values(format!(":{name}"), s(value));
        }
    }
    if conditions.is_empty() {
        request
    } else {
        request.filter_expression(conditions.join(" AND "))
    }
}

pub struct Page<T> {
    pub items: Vec<T>,
    /// Key of the last item returned, when more may follow.
    pub last_key: Option<PageKey>,
}

impl Store {
    /// `query` builds the request (table, index, key condition, filter);
    /// `key_attributes` are the table and index key names of its items.
    pub(super) async fn query_page<T>(
        &self,
        query: impl Fn() -> QueryFluentBuilder,
        key_attributes: &[&str],
        limit: usize,
        start: Option<PageKey>,
        parse: impl Fn(&Item) -> Result<T, StoreError>,
    ) -> Result<Page<T>, StoreError> {
        let mut items = Vec::with_capacity(limit);
        let mut last_key = None;
        let mut start: Option<Item> = start.map(|key| {
            key.into_iter()
                .map(|(k, v)| (k, AttributeValue::S(v)))
                .collect()
        });
        loop {
            let out = query()
                .set_exclusive_start_key(start.take())
                // Read a little more than asked, so filtered pages need few round trips.
                .limit((limit as i32).saturating_mul(2).max(10))
                .send()
                .await
                .map_err(classify)?;
            for item in out.items() {
                items.push(parse(item)?);
                if items.len() == limit {
                    last_key = key_attributes
                        .iter()
                        .map(|name| Some(((*name).to_owned(), get_s(item, name).ok()?.to_owned())))
                        .collect();
                    return Ok(Page { items, last_key });
                }
            }
            match out.last_evaluated_key() {
                Some(lek) if !lek.is_empty() => start = Some(lek.clone()),
                _ => return Ok(Page { items, last_key }),
            }
        }
    }
}
