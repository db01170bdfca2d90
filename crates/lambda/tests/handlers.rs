//! The Lambda handlers, invoked with real event payloads (SQS batch, EventBridge
//! schedule), on the backend they are deployed with: DynamoDB and SQS, on the emulator
//! that `scripts/test` starts (`AWS_ENDPOINT_URL`; without it these tests fail, they never
//! skip), under tables and queues of their own. The clock is a manual one: what is tested
//! here is the handlers' part, the routing, the partial batch response and delays beyond
//! SQS's 15 minutes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_sqs::types::QueueAttributeName;
use orderflow_aws::dynamo::Messages;
use orderflow_aws::setup::QueueSpec;
use orderflow_aws::sqs::NOT_BEFORE;
use orderflow_aws::{AwsNames, DynamoStore, SqsQueue};
use orderflow_core::clock::ManualClock;
use orderflow_core::domain::lifecycle::PaymentOutcome;
use orderflow_core::domain::{LimitChange, Lines, ProductId, UserId};
use orderflow_core::domain::{
    OrderStatus, PaymentStatus, Quantity, RefundStatus, StockCount, Timestamp,
};
use orderflow_core::messages::OrderMessage;
use orderflow_core::ports::{Clock, Delivery, Queue, StoreError};
use orderflow_core::service::{OrderService, PlaceOrder, Queues};
use orderflow_worker::wiring::{self, Timings};
use serde_json::json;

const T0: Timestamp = Timestamp::from_millis(1_790_000_000_000);

/// The payments queue as the service sees it, with every send recorded (SQS keeps a
/// delayed message out of sight, so the test reads what was sent here).
struct Recorded {
    inner: Arc<dyn Queue>,
    sends: Mutex<Vec<(String, Duration)>>,
}

