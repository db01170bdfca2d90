//! [`DynamoStore`]: the store port on three DynamoDB tables.
//!
//! - `orders` (PK `orderId`), with global secondary indexes:
//!   `byUser` (`userId`, `sortKey`), `byStatus` (`orderStatus`, `sortKey`), `all` (`all`,
//!   `sortKey`) for listings newest first, and the sparse `unpaidByExpiry`
//!   (`unpaidShard`, `expiresAt`): an order has `unpaidShard` only while it is pending and
//!   unpaid, so the sweeper's index holds exactly its candidates, spread over
//!   [`UNPAID_SHARDS`] partitions.
//!   The same table holds each customer's allowance (see below).
//! - `inventory` (PK `productId`): `stockCount`, `lockedCount`, and `maxPerUser` when the
//!   product has a per-customer limit; the index `catalogue` (`catalog`, `productId`) lists
//!   every product without a Scan.
//! - `idempotency` (PK `key`): the request's fingerprint and its order; `ttl` lets DynamoDB
//!   expire keys (after 48 h; the contract asks for at least 24 h).
//!
//! An order's history is the `history` list of its own item, appended by the same
//! conditional update that applies a transition (one item, so atomic without a transaction
//! and at the cost of one write); `events` counts it, and a transition is conditioned on it.
//!
//! A customer's allowance (the units of limited products they hold in orders that count
//! toward a limit) is one item of the orders table, keyed `orderId = "customer#<userId>"`
//! (order ids are UUIDs, so it never meets an order), with one number per product, named
//! `p:<productId>`. It carries none of the index attributes, so no index sees it. Placing a
//! cart is one transaction over its lines' inventory items, this item, the order and the
//! idempotency key; see [`DynamoStore::place_order`].
//!
//! Items are converted with `serde_dynamo`. Every write is conditional; a lost condition is
//! the port's `Conflict`, and a cancelled place-order transaction is told apart by its
//! cancellation reasons. Every write (placing, transitions, the outbox, products) that is
//! throttled or in another transaction's way is tried again under the store's one
//! [`RetryPolicy`] ([`crate::retry`]): full-jitter backoff within a time budget per call,
//! then `Overloaded`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use orderflow_core::domain::lifecycle::{StockEffect, Topic, Transition};
use orderflow_core::domain::{
    LimitChange, Line, Lines, MaxPerUser, Order, OrderEvent, OrderId, Product, ProductId, Refusal,
    Resend, StockCount, StockShards, Timestamp, UserId, check_cart,
};
use orderflow_core::messages::OrderMessage;
use orderflow_core::ports::{
    NewOrder, OrderPage, OrderQuery, OrderStore, Placed, Queue, StoreError,
};
use orderflow_core::stored::{StoredEvent, StoredOrder};
use serde::{Deserialize, Serialize};

use crate::retry::{Passing, RetryPolicy};
use crate::{AwsNames, backend};

/// Partitions of the sweeper's index, by order id: an order enters it when placed and
/// leaves it when paid (two writes), so 64 partitions keep each at about 310 writes/s at
/// 10,000 orders/s. The sweeper reads them all, 16 at a time.
pub const UNPAID_SHARDS: u32 = 64;
/// Partitions of the re-send index: four writes per completed order (paid; processing
/// moves its `resendAt`, a delete and a put; completed), so 128 partitions keep each at
/// about 310 writes/s at 10,000 orders/s, with room for an uneven spread.
pub const WAIT_SHARDS: u32 = 128;
/// Sharded indexes are read this many partitions at a time.
const PARALLEL_QUERIES: usize = 16;
/// DynamoDB's limit of items in one transaction.
const MAX_TRANSACTION_ITEMS: usize = 100;
/// How long idempotency keys are kept before DynamoDB's TTL removes them.
const IDEMPOTENCY_TTL_SECS: i64 = 48 * 3600;

pub use crate::listing::{BY_STATUS, BY_USER, RECENT};
pub const UNPAID_BY_EXPIRY: &str = "unpaidByExpiry";
/// Orders waiting for a message (paid, processing, refund initiated) by `resendAt`, sharded
/// by `waitShard` as the sweeper's index is; sparse: only such orders carry `waitShard`.
pub const AWAITING_MESSAGE: &str = "awaitingMessage";

/// An order as stored: the fields every backend stores ([`StoredOrder`], flattened into
/// the item), plus what only DynamoDB needs (index keys) and the history.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrderItem {
    #[serde(flatten)]
    pub(crate) order: StoredOrder,
    /// Newest-first order of listings: creation time, then acceptance order in this
    /// process, then the order id (unique, so a cursor names one position).
    sort_key: String,
    /// The order's partition of the [`RECENT`] listing index ([`crate::listing`]); absent
    /// on orders stored before it, which gain it at their next change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    list_shard: Option<String>,
    /// The order's partition of the [`BY_STATUS`] index: its status and a shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status_shard: Option<String>,
    /// Present only while the order is pending and unpaid (the sweeper's sparse index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unpaid_shard: Option<String>,
    /// Present only while the order waits for a message (with `sentAt` and `resendAt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wait_shard: Option<String>,
    /// The order's history, oldest first.
    #[serde(default)]
    pub(crate) history: Vec<StoredEvent>,
    /// The notification outbox ([`crate::outbox`]), on stores with notifications: events
    /// delivered so far. Absent on orders that had no event since notifications were on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) notified: Option<u32>,
    /// Present only while some event is not delivered (the sparse index of pending
    /// notifications).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) notify_shard: Option<String>,
    /// When the first undelivered event is due (its retry time), or
    /// [`crate::outbox::PARKED`] plus its first failure's time when it is parked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) notify_due: Option<i64>,
    /// The failure state of the first undelivered event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) notify_attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) notify_first_failed_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) notify_last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdempotencyItem {
    key: String,
    fingerprint: String,
    #[serde(rename = "orderId")]
    order_id: String,
    /// Epoch seconds after which DynamoDB may delete the key.
    ttl: i64,
}

pub(crate) fn corrupt(what: &str) -> StoreError {
    backend(format!("stored {what} is not valid"))
}

impl OrderItem {
    fn from_order(o: &Order, seq: u64) -> Self {
        Self {
            order: StoredOrder::from_order(o),
            sort_key: format!("{:015}#{seq:012}#{}", o.created_at.as_millis().max(0), o.id),
            list_shard: Some(crate::listing::list_shard(o.id)),
            status_shard: Some(crate::listing::status_shard(o.id, o.state.status)),
            unpaid_shard: o
                .state
                .awaits_payment()
                .then(|| shard_of(o.id, UNPAID_SHARDS)),
            wait_shard: o.resend.map(|_| shard_of(o.id, WAIT_SHARDS)),
            history: vec![StoredEvent::from_event(&o.placed_event())],
            notified: None,
            notify_shard: None,
            notify_due: None,
            notify_attempts: None,
            notify_first_failed_at: None,
            notify_last_error: None,
        }
    }

    /// The same item with its first event waiting in the outbox.
    fn with_pending_notification(self) -> Self {
        Self {
            notified: Some(0),
            notify_shard: Some(crate::outbox::shard_of(self.order.order_id.as_str())),
            notify_due: Some(self.order.created_at),
            ..self
        }
    }

