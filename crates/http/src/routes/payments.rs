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

use crate::dto::{
    ErrorBody, OrderIdSchema, PaymentOutcomeName, PaymentStatusName, RefundStatusName,
    WebhookOutcomeName,
};

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
        .route("/simulate/payment/{orderId}", post(simulate))
}

/// The webhook body. Unknown fields are ignored: gateways add fields over time.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"orderId": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "paymentStatus": "success", "paymentId": "pay_1"}))]
pub(crate) struct WebhookBody {
    #[schema(value_type = OrderIdSchema)]
    order_id: String,
    #[schema(value_type = PaymentOutcomeName)]
    payment_status: String,
    /// The gateway's id of the payment: 1 to 255 characters, no control characters.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    payment_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WebhookAnswer {
    #[schema(value_type = OrderIdSchema)]
    order_id: String,
    #[schema(minimum = 1, maximum = 5)]
    order_status: u8,
    #[schema(value_type = PaymentStatusName)]
    payment_status: &'static str,
    #[schema(value_type = RefundStatusName)]
    refund_status: &'static str,
    #[schema(value_type = WebhookOutcomeName)]
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

#[utoipa::path(post, path = "/webhook/payment", tag = "payments", operation_id = "paymentWebhook",
    request_body(content = WebhookBody,
        description = "Fields the server does not know are ignored: gateways add fields over time"),
    responses(
        (status = 200, body = WebhookAnswer),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 401, description = "invalid_signature: a webhook secret is configured and the signature is missing, malformed, wrong or stale", body = ErrorBody),
        (status = 403, description = "forbidden: a cross-origin write", body = ErrorBody),
        (status = 404, description = "order_not_found", body = ErrorBody),
        (status = 413, description = "payload_too_large: the body is over 64 KiB", body = ErrorBody),
        (status = 503, description = "overloaded or unavailable: nothing was written; try again", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before trying again"))),
    ),
    security((), ("Payment-Signature" = [])))]
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
#[schema(example = json!({"outcome": "success", "delayMs": 0}))]
pub(crate) struct SimulateBody {
    #[schema(value_type = PaymentOutcomeName)]
    outcome: String,
    /// 0 to 3600000, default 0.
    #[serde(default, deserialize_with = "crate::dto::whole::optional")]
    #[schema(minimum = 0, maximum = 3_600_000, default = 0)]
    delay_ms: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SimulateAnswer {
    #[schema(value_type = OrderIdSchema)]
    order_id: String,
    #[schema(value_type = PaymentOutcomeName)]
    outcome: String,
    #[schema(minimum = 0, maximum = 3_600_000)]
    delay_ms: u64,
}

#[utoipa::path(post, path = "/simulate/payment/{orderId}", tag = "payments", operation_id = "simulatePayment",
    params(("orderId" = OrderIdSchema, Path, example = "1b4e28ba-2fa1-11d2-883f-0016d3cca427")),
    request_body = SimulateBody,
    responses(
        (status = 202, description = "The simulated gateway will call the webhook after delayMs", body = SimulateAnswer),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 401, description = "unauthorized: the admin token is configured and missing or wrong", body = ErrorBody),
        (status = 403, description = "forbidden: a webhook secret is set and no admin token is configured, or a cross-origin write", body = ErrorBody),
        (status = 404, description = "order_not_found", body = ErrorBody),
        (status = 413, description = "payload_too_large: the body is over 64 KiB", body = ErrorBody),
        (status = 503, description = "overloaded or unavailable: nothing was written; try again", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before trying again"))),
    ),
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
