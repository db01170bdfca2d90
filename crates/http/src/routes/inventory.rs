//! `PUT /inventory/{productId}`, `GET /inventory/{productId}`, `GET /inventory`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use orderflow_core::domain::{ProductId, StockCount};

use crate::dto::{ErrorBody, ProductDto, ProductListDto, SetStockBody};
use crate::extract::{JsonBody, PathParam};
use crate::routes::require_admin;
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/inventory", get(list))
        .route("/inventory/{product_id}", get(show).put(set_stock))
}

fn product_id(raw: String) -> Result<ProductId, ApiError> {
    ProductId::parse("productId", raw).map_err(|e| ApiError::invalid(e.0))
}

#[utoipa::path(put, path = "/inventory/{product_id}", tag = "inventory",
    params(("product_id" = String, Path, description = "1 to 128 characters")),
    request_body = SetStockBody,
    responses((status = 200, body = ProductDto), (status = 400, description = "Malformed or out-of-range input", body = ErrorBody), (status = 401, description = "Admin token required and missing or wrong", body = ErrorBody)),
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
    let product = state.service.set_stock(&id, stock).await?;
    Ok(Json(ProductDto::from(&product)))
}

#[utoipa::path(get, path = "/inventory/{product_id}", tag = "inventory",
    params(("product_id" = String, Path)),
    responses((status = 200, body = ProductDto), (status = 400, description = "Malformed id", body = ErrorBody), (status = 404, description = "product_not_found", body = ErrorBody)))]
pub(crate) async fn show(
    State(state): State<AppState>,
    PathParam(id): PathParam,
) -> Result<Json<ProductDto>, ApiError> {
    let product = state.service.get_product(&product_id(id)?).await?;
    Ok(Json(ProductDto::from(&product)))
}

#[utoipa::path(get, path = "/inventory", tag = "inventory",
    responses((status = 200, body = ProductListDto)))]
pub(crate) async fn list(State(state): State<AppState>) -> Result<Json<ProductListDto>, ApiError> {
    let products = state.service.list_products().await?;
    Ok(Json(ProductListDto {
        products: products.iter().map(ProductDto::from).collect(),
    }))
}
