//! The contract's JSON shapes (camelCase), built from domain values.

use std::time::{Duration, UNIX_EPOCH};

use std::borrow::Cow;

use orderflow_core::domain::ids::MAX_ID_CHARS;
use orderflow_core::domain::{IdempotencyKey, Order, OrderEvent, Product, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{PartialSchema, ToSchema};

/// What `UserId::parse` and `ProductId::parse` accepts, for the document: no control character (`char::is_control`,
/// U+0000..=U+001F and U+007F..=U+009F); the length (1 to 128 characters) is in
/// `minLength`/`maxLength`, which count characters as the server does.
pub const ID_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";

/// What `OrderId::parse` accepts: only the 36-character hyphenated form.
pub const ORDER_ID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

fn string_schema() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// Schema of a user or product id (`UserId::parse` and `ProductId::parse`).
pub struct IdSchema;

impl PartialSchema for IdSchema {
    fn schema() -> RefOr<Schema> {
        string_schema()
            .description(Some(
                "1 to 128 characters, none of them a control character",
            ))
            .min_length(Some(1))
            .max_length(Some(MAX_ID_CHARS))
            .pattern(Some(ID_PATTERN))
            .into()
    }
}

impl ToSchema for IdSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Id")
    }
}

/// Schema of an order id (`OrderId::parse`): a hyphenated UUID.
pub struct OrderIdSchema;

impl PartialSchema for OrderIdSchema {
    fn schema() -> RefOr<Schema> {
        string_schema()
            .description(Some("A UUID in its 36-character hyphenated form"))
            .format(Some(SchemaFormat::Custom("uuid".into())))
            .pattern(Some(ORDER_ID_PATTERN))
            .into()
    }
}

impl ToSchema for OrderIdSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("OrderId")
    }
}

/// Schema of the `Idempotency-Key` header (`IdempotencyKey::parse`).
pub struct IdempotencyKeySchema;

impl PartialSchema for IdempotencyKeySchema {
    fn schema() -> RefOr<Schema> {
        string_schema()
            .description(Some("1 to 255 visible ASCII characters"))
            .min_length(Some(1))
            .max_length(Some(IdempotencyKey::MAX_LEN))
            .pattern(Some("^[!-~]*$"))
            .into()
    }
}

impl ToSchema for IdempotencyKeySchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("IdempotencyKey")
    }
}

/// The `status` filter of `GET /orders`: a code or a name (`OrderStatus::parse`).
pub struct StatusFilterSchema;

impl PartialSchema for StatusFilterSchema {
    fn schema() -> RefOr<Schema> {
        string_schema()
            .description(Some("An orderStatus code (1 to 5) or its name"))
            .enum_values(Some([
                "1",
                "2",
                "3",
                "4",
                "5",
                "pending",
                "processing",
                "completed",
                "timeout",
                "failed",
            ]))
            .into()
    }
}

impl ToSchema for StatusFilterSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("StatusFilter")
    }
}

/// Timestamps: RFC 3339 UTC with milliseconds.
pub struct TimestampSchema;

impl PartialSchema for TimestampSchema {
    fn schema() -> RefOr<Schema> {
        string_schema()
            .description(Some(
                "RFC 3339 UTC with milliseconds: 2026-11-25T08:00:00.000Z",
            ))
            .format(Some(SchemaFormat::Custom("date-time".into())))
            .into()
    }
}

impl ToSchema for TimestampSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Timestamp")
    }
}

/// `status`: the name of `orderStatus`.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum StatusName {
    Pending,
    Processing,
    Completed,
    Timeout,
    Failed,
}

/// `paymentStatus`.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum PaymentStatusName {
    Pending,
    Success,
    Failed,
}

/// `refundStatus`.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum RefundStatusName {
    None,
    Initiated,
    Completed,
}

/// A payment outcome as a client writes it (webhook `paymentStatus`, simulate `outcome`).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum PaymentOutcomeName {
    Success,
    Failed,
}

