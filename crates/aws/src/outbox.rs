//! The notification outbox (contract section 6) on DynamoDB: the order item itself.
//!
//! An order's history is the `history` list on its item, appended by the conditional write
//! of each transition. On a store with notifications that same write also keeps the outbox:
//!
//! - `notified`: how many of the order's events were delivered (accepted by the receiver);
//!   the events `notified + 1 ..= events` are waiting, the first of them is the "head";
//! - `notifyShard` and `notifyDue`: present only while some event waits, the keys of the
//!   sparse, sharded index [`NOTIFY_PENDING`] (keys only: an item update that does not
//!   move the keys costs the index nothing). `notifyDue` is when the head is due, or
//!   [`PARKED`] plus the head's first failure when it was parked, so the one index serves
//!   "due now" (`notifyDue <= now`) and "parked" (`notifyDue >= PARKED`);
//! - `notifyAttempts`, `notifyFirstFailedAt`, `notifyLastError`: the head's failures.
//!
//! Nothing committed is lost: an event and its place in the outbox are one conditional
//! write, and the index finds every order with something waiting, across crashes, without
//! a scan. Delivery is in `seq` order because only the head is ever handed out, and
//! `delivered` moves `notified` past it only from the value it had (a condition).
//!
//! DynamoDB has no store-wide commit order: a [`Change`]'s `position` here is the event's
//! time in milliseconds (ordering only), and the outbox finds a notification by its order
//! and `seq`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use orderflow_core::domain::{OrderId, Timestamp};
use orderflow_core::messages::OrderMessage;
use orderflow_core::ports::{Change, Notification, Outbox, StoreError};
use orderflow_core::stored::StoredOrder;

use crate::backend;
use crate::dynamo::{DynamoStore, OrderItem, corrupt, from_item, n, s};

/// The index of orders with undelivered events: (`notifyShard`, `notifyDue`), keys only.
pub const NOTIFY_PENDING: &str = "notifyPending";
/// Partitions of [`NOTIFY_PENDING`]. Each event puts its order in the index and its
/// delivery takes it out: two index writes per event, some eight per order. At 10,000
/// orders/s that is 80,000 index writes/s, which 128 shards (by order id) keep at about
/// 625/s each, under DynamoDB's 1,000 per partition. Readers query every shard, 16 at once.
pub const NOTIFY_SHARDS: u32 = 128;
/// `notifyDue` of a parked head: this plus its first failure's time in milliseconds (far
/// beyond any real time, so never due).
pub const PARKED: i64 = 4_000_000_000_000_000;

/// The index partition of an order's pending notifications.
pub(crate) fn shard_of(order_id: &str) -> String {
    let h = OrderId::parse(order_id)
        .map(|id| id.as_uuid().as_u128())
        .unwrap_or_default();
    (h % u128::from(NOTIFY_SHARDS)).to_string()
}

/// An order's first undelivered event, as the outbox holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub notification: Notification,
    /// When it is due (its retry time), unless parked.
    pub due: Timestamp,
    pub parked: bool,
}

/// Which part of the index a query reads.
#[derive(Debug, Clone, Copy)]
enum Range {
    /// Heads due at or before this time.
    DueBy(Timestamp),
    /// Parked heads.
    Parked,
}

impl DynamoStore {
    /// The order's first undelivered event, if any (a consistent read of its item).
    ///
    /// # Errors
    /// `Backend`.
    pub async fn pending_notification(&self, id: OrderId) -> Result<Option<Pending>, StoreError> {
        let Some(item) = self.read_order_item(id, None).await? else {
            return Ok(None);
        };
        head(from_item::<OrderItem>(item)?)
    }

    /// Up to `limit` orders whose first undelivered event was due at or before `by`,
    /// earliest first, from the pending index (never a scan). The sweeper announces them
    /// again, in case their message was lost.
    ///
    /// # Errors
    /// `Backend`.
    pub async fn pending_orders(
        &self,
        by: Timestamp,
        limit: usize,
    ) -> Result<Vec<OrderId>, StoreError> {
        Ok(self
            .pending_keys(Range::DueBy(by), limit)
            .await?
            .into_iter()
            .map(|(_, id)| id)
            .collect())
    }

    /// Send `{"orderId"}` to the notify queue, when there is one: the consumer delivers the
    /// order's pending events. Best effort: a lost message is found again by the sweeper
    /// through the pending index.
    pub(crate) async fn announce(&self, id: OrderId) {
        let Some(queue) = self.notify.as_ref().and_then(|n| n.queue.as_ref()) else {
            return;
        };
        if let Err(e) = queue
            .send(&OrderMessage::body(id), std::time::Duration::ZERO)
            .await
        {
            tracing::error!(order = %id, error = %e, "notification message not sent; the sweeper will find the order in the pending index");
        }
    }

