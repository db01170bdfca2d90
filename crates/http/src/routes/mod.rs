//! Handlers, one module per resource. Each parses its input into domain values (answering
//! `400` for anything outside the contract), calls one use case, and shapes the answer.

pub mod events;
pub mod health;
pub mod inventory;
pub mod notifications;
pub mod orders;
pub mod payments;
pub mod refunds;

use axum::http::{HeaderMap, StatusCode};
use orderflow_core::domain::OrderId;

use crate::{ApiError, AppState};

pub(crate) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

/// See [`crate::Security::require_admin`].
pub(crate) fn require_admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    state.security.require_admin(headers)
}

/// An order id from a path: 400 unless it is a UUID.
pub(crate) fn order_id(raw: &str) -> Result<OrderId, ApiError> {
    OrderId::parse(raw).map_err(|e| ApiError::invalid(e.0))
}