    pub(crate) fn into_order(self) -> Result<Order, StoreError> {
        self.order.into_order()
    }
}

/// An order's partition of an index sharded `shards` ways: stable, spread evenly.
fn shard_of(id: OrderId, shards: u32) -> String {
    (id.as_uuid().as_u128() % u128::from(shards)).to_string()
}

/// The key (`orderId`) of a customer's allowance item in the orders table.
fn allowance_key(user: &UserId) -> String {
    format!("customer#{user}")
}

/// The attribute of a customer's allowance item that holds their units of `product`.
fn allowance_attribute(product: &ProductId) -> String {
    format!("p:{product}")
}

/// One update of a customer's allowance item, over the products given to [`Self::add`] or
/// [`Self::take`] (each `p:<productId>` named `#a<i>`, its units `:q<i>`).
#[derive(Default)]
struct AllowanceUpdate {
    set: Vec<String>,
    condition: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl AllowanceUpdate {
    fn name(&mut self, product: &ProductId, units: i64) -> usize {
        let i = self.names.len();
        self.names
            .insert(format!("#a{i}"), allowance_attribute(product));
        self.values.insert(format!(":q{i}"), n(units));
        i
    }

    /// Count `units` more of `product`, on condition that the customer holds at most
    /// `max - units` of it (none at all is an absent attribute).
    fn add(&mut self, product: &ProductId, units: i64, max: MaxPerUser) {
        let i = self.name(product, units);
        self.values.insert(format!(":r{i}"), n(max.get() - units));
        self.values.insert(":zero".into(), n(0));
        self.set
            .push(format!("#a{i} = if_not_exists(#a{i}, :zero) + :q{i}"));
        self.condition
            .push(format!("(attribute_not_exists(#a{i}) OR #a{i} <= :r{i})"));
    }

    /// Give back `units` of `product`, on condition that the customer holds them.
    fn take(&mut self, product: &ProductId, units: i64) {
        let i = self.name(product, units);
        self.set.push(format!("#a{i} = #a{i} - :q{i}"));
        self.condition.push(format!("#a{i} >= :q{i}"));
    }

    /// The update of `user`'s item, when it names any product.
    fn build(self, store: &DynamoStore, user: &UserId) -> Result<Option<Update>, StoreError> {
        if self.set.is_empty() {
            return Ok(None);
        }
        Update::builder()
            .table_name(&store.names.orders_table)
            .key("orderId", s(allowance_key(user)))
            .update_expression(format!("SET {}", self.set.join(", ")))
            .condition_expression(self.condition.join(" AND "))
            .set_expression_attribute_names(Some(self.names))
            .set_expression_attribute_values(Some(self.values))
            .build()
            .map(Some)
            .map_err(backend)
    }
}

/// What placing reads before its transaction.
#[derive(Debug, Default)]
struct CartRead {
    /// The lines' products that exist (a sharded product: its shards summed).
    products: HashMap<ProductId, Product>,
    /// Each shard's available stock, for the products spread over more than one.
    spread: HashMap<ProductId, Vec<i64>>,
    /// The units the customer holds of the cart's products (absent: none).
    held: HashMap<ProductId, i64>,
}

impl CartRead {
    /// What placing `lines` of order `id` decides on what was read: the lines, each with
    /// where it takes its units from when its product is spread over shards.
    fn check(&self, lines: &Lines, id: OrderId) -> Result<Lines, Refusal> {
        let lines = check_cart(
            lines,
            |p| self.products.get(p).map(Product::available),
            |p| self.held.get(p).copied().unwrap_or(0),
        )?;
        let drawn = lines
            .iter()
            .map(|line| {
                let Some(available) = self.spread.get(&line.product_id) else {
                    return line.clone();
                };
                let start = crate::stock::start_shard(id, available.len());
                Line {
                    // The sums sufficed, so the shards do.
                    drawn: crate::stock::choose_draws(available, line.quantity.get(), start)
                        .unwrap_or_default(),
                    ..line.clone()
                }
            })
            .collect();
        Ok(Lines::new(drawn).expect("the same products as lines"))
    }
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn to_item<T: Serialize>(v: &T) -> Result<HashMap<String, AttributeValue>, StoreError> {
    serde_dynamo::to_item(v).map_err(backend)
}

pub(crate) fn from_item<T: for<'de> Deserialize<'de>>(
    item: HashMap<String, AttributeValue>,
) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(backend)
}

/// Orders, inventory and idempotency keys on DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    pub(crate) client: Client,
    pub(crate) names: AwsNames,
    /// Where a transition's messages go ([`Topic`]s to queues); `None` for a store used
    /// without queues (the store contract suite), which then sends nothing.
    messages: Option<Messages>,
    /// With notifications (contract section 6): every event enters the outbox on its item
    /// ([`crate::outbox`]) in the same write; `None` without `--notify-url`, so that a
    /// shop turning them on is not sent its whole past.
    pub(crate) notify: Option<Notify>,
    /// How writes are tried again when throttled or in another transaction's way.
    pub(crate) retry: RetryPolicy,
}

/// Notifications: the outbox is on, and where an order with a new event is announced.
#[derive(Clone, Default)]
pub struct Notify {
    /// The notify queue: `{"orderId"}` after each event's write, best effort (the pending
    /// index finds an order whose message was lost). `None` where a notifier polls the
    /// index itself (`orderflow serve`).
    pub queue: Option<Arc<dyn Queue>>,
}

impl std::fmt::Debug for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notify")
            .field("queue", &self.queue.is_some())
            .finish()
    }
}

/// The queues a transition's messages are sent to, right after its write.
#[derive(Clone)]
pub struct Messages {
    pub orders: Arc<dyn Queue>,
    pub refunds: Arc<dyn Queue>,
}

impl std::fmt::Debug for Messages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Messages").finish_non_exhaustive()
    }
}

/// Acceptance order within one millisecond, within this process.
static SEQ: AtomicU64 = AtomicU64::new(0);

impl DynamoStore {
    /// The store on `client`'s account, with the default [`RetryPolicy`]. The store uses a
    /// copy of `client` whose SDK retry layer leaves the errors the store retries itself
    /// to the store ([`crate::retry`]); the rest of its configuration is `client`'s.
    pub fn new(client: Client, names: AwsNames) -> Self {
        let config = client
            .config()
            .to_builder()
            .retry_classifier(crate::retry::LeftToTheStore)
            .build();
        Self {
            client: Client::from_conf(config),
            names,
            messages: None,
            notify: None,
            retry: RetryPolicy::default(),
        }
    }

    /// The same store, retrying its writes by `policy` (e.g. another time budget per call).
    pub fn with_retry(self, policy: RetryPolicy) -> Self {
        Self {
            retry: policy,
            ..self
        }
    }