    /// `(notifyDue, orderId)` of up to `limit` index entries in `range` per shard (every
    /// parked one), merged, earliest first, and trimmed to `limit`. The shards are
    /// queried concurrently.
    async fn pending_keys(
        &self,
        range: Range,
        limit: usize,
    ) -> Result<Vec<(i64, OrderId)>, StoreError> {
        let query = match range {
            Range::DueBy(t) => ShardQuery {
                condition: "notifyShard = :s AND notifyDue <= :b",
                bound: t.as_millis(),
                limit,
            },
            Range::Parked => ShardQuery {
                condition: "notifyShard = :s AND notifyDue >= :b",
                bound: PARKED,
                limit: usize::MAX,
            },
        };
        let mut found = self.every_shard(query).await?;
        found.truncate(limit);
        Ok(found)
    }

    /// `query` on every shard of the index, at most [`SHARD_QUERIES`] at once; the union,
    /// earliest first.
    async fn every_shard(&self, query: ShardQuery) -> Result<Vec<(i64, OrderId)>, StoreError> {
        let mut found = Vec::new();
        let mut running = tokio::task::JoinSet::new();
        for shard in 0..NOTIFY_SHARDS {
            if running.len() >= SHARD_QUERIES {
                found.extend(joined(running.join_next().await)?);
            }
            let (client, table) = (self.client.clone(), self.names.orders_table.clone());
            running.spawn(async move { query_shard(&client, &table, shard, query).await });
        }
        while let Some(done) = running.join_next().await {
            found.extend(joined(Some(done))?);
        }
        found.sort_unstable();
        Ok(found)
    }

    /// Pending heads of the orders found in the index, read again from their items (the
    /// index is eventually consistent; the item is the truth).
    async fn heads(&self, keys: Vec<(i64, OrderId)>) -> Result<Vec<Pending>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for (_, id) in keys {
            if let Some(p) = self.pending_notification(id).await? {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// One conditional update of an order's outbox attributes; `false` when the condition
    /// did not hold (nothing was written).
    async fn update_outbox(
        &self,
        id: OrderId,
        expr: &str,
        condition: &str,
        values: HashMap<String, AttributeValue>,
    ) -> Result<bool, StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.names.orders_table)
            .key("orderId", s(id.to_string()))
            .update_expression(expr)
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values));
        let what = format!("outbox of order {id}");
        match self.retried(&what, || update.clone().send()).await {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Index queries of one call in flight at once.
const SHARD_QUERIES: usize = 16;

/// One query of the pending index, run on each shard.
#[derive(Debug, Clone, Copy)]
struct ShardQuery {
    /// Over `:s` (the shard) and `:b` (a bound on `notifyDue`).
    condition: &'static str,
    bound: i64,
    /// Entries wanted from the shard, earliest first: pages are read until there are as
    /// many or none is left.
    limit: usize,
}

async fn query_shard(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    shard: u32,
    q: ShardQuery,
) -> Result<Vec<(i64, OrderId)>, StoreError> {
    let mut found = Vec::new();
    let mut start = None;
    loop {
        let room = q.limit.saturating_sub(found.len()).clamp(1, 1000);
        let out = client
            .query()
            .table_name(table)
            .index_name(NOTIFY_PENDING)
            .key_condition_expression(q.condition)
            .expression_attribute_values(":s", s(shard.to_string()))
            .expression_attribute_values(":b", n(q.bound))
            .limit(i32::try_from(room).unwrap_or(1000))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(crate::sdk)?;
        for item in out.items.unwrap_or_default() {
            found.push(index_key(&item)?);
        }
        match out.last_evaluated_key {
            Some(k) if found.len() < q.limit => start = Some(k),
            _ => return Ok(found),
        }
    }
}

/// Index entries: `(notifyDue, orderId)`.
type Keys = Vec<(i64, OrderId)>;

/// The result of a joined shard query.
fn joined(
    done: Option<Result<Result<Keys, StoreError>, tokio::task::JoinError>>,
) -> Result<Keys, StoreError> {
    match done {
        None => Ok(Vec::new()),
        Some(Ok(result)) => result,
        Some(Err(e)) => Err(backend(format!("an index query did not finish: {e}"))),
    }
}

fn index_key(item: &HashMap<String, AttributeValue>) -> Result<(i64, OrderId), StoreError> {
    let due = item
        .get("notifyDue")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| corrupt("notifyDue"))?;
    let id = item
        .get("orderId")
        .and_then(|v| v.as_s().ok())
        .and_then(|v| OrderId::parse(v).ok())
        .ok_or_else(|| corrupt("orderId"))?;
    Ok((due, id))
}

