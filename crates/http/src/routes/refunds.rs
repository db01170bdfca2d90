//! `POST /refund/{orderId}`: 202 when this call started the refund, 200 with the current
//! state on a repeat.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::dto::ErrorBody;

use crate::extract::PathParam;
use crate::routes::{order_id, require_admin};
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route("/refund/{order_id}", post(refund))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RefundAnswer {
    order_id: String,
    #[schema(value_type = String)]
    refund_status: &'static str,
}

#[utoipa::path(post, path = "/refund/{order_id}", tag = "payments",
    params(("order_id" = String, Path, description = "A UUID")),
    responses((status = 202, description = "This call started the refund", body = RefundAnswer),
              (status = 200, description = "A refund was already started; its state", body = RefundAnswer),
              (status = 400, description = "Not a UUID", body = ErrorBody), (status = 401, description = "unauthorized", body = ErrorBody), (status = 404, description = "order_not_found", body = ErrorBody), (status = 409, description = "not_refundable", body = ErrorBody)),
    security((), ("admin" = [])))]
pub(crate) async fn refund(
    State(state): State<AppState>,
    headers: HeaderMap,
    PathParam(id): PathParam,
) -> Result<(StatusCode, Json<RefundAnswer>), ApiError> {
    require_admin(&state, &headers)?;
    let (order, started) = state.service.request_refund(order_id(&id)?).await?;
    let status = if started {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(RefundAnswer {
            order_id: order.id.to_string(),
            refund_status: order.state.refund.name(),
        }),
    ))
}
