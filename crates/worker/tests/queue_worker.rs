//! The queue worker's shutdown on real queues: the embedded [`SqliteQueue`] (SQS's
//! semantics, on a manual clock that never reaches the visibility timeout) and
//! [`SqsQueue`] on the DynamoDB/SQS emulator that `scripts/test` starts
//! (`AWS_ENDPOINT_URL`; without it that test fails, it never skips).
//!
//! A worker shut down while it holds messages it has not started hands them back at once:
//! another receive gets them straight away, not after the visibility timeout. The message
//! it is handling is finished and deleted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use orderflow_aws::SqsQueue;
use orderflow_core::clock::ManualClock;
use orderflow_core::domain::Timestamp;
use orderflow_core::ports::{Delivery, Queue, StoreError};
use orderflow_sqlite::{QueueSettings, SqliteStore};
use orderflow_worker::queue_worker::{Handler, QueueWorker};
use tokio::sync::watch;

const T0: Timestamp = Timestamp::from_millis(1_790_000_000_000);
/// Long enough for anything that should happen now; far below any visibility timeout here
/// (the manual clock never moves, SQS's is 180 s).
const SOON: Duration = Duration::from_secs(10);

/// The queue as the worker sees it, watched: how many receives were made and ended, what
/// each brought, what was released and deleted. `greedy`: a receive takes up to ten
/// messages whatever the worker asked for (more than it has slots for).
struct Watched {
    inner: Arc<dyn Queue>,
    greedy: bool,
    receives_begun: watch::Sender<usize>,
    /// The messages each ended receive brought.
    received: watch::Sender<Vec<Vec<String>>>,
    released: watch::Sender<Vec<(String, Duration)>>,
    deleted: Mutex<Vec<String>>,
    /// Deletes wait while this is false.
    deletes_open: watch::Sender<bool>,
}

impl Watched {
    fn new(inner: Arc<dyn Queue>, greedy: bool) -> Arc<Self> {
        Arc::new(Self {
            inner,
            greedy,
            receives_begun: watch::Sender::new(0),
            received: watch::Sender::new(Vec::new()),
            released: watch::Sender::new(Vec::new()),
            deleted: Mutex::new(Vec::new()),
            deletes_open: watch::Sender::new(true),
        })
    }

    async fn until<T: Clone>(tx: &watch::Sender<T>, what: &str, ok: impl Fn(&T) -> bool) -> T {
        let mut rx = tx.subscribe();
        tokio::time::timeout(SOON, rx.wait_for(|v| ok(v)))
            .await
            .unwrap_or_else(|_| panic!("never: {what}"))
            .expect("sender alive")
            .clone()
    }
}

#[async_trait]
impl Queue for Watched {
    async fn send(&self, body: &str, delay: Duration) -> Result<(), StoreError> {
        self.inner.send(body, delay).await
    }
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, StoreError> {
        self.receives_begun.send_modify(|n| *n += 1);
        let got = self
            .inner
            .receive(if self.greedy { 10 } else { max }, wait)
            .await?;
        self.received
            .send_modify(|r| r.push(got.iter().map(|d| d.receipt.clone()).collect()));
        Ok(got)
    }
    async fn delete(&self, receipt: &str) -> Result<(), StoreError> {
        let _ = self.deletes_open.subscribe().wait_for(|open| *open).await;
        self.deleted.lock().unwrap().push(receipt.to_owned());
        self.inner.delete(receipt).await
    }
    async fn release(&self, receipt: &str, delay: Duration) -> Result<(), StoreError> {
        let result = self.inner.release(receipt, delay).await;
        self.released
            .send_modify(|r| r.push((receipt.to_owned(), delay)));
        result
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

/// A handler that holds the message `slow` until the gate opens; records every body it
/// starts.
struct Gate {
    open: watch::Sender<bool>,
    started: watch::Sender<Vec<String>>,
    finished: watch::Sender<Vec<String>>,
}

impl Gate {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            open: watch::Sender::new(false),
            started: watch::Sender::new(Vec::new()),
            finished: watch::Sender::new(Vec::new()),
        })
    }

    fn handler(self: &Arc<Self>) -> Handler {
        let gate = self.clone();
        Arc::new(move |body: String| {
            let gate = gate.clone();
            Box::pin(async move {
                gate.started.send_modify(|s| s.push(body.clone()));
                if body == "slow" {
                    let mut open = gate.open.subscribe();
                    let _ = open.wait_for(|o| *o).await;
                }
                gate.finished.send_modify(|s| s.push(body));
                Ok(())
            })
        })
    }
}

