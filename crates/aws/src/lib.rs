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
//! - [`retry`]: how the store's writes are tried again when DynamoDB throttles them or
//!   another transaction is in their way ([`RetryPolicy`]), and how that composes with the
//!   SDK's own retries.
//! - [`sqs`]: [`SqsQueue`], a thin mapping of the queue port onto SQS.
//! - [`setup`]: `orderflow aws init`: tables, indexes, TTL, queues and their dead-letter
//!   queues, created if missing.
//! - [`config`]: names of the tables and queues, from the environment.

pub mod config;
pub mod dynamo;
#[cfg(any(test, feature = "testing"))]
pub mod emulator;
pub mod listing;
pub mod outbox;
pub mod retry;
pub mod setup;
pub mod sqs;
mod stock;

pub use config::AwsNames;
pub use dynamo::DynamoStore;
pub use retry::RetryPolicy;
pub use sqs::SqsQueue;

/// The backend error for an SDK failure: its display chain, never shown to clients.
pub(crate) fn backend(e: impl std::fmt::Display) -> orderflow_core::ports::StoreError {
    orderflow_core::ports::StoreError::backend(std::io::Error::other(e.to_string()))
}

/// Error codes (and transaction cancellation reasons) of DynamoDB throttling a request.
const THROTTLING_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    // Cancellation reasons of a transaction's items.
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
];

/// Error codes (and cancellation reasons) of a write that another transaction was in the
/// way of.
const CONTENTION_CODES: &[&str] = &["TransactionConflictException", "TransactionConflict"];

/// Error codes of a service hiccup: the same call may pass later, but the store does not
/// retry it (the SDK's retry layer already did).
const HICCUP_CODES: &[&str] = &[
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
    "LimitExceededException",
];

/// Whether a code (of an error, or a cancellation reason) is one the store's retry policy
/// retries: contention or throttling ([`retry`]).
pub(crate) fn passing(code: &str) -> Option<retry::Passing> {
    if CONTENTION_CODES.contains(&code) {
        Some(retry::Passing::Contention)
    } else if THROTTLING_CODES.contains(&code) {
        Some(retry::Passing::Throttled)
    } else {
        None
    }
}

/// Whether a cancelled transaction may pass if tried again as it is: some item was in
/// another transaction's way or throttled, and no item failed otherwise (a lost condition,
/// a validation error). Contention wins over throttling when both are there.
pub(crate) fn cancellation_passing(codes: &[Option<String>]) -> Option<retry::Passing> {
    let mut why = None;
    for code in codes.iter().flatten().map(String::as_str) {
        match passing(code) {
            Some(retry::Passing::Contention) => why = Some(retry::Passing::Contention),
            Some(retry::Passing::Throttled) => {
                why = why.or(Some(retry::Passing::Throttled));
            }
            None if code == "None" => {}
            None => return None,
        }
    }
    why
}

/// `Overloaded` (503 `overloaded`), logged: the reason the port's error cannot carry.
fn overloaded(message: &str) -> orderflow_core::ports::StoreError {
    tracing::warn!(
        error = message,
        "AWS throttled the request, or it was contended"
    );
    orderflow_core::ports::StoreError::Overloaded
}

/// A cancelled transaction whose cancellation the caller did not expect (not the lost
/// condition it handles), once the retry policy is done with it: `Overloaded` when an item
/// was throttled or in another transaction's way, `Backend` otherwise.
pub(crate) fn cancelled(what: &str, codes: &[Option<String>]) -> orderflow_core::ports::StoreError {
    let message = format!("{what} cancelled: {codes:?}");
    if codes.iter().flatten().any(|c| passing(c).is_some()) {
        overloaded(&message)
    } else {
        backend(message)
    }
}

/// An SDK call's failure as the store port's error, once the retries are done: throttling
/// and contention are `Overloaded` (503 `overloaded`, Retry-After 1 s); service hiccups, 5xx
/// answers and failures to reach the service (timeouts, connection errors, a response cut
/// short) are `Unavailable` (503 `unavailable`, Retry-After 5 s); anything else is
/// `Backend` (500).
pub(crate) fn sdk<E>(
    e: aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> orderflow_core::ports::StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
    let code = e.code().map(str::to_owned);
    let message = DisplayErrorContext(&e).to_string();
    if code.as_deref().and_then(passing).is_some() {
        return overloaded(&message);
    }
    let transient = match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(s) => s.raw().status().is_server_error(),
        _ => false,
    } || code.is_some_and(|c| HICCUP_CODES.contains(&c.as_str()));
    if transient {
        orderflow_core::ports::StoreError::unavailable(std::io::Error::other(message))
    } else {
        backend(message)
    }
}

/// A service error (after `into_service_error`) as the store port's error, as [`sdk`]
/// (without the HTTP status, which it no longer has).
pub(crate) fn service(
    e: impl aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error,
) -> orderflow_core::ports::StoreError {
    let message = aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string();
    match e.code() {
        Some(c) if passing(c).is_some() => overloaded(&message),
        Some(c) if HICCUP_CODES.contains(&c) => {
            orderflow_core::ports::StoreError::unavailable(std::io::Error::other(message))
        }
        _ => backend(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use orderflow_core::ports::StoreError;
    use retry::Passing;

    fn codes(c: &[&str]) -> Vec<Option<String>> {
        c.iter()
            .map(|c| (!c.is_empty()).then(|| (*c).to_owned()))
            .collect()
    }

    #[test]
    fn throttling_and_contention_are_retried_other_errors_are_not() {
        for code in [
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "RequestLimitExceeded",
            "ThrottlingError",
            "ProvisionedThroughputExceeded",
        ] {
            assert_eq!(passing(code), Some(Passing::Throttled), "{code}");
        }
        for code in ["TransactionConflictException", "TransactionConflict"] {
            assert_eq!(passing(code), Some(Passing::Contention), "{code}");
        }
        for code in [
            "ConditionalCheckFailedException",
            "ConditionalCheckFailed",
            "InternalServerError",
            "ValidationException",
            "ResourceNotFoundException",
            "AccessDeniedException",
            "None",
        ] {
            assert_eq!(passing(code), None, "{code}");
        }
    }

    #[test]
    fn a_cancellation_is_retried_only_without_another_failure() {
        assert_eq!(
            cancellation_passing(&codes(&["None", "TransactionConflict", ""])),
            Some(Passing::Contention)
        );
        assert_eq!(
            cancellation_passing(&codes(&["ThrottlingError", "None"])),
            Some(Passing::Throttled)
        );
        assert_eq!(
            cancellation_passing(&codes(&[
                "ProvisionedThroughputExceeded",
                "TransactionConflict"
            ])),
            Some(Passing::Contention)
        );
        // A lost condition is the caller's, whatever else happened.
        assert_eq!(
            cancellation_passing(&codes(&["ConditionalCheckFailed", "TransactionConflict"])),
            None
        );
        assert_eq!(
            cancellation_passing(&codes(&["TransactionConflict", "ValidationError"])),
            None
        );
        assert_eq!(cancellation_passing(&codes(&["None", "None"])), None);
        assert_eq!(cancellation_passing(&[]), None);
    }

    #[test]
    fn a_transaction_cancelled_by_throttling_or_contention_is_overloaded() {
        for c in [
            codes(&["None", "ThrottlingError"]),
            codes(&["TransactionConflict", "ConditionalCheckFailed"]),
        ] {
            assert!(
                matches!(cancelled("t", &c), StoreError::Overloaded),
                "{c:?}"
            );
        }
        let invalid = codes(&["ValidationError", ""]);
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
