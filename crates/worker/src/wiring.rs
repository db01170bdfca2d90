//! The one place that puts a backend's store and queues together with the gateways into
//! the service, and that says which use case handles a message of each queue: `orderflow
//! serve`, `orderflow worker`, `orderflow sweep` and the Lambda functions all use it.

use std::sync::Arc;
use std::time::Duration;

use orderflow_core::ports::{Clock, OrderStore};
use orderflow_core::service::{Gateways, OrderService, Queues, Settings};

use crate::simulated::{MockRefundGateway, SimulatedWork};

/// The timings a deployment sets (flags, or the Lambda functions' environment).
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// Simulated work per paid order.
    pub processing: Duration,
    /// How long the mock refund gateway takes.
    pub refund: Duration,
    /// `expiresAt = createdAt + this`.
    pub payment_timeout: Duration,
    /// An order waiting for a message this long after it was sent has it sent again
    /// (doubling each time, up to an hour); also the processing lease.
    pub resend_after: Duration,
}

impl Default for Timings {
    /// The contract's defaults: 2 s, 2 s, 30 min; re-sends after 2 min.
    fn default() -> Self {
        Self {
            processing: Duration::from_secs(2),
            refund: Duration::from_secs(2),
            payment_timeout: Duration::from_secs(1800),
            resend_after: orderflow_core::domain::lifecycle::RESEND_AFTER,
        }
    }
}

/// The service over a backend, with the simulated processing work and refund gateway.
pub fn service(
    store: Arc<dyn OrderStore>,
    queues: Queues,
    clock: Arc<dyn Clock>,
    timings: Timings,
) -> Arc<OrderService> {
    Arc::new(OrderService::new(
        store,
        queues,
        Gateways {
            processor: Arc::new(SimulatedWork {
                delay: timings.processing,
            }),
            refunds: Arc::new(MockRefundGateway {
                delay: timings.refund,
            }),
        },
        clock,
        Settings {
            payment_timeout: timings.payment_timeout,
            resend_after: timings.resend_after,
            ..Settings::default()
        },
    ))
}

/// The queues whose messages are use cases of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Paid orders: the consumer.
    Orders,
    /// Refunds to carry out.
    Refunds,
}

/// Handle one message of `work`'s queue.
///
/// # Errors
/// The reason, when the message must be delivered again.
pub async fn handle(service: &OrderService, work: Work, body: &str) -> Result<(), String> {
    let result = match work {
        Work::Orders => service.consume(body).await.map(|_| ()),
        Work::Refunds => service.complete_refund(body).await.map(|_| ()),
    };
    result.map_err(|e| e.to_string())
}