struct Run {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    queue: Arc<Watched>,
    gate: Arc<Gate>,
}

fn start(queue: Arc<Watched>, max_in_flight: usize) -> Run {
    let gate = Gate::new();
    let (stop, stopped) = watch::channel(false);
    let worker = QueueWorker {
        name: "test",
        queue: queue.clone(),
        handler: gate.handler(),
        max_in_flight,
        retry_delay: Duration::from_secs(1),
    };
    Run {
        stop,
        task: tokio::spawn(worker.run(stopped)),
        queue,
        gate,
    }
}

/// Everything visible now, received (and so hidden again) by the test: body → receive
/// count. Waits a little for SQS, whose short receives may sample only some servers.
async fn visible_now(queue: &dyn Queue, want: usize) -> Vec<(String, u32)> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while got.len() < want && tokio::time::Instant::now() < deadline {
        for d in queue.receive(10, Duration::ZERO).await.unwrap() {
            got.push((d.body, d.receive_count));
        }
    }
    got.sort();
    got
}

/// The worker handles `slow` (held until the gate opens) with one receive under way
/// when shutdown comes; three messages arrive then. What that receive brings is handed
/// back at once, and everything is visible to the next receive while `slow` is still in
/// progress; then `slow` finishes and is deleted.
async fn a_receive_under_way_at_shutdown_hands_back_what_it_brings(queue: Arc<dyn Queue>) {
    let run = start(Watched::new(queue.clone(), false), 3);
    queue.send("slow", Duration::ZERO).await.unwrap();
    Watched::until(&run.gate.started, "slow started", |s| s.len() == 1).await;
    // The worker has room for two more: its next receive is waiting for them.
    Watched::until(&run.queue.receives_begun, "a second receive", |n| *n == 2).await;
    run.stop.send(true).unwrap();
    queue
        .send_all(&["a".to_owned(), "b".to_owned(), "c".to_owned()])
        .await
        .unwrap();

    let received = Watched::until(&run.queue.received, "the receive ended", |r| r.len() == 2)
        .await
        .remove(1);
    assert!(!received.is_empty(), "the receive under way brought some");
    let released = Watched::until(&run.queue.released, "handed back", |r| {
        r.len() == received.len()
    })
    .await;
    assert!(
        released.iter().all(|(_, delay)| delay.is_zero()),
        "{released:?}"
    );
    let mut handed_back: Vec<&String> = released.iter().map(|(r, _)| r).collect();
    handed_back.sort();
    let mut brought: Vec<&String> = received.iter().collect();
    brought.sort();
    assert_eq!(
        handed_back, brought,
        "every message it brought, and only those"
    );

    // Visible again at once: the worker's receive counts once for those it brought.
    let again = visible_now(&*queue, 3).await;
    let bodies: Vec<&str> = again.iter().map(|(b, _)| b.as_str()).collect();
    assert_eq!(bodies, ["a", "b", "c"], "{again:?}");
    assert_eq!(
        again.iter().filter(|(_, n)| *n == 2).count(),
        received.len(),
        "{again:?}"
    );
    assert!(!run.task.is_finished(), "slow is still being handled");
    assert_eq!(*run.gate.started.borrow(), ["slow"], "nothing else started");

    run.gate.open.send(true).unwrap();
    tokio::time::timeout(SOON, run.task)
        .await
        .expect("the worker stops once slow is done")
        .unwrap();
    assert_eq!(*run.gate.finished.borrow(), ["slow"]);
    assert_eq!(run.queue.deleted.lock().unwrap().len(), 1, "slow deleted");
}

