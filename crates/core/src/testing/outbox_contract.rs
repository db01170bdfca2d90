//! The outbox contract suite: what every notification [`Outbox`] must do (contract
//! section 6), written once and run on SQLite and DynamoDB.
//!
//! Each case gets a fresh store with its outbox, on which `take_new` was called once (the
//! outbox starts from the present), and drives it through the port only, with explicit
//! times, as the notifier does.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::{EventType, Order, OrderId, PaymentStatus, Timestamp};
use crate::ports::{Notification, OrderStore, Outbox};

/// A store and its outbox (the same object, seen through both ports).
pub struct OutboxFixture {
    pub store: Arc<dyn OrderStore>,
    pub outbox: Arc<dyn Outbox>,
}

const T0: Timestamp = Timestamp::from_millis(1_790_000_000_000);

fn secs(n: u64) -> Timestamp {
    T0.plus(Duration::from_secs(n))
}

impl OutboxFixture {
    async fn place(&self, at: Timestamp) -> Order {
        super::place_one(&*self.store, "p", at).await
    }

    async fn pay(&self, o: &Order, at: Timestamp) {
        self.store.apply(&super::payment(o, at)).await.unwrap();
    }

    /// Take what was committed, then what is due at `now`, as `(order, seq)`.
    async fn due(&self, now: Timestamp) -> Vec<Notification> {
        self.outbox.take_new(now, 500).await.unwrap();
        self.outbox.due(now, 100).await.unwrap()
    }
}

fn ids(ns: &[Notification]) -> Vec<(OrderId, u32)> {
    let mut v: Vec<_> = ns
        .iter()
        .map(|n| (n.change.event.order_id, n.change.event.seq))
        .collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<(OrderId, u32)>) -> Vec<(OrderId, u32)> {
    v.sort();
    v
}

pub async fn events_are_handed_out_one_per_order_in_seq_order(f: OutboxFixture) {
    let a = f.place(secs(1)).await;
    f.pay(&a, secs(2)).await;
    let b = f.place(secs(3)).await;
    let due = f.due(secs(3)).await;
    assert_eq!(ids(&due), sorted(vec![(a.id, 1), (b.id, 1)]), "heads only");
    let a1 = due
        .iter()
        .find(|n| n.change.event.order_id == a.id)
        .unwrap();
    assert_eq!(a1.change.event.kind, EventType::Placed);
    assert_eq!(a1.attempts, 0);
    assert_eq!(
        a1.change.order.state.payment,
        PaymentStatus::Pending,
        "the order as it was right after its event"
    );
    assert_eq!(a1.change.order.events, 1);
    for n in &due {
        f.outbox.delivered(n).await.unwrap();
    }
    let due = f.due(secs(3)).await;
    assert_eq!(ids(&due), vec![(a.id, 2)]);
    assert_eq!(due[0].change.event.kind, EventType::Paid);
    assert_eq!(due[0].change.order.state.payment, PaymentStatus::Success);
    assert_eq!(due[0].change.order.events, 2);
    f.outbox.delivered(&due[0]).await.unwrap();
    assert!(f.due(secs(3)).await.is_empty());
    assert_eq!(f.outbox.next_due().await.unwrap(), None, "nothing left");
}

