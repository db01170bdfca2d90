//! The capacity model's arithmetic: how many write units one item write costs, and on
//! which partition keys, of the base table and of each index. Pure functions over
//! DynamoDB's JSON items (`{"attr": {"S": "..."}}`), so they are tested without an emulator.
//! The rules are documented in docs/BENCHMARKS.md, "Capacity model (AWS)".

use std::fmt;

use anyhow::{Context, bail};
use serde_json::{Map, Value};

/// An item (or a key) in DynamoDB's JSON form.
pub type Item = Map<String, Value>;

/// A table's or an index's key attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySchema {
    pub hash: String,
    pub range: Option<String>,
}

impl KeySchema {
    fn from_describe(v: &Value) -> anyhow::Result<Self> {
        let mut hash = None;
        let mut range = None;
        for k in v.as_array().context("KeySchema")? {
            let name = k["AttributeName"]
                .as_str()
                .context("AttributeName")?
                .to_owned();
            match k["KeyType"].as_str() {
                Some("HASH") => hash = Some(name),
                Some("RANGE") => range = Some(name),
                other => bail!("unknown KeyType {other:?}"),
            }
        }
        Ok(Self {
            hash: hash.context("no HASH key")?,
            range,
        })
    }

    fn names(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.hash).chain(self.range.as_ref())
    }

    /// The key attributes of `item`, or `None` if it lacks one (sparse indexes).
    pub fn key_of(&self, item: &Item) -> Option<Item> {
        self.names()
            .map(|n| item.get(n).map(|v| (n.clone(), v.clone())))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Projection {
    KeysOnly,
    Include(Vec<String>),
    All,
}

#[derive(Debug, Clone)]
pub struct Index {
    pub name: String,
    pub key: KeySchema,
    pub projection: Projection,
}

/// What the model needs of a table: its key and its indexes, from `DescribeTable`.
#[derive(Debug, Clone)]
pub struct Table {
    pub key: KeySchema,
    pub indexes: Vec<Index>,
}

impl Table {
    /// From a `DescribeTable` answer. Local secondary indexes are charged like global ones
    /// (their partition key is the table's, so they land on the same key values).
    pub fn from_describe(answer: &Value) -> anyhow::Result<Self> {
        let t = &answer["Table"];
        let mut indexes = Vec::new();
        for kind in ["GlobalSecondaryIndexes", "LocalSecondaryIndexes"] {
            for i in t[kind].as_array().into_iter().flatten() {
                let p = &i["Projection"];
                let projection = match p["ProjectionType"].as_str() {
                    Some("KEYS_ONLY") => Projection::KeysOnly,
                    Some("INCLUDE") => Projection::Include(
                        p["NonKeyAttributes"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|a| a.as_str().map(str::to_owned))
                            .collect(),
                    ),
                    // DynamoDB's default is ALL.
                    _ => Projection::All,
                };
                indexes.push(Index {
                    name: i["IndexName"].as_str().context("IndexName")?.to_owned(),
                    key: KeySchema::from_describe(&i["KeySchema"])?,
                    projection,
                });
            }
        }
        Ok(Self {
            key: KeySchema::from_describe(&t["KeySchema"])?,
            indexes,
        })
    }
}

/// DynamoDB's item size, approximately: each attribute's name in bytes plus its value.
pub fn item_size(item: &Item) -> u64 {
    item.iter()
        .map(|(name, v)| name.len() as u64 + value_size(v))
        .sum()
}

/// The size of one typed value (`{"S": ...}`, `{"N": ...}`, ...).
fn value_size(v: &Value) -> u64 {
    let Some((kind, inner)) = v.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    match kind.as_str() {
        "S" => inner.as_str().map_or(0, |s| s.len() as u64),
        "N" => number_size(inner.as_str().unwrap_or_default()),
        "B" => binary_size(inner.as_str().unwrap_or_default()),
        "BOOL" | "NULL" => 1,
        "SS" | "NS" | "BS" => inner
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                let e = e.as_str().unwrap_or_default();
                match kind.as_str() {
                    "SS" => e.len() as u64,
                    "NS" => number_size(e),
                    _ => binary_size(e),
                }
            })
            .sum(),
        "L" => {
            3 + inner
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| 1 + value_size(e))
                .sum::<u64>()
        }
        "M" => {
            3 + inner
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, e)| 1 + k.len() as u64 + value_size(e))
                .sum::<u64>()
        }
        _ => 0,
    }
}

/// 1 byte plus one per two significant digits (leading and trailing zeros do not count).
fn number_size(n: &str) -> u64 {
    let digits: String = n
        .split(['e', 'E'])
        .next()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len() as u64;
    1 + significant.max(1).div_ceil(2)
}

/// Bytes of a base64 value.
fn binary_size(b64: &str) -> u64 {
    let padding = b64.bytes().rev().take_while(|&c| c == b'=').count() as u64;
    (b64.len() as u64 / 4 * 3).saturating_sub(padding)
}

