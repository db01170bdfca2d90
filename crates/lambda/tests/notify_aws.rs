//! Notifications on the AWS backend, on the DynamoDB/SQS emulator that `scripts/test`
//! starts (`AWS_ENDPOINT_URL`), with a real HTTP receiver on loopback and a manual clock:
//! the outbox on the order items driven by the same [`Notifier`] as the embedded backend
//! (what `orderflow serve --backend aws` runs), and by the Lambda consumer and sweeper
//! through the notify queue. Without the emulator these tests fail; they never skip.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use orderflow_aws::dynamo::Notify;
use orderflow_aws::setup::QueueSpec;
use orderflow_aws::{AwsNames, DynamoStore, SqsQueue};
use orderflow_core::clock::ManualClock;
use orderflow_core::domain::notify::RETRY_FOR;
use orderflow_core::domain::{Order, OrderId, Timestamp};
use orderflow_core::ports::{Clock, OrderStore, Outbox, Queue, StoreError};
use orderflow_core::service::Queues;
use orderflow_core::signature;
use orderflow_core::testing;
use orderflow_lambda::{Delivered, NOTIFY_GRACE, NotifyDelivery};
use orderflow_worker::notifier::Notifier;
use orderflow_worker::wiring::{self, Timings};
use serde_json::Value;

const T0: Timestamp = Timestamp::from_millis(1_790_000_000_000);
const SECRET: &[u8] = b"notify-secret-0123456789";

/// Refuses each id's first `refuse` attempts (while `down`, all of them); records what it
/// accepted, in arrival order. Every request must be signed.
#[derive(Default)]
struct Receiver {
    refuse: usize,
    down: Mutex<bool>,
    tries: Mutex<HashMap<String, usize>>,
    accepted: Mutex<Vec<Value>>,
}

async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let sig = headers
        .get("orderflow-signature")
        .map(|v| v.to_str().unwrap());
    // Signed at the manual clock's time: check against the time it claims.
    let t: i64 = sig.unwrap().split(',').next().unwrap()[2..]
        .parse()
        .unwrap();
    assert_eq!(
        signature::verify(SECRET, sig, &body, Timestamp::from_millis(t * 1000)),
        Ok(())
    );
    let v: Value = serde_json::from_slice(&body).unwrap();
    let id = v["id"].as_str().unwrap().to_owned();
    let n = {
        let mut tries = r.tries.lock().unwrap();
        let n = tries.entry(id).or_default();
        *n += 1;
        *n
    };
    if *r.down.lock().unwrap() || n <= r.refuse {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    r.accepted.lock().unwrap().push(v);
    StatusCode::NO_CONTENT
}

impl Receiver {
    /// Accepted ids, in arrival order.
    fn ids(&self) -> Vec<String> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_owned())
            .collect()
    }
}

