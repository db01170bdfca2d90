//! The embedded backend: orders, inventory and idempotency keys in one SQLite file.
//!
//! # Layout
//!
//! - [`schema`]: the versioned migrations, run at start-up.
//! - [`writer`]: the one writer thread that owns the write connection and commits waiting
//!   writes together (group commit); every write goes through it.
//! - `reader`: a small pool of read-only connections; WAL lets reads run beside the writer.
//! - `rows`: SQL rows to domain values and back.
//! - `user_index`: the customers' listing index, filled in bulk.
//! - [`SqliteStore`]: the [`orderflow_core::ports::OrderStore`] built from the above.
//! - [`queue`]: [`SqliteQueue`], durable queues with SQS's semantics in the same file, so a
//!   transition and the message it starts are one transaction.
//!
//! # Durability
//!
//! WAL with `synchronous=FULL`: a write is acknowledged only after the commit that holds it
//! has been fsynced, so an acknowledged order survives `kill -9` and power loss.

mod outbox;
pub mod queue;
mod reader;
mod rows;
pub mod schema;
mod store;
mod user_index;
mod worklists;
pub mod writer;

pub use queue::{QueueSettings, SqliteQueue};
pub use store::SqliteStore;

/// The database file inside `--data-dir`.
pub const DB_FILE: &str = "orderflow.db";

/// A SQLite error as the store port's error. Those that go away by themselves (a full
/// disk, a file turned read-only, an I/O error, a lock held too long) are `Unavailable`,
/// which the API answers with 503 and `Retry-After`; the rest are `Backend`.
pub(crate) fn db(e: rusqlite::Error) -> orderflow_core::ports::StoreError {
    use orderflow_core::ports::StoreError;
    if passes(&e) {
        StoreError::unavailable(e)
    } else {
        StoreError::backend(e)
    }
}

/// Whether `e` is a cause that goes away by itself (space freed, permissions restored).
pub(crate) fn passes(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode as C;
    matches!(
        e.sqlite_error_code(),
        Some(
            C::DiskFull
                | C::ReadOnly
                | C::SystemIoFailure
                | C::CannotOpen
                | C::DatabaseBusy
                | C::DatabaseLocked
                | C::OutOfMemory
                | C::FileLockingProtocolFailed
        )
    )
}
