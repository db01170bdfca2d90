//! Ports: what the core needs from the outside world, as traits adapters implement.
//!
//! The store port is shaped for the weakest backend it must fit, DynamoDB: every change is
//! a conditional write on the current state or a transaction over a few known items, never
//! a read-modify-write. A lost condition is reported as the one backend-neutral
//! [`StoreError::Conflict`]; the service decides what it means.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::OrderEvent;
use crate::domain::lifecycle::Transition;
use crate::domain::{
    IdempotencyKey, LimitChange, Order, OrderId, OrderStatus, Product, ProductId, Refusal, Resend,
    StockCount,
};
use crate::domain::{Timestamp, UserId};

/// Where "now" comes from. Business deadlines (`expiresAt`, payment in time or late) read
/// this, so tests can move time by hand.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The one error every store adapter returns, whatever its backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost its condition: the item is not in the expected state (or
    /// does not exist). Nothing was written.
    #[error("the item changed or is missing; nothing was written")]
    Conflict,
    /// Placing: the cart was refused ([`crate::domain::check_cart`]: unknown products, a
    /// customer's limit, not enough stock), naming the products. Nothing was written.
    #[error("cart refused: {0}")]
    Refused(Refusal),
    /// Placing: the idempotency key was used with a different request. Nothing was written.
    #[error("idempotency key used with a different request")]
    IdempotencyMismatch,
    /// A request the store cannot carry out as asked; the message says why and is safe
    /// to show. Nothing was written.
    #[error("{0}")]
    Invalid(String),
    /// Listing: the cursor was not made by this store.
    #[error("cursor not recognised")]
    InvalidCursor,
    /// The store takes no more work now (its write queue is full; DynamoDB throttling or
    /// contention outlasted the retries). Nothing was written; the same call later may
    /// succeed.
    #[error("the store is overloaded")]
    Overloaded,
    /// The store cannot write now (disk full, read-only file, I/O error, throttled).
    /// Nothing was written; it recovers by itself when the cause goes away. The source
    /// says why; it is logged, never shown to clients.
    #[error("the store cannot write now")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The backend failed (corrupt data, a bug). The source says why; it is logged,
    /// never shown to clients.
    #[error("storage backend failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(e))
    }

    pub fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unavailable(Box::new(e))
    }
}

/// A request to place an order, ready to be written.
#[derive(Debug, Clone)]
pub struct NewOrder {
    /// The order as it must be stored (status 1, timestamps and `expiresAt` set).
    pub order: Order,
    pub idempotency: Option<IdempotencyRecord>,
}

/// An `Idempotency-Key` with a fingerprint of the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub key: IdempotencyKey,
    /// Equal fingerprints mean "the same request"; see `service::fingerprint`.
    pub fingerprint: String,
}

/// What placing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    /// A new order was written and its stock locked.
    Created(Order),
    /// The idempotency key was seen before with the same request: this is the order it
    /// made (as it is now). Nothing was written.
    Replayed(Order),
}

/// Filters and paging for listing orders, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderQuery {
    pub user_id: Option<UserId>,
    pub status: Option<OrderStatus>,
    /// 1..=500, checked by the caller.
    pub limit: u32,
    /// A `next_cursor` this store returned earlier.
    pub cursor: Option<String>,
}

/// One page of orders, newest first. `next_cursor` is URL-safe and `None` on the last page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPage {
    pub orders: Vec<Order>,
    pub next_cursor: Option<String>,
}

/// Orders and inventory.
#[async_trait]
pub trait OrderStore: Send + Sync {
    /// Atomically, only if [`crate::domain::check_cart`] passes for the order's lines with
    /// the products and the customer's allowance as they are: for every line lock its units
    /// (`stockCount -= q`, `lockedCount += q`) and, when its product has a `maxPerUser`, add
    /// them to the customer's allowance for it (the line is stored `limited`); write the
    /// order with its first history event (`placed`, seq 1), and remember the idempotency
    /// key with it. Two placements for one customer cannot both pass on the same allowance.
    /// The order returned is as stored (its lines' `limited` set).
    ///
    /// # Errors
    /// `Refused` or `IdempotencyMismatch`, each with nothing written; `Backend` when the
    /// backend fails.
    async fn place_order(&self, new: NewOrder) -> Result<Placed, StoreError>;

