//! The contract's JSON shapes (camelCase), built from domain values.

use std::time::{Duration, UNIX_EPOCH};

use orderflow_core::domain::{Order, Product, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// RFC 3339 UTC with milliseconds: `2026-11-25T08:00:00.000Z`.
pub fn rfc3339(t: Timestamp) -> String {
    // Clamped to what RFC 3339 can write (years 1970..=9999); real timestamps are far inside.
    const MAX_MS: i64 = 253_402_300_799_999;
    let ms = t.as_millis().clamp(0, MAX_MS) as u64;
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// `POST /order`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PlaceOrderBody {
    #[schema(min_length = 1, max_length = 128)]
    pub user_id: String,
    #[schema(min_length = 1, max_length = 128)]
    pub product_id: String,
    /// 1 to 1000; 1 when left out.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1000)]
    pub quantity: Option<i64>,
}

/// `PUT /inventory/{productId}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetStockBody {
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub stock_count: i64,
}

/// The full order object.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderDto {
    pub order_id: String,
    pub user_id: String,
    pub product_id: String,
    pub quantity: i64,
    pub order_status: u8,
    #[schema(value_type = String)]
    pub status: &'static str,
    #[schema(value_type = String)]
    pub payment_status: &'static str,
    pub payment_time: Option<String>,
    pub payment_id: Option<String>,
    #[schema(value_type = String)]
    pub refund_status: &'static str,
    pub created_at: String,
    pub updated_at: String,
    pub expires_at: String,
}

impl From<&Order> for OrderDto {
    fn from(o: &Order) -> Self {
        Self {
            order_id: o.id.to_string(),
            user_id: o.user_id.to_string(),
            product_id: o.product_id.to_string(),
            quantity: o.quantity.get(),
            order_status: o.state.status.code(),
            status: o.state.status.name(),
            payment_status: o.state.payment.name(),
            payment_time: o.payment_time.map(rfc3339),
            payment_id: o.payment_id.clone(),
            refund_status: o.state.refund.name(),
            created_at: rfc3339(o.created_at),
            updated_at: rfc3339(o.updated_at),
            expires_at: rfc3339(o.expires_at),
        }
    }
}

/// `GET /order/{id}/status`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderStatusDto {
    pub order_id: String,
    pub order_status: u8,
    #[schema(value_type = String)]
    pub status: &'static str,
    #[schema(value_type = String)]
    pub payment_status: &'static str,
    #[schema(value_type = String)]
    pub refund_status: &'static str,
}

impl From<&Order> for OrderStatusDto {
    fn from(o: &Order) -> Self {
        Self {
            order_id: o.id.to_string(),
            order_status: o.state.status.code(),
            status: o.state.status.name(),
            payment_status: o.state.payment.name(),
            refund_status: o.state.refund.name(),
        }
    }
}

/// `GET /orders`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderListDto {
    pub orders: Vec<OrderDto>,
    pub next_cursor: Option<String>,
}

/// The inventory object: exactly these three fields.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductDto {
    pub product_id: String,
    pub stock_count: i64,
    pub locked_count: i64,
}

impl From<&Product> for ProductDto {
    fn from(p: &Product) -> Self {
        Self {
            product_id: p.product_id.to_string(),
            stock_count: p.stock_count,
            locked_count: p.locked_count,
        }
    }
}

/// `GET /inventory`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductListDto {
    pub products: Vec<ProductDto>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(
            rfc3339(Timestamp::from_millis(1_795_939_200_000)),
            "2026-11-29T08:00:00.000Z"
        );
        assert_eq!(
            rfc3339(Timestamp::from_millis(1_795_939_200_007)),
            "2026-11-29T08:00:00.007Z"
        );
        assert_eq!(
            rfc3339(Timestamp::from_millis(0)),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339(Timestamp::from_millis(i64::MAX)),
            "9999-12-31T23:59:59.999Z"
        );
    }
}

/// Every error answer: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// snake_case: `invalid_request`, `order_not_found`, `out_of_stock`, ...
    pub code: String,
    pub message: String,
}
