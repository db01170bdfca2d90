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
//!
//! At cold start ([`service_from_env`]) each function reads only what it uses: the API its
//! webhook secret and admin token, the consumer the notify secret (it alone signs
//! deliveries), each from its plain variable or from the Parameter Store parameter that
//! `<variable>_PARAMETER` names ([`config`]); and the queues' URLs from
//! `ORDERFLOW_QUEUE_URL` (the others derived from it) or, without it, looked up by name.

pub mod config;

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use orderflow_aws::dynamo::{Messages, Notify};
use orderflow_aws::{AwsNames, DynamoStore, SqsQueue};
use orderflow_core::clock::SystemClock;
use orderflow_core::domain::lifecycle::PaymentOutcome;
use orderflow_core::domain::{OrderId, Timestamp};
use orderflow_core::messages::OrderMessage;
use orderflow_core::messages::SimulatedPayment;
use orderflow_core::ports::{Clock, Queue};
use orderflow_core::service::{OrderService, Queues};
use orderflow_worker::notifier::{Attempt, Notifier};
use orderflow_worker::wiring::{self, Timings, Work};
use serde_json::{Value, json};

mod delays;

/// A duration from the environment (`2s`, `500ms`, `1m30s`: as the command line takes
/// them), or `default` when unset.
///
/// # Errors
/// A value that is not a duration: the cold start fails and says which variable, rather
/// than run with a default nobody chose.
fn env_duration(name: &str, default: Duration) -> Result<Duration, String> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => parse_duration(&v)
            .ok_or_else(|| format!("{name}={v:?} is not a duration (examples: 500ms, 2s, 30m)")),
    }
}

fn parse_duration(s: &str) -> Option<Duration> {
    humantime::parse_duration(s.trim()).ok()
}

/// Which function is starting: it decides which secrets are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Api,
    Consumer,
    Sweeper,
}

/// The API's credentials, as configured (checked by `Secret::from_config` in the API).
#[derive(Default)]
pub struct ApiSecrets {
    pub webhook_secret: Option<String>,
    pub admin_token: Option<String>,
}

/// What a function runs on: the service, the names, with `ORDERFLOW_NOTIFY_URL` the
/// notification delivery, and for the API its secrets.
pub struct Functions {
    pub service: Arc<OrderService>,
    pub names: AwsNames,
    pub notify: Option<Arc<NotifyDelivery>>,
    pub api: ApiSecrets,
}

pub const WEBHOOK_SECRET: &str = "ORDERFLOW_WEBHOOK_SECRET";
pub const ADMIN_TOKEN: &str = "ORDERFLOW_ADMIN_TOKEN";
pub const NOTIFY_SECRET: &str = "ORDERFLOW_NOTIFY_SECRET";

