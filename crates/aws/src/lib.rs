//! orderflow on AWS: the store on DynamoDB and the queues on SQS, behind the same ports as
//! the embedded backend, so the same service and the same contract suites run on both.
//!
//! # Layout
//!
//! - [`dynamo`]: [`DynamoStore`]. Placing an order is one `TransactWriteItems`; every
//!   transition is a conditional write on the order's state. Unpaid pending orders sit in a
//!   sparse, sharded index by `expiresAt` that the sweeper queries.
//! - [`outbox`]: the notification outbox on the order items, with a sparse, sharded index
//!   of orders whose events are not all delivered.
//! - [`sqs`]: [`SqsQueue`], a thin mapping of the queue port onto SQS.
//! - [`setup`]: `orderflow aws init`: tables, indexes, TTL, queues and their dead-letter
//!   queues, created if missing.
//! - [`config`]: names of the tables and queues, from the environment.

pub mod config;
pub mod dynamo;
pub mod outbox;
pub mod setup;
pub mod sqs;

pub use config::AwsNames;
pub use dynamo::DynamoStore;
pub use sqs::SqsQueue;

/// The backend error for an SDK failure: its display chain, never shown to clients.
pub(crate) fn backend(e: impl std::fmt::Display) -> orderflow_core::ports::StoreError {
    orderflow_core::ports::StoreError::backend(std::io::Error::other(e.to_string()))
}

/// Whether a store keeps the notification outbox, and how new events are announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notifications {
    /// No `--notify-url`: no outbox.
    Off,
    /// The outbox, polled through its index by a notifier (`orderflow serve`).
    Polled,
    /// The outbox, and `{"orderId"}` on the notify queue after each event (Lambda).
    Queued,
}

/// The store and the three queues named by `names`, on the clients' account (or emulator).
/// `ORDERFLOW_QUEUE_URL`, when set, addresses the orders queue directly.
///
/// # Errors
/// `Backend` when a queue does not exist (run `orderflow aws init`) or SQS does not answer.
pub async fn connect(
    dynamo: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    names: AwsNames,
    notifications: Notifications,
) -> Result<(DynamoStore, orderflow_core::service::Queues), orderflow_core::ports::StoreError> {
    use std::sync::Arc;
    let notify_queue = match notifications {
        Notifications::Queued => Some(Arc::new(
            SqsQueue::by_name(sqs.clone(), &names.notify_queue()).await?,
        ) as Arc<dyn orderflow_core::ports::Queue>),
        _ => None,
    };
    let orders = match std::env::var("ORDERFLOW_QUEUE_URL") {
        Ok(url) => SqsQueue::new(sqs.clone(), url),
        Err(_) => SqsQueue::by_name(sqs.clone(), &names.queue).await?,
    };
    let queues = orderflow_core::service::Queues {
        orders: Arc::new(orders),
        refunds: Arc::new(SqsQueue::by_name(sqs.clone(), &names.refunds_queue()).await?),
        payments: Arc::new(SqsQueue::by_name(sqs, &names.payments_queue()).await?),
    };
    let mut store = DynamoStore::new(dynamo, names).with_messages(dynamo::Messages {
        orders: queues.orders.clone(),
        refunds: queues.refunds.clone(),
    });
    if notifications != Notifications::Off {
        store = store.with_notifications(dynamo::Notify {
            queue: notify_queue,
        });
    }
    Ok((store, queues))
}
