//! How an order and its history events are stored, once for every backend: flat fields of
//! plain types (strings, integers), and the one conversion back into domain values that
//! refuses anything the domain does not accept (a stored value changed behind our back
//! is `Backend`, never a panic).
//!
//! The SQLite adapter reads its columns into these; the DynamoDB adapter embeds them in its
//! items (`#[serde(flatten)]`), so the attribute names are these fields' camelCase names.

use serde::{Deserialize, Serialize};

use crate::domain::{
    Draw, EventType, Line, Lines, Order, OrderEvent, OrderId, OrderState, OrderStatus,
    PaymentStatus, ProductId, Quantity, RefundStatus, Resend, Timestamp, UserId,
};
use crate::ports::StoreError;

fn corrupt(what: &str) -> StoreError {
    StoreError::backend(std::io::Error::other(format!("stored {what} is not valid")))
}

/// The three state fields as stored.
fn state(status: i64, payment: &str, refund: &str) -> Result<OrderState, StoreError> {
    Ok(OrderState {
        status: OrderStatus::from_code(status).ok_or_else(|| corrupt("orderStatus"))?,
        payment: PaymentStatus::parse(payment).ok_or_else(|| corrupt("paymentStatus"))?,
        refund: RefundStatus::parse(refund).ok_or_else(|| corrupt("refundStatus"))?,
    })
}

/// One line of an order as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredLine {
    pub product_id: String,
    pub quantity: i64,
    /// Counted toward the customer's allowance; absent when not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub limited: bool,
    /// [`Line::drawn`] as `[shard, units]` pairs; absent when the product's one stock.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drawn: Vec<(u32, i64)>,
}

impl StoredLine {
    pub fn from_lines(lines: &Lines) -> Vec<Self> {
        lines
            .iter()
            .map(|l| Self {
                product_id: l.product_id.to_string(),
                quantity: l.quantity.get(),
                limited: l.limited,
                drawn: l.drawn.iter().map(|d| (d.shard, d.units)).collect(),
            })
            .collect()
    }

    /// Lines as one JSON text, for a backend that keeps them in a column.
    pub fn encode(lines: &Lines) -> String {
        serde_json::to_string(&Self::from_lines(lines)).unwrap_or_else(|_| "[]".into())
    }

    /// # Errors
    /// `Backend` when the text is not lines [`StoredLine::encode`] wrote.
    pub fn decode(text: &str) -> Result<Vec<Self>, StoreError> {
        serde_json::from_str(text).map_err(|_| corrupt("lines"))
    }