/// What the webhook did.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum WebhookOutcomeName {
    Queued,
    Failed,
    RefundInitiated,
    Duplicate,
}

/// RFC 3339 UTC with milliseconds: `2026-11-25T08:00:00.000Z`.
pub fn rfc3339(t: Timestamp) -> String {
    // Clamped to what RFC 3339 can write (years 1970..=9999); real timestamps are far inside.
    const MAX_MS: i64 = 253_402_300_799_999;
    let ms = t.as_millis().clamp(0, MAX_MS) as u64;
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// JSON numbers as JSON Schema's `integer` reads them: any whole number, however written
/// (`3`, `3.0`, `3e0`), so that the server takes every body its document calls valid.
/// Fractions and numbers outside the target type are refused (`400`).
pub(crate) mod whole {
    use serde::de::{Deserialize, Deserializer, Error, Unexpected};

    fn parse<'de, D: Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<T, D::Error> {
        let n = serde_json::Number::deserialize(d)?;
        let whole = match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Some(i),
            // 2^63 is the first f64 past i64::MAX; below it every whole f64 fits.
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9_223_372_036_854_775_808.0 => {
                Some(f as i64)
            }
            _ => None,
        };
        let unexpected = match n.as_f64() {
            Some(f) => Unexpected::Float(f),
            None => Unexpected::Other("number"),
        };
        whole
            .and_then(|i| T::try_from(i).ok())
            .ok_or_else(|| D::Error::invalid_value(unexpected, &"an integer in range"))
    }

    pub fn required<'de, D: Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<T, D::Error> {
        parse(d)
    }

    /// For `Option` fields with `#[serde(default)]`: `null` is `None`.
    pub fn optional<'de, D: Deserializer<'de>, T: TryFrom<i64>>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        match Option::<serde_json::Value>::deserialize(d)? {
            None => Ok(None),
            Some(v) => parse(v).map(Some).map_err(D::Error::custom),
        }
    }
}

/// `POST /order`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"userId": "u1", "productId": "p1", "quantity": 2}))]
pub struct PlaceOrderBody {
    #[schema(value_type = IdSchema)]
    pub user_id: String,
    #[schema(value_type = IdSchema)]
    pub product_id: String,
    /// 1 to 1000; 1 when left out (or null).
    #[serde(default, deserialize_with = "whole::optional")]
    #[schema(minimum = 1, maximum = 1000, default = 1)]
    pub quantity: Option<i64>,
}

/// `PUT /inventory/{productId}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"stockCount": 100}))]
pub struct SetStockBody {
    /// Units available to order: 0 to 10^12.
    #[serde(deserialize_with = "whole::required")]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub stock_count: i64,
}

/// The full order object.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderDto {
    #[schema(value_type = OrderIdSchema)]
    pub order_id: String,
    #[schema(value_type = IdSchema)]
    pub user_id: String,
    #[schema(value_type = IdSchema)]
    pub product_id: String,
    #[schema(minimum = 1, maximum = 1000)]
    pub quantity: i64,
    /// 1 pending, 2 processing, 3 completed, 4 timeout, 5 failed.
    #[schema(minimum = 1, maximum = 5)]
    pub order_status: u8,
    #[schema(value_type = StatusName)]
    pub status: &'static str,
    #[schema(value_type = PaymentStatusName)]
    pub payment_status: &'static str,
    /// Null until paid.
    #[schema(value_type = Option<TimestampSchema>)]
    pub payment_time: Option<String>,
    /// The webhook's `paymentId`, else null.
    pub payment_id: Option<String>,
    #[schema(value_type = RefundStatusName)]
    pub refund_status: &'static str,
    #[schema(value_type = TimestampSchema)]
    pub created_at: String,
    #[schema(value_type = TimestampSchema)]
    pub updated_at: String,
    #[schema(value_type = TimestampSchema)]
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
    #[schema(value_type = OrderIdSchema)]
    pub order_id: String,
    #[schema(minimum = 1, maximum = 5)]
    pub order_status: u8,
    #[schema(value_type = StatusName)]
    pub status: &'static str,
    #[schema(value_type = PaymentStatusName)]
    pub payment_status: &'static str,
    #[schema(value_type = RefundStatusName)]
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

