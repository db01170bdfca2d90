//! orderflow's Lambda functions, each a small binary over the same core:
//!
//! - `orderflow-api`: the axum router behind API Gateway (lambda_http).
//! - `orderflow-consumer`: SQS events from the orders, refunds and payments queues; reports
//!   the records it could not handle in `batchItemFailures` so only those come back.
//! - `orderflow-sweeper`: the EventBridge schedule: one sweep, then re-sending paid orders
//!   whose message was lost, and announcing again orders whose notifications are overdue.
//!
//! With `ORDERFLOW_NOTIFY_URL` (contract section 6), every event enters the outbox on its
//! order item ([`orderflow_aws::outbox`]) and `{"orderId"}` goes to the notify queue; the
//! consumer delivers that order's pending events in `seq` order ([`NotifyDelivery`]). A
//! failure is retried by a new message delayed to the policy's retry time (so SQS's
//! receive count never decides when to give up: the 24 hours of
//! `domain::notify::retry_at` do), and the sweeper announces again every order whose head
//! is overdue in the pending index, so a lost message delays a notification, never loses
//! it.
//!
//! A simulated payment with a delay is an SQS message with `DelaySeconds` on the payments
//! queue, handled by the consumer when it becomes visible: no timer lives in a Lambda that
//! is frozen after it answers. A delay longer than SQS's 15 minutes comes early with its
//! due time in an attribute, and is sent on for the rest of its wait (module `delays`).
//!
//! The handlers here are plain functions of the service and the event, so tests call them
//! with real event payloads; the binaries only wire them to the runtime.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use orderflow_aws::{AwsNames, DynamoStore, Notifications, SqsQueue};
use orderflow_core::clock::SystemClock;
use orderflow_core::domain::lifecycle::PaymentOutcome;
use orderflow_core::domain::{OrderId, Timestamp};
use orderflow_core::messages::OrderMessage;
use orderflow_core::messages::SimulatedPayment;
use orderflow_core::ports::{Clock, Queue};
use orderflow_core::service::OrderService;
use orderflow_worker::notifier::{Attempt, Notifier};
use orderflow_worker::wiring::{self, Timings, Work};
use serde_json::{Value, json};

mod delays;

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

/// What a function runs on: the service, the names, and with `ORDERFLOW_NOTIFY_URL` the
/// notification delivery.
pub struct Functions {
    pub service: Arc<OrderService>,
    pub names: AwsNames,
    pub notify: Option<Arc<NotifyDelivery>>,
}

/// The service on the AWS backend, configured from the environment as the CLI is. With
/// `ORDERFLOW_NOTIFY_URL` (and `ORDERFLOW_NOTIFY_SECRET`, required then), the store keeps
/// the notification outbox and announces events on the notify queue.
///
/// # Errors
/// When a table or queue cannot be reached, or the notify URL comes without a secret.
pub async fn service_from_env() -> Result<Functions, lambda_runtime::Error> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let names = AwsNames::from_env();
    let notify_url = std::env::var("ORDERFLOW_NOTIFY_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let notify_secret = match &notify_url {
        None => None,
        Some(_) => Some(
            std::env::var("ORDERFLOW_NOTIFY_SECRET")
                .ok()
                .filter(|s| !s.is_empty())
                .ok_or("ORDERFLOW_NOTIFY_URL needs ORDERFLOW_NOTIFY_SECRET to sign deliveries")?,
        ),
    };
    let sqs = aws_sdk_sqs::Client::new(&config);
    let (store, queues) = orderflow_aws::connect(
        aws_sdk_dynamodb::Client::new(&config),
        sqs.clone(),
        names.clone(),
        if notify_url.is_some() {
            Notifications::Queued
        } else {
            Notifications::Off
        },
    )
    .await?;
    let store = Arc::new(store);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let notify = match (notify_url, notify_secret) {
        (Some(url), Some(secret)) => Some(Arc::new(NotifyDelivery::new(
            store.clone(),
            Arc::new(SqsQueue::by_name(sqs, &names.notify_queue()).await?),
            clock.clone(),
            &url,
            secret.into_bytes(),
        ))),
        _ => None,
    };
    let defaults = Timings::default();
    let service = wiring::service(
        store,
        queues,
        clock,
        Timings {
            processing: env_duration("ORDERFLOW_PROCESSING_DELAY", defaults.processing),
            refund: env_duration("ORDERFLOW_REFUND_DELAY", defaults.refund),
            payment_timeout: env_duration("ORDERFLOW_PAYMENT_TIMEOUT", defaults.payment_timeout),
            resend_after: env_duration("ORDERFLOW_RESEND_AFTER", defaults.resend_after),
        },
    );
    Ok(Functions {
        service,
        names,
        notify,
    })
}

