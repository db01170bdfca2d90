//! The bodies of queue messages, as JSON.

use serde::{Deserialize, Serialize};

use crate::domain::OrderId;
use crate::domain::lifecycle::PaymentOutcome;

/// A message on the orders queue (a paid order to process) or the refunds queue (a refund
/// to carry out): `{"orderId": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderMessage {
    pub order_id: String,
}

impl OrderMessage {
    pub fn body(id: OrderId) -> String {
        serde_json::to_string(&Self {
            order_id: id.to_string(),
        })
        .expect("a string field serialises")
    }

    /// The order a message body names; `None` for a body this service did not write.
    pub fn parse(body: &str) -> Option<OrderId> {
        let m: Self = serde_json::from_str(body).ok()?;
        OrderId::parse(&m.order_id).ok()
    }
}

/// A payment the simulated gateway will report by webhook once the message is visible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulatedPayment {
    pub order_id: String,
    /// `success` or `failed`, as the webhook's `paymentStatus`.
    pub payment_status: String,
    pub payment_id: String,
}

impl SimulatedPayment {
    pub fn new(id: OrderId, outcome: PaymentOutcome) -> Self {
        Self {
            order_id: id.to_string(),
            payment_status: match outcome {
                PaymentOutcome::Success => "success",
                PaymentOutcome::Failed => "failed",
            }
            .into(),
            payment_id: format!("sim_{}", uuid::Uuid::new_v4().simple()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_messages_round_trip_and_foreign_bodies_are_refused() {
        let id = OrderId::new_random();
        let body = OrderMessage::body(id);
        assert_eq!(body, format!(r#"{{"orderId":"{id}"}}"#));
        assert_eq!(OrderMessage::parse(&body), Some(id));
        assert_eq!(OrderMessage::parse("{}"), None);
        assert_eq!(OrderMessage::parse(r#"{"orderId":"x"}"#), None);
    }
}