/// Write units of an item of `bytes`: per started KB, at least one.
pub fn units(bytes: u64) -> u64 {
    bytes.div_ceil(1024).max(1)
}

/// One partition key of a table or of one of its indexes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition {
    /// The table's name without the run's prefix.
    pub table: String,
    pub index: Option<String>,
    /// The partition key's value, rendered (`"o"` for a string, `1` for a number).
    pub key: String,
}

impl Partition {
    pub fn place(&self) -> String {
        match &self.index {
            Some(i) => format!("{}/{i}", self.table),
            None => self.table.clone(),
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}", self.place(), self.key)
    }
}

/// A key value as text: strings quoted, numbers bare.
pub fn render(v: &Value) -> String {
    match v.as_object().and_then(|o| o.iter().next()) {
        Some((k, s)) if k == "S" => format!("{:?}", s.as_str().unwrap_or_default()),
        Some((k, s)) if k == "N" => s.as_str().unwrap_or_default().to_owned(),
        Some((k, s)) => format!("{k}:{}", s.as_str().unwrap_or_default()),
        None => v.to_string(),
    }
}

/// How a write request ended, as far as charging goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Written (or, for a `ConditionCheck`, checked).
    Done,
    /// A single write whose condition failed: nothing written.
    ConditionFailed,
    /// A transaction that was cancelled: none of its items written.
    Cancelled,
}

/// One item a write request touched, as it was before and after.
pub struct Touched<'a> {
    /// The table's display name (without the run's prefix).
    pub table: &'a str,
    pub schema: &'a Table,
    /// The item's primary key.
    pub key: &'a Item,
    pub before: Option<&'a Item>,
    /// After the write; for a cancelled `Put`, the item it would have written.
    pub after: Option<&'a Item>,
    pub in_transaction: bool,
}

/// A charge of `units` on one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub partition: Partition,
    pub units: u64,
}

fn size_of(item: Option<&Item>) -> u64 {
    item.map_or(0, item_size)
}

/// What one touched item costs.
pub fn charges(t: &Touched<'_>, outcome: Outcome) -> Vec<Charge> {
    let base = Partition {
        table: t.table.to_owned(),
        index: None,
        key: t
            .key
            .get(&t.schema.key.hash)
            .map(render)
            .unwrap_or_default(),
    };
    let doubled = if t.in_transaction || outcome == Outcome::Cancelled {
        2
    } else {
        1
    };
    let mut out = Vec::new();
    match outcome {
        // Nothing was written: the item's current size is what was read to decide (the
        // conservative side of what DynamoDB bills), and no index saw anything.
        Outcome::ConditionFailed => out.push(Charge {
            partition: base,
            units: units(size_of(t.before)),
        }),
        Outcome::Cancelled => out.push(Charge {
            partition: base,
            units: 2 * units(size_of(t.before).max(size_of(t.after))),
        }),
        Outcome::Done => {
            out.push(Charge {
                partition: base,
                units: doubled * units(size_of(t.before).max(size_of(t.after))),
            });
            for index in &t.schema.indexes {
                out.extend(index_charges(t, index));
            }
        }
    }
    out
}

/// An item as an index holds it: (partition key value, full index key, projected image).
fn in_index(table: &Table, index: &Index, item: Option<&Item>) -> Option<(String, Item, Item)> {
    let item = item?;
    let key = index.key.key_of(item)?;
    let mut image = table.key.key_of(item).unwrap_or_default();
    image.extend(key.clone());
    match &index.projection {
        Projection::KeysOnly => {}
        Projection::Include(names) => {
            for n in names {
                if let Some(v) = item.get(n) {
                    image.insert(n.clone(), v.clone());
                }
            }
        }
        Projection::All => image = item.clone(),
    }
    Some((render(&key[&index.key.hash]), key, image))
}

