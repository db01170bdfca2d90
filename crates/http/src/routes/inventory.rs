//! `PUT /inventory/{productId}`, `GET /inventory/{productId}`, `GET /inventory`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use orderflow_core::domain::{LimitChange, MaxPerUser, ProductId, StockCount, StockShards};

use crate::dto::{ErrorBody, IdSchema, ProductDto, ProductListDto, SetStockBody};
use crate::extract::{JsonBody, PathParam};
use crate::routes::require_admin;
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/inventory", get(list))
        .route("/inventory/{productId}", get(show).put(set_stock))
}

fn product_id(raw: String) -> Result<ProductId, ApiError> {
    ProductId::parse(raw).map_err(|e| ApiError::invalid(e.0))
}

#[utoipa::path(put, path = "/inventory/{productId}", tag = "inventory", operation_id = "setStock",
    params(("productId" = IdSchema, Path, example = "p1")),
    request_body = SetStockBody,
    responses(
        (status = 200, description = "The product, created if it was new", body = ProductDto,
            links(
                ("GetProduct" = (operation_id = "getProduct", parameters(("productId" = "$request.path.productId")))),
                ("OrderProduct" = (operation_id = "placeOrder", request_body = json!({"productId": "$request.path.productId"}))),
            )),
        (status = 400, description = "invalid_request: malformed or out-of-range input", body = ErrorBody),
        (status = 401, description = "unauthorized: the admin token is configured and missing or wrong", body = ErrorBody),
        (status = 403, description = "forbidden: a cross-origin write", body = ErrorBody),
        (status = 404, description = "not_found: no productId in the path", body = ErrorBody),
        (status = 413, description = "payload_too_large: the body is over 64 KiB", body = ErrorBody),
        (status = 503, description = "overloaded or unavailable: nothing was written; try again", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before trying again"))),
    ),
    security((), ("admin" = [])))]
pub(crate) async fn set_stock(
    State(state): State<AppState>,
    headers: HeaderMap,
    PathParam(id): PathParam,
    body: Result<JsonBody<SetStockBody>, ApiError>,
) -> Result<Json<ProductDto>, ApiError> {
    // Authorisation first: an unauthorised caller learns nothing about its input.
    require_admin(&state, &headers)?;
    let JsonBody(body) = body?;
    let id = product_id(id)?;
    let stock = StockCount::new(body.stock_count).map_err(|e| ApiError::invalid(e.0))?;
    let limit = match body.max_per_user {
        None => LimitChange::Keep,
        Some(None) => LimitChange::Remove,
        Some(Some(m)) => LimitChange::Set(MaxPerUser::new(m).map_err(|e| ApiError::invalid(e.0))?),
    };
    let shards = body
        .shards
        .map(StockShards::new)
        .transpose()
        .map_err(|e| ApiError::invalid(e.0))?;
    let product = state.service.set_stock(&id, stock, limit, shards).await?;
    Ok(Json(ProductDto::from(&product)))
}

#[utoipa::path(get, path = "/inventory/{productId}", tag = "inventory", operation_id = "getProduct",
    params(("productId" = IdSchema, Path, example = "p1")),
    responses(
        (status = 200, body = ProductDto),
        (status = 400, description = "invalid_request: a malformed productId", body = ErrorBody),
        (status = 404, description = "product_not_found", body = ErrorBody),
        (status = 503, description = "overloaded or unavailable: try again", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before trying again"))),
    ))]
pub(crate) async fn show(
    State(state): State<AppState>,
    PathParam(id): PathParam,
) -> Result<Json<ProductDto>, ApiError> {
    let product = state.service.get_product(&product_id(id)?).await?;
    Ok(Json(ProductDto::from(&product)))
}

#[utoipa::path(get, path = "/inventory", tag = "inventory", operation_id = "listProducts",
    responses(
        (status = 200, body = ProductListDto),
        (status = 503, description = "overloaded or unavailable: try again", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before trying again"))),
    ))]
pub(crate) async fn list(State(state): State<AppState>) -> Result<Json<ProductListDto>, ApiError> {
    let products = state.service.list_products().await?;
    Ok(Json(ProductListDto {
        products: products.iter().map(ProductDto::from).collect(),
    }))
}