/// One entry of `GET /order/{id}/events`: what happened and the order's state right after.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderEventDto {
    /// 1 for `placed`, then one more per event.
    #[schema(minimum = 1)]
    pub seq: u32,
    #[schema(value_type = TimestampSchema)]
    pub at: String,
    #[serde(rename = "type")]
    #[schema(value_type = EventTypeName)]
    pub kind: &'static str,
    #[schema(value_type = EventSourceName)]
    pub source: &'static str,
    #[schema(minimum = 1, maximum = 5)]
    pub order_status: u8,
    #[schema(value_type = StatusName)]
    pub status: &'static str,
    #[schema(value_type = PaymentStatusName)]
    pub payment_status: &'static str,
    #[schema(value_type = RefundStatusName)]
    pub refund_status: &'static str,
}

impl From<&OrderEvent> for OrderEventDto {
    fn from(e: &OrderEvent) -> Self {
        Self {
            seq: e.seq,
            at: rfc3339(e.at),
            kind: e.kind.name(),
            source: e.kind.source().name(),
            order_status: e.state.status.code(),
            status: e.state.status.name(),
            payment_status: e.state.payment.name(),
            refund_status: e.state.refund.name(),
        }
    }
}

/// `GET /order/{id}/events`: the order's history, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderEventsDto {
    pub events: Vec<OrderEventDto>,
}

/// An event's `type`.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum EventTypeName {
    Placed,
    Paid,
    PaidLate,
    PaymentFailed,
    Processing,
    Completed,
    TimedOut,
    RefundRequested,
    RefundCompleted,
}

/// Who made the change an event records.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum EventSourceName {
    Api,
    Webhook,
    Consumer,
    Sweeper,
    Refund,
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
    #[schema(value_type = IdSchema)]
    pub product_id: String,
    #[schema(minimum = 0)]
    pub stock_count: i64,
    #[schema(minimum = 0)]
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

    #[test]
    fn whole_numbers_are_integers_however_written() {
        let stock = |json: &str| serde_json::from_str::<SetStockBody>(json).map(|b| b.stock_count);
        assert_eq!(stock(r#"{"stockCount": 7}"#).unwrap(), 7);
        assert_eq!(stock(r#"{"stockCount": 7.0}"#).unwrap(), 7);
        assert_eq!(stock(r#"{"stockCount": 1e12}"#).unwrap(), 1_000_000_000_000);
        for bad in ["7.5", "\"7\"", "1e19", "18446744073709551615", "null"] {
            assert!(
                stock(&format!(r#"{{"stockCount": {bad}}}"#)).is_err(),
                "{bad}"
            );
        }
        let quantity =
            |json: &str| serde_json::from_str::<PlaceOrderBody>(json).map(|b| b.quantity);
        let body = |q: &str| format!(r#"{{"userId": "u", "productId": "p"{q}}}"#);
        assert_eq!(quantity(&body("")).unwrap(), None);
        assert_eq!(quantity(&body(r#", "quantity": null"#)).unwrap(), None);
        assert_eq!(quantity(&body(r#", "quantity": 2.0"#)).unwrap(), Some(2));
        assert!(quantity(&body(r#", "quantity": 0.5"#)).is_err());
    }
}

/// Every error answer: `{"error": {"code", "message", "details"?}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// snake_case: `invalid_request`, `order_not_found`, `out_of_stock`, ...
    #[schema(pattern = "^[a-z][a-z0-9_]*$")]
    pub code: String,
    pub message: String,
    /// More about the error, e.g. `{"productIds": ["p1"]}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
}
