//! What only the embedded backend promises: a transition and its message are one
//! transaction, and queued messages survive the process.

use orderflow_core::testing;
use std::sync::Arc;
use std::time::Duration;

use orderflow_core::clock::ManualClock;
use orderflow_core::domain::lifecycle::{self};
use orderflow_core::domain::{Order, Timestamp};
use orderflow_core::messages::OrderMessage;
use orderflow_core::ports::{OrderStore, Queue, StoreError};
use orderflow_sqlite::queue::{ORDERS_QUEUE, REFUNDS_QUEUE};
use orderflow_sqlite::{QueueSettings, SqliteStore};

const T0: Timestamp = Timestamp::from_millis(1_790_000_000_000);

async fn placed(store: &SqliteStore) -> Order {
    testing::place_one(store, "p", T0).await
}

fn paid(order: &Order, at: Timestamp) -> lifecycle::Transition {
    testing::payment(order, at)
}

#[tokio::test]
async fn a_message_is_written_with_its_state_change_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let orders = store.queue(ORDERS_QUEUE, QueueSettings::default(), clock.clone());
    let refunds = store.queue(REFUNDS_QUEUE, QueueSettings::default(), clock.clone());

    let o = placed(&store).await;
    let t = paid(&o, T0);
    store.apply(&t).await.unwrap();
    // The same transition again loses its condition: no state change, and no message.
    assert!(matches!(store.apply(&t).await, Err(StoreError::Conflict)));
    let got = orders.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(OrderMessage::parse(&got[0].body), Some(o.id));
    orders.delete(&got[0].receipt).await.unwrap();
    assert!(
        refunds
            .receive(10, Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );

    // A late payment starts a refund: its message is written with it.
    let late = placed(&store).await;
    let t = paid(&late, T0.plus(Duration::from_secs(3600)));
    assert!(t.initiates_refund());
    store.apply(&t).await.unwrap();
    clock.advance(Duration::from_secs(3600));
    let got = refunds.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(OrderMessage::parse(&got[0].body), Some(late.id));
    assert!(orders.receive(10, Duration::ZERO).await.unwrap().is_empty());
}

#[tokio::test]
async fn queued_and_in_flight_messages_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        let q = store.queue("work", QueueSettings::default(), clock.clone());
        q.send("waiting", Duration::ZERO).await.unwrap();
        q.send("in flight", Duration::ZERO).await.unwrap();
        q.send("delayed", Duration::from_secs(60)).await.unwrap();
        let taken = q.receive(1, Duration::ZERO).await.unwrap();
        assert_eq!(taken[0].body, "waiting");
        // The process dies holding "waiting" in flight.
    }
    let store = SqliteStore::open(dir.path()).unwrap();
    let q = store.queue("work", QueueSettings::default(), clock.clone());
    let now = orderflow_core::ports::Clock::now(&*clock);
    assert_eq!(store.recover_in_flight(now).await.unwrap(), 1);
    let got = q.receive(10, Duration::ZERO).await.unwrap();
    let mut bodies: Vec<_> = got.iter().map(|d| d.body.as_str()).collect();
    bodies.sort();
    assert_eq!(bodies, ["in flight", "waiting"]);
    for d in &got {
        q.delete(&d.receipt).await.unwrap();
    }
    clock.advance(Duration::from_secs(61));
    let later = q.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].body, "delayed");
}

#[tokio::test]
async fn a_stale_receipt_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let store = SqliteStore::open(dir.path()).unwrap();
    let q = store.queue("work", QueueSettings::default(), clock.clone());
    q.send("m", Duration::ZERO).await.unwrap();
    let first = q.receive(1, Duration::ZERO).await.unwrap().remove(0);
    clock.advance(Duration::from_secs(31));
    let again = q.receive(1, Duration::ZERO).await.unwrap().remove(0);
    q.delete(&first.receipt).await.unwrap();
    q.release(&first.receipt, Duration::ZERO).await.unwrap();
    clock.advance(Duration::from_secs(31));
    let third = q.receive(1, Duration::ZERO).await.unwrap();
    assert_eq!(third.len(), 1, "the stale receipt deleted the message");
    assert_ne!(third[0].receipt, again.receipt);
}