/// Delivers one order's pending notifications, for the consumer's notify-queue records.
pub struct NotifyDelivery {
    pub store: Arc<DynamoStore>,
    /// The notify queue: a retry is a new message delayed to its time.
    pub queue: Arc<dyn Queue>,
    pub clock: Arc<dyn Clock>,
    pub notifier: Arc<Notifier>,
}

/// What became of an order's notifications for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// Every event so far was accepted (or the order has no outbox).
    AllCaughtUp,
    /// The head was not accepted; a message is queued for its retry time.
    RetryAt(Timestamp),
    /// The head is waiting for a retry that another message is due to bring.
    NotDueYet,
    /// The head was given up (24 hours of failures): an operator sends it again.
    Parked,
}

/// Overdue heads older than this are announced again by the sweeper: their retry message
/// was lost (or the announcement after their event's write).
pub const NOTIFY_GRACE: Duration = Duration::from_secs(60);
/// A message this much ahead of its head's retry time waits for it.
const EARLY: Duration = Duration::from_secs(2);
/// Orders announced again per sweep, at most.
const NOTIFY_SWEEP_LIMIT: usize = 1000;

impl NotifyDelivery {
    pub fn new(
        store: Arc<DynamoStore>,
        queue: Arc<dyn Queue>,
        clock: Arc<dyn Clock>,
        url: &str,
        secret: Vec<u8>,
    ) -> Self {
        // The notifier's own loop is not used here: the queue drives delivery.
        let notifier = Arc::new(Notifier::polling(
            store.clone(),
            Duration::from_secs(1),
            clock.clone(),
            url,
            secret,
        ));
        Self {
            store,
            queue,
            clock,
            notifier,
        }
    }

    /// Deliver the order's pending events in `seq` order until none is left or one is not
    /// accepted; then its retry is a new message delayed to the policy's time. A head that
    /// is not due yet is left to the message that set its time (duplicates collapse).
    ///
    /// # Errors
    /// When the store fails, or the retry message cannot be sent: the record is reported
    /// failed and comes back (and the sweeper finds the order anyway).
    pub async fn deliver_order(&self, id: OrderId) -> Result<Delivered, String> {
        loop {
            let Some(p) = self
                .store
                .pending_notification(id)
                .await
                .map_err(|e| e.to_string())?
            else {
                return Ok(Delivered::AllCaughtUp);
            };
            if p.parked {
                return Ok(Delivered::Parked);
            }
            let early = p.due.as_millis() - self.clock.now().as_millis();
            if early > EARLY.as_millis() as i64 {
                return Ok(Delivered::NotDueYet);
            }
            if early > 0 {
                // A retry message a little ahead of its time (clocks differ by a little):
                // wait, rather than leave it to the sweeper.
                tokio::time::sleep(Duration::from_millis(early as u64)).await;
            }
            match self
                .notifier
                .attempt(&p.notification)
                .await
                .map_err(|e| e.to_string())?
            {
                Attempt::Delivered => {}
                Attempt::Parked => return Ok(Delivered::Parked),
                Attempt::RetryAt(at) => {
                    let wait = at.as_millis() - self.clock.now().as_millis();
                    self.queue
                        .send(
                            &OrderMessage::body(id),
                            Duration::from_millis(wait.max(0) as u64),
                        )
                        .await
                        .map_err(|e| format!("retry message not sent: {e}"))?;
                    return Ok(Delivered::RetryAt(at));
                }
            }
        }
    }

