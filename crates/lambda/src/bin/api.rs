//! The HTTP API behind API Gateway: the same axum router as `orderflow serve`.

use std::sync::Arc;

use orderflow_http::AppState;
use orderflow_http::metrics::Metrics;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    orderflow_lambda::init_logging();
    let (service, _) = orderflow_lambda::service_from_env().await?;
    let secret = std::env::var("ORDERFLOW_WEBHOOK_SECRET").ok();
    if secret.is_none() {
        tracing::warn!("no ORDERFLOW_WEBHOOK_SECRET: unsigned payment webhooks are accepted");
    }
    let state = AppState {
        service,
        admin_token: std::env::var("ORDERFLOW_ADMIN_TOKEN").ok().map(Arc::from),
        webhook_secret: secret.map(|s| Arc::from(s.into_bytes())),
        metrics: Arc::new(Metrics::new(None)),
    };
    lambda_http::run(orderflow_http::router(state)).await
}