    /// One write that is not a transaction, sent by `send` (once per attempt), tried again
    /// by the store's retry policy while it is throttled or in a transaction's way. A lost
    /// condition is `Conflict`, never retried; when the budget is spent, `Overloaded`.
    pub(crate) async fn retried<T, E, F, Fut>(
        &self,
        what: &str,
        mut send: F,
    ) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let mut retry = self.retry.start();
        loop {
            let e = match send().await {
                Ok(out) => return Ok(out),
                Err(e) => e,
            };
            if e.code() == Some("ConditionalCheckFailedException") {
                return Err(StoreError::Conflict);
            }
            match e.code().and_then(crate::passing) {
                Some(why) => retry.pause(why, what).await?,
                None => return Err(crate::sdk(e)),
            }
        }
    }

    /// The same store with the notification outbox on.
    pub fn with_notifications(self, notify: Notify) -> Self {
        Self {
            notify: Some(notify),
            ..self
        }
    }

    /// The same store, sending each transition's messages to these queues.
    pub fn with_messages(self, messages: Messages) -> Self {
        Self {
            messages: Some(messages),
            ..self
        }
    }

    /// The conditional write of a transition: one item, or, when it moves stock, one
    /// transaction with every line's inventory item and the customer's allowance (at most
    /// 1 + 50 + 1 = 52 items, within DynamoDB's 100).
    async fn write_transition(&self, t: &Transition) -> Result<(), StoreError> {
        let what = format!("transition of order {}", t.order_id);
        let order = self.order_update(t)?;
        let mut others = self.stock_updates(t)?;
        others.extend(self.allowance_return(t)?);
        if others.is_empty() {
            let update = self
                .client
                .update_item()
                .table_name(order.table_name())
                .set_key(Some(order.key().clone()))
                .update_expression(order.update_expression())
                .set_condition_expression(order.condition_expression().map(str::to_owned))
                .set_expression_attribute_values(order.expression_attribute_values().cloned());
            return self
                .retried(&what, || update.clone().send())
                .await
                .map(|_| ());
        }
        let items = std::iter::once(order)
            .chain(others)
            .map(|u| TransactWriteItem::builder().update(u).build())
            .collect();
        // The order comes first: its lost condition is the port's `Conflict`; a lost
        // condition on the counters or the allowance (they hold less than the order took)
        // is a backend fault, and nothing is written.
        match self.transact(items, &what).await {
            Ok(()) => Ok(()),
            Err(TxFailure::Cancelled(codes)) if condition_failed(codes.first()) => {
                Err(StoreError::Conflict)
            }
            Err(TxFailure::Cancelled(codes)) => Err(crate::cancelled("transition", &codes)),
            // `transact` retries these until its budget is spent, then fails.
            Err(TxFailure::Passing(_)) => Err(StoreError::Overloaded),
            Err(TxFailure::Failed(e)) => Err(e),
        }
    }

    /// Send `t`'s messages after its write. DynamoDB and SQS share no transaction: a send
    /// that fails is logged, and the order is found again by the sweeper (paid orders
    /// waiting are re-sent), so the transition still stands.
    async fn send_messages(&self, t: &Transition) {
        let Some(queues) = &self.messages else {
            return;
        };
        let body = OrderMessage::body(t.order_id);
        for topic in t.messages() {
            let queue = match topic {
                Topic::Orders => &queues.orders,
                Topic::Refunds => &queues.refunds,
            };
            if let Err(e) = queue.send(&body, Duration::ZERO).await {
                tracing::error!(order = %t.order_id, ?topic, error = %e, "message not sent after its transition; the sweeper will find the order again");
            }
        }
    }

    pub fn names(&self) -> &AwsNames {
        &self.names
    }

    /// One item by its key, read consistently; only the `projection` attributes if given.
    pub(crate) async fn read_item(
        &self,
        table: &str,
        (key, value): (&str, &str),
        projection: Option<&str>,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(table)
            .key(key, s(value))
            .set_projection_expression(projection.map(str::to_owned))
            .consistent_read(true)
            .send()
            .await
            .map_err(crate::sdk)?;
        Ok(out.item)
    }

    /// An order's item (`projection`: only those attributes).
    pub(crate) async fn read_order_item(
        &self,
        id: OrderId,
        projection: Option<&str>,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let id = id.to_string();
        self.read_item(&self.names.orders_table, ("orderId", &id), projection)
            .await
    }

    async fn read_idempotency(&self, key: &str) -> Result<Option<IdempotencyItem>, StoreError> {
        self.read_item(&self.names.idempotency_table, ("key", key), None)
            .await?
            .map(from_item)
            .transpose()
    }

    /// The answer for a key seen before: the same request replays its order.
    async fn replay(&self, seen: IdempotencyItem, fingerprint: &str) -> Result<Placed, StoreError> {
        if seen.fingerprint != fingerprint {
            return Err(StoreError::IdempotencyMismatch);
        }
        let id = OrderId::parse(&seen.order_id).map_err(|_| corrupt("idempotency orderId"))?;
        let order = self
            .get_order(id)
            .await?
            .ok_or_else(|| backend("idempotency key without its order"))?;
        Ok(Placed::Replayed(order))
    }

    /// The stock effect of `t` on each line's inventory item.
    fn stock_updates(&self, t: &Transition) -> Result<Vec<Update>, StoreError> {
        let expr = match t.stock {
            StockEffect::None => return Ok(Vec::new()),
            StockEffect::Release => {
                "SET stockCount = stockCount + :q, lockedCount = lockedCount - :q"
            }
            StockEffect::Sell => "SET lockedCount = lockedCount - :q",
        };
        // Back to (or sold from) where placing took the units: each shard drawn from, or
        // the product's own item.
        t.lines
            .iter()
            .flat_map(|line| line.draws().map(move |d| (line.product_id.as_str(), d)))
            .map(|(product, d)| {
                Update::builder()
                    .table_name(&self.names.inventory_table)
                    .key("productId", s(crate::stock::stock_key(product, d.shard)))
                    .update_expression(expr)
                    .condition_expression("lockedCount >= :q")
                    .expression_attribute_values(":q", n(d.units))
                    .build()
                    .map_err(backend)
            })
            .collect()
    }

    /// When `t` gives the order's limited units back, the update of the customer's
    /// allowance taking them off; it must hold them all (else the transition is refused
    /// rather than hand out allowance nobody took).
    fn allowance_return(&self, t: &Transition) -> Result<Option<Update>, StoreError> {
        if !t.returns_allowance() {
            return Ok(None);
        }
        let mut u = AllowanceUpdate::default();
        for line in t.lines.limited() {
            u.take(&line.product_id, line.quantity.get());
        }
        u.build(self, &t.user_id)
    }

    /// The products of `o`'s lines and the customer's allowance for them, each read
    /// consistently, all at once (one round trip). Separate `GetItem`s rather than one
    /// `BatchGetItem`: the functions' policies allow those, and the cost is the same.
    async fn read_cart(&self, o: &Order) -> Result<CartRead, StoreError> {
        let mut reads = tokio::task::JoinSet::new();
        for line in o.lines.iter() {
            let get = self
                .client
                .get_item()
                .table_name(&self.names.inventory_table)
                .key("productId", s(line.product_id.as_str()))
                .consistent_read(true);
            reads.spawn(async move { (false, get.send().await.map_err(crate::sdk)) });
        }
        // Only this cart's products: the item holds every product the customer ever had
        // limited units of. Read even if no product turns out to be limited, so that the
        // whole check costs one round trip.
        let mut get = self
            .client
            .get_item()
            .table_name(&self.names.orders_table)
            .key("orderId", s(allowance_key(&o.user_id)))
            .consistent_read(true);
        let mut projection = Vec::with_capacity(o.lines.len());
        for (i, line) in o.lines.iter().enumerate() {
            get = get.expression_attribute_names(
                format!("#a{i}"),
                allowance_attribute(&line.product_id),
            );
            projection.push(format!("#a{i}"));
        }
        let get = get.projection_expression(projection.join(", "));
        reads.spawn(async move { (true, get.send().await.map_err(crate::sdk)) });

        let mut read = CartRead::default();
        let mut sharded = Vec::new();
        while let Some(done) = reads.join_next().await {
            let (allowance, out) = done.map_err(backend)?;
            let Some(item) = out?.item else { continue };
            if !allowance {
                let head: crate::stock::StockItem = from_item(item)?;
                if head.is_sharded() {
                    sharded.push(head);
                    continue;
                }
                let p = head.into_product()?;
                read.products.insert(p.product_id.clone(), p);
                continue;
            }
            for line in o.lines.iter() {
                if let Some(v) = item.get(&allowance_attribute(&line.product_id)) {
                    let units = v
                        .as_n()
                        .ok()
                        .and_then(|v| v.parse().ok())
                        .ok_or_else(|| corrupt("allowance"))?;
                    read.held.insert(line.product_id.clone(), units);
                }
            }
        }
        // Products spread over shards: their other shards, in a second round trip.
        let mut shards = tokio::task::JoinSet::new();
        for head in sharded {
            let store = self.clone();
            shards.spawn(async move { store.with_shards(head).await });
        }
        while let Some(done) = shards.join_next().await {
            let stock = done.map_err(backend)??;
            let p = stock.product()?;
            if let Some(spread) = stock.spread() {
                read.spread.insert(p.product_id.clone(), spread);
            }
            read.products.insert(p.product_id.clone(), p);
        }
        Ok(read)
    }

    /// The transaction placing `o`, its lines as `check_cart` passed them on `read`: the
    /// order, its idempotency key, each line's inventory item, and the customer's allowance
    /// when a line is limited. At most 1 + 1 + 50 + 1 = 53 items, within DynamoDB's 100.
    fn place_items(
        &self,
        new: &NewOrder,
        o: &Order,
        read: &CartRead,
        seq: u64,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let item = OrderItem::from_order(o, seq);
        let item = if self.notify.is_some() {
            item.with_pending_notification()
        } else {
            item
        };
        let mut items = vec![
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.names.orders_table)
                        .set_item(Some(to_item(&item)?))
                        .condition_expression("attribute_not_exists(orderId)")
                        .build()
                        .map_err(backend)?,
                )
                .build(),
        ];
        if let Some(idem) = &new.idempotency {
            let item = IdempotencyItem {
                key: idem.key.as_str().to_owned(),
                fingerprint: idem.fingerprint.clone(),
                order_id: o.id.to_string(),
                ttl: o.created_at.as_millis() / 1000 + IDEMPOTENCY_TTL_SECS,
            };
            items.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.names.idempotency_table)
                            .set_item(Some(to_item(&item)?))
                            .condition_expression("attribute_not_exists(#k)")
                            .expression_attribute_names("#k", "key")
                            .build()
                            .map_err(backend)?,
                    )
                    .build(),
            );
        }
        let mut allowance = AllowanceUpdate::default();
        for line in o.lines.iter() {
            let q = line.quantity.get();
            let limit = read
                .products
                .get(&line.product_id)
                .and_then(|p| p.max_per_user);
            // The product's own item, or each shard the line draws from.
            for d in line.draws() {
                let lock = Update::builder()
                    .table_name(&self.names.inventory_table)
                    .key(
                        "productId",
                        s(crate::stock::stock_key(line.product_id.as_str(), d.shard)),
                    )
                    .update_expression(
                        "SET stockCount = stockCount - :q, lockedCount = lockedCount + :q",
                    )
                    .expression_attribute_values(":q", n(d.units));
                // The limit must still be the one checked (each shard holds a copy): a
                // change in between (set, changed, removed) cancels the transaction, and
                // placing checks again.
                let lock = match limit {
                    Some(m) => lock
                        .condition_expression("stockCount >= :q AND maxPerUser = :m")
                        .expression_attribute_values(":m", n(m.get())),
                    None => lock.condition_expression(
                        "stockCount >= :q AND attribute_not_exists(maxPerUser)",
                    ),
                };
                items.push(
                    TransactWriteItem::builder()
                        .update(lock.build().map_err(backend)?)
                        .build(),
                );
            }
            if line.limited {
                let max = limit.ok_or_else(|| backend("a limited line without a limit"))?;
                allowance.add(&line.product_id, q, max);
            }
        }
        if let Some(u) = allowance.build(self, &o.user_id)? {
            items.push(TransactWriteItem::builder().update(u).build());
        }
        if items.len() > MAX_TRANSACTION_ITEMS {
            // Only a cart of many lines on products whose stock is scattered over many
            // nearly empty shards gets here.
            return Err(StoreError::Invalid(format!(
                "this cart would take its units from {} stock items, more than one transaction holds ({MAX_TRANSACTION_ITEMS}); order it in fewer lines",
                items.len()
            )));
        }
        Ok(items)
    }

    fn order_update(&self, t: &Transition) -> Result<Update, StoreError> {
        let mut set = vec![
            "orderStatus = :ts",
            "paymentStatus = :tp",
            "refundStatus = :tr",
            "updatedAt = :at",
        ];
        let mut values = HashMap::from([
            (":ts".to_owned(), n(i64::from(t.to.status.code()))),
            (":tp".to_owned(), s(t.to.payment.name())),
            (":tr".to_owned(), s(t.to.refund.name())),
            (":at".to_owned(), n(t.at.as_millis())),
            (":fs".to_owned(), n(i64::from(t.from.status.code()))),
            (":fp".to_owned(), s(t.from.payment.name())),
            (":fr".to_owned(), s(t.from.refund.name())),
        ]);
        if let Some(pt) = t.payment_time {
            set.push("paymentTime = :pt");
            values.insert(":pt".into(), n(pt.as_millis()));
        }
        if let Some(pid) = &t.payment_id {
            set.push("paymentId = :pid");
            values.insert(":pid".into(), s(pid.clone()));
        }
        // The history event, appended by this same conditional write.
        set.push("events = :seq");
        set.push("history = list_append(if_not_exists(history, :none), :event)");
        values.insert(":seq".into(), n(i64::from(t.seq)));
        values.insert(":none".into(), AttributeValue::L(Vec::new()));
        values.insert(
            ":event".into(),
            serde_dynamo::to_attribute_value(vec![StoredEvent::from_event(&t.history_event())])
                .map_err(backend)?,
        );
        // The event enters the notification outbox: the order is pending (due now unless
        // an earlier event is already waiting, or parked), and an order from before
        // notifications were on starts its count at this event.
        if self.notify.is_some() {
            set.push("notified = if_not_exists(notified, :prev_events)");
            set.push("notifyShard = :nshard");
            set.push("notifyDue = if_not_exists(notifyDue, :at)");
            values.insert(":prev_events".into(), n(i64::from(t.seq) - 1));
            values.insert(
                ":nshard".into(),
                s(crate::outbox::shard_of(&t.order_id.to_string())),
            );
        }
        // The listing indexes: the status's partition (unchanged: no index write), and the
        // listing partition of an order stored before there was one.
        set.push("statusShard = :sshard");
        set.push("listShard = if_not_exists(listShard, :lshard)");
        values.insert(
            ":sshard".into(),
            s(crate::listing::status_shard(t.order_id, t.to.status)),
        );
        values.insert(":lshard".into(), s(crate::listing::list_shard(t.order_id)));
        // Waiting for a message: on the re-send index until it is due; else off it.
        let mut remove = Vec::new();
        match t.resend {
            Some(r) => {
                set.push("sentAt = :sent, resendAt = :due, waitShard = :wshard");
                values.insert(":sent".into(), n(r.sent_at.as_millis()));
                values.insert(":due".into(), n(r.due_at.as_millis()));
                values.insert(":wshard".into(), s(shard_of(t.order_id, WAIT_SHARDS)));
            }
            None => remove.extend(["sentAt", "resendAt", "waitShard"]),
        }
        let mut expr = format!("SET {}", set.join(", "));
        // Leaving a state leaves its sparse index. (`paidShard` is the paid-orders index of
        // versions before `awaitingMessage`, cleared from the orders that still carry it.)
        if t.from.awaits_payment() && !t.to.awaits_payment() {
            remove.push("unpaidShard");
        }
        if t.from.awaits_processing() && !t.to.awaits_processing() {
            remove.push("paidShard");
        }
        // The history must hold exactly the events before this one (an order stored before
        // histories has none, and no `events`).
        let history_condition = if t.seq <= 1 {
            "attribute_not_exists(events)"
        } else {
            values.insert(":prev".into(), n(i64::from(t.seq) - 1));
            "events = :prev"
        };
        if !remove.is_empty() {
            expr.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        Update::builder()
            .table_name(&self.names.orders_table)
            .key("orderId", s(t.order_id.to_string()))
            .update_expression(expr)
            .condition_expression(format!(
                "orderStatus = :fs AND paymentStatus = :fp AND refundStatus = :fr AND {history_condition}"
            ))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(backend)
    }

    /// Up to `limit` orders from each shard of a sparse sharded index whose sort key is
    /// below `below`, [`PARALLEL_QUERIES`] shards at a time; the caller orders and trims
    /// the union.
    async fn query_shards(
        &self,
        index: &'static str,
        (shard_key, sort_key, shards): (&'static str, &'static str, u32),
        below: Timestamp,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        let mut found = Vec::new();
        let mut queries = tokio::task::JoinSet::new();
        for shard in 0..shards {
            if queries.len() == PARALLEL_QUERIES
                && let Some(done) = queries.join_next().await
            {
                found.extend(done.map_err(backend)??);
            }
            let query = self
                .client
                .query()
                .table_name(&self.names.orders_table)
                .index_name(index)
                .key_condition_expression(format!("{shard_key} = :s AND {sort_key} < :below"))
                .expression_attribute_values(":s", s(shard.to_string()))
                .expression_attribute_values(":below", n(below.as_millis()))
                .limit(i32::try_from(limit).unwrap_or(i32::MAX));
            queries.spawn(async move {
                let out = query.send().await.map_err(crate::sdk)?;
                out.items
                    .unwrap_or_default()
                    .into_iter()
                    .map(|item| from_item::<OrderItem>(item)?.into_order())
                    .collect::<Result<Vec<Order>, StoreError>>()
            });
        }
        while let Some(done) = queries.join_next().await {
            found.extend(done.map_err(backend)??);
        }
        Ok(found)
    }
}