    /// # Errors
    /// `Backend` only; a missing order is `Ok(None)`.
    async fn get_order(&self, id: OrderId) -> Result<Option<Order>, StoreError>;

    /// The order's history, oldest first (by `seq`); empty for an unknown order.
    ///
    /// # Errors
    /// `Backend` only.
    async fn order_events(&self, id: OrderId) -> Result<Vec<OrderEvent>, StoreError>;

    /// Orders newest first; those placed within one millisecond keep the order in which the
    /// store accepted them.
    ///
    /// # Errors
    /// `InvalidCursor` for a cursor this store did not make; `Backend`.
    async fn list_orders(&self, query: &OrderQuery) -> Result<OrderPage, StoreError>;

    /// Apply `t` atomically, only if the order is currently in `t.from` (and its history
    /// holds `t.seq - 1` events): the new state, the payment fields, `updatedAt`, the stock
    /// effect on every line's product, the limited lines' units taken off the customer's
    /// allowance when `t.returns_allowance()`, and the history event `t.history_event()`; and the
    /// messages of `t.messages()`, in the same atomic step where the backend can (SQLite:
    /// the same transaction). A backend that cannot (DynamoDB and SQS) sends them right
    /// after the write, and the sweeper finds again what a crash in between leaves waiting.
    ///
    /// # Errors
    /// `Conflict` if the order is not in `t.from` (or does not exist), with nothing written;
    /// `Backend`.
    async fn apply(&self, t: &Transition) -> Result<(), StoreError>;

    /// [`OrderStore::apply`] for each transition, each on its own: one that loses its
    /// condition does not stop the others. The results are in the order given. A backend
    /// that can write several at once (in one commit) overrides this; the default applies
    /// them one after the other.
    async fn apply_each(&self, ts: &[Transition]) -> Vec<Result<(), StoreError>> {
        let mut out = Vec::with_capacity(ts.len());
        for t in ts {
            out.push(self.apply(t).await);
        }
        out
    }

    /// Up to `limit` unpaid pending orders with `expiresAt < now`, earliest deadline first,
    /// found through an index (never a scan).
    ///
    /// # Errors
    /// `Backend` only.
    async fn expired_unpaid(&self, now: Timestamp, limit: usize) -> Result<Vec<Order>, StoreError>;

    /// Up to `limit` orders that wait for a message ([`OrderState::awaits_message`]) and
    /// whose [`Resend::due_at`] is before `now`, earliest first, found through an index.
    /// The sweeper sends their messages again, in case they were lost.
    ///
    /// [`OrderState::awaits_message`]: crate::domain::OrderState::awaits_message
    ///
    /// # Errors
    /// `Backend` only.
    async fn awaiting_message(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError>;

    /// The order's messages were sent again: store `resend` as its next look, only if the
    /// order is as read (its `events` unchanged). Writes no event: nothing about the order
    /// changed.
    ///
    /// # Errors
    /// `Conflict` if the order changed since it was read; `Backend`.
    async fn rescheduled(&self, order: &Order, resend: Resend) -> Result<(), StoreError>;

    /// Set a product's available stock and change its limit, creating it with
    /// `lockedCount = 0` (and no limit unless set) if new; an existing product keeps its
    /// `lockedCount`.
    ///
    /// # Errors
    /// `Backend` only.
    async fn put_product(
        &self,
        id: &ProductId,
        stock: StockCount,
        limit: LimitChange,
    ) -> Result<Product, StoreError>;

    /// Spread the product's available stock evenly over `shards` places, on a store that
    /// keeps a busy product's stock in several (DynamoDB: items of their own, each on its
    /// own partition); each placement then draws from one of them (or from several, when
    /// one is short) and records where ([`crate::domain::Line::drawn`]). The count only
    /// grows: orders hold units on every shard they drew from. A store with one row per
    /// product has nothing to do.
    ///
    /// # Errors
    /// `Invalid` for fewer shards than the product has; `Overloaded` when placements kept
    /// changing the stock under the move; `Backend`.
    async fn spread_stock(
        &self,
        id: &ProductId,
        shards: crate::domain::StockShards,
    ) -> Result<(), StoreError> {
        let _ = (id, shards);
        Ok(())
    }

    /// # Errors
    /// `Backend` only; a missing product is `Ok(None)`.
    async fn get_product(&self, id: &ProductId) -> Result<Option<Product>, StoreError>;

    /// Every product, by `productId`.
    ///
    /// # Errors
    /// `Backend` only.
    async fn list_products(&self) -> Result<Vec<Product>, StoreError>;

    /// Whether the store answers (for `/healthz`).
    ///
    /// # Errors
    /// `Backend` when it does not.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// One committed change of an order, as the live stream shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Where it sits in the store's commit order; later changes have larger positions.
    pub position: u64,
    pub event: OrderEvent,
    /// The order as it was right after the event.
    pub order: Order,
}

/// Which changes a reader of the feed wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeFilter {
    pub order_id: Option<OrderId>,
    pub user_id: Option<UserId>,
}