    /// Announce again every order whose head was due more than [`NOTIFY_GRACE`] ago.
    ///
    /// # Errors
    /// When the index or the queue fails; the next sweep tries again.
    pub async fn announce_overdue(&self) -> Result<usize, String> {
        let by =
            Timestamp::from_millis(self.clock.now().as_millis() - NOTIFY_GRACE.as_millis() as i64);
        let ids = self
            .store
            .pending_orders(by, NOTIFY_SWEEP_LIMIT)
            .await
            .map_err(|e| e.to_string())?;
        let bodies: Vec<String> = ids.iter().map(|id| OrderMessage::body(*id)).collect();
        self.queue
            .send_all(&bodies)
            .await
            .map_err(|e| e.to_string())?;
        Ok(ids.len())
    }
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
    notify: Option<&NotifyDelivery>,
    event: SqsEvent,
) -> SqsBatchResponse {
    let handle = |record: SqsMessage| async move {
        let id = record.message_id.clone().unwrap_or_default();
        let body = record.body.clone().unwrap_or_default();
        let queue = queue_of(record.event_source_arn.as_deref());
        let result = if queue == names.refunds_queue() {
            wiring::handle(service, Work::Refunds, &body).await
        } else if queue == names.payments_queue() {
            // A payment delayed beyond SQS's longest delay is reported at its due time.
            let payments = service.queues().payments.as_ref();
            match delays::send_on_if_early(payments, service.clock().now(), &record).await {
                Ok(false) => report_simulated_payment(service, &body).await,
                sent_on => sent_on.map(|_| ()),
            }
        } else if queue == names.notify_queue() {
            // A retry later than SQS's longest delay carries its time in an attribute.
            let not_before = delays::due_time(&record);
            deliver_notifications(notify, &body, not_before).await
        } else {
            wiring::handle(service, Work::Orders, &body).await
        };
        result.err().map(|why| {
            tracing::warn!(message = %id, queue, error = %why, "record not handled");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
    };
    // A batch comes from one queue. Notifications wait on the shop's receiver (up to the
    // HTTP timeout per attempt): a batch of them is delivered concurrently (one order per
    // record), so that a slow receiver does not run the function out of time.
    let notifications = event
        .records
        .first()
        .is_some_and(|r| queue_of(r.event_source_arn.as_deref()) == names.notify_queue());
    let failures: Vec<BatchItemFailure> = if notifications {
        futures_util::future::join_all(event.records.into_iter().map(handle))
            .await
            .into_iter()
            .flatten()
            .collect()
    } else {
        let mut failures = Vec::new();
        for record in event.records {
            failures.extend(handle(record).await);
        }
        failures
    };
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

/// A notify-queue record: deliver that order's pending events.
async fn deliver_notifications(
    notify: Option<&NotifyDelivery>,
    body: &str,
    not_before: Option<Timestamp>,
) -> Result<(), String> {
    let notify = notify.ok_or("a notify message, but ORDERFLOW_NOTIFY_URL is not set")?;
    let id = OrderMessage::parse(body).ok_or("not an order message")?;
    if let Some(wait) = orderflow_aws::sqs::still_to_wait(not_before, notify.clock.now()) {
        // Early: send it on for the rest of its wait (a new message, receive count 1).
        return notify
            .queue
            .send(body, wait)
            .await
            .map_err(|e| e.to_string());
    }
    let outcome = notify.deliver_order(id).await?;
    tracing::debug!(order = %id, ?outcome, "notifications");
    Ok(())
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

/// The scheduled sweep: time out what expired, re-send what waits too long. The two run
/// each on its own (one failing does not hold the other back), and both stop at `stop_at`
/// (the Lambda's deadline less a margin), with what they did committed.
///
/// # Errors
/// When both halves could not even list their orders; the next schedule tries again.
pub async fn handle_schedule(
    service: &OrderService,
    notify: Option<&NotifyDelivery>,
    stop_at: Option<orderflow_core::domain::Timestamp>,
) -> Result<Value, lambda_runtime::Error> {
    let (swept, resent) =
        tokio::join!(service.sweep_once(stop_at), service.resend_awaited(stop_at));
    let announced = match notify {
        Some(n) => n.announce_overdue().await?,
        None => 0,
    };
    let report = json!({
        "timedOut": swept.as_ref().map(|s| s.timed_out).unwrap_or(0),
        "sweepFailed": swept.as_ref().map(|s| s.failed).unwrap_or(0),
        "stoppedEarly": swept.as_ref().is_ok_and(|s| s.stopped_early),
        "resent": resent.as_ref().map(|r| r.orders).unwrap_or(0),
        "resendFailed": resent.as_ref().map(|r| r.failed).unwrap_or(0),
        "notificationsAnnounced": announced,
    });
    tracing::info!(%report, "sweep");
    match (swept, resent) {
        (Err(e), Err(_)) => Err(e.into()),
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => {
            tracing::error!(error = %e, "half of the sweep failed; the next schedule tries again");
            Ok(report)
        }
        (Ok(_), Ok(_)) => Ok(report),
    }
}

/// How long before its deadline a sweep stops, so that it returns before Lambda ends it.
pub const SWEEP_MARGIN: Duration = Duration::from_secs(5);

/// When a sweep invoked with `ctx` stops: its deadline less [`SWEEP_MARGIN`].
pub fn sweep_stop_at(ctx: &lambda_runtime::Context) -> orderflow_core::domain::Timestamp {
    let deadline = i64::try_from(ctx.deadline).unwrap_or(i64::MAX);
    orderflow_core::domain::Timestamp::from_millis(
        deadline.saturating_sub(SWEEP_MARGIN.as_millis() as i64),
    )
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
