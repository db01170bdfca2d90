//! The contract's JSON shapes (camelCase), built from domain values.

use std::time::{Duration, UNIX_EPOCH};

use std::borrow::Cow;

use orderflow_core::domain::ids::MAX_ID_CHARS;
use orderflow_core::domain::{IdempotencyKey, Line, Order, OrderEvent, Product, Timestamp};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{Ref, RefOr};
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

    /// For fields where absent and `null` differ, with `#[serde(default)]`: absent is `None`
    /// (the default), `null` is `Some(None)`.
    pub fn nullable<'de, D: Deserializer<'de>, T: TryFrom<i64>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        optional(d).map(Some)
    }
}

/// `POST /order`: one product, or a cart. Which form a body is, is decided by its keys
/// (`items` or `productId`; both is an error), then the body is read as that form, so that
/// a mistake is explained in that form's terms.
#[derive(Debug)]
pub enum PlaceOrderBody {
    Single(SingleOrderBody),
    Cart(CartOrderBody),
}

/// A JSON object whose keys are all distinct: a field given twice is an error, as the
/// derived deserializers of the other bodies make it (a map would keep the last silently).
struct DistinctKeys(serde_json::Map<String, serde_json::Value>);

impl<'de> Deserialize<'de> for DistinctKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = DistinctKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> Result<DistinctKeys, A::Error> {
                let mut map = serde_json::Map::new();
                while let Some((k, v)) = access.next_entry::<String, serde_json::Value>()? {
                    if map.contains_key(&k) {
                        return Err(serde::de::Error::custom(format!("duplicate field `{k}`")));
                    }
                    map.insert(k, v);
                }
                Ok(DistinctKeys(map))
            }
        }
        d.deserialize_map(Visitor)
    }
}

impl<'de> Deserialize<'de> for PlaceOrderBody {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let DistinctKeys(map) = DistinctKeys::deserialize(d)?;
        let form = match (map.contains_key("items"), map.contains_key("productId")) {
            (true, true) => {
                return Err(D::Error::custom(
                    "give either productId (one product) or items (a cart), not both",
                ));
            }
            (true, false) => serde_json::from_value(map.into()).map(Self::Cart),
            (false, _) => serde_json::from_value(map.into()).map(Self::Single),
        };
        form.map_err(D::Error::custom)
    }
}

impl PartialSchema for PlaceOrderBody {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(Ref::from_schema_name(SingleOrderBody::name()))
            .item(Ref::from_schema_name(CartOrderBody::name()))
            .description(Some(
                "One product (`productId`, `quantity`) or a cart (`items`), not both",
            ))
            .into()
    }
}

impl ToSchema for PlaceOrderBody {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("PlaceOrderBody")
    }
}

/// `POST /order` for one product: a one-line cart.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"userId": "u1", "productId": "p1", "quantity": 2}))]
pub struct SingleOrderBody {
    #[schema(value_type = IdSchema)]
    pub user_id: String,
    #[schema(value_type = IdSchema)]
    pub product_id: String,
    /// 1 to 1000; 1 when left out (or null).
    #[serde(default, deserialize_with = "whole::optional")]
    #[schema(minimum = 1, maximum = 1000, default = 1)]
    pub quantity: Option<i64>,
}

/// `POST /order` for a cart: 1 to 50 lines, each a distinct product, locked all or nothing.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"userId": "u1", "items": [{"productId": "p1", "quantity": 2}, {"productId": "p2"}]}))]
pub struct CartOrderBody {
    #[schema(value_type = IdSchema)]
    pub user_id: String,
    /// Each product at most once (the document can say that no two lines are equal; that
    /// no two name the same product, JSON Schema cannot).
    #[schema(value_type = std::collections::BTreeSet<LineBody>, min_items = 1, max_items = 50)]
    pub items: Vec<LineBody>,
}

/// One line of a cart.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LineBody {
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
#[schema(example = json!({"stockCount": 100, "maxPerUser": 2}))]
pub struct SetStockBody {
    /// Units available to order: 0 to 10^12.
    #[serde(deserialize_with = "whole::required")]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub stock_count: i64,
    /// The most units one customer may hold in orders placed, processing or completed:
    /// 1 to 10^6. Left out: the limit stays as it is; null: no limit.
    #[serde(default, deserialize_with = "whole::nullable")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1_000_000)]
    pub max_per_user: Option<Option<i64>>,
    /// Over how many items the AWS backend spreads the product's available stock, 1 to
    /// 32, so that a flash sale on it is not capped by one DynamoDB partition (see the
    /// README). Left out: as it is (1 for a new product); it only grows. The embedded
    /// store keeps one row per product and has no use for it.
    #[serde(default, deserialize_with = "whole::optional")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 32)]
    pub shards: Option<i64>,
}

/// One line of an order.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LineDto {
    #[schema(value_type = IdSchema)]
    pub product_id: String,
    #[schema(minimum = 1, maximum = 1000)]
    pub quantity: i64,
}