/// How a transaction ended, when it did not succeed.
pub(crate) enum TxFailure {
    /// Cancelled; the reason code of each item, in order.
    Cancelled(Vec<Option<String>>),
    /// Throttled or in another transaction's way as a whole (not item by item).
    Passing(Passing),
    Failed(StoreError),
}

impl TxFailure {
    /// Whether the same transaction may pass if tried again, and why.
    fn passing(&self) -> Option<Passing> {
        match self {
            Self::Cancelled(codes) => crate::cancellation_passing(codes),
            Self::Passing(why) => Some(*why),
            Self::Failed(_) => None,
        }
    }
}

/// Placing reads and checks again after a lost condition on the counters or the allowance
/// (something changed after the read) at most this many times: at once the first time,
/// after a jittered pause of the retry policy from then on (a hot product's buyers then
/// stop colliding in step); past them, or past the retry budget, the products are too
/// contended now: `Overloaded` (503).
const PLACE_RECHECKS: u32 = 16;

impl DynamoStore {
    /// `items` in one transaction, once.
    async fn transact_once(&self, items: Vec<TransactWriteItem>) -> Result<(), TxFailure> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error().and_then(cancellation_codes) {
                Some(codes) => Err(TxFailure::Cancelled(codes)),
                None => match e.code().and_then(crate::passing) {
                    Some(why) => Err(TxFailure::Passing(why)),
                    None => Err(TxFailure::Failed(crate::sdk(e))),
                },
            },
        }
    }

    /// `items` in one transaction, tried again by the store's retry policy while it is
    /// cancelled only by throttling or another transaction in its way (never after a lost
    /// condition); when the budget is spent, `Failed(Overloaded)`.
    pub(crate) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        what: &str,
    ) -> Result<(), TxFailure> {
        let mut retry = self.retry.start();
        loop {
            let failure = match self.transact_once(items.clone()).await {
                Ok(()) => return Ok(()),
                Err(f) => f,
            };
            match failure.passing() {
                Some(why) => retry.pause(why, what).await.map_err(TxFailure::Failed)?,
                None => return Err(failure),
            }
        }
    }
}