/// The first undelivered event of an order item, with the order as it was right after it.
fn head(item: OrderItem) -> Result<Option<Pending>, StoreError> {
    let (Some(notified), Some(due)) = (item.notified, item.notify_due) else {
        return Ok(None);
    };
    if notified >= item.order.events {
        return Ok(None);
    }
    let id = OrderId::parse(&item.order.order_id).map_err(|_| corrupt("orderId"))?;
    let stored = item
        .history
        .get(notified as usize)
        .filter(|e| e.seq == notified + 1)
        .cloned()
        .ok_or_else(|| corrupt("history"))?;
    let event = stored.into_event(id)?;
    let order = StoredOrder {
        order_status: i64::from(event.state.status.code()),
        payment_status: event.state.payment.name().into(),
        refund_status: event.state.refund.name().into(),
        payment_time: event.payment_time.map(Timestamp::as_millis),
        payment_id: event.payment_id.clone(),
        updated_at: event.at.as_millis(),
        events: event.seq,
        ..item.order
    }
    .into_order()?;
    let parked = due >= PARKED;
    Ok(Some(Pending {
        notification: Notification {
            change: Change {
                position: u64::try_from(event.at.as_millis()).unwrap_or(0),
                event,
                order,
            },
            attempts: item.notify_attempts.unwrap_or(0),
            first_failed_at: item.notify_first_failed_at.map(Timestamp::from_millis),
            last_error: item.notify_last_error,
        },
        due: Timestamp::from_millis(if parked { due - PARKED } else { due }),
        parked,
    }))
}

/// `:prev`, `:seq` of a notification: the events delivered before it, and its own.
fn seq_values(note: &Notification) -> HashMap<String, AttributeValue> {
    let seq = i64::from(note.change.event.seq);
    HashMap::from([
        (":prev".to_owned(), n(seq - 1)),
        (":seq".to_owned(), n(seq)),
    ])
}

#[async_trait]
impl Outbox for DynamoStore {
    /// Nothing to take: an event enters the outbox in its own write.
    async fn take_new(&self, _now: Timestamp, _limit: usize) -> Result<usize, StoreError> {
        Ok(0)
    }

    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<Notification>, StoreError> {
        let keys = self.pending_keys(Range::DueBy(now), limit).await?;
        Ok(self
            .heads(keys)
            .await?
            .into_iter()
            .filter(|p| !p.parked && p.due <= now)
            .map(|p| p.notification)
            .collect())
    }

    async fn next_due(&self) -> Result<Option<Timestamp>, StoreError> {
        // The earliest not-parked entry of each shard; the least of those.
        let firsts = self
            .every_shard(ShardQuery {
                condition: "notifyShard = :s AND notifyDue < :b",
                bound: PARKED,
                limit: 1,
            })
            .await?;
        Ok(firsts.first().map(|(due, _)| Timestamp::from_millis(*due)))
    }

    async fn delivered(&self, note: &Notification) -> Result<(), StoreError> {
        let id = note.change.event.order_id;
        // The last event: the order leaves the index. Otherwise the next event is the head,
        // due at once (the index keeps the delivered head's due time, which has passed).
        let caught_up = self
            .update_outbox(
                id,
                "SET notified = :seq REMOVE notifyShard, notifyDue, notifyAttempts, \
                 notifyFirstFailedAt, notifyLastError",
                "notified = :prev AND events = :seq",
                seq_values(note),
            )
            .await?;
        if !caught_up {
            // Already delivered (by another worker) when this condition fails too.
            self.update_outbox(
                id,
                "SET notified = :seq REMOVE notifyAttempts, notifyFirstFailedAt, notifyLastError",
                "notified = :prev",
                seq_values(note),
            )
            .await?;
        }
        Ok(())
    }

    async fn failed(
        &self,
        note: &Notification,
        error: &str,
        now: Timestamp,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let first = note.first_failed_at.unwrap_or(now);
        let due = retry_at.map_or(PARKED + first.as_millis(), Timestamp::as_millis);
        let mut values = seq_values(note);
        values.remove(":seq");
        values.extend([
            (":zero".to_owned(), n(0)),
            (":one".to_owned(), n(1)),
            (":now".to_owned(), n(now.as_millis())),
            (":err".to_owned(), s(error)),
            (":due".to_owned(), n(due)),
        ]);
        // Only while it is still the head: delivered meanwhile, nothing to record.
        self.update_outbox(
            note.change.event.order_id,
            "SET notifyAttempts = if_not_exists(notifyAttempts, :zero) + :one, \
             notifyFirstFailedAt = if_not_exists(notifyFirstFailedAt, :now), \
             notifyLastError = :err, notifyDue = :due",
            "notified = :prev AND attribute_exists(notifyShard)",
            values,
        )
        .await?;
        Ok(())
    }

    async fn parked(&self) -> Result<Vec<Notification>, StoreError> {
        let keys = self.pending_keys(Range::Parked, usize::MAX).await?;
        Ok(self
            .heads(keys)
            .await?
            .into_iter()
            .filter(|p| p.parked)
            .map(|p| p.notification)
            .collect())
    }

    async fn unpark(
        &self,
        order_id: OrderId,
        seq: u32,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let values = HashMap::from([
            (":prev".to_owned(), n(i64::from(seq) - 1)),
            (":parked".to_owned(), n(PARKED)),
            (":now".to_owned(), n(now.as_millis())),
        ]);
        let unparked = self
            .update_outbox(
                order_id,
                "SET notifyDue = :now REMOVE notifyAttempts, notifyFirstFailedAt",
                "notified = :prev AND notifyDue >= :parked",
                values,
            )
            .await?;
        if unparked {
            self.announce(order_id).await;
        }
        Ok(unparked)
    }
}
