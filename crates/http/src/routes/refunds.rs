//! `POST /refund/{orderId}`: 202 when this call started the refund, 200 with the current
//! state on a repeat.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;

use crate::extract::PathParam;
use crate::routes::{order_id, require_admin};
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route("/refund/{order_id}", post(refund))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RefundAnswer {
    order_id: String,
    refund_status: &'static str,
}

async fn refund(
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
