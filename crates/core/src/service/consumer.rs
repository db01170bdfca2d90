//! The queue consumer's unit of work: one orders-queue message.

use crate::domain::OrderStatus;
use crate::domain::lifecycle::{self, ConsumeDecision};
use crate::error::Error;
use crate::messages::OrderMessage;

use super::{Changed, OrderService};

/// What handling one orders-queue message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumed {
    /// The order went to 3/completed (this consumer wrote it).
    Completed,
    /// Nothing (more) to do: completed by another delivery, not paid, or no such order.
    Skipped,
}

impl OrderService {
    /// 1/paid → 2 → the work → 3 with the locked stock sold. Idempotent: a redelivered
    /// message, or one redelivered after a crash mid-processing (the order is found in 2),
    /// finishes the order exactly once.
    ///
    /// # Errors
    /// `InvalidRequest` for a body this service did not write, `Gateway` when the work
    /// failed, `Internal`; the message should then be delivered again.
    pub async fn consume(&self, body: &str) -> Result<Consumed, Error> {
        let id = OrderMessage::parse(body)
            .ok_or_else(|| Error::InvalidRequest(format!("not an order message: {body}")))?;
        // A message for an order that does not exist cannot become valid later: drop it.
        let Some(order) = self.store.get_order(id).await? else {
            return Ok(Consumed::Skipped);
        };
        let claimed = self
            .change(id, Some(order), |order, now| {
                Ok(match lifecycle::on_consume(order, now) {
                    ConsumeDecision::Start(t) => Some((t, ())),
                    ConsumeDecision::Resume | ConsumeDecision::Skip => None,
                })
            })
            .await?;
        let order = claimed.order().clone();
        if order.state.status != OrderStatus::Processing {
            return Ok(Consumed::Skipped);
        }
        self.gateways
            .processor
            .process(&order)
            .await
            .map_err(Error::Gateway)?;
        let done = self
            .change(id, Some(order), |order, now| {
                Ok(lifecycle::on_processed(order, now).map(|t| (t, ())))
            })
            .await?;
        Ok(match done {
            Changed::Applied(..) => Consumed::Completed,
            Changed::Unchanged(_) => Consumed::Skipped,
        })
    }
}