fn cancellation_codes(e: &TransactWriteItemsError) -> Option<Vec<Option<String>>> {
    match e {
        TransactWriteItemsError::TransactionCanceledException(c) => Some(
            c.cancellation_reasons()
                .iter()
                .map(|r| r.code().map(str::to_owned))
                .collect(),
        ),
        _ => None,
    }
}

pub(crate) fn condition_failed(code: Option<&Option<String>>) -> bool {
    matches!(code, Some(Some(c)) if c == "ConditionalCheckFailed")
}

#[async_trait]
impl OrderStore for DynamoStore {
    /// Read the lines' products and the customer's allowance, decide with `check_cart` (a
    /// refusal costs no write), then write everything in one transaction whose conditions
    /// hold exactly when what was decided still holds: each line's stock suffices and its
    /// product's limit is the one read, and the customer has room under each limit. A lost
    /// condition there means something changed in between: read and decide again, which
    /// names the products of a refusal, or try again if the cart now passes.
    async fn place_order(&self, new: NewOrder) -> Result<Placed, StoreError> {
        let o = &new.order;
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        // The counters and the allowance follow the order and its key in the transaction.
        let counters_from = 1 + usize::from(new.idempotency.is_some());
        let what = format!("placing order {}", o.id);
        let mut retry = self.retry.start();
        let mut rechecks = 0;
        loop {
            // Again on each retry: a concurrent request with the same key may have won.
            if let Some(idem) = &new.idempotency
                && let Some(seen) = self.read_idempotency(idem.key.as_str()).await?
            {
                return self.replay(seen, &idem.fingerprint).await;
            }
            let read = self.read_cart(o).await?;
            let lines = read.check(&o.lines, o.id).map_err(StoreError::Refused)?;
            let placed = Order { lines, ..o.clone() };
            let items = self.place_items(&new, &placed, &read, seq)?;
            let failure = match self.transact_once(items).await {
                Ok(()) => {
                    self.announce(o.id).await;
                    return Ok(Placed::Created(placed));
                }
                Err(f) => f,
            };
            let codes = match failure {
                TxFailure::Failed(e) => return Err(e),
                TxFailure::Passing(why) => {
                    retry.pause(why, &what).await?;
                    continue;
                }
                TxFailure::Cancelled(codes) => codes,
            };
            // The key was taken by a concurrent request: that one's order is the answer (even
            // if the stock ran out meanwhile).
            if let Some(idem) = &new.idempotency
                && condition_failed(codes.get(1))
            {
                let seen = self
                    .read_idempotency(idem.key.as_str())
                    .await?
                    .ok_or_else(|| backend("idempotency key vanished"))?;
                return self.replay(seen, &idem.fingerprint).await;
            }
            // Something changed after the read: read and check again.
            if codes
                .iter()
                .skip(counters_from)
                .any(|c| condition_failed(Some(c)))
            {
                if rechecks == PLACE_RECHECKS || retry.spent() {
                    tracing::warn!(order = %o.id, rechecks, "placing: the products or the customer's allowance kept changing");
                    return Err(StoreError::Overloaded);
                }
                if rechecks > 0 {
                    retry.pause(Passing::Contention, &what).await?;
                }
                rechecks += 1;
                continue;
            }
            if let Some(why) = crate::cancellation_passing(&codes) {
                retry.pause(why, &what).await?;
                continue;
            }
            return Err(crate::cancelled("place order", &codes));
        }
    }