/// A future that resolves once; see [`ChangeFeed::next_commit`].
pub type Wake = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Every committed order event in commit order, durable, for `GET /events`. A backend
/// that cannot offer this honestly (gap-free, in order, resumable) does not implement it,
/// and the API answers `501 not_supported`.
#[async_trait]
pub trait ChangeFeed: Send + Sync {
    /// The position of the last committed change (0 when there is none): where a reader
    /// that wants only what happens from now on starts.
    ///
    /// # Errors
    /// `Backend`.
    async fn head(&self) -> Result<u64, StoreError>;

    /// Up to `limit` changes after `after` that match `filter`, in commit order. Positions
    /// become visible in order: a reader never sees a change before an earlier one.
    ///
    /// # Errors
    /// `Backend`.
    async fn changes_after(
        &self,
        after: u64,
        filter: &ChangeFilter,
        limit: usize,
    ) -> Result<Vec<Change>, StoreError>;

    /// Resolves once a change is committed after this call (in-process wake-up, no
    /// polling). Arm it before reading, so that a commit in between is not missed.
    fn next_commit(&self) -> Wake;
}

/// A notification of one change to the shop's systems, waiting to be delivered or parked.
/// The outbox that returned it is handed it back ([`Outbox::delivered`],
/// [`Outbox::failed`]) and finds its entry by what it needs: SQLite by the change's
/// position, DynamoDB by the order and `seq` (it has no store-wide position).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub change: Change,
    /// Failed attempts so far.
    pub attempts: u32,
    pub first_failed_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// The durable outbox of notifications (contract section 6), fed from the change log: an
/// event that is committed is in the log, and the outbox takes every change after its own
/// cursor, so nothing committed is ever skipped, across crashes too.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Take the changes committed since the last call into the outbox, due `now`, and move
    /// the cursor past them, in one atomic step. The first call ever starts from the
    /// present (a shop that turns notifications on is not sent its whole past). Returns
    /// how many were taken.
    ///
    /// # Errors
    /// `Backend`, `Unavailable`, `Overloaded`.
    async fn take_new(&self, now: Timestamp, limit: usize) -> Result<usize, StoreError>;

    /// Up to `limit` notifications due at `now`, oldest first, each the earliest one of its
    /// order still in the outbox (an event is not sent before the previous one of its order
    /// was accepted).
    ///
    /// # Errors
    /// `Backend`.
    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<Notification>, StoreError>;

    /// When the next notification falls due that could be sent then (not parked, and the
    /// first of its order still in the outbox), if any.
    ///
    /// # Errors
    /// `Backend`.
    async fn next_due(&self) -> Result<Option<Timestamp>, StoreError>;

    /// The receiver accepted `n` (as [`Outbox::due`] returned it): remove it. A
    /// notification already removed (delivered by another worker) is not an error.
    ///
    /// # Errors
    /// `Backend`, `Unavailable`, `Overloaded`.
    async fn delivered(&self, n: &Notification) -> Result<(), StoreError>;

    /// An attempt failed with `error` at `now`: try again at `retry_at`, or park it when
    /// `None`.
    ///
    /// # Errors
    /// `Backend`, `Unavailable`, `Overloaded`.
    async fn failed(
        &self,
        n: &Notification,
        error: &str,
        now: Timestamp,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError>;

    /// Parked notifications, oldest first.
    ///
    /// # Errors
    /// `Backend`.
    async fn parked(&self) -> Result<Vec<Notification>, StoreError>;

    /// Send a parked notification again from `now`, with a fresh 24 hours of retries.
    /// `false` when there is no such parked notification.
    ///
    /// # Errors
    /// `Backend`, `Unavailable`, `Overloaded`.
    async fn unpark(&self, order_id: OrderId, seq: u32, now: Timestamp)
    -> Result<bool, StoreError>;
}

