//! The use cases' error: one enum callers branch on, each variant one answer of the API.

use crate::domain::{InvalidValue, Refusal};
use crate::ports::{GatewayError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input outside the contract; the message says which and is safe to show.
    #[error("{0}")]
    InvalidRequest(String),
    #[error("order not found")]
    OrderNotFound,
    #[error("product not found")]
    ProductNotFound,
    /// The cart cannot be placed: unknown products, a customer's limit, or not enough stock;
    /// the refusal names the products.
    #[error("{}", refusal_message(.0))]
    Refused(Refusal),
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyMismatch,
    #[error("the order has no successful payment to refund")]
    NotRefundable,
    /// An outside system (the processing work, the refund gateway) did not do its part;
    /// the queue message that asked for it is delivered again.
    #[error("gateway: {0}")]
    Gateway(#[source] GatewayError),
    /// The store takes no more work now; the client should retry (503 `overloaded`).
    #[error("the server is overloaded; try again shortly")]
    Overloaded,
    /// The store cannot write now (disk full, read-only, I/O); nothing was written and the
    /// client should retry (503 `unavailable`). The source is logged.
    #[error("the store cannot write now; try again shortly")]
    Unavailable(#[source] StoreError),
    /// Something failed inside; logged with its source, shown to clients as `internal`.
    #[error("internal error")]
    Internal(#[source] StoreError),
}

impl From<InvalidValue> for Error {
    fn from(e: InvalidValue) -> Self {
        Self::InvalidRequest(e.0)
    }
}

impl From<StoreError> for Error {
    /// The meaning of a store error outside a specific use case; use cases that expect a
    /// `Conflict` handle it before this.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Refused(r) => Self::Refused(r),
            StoreError::IdempotencyMismatch => Self::IdempotencyMismatch,
            StoreError::Invalid(why) => Self::InvalidRequest(why),
            StoreError::InvalidCursor => {
                Self::InvalidRequest("cursor is not one this server made".into())
            }
            StoreError::Overloaded => Self::Overloaded,
            e @ StoreError::Unavailable(_) => Self::Unavailable(e),
            e @ (StoreError::Conflict | StoreError::Backend(_)) => Self::Internal(e),
        }
    }
}

/// What a client is told about a refused cart (the products are also in the error's details).
fn refusal_message(r: &Refusal) -> String {
    use crate::domain::RefusalKind;
    let names: Vec<&str> = r.products.iter().map(|p| p.as_str()).collect();
    let names = names.join(", ");
    match r.kind {
        RefusalKind::ProductNotFound => format!("no such product: {names}"),
        RefusalKind::LimitExceeded => {
            format!("this order would take the customer past the per-customer limit of: {names}")
        }
        RefusalKind::OutOfStock => format!("not enough stock of: {names}"),
    }
}
