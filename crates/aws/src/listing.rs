//! Listings (`GET /orders`) on indexes whose partition keys no order's writes all meet.
//!
//! DynamoDB serves at most 1,000 write units per second on one partition key of an index,
//! so no listing index has a constant or low-cardinality key:
//!
//! - [`RECENT`] (`listShard`, `sortKey`): every order, on one of [`LIST_SHARDS`]
//!   partitions chosen by its id; keys only, so only an order's first write reaches it.
//! - [`BY_STATUS`] (`statusShard` = `"<status>#<shard>"`, `sortKey`): [`STATUS_SHARDS`]
//!   partitions per status; keys only: a status change moves the order (a delete and a
//!   put), nothing else reaches it.
//! - [`BY_USER`] (`userId`, `sortKey`): one customer's orders; projects `orderStatus` so
//!   that a customer's listing can be filtered by status while it is read.
//!
//! A listing reads every partition of its index newest first, merges them, and then reads
//! the orders themselves (`BatchGetItem`, consistent): the index only says which orders
//! and in what order. `sortKey` is unique per order (creation time, acceptance order in
//! the process, order id), so a cursor is the `sortKey` of the last order shown and the
//! next page is exactly what sorts below it, in every partition.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::KeysAndAttributes;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use orderflow_core::domain::{Order, OrderId, OrderStatus};
use orderflow_core::ports::{OrderPage, OrderQuery, StoreError};
use serde::{Deserialize, Serialize};

use crate::backend;
use crate::dynamo::{DynamoStore, OrderItem, from_item, n, s};

pub const BY_USER: &str = "byUser";
pub const BY_STATUS: &str = "byStatus";
/// Every order, newest first, over [`LIST_SHARDS`] partitions.
pub const RECENT: &str = "recent";
/// Partitions of [`RECENT`]: one write per order (its creation), so 32 partitions take a
/// shop of 10,000 orders/s at about 310 writes/s each, with room for an uneven spread.
pub const LIST_SHARDS: u32 = 32;
/// Partitions of each status in [`BY_STATUS`]: an order enters and leaves status 1 (two
/// writes), so 64 partitions keep a status at about 310 writes/s each at 10,000 orders/s,
/// with room for an uneven spread.
pub const STATUS_SHARDS: u32 = 64;

/// Partitions queried at once (a listing of a status reads 64).
const PARALLEL_QUERIES: usize = 32;
/// `BatchGetItem` takes at most 100 keys.
const BATCH_GET: usize = 100;

/// The listing partition of an order in [`RECENT`].
pub(crate) fn list_shard(id: OrderId) -> String {
    (id.as_uuid().as_u128() % u128::from(LIST_SHARDS)).to_string()
}

/// The partition of an order in [`BY_STATUS`] while it has `status`.
pub(crate) fn status_shard(id: OrderId, status: OrderStatus) -> String {
    let shard = (id.as_uuid().as_u128() >> 8) % u128::from(STATUS_SHARDS);
    format!("{}#{shard}", status.code())
}

/// A listing cursor: the index it pages and the `sortKey` of the last order shown.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    i: String,
    s: String,
}

fn encode_cursor(index: &str, sort_key: &str) -> String {
    let c = Cursor {
        i: index.into(),
        s: sort_key.into(),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).expect("strings serialise"))
}

fn decode_cursor(cursor: &str, index: &str) -> Result<String, StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let c: Cursor = serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    if c.i != index || c.s.is_empty() {
        return Err(StoreError::InvalidCursor);
    }
    Ok(c.s)
}

/// An index entry: where the order sorts, and which order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    sort_key: String,
    order_id: String,
}

/// What one listing reads: an index, its partitions, and the status asked for.
struct Plan {
    index: &'static str,
    key: &'static str,
    partitions: Vec<String>,
    status: Option<OrderStatus>,
    /// A status the index's entries are filtered by as they are read (the customer index
    /// holds every status, and projects it).
    filter: Option<OrderStatus>,
}

impl Plan {
    fn of(query: &OrderQuery) -> Self {
        match (&query.user_id, query.status) {
            (Some(user), status) => Self {
                index: BY_USER,
                key: "userId",
                partitions: vec![user.to_string()],
                status,
                filter: status,
            },
            (None, Some(status)) => Self {
                index: BY_STATUS,
                key: "statusShard",
                partitions: (0..STATUS_SHARDS)
                    .map(|k| format!("{}#{k}", status.code()))
                    .collect(),
                status: Some(status),
                filter: None,
            },
            (None, None) => Self {
                index: RECENT,
                key: "listShard",
                partitions: (0..LIST_SHARDS).map(|k| k.to_string()).collect(),
                status: None,
                filter: None,
            },
        }
    }
}

