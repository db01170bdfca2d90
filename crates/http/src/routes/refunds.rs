//! `POST /refund/{orderId}`: 202 when this call started the refund, 200 with the current
//! state on a repeat.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::dto::{ErrorBody, OrderIdSchema, RefundStatusName};

use crate::extract::PathParam;
use crate::routes::{order_id, require_admin};
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route("/refund/{orderId}", post(refund))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RefundAnswer {
    #[schema(value_type = OrderIdSchema)]
    order_id: String,
    #[schema(value_type = RefundStatusName)]
    refund_status: &'static str,
}

#[utoipa::path(post, path = "/refund/{orderId}", tag = "payments", operation_id = "refundOrder",
    params(("orderId" = OrderIdSchema, Path, example = "1b4e28ba-2fa1-11d2-883f-0016d3cca427")),
    responses(
        (status = 202, description = "This call started the refund", body = RefundAnswer),
        (status = 200, description = "A refund was already started; its state", body = RefundAnswer),
        (status = 400, description = "invalid_request: not a UUID", body = ErrorBody),
        (status = 401, description = "unauthorized: the admin token is configured and missing or wrong", body = ErrorBody),
        (status = 403, description = "forbidden: a cross-origin write", body = ErrorBody),
        (status = 404, description = "order_not_found", body = ErrorBody),
        (status = 409, description = "not_refundable: no successful payment", body = ErrorBody),
        (status = 503, description = "overloaded or unavailable: nothing was written; try again", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before trying again"))),
    ),
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