    async fn order_events(&self, id: OrderId) -> Result<Vec<OrderEvent>, StoreError> {
        let item = self.read_order_item(id, Some("history")).await?;
        #[derive(Deserialize)]
        struct History {
            #[serde(default)]
            history: Vec<StoredEvent>,
        }
        let Some(item) = item else {
            return Ok(Vec::new());
        };
        from_item::<History>(item)?
            .history
            .into_iter()
            .map(|e| e.into_event(id))
            .collect()
    }

    async fn get_order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        self.read_order_item(id, None)
            .await?
            .map(|i| from_item::<OrderItem>(i)?.into_order())
            .transpose()
    }

    async fn list_orders(&self, query: &OrderQuery) -> Result<OrderPage, StoreError> {
        self.list(query).await
    }

    async fn apply(&self, t: &Transition) -> Result<(), StoreError> {
        self.write_transition(t).await?;
        self.send_messages(t).await;
        self.announce(t.order_id).await;
        Ok(())
    }

    async fn expired_unpaid(&self, now: Timestamp, limit: usize) -> Result<Vec<Order>, StoreError> {
        let mut found = self
            .query_shards(
                UNPAID_BY_EXPIRY,
                ("unpaidShard", "expiresAt", UNPAID_SHARDS),
                now,
                limit,
            )
            .await?;
        found.sort_by_key(|o| o.expires_at);
        found.truncate(limit);
        Ok(found)
    }

    async fn awaiting_message(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        let mut found = self
            .query_shards(
                AWAITING_MESSAGE,
                ("waitShard", "resendAt", WAIT_SHARDS),
                now,
                limit,
            )
            .await?;
        found.sort_by_key(|o| o.resend.map(|r| r.due_at));
        found.truncate(limit);
        Ok(found)
    }

    async fn rescheduled(&self, order: &Order, resend: Resend) -> Result<(), StoreError> {
        let events_condition = if order.events == 0 {
            "attribute_not_exists(events)".to_owned()
        } else {
            "events = :e".to_owned()
        };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.names.orders_table)
            .key("orderId", s(order.id.to_string()))
            .update_expression("SET sentAt = :sent, resendAt = :due, waitShard = :wshard")
            .condition_expression(format!("attribute_exists(orderId) AND {events_condition}"))
            .expression_attribute_values(":sent", n(resend.sent_at.as_millis()))
            .expression_attribute_values(":due", n(resend.due_at.as_millis()))
            .expression_attribute_values(":wshard", s(shard_of(order.id, WAIT_SHARDS)));
        if order.events > 0 {
            update = update.expression_attribute_values(":e", n(i64::from(order.events)));
        }
        self.retried(&format!("rescheduling order {}", order.id), || {
            update.clone().send()
        })
        .await
        .map(|_| ())
    }

    async fn put_product(
        &self,
        id: &ProductId,
        stock: StockCount,
        limit: LimitChange,
    ) -> Result<Product, StoreError> {
        self.put_stock(id, stock, limit).await
    }

    async fn spread_stock(&self, id: &ProductId, shards: StockShards) -> Result<(), StoreError> {
        self.spread_over(id, shards).await
    }

    async fn get_product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        self.read_stock(id)
            .await?
            .map(|stock| stock.product())
            .transpose()
    }

    async fn list_products(&self) -> Result<Vec<Product>, StoreError> {
        self.all_stock().await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.get_product(&ProductId::parse("healthz").map_err(backend)?)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use orderflow_core::domain::{Draw, RefusalKind, UserId};
    use orderflow_core::testing::placed_cart;

    use super::*;
    use crate::setup::QueueSpec;

    // The cases below run on the emulator, as tests/contract.rs does (`scripts/test`
    // starts it); without `AWS_ENDPOINT_URL` they fail, never skip.

    async fn fresh_store() -> DynamoStore {
        let (names, dynamo, _) = crate::emulator::fresh("u", QueueSpec::default()).await;
        DynamoStore::new(dynamo, names).with_retry(crate::emulator::retry_policy())
    }

    fn pid(p: &str) -> ProductId {
        ProductId::parse(p).unwrap()
    }

    async fn stock(store: &DynamoStore, p: &str, n: i64, limit: LimitChange) {
        store
            .put_product(&pid(p), StockCount::new(n).unwrap(), limit)
            .await
            .unwrap();
    }

    fn limit(n: i64) -> LimitChange {
        LimitChange::Set(MaxPerUser::new(n).unwrap())
    }

    /// What placing would decide for `cart` now: the order with its lines checked, and
    /// what it read.
    async fn decide(store: &DynamoStore, user: &str, cart: &[(&str, i64)]) -> (NewOrder, CartRead) {
        let o = placed_cart(user, cart, Timestamp::from_millis(1_790_000_000_000));
        let read = store.read_cart(&o).await.unwrap();
        let lines = read.check(&o.lines, o.id).unwrap();
        let new = NewOrder {
            order: Order { lines, ..o },
            idempotency: None,
        };
        (new, read)
    }

    /// The transaction placing `new` on `read`, sent now: the cancellation reasons, if any.
    async fn write(store: &DynamoStore, new: &NewOrder, read: &CartRead) -> Option<Vec<String>> {
        let items = store.place_items(new, &new.order, read, 0).unwrap();
        match store.transact_once(items).await {
            Ok(()) => None,
            Err(TxFailure::Cancelled(codes)) => {
                Some(codes.into_iter().map(Option::unwrap_or_default).collect())
            }
            Err(TxFailure::Passing(why)) => panic!("{why:?}"),
            Err(TxFailure::Failed(e)) => panic!("{e:?}"),
        }
    }

    const LOST: &str = "ConditionalCheckFailed";

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_limit_changed_after_the_check_cancels_the_placement() {
        let store = fresh_store().await;
        stock(&store, "drop", 10, limit(3)).await;
        stock(&store, "free", 10, LimitChange::Keep).await;
        // Items: the order, then each line, then the allowance.
        for change in [limit(1), LimitChange::Remove] {
            let (new, read) = decide(&store, "u1", &[("free", 1), ("drop", 1)]).await;
            stock(&store, "drop", 10, change).await;
            let codes = write(&store, &new, &read).await.expect("cancelled");
            assert_eq!(codes[2], LOST, "{change:?}: {codes:?}");
            stock(&store, "drop", 10, limit(3)).await;
        }
        // A limit set on a product that had none.
        let (new, read) = decide(&store, "u1", &[("free", 1), ("drop", 1)]).await;
        stock(&store, "free", 10, limit(5)).await;
        let codes = write(&store, &new, &read).await.expect("cancelled");
        assert_eq!(codes[1], LOST, "{codes:?}");
        // The same limit again is the one checked: the placement stands.
        stock(&store, "free", 10, LimitChange::Remove).await;
        assert_eq!(write(&store, &new, &read).await, None);
        let drop = store.get_product(&pid("drop")).await.unwrap().unwrap();
        assert_eq!((drop.stock_count, drop.locked_count), (9, 1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_allowance_item_holds_each_limited_product_and_is_checked_at_write() {
        let store = fresh_store().await;
        stock(&store, "drop", 10, limit(3)).await;
        stock(&store, "free", 10, LimitChange::Keep).await;
        let (stale, read) = decide(&store, "u1", &[("drop", 2)]).await;
        // Another order of the same customer takes 2 between the check and the write.
        let (new, now) = decide(&store, "u1", &[("free", 4), ("drop", 2)]).await;
        assert_eq!(write(&store, &new, &now).await, None);
        let codes = write(&store, &stale, &read).await.expect("cancelled");
        assert_eq!(codes.last().map(String::as_str), Some(LOST), "{codes:?}");
        // Placing again reads the allowance and names the product.
        let err = store.place_order(stale).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Refused(r) if r.kind == RefusalKind::LimitExceeded),
            "{err:?}"
        );

        // The layout: one attribute per limited product, on a key no order has, seen by
        // no listing.
        let user = UserId::parse("u1").unwrap();
        let item = store
            .read_item(
                &store.names.orders_table,
                ("orderId", &allowance_key(&user)),
                None,
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(item.get("p:drop"), Some(&n(2)));
        assert!(!item.contains_key("p:free"), "{item:?}");
        let listed = store
            .list_orders(&OrderQuery {
                limit: 10,
                ..OrderQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(listed.orders.len(), 1);
        let mine = store
            .list_orders(&OrderQuery {
                user_id: Some(user),
                limit: 10,
                ..OrderQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(mine.orders.len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_order_stored_before_carts_reads_as_one_line_and_releases_its_stock() {
        use orderflow_core::domain::lifecycle;
        let store = fresh_store().await;
        stock(&store, "p", 10, LimitChange::Keep).await;
        let (new, _) = decide(&store, "u1", &[("p", 2)]).await;
        let o = match store.place_order(new).await.unwrap() {
            Placed::Created(o) => o,
            other => panic!("{other:?}"),
        };
        // The item as it was written before carts: productId and quantity, no lines.
        let mut item = store.read_order_item(o.id, None).await.unwrap().unwrap();
        item.remove("lines");
        item.insert("productId".into(), s("p"));
        item.insert("quantity".into(), n(2));
        store
            .client
            .put_item()
            .table_name(&store.names.orders_table)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
        let legacy = store.get_order(o.id).await.unwrap().unwrap();
        assert_eq!(legacy, o);
        let expiry =
            lifecycle::on_expiry(&legacy, legacy.expires_at.plus(Duration::from_secs(1))).unwrap();
        store.apply(&expiry).await.unwrap();
        let p = store.get_product(&pid("p")).await.unwrap().unwrap();
        assert_eq!((p.stock_count, p.locked_count), (10, 0));
    }

    async fn shard_counts(store: &DynamoStore, p: &str) -> Vec<(i64, i64)> {
        let stock = store.read_stock(&pid(p)).await.unwrap().unwrap();
        stock.counts().to_vec()
    }

    async fn spread(store: &DynamoStore, p: &str, n: i64) -> Result<(), StoreError> {
        store
            .spread_stock(&pid(p), StockShards::new(n).unwrap())
            .await
    }

    async fn place_cart(store: &DynamoStore, user: &str, cart: &[(&str, i64)]) -> Order {
        let new = NewOrder {
            order: placed_cart(user, cart, Timestamp::from_millis(1_790_000_000_000)),
            idempotency: None,
        };
        match store.place_order(new).await.unwrap() {
            Placed::Created(o) => o,
            other => panic!("{other:?}"),
        }
    }

    /// Pay, claim and complete `o` as the webhook and the consumer would.
    async fn complete(store: &DynamoStore, o: &Order) {
        use orderflow_core::domain::lifecycle::{self, ConsumeDecision};
        let at = o.created_at;
        let paid = orderflow_core::testing::payment(o, at);
        store.apply(&paid).await.unwrap();
        let o = paid.applied_to(o);
        let ConsumeDecision::Start(claim) = lifecycle::on_consume(&o, at) else {
            panic!("a paid order is claimed")
        };
        store.apply(&claim).await.unwrap();
        let o = claim.applied_to(&o);
        store
            .apply(&lifecycle::on_processed(&o, at).unwrap())
            .await
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_line_takes_units_from_the_shards_it_records_and_gives_them_back_there() {
        use orderflow_core::domain::lifecycle;
        let store = fresh_store().await;
        stock(&store, "hot", 8, LimitChange::Keep).await;
        spread(&store, "hot", 4).await.unwrap();
        assert_eq!(shard_counts(&store, "hot").await, [(2, 0); 4]);

        // More than any shard holds: from three shards, in the one transaction.
        let big = place_cart(&store, "u1", &[("hot", 5)]).await;
        let drawn = big.lines[0].drawn.clone();
        assert_eq!(drawn.len(), 3, "{drawn:?}");
        assert_eq!(drawn.iter().map(|d| d.units).sum::<i64>(), 5);
        assert_eq!(store.get_order(big.id).await.unwrap().unwrap(), big);
        let counts = shard_counts(&store, "hot").await;
        for d in &drawn {
            let (stock, locked) = counts[d.shard as usize];
            assert_eq!((stock + locked, locked), (2, d.units), "{counts:?}");
        }
        let p = store.get_product(&pid("hot")).await.unwrap().unwrap();
        assert_eq!((p.stock_count, p.locked_count), (3, 5));

        // Timed out: every unit back to the shard it came from.
        let expiry =
            lifecycle::on_expiry(&big, big.expires_at.plus(Duration::from_secs(1))).unwrap();
        store.apply(&expiry).await.unwrap();
        assert_eq!(shard_counts(&store, "hot").await, [(2, 0); 4]);

        // One unit: from the order's own shard, and sold there.
        let one = place_cart(&store, "u2", &[("hot", 1)]).await;
        let own = crate::stock::start_shard(one.id, 4) as u32;
        assert_eq!(
            one.lines[0].drawn,
            [Draw {
                shard: own,
                units: 1
            }]
        );
        complete(&store, &one).await;
        let counts = shard_counts(&store, "hot").await;
        for (k, c) in counts.iter().enumerate() {
            let expected = if k as u32 == own { (1, 0) } else { (2, 0) };
            assert_eq!(*c, expected, "shard {k}: {counts:?}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shards_only_grow_and_setting_stock_spreads_it_over_them() {
        let store = fresh_store().await;
        assert!(matches!(
            spread(&store, "nothing", 2).await,
            Err(StoreError::Invalid(_))
        ));
        stock(&store, "p", 10, limit(2)).await;
        spread(&store, "p", 4).await.unwrap();
        assert_eq!(
            shard_counts(&store, "p").await,
            [(3, 0), (3, 0), (2, 0), (2, 0)]
        );
        let err = spread(&store, "p", 2).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Invalid(m) if m.contains("only grow")),
            "{err:?}"
        );
        spread(&store, "p", 4).await.unwrap();
        // Every shard holds the limit: a placement on any of them checks it.
        for k in 0..4 {
            let item = store
                .read_item(
                    &store.names.inventory_table,
                    ("productId", &crate::stock::stock_key("p", k)),
                    None,
                )
                .await
                .unwrap()
                .unwrap();
            assert_eq!(item.get("maxPerUser"), Some(&n(2)), "shard {k}");
        }
        // Locked units stay where they are; the available ones are spread again.
        let o = place_cart(&store, "u1", &[("p", 2)]).await;
        stock(&store, "p", 7, LimitChange::Remove).await;
        let counts = shard_counts(&store, "p").await;
        assert_eq!(counts.iter().map(|c| c.0).collect::<Vec<_>>(), [2, 2, 2, 1]);
        assert_eq!(counts.iter().map(|c| c.1).sum::<i64>(), 2);
        assert_eq!(o.lines[0].drawn.iter().map(|d| d.units).sum::<i64>(), 2);
        // The list shows each product once, with its sums.
        stock(&store, "q", 1, LimitChange::Keep).await;
        let listed: Vec<_> = store
            .list_products()
            .await
            .unwrap()
            .into_iter()
            .map(|p| (p.product_id.to_string(), p.stock_count, p.locked_count))
            .collect();
        assert_eq!(listed, [("p".into(), 7, 2), ("q".into(), 1, 0)]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn listings_merge_every_index_partition_in_exact_newest_first_order() {
        use orderflow_core::domain::OrderStatus;
        use orderflow_core::domain::lifecycle::{self, PaymentDecision, PaymentOutcome};
        let store = fresh_store().await;
        stock(&store, "p", 100, LimitChange::Keep).await;
        // All in the same millisecond: only the acceptance order tells them apart.
        let mut placed = Vec::new();
        for i in 0..40 {
            placed.push(place_cart(&store, &format!("u{}", i % 3), &[("p", 1)]).await);
        }
        // They are spread over several partitions of each index, so the merge is what
        // orders them.
        let mut lists = std::collections::HashSet::new();
        let mut statuses = std::collections::HashSet::new();
        for o in &placed {
            let item = store
                .read_order_item(o.id, Some("listShard, statusShard"))
                .await
                .unwrap()
                .unwrap();
            lists.insert(item["listShard"].as_s().unwrap().clone());
            statuses.insert(item["statusShard"].as_s().unwrap().clone());
        }
        assert!(
            lists.len() > 4 && statuses.len() > 4,
            "{lists:?} {statuses:?}"
        );
        // Every third fails.
        for o in placed.iter().step_by(3) {
            let PaymentDecision::Apply { transition, .. } =
                lifecycle::on_payment(o, PaymentOutcome::Failed, None, o.created_at)
            else {
                panic!("failure applies")
            };
            store.apply(&transition).await.unwrap();
        }
        let newest_first: Vec<OrderId> = placed.iter().rev().map(|o| o.id).collect();
        let failed: Vec<OrderId> = placed.iter().step_by(3).rev().map(|o| o.id).collect();
        let pending: Vec<OrderId> = newest_first
            .iter()
            .filter(|id| !failed.contains(id))
            .copied()
            .collect();
        let u1: Vec<OrderId> = placed
            .iter()
            .enumerate()
            .rev()
            .filter(|(i, _)| i % 3 == 1)
            .map(|(_, o)| o.id)
            .collect();
        let pages = |query: OrderQuery| {
            let store = store.clone();
            async move {
                let mut q = query;
                let mut ids = Vec::new();
                loop {
                    let page = store.list_orders(&q).await.unwrap();
                    assert!(page.orders.len() <= q.limit as usize);
                    ids.extend(page.orders.iter().map(|o| o.id));
                    match page.next_cursor {
                        Some(c) => q.cursor = Some(c),
                        None => return ids,
                    }
                }
            }
        };
        let q = |limit, status, user: Option<&str>| OrderQuery {
            limit,
            status,
            user_id: user.map(|u| UserId::parse(u).unwrap()),
            cursor: None,
        };
        assert_eq!(pages(q(7, None, None)).await, newest_first);
        assert_eq!(pages(q(1, None, None)).await, newest_first);
        assert_eq!(pages(q(6, Some(OrderStatus::Pending), None)).await, pending);
        assert_eq!(pages(q(4, Some(OrderStatus::Failed), None)).await, failed);
        assert_eq!(pages(q(5, None, Some("u1"))).await, u1);
        // u1 holds orders 1, 4, 7, ...: those are never the failed ones (0, 3, 6, ...).
        assert_eq!(pages(q(5, Some(OrderStatus::Failed), Some("u1"))).await, []);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn aws_init_lists_orders_stored_before_the_listing_shards_again() {
        let store = fresh_store().await;
        stock(&store, "p", 10, LimitChange::Keep).await;
        let old = place_cart(&store, "u1", &[("p", 1)]).await;
        let new = place_cart(&store, "u1", &[("p", 1)]).await;
        // The item as an older version wrote it: no listing shards.
        store
            .client
            .update_item()
            .table_name(&store.names.orders_table)
            .key("orderId", s(old.id.to_string()))
            .update_expression("REMOVE listShard, statusShard")
            .send()
            .await
            .unwrap();
        let listed = |q: OrderQuery| {
            let store = store.clone();
            async move {
                let page = store.list_orders(&q).await.unwrap();
                page.orders.into_iter().map(|o| o.id).collect::<Vec<_>>()
            }
        };
        let everything = OrderQuery {
            limit: 10,
            ..OrderQuery::default()
        };
        let pending = OrderQuery {
            status: Some(orderflow_core::domain::OrderStatus::Pending),
            ..everything.clone()
        };
        assert_eq!(listed(everything.clone()).await, [new.id]);
        let (_, sqs) = crate::emulator::clients().await;
        crate::setup::init(&store.client, &sqs, &store.names, QueueSpec::default())
            .await
            .unwrap();
        assert_eq!(listed(everything).await, [new.id, old.id]);
        assert_eq!(listed(pending).await, [new.id, old.id]);
    }
}
