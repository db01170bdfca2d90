//! `GET /healthz`: 200 when the store answers (reads and the writer), 503 otherwise.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::dto::ErrorBody;
use crate::error::RETRY_UNAVAILABLE_SECS;
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz))
}

#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "healthz",
    responses(
        (status = 200, description = "The store and the queue answer", body = Object, example = json!({"status": "ok"})),
        (status = 503, description = "unavailable: they do not", body = ErrorBody),
    ))]
pub(crate) async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    match state.service.health().await {
        Ok(()) => Ok(Json(json!({ "status": "ok" }))),
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            Err(ApiError::unavailable(
                "unavailable",
                "the store does not answer or cannot write",
                RETRY_UNAVAILABLE_SECS,
            ))
        }
    }
}
