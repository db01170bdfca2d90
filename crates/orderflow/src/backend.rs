//! Opening a backend: the store and its queues, ready for the service.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use orderflow_core::ports::Clock;
use orderflow_core::service::Queues;
use orderflow_sqlite::queue::{ORDERS_QUEUE, PAYMENTS_QUEUE, REFUNDS_QUEUE};
use orderflow_sqlite::{QueueSettings, SqliteStore};

use crate::cli::{Backend, StoreArgs};

/// What the visibility timeout must cover beyond the work itself.
const VISIBILITY_MARGIN: Duration = Duration::from_secs(30);

pub struct Opened {
    pub store: Arc<SqliteStore>,
    pub queues: Queues,
}

/// Open the configured backend. `work` and `refund` are how long handling one orders or
/// refunds message may take, so that a message is not delivered again while in hand.
pub fn open(
    args: &StoreArgs,
    clock: Arc<dyn Clock>,
    work: Duration,
    refund: Duration,
) -> anyhow::Result<Opened> {
    match args.backend {
        Backend::Embedded => {
            let store = SqliteStore::open(&args.data_dir).with_context(|| {
                format!("opening the embedded store in {}", args.data_dir.display())
            })?;
            tracing::info!(db = %store.path().display(), "embedded store open");
            let settings = |busy: Duration| QueueSettings {
                visibility_timeout: VISIBILITY_MARGIN + busy,
                ..QueueSettings::default()
            };
            let queues = Queues {
                orders: Arc::new(store.queue(ORDERS_QUEUE, settings(work), clock.clone())),
                refunds: Arc::new(store.queue(REFUNDS_QUEUE, settings(refund), clock.clone())),
                payments: Arc::new(store.queue(
                    PAYMENTS_QUEUE,
                    settings(Duration::from_secs(10)),
                    clock,
                )),
            };
            Ok(Opened {
                store: Arc::new(store),
                queues,
            })
        }
    }
}
