//! The contract suites (store, queue, lifecycle, outbox) against the embedded backend, each case on
//! a fresh database file.

use std::sync::Arc;
use std::time::Duration;

use orderflow_core::clock::ManualClock;
use orderflow_core::ports::{Clock, OrderStore, Outbox};
use orderflow_core::service::Queues;
use orderflow_core::testing::lifecycle_contract::{LifecycleFixture, START};
use orderflow_core::testing::outbox_contract::OutboxFixture;
use orderflow_core::testing::queue_contract::QueueFixture;
use orderflow_sqlite::queue::{ORDERS_QUEUE, PAYMENTS_QUEUE, REFUNDS_QUEUE, dead_letter_queue};
use orderflow_sqlite::{QueueSettings, SqliteStore};
use tempfile::TempDir;

async fn fresh_sqlite_store() -> (Arc<dyn OrderStore>, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path()).expect("open store");
    (Arc::new(store), dir)
}

const SETTINGS: QueueSettings = QueueSettings {
    visibility_timeout: Duration::from_secs(30),
    max_receives: 3,
};

async fn fresh_sqlite_queue() -> (QueueFixture, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path()).expect("open store");
    let clock = Arc::new(ManualClock::new(START));
    let queue = store.queue("work", SETTINGS, clock.clone());
    let dead = store.queue(
        &dead_letter_queue("work"),
        QueueSettings {
            max_receives: u32::MAX,
            ..SETTINGS
        },
        clock.clone(),
    );
    let fixture = QueueFixture {
        queue: Arc::new(queue),
        dead_letters: Arc::new(dead),
        time: clock,
        visibility: SETTINGS.visibility_timeout,
        max_receives: SETTINGS.max_receives,
    };
    (fixture, dir)
}

async fn fresh_sqlite_backend() -> (LifecycleFixture, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path()).expect("open store");
    let clock = Arc::new(ManualClock::new(START));
    let c: Arc<dyn Clock> = clock.clone();
    let queues = Queues {
        orders: Arc::new(store.queue(ORDERS_QUEUE, SETTINGS, c.clone())),
        refunds: Arc::new(store.queue(REFUNDS_QUEUE, SETTINGS, c.clone())),
        payments: Arc::new(store.queue(PAYMENTS_QUEUE, SETTINGS, c)),
    };
    let fixture = LifecycleFixture {
        store: Arc::new(store),
        queues,
        clock,
    };
    (fixture, dir)
}

async fn fresh_sqlite_outbox() -> (OutboxFixture, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(SqliteStore::open(dir.path()).expect("open store"));
    // The first take starts the outbox at the present, as the notifier's first round does.
    store.take_new(START, 500).await.expect("first take");
    let fixture = OutboxFixture {
        store: store.clone(),
        outbox: store,
    };
    (fixture, dir)
}

mod store {
    orderflow_core::store_contract_suite!(super::fresh_sqlite_store);
}

mod queue {
    orderflow_core::queue_contract_suite!(super::fresh_sqlite_queue);
}

mod lifecycle {
    orderflow_core::lifecycle_contract_suite!(super::fresh_sqlite_backend);
}

mod outbox {
    orderflow_core::outbox_contract_suite!(super::fresh_sqlite_outbox);
}
