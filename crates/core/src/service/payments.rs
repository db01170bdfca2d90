//! The payment webhook, and the simulated gateway that sends it.

use std::time::Duration;

use crate::domain::lifecycle::{self, PaymentDecision, PaymentOutcome, WebhookOutcome};
use crate::domain::{Order, OrderId};
use crate::error::Error;
use crate::messages::SimulatedPayment;

use super::{Changed, OrderService};

impl OrderService {
    /// Apply a payment the gateway reported: in time → queued; late → timeout and refund;
    /// failed → 5; anything already applied or superseded → `Duplicate`, changing nothing.
    ///
    /// # Errors
    /// `OrderNotFound`, `Internal`.
    pub async fn handle_payment(
        &self,
        id: OrderId,
        outcome: PaymentOutcome,
        payment_id: Option<String>,
    ) -> Result<(Order, WebhookOutcome), Error> {
        let changed = self
            .change(id, None, |order, now| {
                Ok(
                    match lifecycle::on_payment(order, outcome, payment_id.clone(), now) {
                        PaymentDecision::Apply {
                            transition,
                            outcome,
                        } => Some((transition, outcome)),
                        PaymentDecision::Duplicate => None,
                    },
                )
            })
            .await?;
        Ok(match changed {
            Changed::Applied(order, outcome) => (order, outcome),
            Changed::Unchanged(order) => (order, WebhookOutcome::Duplicate),
        })
    }

    /// Ask the simulated gateway to report `outcome` for the order after `delay`. The
    /// request is durable: it waits in the payments queue, not in a timer.
    ///
    /// # Errors
    /// `OrderNotFound`, `Internal`.
    pub async fn simulate_payment(
        &self,
        id: OrderId,
        outcome: PaymentOutcome,
        delay: Duration,
    ) -> Result<(), Error> {
        self.get_order(id).await?;
        let body =
            serde_json::to_string(&SimulatedPayment::new(id, outcome)).expect("strings serialise");
        self.queues.payments.send(&body, delay).await?;
        Ok(())
    }
}