async fn start_receiver(r: Arc<Receiver>) -> String {
    let app = Router::new().route("/hook", post(receive)).with_state(r);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

struct World {
    names: AwsNames,
    dynamo: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    clock: Arc<ManualClock>,
    receiver: Arc<Receiver>,
    url: String,
}

async fn world(refuse: usize) -> World {
    let (names, dynamo, sqs) = orderflow_aws::emulator::fresh("n", QueueSpec::default()).await;
    let receiver = Arc::new(Receiver {
        refuse,
        ..Receiver::default()
    });
    let url = start_receiver(receiver.clone()).await;
    World {
        names,
        dynamo,
        sqs,
        clock: Arc::new(ManualClock::new(T0)),
        receiver,
        url,
    }
}

impl World {
    /// A store with the outbox, as a (re)started process opens it.
    fn store(&self, queue: Option<Arc<dyn Queue>>) -> Arc<DynamoStore> {
        Arc::new(
            DynamoStore::new(self.dynamo.clone(), self.names.clone())
                .with_notifications(Notify { queue }),
        )
    }

    fn notifier(&self, store: &Arc<DynamoStore>) -> Arc<Notifier> {
        Arc::new(Notifier::polling(
            store.clone(),
            Duration::from_millis(500),
            self.clock.clone(),
            &self.url,
            SECRET.to_vec(),
        ))
    }

    async fn place(&self, store: &DynamoStore) -> Order {
        testing::place_one(store, "p", self.clock.now()).await
    }

    async fn pay(&self, store: &DynamoStore, o: &Order) {
        let paid = testing::payment(o, self.clock.now());
        store.apply(&paid).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_refuses_the_first_attempts_gets_every_event_in_seq_order_signed() {
    let w = world(2).await;
    let store = w.store(None);
    let notifier = w.notifier(&store);
    let a = w.place(&store).await;
    w.pay(&store, &a).await;
    let b = w.place(&store).await;
    for _ in 0..40 {
        notifier.run_once().await.unwrap();
        if w.receiver.ids().len() == 3 {
            break;
        }
        let due = store.next_due().await.unwrap().expect("a retry is due");
        w.clock.set(due);
    }
    let ids = w.receiver.ids();
    let of = |o: OrderId| {
        ids.iter()
            .filter(|i| i.starts_with(&o.to_string()))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(of(a.id), [format!("{}:1", a.id), format!("{}:2", a.id)]);
    assert_eq!(of(b.id), [format!("{}:1", b.id)]);
    let tries = w.receiver.tries.lock().unwrap().clone();
    assert!(
        tries.values().all(|&n| n == 3),
        "refused twice each: {tries:?}"
    );
    let got = w.receiver.accepted.lock().unwrap().clone();
    let paid = got.iter().find(|v| v["type"] == "paid").unwrap();
    assert_eq!(paid["order"]["paymentStatus"], "success");
    assert!(store.next_due().await.unwrap().is_none(), "nothing left");
    assert!(
        store
            .pending_orders(T0.plus(RETRY_FOR * 2), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_is_kept_across_a_restart_and_delivered_after_it() {
    let w = world(0).await;
    *w.receiver.down.lock().unwrap() = true;
    let first = w.store(None);
    let o = w.place(&first).await;
    let r = w.notifier(&first).run_once().await.unwrap();
    assert_eq!(r.failed, 1, "{r:?}");
    drop(first);

    // A new process over the same tables: the failure and the undelivered events are there.
    let store = w.store(None);
    let pending = store.pending_notification(o.id).await.unwrap().unwrap();
    assert_eq!(pending.notification.attempts, 1);
    assert!(pending.notification.last_error.unwrap().contains("503"));
    w.pay(&store, &o).await;
    *w.receiver.down.lock().unwrap() = false;
    let notifier = w.notifier(&store);
    w.clock.set(store.next_due().await.unwrap().unwrap());
    assert_eq!(notifier.run_once().await.unwrap().delivered, 2);
    assert_eq!(
        w.receiver.ids(),
        [format!("{}:1", o.id), format!("{}:2", o.id)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_24_hours_of_failures_a_notification_is_parked_until_sent_again() {
    let w = world(0).await;
    *w.receiver.down.lock().unwrap() = true;
    let store = w.store(None);
    let notifier = w.notifier(&store);
    let o = w.place(&store).await;
    let mut rounds = 0;
    loop {
        let r = notifier.run_once().await.unwrap();
        if r.parked == 1 {
            break;
        }
        rounds += 1;
        assert!(rounds < 200, "never parked");
        w.clock
            .set(store.next_due().await.unwrap().expect("a retry is due"));
    }
    let elapsed = w.clock.now().as_millis() - T0.as_millis();
    assert!(
        elapsed >= RETRY_FOR.as_millis() as i64,
        "parked after {elapsed} ms"
    );
    let parked = store.parked().await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].change.event.order_id, o.id);
    assert!(
        store.next_due().await.unwrap().is_none(),
        "parked is not due"
    );
    w.clock.advance(Duration::from_secs(7 * 24 * 3600));
    assert_eq!(notifier.run_once().await.unwrap().delivered, 0);

    *w.receiver.down.lock().unwrap() = false;
    assert!(store.unpark(o.id, 1, w.clock.now()).await.unwrap());
    assert_eq!(notifier.run_once().await.unwrap().delivered, 1);
    assert_eq!(w.receiver.ids(), [format!("{}:1", o.id)]);
    assert!(store.parked().await.unwrap().is_empty());
}

/// A queue whose sends are all lost: the SQS send after a write that never arrives.
struct LostSends;

#[async_trait::async_trait]
impl Queue for LostSends {
    async fn send(&self, _: &str, _: Duration) -> Result<(), StoreError> {
        Err(StoreError::backend(std::io::Error::other(
            "injected: send lost",
        )))
    }
    async fn receive(
        &self,
        _: usize,
        _: Duration,
    ) -> Result<Vec<orderflow_core::ports::Delivery>, StoreError> {
        Ok(Vec::new())
    }
    async fn delete(&self, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
    async fn release(&self, _: &str, _: Duration) -> Result<(), StoreError> {
        Ok(())
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The records the notify queue holds now, as the consumer's SQS event.
async fn notify_batch(queue: &SqsQueue, names: &AwsNames, wait: Duration) -> SqsEvent {
    let deliveries = queue.receive(10, wait).await.unwrap();
    let arn = format!(
        "arn:aws:sqs:us-east-1:123456789012:{}",
        names.notify_queue()
    );
    let records: Vec<Value> = deliveries
        .iter()
        .map(|d| {
            serde_json::json!({
                "messageId": d.message_id, "receiptHandle": d.receipt,
                "body": d.body, "eventSourceARN": arn,
            })
        })
        .collect();
    for d in &deliveries {
        queue.delete(&d.receipt).await.unwrap();
    }
    serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_lambda_the_sweeper_finds_an_order_whose_send_was_lost_and_the_consumer_retries_by_queue()
 {
    let w = world(1).await;
    // The test injects the lost send through the queue port: every announcement after a
    // write fails, as if the process died between the write and the send.
    let store = w.store(Some(Arc::new(LostSends)));
    let notify_queue = SqsQueue::by_name(w.sqs.clone(), &w.names.notify_queue())
        .await
        .unwrap();
    let delivery = NotifyDelivery::new(
        store.clone(),
        Arc::new(notify_queue.clone()),
        w.clock.clone(),
        &w.url,
        SECRET.to_vec(),
    );
    let q = |name: String| {
        let sqs = w.sqs.clone();
        async move { Arc::new(SqsQueue::by_name(sqs, &name).await.unwrap()) as Arc<dyn Queue> }
    };
    let queues = Queues {
        orders: q(w.names.queue.clone()).await,
        refunds: q(w.names.refunds_queue()).await,
        payments: q(w.names.payments_queue()).await,
    };
    let service = wiring::service(store.clone(), queues, w.clock.clone(), Timings::default());
    let o = w.place(&store).await;
    w.pay(&store, &o).await;
    assert!(
        notify_batch(&notify_queue, &w.names, Duration::ZERO)
            .await
            .records
            .is_empty(),
        "the sends were lost"
    );

    // Within the grace period the sweeper leaves it; after it, the index finds the order.
    let sweep = |at| {
        let service = service.clone();
        let delivery = &delivery;
        w.clock.set(at);
        async move {
            orderflow_lambda::handle_schedule(&service, Some(delivery), None)
                .await
                .unwrap()
        }
    };
    assert_eq!(sweep(T0).await["notificationsAnnounced"], 0);
    let out = sweep(T0.plus(NOTIFY_GRACE + Duration::from_secs(1))).await;
    assert_eq!(out["notificationsAnnounced"], 1);

    // The consumer: the receiver refuses the first attempt; the retry is a new message,
    // delayed to the policy's time (not a failed record counted by maxReceiveCount).
    let batch = notify_batch(&notify_queue, &w.names, Duration::from_secs(2)).await;
    assert_eq!(batch.records.len(), 1);
    let response = orderflow_lambda::handle_sqs(&service, &w.names, Some(&delivery), batch).await;
    assert!(response.batch_item_failures.is_empty());
    assert!(w.receiver.ids().is_empty());
    let pending = store.pending_notification(o.id).await.unwrap().unwrap();
    assert_eq!(pending.notification.attempts, 1);
    w.clock.set(pending.due);
    let batch = notify_batch(&notify_queue, &w.names, Duration::from_secs(5)).await;
    assert_eq!(batch.records.len(), 1, "the retry message came back");
    let response = orderflow_lambda::handle_sqs(&service, &w.names, Some(&delivery), batch).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(w.receiver.ids(), [format!("{}:1", o.id)], "the head first");
    // seq 2 was refused once too: retried by its own message.
    let pending = store.pending_notification(o.id).await.unwrap().unwrap();
    assert_eq!(pending.notification.change.event.seq, 2);
    w.clock.set(pending.due);
    let batch = notify_batch(&notify_queue, &w.names, Duration::from_secs(5)).await;
    let response = orderflow_lambda::handle_sqs(&service, &w.names, Some(&delivery), batch).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        w.receiver.ids(),
        [format!("{}:1", o.id), format!("{}:2", o.id)]
    );
    assert_eq!(
        delivery.deliver_order(o.id).await.unwrap(),
        Delivered::AllCaughtUp
    );
    assert!(store.pending_notification(o.id).await.unwrap().is_none());
}
