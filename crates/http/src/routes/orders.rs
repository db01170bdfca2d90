//! `POST /order`, `GET /order/{orderId}`, `GET /order/{orderId}/status`, `GET /orders`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use orderflow_core::domain::{
    IdempotencyKey, InvalidValue, Line, Lines, OrderStatus, ProductId, Quantity, UserId,
};
use orderflow_core::ports::OrderQuery;
use orderflow_core::service::PlaceOrder;

use crate::dto::{CartOrderBody, SingleOrderBody};
use crate::dto::{
    ErrorBody, IdSchema, IdempotencyKeySchema, OrderDto, OrderEventDto, OrderEventsDto,
    OrderIdSchema, OrderListDto, OrderStatusDto, PlaceOrderBody, StatusFilterSchema,
};
use crate::extract::{JsonBody, PathParam, QueryPairs};
use crate::routes::{order_id, require_admin};
use crate::{ApiError, AppState};

/// `GET /orders` page size: default and the range a client may ask for.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/order", post(place))
        .route("/order/{orderId}", get(show))
        .route("/order/{orderId}/status", get(status))
        .route("/order/{orderId}/events", get(events))
        .route("/orders", get(list))
}

#[utoipa::path(post, path = "/order", tag = "orders", operation_id = "placeOrder",
    params(("Idempotency-Key" = Option<IdempotencyKeySchema>, Header,
            description = "The same key with the same body returns the first order; with another body, 409")),
    request_body = PlaceOrderBody,
    responses(
        (status = 201, description = "Placed; its stock is locked", body = OrderDto,
            headers(("Location" = String, description = "/order/{orderId}")),
            links(
                ("GetOrder" = (operation_id = "getOrder", parameters(("orderId" = "$response.body#/orderId")))),
                ("GetOrderStatus" = (operation_id = "getOrderStatus", parameters(("orderId" = "$response.body#/orderId")))),
                ("PayOrder" = (operation_id = "paymentWebhook", request_body = json!({"orderId": "$response.body#/orderId"}))),
                ("SimulatePayment" = (operation_id = "simulatePayment", parameters(("orderId" = "$response.body#/orderId")))),
                ("RefundOrder" = (operation_id = "refundOrder", parameters(("orderId" = "$response.body#/orderId")))),
                ("ListOrdersOfUser" = (operation_id = "listOrders", parameters(("userId" = "$response.body#/userId")))),
                ("GetProduct" = (operation_id = "getProduct", parameters(("productId" = "$response.body#/items/0/productId")))),
            )),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 403, description = "forbidden: a cross-origin write", body = ErrorBody),
        (status = 404, description = "product_not_found: `details.productIds` names every unknown product", body = ErrorBody),
        (status = 409, description = "out_of_stock or limit_exceeded (`details.productIds` names every product short or over its per-customer limit), or idempotency_mismatch", body = ErrorBody),
        (status = 413, description = "payload_too_large: the body is over 64 KiB", body = ErrorBody),
        (status = 503, description = "overloaded or unavailable: nothing was written; try again", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before trying again"))),
    ))]
pub(crate) async fn place(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<PlaceOrderBody>,
) -> Result<Response, ApiError> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let s = v
                .to_str()
                .map_err(|_| ApiError::invalid("Idempotency-Key must be visible ASCII"))?;
            Some(IdempotencyKey::parse(s).map_err(|e| ApiError::invalid(e.0))?)
        }
    };
    let req = place_request(body).map_err(|e| ApiError::invalid(e.0))?;
    let order = state.service.place_order(req, key).await?;
    let location = HeaderValue::from_str(&format!("/order/{}", order.id))
        .expect("a UUID path is a valid header value");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(OrderDto::from(&order)),
    )
        .into_response())
}

/// A body as the service takes it: the single-product form is a one-line cart.
fn place_request(body: PlaceOrderBody) -> Result<PlaceOrder, InvalidValue> {
    let line = |product: String, quantity: Option<i64>| -> Result<Line, InvalidValue> {
        let quantity = quantity.map_or(Ok(Quantity::default()), Quantity::new)?;
        Ok(Line::new(ProductId::parse(product)?, quantity))
    };
    let (user, lines) = match body {
        PlaceOrderBody::Single(SingleOrderBody {
            user_id,
            product_id,
            quantity,
        }) => (user_id, vec![line(product_id, quantity)?]),
        PlaceOrderBody::Cart(CartOrderBody { user_id, items }) => {
            let lines = items
                .into_iter()
                .enumerate()
                .map(|(i, l)| {
                    line(l.product_id, l.quantity)
                        .map_err(|e| InvalidValue(format!("items[{i}]: {}", e.0)))
                })
                .collect::<Result<_, _>>()?;
            (user_id, lines)
        }
    };
    Ok(PlaceOrder {
        user_id: UserId::parse(user)?,
        lines: Lines::new(lines)?,
    })
}