/// The index writes of one item write: a delete where it left, a put where it arrived, an
/// update where it stayed and its projection changed. Not doubled inside transactions.
fn index_charges(t: &Touched<'_>, index: &Index) -> Vec<Charge> {
    let at = |key: String, units: u64| Charge {
        partition: Partition {
            table: t.table.to_owned(),
            index: Some(index.name.clone()),
            key,
        },
        units,
    };
    let old = in_index(t.schema, index, t.before);
    let new = in_index(t.schema, index, t.after);
    match (old, new) {
        (None, None) => vec![],
        (Some((pk, _, img)), None) => vec![at(pk, units(item_size(&img)))],
        (None, Some((pk, _, img))) => vec![at(pk, units(item_size(&img)))],
        (Some((old_pk, old_key, old_img)), Some((new_pk, new_key, new_img))) => {
            if old_key != new_key {
                vec![
                    at(old_pk, units(item_size(&old_img))),
                    at(new_pk, units(item_size(&new_img))),
                ]
            } else if old_img != new_img {
                vec![at(
                    new_pk,
                    units(item_size(&old_img).max(item_size(&new_img))),
                )]
            } else {
                vec![]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(v: Value) -> Item {
        v.as_object().unwrap().clone()
    }

    fn orders() -> Table {
        Table::from_describe(&json!({"Table": {
            "KeySchema": [{"AttributeName": "orderId", "KeyType": "HASH"}],
            "GlobalSecondaryIndexes": [
                {"IndexName": "byStatus",
                 "KeySchema": [{"AttributeName": "orderStatus", "KeyType": "HASH"},
                               {"AttributeName": "sortKey", "KeyType": "RANGE"}],
                 "Projection": {"ProjectionType": "ALL"}},
                {"IndexName": "pending",
                 "KeySchema": [{"AttributeName": "shard", "KeyType": "HASH"},
                               {"AttributeName": "due", "KeyType": "RANGE"}],
                 "Projection": {"ProjectionType": "KEYS_ONLY"}},
                {"IndexName": "some",
                 "KeySchema": [{"AttributeName": "userId", "KeyType": "HASH"}],
                 "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["note"]}}
            ]
        }}))
        .unwrap()
    }

    fn charged(
        before: Option<Value>,
        after: Option<Value>,
        tx: bool,
        o: Outcome,
    ) -> Vec<(String, u64)> {
        let schema = orders();
        let key = item(json!({"orderId": {"S": "a"}}));
        let (b, a) = (before.map(item), after.map(item));
        charges(
            &Touched {
                table: "orders",
                schema: &schema,
                key: &key,
                before: b.as_ref(),
                after: a.as_ref(),
                in_transaction: tx,
            },
            o,
        )
        .into_iter()
        .map(|c| (c.partition.to_string(), c.units))
        .collect()
    }

    #[test]
    fn sizes_follow_dynamodb_approximately() {
        assert_eq!(item_size(&item(json!({"ab": {"S": "héllo"}}))), 2 + 6);
        assert_eq!(number_size("12345"), 1 + 3);
        assert_eq!(number_size("-0.0012300"), 1 + 2);
        assert_eq!(number_size("0"), 2);
        assert_eq!(binary_size("aGVsbG8="), 5);
        let nested = item(json!({"m": {"M": {"k": {"BOOL": true}}}, "l": {"L": [{"NULL": true}]}}));
        assert_eq!(item_size(&nested), (1 + 3 + 1 + 1 + 1) + (1 + 3 + 1 + 1));
        assert_eq!(units(0), 1);
        assert_eq!(units(1024), 1);
        assert_eq!(units(1025), 2);
    }

    #[test]
    fn a_status_change_moves_the_item_between_index_partitions() {
        let before = json!({"orderId": {"S": "a"}, "orderStatus": {"N": "1"}, "sortKey": {"S": "k"}, "shard": {"S": "3"}, "due": {"N": "9"}});
        let after =
            json!({"orderId": {"S": "a"}, "orderStatus": {"N": "2"}, "sortKey": {"S": "k"}});
        let got = charged(Some(before), Some(after), true, Outcome::Done);
        assert_eq!(
            got,
            vec![
                ("orders = \"a\"".to_owned(), 2),
                ("orders/byStatus = 1".to_owned(), 1),
                ("orders/byStatus = 2".to_owned(), 1),
                ("orders/pending = \"3\"".to_owned(), 1),
            ]
        );
    }

    #[test]
    fn an_unprojected_change_costs_keys_only_and_include_indexes_nothing() {
        let before = json!({"orderId": {"S": "a"}, "userId": {"S": "u"}, "shard": {"S": "3"}, "due": {"N": "9"}, "x": {"N": "1"}});
        let after = json!({"orderId": {"S": "a"}, "userId": {"S": "u"}, "shard": {"S": "3"}, "due": {"N": "9"}, "x": {"N": "2"}});
        assert_eq!(
            charged(Some(before.clone()), Some(after), false, Outcome::Done),
            vec![("orders = \"a\"".to_owned(), 1)]
        );
        let noted = json!({"orderId": {"S": "a"}, "userId": {"S": "u"}, "shard": {"S": "3"}, "due": {"N": "9"}, "note": {"S": "n"}});
        assert_eq!(
            charged(Some(before), Some(noted), false, Outcome::Done),
            vec![
                ("orders = \"a\"".to_owned(), 1),
                ("orders/some = \"u\"".to_owned(), 1)
            ]
        );
    }

    #[test]
    fn failed_writes_cost_the_base_table_only() {
        let big = "x".repeat(1500);
        let before =
            json!({"orderId": {"S": "a"}, "orderStatus": {"N": "1"}, "sortKey": {"S": big}});
        assert_eq!(
            charged(
                Some(before.clone()),
                Some(before.clone()),
                false,
                Outcome::ConditionFailed
            ),
            vec![("orders = \"a\"".to_owned(), 2)]
        );
        assert_eq!(
            charged(Some(before.clone()), Some(before), true, Outcome::Cancelled),
            vec![("orders = \"a\"".to_owned(), 4)]
        );
        assert_eq!(
            charged(None, None, false, Outcome::Done),
            vec![("orders = \"a\"".to_owned(), 1)]
        );
    }
}
