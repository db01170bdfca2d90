//! Handlers, one module per resource. Each parses its input into domain values (answering
//! `400` for anything outside the contract), calls one use case, and shapes the answer.

pub mod health;
pub mod inventory;
pub mod orders;
pub mod payments;
pub mod refunds;

use axum::http::{HeaderMap, StatusCode, header};
use orderflow_core::domain::OrderId;
use subtle::ConstantTimeEq;

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

/// When an admin token is configured, require `Authorization: Bearer <token>`, compared in
/// constant time so the answer's timing does not leak the token.
pub(crate) fn require_admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &state.admin_token else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::unauthorized())
    }
}

/// An order id from a path: 400 unless it is a UUID.
pub(crate) fn order_id(raw: &str) -> Result<OrderId, ApiError> {
    OrderId::parse(raw).map_err(|e| ApiError::invalid(e.0))
}
