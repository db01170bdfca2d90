//! orderflow's Lambda functions, each a small binary over the same core:
//!
//! - `orderflow-api`: the axum router behind API Gateway (lambda_http).
//! - `orderflow-consumer`: SQS events from the orders, refunds and payments queues; reports
//!   the records it could not handle in `batchItemFailures` so only those come back.
//! - `orderflow-sweeper`: the EventBridge schedule: one sweep, then re-sending paid orders
//!   whose message was lost.
//!
//! A simulated payment with a delay is an SQS message with `DelaySeconds` on the payments
//! queue, handled by the consumer when it becomes visible: no timer lives in a Lambda that
//! is frozen after it answers.
//!
//! The handlers here are plain functions of the service and the event, so tests call them
//! with real event payloads; the binaries only wire them to the runtime.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use orderflow_aws::AwsNames;
use orderflow_core::clock::SystemClock;
use orderflow_core::domain::OrderId;
use orderflow_core::domain::lifecycle::PaymentOutcome;
use orderflow_core::messages::SimulatedPayment;
use orderflow_core::service::OrderService;
use orderflow_worker::wiring::{self, Timings, Work};
use serde_json::{Value, json};

/// A duration from the environment (`2s`, `500ms`), or `default`.
fn env_duration(name: &str, default: Duration) -> Duration {
    std::env::var(name)
        .ok()
        .and_then(|v| parse_duration(&v))
        .unwrap_or(default)
}

fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = n.parse().ok()?;
    Some(match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return None,
    })
}

/// The service on the AWS backend, configured from the environment as the CLI is.
///
/// # Errors
/// When a table or queue cannot be reached.
pub async fn service_from_env() -> Result<(Arc<OrderService>, AwsNames), lambda_runtime::Error> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let names = AwsNames::from_env();
    let (store, queues) = orderflow_aws::connect(
        aws_sdk_dynamodb::Client::new(&config),
        aws_sdk_sqs::Client::new(&config),
        names.clone(),
    )
    .await?;
    let defaults = Timings::default();
    let service = wiring::service(
        Arc::new(store),
        queues,
        Arc::new(SystemClock),
        Timings {
            processing: env_duration("ORDERFLOW_PROCESSING_DELAY", defaults.processing),
            refund: env_duration("ORDERFLOW_REFUND_DELAY", defaults.refund),
            payment_timeout: env_duration("ORDERFLOW_PAYMENT_TIMEOUT", defaults.payment_timeout),
        },
    );
    Ok((service, names))
}

/// Which queue an SQS record came from: the last part of its source ARN.
fn queue_of(arn: Option<&str>) -> &str {
    arn.and_then(|a| a.rsplit(':').next()).unwrap_or("")
}

/// One SQS batch: each record by the queue it came from. Records that fail are reported
/// in `batchItemFailures` (and come back after the visibility timeout, then go to the
/// dead-letter queue); the others are deleted by Lambda.
pub async fn handle_sqs(
    service: &OrderService,
    names: &AwsNames,
    event: SqsEvent,
) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let body = record.body.clone().unwrap_or_default();
        let queue = queue_of(record.event_source_arn.as_deref());
        let result = if queue == names.refunds_queue() {
            wiring::handle(service, Work::Refunds, &body).await
        } else if queue == names.payments_queue() {
            report_simulated_payment(service, &body).await
        } else {
            wiring::handle(service, Work::Orders, &body).await
        };
        if let Err(why) = result {
            tracing::warn!(message = %id, queue, error = %why, "record not handled");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failures.push(failure);
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

/// The simulated gateway's report, once the message's delay is over: the same use case the
/// webhook calls.
async fn report_simulated_payment(service: &OrderService, body: &str) -> Result<(), String> {
    let p: SimulatedPayment = serde_json::from_str(body).map_err(|e| e.to_string())?;
    let id = OrderId::parse(&p.order_id).map_err(|e| e.0)?;
    let outcome = match p.payment_status.as_str() {
        "success" => PaymentOutcome::Success,
        "failed" => PaymentOutcome::Failed,
        other => return Err(format!("unknown payment status {other}")),
    };
    service
        .handle_payment(id, outcome, Some(p.payment_id))
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The scheduled sweep: time out what expired, re-send what waits too long.
///
/// # Errors
/// When the store or a queue fails; the next schedule tries again.
pub async fn handle_schedule(
    service: &OrderService,
    _event: EventBridgeEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    let timed_out = service.sweep_once().await?;
    let requeued = service.requeue_paid_waiting().await?;
    tracing::info!(timed_out, requeued, "sweep");
    Ok(json!({ "timedOut": timed_out, "requeued": requeued }))
}

/// Logs as JSON lines for CloudWatch.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .without_time()
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_from_the_environment_are_human() {
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("30m"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_duration("soon"), None);
    }

    #[test]
    fn a_record_is_routed_by_its_queue_name() {
        assert_eq!(
            queue_of(Some(
                "arn:aws:sqs:us-east-1:123456789012:orderflow-orders-refunds"
            )),
            "orderflow-orders-refunds"
        );
        assert_eq!(queue_of(None), "");
    }
}