#[async_trait::async_trait]
impl Queue for Recorded {
    async fn send(&self, body: &str, delay: Duration) -> Result<(), StoreError> {
        self.sends.lock().unwrap().push((body.to_owned(), delay));
        self.inner.send(body, delay).await
    }
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, StoreError> {
        self.inner.receive(max, wait).await
    }
    async fn delete(&self, receipt: &str) -> Result<(), StoreError> {
        self.inner.delete(receipt).await
    }
    async fn release(&self, receipt: &str, delay: Duration) -> Result<(), StoreError> {
        self.inner.release(receipt, delay).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

struct World {
    service: Arc<OrderService>,
    clock: Arc<ManualClock>,
    names: AwsNames,
    sqs: aws_sdk_sqs::Client,
    payments: Arc<Recorded>,
}

/// Fresh tables and queues (made by `orderflow aws init`'s functions under a prefix of
/// their own), the service over them as the Lambda functions wire it, with no simulated
/// work or refund time, and the contract's 30 minutes to pay. The queues reckon due times
/// on the manual clock too.
async fn world() -> World {
    world_paying_within(Timings::default().payment_timeout).await
}

async fn world_paying_within(payment_timeout: Duration) -> World {
    let (names, dynamo, sqs) = orderflow_aws::emulator::fresh("h", QueueSpec::default()).await;
    let clock = Arc::new(ManualClock::new(T0));
    let q = |name: String| {
        let (sqs, clock) = (sqs.clone(), clock.clone());
        async move {
            Arc::new(
                SqsQueue::by_name(sqs, &name)
                    .await
                    .unwrap()
                    .with_clock(clock),
            ) as Arc<dyn Queue>
        }
    };
    let payments = Arc::new(Recorded {
        inner: q(names.payments_queue()).await,
        sends: Mutex::new(Vec::new()),
    });
    let queues = Queues {
        orders: q(names.queue.clone()).await,
        refunds: q(names.refunds_queue()).await,
        payments: payments.clone(),
    };
    let store = DynamoStore::new(dynamo, names.clone()).with_messages(Messages {
        orders: queues.orders.clone(),
        refunds: queues.refunds.clone(),
    });
    let service = wiring::service(
        Arc::new(store),
        queues,
        clock.clone(),
        Timings {
            processing: Duration::ZERO,
            refund: Duration::ZERO,
            payment_timeout,
            ..Timings::default()
        },
    );
    World {
        service,
        clock,
        names,
        sqs,
        payments,
    }
}

impl World {
    /// The ARN of one of this world's queues, as Lambda's records name their source.
    fn arn(&self, queue: &str) -> String {
        format!("arn:aws:sqs:us-east-1:123456789012:{queue}")
    }

    /// Messages of the payments queue that SQS holds back for their delay.
    async fn payments_delayed(&self) -> usize {
        let url = self
            .sqs
            .get_queue_url()
            .queue_name(self.names.payments_queue())
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap();
        attrs[&QueueAttributeName::ApproximateNumberOfMessagesDelayed]
            .parse()
            .unwrap()
    }
}

async fn placed(w: &World) -> orderflow_core::domain::Order {
    let p = ProductId::parse("p").unwrap();
    w.service
        .set_stock(&p, StockCount::new(10).unwrap(), LimitChange::Keep, None)
        .await
        .unwrap();
    w.service
        .place_order(
            PlaceOrder {
                user_id: UserId::parse("u").unwrap(),
                lines: Lines::one(p, Quantity::new(2).unwrap()),
            },
            None,
        )
        .await
        .unwrap()
}

/// A fixture event with its placeholders filled in, and its queue ARNs (which end with
/// the default names, `orderflow-orders…`) moved to `names`' queues.
fn event(file: &str, replacements: &[(&str, String)], names: &AwsNames) -> String {
    let mut text = std::fs::read_to_string(format!(
        "{}/tests/events/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    for (from, to) in replacements {
        // Message bodies are JSON inside a JSON string.
        let escaped = serde_json::to_string(to).unwrap();
        text = text.replace(&format!("\"{from}\""), &escaped);
    }
    text.replace(":orderflow-orders", &format!(":{}", names.queue))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqs_batch_with_one_bad_record_reports_exactly_that_record() {
    let w = world().await;
    let paid = placed(&w).await;
    w.service
        .handle_payment(paid.id, PaymentOutcome::Success, None)
        .await
        .unwrap();
    let refunded = placed(&w).await;
    w.service
        .handle_payment(refunded.id, PaymentOutcome::Failed, None)
        .await
        .unwrap();
    w.service
        .handle_payment(refunded.id, PaymentOutcome::Success, None)
        .await
        .unwrap();

    let json = event(
        "sqs-batch.json",
        &[
            ("__ORDER_MESSAGE__", OrderMessage::body(paid.id)),
            ("__REFUND_MESSAGE__", OrderMessage::body(refunded.id)),
        ],
        &w.names,
    );
    let batch: SqsEvent = serde_json::from_str(&json).unwrap();
    let response = orderflow_lambda::handle_sqs(&w.service, &w.names, None, batch).await;

    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["2e1424d4-f796-459a-8184-9c92662be6da"]);
    let out = serde_json::to_value(&response).unwrap();
    assert_eq!(
        out["batchItemFailures"][0]["itemIdentifier"],
        "2e1424d4-f796-459a-8184-9c92662be6da"
    );
    // The good records did their work: one order completed, one refund completed.
    let paid = w.service.get_order(paid.id).await.unwrap();
    assert_eq!(paid.state.status, OrderStatus::Completed);
    let refunded = w.service.get_order(refunded.id).await.unwrap();
    assert_eq!(refunded.state.refund, RefundStatus::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_event_sweeps() {
    let w = world().await;
    let o = placed(&w).await;
    w.clock.advance(Duration::from_secs(30 * 60 + 1));
    // At its deadline already: nothing is started, and it says so.
    let out = orderflow_lambda::handle_schedule(&w.service, None, Some(w.clock.now()))
        .await
        .unwrap();
    assert_eq!(
        (&out["timedOut"], &out["stoppedEarly"]),
        (&json!(0), &json!(true))
    );
    let out = orderflow_lambda::handle_schedule(&w.service, None, None)
        .await
        .unwrap();
    assert_eq!(out["timedOut"], 1);
    let o = w.service.get_order(o.id).await.unwrap();
    assert_eq!(o.state.status, OrderStatus::Timeout);
}

/// A payments-queue record as Lambda hands it over, with the due-time attribute when
/// `due` is set.
fn payment_record(w: &World, id: &str, body: &str, due: Option<Timestamp>) -> SqsEvent {
    let mut attributes = serde_json::Map::new();
    if let Some(at) = due {
        attributes.insert(
            NOT_BEFORE.to_owned(),
            json!({ "stringValue": at.as_millis().to_string(), "dataType": "Number" }),
        );
    }
    serde_json::from_value(json!({ "Records": [{
        "messageId": id,
        "receiptHandle": format!("receipt-{id}"),
        "body": body,
        "attributes": { "ApproximateReceiveCount": "1" },
        "messageAttributes": attributes,
        "eventSource": "aws:sqs",
        "eventSourceARN": w.arn(&w.names.payments_queue()),
        "awsRegion": "us-east-1",
    }]}))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_delayed_30_minutes_is_sent_on_at_15_and_reported_once_due() {
    // Time to pay outlasts the delay: the report is on time.
    let w = world_paying_within(Duration::from_secs(2 * 3600)).await;
    let o = placed(&w).await;
    // The simulated gateway is asked at T0 for a success in 30 minutes: SQS delays the
    // message its longest, 15 minutes, and the due time rides in the attribute.
    w.service
        .simulate_payment(o.id, PaymentOutcome::Success, Duration::from_secs(30 * 60))
        .await
        .unwrap();
    let (body, delay) = w.payments.sends.lock().unwrap()[0].clone();
    assert_eq!(delay, Duration::from_secs(30 * 60));
    let due = T0.plus(Duration::from_secs(30 * 60));
    assert_eq!(w.payments_delayed().await, 1);

    // 15 minutes later SQS hands it to the consumer: not due, so not reported; a new
    // message is sent with the remaining 15 minutes, and this record is acknowledged.
    w.clock.advance(Duration::from_secs(15 * 60));
    let early = payment_record(&w, "first-visible", &body, Some(due));
    let response = orderflow_lambda::handle_sqs(&w.service, &w.names, None, early).await;
    assert!(response.batch_item_failures.is_empty(), "acknowledged");
    let order = w.service.get_order(o.id).await.unwrap();
    assert_eq!(
        order.state.payment,
        PaymentStatus::Pending,
        "not reported yet"
    );
    assert_eq!(
        w.payments.sends.lock().unwrap()[1..],
        [(body.clone(), Duration::from_secs(15 * 60))],
        "sent on for the rest of its wait"
    );
    assert_eq!(
        w.payments_delayed().await,
        2,
        "the new message waits in SQS"
    );

    // Its due time has passed when the new message comes: reported.
    w.clock.set(due.plus(Duration::from_secs(1)));
    let due_now = payment_record(&w, "second-visible", &body, Some(due));
    let response = orderflow_lambda::handle_sqs(&w.service, &w.names, None, due_now).await;
    assert!(response.batch_item_failures.is_empty());
    let order = w.service.get_order(o.id).await.unwrap();
    assert_eq!(
        order.state.payment,
        PaymentStatus::Success,
        "reported at its time"
    );
    assert_eq!(
        order.state.status,
        OrderStatus::Pending,
        "paid, waiting for the consumer"
    );
    assert_eq!(
        w.payments.sends.lock().unwrap().len(),
        2,
        "not sent on again"
    );
}

/// More than 15 minutes still to wait: the new message is delayed 15 minutes, and the
/// queue carries the due time on (the attribute is reckoned on the same clock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_with_more_than_15_minutes_left_is_sent_on_with_the_rest() {
    let w = world().await;
    let o = placed(&w).await;
    let body = serde_json::to_string(&orderflow_core::messages::SimulatedPayment::new(
        o.id,
        PaymentOutcome::Failed,
    ))
    .unwrap();
    let due = T0.plus(Duration::from_secs(60 * 60));
    w.clock.advance(Duration::from_secs(15 * 60));
    let early = payment_record(&w, "early", &body, Some(due));
    let response = orderflow_lambda::handle_sqs(&w.service, &w.names, None, early).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        *w.payments.sends.lock().unwrap(),
        [(body, Duration::from_secs(45 * 60))]
    );
    assert_eq!(w.payments_delayed().await, 1);
    let order = w.service.get_order(o.id).await.unwrap();
    assert_eq!(order.state.payment, PaymentStatus::Pending);
}

#[test]
fn a_sweep_stops_a_margin_before_its_lambda_deadline() {
    let mut ctx = lambda_runtime::Context::default();
    ctx.deadline = 1_790_000_060_000;
    assert_eq!(
        orderflow_lambda::sweep_stop_at(&ctx).as_millis(),
        1_790_000_060_000 - orderflow_lambda::SWEEP_MARGIN.as_millis() as i64
    );
}

#[test]
fn an_eventbridge_schedule_event_is_what_the_sweeper_function_takes() {
    let event: aws_lambda_events::event::eventbridge::EventBridgeEvent<serde_json::Value> =
        serde_json::from_str(&event(
            "scheduled.json",
            &[],
            &AwsNames::prefixed("orderflow-"),
        ))
        .unwrap();
    assert_eq!(event.detail_type, "Scheduled Event");
}
