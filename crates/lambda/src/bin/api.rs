//! The HTTP API behind API Gateway: the same axum router as `orderflow serve`.

use std::sync::Arc;

use orderflow_http::metrics::Metrics;
use orderflow_http::security::Origins;
use orderflow_http::{AppState, Secret, Security};
use orderflow_lambda::{ADMIN_TOKEN, Function, WEBHOOK_SECRET};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    orderflow_lambda::init_logging();
    // The secrets are read here, once (from Parameter Store when their `_PARAMETER`
    // variable names one).
    let f = orderflow_lambda::service_from_env(Function::Api).await?;
    let service = f.service;
    // Set but empty is a configuration error: the function fails to start, and says why.
    let webhook_secret = Secret::from_config(WEBHOOK_SECRET, f.api.webhook_secret)?;
    let admin_token = Secret::from_config(ADMIN_TOKEN, f.api.admin_token)?;
    if webhook_secret.is_none() {
        tracing::warn!("no ORDERFLOW_WEBHOOK_SECRET: unsigned payment webhooks are accepted");
    }
    let public_url = std::env::var("ORDERFLOW_PUBLIC_URL").ok();
    let allowed: Vec<String> = std::env::var("ORDERFLOW_ALLOWED_ORIGINS")
        .map(|v| v.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let origins = Origins::new(public_url.as_deref(), &allowed)?;
    let state = AppState {
        service,
        security: Security {
            admin_token,
            webhook_secret,
            origins: Arc::new(origins),
        },
        metrics: Arc::new(Metrics::new(None)),
        // Behind API Gateway a response is buffered whole: no live stream (501).
        changes: None,
        // Failed notifications are listed and sent again from the same outbox.
        outbox: f
            .notify
            .map(|n| n.store.clone() as Arc<dyn orderflow_core::ports::Outbox>),
        closing: tokio::sync::watch::channel(false).1,
    };
    lambda_http::run(orderflow_http::router(state)).await
}
