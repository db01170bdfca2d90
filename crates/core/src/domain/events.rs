//! An order's history (contract section 3, "Order history", and I7): one event per
//! transition that changed the order, in the order they were applied, each with the state
//! right after it. The event a transition appends is decided with the transition, in
//! [`super::lifecycle`]; stores write the two in one atomic step.

use super::{OrderId, OrderState, Timestamp};

/// What happened to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// Placed, its stock locked.
    Placed,
    /// Paid in time and sent to the queue.
    Paid,
    /// Paid after the deadline or after a failure; a refund was started.
    PaidLate,
    /// The gateway reported a failed payment.
    PaymentFailed,
    /// A consumer picked it up.
    Processing,
    /// Processed; its stock is sold.
    Completed,
    /// Not paid by its deadline; its stock released.
    TimedOut,
    /// Someone asked `POST /refund`.
    RefundRequested,
    /// The refund gateway confirmed.
    RefundCompleted,
}

/// Who made the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventSource {
    Api,
    Webhook,
    Consumer,
    Sweeper,
    Refund,
}

impl EventType {
    pub const ALL: [Self; 9] = [
        Self::Placed,
        Self::Paid,
        Self::PaidLate,
        Self::PaymentFailed,
        Self::Processing,
        Self::Completed,
        Self::TimedOut,
        Self::RefundRequested,
        Self::RefundCompleted,
    ];

    /// The contract's name (`paid_late`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Placed => "placed",
            Self::Paid => "paid",
            Self::PaidLate => "paid_late",
            Self::PaymentFailed => "payment_failed",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::TimedOut => "timed_out",
            Self::RefundRequested => "refund_requested",
            Self::RefundCompleted => "refund_completed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == s)
    }

    /// Each type has one source: the event says who acted without being told.
    pub fn source(self) -> EventSource {
        match self {
            Self::Placed | Self::RefundRequested => EventSource::Api,
            Self::Paid | Self::PaidLate | Self::PaymentFailed => EventSource::Webhook,
            Self::Processing | Self::Completed => EventSource::Consumer,
            Self::TimedOut => EventSource::Sweeper,
            Self::RefundCompleted => EventSource::Refund,
        }
    }
}

impl EventSource {
    pub fn name(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Webhook => "webhook",
            Self::Consumer => "consumer",
            Self::Sweeper => "sweeper",
            Self::Refund => "refund",
        }
    }
}

/// One entry of an order's history: what happened, when, and the order's state and
/// payment fields right after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEvent {
    pub order_id: OrderId,
    /// 1 for `placed`, then one more per event.
    pub seq: u32,
    pub at: Timestamp,
    pub kind: EventType,
    pub state: OrderState,
    pub payment_time: Option<Timestamp>,
    pub payment_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_each_type_has_its_source() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.name()), Some(t));
        }
        let sources: Vec<_> = EventType::ALL
            .iter()
            .map(|t| (t.name(), t.source().name()))
            .collect();
        assert_eq!(
            sources,
            [
                ("placed", "api"),
                ("paid", "webhook"),
                ("paid_late", "webhook"),
                ("payment_failed", "webhook"),
                ("processing", "consumer"),
                ("completed", "consumer"),
                ("timed_out", "sweeper"),
                ("refund_requested", "api"),
                ("refund_completed", "refund"),
            ]
        );
    }
}