#[utoipa::path(get, path = "/order/{orderId}", tag = "orders", operation_id = "getOrder",
    params(("orderId" = OrderIdSchema, Path, example = "1b4e28ba-2fa1-11d2-883f-0016d3cca427")),
    responses(
        (status = 200, body = OrderDto),
        (status = 400, description = "invalid_request: not a UUID", body = ErrorBody),
        (status = 404, description = "order_not_found", body = ErrorBody),
        (status = 503, description = "overloaded or unavailable: try again", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before trying again"))),
    ))]
pub(crate) async fn show(
    State(state): State<AppState>,
    PathParam(id): PathParam,
) -> Result<Json<OrderDto>, ApiError> {
    let order = state.service.get_order(order_id(&id)?).await?;
    Ok(Json(OrderDto::from(&order)))
}

#[utoipa::path(get, path = "/order/{orderId}/events", tag = "orders", operation_id = "getOrderEvents",
    params(("orderId" = OrderIdSchema, Path, example = "1b4e28ba-2fa1-11d2-883f-0016d3cca427")),
    responses(
        (status = 200, description = "The order's history, oldest first", body = OrderEventsDto),
        (status = 400, description = "invalid_request: not a UUID", body = ErrorBody),
        (status = 404, description = "order_not_found", body = ErrorBody),
        (status = 503, description = "overloaded or unavailable: try again", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before trying again"))),
    ))]
pub(crate) async fn events(
    State(state): State<AppState>,
    PathParam(id): PathParam,
) -> Result<Json<OrderEventsDto>, ApiError> {
    let events = state.service.order_events(order_id(&id)?).await?;
    Ok(Json(OrderEventsDto {
        events: events.iter().map(OrderEventDto::from).collect(),
    }))
}

#[utoipa::path(get, path = "/order/{orderId}/status", tag = "orders", operation_id = "getOrderStatus",
    params(("orderId" = OrderIdSchema, Path, example = "1b4e28ba-2fa1-11d2-883f-0016d3cca427")),
    responses(
        (status = 200, body = OrderStatusDto),
        (status = 400, description = "invalid_request: not a UUID", body = ErrorBody),
        (status = 404, description = "order_not_found", body = ErrorBody),
        (status = 503, description = "overloaded or unavailable: try again", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before trying again"))),
    ))]
pub(crate) async fn status(
    State(state): State<AppState>,
    PathParam(id): PathParam,
) -> Result<Json<OrderStatusDto>, ApiError> {
    let order = state.service.get_order(order_id(&id)?).await?;
    Ok(Json(OrderStatusDto::from(&order)))
}

#[utoipa::path(get, path = "/orders", tag = "orders", operation_id = "listOrders",
    params(("userId" = Option<IdSchema>, Query, description = "Only this customer's orders"),
           ("status" = Option<StatusFilterSchema>, Query, description = "Only orders in this status"),
           ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Page size: 1 to 500, default 50"),
           ("cursor" = Option<String>, Query, pattern = "^[A-Za-z0-9._~-]*$",
            description = "A nextCursor from an earlier page: opaque and URL-safe; one the server did not make is refused (400)")),
    responses(
        (status = 200, description = "Newest first", body = OrderListDto,
            links(("NextPage" = (operation_id = "listOrders", parameters(("cursor" = "$response.body#/nextCursor")))))),
        (status = 400, description = "invalid_request: a bad userId, status or limit, or a cursor the server did not make", body = ErrorBody),
        (status = 401, description = "unauthorized: the admin token is configured and missing or wrong", body = ErrorBody),
        (status = 503, description = "overloaded or unavailable: try again", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before trying again"))),
    ),
    security((), ("admin" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<QueryPairs, ApiError>,
) -> Result<Json<OrderListDto>, ApiError> {
    // Every customer's orders: an admin listing (the UUID of one order is its customer's
    // handle, so GET /order/{id} stays open).
    require_admin(&state, &headers)?;
    let query = query?;
    let user_id = query
        .get("userId")?
        .map(|u| UserId::parse(u).map_err(|e| ApiError::invalid(e.0)))
        .transpose()?;
    let status = query
        .get("status")?
        .map(|s| {
            OrderStatus::parse(s).ok_or_else(|| {
                ApiError::invalid(
                    "status must be a code 1-5 or one of pending, processing, completed, \
                     timeout, failed",
                )
            })
        })
        .transpose()?;
    let limit = match query.get("limit")? {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| {
                ApiError::invalid(format!("limit must be an integer from 1 to {MAX_LIMIT}"))
            })?,
    };
    let q = OrderQuery {
        user_id,
        status,
        limit,
        cursor: query.get("cursor")?.map(str::to_owned),
    };
    let page = state.service.list_orders(&q).await?;
    Ok(Json(OrderListDto {
        orders: page.orders.iter().map(OrderDto::from).collect(),
        next_cursor: page.next_cursor,
    }))
}
