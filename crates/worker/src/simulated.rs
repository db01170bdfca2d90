//! Stand-ins for the outside systems a shop would plug in: the work done for a paid order,
//! and the payment provider's refund API. Both just take their configured time, on tokio's
//! clock so tests can pause it.

use std::time::Duration;

use async_trait::async_trait;
use orderflow_core::domain::Order;
use orderflow_core::ports::{GatewayError, OrderProcessor, RefundGateway};

/// `--processing-delay` of "work" per order.
#[derive(Debug, Clone, Copy)]
pub struct SimulatedWork {
    pub delay: Duration,
}

#[async_trait]
impl OrderProcessor for SimulatedWork {
    async fn process(&self, order: &Order) -> Result<(), GatewayError> {
        tokio::time::sleep(self.delay).await;
        tracing::debug!(order = %order.id, "processed");
        Ok(())
    }
}

/// A refund gateway that confirms every refund after `--refund-delay`.
#[derive(Debug, Clone, Copy)]
pub struct MockRefundGateway {
    pub delay: Duration,
}

#[async_trait]
impl RefundGateway for MockRefundGateway {
    async fn refund(&self, order: &Order) -> Result<(), GatewayError> {
        tokio::time::sleep(self.delay).await;
        tracing::info!(order = %order.id, "refund confirmed by the mock gateway");
        Ok(())
    }
}