    fn into_lines(lines: Vec<Self>) -> Result<Lines, StoreError> {
        let lines = lines
            .into_iter()
            .map(|l| {
                Ok(Line {
                    product_id: ProductId::parse(l.product_id).map_err(|_| corrupt("productId"))?,
                    quantity: Quantity::new(l.quantity).map_err(|_| corrupt("quantity"))?,
                    limited: l.limited,
                    drawn: l
                        .drawn
                        .into_iter()
                        .map(|(shard, units)| Draw { shard, units })
                        .collect(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Lines::new(lines).map_err(|_| corrupt("lines"))
    }
}

/// An order as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredOrder {
    pub order_id: String,
    pub user_id: String,
    #[serde(default)]
    pub lines: Vec<StoredLine>,
    /// Orders stored before carts had one product and quantity instead of lines; read, never
    /// written.
    #[serde(default, skip_serializing)]
    pub product_id: Option<String>,
    #[serde(default, skip_serializing)]
    pub quantity: Option<i64>,
    pub order_status: i64,
    pub payment_status: String,
    pub refund_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: i64,
    /// Absent on orders stored before histories: 0.
    #[serde(default)]
    pub events: u32,
    /// [`Resend`]: both present while the order waits for a message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resend_at: Option<i64>,
}

impl StoredOrder {
    pub fn from_order(o: &Order) -> Self {
        Self {
            order_id: o.id.to_string(),
            user_id: o.user_id.to_string(),
            lines: StoredLine::from_lines(&o.lines),
            product_id: None,
            quantity: None,
            order_status: i64::from(o.state.status.code()),
            payment_status: o.state.payment.name().into(),
            refund_status: o.state.refund.name().into(),
            payment_time: o.payment_time.map(Timestamp::as_millis),
            payment_id: o.payment_id.clone(),
            created_at: o.created_at.as_millis(),
            updated_at: o.updated_at.as_millis(),
            expires_at: o.expires_at.as_millis(),
            events: o.events,
            sent_at: o.resend.map(|r| r.sent_at.as_millis()),
            resend_at: o.resend.map(|r| r.due_at.as_millis()),
        }
    }

    /// # Errors
    /// `Backend` when a stored value is not one the domain accepts.
    pub fn into_order(self) -> Result<Order, StoreError> {
        let mut lines = self.lines;
        if lines.is_empty()
            && let (Some(product_id), Some(quantity)) = (self.product_id, self.quantity)
        {
            lines.push(StoredLine {
                product_id,
                quantity,
                limited: false,
                drawn: Vec::new(),
            });
        }
        Ok(Order {
            id: OrderId::parse(&self.order_id).map_err(|_| corrupt("orderId"))?,
            user_id: UserId::parse(self.user_id).map_err(|_| corrupt("userId"))?,
            lines: StoredLine::into_lines(lines)?,
            state: state(self.order_status, &self.payment_status, &self.refund_status)?,
            payment_time: self.payment_time.map(Timestamp::from_millis),
            payment_id: self.payment_id,
            created_at: Timestamp::from_millis(self.created_at),
            updated_at: Timestamp::from_millis(self.updated_at),
            expires_at: Timestamp::from_millis(self.expires_at),
            events: self.events,
            resend: match (self.sent_at, self.resend_at) {
                (Some(sent), Some(due)) => Some(Resend {
                    sent_at: Timestamp::from_millis(sent),
                    due_at: Timestamp::from_millis(due),
                }),
                _ => None,
            },
        })
    }
}

/// A history event as stored (its order's id is kept beside it, by the backend's key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredEvent {
    pub seq: u32,
    pub at: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub order_status: i64,
    pub payment_status: String,
    pub refund_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
}

impl StoredEvent {
    pub fn from_event(e: &OrderEvent) -> Self {
        Self {
            seq: e.seq,
            at: e.at.as_millis(),
            kind: e.kind.name().into(),
            order_status: i64::from(e.state.status.code()),
            payment_status: e.state.payment.name().into(),
            refund_status: e.state.refund.name().into(),
            payment_time: e.payment_time.map(Timestamp::as_millis),
            payment_id: e.payment_id.clone(),
        }
    }

    /// # Errors
    /// `Backend` when a stored value is not one the domain accepts.
    pub fn into_event(self, order_id: OrderId) -> Result<OrderEvent, StoreError> {
        Ok(OrderEvent {
            order_id,
            seq: self.seq,
            at: Timestamp::from_millis(self.at),
            kind: EventType::parse(&self.kind).ok_or_else(|| corrupt("event type"))?,
            state: state(self.order_status, &self.payment_status, &self.refund_status)?,
            payment_time: self.payment_time.map(Timestamp::from_millis),
            payment_id: self.payment_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_and_an_event_round_trip_and_bad_values_are_refused() {
        let t = Timestamp::from_millis(1_790_000_000_000);
        let o = Order {
            id: OrderId::new_random(),
            user_id: UserId::parse("u").unwrap(),
            lines: Lines::new(vec![
                Line::new(ProductId::parse("p").unwrap(), Quantity::new(2).unwrap()),
                Line {
                    limited: true,
                    drawn: vec![Draw { shard: 3, units: 1 }],
                    ..Line::new(ProductId::parse("q").unwrap(), Quantity::new(1).unwrap())
                },
            ])
            .unwrap(),
            state: OrderState::PLACED,
            payment_time: Some(t),
            payment_id: Some("pay".into()),
            created_at: t,
            updated_at: t,
            expires_at: t,
            events: 1,
            resend: Some(Resend::first(t, std::time::Duration::from_secs(120))),
        };
        assert_eq!(StoredOrder::from_order(&o).into_order().unwrap(), o);
        let e = o.placed_event();
        assert_eq!(StoredEvent::from_event(&e).into_event(o.id).unwrap(), e);
        let mut bad = StoredOrder::from_order(&o);
        bad.order_status = 9;
        assert!(matches!(bad.into_order(), Err(StoreError::Backend(_))));
        let text = StoredLine::encode(&o.lines);
        assert_eq!(
            text,
            r#"[{"productId":"p","quantity":2},{"productId":"q","quantity":1,"limited":true,"drawn":[[3,1]]}]"#
        );
        assert_eq!(
            StoredLine::decode(&text).unwrap(),
            StoredOrder::from_order(&o).lines
        );
        // An order stored before carts: one product and quantity.
        let mut legacy = StoredOrder::from_order(&o);
        legacy.lines.clear();
        legacy.product_id = Some("p".into());
        legacy.quantity = Some(2);
        let lines = legacy.into_order().unwrap().lines;
        assert_eq!(lines.single().map(|l| l.quantity.get()), Some(2));
        let mut bad = StoredOrder::from_order(&o);
        bad.lines.clear();
        assert!(bad.into_order().is_err(), "an order without lines");
        let mut bad = StoredEvent::from_event(&e);
        bad.kind = "exploded".into();
        assert!(bad.into_event(o.id).is_err());
    }
}
