//! The use cases. Inbound adapters (HTTP, Lambda, the CLI, the workers) call these and
//! nothing below.
//!
//! The service reads the clock, asks [`crate::domain::lifecycle`] what a change should be,
//! writes it as a conditional [`Transition`](crate::domain::lifecycle::Transition), and when
//! the condition is lost reads again and decides again.
//!
//! # Layout
//!
//! - [`orders`]: place, read, list orders; set and read stock.
//! - [`payments`]: the payment webhook and the simulated gateway.
//! - [`refunds`]: asking for a refund and carrying one out.
//! - [`consumer`]: one message of the orders queue: 1/paid → 2 → work → 3.
//! - [`sweeper`]: one sweep: unpaid orders past their deadline → 4.

pub mod consumer;
pub mod orders;
pub mod payments;
pub mod refunds;
pub mod sweeper;

use std::sync::Arc;
use std::time::Duration;

use crate::domain::lifecycle::{Topic, Transition};
use crate::domain::{Order, OrderId, Timestamp};
use crate::error::Error;
use crate::ports::{Clock, OrderProcessor, OrderStore, Queue, RefundGateway, StoreError};

pub use orders::{PlaceOrder, fingerprint};
pub use sweeper::{Resent, Swept};

/// Settings of the use cases (the rest of the configuration belongs to the adapters).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `expiresAt = createdAt + payment_timeout`.
    pub payment_timeout: Duration,
    /// Most orders one sweeper query takes; a sweep runs batches until none are left.
    pub sweep_batch: usize,
    /// An order that waits for a message (paid, processing, refund initiated) this long
    /// after its message was sent has it sent again (it may have been lost between the
    /// write and the send, or dead-lettered); then twice as long each time, up to an hour.
    /// Also the processing lease: a consumer that holds an order longer is presumed gone.
    pub resend_after: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            payment_timeout: Duration::from_secs(30 * 60),
            sweep_batch: 500,
            resend_after: crate::domain::lifecycle::RESEND_AFTER,
        }
    }
}

/// The queues the lifecycle uses.
#[derive(Clone)]
pub struct Queues {
    /// Paid orders for the consumer: `{"orderId"}`.
    pub orders: Arc<dyn Queue>,
    /// Refunds to carry out: `{"orderId"}`.
    pub refunds: Arc<dyn Queue>,
    /// Simulated payments waiting for their delay, then sent as webhooks.
    pub payments: Arc<dyn Queue>,
}

/// The outside systems the lifecycle calls.
#[derive(Clone)]
pub struct Gateways {
    pub processor: Arc<dyn OrderProcessor>,
    pub refunds: Arc<dyn RefundGateway>,
}

/// Everything the use cases need, built once at start-up.
pub struct OrderService {
    store: Arc<dyn OrderStore>,
    queues: Queues,
    gateways: Gateways,
    clock: Arc<dyn Clock>,
    settings: Settings,
}

/// How many times a change is re-decided after losing its condition before giving up.
/// Each loss means another writer changed the order, and there are only a few possible
/// changes per order, so this is never reached in practice.
const MAX_ATTEMPTS: usize = 8;

/// What [`OrderService::change`] did.
pub(crate) enum Changed<D> {
    /// The transition was written; the order as it is now, and what the decision said.
    Applied(Order, D),
    /// Nothing to do for the order as it is now.
    Unchanged(Order),
}

impl<D> Changed<D> {
    pub(crate) fn order(&self) -> &Order {
        match self {
            Self::Applied(o, _) | Self::Unchanged(o) => o,
        }
    }
}

/// A decision: a transition to write (and what to report if it is written), nothing to
/// do, or a refusal.
pub(crate) type Decision<D> = Result<Option<(Transition, D)>, Error>;

impl OrderService {
    pub fn new(
        store: Arc<dyn OrderStore>,
        queues: Queues,
        gateways: Gateways,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Self {
        Self {
            store,
            queues,
            gateways,
            clock,
            settings,
        }
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn queues(&self) -> &Queues {
        &self.queues
    }

    /// The queue that serves a topic.
    pub(crate) fn queue_of(&self, topic: Topic) -> &Arc<dyn Queue> {
        match topic {
            Topic::Orders => &self.queues.orders,
            Topic::Refunds => &self.queues.refunds,
        }
    }

    /// Read the order (unless `known` is a fresh read), decide, write conditionally; when
    /// the condition is lost, read again and decide again.
    pub(crate) async fn change<D>(
        &self,
        id: OrderId,
        known: Option<Order>,
        mut decide: impl FnMut(&Order, Timestamp) -> Decision<D>,
    ) -> Result<Changed<D>, Error> {
        let mut known = known;
        for _ in 0..MAX_ATTEMPTS {
            let order = match known.take() {
                Some(o) => o,
                None => self.get_order(id).await?,
            };
            let Some((t, d)) = decide(&order, self.clock.now())? else {
                return Ok(Changed::Unchanged(order));
            };
            let t = t.resend_after(self.settings.resend_after);
            match self.store.apply(&t).await {
                Ok(()) => return Ok(Changed::Applied(t.applied_to(&order), d)),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        // Contention beyond reason (never seen in practice): the client may try again.
        Err(Error::Overloaded)
    }

    /// # Errors
    /// `Internal` when the store or a queue does not answer.
    pub async fn health(&self) -> Result<(), Error> {
        self.store.ping().await?;
        self.queues.orders.ping().await?;
        Ok(())
    }
}
