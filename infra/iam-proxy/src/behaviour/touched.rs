//! What a DynamoDB request touches: the items a write changes (for
//! conflicts) and the capacity it costs on which partition key values (for
//! throughput). Plain functions of the request's target and JSON body.
//!
//! Keys follow the table's schema in template.yaml: primary key `PK`/`SK`,
//! index `GSI<n>` keyed by `GSI<n>PK`/`GSI<n>SK`.

use serde_json::Value;

const PARTITION: &str = "PK";
const SORT: &str = "SK";

/// One item of one table: its full primary key, as the JSON of its
/// attribute values (`{"S":"EVENT#1"}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ItemKey {
    pub table: String,
    pub pk: String,
    pub sk: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Read,
    Write,
}

/// Capacity a request consumes on one partition key value of a table
/// (`index: None`) or of one of its GSIs.
#[derive(Debug, Clone, PartialEq)]
pub struct Charge {
    pub partition: Partition,
    pub units: f64,
    /// The transaction item it belongs to (its index), if any.
    pub item: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Partition {
    pub table: String,
    pub index: Option<String>,
    pub value: String,
    pub kind: Kind,
}

/// How the request takes part in the conflict rules.
#[derive(Debug, Clone, PartialEq)]
pub enum Writes {
    /// TransactWriteItems: every item, in request order.
    Transaction(Vec<ItemKey>),
    /// PutItem, UpdateItem, DeleteItem.
    Single(Vec<ItemKey>),
    /// Reads: never blocked (DynamoDB's default reads do not conflict);
    /// BatchWriteItem (not modelled).
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Touched {
    pub writes: Writes,
    pub charges: Vec<Charge>,
}

/// A write costs 1 WCU per KB (rounded up), transactional 2.
pub fn write_units(bytes: usize, transactional: bool) -> f64 {
    let units = bytes.div_ceil(1024).max(1) as f64;
    if transactional { 2.0 * units } else { units }
}

/// A read costs 1 RCU per 4 KB strongly consistent, 0.5 eventually
/// consistent, 2 transactional.
pub fn read_units(bytes: usize, consistent: bool, transactional: bool) -> f64 {
    let units = bytes.div_ceil(4096).max(1) as f64;
    match (transactional, consistent) {
        (true, _) => 2.0 * units,
        (false, true) => units,
        (false, false) => 0.5 * units,
    }
}

/// What the operation `op` with this body touches; `None` for anything
/// the layer does not model (control-plane calls, Scan).
pub fn touched(op: &str, body: &Value) -> Option<Touched> {
    let consistent = body.get("ConsistentRead").and_then(Value::as_bool) == Some(true);
    match op {
        "PutItem" | "UpdateItem" | "DeleteItem" => {
            let write = write_of(op, body, None)?;
            Some(Touched {
                writes: Writes::Single(vec![write.key]),
                charges: write.charges,
            })
        }
        "TransactWriteItems" => {
            let mut keys = Vec::new();
            let mut charges = Vec::new();
            for (i, entry) in body.get("TransactItems")?.as_array()?.iter().enumerate() {
                let (op, part) = [
                    ("PutItem", "Put"),
                    ("UpdateItem", "Update"),
                    ("DeleteItem", "Delete"),
                    ("ConditionCheck", "ConditionCheck"),
                ]
                .into_iter()
                .find_map(|(op, name)| entry.get(name).map(|part| (op, part)))?;
                let write = write_of(op, part, Some(i))?;
                keys.push(write.key);
                charges.extend(write.charges);
            }
            Some(Touched {
                writes: Writes::Transaction(keys),
                charges,
            })
        }
        "BatchWriteItem" => {
            let mut charges = Vec::new();
            for (table, requests) in body.get("RequestItems")?.as_object()? {
                for request in requests.as_array()? {
                    let (op, part) = if let Some(put) = request.get("PutRequest") {
                        ("PutItem", put)
                    } else {
                        ("DeleteItem", request.get("DeleteRequest")?)
                    };
                    let mut part = part.clone();
                    part["TableName"] = Value::String(table.clone());
                    charges.extend(write_of(op, &part, None)?.charges);
                }
            }
            // Capacity only: how a batch meets a transaction in flight
            // (which of its requests fail, how) is not modelled.
            Some(Touched {
                writes: Writes::None,
                charges,
            })
        }
        "GetItem" => Some(reads(vec![read_of(body, consistent, false)?])),
        "TransactGetItems" => {
            let charges = body
                .get("TransactItems")?
                .as_array()?
                .iter()
                .map(|entry| read_of(entry.get("Get")?, true, true))
                .collect::<Option<_>>()?;
            Some(reads(charges))
        }
        "BatchGetItem" => {
            let mut charges = Vec::new();
            for (table, request) in body.get("RequestItems")?.as_object()? {
                let consistent =
                    request.get("ConsistentRead").and_then(Value::as_bool) == Some(true);
                for key in request.get("Keys")?.as_array()? {
                    let get = serde_json::json!({ "TableName": table, "Key": key });
                    charges.push(read_of(&get, consistent, false)?);
                }
            }
            Some(reads(charges))
        }
        "Query" => Some(reads(vec![query_of(body, consistent)?])),
        _ => None,
    }
}

fn reads(charges: Vec<Charge>) -> Touched {
    Touched {
        writes: Writes::None,
        charges,
    }
}

struct Write {
    key: ItemKey,
    charges: Vec<Charge>,
}

/// One write: the item's key, its cost on the table's partition, and on
/// each GSI partition whose key the write sets (a Put's item attributes,
/// an Update's `SET GSI<n>PK = :v`).
fn write_of(op: &str, part: &Value, item: Option<usize>) -> Option<Write> {
    let table = part.get("TableName")?.as_str()?.to_owned();
    let attributes = match op {
        "PutItem" => part.get("Item")?,
        _ => part.get("Key")?,
    };
    let key = ItemKey {
        table: table.clone(),
        pk: attributes.get(PARTITION)?.to_string(),
        sk: attributes
            .get(SORT)
            .map(Value::to_string)
            .unwrap_or_default(),
    };
    let bytes = match op {
        "PutItem" => attributes.to_string().len(),
        _ => {
            attributes.to_string().len()
                + part
                    .get("ExpressionAttributeValues")
                    .map_or(0, |v| v.to_string().len())
        }
    };
    let units = write_units(bytes, item.is_some());
    let charge = |index: Option<String>, value: String| Charge {
        partition: Partition {
            table: table.clone(),
            index,
            value,
            kind: Kind::Write,
        },
        units,
        item,
    };
    let mut charges = vec![charge(None, key.pk.clone())];
    let index_keys: Vec<(String, String)> = match op {
        "PutItem" => attributes
            .as_object()?
            .iter()
            .filter_map(|(name, value)| Some((gsi_of(name)?, value.to_string())))
            .collect(),
        "UpdateItem" => set_values(part)
            .into_iter()
            .filter_map(|(name, value)| Some((gsi_of(&name)?, value)))
            .collect(),
        _ => Vec::new(),
    };
    charges.extend(
        index_keys
            .into_iter()
            .map(|(index, value)| charge(Some(index), value)),
    );
    Some(Write { key, charges })
}

/// `GSI1PK` → `GSI1`.
fn gsi_of(attribute: &str) -> Option<String> {
    let index = attribute.strip_suffix(PARTITION)?;
    (index.starts_with("GSI") && index.len() > 3).then(|| index.to_owned())
}

/// `(attribute, value JSON)` of each `SET name = :value` of an update
/// expression whose value is a plain placeholder; names through `#alias`
/// resolved. Computed values (`if_not_exists`, `+`) are left out.
fn set_values(part: &Value) -> Vec<(String, String)> {
    let Some(expression) = part.get("UpdateExpression").and_then(Value::as_str) else {
        return Vec::new();
    };
    let names = part.get("ExpressionAttributeNames");
    let values = part.get("ExpressionAttributeValues");
    let Some(set) = set_clause(expression) else {
        return Vec::new();
    };
    set.split(',')
        .filter_map(|assignment| {
            let (name, value) = assignment.split_once('=')?;
            let (name, value) = (name.trim(), value.trim());
            let name = if name.starts_with('#') {
                names?.get(name)?.as_str()?.to_owned()
            } else {
                name.to_owned()
            };
            Some((name, values?.get(value)?.to_string()))
        })
        .collect()
}

/// The text after `SET` up to the next clause (`REMOVE`, `ADD`, `DELETE`).
fn set_clause(expression: &str) -> Option<&str> {
    let upper = expression.to_ascii_uppercase();
    let start = upper.find("SET ")? + 4;
    let end = ["REMOVE ", "ADD ", "DELETE "]
        .iter()
        .filter_map(|clause| upper[start..].find(clause).map(|i| start + i))
        .min()
        .unwrap_or(expression.len());
    Some(&expression[start..end])
}

/// A read of one item (its key's size stands in for the item's: below
/// 4 KB either way for this table's items).
fn read_of(part: &Value, consistent: bool, transactional: bool) -> Option<Charge> {
    let key = part.get("Key")?;
    Some(Charge {
        partition: Partition {
            table: part.get("TableName")?.as_str()?.to_owned(),
            index: None,
            value: key.get(PARTITION)?.to_string(),
            kind: Kind::Read,
        },
        units: read_units(key.to_string().len(), consistent, transactional),
        item: None,
    })
}

/// A Query's partition: the value of `<partition key> = :v` in its key
/// condition (the table's `PK` or the index's `GSI<n>PK`), at the cost of
/// one 4 KB page (the proxy does not see the result's size).
fn query_of(body: &Value, consistent: bool) -> Option<Charge> {
    let index = body
        .get("IndexName")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let partition_name = match &index {
        Some(index) => format!("{index}{PARTITION}"),
        None => PARTITION.to_owned(),
    };
    let condition = body.get("KeyConditionExpression")?.as_str()?;
    let names = body.get("ExpressionAttributeNames");
    let value = condition
        .split(" AND ")
        .chain(condition.split(" and "))
        .find_map(|term| {
            let (name, value) = term.split_once('=')?;
            let name = name.trim();
            let resolved = if name.starts_with('#') {
                names?.get(name)?.as_str()?
            } else {
                name
            };
            (resolved == partition_name).then(|| value.trim().to_owned())
        })?;
    Some(Charge {
        partition: Partition {
            table: body.get("TableName")?.as_str()?.to_owned(),
            index,
            value: body
                .get("ExpressionAttributeValues")?
                .get(&value)?
                .to_string(),
            kind: Kind::Read,
        },
        units: read_units(0, consistent, false),
        item: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(pk: &str, sk: &str) -> ItemKey {
        ItemKey {
            table: "t".into(),
            pk: json!({ "S": pk }).to_string(),
            sk: json!({ "S": sk }).to_string(),
        }
    }

    #[test]
    fn a_transaction_lists_every_item_in_order_a_condition_check_included() {
        let body = json!({ "TransactItems": [
            { "ConditionCheck": { "TableName": "t", "Key": { "PK": {"S":"E"}, "SK": {"S":"E"} } } },
            { "Put": { "TableName": "t", "Item": { "PK": {"S":"B"}, "SK": {"S":"B"} } } },
        ]});
        let touched = touched("TransactWriteItems", &body).unwrap();
        assert_eq!(
            touched.writes,
            Writes::Transaction(vec![key("E", "E"), key("B", "B")])
        );
    }

    #[test]
    fn transactional_writes_cost_twice() {
        assert_eq!(write_units(100, false), 1.0);
        assert_eq!(write_units(100, true), 2.0);
        assert_eq!(write_units(1025, false), 2.0);
        assert_eq!(write_units(1025, true), 4.0);
    }

    #[test]
    fn reads_cost_a_unit_per_4_kb_halved_when_eventually_consistent() {
        assert_eq!(read_units(4096, true, false), 1.0);
        assert_eq!(read_units(4097, true, false), 2.0);
        assert_eq!(read_units(10, false, false), 0.5);
        assert_eq!(read_units(10, true, true), 2.0);
    }

    #[test]
    fn a_put_charges_the_table_and_each_index_partition_it_creates() {
        let body = json!({ "TableName": "t", "Item": {
            "PK": {"S":"B"}, "SK": {"S":"B"}, "GSI2PK": {"S":"LAPSED#E"}, "GSI2SK": {"S":"x"}
        }});
        let touched = touched("PutItem", &body).unwrap();
        let partitions: Vec<(Option<String>, String)> = touched
            .charges
            .iter()
            .map(|c| (c.partition.index.clone(), c.partition.value.clone()))
            .collect();
        assert_eq!(
            partitions,
            vec![
                (None, json!({"S":"B"}).to_string()),
                (Some("GSI2".into()), json!({"S":"LAPSED#E"}).to_string()),
            ]
        );
    }

    #[test]
    fn an_update_charges_the_index_partitions_its_set_clause_names() {
        let body = json!({ "TableName": "t", "Key": { "PK": {"S":"B"}, "SK": {"S":"B"} },
            "UpdateExpression": "SET #s = :s, GSI3PK = :g REMOVE GSI2PK",
            "ExpressionAttributeNames": { "#s": "status" },
            "ExpressionAttributeValues": { ":s": {"S":"held"}, ":g": {"S":"EXPIRING#3"} } });
        let touched = touched("UpdateItem", &body).unwrap();
        assert_eq!(touched.charges.len(), 2);
        assert_eq!(touched.charges[1].partition.index.as_deref(), Some("GSI3"));
        assert_eq!(
            touched.charges[1].partition.value,
            json!({"S":"EXPIRING#3"}).to_string()
        );
        assert_eq!(touched.writes, Writes::Single(vec![key("B", "B")]));
    }

    #[test]
    fn a_query_is_a_read_of_its_key_conditions_partition() {
        let body = json!({ "TableName": "t", "IndexName": "GSI1",
            "KeyConditionExpression": "GSI1PK = :pk AND GSI1SK > :from",
            "ExpressionAttributeValues": { ":pk": {"S":"EVENTS"}, ":from": {"S":"a"} } });
        let touched = touched("Query", &body).unwrap();
        assert_eq!(touched.writes, Writes::None);
        assert_eq!(touched.charges[0].partition.kind, Kind::Read);
        assert_eq!(touched.charges[0].units, 0.5);
        assert_eq!(
            touched.charges[0].partition.value,
            json!({"S":"EVENTS"}).to_string()
        );
    }
}