impl From<&Line> for LineDto {
    fn from(l: &Line) -> Self {
        Self {
            product_id: l.product_id.to_string(),
            quantity: l.quantity.get(),
        }
    }
}

/// The full order object.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderDto {
    #[schema(value_type = OrderIdSchema)]
    pub order_id: String,
    #[schema(value_type = IdSchema)]
    pub user_id: String,
    /// The lines, in the order given.
    #[schema(min_items = 1, max_items = 50)]
    pub items: Vec<LineDto>,
    /// The line's product when the order has exactly one line; null otherwise.
    #[schema(value_type = Option<IdSchema>, required = true)]
    pub product_id: Option<String>,
    /// The line's quantity when the order has exactly one line; null otherwise.
    #[schema(minimum = 1, maximum = 1000, required = true)]
    pub quantity: Option<i64>,
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
            items: o.lines.iter().map(LineDto::from).collect(),
            product_id: o.lines.single().map(|l| l.product_id.to_string()),
            quantity: o.lines.single().map(|l| l.quantity.get()),
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

/// The inventory object: exactly these four fields.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductDto {
    #[schema(value_type = IdSchema)]
    pub product_id: String,
    #[schema(minimum = 0)]
    pub stock_count: i64,
    #[schema(minimum = 0)]
    pub locked_count: i64,
    /// The per-customer limit; null when unlimited.
    #[schema(minimum = 1, maximum = 1_000_000, required = true)]
    pub max_per_user: Option<i64>,
}

impl From<&Product> for ProductDto {
    fn from(p: &Product) -> Self {
        Self {
            product_id: p.product_id.to_string(),
            stock_count: p.stock_count,
            locked_count: p.locked_count,
            max_per_user: p.max_per_user.map(|m| m.get()),
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
        let quantity = |json: &str| {
            serde_json::from_str::<PlaceOrderBody>(json).map(|b| match b {
                PlaceOrderBody::Single(b) => b.quantity,
                PlaceOrderBody::Cart(_) => panic!("not a cart"),
            })
        };
        let body = |q: &str| format!(r#"{{"userId": "u", "productId": "p"{q}}}"#);
        assert_eq!(quantity(&body("")).unwrap(), None);
        assert_eq!(quantity(&body(r#", "quantity": null"#)).unwrap(), None);
        assert_eq!(quantity(&body(r#", "quantity": 2.0"#)).unwrap(), Some(2));
        assert!(quantity(&body(r#", "quantity": 0.5"#)).is_err());
    }

    #[test]
    fn a_body_is_one_product_or_a_cart_never_both() {
        let parse = |json: &str| serde_json::from_str::<PlaceOrderBody>(json);
        let cart = parse(
            r#"{"userId": "u", "items": [{"productId": "a"}, {"productId": "b", "quantity": 2}]}"#,
        );
        let Ok(PlaceOrderBody::Cart(c)) = cart else {
            panic!("{cart:?}")
        };
        assert_eq!(c.items.len(), 2);
        assert_eq!((c.items[0].quantity, c.items[1].quantity), (None, Some(2)));
        let both = parse(r#"{"userId": "u", "productId": "a", "items": []}"#).unwrap_err();
        assert!(both.to_string().contains("not both"), "{both}");
        let stray = parse(r#"{"userId": "u", "items": [], "quantity": 2}"#).unwrap_err();
        assert!(stray.to_string().contains("quantity"), "{stray}");
        let line =
            parse(r#"{"userId": "u", "items": [{"productId": "a", "qty": 2}]}"#).unwrap_err();
        assert!(line.to_string().contains("qty"), "{line}");
        assert!(matches!(
            parse(r#"{"userId": "u", "productId": "a"}"#),
            Ok(PlaceOrderBody::Single(_))
        ));
        let twice = parse(r#"{"userId": "a", "userId": "b", "productId": "p"}"#).unwrap_err();
        assert!(
            twice.to_string().contains("duplicate field `userId`"),
            "{twice}"
        );
    }

    #[test]
    fn a_limit_left_out_null_or_set_are_three_answers() {
        let limit = |json: &str| serde_json::from_str::<SetStockBody>(json).map(|b| b.max_per_user);
        assert_eq!(limit(r#"{"stockCount": 1}"#).unwrap(), None);
        assert_eq!(
            limit(r#"{"stockCount": 1, "maxPerUser": null}"#).unwrap(),
            Some(None)
        );
        assert_eq!(
            limit(r#"{"stockCount": 1, "maxPerUser": 3}"#).unwrap(),
            Some(Some(3))
        );
        assert!(limit(r#"{"stockCount": 1, "maxPerUser": 1.5}"#).is_err());
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
    /// More about the error: `{"productIds": [...]}`, every product that caused a
    /// `product_not_found`, `out_of_stock` or `limit_exceeded` when placing.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
}
