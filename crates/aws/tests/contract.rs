//! The contract suites (store, queue, lifecycle, outbox) against the AWS adapters, on the
//! DynamoDB/SQS emulator that `scripts/test` starts (`AWS_ENDPOINT_URL`). Each case gets
//! tables and queues of its own, under a fresh prefix. Without the emulator these tests
//! fail; they never skip.

use std::sync::Arc;
use std::time::Duration;

use orderflow_aws::dynamo::{Messages, Notify};
use orderflow_aws::setup::{QueueSpec, init};
use orderflow_aws::{AwsNames, DynamoStore, SqsQueue};
use orderflow_core::clock::ManualClock;
use orderflow_core::domain::lifecycle::Transition;
use orderflow_core::domain::{
    LimitChange, Order, OrderEvent, OrderId, Product, ProductId, Resend, StockCount, StockShards,
    Timestamp,
};
use orderflow_core::ports::{
    NewOrder, OrderPage, OrderQuery, OrderStore, Placed, Queue, StoreError,
};
use orderflow_core::service::Queues;
use orderflow_core::testing::lifecycle_contract::{LifecycleFixture, START};
use orderflow_core::testing::outbox_contract::OutboxFixture;
use orderflow_core::testing::queue_contract::{Elapse, QueueFixture};

/// Fresh tables and queues under a new prefix.
async fn fresh(spec: QueueSpec) -> (AwsNames, aws_sdk_dynamodb::Client, aws_sdk_sqs::Client) {
    orderflow_aws::emulator::fresh("t", spec).await
}

async fn fresh_dynamo_store() -> (Arc<dyn OrderStore>, ()) {
    let (names, dynamo, _) = fresh(QueueSpec::default()).await;
    let store = DynamoStore::new(dynamo, names).with_retry(orderflow_aws::emulator::retry_policy());
    (Arc::new(store), ())
}

async fn fresh_dynamo_outbox() -> (OutboxFixture, ()) {
    let (names, dynamo, _) = fresh(QueueSpec::default()).await;
    let store = Arc::new(DynamoStore::new(dynamo, names).with_notifications(Notify::default()));
    let fixture = OutboxFixture {
        store: store.clone(),
        outbox: store,
    };
    (fixture, ())
}

/// The store with every product's stock spread over [`SHARDS`] items as soon as it is
/// set: the whole store contract suite then runs on sharded stock.
struct Sharded(DynamoStore);

const SHARDS: i64 = 4;

#[async_trait::async_trait]
impl OrderStore for Sharded {
    async fn place_order(&self, new: NewOrder) -> Result<Placed, StoreError> {
        self.0.place_order(new).await
    }
    async fn get_order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        self.0.get_order(id).await
    }
    async fn order_events(&self, id: OrderId) -> Result<Vec<OrderEvent>, StoreError> {
        self.0.order_events(id).await
    }
    async fn list_orders(&self, query: &OrderQuery) -> Result<OrderPage, StoreError> {
        self.0.list_orders(query).await
    }
    async fn apply(&self, t: &Transition) -> Result<(), StoreError> {
        self.0.apply(t).await
    }
    async fn apply_each(&self, ts: &[Transition]) -> Vec<Result<(), StoreError>> {
        self.0.apply_each(ts).await
    }
    async fn expired_unpaid(&self, now: Timestamp, limit: usize) -> Result<Vec<Order>, StoreError> {
        self.0.expired_unpaid(now, limit).await
    }
    async fn awaiting_message(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        self.0.awaiting_message(now, limit).await
    }
    async fn rescheduled(&self, order: &Order, resend: Resend) -> Result<(), StoreError> {
        self.0.rescheduled(order, resend).await
    }
    async fn put_product(
        &self,
        id: &ProductId,
        stock: StockCount,
        limit: LimitChange,
    ) -> Result<Product, StoreError> {
        let product = self.0.put_product(id, stock, limit).await?;
        self.0
            .spread_stock(id, StockShards::new(SHARDS).unwrap())
            .await?;
        // Spreading moves units between shards, never in or out: the sums are as set.
        let spread = self.0.get_product(id).await?.expect("just set");
        assert_eq!(spread, product, "spreading changed the product");
        Ok(spread)
    }
    async fn spread_stock(&self, id: &ProductId, shards: StockShards) -> Result<(), StoreError> {
        self.0.spread_stock(id, shards).await
    }
    async fn get_product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        self.0.get_product(id).await
    }
    async fn list_products(&self) -> Result<Vec<Product>, StoreError> {
        self.0.list_products().await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.0.ping().await
    }
}

async fn fresh_sharded_store() -> (Arc<dyn OrderStore>, ()) {
    let (names, dynamo, _) = fresh(QueueSpec::default()).await;
    let store = DynamoStore::new(dynamo, names).with_retry(orderflow_aws::emulator::retry_policy());
    (Arc::new(Sharded(store)), ())
}

/// Real time: SQS's timeouts run on the server's clock.
struct RealTime;

