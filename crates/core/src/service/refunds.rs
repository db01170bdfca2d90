//! Refunds: asked for by `POST /refund`, or started by a late payment; carried out by the
//! refund worker through the refund gateway.

use std::time::Duration;

use crate::domain::lifecycle::{self, RefundDecision, Topic};
use crate::domain::{Order, OrderId, RefundStatus};
use crate::error::Error;
use crate::messages::OrderMessage;

use super::{Changed, OrderService};

/// What handling one refunds-queue message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundWork {
    /// The gateway confirmed and the order is now `refundStatus=completed`.
    Completed,
    /// Nothing to do (already completed, or no such order).
    Skipped,
}

impl OrderService {
    /// Start a refund of the order's payment. Returns the order and whether this call
    /// started it (`false`: one was already initiated or completed). Asked again while the
    /// refund is initiated, its message is sent again: the caller may be asking because
    /// it never completed (the first message lost).
    ///
    /// # Errors
    /// `OrderNotFound`, `NotRefundable` (no successful payment), `Internal`.
    pub async fn request_refund(&self, id: OrderId) -> Result<(Order, bool), Error> {
        let changed = self
            .change(id, None, |order, now| {
                match lifecycle::on_refund_request(order, now) {
                    RefundDecision::Initiate(t) => Ok(Some((t, ()))),
                    RefundDecision::AlreadyRequested => Ok(None),
                    RefundDecision::NotRefundable => Err(Error::NotRefundable),
                }
            })
            .await?;
        Ok(match changed {
            Changed::Applied(order, ()) => (order, true),
            Changed::Unchanged(order) => {
                if order.state.refund_in_progress() {
                    self.queue_of(Topic::Refunds)
                        .send(&OrderMessage::body(order.id), Duration::ZERO)
                        .await?;
                }
                (order, false)
            }
        })
    }

    /// Carry out the refund a refunds-queue message asks for: call the gateway, then mark
    /// it completed. Safe to run twice for one message.
    ///
    /// # Errors
    /// `InvalidRequest` for a body this service did not write, `Gateway` when the gateway
    /// did not confirm, `Internal`; the message should then be delivered again.
    pub async fn complete_refund(&self, body: &str) -> Result<RefundWork, Error> {
        let id = OrderMessage::parse(body)
            .ok_or_else(|| Error::InvalidRequest(format!("not a refund message: {body}")))?;
        let Some(order) = self.store.get_order(id).await? else {
            return Ok(RefundWork::Skipped);
        };
        if order.state.refund != RefundStatus::Initiated {
            return Ok(RefundWork::Skipped);
        }
        self.gateways
            .refunds
            .refund(&order)
            .await
            .map_err(Error::Gateway)?;
        let changed = self
            .change(id, Some(order), |order, now| {
                Ok(lifecycle::on_refund_completed(order, now).map(|t| (t, ())))
            })
            .await?;
        Ok(match changed {
            Changed::Applied(..) => RefundWork::Completed,
            Changed::Unchanged(_) => RefundWork::Skipped,
        })
    }
}