fn sqlite() -> (Arc<dyn Queue>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let queue = store.queue(
        "orders",
        QueueSettings::default(),
        Arc::new(ManualClock::new(T0)),
    );
    (Arc::new(queue), dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_queue_a_receive_under_way_at_shutdown_hands_back_what_it_brings() {
    let (queue, _dir) = sqlite();
    a_receive_under_way_at_shutdown_hands_back_what_it_brings(queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqs_a_receive_under_way_at_shutdown_hands_back_what_it_brings() {
    let (_, sqs) = orderflow_aws::emulator::clients().await;
    let name = format!("{}orders", orderflow_aws::emulator::prefix("w"));
    let url = sqs
        .create_queue()
        .queue_name(&name)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "180",
        )
        .send()
        .await
        .expect("create the queue")
        .queue_url
        .unwrap();
    a_receive_under_way_at_shutdown_hands_back_what_it_brings(Arc::new(SqsQueue::new(sqs, url)))
        .await;
}

/// A batch larger than the free slots (a queue that hands out more than it was asked
/// for): the messages waiting for a slot when shutdown comes are handed back at once; the
/// one in progress finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_waiting_for_a_slot_at_shutdown_are_handed_back_at_once() {
    let (queue, _dir) = sqlite();
    for body in ["slow", "a", "b"] {
        queue.send(body, Duration::ZERO).await.unwrap();
    }
    let run = start(Watched::new(queue.clone(), true), 1);
    let received = Watched::until(&run.queue.received, "a batch", |r| !r.is_empty())
        .await
        .remove(0);
    assert_eq!(received.len(), 3, "one slot, three messages in hand");
    Watched::until(&run.gate.started, "slow started", |s| s.len() == 1).await;
    run.stop.send(true).unwrap();
    let mut released = Watched::until(&run.queue.released, "handed back", |r| r.len() == 2).await;
    released.sort();
    let mut waiting = vec![
        (received[1].clone(), Duration::ZERO),
        (received[2].clone(), Duration::ZERO),
    ];
    waiting.sort();
    assert_eq!(released, waiting, "the two without a slot");
    assert_eq!(
        visible_now(&*queue, 2).await,
        [("a".to_owned(), 2), ("b".to_owned(), 2)]
    );
    assert!(!run.task.is_finished(), "slow is still being handled");

    run.gate.open.send(true).unwrap();
    tokio::time::timeout(SOON, run.task)
        .await
        .expect("the worker stops once slow is done")
        .unwrap();
    assert_eq!(*run.gate.started.borrow(), ["slow"]);
    assert_eq!(*run.gate.finished.borrow(), ["slow"]);
    assert_eq!(run.queue.deleted.lock().unwrap().len(), 1, "slow deleted");
}

/// The slot bounds the messages being handled, not their deletes: with one slot, the next
/// message is handled while the last one's delete is still under way; shutdown then waits
/// for the deletes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_takes_the_next_message_while_the_last_one_is_deleted() {
    let (queue, _dir) = sqlite();
    for body in ["a", "b"] {
        queue.send(body, Duration::ZERO).await.unwrap();
    }
    let watched = Watched::new(queue.clone(), false);
    watched.deletes_open.send_replace(false);
    let run = start(watched, 1);
    Watched::until(&run.gate.finished, "a and b handled", |f| f.len() == 2).await;
    assert!(
        run.queue.deleted.lock().unwrap().is_empty(),
        "both handled while no delete had ended"
    );
    run.stop.send(true).unwrap();
    run.queue.deletes_open.send_replace(true);
    tokio::time::timeout(SOON, run.task)
        .await
        .expect("the worker stops once its deletes are done")
        .unwrap();
    assert_eq!(run.queue.deleted.lock().unwrap().len(), 2);
    assert!(
        queue.receive(10, Duration::ZERO).await.unwrap().is_empty(),
        "both deleted"
    );
}
