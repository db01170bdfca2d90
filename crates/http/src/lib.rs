//! orderflow's HTTP API: an axum router over the core's use cases.
//!
//! # Layout
//!
//! - [`error`]: [`ApiError`], the one error type every handler returns; it becomes the
//!   contract's `{"error": {"code", "message"}}` body with the right status.
//! - [`extract`]: extractors that turn malformed input into that same error (a JSON body
//!   read as bytes with a 64 KiB limit, path ids, query strings).
//! - [`dto`]: the JSON shapes of the contract, and their conversion from domain values.
//! - [`routes`]: one module per resource.
//! - [`metrics`]: `GET /metrics` and the middleware that counts and times requests.
//! - [`openapi`]: `GET /openapi.json`, generated from the handlers and shapes by utoipa.
//! - [`ui`]: the web UI (`web/`), built by Vite and embedded in the binary.
//! - [`security`]: secrets, the admin token and the same-origin rule.
//! - [`server`]: the accept loop with its timeouts, connection bound and shutdown deadline.
//!
//! [`router`] wires them into one `Router` that the binary serves (and that a Lambda can
//! serve the same way).

pub mod dto;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod security;
pub mod server;
pub mod ui;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::get;
use orderflow_core::ports::{ChangeFeed, Outbox};
use orderflow_core::service::OrderService;
use tokio::sync::watch;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use security::{Secret, Security};

/// Request bodies above this are refused with `413 payload_too_large`.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A request (reading its body included) must be answered within this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub service: Arc<OrderService>,
    /// The admin token, the webhook secret and the trusted origins.
    pub security: Security,
    pub metrics: Arc<metrics::Metrics>,
    /// The live change feed (`GET /events`), where the backend has one.
    pub changes: Option<Arc<dyn ChangeFeed>>,
    /// The notification outbox, when `--notify-url` is set.
    pub outbox: Option<Arc<dyn Outbox>>,
    /// Turns true when the server begins to shut down: live streams end then.
    pub closing: watch::Receiver<bool>,
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(routes::orders::routes())
        .merge(routes::inventory::routes())
        .merge(routes::payments::routes())
        .merge(routes::refunds::routes())
        .merge(routes::health::routes())
        .merge(routes::events::routes())
        .merge(routes::notifications::routes())
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(openapi::document))
        .merge(ui::routes())
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security::same_origin,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(error::timeout_response))
                .timeout(REQUEST_TIMEOUT),
        )
        // Outermost but for tracing: every answer is counted, timeouts and refusals too.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