pub async fn a_failed_head_waits_for_its_retry_and_holds_back_later_events(f: OutboxFixture) {
    let a = f.place(secs(1)).await;
    let due = f.due(secs(1)).await;
    assert_eq!(ids(&due), vec![(a.id, 1)]);
    f.outbox
        .failed(&due[0], "answered 503", secs(1), Some(secs(3)))
        .await
        .unwrap();
    assert!(f.due(secs(2)).await.is_empty(), "not before its retry");
    assert_eq!(f.outbox.next_due().await.unwrap(), Some(secs(3)));
    // A later event of the order waits behind the failed one.
    f.pay(&a, secs(2)).await;
    assert!(
        f.due(secs(2)).await.is_empty(),
        "seq 2 is not sent before seq 1"
    );
    let due = f.due(secs(3)).await;
    assert_eq!(ids(&due), vec![(a.id, 1)]);
    assert_eq!(due[0].attempts, 1);
    assert_eq!(due[0].first_failed_at, Some(secs(1)));
    assert_eq!(due[0].last_error.as_deref(), Some("answered 503"));
    f.outbox
        .failed(&due[0], "no answer", secs(3), Some(secs(5)))
        .await
        .unwrap();
    let due = f.due(secs(5)).await;
    assert_eq!(due[0].attempts, 2);
    assert_eq!(due[0].first_failed_at, Some(secs(1)), "kept from the first");
    assert_eq!(due[0].last_error.as_deref(), Some("no answer"));
    f.outbox.delivered(&due[0]).await.unwrap();
    let due = f.due(secs(5)).await;
    assert_eq!(ids(&due), vec![(a.id, 2)]);
    assert_eq!(due[0].attempts, 0, "the next event starts with no failures");
    assert_eq!(due[0].first_failed_at, None);
}

pub async fn a_parked_head_is_listed_and_sent_again_only_when_unparked(f: OutboxFixture) {
    let a = f.place(secs(1)).await;
    let b = f.place(secs(1)).await;
    let due = f.due(secs(1)).await;
    let head = due
        .iter()
        .find(|n| n.change.event.order_id == a.id)
        .unwrap();
    f.outbox
        .failed(head, "answered 500", secs(1), None)
        .await
        .unwrap();
    let parked = f.outbox.parked().await.unwrap();
    assert_eq!(ids(&parked), vec![(a.id, 1)]);
    assert_eq!(parked[0].attempts, 1);
    assert_eq!(parked[0].last_error.as_deref(), Some("answered 500"));
    let week = secs(7 * 24 * 3600);
    assert_eq!(
        ids(&f.due(week).await),
        vec![(b.id, 1)],
        "parked is never due"
    );
    f.pay(&a, secs(2)).await;
    assert_eq!(
        ids(&f.due(week).await),
        vec![(b.id, 1)],
        "nor what follows it"
    );
    assert!(
        !f.outbox
            .unpark(OrderId::new_random(), 1, week)
            .await
            .unwrap()
    );
    assert!(!f.outbox.unpark(a.id, 2, week).await.unwrap(), "not parked");
    assert!(!f.outbox.unpark(b.id, 1, week).await.unwrap(), "not parked");
    assert!(f.outbox.unpark(a.id, 1, week).await.unwrap());
    assert!(!f.outbox.unpark(a.id, 1, week).await.unwrap(), "once");
    assert!(f.outbox.parked().await.unwrap().is_empty());
    let due = f.due(week).await;
    assert_eq!(ids(&due), sorted(vec![(a.id, 1), (b.id, 1)]));
    let again = due
        .iter()
        .find(|n| n.change.event.order_id == a.id)
        .unwrap();
    assert_eq!(again.attempts, 0, "a fresh 24 hours of retries");
    assert_eq!(again.first_failed_at, None);
}

pub async fn delivering_twice_skips_nothing(f: OutboxFixture) {
    let a = f.place(secs(1)).await;
    f.pay(&a, secs(2)).await;
    let due = f.due(secs(2)).await;
    // Two workers that both sent the head record it twice.
    f.outbox.delivered(&due[0]).await.unwrap();
    f.outbox.delivered(&due[0]).await.unwrap();
    // A failure recorded late, for a head another worker delivered, changes nothing.
    f.outbox
        .failed(&due[0], "late", secs(2), Some(secs(100)))
        .await
        .unwrap();
    let due = f.due(secs(2)).await;
    assert_eq!(
        ids(&due),
        vec![(a.id, 2)],
        "seq 2 is neither lost nor delayed"
    );
    assert_eq!(due[0].attempts, 0);
}
