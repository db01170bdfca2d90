//! orderflow on AWS: the store on DynamoDB and the queues on SQS, behind the same ports as
//! the embedded backend, so the same service and the same contract suites run on both.
//!
//! # Layout
//!
//! - [`dynamo`]: [`DynamoStore`]. Placing an order checks the cart on what it reads, then
//!   is one `TransactWriteItems` over its lines' stock, the customer's allowance, the order
//!   and its key; every transition is a conditional write on the order's state (with every
//!   line's stock and the allowance when it moves them). Unpaid pending orders sit in a
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

/// Error codes of AWS that say "not now" rather than "never": throttling, a service hiccup,
/// a transaction in the way. The same call may succeed later.
const PASSING_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
    "LimitExceededException",
    // Cancellation reasons of a transaction's items.
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
];

/// A cancelled transaction whose cancellation was not a lost condition: `Unavailable` when
/// an item was throttled or in another transaction's way, `Backend` otherwise.
pub(crate) fn cancelled(what: &str, codes: &[Option<String>]) -> orderflow_core::ports::StoreError {
    let message = format!("{what} cancelled: {codes:?}");
    if codes.iter().flatten().any(|c| passes(Some(c))) {
        orderflow_core::ports::StoreError::unavailable(std::io::Error::other(message))
    } else {
        backend(message)
    }
}

/// Whether an AWS error code is one that passes by itself.
fn passes(code: Option<&str>) -> bool {
    code.is_some_and(|c| PASSING_CODES.contains(&c))
}

/// An SDK call's failure as the store port's error: throttling, service hiccups and
/// failures to reach the service (timeouts, connection errors) are `Unavailable` (the API
/// answers 503 with Retry-After); anything else is `Backend` (500).
pub(crate) fn sdk<E, R>(
    e: aws_sdk_dynamodb::error::SdkError<E, R>,
) -> orderflow_core::ports::StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
    let transient = match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
        SdkError::ServiceError(s) => passes(s.err().code()),
        _ => passes(e.code()),
    };
    let message = DisplayErrorContext(&e).to_string();
    if transient {
        orderflow_core::ports::StoreError::unavailable(std::io::Error::other(message))
    } else {
        backend(message)
    }
}

/// A service error (after `into_service_error`) as the store port's error, as [`sdk`].
pub(crate) fn service(
    e: impl aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error,
) -> orderflow_core::ports::StoreError {
    let message = aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string();
    if passes(e.code()) {
        orderflow_core::ports::StoreError::unavailable(std::io::Error::other(message))
    } else {
        backend(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_hiccups_pass_other_errors_do_not() {
        for code in [
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "RequestLimitExceeded",
            "InternalServerError",
            "TransactionConflictException",
        ] {
            assert!(passes(Some(code)), "{code}");
        }
        for code in [
            "ValidationException",
            "ResourceNotFoundException",
            "AccessDeniedException",
        ] {
            assert!(!passes(Some(code)), "{code}");
        }
        assert!(!passes(None));
    }

    #[test]
    fn a_transaction_cancelled_by_throttling_is_unavailable() {
        use orderflow_core::ports::StoreError;
        let throttled = [Some("None".to_owned()), Some("ThrottlingError".to_owned())];
        assert!(matches!(
            cancelled("t", &throttled),
            StoreError::Unavailable(_)
        ));
        let invalid = [Some("ValidationError".to_owned()), None];
        assert!(matches!(cancelled("t", &invalid), StoreError::Backend(_)));
    }
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
