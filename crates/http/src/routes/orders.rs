//! `POST /order`, `GET /order/{id}`, `GET /order/{id}/status`, `GET /orders`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use orderflow_core::domain::{IdempotencyKey, OrderStatus, ProductId, Quantity, UserId};
use orderflow_core::ports::OrderQuery;
use orderflow_core::service::PlaceOrder;

use crate::dto::{ErrorBody, OrderDto, OrderListDto, OrderStatusDto, PlaceOrderBody};
use crate::extract::{JsonBody, PathParam, QueryPairs};
use crate::routes::{order_id, require_admin};
use crate::{ApiError, AppState};

/// `GET /orders` page size: default and the range a client may ask for.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/order", post(place))
        .route("/order/{order_id}", get(show))
        .route("/order/{order_id}/status", get(status))
        .route("/orders", get(list))
}

#[utoipa::path(post, path = "/order", tag = "orders",
    params(("Idempotency-Key" = Option<String>, Header,
            description = "The same key with the same body returns the first order; with another body, 409")),
    request_body = PlaceOrderBody,
    responses((status = 201, description = "Placed; its stock is locked", body = OrderDto),
              (status = 400, description = "invalid_request", body = ErrorBody), (status = 404, description = "product_not_found", body = ErrorBody), (status = 409, description = "out_of_stock or idempotency_mismatch", body = ErrorBody), (status = 413, description = "payload_too_large", body = ErrorBody), (status = 500, description = "internal", body = ErrorBody)))]
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
    let req = PlaceOrder {
        user_id: UserId::parse("userId", body.user_id).map_err(|e| ApiError::invalid(e.0))?,
        product_id: ProductId::parse("productId", body.product_id)
            .map_err(|e| ApiError::invalid(e.0))?,
        quantity: match body.quantity {
            None => Quantity::default(),
            Some(q) => Quantity::new(q).map_err(|e| ApiError::invalid(e.0))?,
        },
    };
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

#[utoipa::path(get, path = "/order/{order_id}", tag = "orders",
    params(("order_id" = String, Path, description = "A UUID")),
    responses((status = 200, body = OrderDto), (status = 400, description = "Not a UUID", body = ErrorBody), (status = 404, description = "order_not_found", body = ErrorBody)))]
pub(crate) async fn show(
    State(state): State<AppState>,
    PathParam(id): PathParam,
) -> Result<Json<OrderDto>, ApiError> {
    let order = state.service.get_order(order_id(&id)?).await?;
    Ok(Json(OrderDto::from(&order)))
}

#[utoipa::path(get, path = "/order/{order_id}/status", tag = "orders",
    params(("order_id" = String, Path, description = "A UUID")),
    responses((status = 200, body = OrderStatusDto), (status = 400, description = "Not a UUID", body = ErrorBody), (status = 404, description = "order_not_found", body = ErrorBody)))]
pub(crate) async fn status(
    State(state): State<AppState>,
    PathParam(id): PathParam,
) -> Result<Json<OrderStatusDto>, ApiError> {
    let order = state.service.get_order(order_id(&id)?).await?;
    Ok(Json(OrderStatusDto::from(&order)))
}

#[utoipa::path(get, path = "/orders", tag = "orders",
    params(("userId" = Option<String>, Query),
           ("status" = Option<String>, Query, description = "A code 1-5 or a name"),
           ("limit" = Option<u32>, Query, description = "1 to 500, default 50"),
           ("cursor" = Option<String>, Query, description = "A nextCursor from an earlier page")),
    responses((status = 200, description = "Newest first", body = OrderListDto), (status = 400, description = "Bad limit, status or cursor", body = ErrorBody)))]
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
        .map(|u| UserId::parse("userId", u).map_err(|e| ApiError::invalid(e.0)))
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
