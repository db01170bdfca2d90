//! `GET /events`: every committed order change, live, as Server-Sent Events.
//!
//! Each message is one change: `id:` its position in the store's commit order, `event:
//! order`, `data:` `{"type", "order"}` with the order as it was right after the change. A
//! client resumes after a position (`Last-Event-ID`, which wins, or `?after=`) and gets
//! every later change exactly once; without one it starts from the present. The stream is
//! fed from the durable change feed: it reads what was committed after its position, and
//! when there is nothing new it waits for the store's in-process wake-up (no polling loop
//! per client). It ends when the client goes or the server shuts down.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use orderflow_core::domain::{OrderId, UserId};
use orderflow_core::ports::{Change, ChangeFilter};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::dto::{ErrorBody, OrderDto};
use crate::extract::QueryPairs;
use crate::routes::require_admin;
use crate::{ApiError, AppState};

/// Comment lines on an idle stream, so that proxies and clients see it alive.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Changes read from the feed at a time.
const BATCH: usize = 200;
/// Messages buffered for a slow client before the stream waits for it.
const BUFFER: usize = 64;

pub fn routes() -> Router<AppState> {
    Router::new().route("/events", get(stream))
}

/// The `data:` of one message.
#[derive(Serialize)]
struct ChangeDto {
    #[serde(rename = "type")]
    kind: &'static str,
    order: OrderDto,
}

#[utoipa::path(get, path = "/events", tag = "orders", operation_id = "streamEvents",
    params(
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this position (an `id:` of an earlier message); wins over `after`"),
        ("after" = Option<String>, Query, description = "Resume after this position"),
        ("orderId" = Option<String>, Query, description = "Only this order's changes (a UUID)"),
        ("userId" = Option<String>, Query, description = "Only this customer's changes"),
    ),
    responses(
        (status = 200, content_type = "text/event-stream",
            description = "Server-Sent Events: `id: <position>`, `event: order`, `data: {\"type\", \"order\"}`; a comment at least every 15 s"),
        (status = 400, description = "invalid_request: a position, orderId or userId that is not valid", body = ErrorBody),
        (status = 401, description = "unauthorized: the admin token is configured and missing or wrong", body = ErrorBody),
        (status = 501, description = "not_supported: this backend cannot stream", body = ErrorBody),
    ),
    security((), ("admin" = [])))]
pub(crate) async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<QueryPairs, ApiError>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let query = query?;
    let Some(feed) = state.changes.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not_supported",
            "this backend cannot stream changes; poll GET /orders instead",
        ));
    };
    let last_event_id = headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("\u{0}"))
        .filter(|v| !v.is_empty());
    let after = match last_event_id.or(query.get("after")?) {
        Some(p) => p.parse::<u64>().map_err(|_| {
            ApiError::invalid("Last-Event-ID / after must be an id this stream sent")
        })?,
        None => feed.head().await.map_err(orderflow_core::Error::from)?,
    };
    let filter = ChangeFilter {
        order_id: query
            .get("orderId")?
            .map(|s| OrderId::parse(s).map_err(|e| ApiError::invalid(e.0)))
            .transpose()?,
        user_id: query
            .get("userId")?
            .map(|s| UserId::parse(s).map_err(|e| ApiError::invalid(e.0)))
            .transpose()?,
    };

    let (tx, mut rx) = mpsc::channel::<Event>(BUFFER);
    let mut closing = state.closing.clone();
    tokio::spawn(async move {
        let mut position = after;
        loop {
            // Armed before reading: a commit after this point wakes the wait below.
            let wake = feed.next_commit();
            let batch: Vec<Change> = match feed.changes_after(position, &filter, BATCH).await {
                Ok(b) => b,
                Err(e) => {
                    // The client reconnects with its last id and misses nothing.
                    tracing::warn!(error = %e, "event stream: reading the feed failed; ending it");
                    return;
                }
            };
            if batch.is_empty() {
                tokio::select! {
                    () = wake => continue,
                    () = tx.closed() => return,
                    () = stopped(&mut closing) => return,
                }
            }
            for change in batch {
                position = change.position;
                let data = ChangeDto {
                    kind: change.event.kind.name(),
                    order: OrderDto::from(&change.order),
                };
                let event = Event::default()
                    .id(position.to_string())
                    .event("order")
                    .json_data(&data)
                    .expect("a change serialises");
                tokio::select! {
                    sent = tx.send(event) => if sent.is_err() { return },
                    () = stopped(&mut closing) => return,
                }
            }
        }
    });
    let events = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|e| e.map(Ok::<_, Infallible>))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response())
}

/// Resolves when the server begins to shut down (never, if nobody can tell it to).
async fn stopped(closing: &mut tokio::sync::watch::Receiver<bool>) {
    if closing.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}
