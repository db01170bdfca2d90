//! The Lambda handlers, invoked with real event payloads (SQS batch, EventBridge
//! schedule), on the backend they are deployed with: DynamoDB and SQS, on the emulator
//! that `scripts/test` starts (`AWS_ENDPOINT_URL`; without it these tests fail, they never
//! skip), under tables and queues of their own. The clock is a manual one: what is tested
//! here is the handlers' part, the routing and the partial batch response.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use orderflow_aws::dynamo::Messages;
use orderflow_aws::setup::{QueueSpec, init};
use orderflow_aws::{AwsNames, DynamoStore, SqsQueue};
use orderflow_core::clock::ManualClock;
use orderflow_core::domain::lifecycle::PaymentOutcome;
use orderflow_core::domain::{LimitChange, Lines, ProductId, UserId};
use orderflow_core::domain::{OrderStatus, Quantity, RefundStatus, StockCount, Timestamp};
use orderflow_core::messages::OrderMessage;
use orderflow_core::ports::{Clock, Queue};
use orderflow_core::service::{OrderService, PlaceOrder, Queues};
use orderflow_worker::wiring::{self, Timings};
use serde_json::json;

const T0: Timestamp = Timestamp::from_millis(1_790_000_000_000);

struct World {
    service: Arc<OrderService>,
    clock: Arc<ManualClock>,
    names: AwsNames,
}

/// Fresh tables and queues (made by `orderflow aws init`'s functions under a prefix of
/// their own), the service over them as the Lambda functions wire it, with no simulated
/// work or refund time.
async fn world() -> World {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "AWS_ENDPOINT_URL is not set: run these through scripts/test, which starts the emulator"
    );
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let (dynamo, sqs) = (
        aws_sdk_dynamodb::Client::new(&config),
        aws_sdk_sqs::Client::new(&config),
    );
    let prefix = format!("h{}-", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let names = AwsNames::prefixed(&prefix);
    init(&dynamo, &sqs, &names, QueueSpec::default())
        .await
        .expect("aws init");
    let clock = Arc::new(ManualClock::new(T0));
    let q = |name: String| {
        let sqs = sqs.clone();
        async move { Arc::new(SqsQueue::by_name(sqs, &name).await.unwrap()) as Arc<dyn Queue> }
    };
    let queues = Queues {
        orders: q(names.queue.clone()).await,
        refunds: q(names.refunds_queue()).await,
        payments: q(names.payments_queue()).await,
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
            ..Timings::default()
        },
    );
    World {
        service,
        clock,
        names,
    }
}

async fn placed(w: &World) -> orderflow_core::domain::Order {
    let p = ProductId::parse("p").unwrap();
    w.service
        .set_stock(&p, StockCount::new(10).unwrap(), LimitChange::Keep)
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