impl DynamoStore {
    pub(crate) async fn list(&self, query: &OrderQuery) -> Result<OrderPage, StoreError> {
        let plan = Plan::of(query);
        let below = query
            .cursor
            .as_deref()
            .map(|c| decode_cursor(c, plan.index))
            .transpose()?;
        let want = query.limit as usize;
        // One more than asked from each partition: the newest `want + 1` of the union are
        // among them, and the extra one says whether there is a next page.
        let mut reads = tokio::task::JoinSet::new();
        let mut entries = Vec::new();
        for partition in &plan.partitions {
            if reads.len() == PARALLEL_QUERIES
                && let Some(done) = reads.join_next().await
            {
                entries.extend(done.map_err(backend)??);
            }
            let store = self.clone();
            let (index, key, status) = (plan.index, plan.key, plan.filter);
            let (partition, below) = (partition.clone(), below.clone());
            reads.spawn(async move {
                store
                    .newest_entries(index, (key, partition), status, below, want + 1)
                    .await
            });
        }
        while let Some(done) = reads.join_next().await {
            entries.extend(done.map_err(backend)??);
        }
        entries.sort_unstable_by(|a, b| b.cmp(a));
        entries.dedup();
        let more = entries.len() > want;
        entries.truncate(want);
        let next_cursor = more
            .then(|| {
                entries
                    .last()
                    .map(|e| encode_cursor(plan.index, &e.sort_key))
            })
            .flatten();
        let ids: Vec<&str> = entries.iter().map(|e| e.order_id.as_str()).collect();
        let mut orders = self.orders_by_id(&ids).await?;
        // The index follows the table within a moment: an order that has just left the
        // status asked for is not shown as if it had it.
        if let Some(status) = plan.status {
            orders.retain(|o| o.state.status == status);
        }
        Ok(OrderPage {
            orders,
            next_cursor,
        })
    }

    /// Up to `want` entries of one index partition, newest first, below `below`; with
    /// `status`, only entries with that status (the customer index projects it).
    async fn newest_entries(
        &self,
        index: &str,
        (key, partition): (&str, String),
        status: Option<OrderStatus>,
        below: Option<String>,
        want: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.names.orders_table)
                .index_name(index)
                .expression_attribute_names("#pk", key)
                .expression_attribute_values(":pk", s(partition.clone()))
                .scan_index_forward(false)
                .limit(i32::try_from(want - found.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start);
            q = match &below {
                Some(c) => q
                    .key_condition_expression("#pk = :pk AND sortKey < :below")
                    .expression_attribute_values(":below", s(c.clone())),
                None => q.key_condition_expression("#pk = :pk"),
            };
            if let Some(st) = status {
                q = q
                    .filter_expression("orderStatus = :st")
                    .expression_attribute_values(":st", n(i64::from(st.code())));
            }
            let out = q.send().await.map_err(crate::sdk)?;
            for item in out.items.unwrap_or_default() {
                let text = |name: &str| {
                    item.get(name)
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .ok_or_else(|| crate::dynamo::corrupt(name))
                };
                found.push(Entry {
                    sort_key: text("sortKey")?,
                    order_id: text("orderId")?,
                });
            }
            match out.last_evaluated_key {
                Some(k) if found.len() < want => start = Some(k),
                _ => return Ok(found),
            }
        }
    }

    /// The orders with these ids, read consistently, in the order given (an id without
    /// an order is left out).
    pub(crate) async fn orders_by_id(&self, ids: &[&str]) -> Result<Vec<Order>, StoreError> {
        let mut by_id: HashMap<String, Order> = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH_GET) {
            let keys = chunk
                .iter()
                .map(|id| HashMap::from([("orderId".to_owned(), s(*id))]))
                .collect();
            let mut wanted = Some(HashMap::from([(
                self.names.orders_table.clone(),
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(backend)?,
            )]));
            let mut retry = self.retry.start();
            while let Some(request) = wanted.take().filter(|r| !r.is_empty()) {
                let out = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(request))
                    .send()
                    .await
                    .map_err(crate::sdk)?;
                for (_, items) in out.responses.unwrap_or_default() {
                    for item in items {
                        let o = from_item::<OrderItem>(item)?.into_order()?;
                        by_id.insert(o.id.to_string(), o);
                    }
                }
                // Keys DynamoDB did not get to (throttled, or the answer's size limit) are
                // asked again after a pause.
                wanted = out.unprocessed_keys.filter(|u| !u.is_empty());
                if wanted.is_some() {
                    retry
                        .pause(crate::retry::Passing::Throttled, "reading listed orders")
                        .await?;
                }
            }
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(*id)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_name_their_index_and_a_position() {
        let c = encode_cursor(RECENT, "0001#0002#x");
        assert_eq!(decode_cursor(&c, RECENT).unwrap(), "0001#0002#x");
        assert!(decode_cursor(&c, BY_STATUS).is_err());
        assert!(decode_cursor("not base64!", RECENT).is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode(b"{}"), RECENT).is_err());
        // URL-safe: no padding, no '+' or '/'.
        assert!(
            c.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
        );
    }

    #[test]
    fn orders_spread_over_every_listing_partition() {
        let mut list = std::collections::HashSet::new();
        let mut status = std::collections::HashSet::new();
        for _ in 0..2000 {
            let id = OrderId::new_random();
            list.insert(list_shard(id));
            status.insert(status_shard(id, OrderStatus::Pending));
        }
        assert_eq!(list.len(), LIST_SHARDS as usize);
        assert_eq!(status.len(), STATUS_SHARDS as usize);
        assert!(status.iter().all(|p| p.starts_with("1#")));
    }
}
