//! `POST /webhook/payment` (the gateway tells us) and `POST /simulate/payment/{orderId}`
//! (ask the simulated gateway to tell us, after a delay).

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use orderflow_core::domain::lifecycle::PaymentOutcome;
use orderflow_core::signature;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dto::ErrorBody;

use crate::extract::{JsonBody, PathParam, RawBody, parse_json};
use crate::routes::order_id;
use crate::{ApiError, AppState};

/// Longest `paymentId` kept from a webhook.
const MAX_PAYMENT_ID: usize = 255;
/// Longest simulated delay: one hour.
const MAX_DELAY_MS: u64 = 3_600_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhook/payment", post(webhook))
        .route("/simulate/payment/{order_id}", post(simulate))
}

/// The webhook body. Unknown fields are ignored: gateways add fields over time.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WebhookBody {
    order_id: String,
    payment_status: String,
    #[serde(default)]
    payment_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WebhookAnswer {
    order_id: String,
    order_status: u8,
    #[schema(value_type = String)]
    payment_status: &'static str,
    #[schema(value_type = String)]
    refund_status: &'static str,
    /// queued, failed, refund_initiated or duplicate
    #[schema(value_type = String)]
    outcome: &'static str,
}

fn outcome(s: &str, field: &str) -> Result<PaymentOutcome, ApiError> {
    match s {
        "success" => Ok(PaymentOutcome::Success),
        "failed" => Ok(PaymentOutcome::Failed),
        _ => Err(ApiError::invalid(format!(
            "{field} must be \"success\" or \"failed\""
        ))),
    }
}

#[utoipa::path(post, path = "/webhook/payment", tag = "payments",
    params(("Payment-Signature" = Option<String>, Header,
            description = "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<raw body>\")>; required when the server has a webhook secret")),
    request_body = WebhookBody,
    responses((status = 200, body = WebhookAnswer), (status = 400, description = "invalid_request", body = ErrorBody), (status = 401, description = "invalid_signature", body = ErrorBody), (status = 404, description = "order_not_found", body = ErrorBody)))]
pub(crate) async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(raw): RawBody,
) -> Result<Json<WebhookAnswer>, ApiError> {
    // The signature covers the raw bytes, so it is checked before anything is parsed.
    if let Some(secret) = &state.security.webhook_secret {
        let header = headers
            .get("payment-signature")
            .map(|v| v.to_str().unwrap_or(""));
        let secret = secret.expose().as_bytes();
        signature::verify(secret, header, &raw, state.service.clock().now()).map_err(|e| {
            ApiError::new(StatusCode::UNAUTHORIZED, "invalid_signature", e.to_string())
        })?;
    }
    let body: WebhookBody = parse_json(&raw)?;
    let id = order_id(&body.order_id)?;
    let paid = outcome(&body.payment_status, "paymentStatus")?;
    if body.payment_id.as_ref().is_some_and(|p| {
        p.is_empty() || p.chars().count() > MAX_PAYMENT_ID || p.chars().any(char::is_control)
    }) {
        return Err(ApiError::invalid(format!(
            "paymentId must be 1 to {MAX_PAYMENT_ID} characters, none of them control characters"
        )));
    }
    let (order, result) = state
        .service
        .handle_payment(id, paid, body.payment_id)
        .await?;
    Ok(Json(WebhookAnswer {
        order_id: order.id.to_string(),
        order_status: order.state.status.code(),
        payment_status: order.state.payment.name(),
        refund_status: order.state.refund.name(),
        outcome: result.name(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SimulateBody {
    outcome: String,
    /// 0 to 3600000, default 0.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 3_600_000)]
    delay_ms: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SimulateAnswer {
    order_id: String,
    outcome: String,
    delay_ms: u64,
}

#[utoipa::path(post, path = "/simulate/payment/{order_id}", tag = "payments",
    params(("order_id" = String, Path, description = "A UUID")),
    request_body = SimulateBody,
    responses((status = 202, description = "The simulated gateway will call the webhook after delayMs", body = SimulateAnswer),
              (status = 400, description = "invalid_request", body = ErrorBody), (status = 401, description = "unauthorized", body = ErrorBody), (status = 404, description = "order_not_found", body = ErrorBody)),
    security((), ("admin" = [])))]
pub(crate) async fn simulate(
    State(state): State<AppState>,
    headers: HeaderMap,
    PathParam(id): PathParam,
    body: Result<JsonBody<SimulateBody>, ApiError>,
) -> Result<(StatusCode, Json<SimulateAnswer>), ApiError> {
    state.security.require_simulator(&headers)?;
    let JsonBody(body) = body?;
    let id = order_id(&id)?;
    let paid = outcome(&body.outcome, "outcome")?;
    let delay_ms = body.delay_ms.unwrap_or(0);
    if delay_ms > MAX_DELAY_MS {
        return Err(ApiError::invalid(format!(
            "delayMs must be an integer from 0 to {MAX_DELAY_MS}"
        )));
    }
    state
        .service
        .simulate_payment(id, paid, Duration::from_millis(delay_ms))
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(SimulateAnswer {
            order_id: id.to_string(),
            outcome: body.outcome,
            delay_ms,
        }),
    ))
}
