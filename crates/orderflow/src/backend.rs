//! Opening a backend: the store and its queues, ready for the service.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use orderflow_aws::{AwsNames, DynamoStore, Notifications};
use orderflow_core::ports::{Clock, OrderStore};
use orderflow_core::service::Queues;
use orderflow_sqlite::queue::{ORDERS_QUEUE, PAYMENTS_QUEUE, REFUNDS_QUEUE};
use orderflow_sqlite::{QueueSettings, SqliteStore};

use crate::cli::{Backend, StoreArgs};

/// What the visibility timeout must cover beyond the work itself.
const VISIBILITY_MARGIN: Duration = Duration::from_secs(30);

pub struct Opened {
    pub store: Arc<dyn OrderStore>,
    pub queues: Queues,
    /// The embedded store itself, for what only it has (in-flight recovery, its writer's
    /// counters); `None` on AWS.
    pub embedded: Option<Arc<SqliteStore>>,
    /// The DynamoDB store itself, for its notification outbox; `None` when embedded.
    pub aws: Option<Arc<DynamoStore>>,
}

/// Whether the AWS store keeps the notification outbox: every process that writes the
/// tables must agree, so the commands that do not deliver (`worker`, `sweep`) follow
/// `ORDERFLOW_NOTIFY_URL` too.
pub fn notifications_from_env() -> bool {
    std::env::var_os("ORDERFLOW_NOTIFY_URL").is_some_and(|v| !v.is_empty())
}

/// The AWS SDK's clients, configured from its own environment (`AWS_REGION`,
/// `AWS_ENDPOINT_URL`, credentials).
pub async fn aws_clients() -> (aws_sdk_dynamodb::Client, aws_sdk_sqs::Client) {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    (
        aws_sdk_dynamodb::Client::new(&config),
        aws_sdk_sqs::Client::new(&config),
    )
}

/// Open the configured backend. `work` and `refund` are how long handling one orders or
/// refunds message may take, so that an embedded message is not delivered again while in
/// hand (on AWS the queues' visibility timeouts are set by `aws init` or the template).
pub async fn open(
    args: &StoreArgs,
    clock: Arc<dyn Clock>,
    work: Duration,
    refund: Duration,
    notifications: bool,
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
            let store = Arc::new(store);
            Ok(Opened {
                store: store.clone(),
                queues,
                embedded: Some(store),
                aws: None,
            })
        }
        Backend::Aws => {
            let names = AwsNames::from_env();
            tracing::info!(orders_table = %names.orders_table, queue = %names.queue, "AWS backend");
            let (dynamo, sqs) = aws_clients().await;
            // A process polls the outbox itself: no notify queue needed.
            let notify = if notifications {
                Notifications::Polled
            } else {
                Notifications::Off
            };
            let (store, queues) = orderflow_aws::connect(dynamo, sqs, names, notify)
                .await
                .context("opening the AWS backend (run `orderflow aws init`?)")?;
            let store = Arc::new(store);
            Ok(Opened {
                store: store.clone(),
                queues,
                embedded: None,
                aws: Some(store),
            })
        }
    }
}
