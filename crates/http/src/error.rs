//! [`ApiError`]: every failure a handler can answer with, as the contract's error body.

use std::any::Any;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orderflow_core::Error;
use serde_json::json;

/// An error answer: status, the contract's snake_case code, and a message safe to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this endpoint needs Authorization: Bearer <admin token>",
        )
    }

    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "request bodies are limited to {} bytes",
                crate::MAX_BODY_BYTES
            ),
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; it has been logged",
        )
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        use StatusCode as S;
        let msg = e.to_string();
        match e {
            Error::InvalidRequest(m) => Self::invalid(m),
            Error::OrderNotFound => Self::new(S::NOT_FOUND, "order_not_found", msg),
            Error::ProductNotFound => Self::new(S::NOT_FOUND, "product_not_found", msg),
            Error::OutOfStock => Self::new(S::CONFLICT, "out_of_stock", msg),
            Error::IdempotencyMismatch => Self::new(S::CONFLICT, "idempotency_mismatch", msg),
            Error::NotRefundable => Self::new(S::CONFLICT, "not_refundable", msg),
            Error::Gateway(source) => {
                tracing::warn!(error = %source, "gateway error");
                Self::new(
                    S::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "a gateway did not answer; try again",
                )
            }
            Error::Internal(source) => {
                // The cause is logged here, never sent: clients get a generic body.
                tracing::error!(error = %source, cause = ?std::error::Error::source(&source), "internal error");
                Self::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

/// A handler panicked: log it and answer like any other internal error.
pub(crate) fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic");
    tracing::error!(panic = what, "handler panicked");
    ApiError::internal().into_response()
}
