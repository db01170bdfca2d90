//! The queue contract suite: SQS's semantics, which every [`Queue`] adapter must keep.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::ManualClock;
use crate::ports::Queue;

/// Lets the suite move a queue's time forward: the manual clock for the embedded queue,
/// a real wait for a queue whose timeouts run on a server's clock.
#[async_trait]
pub trait Elapse: Send + Sync {
    async fn elapse(&self, d: Duration);
}

#[async_trait]
impl Elapse for ManualClock {
    async fn elapse(&self, d: Duration) {
        self.advance(d);
    }
}

/// A fresh, empty queue and its dead-letter queue.
pub struct QueueFixture {
    pub queue: Arc<dyn Queue>,
    pub dead_letters: Arc<dyn Queue>,
    pub time: Arc<dyn Elapse>,
    /// The queue's visibility timeout.
    pub visibility: Duration,
    /// Receives after which a message is dead-lettered.
    pub max_receives: u32,
}

const NOW: Duration = Duration::ZERO;

pub async fn a_sent_message_is_received_and_then_hidden(f: QueueFixture) {
    f.queue.send(r#"{"n":1}"#, NOW).await.unwrap();
    let got = f.queue.receive(10, NOW).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, r#"{"n":1}"#);
    assert_eq!(got[0].receive_count, 1);
    assert!(
        f.queue.receive(10, NOW).await.unwrap().is_empty(),
        "hidden while in flight"
    );
}

pub async fn an_unacknowledged_message_comes_back_after_the_visibility_timeout(f: QueueFixture) {
    f.queue.send("m", NOW).await.unwrap();
    let first = f.queue.receive(1, NOW).await.unwrap().remove(0);
    f.time
        .elapse(f.visibility + Duration::from_millis(100))
        .await;
    let again = f.queue.receive(1, NOW).await.unwrap();
    assert_eq!(again.len(), 1, "redelivered");
    assert_eq!(again[0].message_id, first.message_id);
    assert_eq!(again[0].receive_count, 2);
    assert_ne!(again[0].receipt, first.receipt);
    // Deleting with a stale receipt is not an error (whether it deletes is the backend's
    // business: SQS may); the fresh receipt deletes it for good.
    f.queue.delete(&first.receipt).await.unwrap();
    f.queue.delete(&again[0].receipt).await.unwrap();
    f.time
        .elapse(f.visibility + Duration::from_millis(100))
        .await;
    assert!(f.queue.receive(1, NOW).await.unwrap().is_empty());
}

pub async fn a_deleted_message_never_comes_back(f: QueueFixture) {
    f.queue.send("m", NOW).await.unwrap();
    let d = f.queue.receive(1, NOW).await.unwrap().remove(0);
    f.queue.delete(&d.receipt).await.unwrap();
    f.time.elapse(f.visibility * 2).await;
    assert!(f.queue.receive(10, NOW).await.unwrap().is_empty());
    assert!(f.dead_letters.receive(10, NOW).await.unwrap().is_empty());
}

pub async fn a_released_message_comes_back_after_its_delay(f: QueueFixture) {
    f.queue.send("m", NOW).await.unwrap();
    let d = f.queue.receive(1, NOW).await.unwrap().remove(0);
    f.queue.release(&d.receipt, Duration::ZERO).await.unwrap();
    let again = f.queue.receive(1, NOW).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].receive_count, 2);
}

pub async fn a_delayed_message_is_invisible_until_its_delay(f: QueueFixture) {
    let delay = Duration::from_secs(2);
    f.queue.send("later", delay).await.unwrap();
    assert!(f.queue.receive(10, NOW).await.unwrap().is_empty());
    f.time.elapse(delay + Duration::from_millis(200)).await;
    let got = f.queue.receive(10, NOW).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "later");
}

pub async fn a_message_received_too_often_is_dead_lettered(f: QueueFixture) {
    f.queue.send("poison", NOW).await.unwrap();
    for n in 1..=f.max_receives {
        let got = f.queue.receive(1, NOW).await.unwrap();
        assert_eq!(got.len(), 1, "receive {n}");
        assert_eq!(got[0].receive_count, n);
        f.time
            .elapse(f.visibility + Duration::from_millis(100))
            .await;
    }
    assert!(
        f.queue.receive(1, NOW).await.unwrap().is_empty(),
        "moved away"
    );
    let dead = f
        .dead_letters
        .receive(10, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "poison");
}

pub async fn receive_takes_at_most_max_oldest_first(f: QueueFixture) {
    for i in 0..5 {
        f.queue.send(&format!("m{i}"), NOW).await.unwrap();
    }
    let mut bodies = Vec::new();
    let first = f.queue.receive(3, NOW).await.unwrap();
    assert!(!first.is_empty() && first.len() <= 3);
    bodies.extend(first.into_iter().map(|d| d.body));
    while bodies.len() < 5 {
        let more = f.queue.receive(3, Duration::from_secs(1)).await.unwrap();
        assert!(!more.is_empty(), "every message is delivered");
        bodies.extend(more.into_iter().map(|d| d.body));
    }
    bodies.sort();
    assert_eq!(bodies, ["m0", "m1", "m2", "m3", "m4"]);
}

pub async fn messages_sent_together_are_each_delivered(f: QueueFixture) {
    let bodies: Vec<String> = (0..13).map(|i| format!("b{i}")).collect();
    f.queue.send_all(&bodies).await.unwrap();
    let mut got = Vec::new();
    while got.len() < bodies.len() {
        let more = f.queue.receive(10, Duration::from_secs(1)).await.unwrap();
        assert!(
            !more.is_empty(),
            "only {} of {} arrived",
            got.len(),
            bodies.len()
        );
        got.extend(more.into_iter().map(|d| d.body));
    }
    got.sort();
    let mut want = bodies.clone();
    want.sort();
    assert_eq!(got, want);
}

pub async fn a_waiting_receive_wakes_on_send(f: QueueFixture) {
    let q = f.queue.clone();
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        q.send("wake", NOW).await.unwrap();
    });
    let started = std::time::Instant::now();
    let got = f.queue.receive(1, Duration::from_secs(10)).await.unwrap();
    sender.await.unwrap();
    assert_eq!(got.len(), 1);
    // Woken by the send, long before the 10 s wait ran out.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

pub async fn a_receive_with_nothing_to_take_returns_empty_after_its_wait(f: QueueFixture) {
    let got = f.queue.receive(1, Duration::from_millis(50)).await.unwrap();
    assert!(got.is_empty());
    f.queue.ping().await.unwrap();
}