#[async_trait::async_trait]
impl Elapse for RealTime {
    async fn elapse(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

const FAST: QueueSpec = QueueSpec {
    visibility_timeout: Duration::from_secs(1),
    max_receives: 3,
};

async fn fresh_sqs_queue() -> (QueueFixture, ()) {
    let (names, _, sqs) = fresh(FAST).await;
    let queue = SqsQueue::by_name(sqs.clone(), &names.queue).await.unwrap();
    let dead = SqsQueue::by_name(sqs, &AwsNames::dead_letters(&names.queue))
        .await
        .unwrap();
    let fixture = QueueFixture {
        queue: Arc::new(queue),
        dead_letters: Arc::new(dead),
        time: Arc::new(RealTime),
        visibility: FAST.visibility_timeout,
        max_receives: FAST.max_receives,
    };
    (fixture, ())
}

/// The lifecycle's queues over `names`.
async fn queues(names: &AwsNames, sqs: &aws_sdk_sqs::Client) -> Queues {
    let queue = |name: String| {
        let sqs = sqs.clone();
        async move { Arc::new(SqsQueue::by_name(sqs, &name).await.unwrap()) as Arc<dyn Queue> }
    };
    Queues {
        orders: queue(names.queue.clone()).await,
        refunds: queue(names.refunds_queue()).await,
        payments: queue(names.payments_queue()).await,
    }
}

async fn fresh_aws_backend() -> (LifecycleFixture, ()) {
    let (names, dynamo, sqs) = fresh(QueueSpec::default()).await;
    let queues = queues(&names, &sqs).await;
    let fixture = LifecycleFixture {
        store: Arc::new(DynamoStore::new(dynamo, names).with_messages(Messages {
            orders: queues.orders.clone(),
            refunds: queues.refunds.clone(),
        })),
        queues,
        clock: Arc::new(ManualClock::new(START)),
    };
    (fixture, ())
}

mod store {
    orderflow_core::store_contract_suite!(super::fresh_dynamo_store);
}

/// The same cases with every product's stock on several shards.
mod sharded_store {
    orderflow_core::store_contract_suite!(super::fresh_sharded_store);
}

mod queue {
    orderflow_core::queue_contract_suite!(super::fresh_sqs_queue);
}

mod lifecycle {
    orderflow_core::lifecycle_contract_suite!(super::fresh_aws_backend);
}

mod outbox {
    orderflow_core::outbox_contract_suite!(super::fresh_dynamo_outbox);
}

/// `aws init` on an orders table made before notifications adds their index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_adds_the_notify_index_to_an_older_orders_table() {
    use aws_sdk_dynamodb::types::{DeleteGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate};
    let (names, dynamo, sqs) = fresh(QueueSpec::default()).await;
    let indexes = || async {
        dynamo
            .describe_table()
            .table_name(&names.orders_table)
            .send()
            .await
            .unwrap()
            .table
            .unwrap()
            .global_secondary_indexes
            .unwrap_or_default()
            .iter()
            .filter_map(|i| i.index_name().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    dynamo
        .update_table()
        .table_name(&names.orders_table)
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .delete(
                    DeleteGlobalSecondaryIndexAction::builder()
                        .index_name(orderflow_aws::outbox::NOTIFY_PENDING)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(!indexes().await.iter().any(|i| i == "notifyPending"));
    init(&dynamo, &sqs, &names, QueueSpec::default())
        .await
        .expect("aws init again");
    assert!(indexes().await.iter().any(|i| i == "notifyPending"));
}

/// A refund whose SQS message is lost after its state was written (the store's send fails:
/// injected through the queue port, as SQS cannot be made to drop a send) is found again
/// by the sweeper and completes; until then a retried webhook is a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_whose_send_failed_after_its_write_completes_after_the_next_sweep() {
    use orderflow_core::domain::lifecycle::{PaymentOutcome, WebhookOutcome};
    use orderflow_core::domain::{LimitChange, ProductId, StockCount, UserId};
    use orderflow_core::service::refunds::RefundWork;
    use orderflow_core::service::{Gateways, OrderService, PlaceOrder, Settings};
    use orderflow_core::testing::FailingSends;
    use orderflow_core::testing::lifecycle_contract::{InstantRefunds, InstantWork};

    let (names, dynamo, sqs) = fresh(QueueSpec::default()).await;
    let queues = queues(&names, &sqs).await;
    let store = DynamoStore::new(dynamo, names).with_messages(Messages {
        orders: queues.orders.clone(),
        refunds: Arc::new(FailingSends(queues.refunds.clone())),
    });
    let clock = Arc::new(ManualClock::new(START));
    let service = OrderService::new(
        Arc::new(store),
        queues.clone(),
        Gateways {
            processor: Arc::new(InstantWork::default()),
            refunds: Arc::new(InstantRefunds::default()),
        },
        clock.clone(),
        Settings::default(),
    );
    let p = ProductId::parse("p").unwrap();
    service
        .set_stock(&p, StockCount::new(5).unwrap(), LimitChange::Keep, None)
        .await
        .unwrap();
    let o = service
        .place_order(
            PlaceOrder {
                user_id: UserId::parse("u").unwrap(),
                lines: orderflow_core::testing::lines(&[("p", 1)]),
            },
            None,
        )
        .await
        .unwrap();
    clock.advance(Duration::from_secs(30 * 60 + 1));
    assert_eq!(service.sweep_once(None).await.unwrap().timed_out, 1);
    let (_, outcome) = service
        .handle_payment(o.id, PaymentOutcome::Success, None)
        .await
        .unwrap();
    assert_eq!(outcome, WebhookOutcome::RefundInitiated);
    assert!(
        queues
            .refunds
            .receive(10, Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
    let (_, outcome) = service
        .handle_payment(o.id, PaymentOutcome::Success, None)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        WebhookOutcome::Duplicate,
        "a retried webhook changes nothing"
    );

    clock.advance(Duration::from_secs(121));
    let resent = service.resend_awaited(None).await.unwrap();
    assert_eq!((resent.orders, resent.failed), (1, 0));
    let sent = queues
        .refunds
        .receive(10, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        service.complete_refund(&sent[0].body).await.unwrap(),
        RefundWork::Completed
    );
}
