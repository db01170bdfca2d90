//! The Lambda handlers, invoked with real event payloads (SQS batch, EventBridge
//! schedule). The service under them runs on the embedded store with a manual clock: what
//! is tested here is the handlers' part, the routing and the partial batch response.

use orderflow_core::domain::UserId;
use orderflow_core::domain::{LimitChange, Lines, ProductId};
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use orderflow_aws::AwsNames;
use orderflow_core::clock::ManualClock;
use orderflow_core::domain::lifecycle::PaymentOutcome;
use orderflow_core::domain::{OrderStatus, Quantity, RefundStatus, StockCount, Timestamp};
use orderflow_core::messages::OrderMessage;
use orderflow_core::ports::Clock;
use orderflow_core::service::{Gateways, OrderService, PlaceOrder, Queues, Settings};
use orderflow_sqlite::queue::{ORDERS_QUEUE, PAYMENTS_QUEUE, REFUNDS_QUEUE};
use orderflow_sqlite::{QueueSettings, SqliteStore};
use orderflow_worker::simulated::{MockRefundGateway, SimulatedWork};
use serde_json::json;

struct World {
    service: OrderService,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_790_000_000_000)));
    let q = |name| Arc::new(store.queue(name, QueueSettings::default(), clock.clone()));
    let queues = Queues {
        orders: q(ORDERS_QUEUE),
        refunds: q(REFUNDS_QUEUE),
        payments: q(PAYMENTS_QUEUE),
    };
    let service = OrderService::new(
        Arc::new(store),
        queues,
        Gateways {
            processor: Arc::new(SimulatedWork {
                delay: Duration::ZERO,
            }),
            refunds: Arc::new(MockRefundGateway {
                delay: Duration::ZERO,
            }),
        },
        clock.clone(),
        Settings::default(),
    );
    World {
        service,
        clock,
        _dir: dir,
    }
}

/// The queue names the fixtures' ARNs end with.
fn names() -> AwsNames {
    AwsNames::prefixed("orderflow-")
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

fn event(file: &str, replacements: &[(&str, String)]) -> String {
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
    text
}

#[tokio::test]
async fn an_sqs_batch_with_one_bad_record_reports_exactly_that_record() {
    let w = world();
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
    );
    let batch: SqsEvent = serde_json::from_str(&json).unwrap();
    let response = orderflow_lambda::handle_sqs(&w.service, &names(), None, batch).await;

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

#[tokio::test]
async fn a_scheduled_event_sweeps() {
    let w = world();
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
        serde_json::from_str(&event("scheduled.json", &[])).unwrap();
    assert_eq!(event.detail_type, "Scheduled Event");
}