/// A message as a queue hands it out. `receipt` identifies this delivery; use the latest
/// one. (With an earlier delivery's receipt the embedded queue does nothing, and SQS may or
/// may not act: handlers are idempotent either way.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub message_id: String,
    pub receipt: String,
    pub body: String,
    /// How many times the message has been received, this time included.
    pub receive_count: u32,
}

/// A queue with the semantics of SQS, so that SQS can stand in for the embedded one:
/// at-least-once delivery, a visibility timeout (a received message is hidden, not
/// removed, until deleted or the timeout passes), a receive count, and dead-lettering of a
/// message received too many times without being deleted.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Send `body`, visible to receivers after `delay`.
    ///
    /// # Errors
    /// `Backend` only; an error means the message may or may not have been sent.
    async fn send(&self, body: &str, delay: Duration) -> Result<(), StoreError>;

    /// Send several messages, visible at once. A backend with a batch call (SQS: ten per
    /// request) overrides this; the default sends them one by one.
    ///
    /// # Errors
    /// `Backend` only; some of the messages may have been sent.
    async fn send_all(&self, bodies: &[String]) -> Result<(), StoreError> {
        for body in bodies {
            self.send(body, Duration::ZERO).await?;
        }
        Ok(())
    }

    /// Up to `max` visible messages, each hidden for the visibility timeout. Waits up to
    /// `wait` for one to become visible (woken by a send, not by polling); an empty result
    /// means none did.
    ///
    /// # Errors
    /// `Backend` only.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, StoreError>;

    /// Remove a delivered message for good (it was handled).
    ///
    /// # Errors
    /// `Backend` only; a stale receipt is not an error.
    async fn delete(&self, receipt: &str) -> Result<(), StoreError>;

    /// Make a delivered message visible again after `delay` (it could not be handled now).
    ///
    /// # Errors
    /// `Backend` only; a stale receipt is not an error.
    async fn release(&self, receipt: &str, delay: Duration) -> Result<(), StoreError>;

    /// Whether the queue answers (for `/healthz`).
    ///
    /// # Errors
    /// `Backend` when it does not.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Why an outside system (the processing work, the refund gateway) did not do its part.
/// The message that asked for it stays in its queue and is delivered again.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GatewayError(pub String);

/// The work done for a paid order between 2/processing and 3/completed.
#[async_trait]
pub trait OrderProcessor: Send + Sync {
    /// Must be safe to run twice for one order: a message is delivered at least once.
    ///
    /// # Errors
    /// When the work could not be done now; it is retried.
    async fn process(&self, order: &Order) -> Result<(), GatewayError>;
}

/// The payment provider's refund API.
#[async_trait]
pub trait RefundGateway: Send + Sync {
    /// Refund the order's payment and return once the provider confirms. Keyed by order id,
    /// so asking twice refunds once.
    ///
    /// # Errors
    /// When the provider did not confirm; the refund is retried.
    async fn refund(&self, order: &Order) -> Result<(), GatewayError>;
}
