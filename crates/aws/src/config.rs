//! The names of orderflow's tables and queues, as the environment gives them.

/// Table and queue names. Queues are named, not addressed: their URLs are looked up (or
/// created by `aws init`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsNames {
    pub orders_table: String,
    pub inventory_table: String,
    pub idempotency_table: String,
    /// The orders queue (paid orders for the consumer); refunds, simulated payments and
    /// notifications use `<name>-refunds`, `<name>-payments` and `<name>-notify`, each
    /// with a `-dlq`.
    pub queue: String,
}

impl AwsNames {
    /// Every name under one prefix (tests, a second stage).
    pub fn prefixed(prefix: &str) -> Self {
        Self {
            orders_table: format!("{prefix}orders"),
            inventory_table: format!("{prefix}inventory"),
            idempotency_table: format!("{prefix}idempotency"),
            queue: format!("{prefix}orders"),
        }
    }

    /// From `ORDERFLOW_ORDERS_TABLE`, `ORDERFLOW_INVENTORY_TABLE`,
    /// `ORDERFLOW_IDEMPOTENCY_TABLE` and `ORDERFLOW_QUEUE_NAME` (each defaulting to
    /// `orderflow-<what>`).
    pub fn from_env() -> Self {
        let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
        Self {
            orders_table: var("ORDERFLOW_ORDERS_TABLE", "orderflow-orders"),
            inventory_table: var("ORDERFLOW_INVENTORY_TABLE", "orderflow-inventory"),
            idempotency_table: var("ORDERFLOW_IDEMPOTENCY_TABLE", "orderflow-idempotency"),
            queue: var("ORDERFLOW_QUEUE_NAME", "orderflow-orders"),
        }
    }

    pub fn refunds_queue(&self) -> String {
        format!("{}-refunds", self.queue)
    }

    pub fn payments_queue(&self) -> String {
        format!("{}-payments", self.queue)
    }

    /// Orders with events to notify (`{"orderId"}`), for the Lambda consumer.
    pub fn notify_queue(&self) -> String {
        format!("{}-notify", self.queue)
    }

    pub fn dead_letters(queue: &str) -> String {
        format!("{queue}-dlq")
    }
}