/// The service on the AWS backend, configured from the environment as the CLI is, once per
/// cold start. Secrets come from their variables or from Parameter Store
/// ([`config::secret`]): the API's webhook secret and admin token, and with
/// `ORDERFLOW_NOTIFY_URL` the consumer's notify secret (required then). The other
/// functions keep the outbox and announce events without it: they never sign.
///
/// # Errors
/// When a secret is misconfigured or cannot be read, or a table or queue cannot be reached.
pub async fn service_from_env(function: Function) -> Result<Functions, lambda_runtime::Error> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let ssm = aws_sdk_ssm::Client::new(&config);
    let env = |k: &str| std::env::var(k).ok();
    // Secrets first: a configuration error stops the start before anything else is asked.
    let api = match function {
        Function::Api => ApiSecrets {
            webhook_secret: config::secret(&ssm, WEBHOOK_SECRET, env).await?,
            admin_token: config::secret(&ssm, ADMIN_TOKEN, env).await?,
        },
        _ => ApiSecrets::default(),
    };
    let notify_url = env("ORDERFLOW_NOTIFY_URL").filter(|u| !u.is_empty());
    let notify_secret = match (&notify_url, function) {
        (Some(_), Function::Consumer) => match config::secret(&ssm, NOTIFY_SECRET, env).await? {
            None => {
                return Err(format!(
                    "ORDERFLOW_NOTIFY_URL needs {NOTIFY_SECRET} (or {}) to sign deliveries",
                    config::parameter_var(NOTIFY_SECRET)
                )
                .into());
            }
            Some(s) if s.trim().is_empty() => {
                return Err(
                    format!("{NOTIFY_SECRET} is set but empty: set a long random value").into(),
                );
            }
            Some(s) => Some(s),
        },
        _ => None,
    };
    let sqs = aws_sdk_sqs::Client::new(&config);
    let (names, urls) = config::queues(&sqs, AwsNames::from_env(), env).await?;
    let notify_queue = Arc::new(SqsQueue::new(sqs.clone(), urls.notify.clone())) as Arc<dyn Queue>;
    let queues = Queues {
        orders: Arc::new(SqsQueue::new(sqs.clone(), urls.orders)),
        refunds: Arc::new(SqsQueue::new(sqs.clone(), urls.refunds)),
        payments: Arc::new(SqsQueue::new(sqs, urls.payments)),
    };
    let mut store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), names.clone())
        .with_messages(Messages {
            orders: queues.orders.clone(),
            refunds: queues.refunds.clone(),
        });
    if notify_url.is_some() {
        // Every function that writes orders keeps the outbox and announces its events.
        store = store.with_notifications(Notify {
            queue: Some(notify_queue.clone()),
        });
    }
    let store = Arc::new(store);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let notify = notify_url.map(|url| {
        Arc::new(match notify_secret {
            Some(secret) => NotifyDelivery::new(
                store.clone(),
                notify_queue,
                clock.clone(),
                &url,
                secret.into_bytes(),
            ),
            None => NotifyDelivery::announcing(store.clone(), notify_queue, clock.clone()),
        })
    });
    let defaults = Timings::default();
    let service = wiring::service(
        store,
        queues,
        clock,
        Timings {
            processing: env_duration("ORDERFLOW_PROCESSING_DELAY", defaults.processing)?,
            refund: env_duration("ORDERFLOW_REFUND_DELAY", defaults.refund)?,
            payment_timeout: env_duration("ORDERFLOW_PAYMENT_TIMEOUT", defaults.payment_timeout)?,
            resend_after: env_duration("ORDERFLOW_RESEND_AFTER", defaults.resend_after)?,
        },
    );
    Ok(Functions {
        service,
        names,
        notify,
        api,
    })
}

/// Delivers one order's pending notifications, for the consumer's notify-queue records.
pub struct NotifyDelivery {
    pub store: Arc<DynamoStore>,
    /// The notify queue: a retry is a new message delayed to its time.
    pub queue: Arc<dyn Queue>,
    pub clock: Arc<dyn Clock>,
    /// Signs and sends; `None` in the functions that only announce (the API, the sweeper),
    /// which are never given the notify secret.
    pub notifier: Option<Arc<Notifier>>,
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
            notifier: Some(notifier),
        }
    }

    /// Without a notifier: announces orders on the queue (the sweeper) and serves the
    /// outbox (the API), but delivers nothing.
    pub fn announcing(
        store: Arc<DynamoStore>,
        queue: Arc<dyn Queue>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            queue,
            clock,
            notifier: None,
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
        let notifier = self
            .notifier
            .as_ref()
            .ok_or("this function has no notify secret: it does not deliver notifications")?;
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
            match notifier
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
    // Its failure is logged and reported, never made the whole invocation's: the sweep
    // and the re-sends are done and committed.
    let announced = match notify {
        Some(n) => n.announce_overdue().await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "announcing overdue notifications failed; the next sweep tries again");
            0
        }),
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
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("soon"), None);
        assert!(env_duration("ORDERFLOW_TEST_UNSET_DURATION", Duration::ZERO).is_ok());
    }

    #[tokio::test]
    async fn a_function_without_the_notify_secret_announces_but_never_delivers() {
        // Clients of an address nothing listens on: the refusal comes before any call.
        let region = aws_sdk_dynamodb::config::Region::new("us-east-1");
        let dynamo = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                .region(region.clone())
                .endpoint_url("http://127.0.0.1:9")
                .build(),
        );
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::Config::builder()
                .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
                .region(region)
                .endpoint_url("http://127.0.0.1:9")
                .build(),
        );
        let delivery = NotifyDelivery::announcing(
            Arc::new(DynamoStore::new(dynamo, AwsNames::prefixed("t-"))),
            Arc::new(SqsQueue::new(
                sqs,
                "http://127.0.0.1:9/1/t-orders-notify".into(),
            )),
            Arc::new(SystemClock),
        );
        let e = delivery
            .deliver_order(OrderId::new_random())
            .await
            .unwrap_err();
        assert!(e.contains("notify secret"), "{e}");
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
