//! `GET /notifications/failed` and `POST /notifications/{id}/retry`: the deliveries to
//! `--notify-url` that were given up after 24 hours of retries, and sending one again.
//! Both are admin actions.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use orderflow_core::domain::notify::{notification_id, parse_notification_id};
use orderflow_core::ports::Notification;
use serde::Serialize;
use utoipa::ToSchema;

use crate::dto::{ErrorBody, OrderDto, TimestampSchema, rfc3339};
use crate::extract::PathParam;
use crate::routes::require_admin;
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/notifications/failed", get(failed))
        .route("/notifications/{id}/retry", post(retry))
}

/// A notification that was given up.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailedNotificationDto {
    /// `<orderId>:<seq>`, as the receiver would have seen it.
    pub id: String,
    /// The event's type.
    #[serde(rename = "type")]
    #[schema(value_type = crate::dto::EventTypeName)]
    pub kind: &'static str,
    /// The order as it was right after the event.
    pub order: OrderDto,
    pub attempts: u32,
    #[schema(value_type = Option<TimestampSchema>)]
    pub first_failed_at: Option<String>,
    /// What the last attempt got (a status, or why there was no answer).
    pub last_error: Option<String>,
}

impl From<&Notification> for FailedNotificationDto {
    fn from(n: &Notification) -> Self {
        Self {
            id: notification_id(n.change.event.order_id, n.change.event.seq),
            kind: n.change.event.kind.name(),
            order: OrderDto::from(&n.change.order),
            attempts: n.attempts,
            first_failed_at: n.first_failed_at.map(rfc3339),
            last_error: n.last_error.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FailedNotificationsDto {
    pub notifications: Vec<FailedNotificationDto>,
}

#[utoipa::path(get, path = "/notifications/failed", tag = "notifications", operation_id = "listFailedNotifications",
    responses(
        (status = 200, description = "Deliveries given up after 24 hours of retries, oldest first (none when --notify-url is unset)", body = FailedNotificationsDto),
        (status = 401, description = "unauthorized: the admin token is configured and missing or wrong", body = ErrorBody),
        (status = 503, description = "overloaded or unavailable: try again", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before trying again"))),
    ),
    security((), ("admin" = [])))]
pub(crate) async fn failed(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<FailedNotificationsDto>, ApiError> {
    require_admin(&state, &headers)?;
    let parked = match &state.outbox {
        Some(outbox) => outbox.parked().await.map_err(orderflow_core::Error::from)?,
        None => Vec::new(),
    };
    Ok(Json(FailedNotificationsDto {
        notifications: parked.iter().map(FailedNotificationDto::from).collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RetryAnswer {
    pub id: String,
}

#[utoipa::path(post, path = "/notifications/{id}/retry", tag = "notifications", operation_id = "retryNotification",
    params(("id" = String, Path, description = "`<orderId>:<seq>` of a failed notification",
            example = "1b4e28ba-2fa1-11d2-883f-0016d3cca427:2")),
    responses(
        (status = 202, description = "Sent again from now on, with a fresh 24 hours of retries", body = RetryAnswer),
        (status = 400, description = "invalid_request: the path could not be read", body = ErrorBody),
        (status = 401, description = "unauthorized: the admin token is configured and missing or wrong", body = ErrorBody),
        (status = 403, description = "forbidden: a cross-origin write", body = ErrorBody),
        (status = 404, description = "not_found: no failed notification has this id", body = ErrorBody),
        (status = 503, description = "overloaded or unavailable: nothing was written; try again", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before trying again"))),
    ),
    security((), ("admin" = [])))]
pub(crate) async fn retry(
    State(state): State<AppState>,
    headers: HeaderMap,
    PathParam(id): PathParam,
) -> Result<(StatusCode, Json<RetryAnswer>), ApiError> {
    require_admin(&state, &headers)?;
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no failed notification has this id",
        )
    };
    let (order_id, seq) = parse_notification_id(&id).ok_or_else(not_found)?;
    let Some(outbox) = &state.outbox else {
        return Err(not_found());
    };
    let now = state.service.clock().now();
    if outbox
        .unpark(order_id, seq, now)
        .await
        .map_err(orderflow_core::Error::from)?
    {
        Ok((StatusCode::ACCEPTED, Json(RetryAnswer { id })))
    } else {
        Err(not_found())
    }
}
