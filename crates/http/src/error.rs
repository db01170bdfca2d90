//! [`ApiError`]: every failure a handler can answer with, as the contract's error body.

use std::any::Any;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orderflow_core::Error;
use orderflow_core::domain::RefusalKind;
use serde_json::json;

/// An error answer: status, the contract's snake_case code, and a message safe to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for a `Retry-After` header (503s).
    pub retry_after: Option<u32>,
    /// `details.productIds`: the products a placement was refused for.
    pub product_ids: Option<Vec<String>>,
}

/// `Retry-After` of a 503 because the store's write queue is full: it drains in moments.
pub const RETRY_OVERLOADED_SECS: u32 = 1;
/// `Retry-After` of a 503 because the store cannot write: an operator may need to act.
pub const RETRY_UNAVAILABLE_SECS: u32 = 5;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            product_ids: None,
        }
    }

    /// `503` with `Retry-After`: nothing was written, the same request may succeed later.
    pub fn unavailable(code: &'static str, message: impl Into<String>, retry_after: u32) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
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
            Error::Refused(r) => {
                let (status, code) = match r.kind {
                    RefusalKind::ProductNotFound => (S::NOT_FOUND, "product_not_found"),
                    RefusalKind::LimitExceeded => (S::CONFLICT, "limit_exceeded"),
                    RefusalKind::OutOfStock => (S::CONFLICT, "out_of_stock"),
                };
                Self {
                    product_ids: Some(r.products.iter().map(ToString::to_string).collect()),
                    ..Self::new(status, code, msg)
                }
            }
            Error::IdempotencyMismatch => Self::new(S::CONFLICT, "idempotency_mismatch", msg),
            Error::NotRefundable => Self::new(S::CONFLICT, "not_refundable", msg),
            Error::Gateway(source) => {
                tracing::warn!(error = %source, "gateway error");
                Self::unavailable(
                    "unavailable",
                    "a gateway did not answer; try again",
                    RETRY_UNAVAILABLE_SECS,
                )
            }
            Error::Overloaded => Self::unavailable("overloaded", msg, RETRY_OVERLOADED_SECS),
            Error::Unavailable(source) => {
                tracing::warn!(error = %source, cause = ?std::error::Error::source(&source), "the store cannot write");
                Self::unavailable("unavailable", msg, RETRY_UNAVAILABLE_SECS)
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
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(ids) = self.product_ids {
            error["details"] = json!({ "productIds": ids });
        }
        let body = json!({ "error": error });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// The request did not finish within [`crate::REQUEST_TIMEOUT`] (a client sending its body
/// too slowly, or a store that stalls). What it asked may or may not have happened; a
/// retry with the same `Idempotency-Key` is safe.
pub(crate) async fn timeout_response(e: tower::BoxError) -> Response {
    if e.is::<tower::timeout::error::Elapsed>() {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request did not finish within {} s",
                crate::REQUEST_TIMEOUT.as_secs()
            ),
        )
        .into_response()
    } else {
        tracing::error!(error = %e, "middleware error");
        ApiError::internal().into_response()
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
