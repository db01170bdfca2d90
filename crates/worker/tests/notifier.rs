//! The notifier on the real SQLite store and a real HTTP receiver, with the manual clock:
//! retries with backoff, one event of an order at a time in `seq` order, parking after 24
//! hours, and sending a parked notification again.

use orderflow_core::domain::{LimitChange, ProductId};
use orderflow_core::testing;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use orderflow_core::clock::ManualClock;
use orderflow_core::domain::notify::RETRY_FOR;
use orderflow_core::domain::{Order, OrderId, StockCount, Timestamp};
use orderflow_core::ports::{Clock, OrderStore, Outbox};
use orderflow_core::signature;
use orderflow_sqlite::SqliteStore;
use orderflow_worker::notifier::{Notifier, Round};
use serde_json::Value;

const T0: Timestamp = Timestamp::from_millis(1_790_000_000_000);
const SECRET: &[u8] = b"notify-secret-0123456789";

#[derive(Default)]
struct Receiver {
    accept: AtomicBool,
    /// Accepted bodies, in arrival order.
    got: Mutex<Vec<Value>>,
    attempts: Mutex<usize>,
}

async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    *r.attempts.lock().unwrap() += 1;
    let sig = headers
        .get("orderflow-signature")
        .map(|v| v.to_str().unwrap());
    // Signed with the manual clock's time, which is far from the wall clock: check the
    // signature against the time it claims.
    let t: i64 = sig.unwrap().split(',').next().unwrap()[2..]
        .parse()
        .unwrap();
    let at = Timestamp::from_millis(t * 1000);
    assert_eq!(signature::verify(SECRET, sig, &body, at), Ok(()));
    if !r.accept.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    r.got
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap());
    StatusCode::NO_CONTENT
}

struct World {
    store: Arc<SqliteStore>,
    clock: Arc<ManualClock>,
    notifier: Arc<Notifier>,
    receiver: Arc<Receiver>,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let clock = Arc::new(ManualClock::new(T0));
    let receiver = Arc::new(Receiver::default());
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let notifier = Arc::new(Notifier::new(
        store.clone(),
        store.clone(),
        clock.clone(),
        &url,
        SECRET.to_vec(),
    ));
    // The first round starts the outbox at the present.
    assert_eq!(notifier.run_once().await.unwrap(), Round::default());
    store
        .put_product(
            &ProductId::parse("p").unwrap(),
            StockCount::new(10).unwrap(),
            LimitChange::Keep,
        )
        .await
        .unwrap();
    World {
        store,
        clock,
        notifier,
        receiver,
        _dir: dir,
    }
}

impl World {
    async fn place(&self) -> Order {
        testing::place_one(&*self.store, "p", self.clock.now()).await
    }

    async fn pay(&self, o: &Order) {
        let paid = testing::payment(o, self.clock.now());
        self.store.apply(&paid).await.unwrap();
    }

    fn ids(&self) -> Vec<String> {
        let got = self.receiver.got.lock().unwrap();
        got.iter()
            .map(|b| b["id"].as_str().unwrap().to_owned())
            .collect()
    }
}

#[tokio::test]
async fn failures_are_retried_with_backoff_one_event_of_an_order_at_a_time() {
    let w = world().await;
    let o = w.place().await;
    w.pay(&o).await;
    // Receiver down: only the first event of the order is tried; the second waits for it.
    let r = w.notifier.run_once().await.unwrap();
    assert_eq!((r.taken, r.delivered, r.failed), (2, 0, 1), "{r:?}");
    assert_eq!(*w.receiver.attempts.lock().unwrap(), 1);
    // Not due again before its backoff (at most 1 s for the first retry).
    let r = w.notifier.run_once().await.unwrap();
    assert_eq!((r.delivered, r.failed), (0, 0));
    let due = w.store.next_due().await.unwrap().unwrap();
    assert!(
        due > T0 && due.as_millis() - T0.as_millis() <= 1000,
        "{due:?}"
    );

    w.receiver.accept.store(true, Ordering::SeqCst);
    w.clock.advance(Duration::from_secs(1));
    let r = w.notifier.run_once().await.unwrap();
    assert_eq!(r.delivered, 2, "{r:?}");
    assert_eq!(w.ids(), [format!("{}:1", o.id), format!("{}:2", o.id)]);
    let got = w.receiver.got.lock().unwrap().clone();
    assert_eq!(got[0]["type"], "placed");
    assert_eq!(got[1]["type"], "paid");
    assert_eq!(got[1]["order"]["paymentStatus"], "success");
    assert_eq!(
        got[0]["order"]["paymentStatus"], "pending",
        "the order as of its event"
    );
    assert!(w.store.next_due().await.unwrap().is_none(), "nothing left");
}

#[tokio::test]
async fn after_24_hours_of_failures_a_notification_is_parked_until_sent_again() {
    let w = world().await;
    let o = w.place().await;
    let mut rounds = 0;
    loop {
        let r = w.notifier.run_once().await.unwrap();
        if r.parked == 1 {
            break;
        }
        rounds += 1;
        assert!(rounds < 200, "never parked");
        let due = w.store.next_due().await.unwrap().expect("a retry is due");
        w.clock.set(due);
    }
    let elapsed = w.clock.now().as_millis() - T0.as_millis();
    assert!(
        elapsed >= RETRY_FOR.as_millis() as i64,
        "parked after {elapsed} ms of retries"
    );
    // Hours between attempts at most: dozens of attempts, not thousands.
    let attempts = *w.receiver.attempts.lock().unwrap();
    assert!((20..=60).contains(&attempts), "{attempts} attempts");
    let parked = w.store.parked().await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].change.event.order_id, o.id);
    assert!(parked[0].last_error.as_deref().unwrap().contains("503"));
    assert!(
        w.store.next_due().await.unwrap().is_none(),
        "parked is not due"
    );

    // Parked stays parked; an operator sends it again.
    w.clock.advance(Duration::from_secs(7 * 24 * 3600));
    assert_eq!(w.notifier.run_once().await.unwrap().delivered, 0);
    w.receiver.accept.store(true, Ordering::SeqCst);
    assert!(
        !w.store
            .unpark(OrderId::new_random(), 1, w.clock.now())
            .await
            .unwrap()
    );
    assert!(w.store.unpark(o.id, 1, w.clock.now()).await.unwrap());
    assert_eq!(w.notifier.run_once().await.unwrap().delivered, 1);
    assert_eq!(w.ids(), [format!("{}:1", o.id)]);
    assert!(w.store.parked().await.unwrap().is_empty());
}
