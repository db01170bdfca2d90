//! orderflow on AWS: the store on DynamoDB and the queues on SQS, behind the same ports as
//! the embedded backend, so the same service and the same contract suites run on both.
//!
//! # Layout
//!
//! - [`dynamo`]: [`DynamoStore`]. Placing an order is one `TransactWriteItems`; every
//!   transition is a conditional write on the order's state. Unpaid pending orders sit in a
//!   sparse, sharded index by `expiresAt` that the sweeper queries.
//! - [`sqs`]: [`SqsQueue`], a thin mapping of the queue port onto SQS.
//! - [`setup`]: `orderflow aws init`: tables, indexes, TTL, queues and their dead-letter
//!   queues, created if missing.
//! - [`config`]: names of the tables and queues, from the environment.

pub mod config;
pub mod dynamo;
pub mod setup;
pub mod sqs;

pub use config::AwsNames;
pub use dynamo::DynamoStore;
pub use sqs::SqsQueue;

/// The backend error for an SDK failure: its display chain, never shown to clients.
pub(crate) fn backend(e: impl std::fmt::Display) -> orderflow_core::ports::StoreError {
    orderflow_core::ports::StoreError::backend(std::io::Error::other(e.to_string()))
}
