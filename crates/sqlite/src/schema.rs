//! Versioned schema migrations, applied in order at start-up.
//!
//! `PRAGMA user_version` records how many have run. A migration is never edited once
//! released; a change is a new entry at the end.

use rusqlite::Connection;

/// Each entry runs in its own transaction with the version bump.
const MIGRATIONS: &[&str] = &[
    // 1: orders, inventory, idempotency keys.
    r#"
    CREATE TABLE inventory (
        product_id   TEXT PRIMARY KEY NOT NULL,
        stock_count  INTEGER NOT NULL CHECK (stock_count >= 0),
        locked_count INTEGER NOT NULL CHECK (locked_count >= 0)
    ) WITHOUT ROWID;

    CREATE TABLE orders (
        -- Acceptance order: listings are newest first and orders placed within one
        -- millisecond keep the order in which they were accepted.
        seq            INTEGER PRIMARY KEY,
        order_id       TEXT NOT NULL UNIQUE,
        user_id        TEXT NOT NULL,
        product_id     TEXT NOT NULL REFERENCES inventory (product_id),
        quantity       INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
        status         INTEGER NOT NULL CHECK (status BETWEEN 1 AND 5),
        payment_status TEXT NOT NULL CHECK (payment_status IN ('pending', 'success', 'failed')),
        payment_time   INTEGER,
        payment_id     TEXT,
        refund_status  TEXT NOT NULL CHECK (refund_status IN ('none', 'initiated', 'completed')),
        created_at     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL,
        expires_at     INTEGER NOT NULL
    );
    CREATE INDEX orders_by_user ON orders (user_id, seq);
    CREATE INDEX orders_by_status ON orders (status, seq);
    -- What the sweeper looks for, and nothing else: unpaid pending orders by deadline.
    CREATE INDEX orders_unpaid_by_expiry ON orders (expires_at)
        WHERE status = 1 AND payment_status = 'pending';

    CREATE TABLE idempotency_keys (
        key         TEXT PRIMARY KEY NOT NULL,
        fingerprint TEXT NOT NULL,
        order_id    TEXT NOT NULL,
        created_at  INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
    "#,
    // 2: the durable queues (orders, refunds, simulated payments and their dead letters).
    r#"
    CREATE TABLE queue_messages (
        id            INTEGER PRIMARY KEY,
        queue         TEXT NOT NULL,
        body          TEXT NOT NULL,
        -- Receivers take messages with visible_at <= now; receiving pushes it to
        -- now + visibility timeout, so an unacknowledged message comes back.
        visible_at    INTEGER NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0,
        -- The receipt of the latest delivery; deleting needs it, so a stale delivery
        -- cannot delete a message that was delivered again since.
        receipt       TEXT,
        sent_at       INTEGER NOT NULL
    );
    CREATE INDEX queue_messages_ready ON queue_messages (queue, visible_at, id);
    CREATE UNIQUE INDEX queue_messages_by_receipt ON queue_messages (receipt)
        WHERE receipt IS NOT NULL;
    "#,
];

/// The schema version this build writes.
pub const LATEST: usize = MIGRATIONS.len();

/// Bring the database up to [`LATEST`].
///
/// # Errors
/// A failed migration (rolled back, nothing half-applied), or a database written by a
/// newer orderflow than this one.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let current = usize::try_from(current).unwrap_or(usize::MAX);
    if current > LATEST {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
            Some(format!(
                "database schema version {current} is newer than this build ({LATEST})"
            )),
        ));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "applied schema migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_run_once_and_record_the_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap(); // a second start changes nothing
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v as usize, LATEST);
    }

    #[test]
    fn a_database_from_a_newer_build_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", (LATEST + 1) as i64)
            .unwrap();
        assert!(migrate(&mut conn).is_err());
    }

    #[test]
    fn the_sweeper_query_uses_the_partial_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let plan: String = conn
            .query_row(
                // INDEXED BY makes SQLite fail the statement if the index cannot serve it,
                // rather than silently choosing orders_by_status on a fresh database.
                "EXPLAIN QUERY PLAN SELECT order_id FROM orders INDEXED BY orders_unpaid_by_expiry
                 WHERE status = 1 AND payment_status = 'pending' AND expires_at < ?1
                 ORDER BY expires_at LIMIT 100",
                [0],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("orders_unpaid_by_expiry"), "{plan}");
    }
}
