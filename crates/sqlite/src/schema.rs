//! Versioned schema migrations, applied in order at start-up.
//!
//! `PRAGMA user_version` records how many have run. A migration is never edited once
//! released; a change is a new entry at the end.

use std::sync::LazyLock;

use rusqlite::Connection;

/// Each entry runs in its own transaction with the version bump.
const STATIC_MIGRATIONS: &[&str] = &[
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
    // 3: paid orders waiting for the consumer, by payment time (the sweeper re-sends
    // those that wait too long).
    r#"
    CREATE INDEX orders_paid_waiting ON orders (payment_time)
        WHERE status = 1 AND payment_status = 'success';
    "#,
    // 4: one row `/healthz` rewrites, so that a health check proves a commit reaches the
    // disk (an empty transaction writes nothing and would pass on a full disk).
    r#"
    CREATE TABLE health_probe (
        id     INTEGER PRIMARY KEY CHECK (id = 1),
        writes INTEGER NOT NULL
    );
    "#,
    // 5: every order's history. `position` is the global commit order (the live stream's
    // ids); (order_id, seq) is the order's own. Orders placed before this version get
    // their `placed` event, the only one that can be known for them.
    r#"
    ALTER TABLE orders ADD COLUMN events INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE order_events (
        position       INTEGER PRIMARY KEY,
        order_id       TEXT NOT NULL,
        seq            INTEGER NOT NULL,
        at             INTEGER NOT NULL,
        type           TEXT NOT NULL,
        status         INTEGER NOT NULL CHECK (status BETWEEN 1 AND 5),
        payment_status TEXT NOT NULL,
        refund_status  TEXT NOT NULL,
        payment_time   INTEGER,
        payment_id     TEXT,
        UNIQUE (order_id, seq)
    );
    INSERT INTO order_events (order_id, seq, at, type, status, payment_status, refund_status)
        SELECT order_id, 1, created_at, 'placed', 1, 'pending', 'none' FROM orders ORDER BY seq;
    UPDATE orders SET events = 1;
    "#,
    // 6: the notification outbox. `notify_cursor` is the last event position taken into it;
    // `notifications` holds what is still to be delivered (or parked), by event position.
    r#"
    CREATE TABLE notify_cursor (
        id       INTEGER PRIMARY KEY CHECK (id = 1),
        position INTEGER NOT NULL
    );
    CREATE TABLE notifications (
        position        INTEGER PRIMARY KEY,
        order_id        TEXT NOT NULL,
        seq             INTEGER NOT NULL,
        due_at          INTEGER NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        first_failed_at INTEGER,
        last_error      TEXT,
        parked          INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX notifications_by_order ON notifications (order_id, seq);
    CREATE INDEX notifications_due ON notifications (parked, due_at);
    "#,
];

/// 8: carts and per-customer limits. An order's lines are one JSON column (read and
/// written whole with the order; no query looks inside them), replacing its one product
/// and quantity, which needs the table rebuilt (SQLite cannot drop a column with a foreign
/// key); its indexes are made again, the work lists' as generated today. Products gain
/// `max_per_user`; `allowances` holds each customer's units of each limited product in
/// orders that count toward the limit.
static MIGRATION_8: LazyLock<String> = LazyLock::new(|| {
    format!(
        r#"
    CREATE TABLE orders_v8 (
        seq            INTEGER PRIMARY KEY,
        order_id       TEXT NOT NULL UNIQUE,
        user_id        TEXT NOT NULL,
        -- [{{"productId", "quantity", "limited"?}}, ...] in the order given.
        lines          TEXT NOT NULL,
        status         INTEGER NOT NULL CHECK (status BETWEEN 1 AND 5),
        payment_status TEXT NOT NULL CHECK (payment_status IN ('pending', 'success', 'failed')),
        payment_time   INTEGER,
        payment_id     TEXT,
        refund_status  TEXT NOT NULL CHECK (refund_status IN ('none', 'initiated', 'completed')),
        created_at     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL,
        expires_at     INTEGER NOT NULL,
        events         INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO orders_v8 (seq, order_id, user_id, lines, status, payment_status, payment_time,
            payment_id, refund_status, created_at, updated_at, expires_at, events)
        SELECT seq, order_id, user_id,
            json_array(json_object('productId', product_id, 'quantity', quantity)),
            status, payment_status, payment_time, payment_id, refund_status, created_at,
            updated_at, expires_at, events
        FROM orders;
    DROP TABLE orders;
    ALTER TABLE orders_v8 RENAME TO orders;
    CREATE INDEX orders_by_user ON orders (user_id, seq);
    CREATE INDEX orders_by_status ON orders (status, seq);
    {awaiting_payment}
    {awaiting_processing}

    ALTER TABLE inventory ADD COLUMN max_per_user INTEGER
        CHECK (max_per_user BETWEEN 1 AND 1000000);
    CREATE TABLE allowances (
        user_id    TEXT NOT NULL,
        product_id TEXT NOT NULL,
        units      INTEGER NOT NULL CHECK (units >= 0),
        PRIMARY KEY (user_id, product_id)
    ) WITHOUT ROWID;
    "#,
        awaiting_payment = crate::worklists::AWAITING_PAYMENT.create_index(),
        awaiting_processing = crate::worklists::AWAITING_PROCESSING.create_index(),
    )
});

/// 9: nothing stuck. Every order that waits for a message (paid, processing, refund
/// initiated) has `sent_at` and `resend_at` (the sweeper sends it again after that), replacing
/// the paid-orders-only list. Orders already waiting count from their last change.
static MIGRATION_9: LazyLock<String> = LazyLock::new(|| {
    use crate::worklists::{AWAITING_MESSAGE, AWAITING_PROCESSING};
    format!(
        "ALTER TABLE orders ADD COLUMN sent_at INTEGER;
         ALTER TABLE orders ADD COLUMN resend_at INTEGER;
         UPDATE orders SET sent_at = updated_at, resend_at = updated_at + {after}
             WHERE {waiting};
         DROP INDEX {old};
         {index}",
        after = orderflow_core::domain::lifecycle::RESEND_AFTER.as_millis(),
        waiting = AWAITING_MESSAGE.condition(),
        old = AWAITING_PROCESSING.index,
        index = AWAITING_MESSAGE.create_index(),
    )
});

/// 10: the customers' listing index is kept apart from the orders and filled in bulk
/// ([`crate::user_index`]). An index on `orders (user_id, seq)` is written by every
/// placement on the page of that customer's latest entries, a page of its own for nearly
/// every order of a group commit (most of the bytes written per order); `user_orders` takes
/// the orders up to `user_orders_mark` in one sorted insert, many entries per page, and a
/// listing reads the orders after the mark from the table's end.
const MIGRATION_10: &str = r#"
    CREATE TABLE user_orders (
        user_id TEXT NOT NULL,
        seq     INTEGER NOT NULL,
        PRIMARY KEY (user_id, seq)
    ) WITHOUT ROWID;
    INSERT INTO user_orders (user_id, seq) SELECT user_id, seq FROM orders ORDER BY user_id, seq;
    CREATE TABLE user_orders_mark (
        id  INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL
    );
    INSERT INTO user_orders_mark (id, seq) VALUES (1, COALESCE((SELECT MAX(seq) FROM orders), 0));
    DROP INDEX orders_by_user;
"#;

/// 11: the orders' CHECK constraints without `IN` lists. SQLite evaluates `x IN ('a', 'b',
/// 'c')` (three or more constants) by building a temporary b-tree of the list each time the
/// statement runs, so every insert and update of an order built two (a callgrind profile of
/// placing: two b-tree opens and a zeroed page each, about a tenth of the instructions per
/// order). The same rules as comparisons cost nothing of the kind. SQLite cannot change a
/// constraint in place: the table is rebuilt (once, at the first start of this version; its
/// indexes with it).
static MIGRATION_11: LazyLock<String> = LazyLock::new(|| {
    format!(
        r#"
    CREATE TABLE orders_v11 (
        seq            INTEGER PRIMARY KEY,
        order_id       TEXT NOT NULL UNIQUE,
        user_id        TEXT NOT NULL,
        -- [{{"productId", "quantity", "limited"?}}, ...] in the order given.
        lines          TEXT NOT NULL,
        status         INTEGER NOT NULL CHECK (status BETWEEN 1 AND 5),
        payment_status TEXT NOT NULL CHECK (payment_status = 'pending'
            OR payment_status = 'success' OR payment_status = 'failed'),
        payment_time   INTEGER,
        payment_id     TEXT,
        refund_status  TEXT NOT NULL CHECK (refund_status = 'none'
            OR refund_status = 'initiated' OR refund_status = 'completed'),
        created_at     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL,
        expires_at     INTEGER NOT NULL,
        events         INTEGER NOT NULL DEFAULT 0,
        sent_at        INTEGER,
        resend_at      INTEGER
    );
    INSERT INTO orders_v11 (seq, order_id, user_id, lines, status, payment_status,
            payment_time, payment_id, refund_status, created_at, updated_at, expires_at,
            events, sent_at, resend_at)
        SELECT seq, order_id, user_id, lines, status, payment_status, payment_time,
            payment_id, refund_status, created_at, updated_at, expires_at, events, sent_at,
            resend_at
        FROM orders ORDER BY seq;
    DROP TABLE orders;
    ALTER TABLE orders_v11 RENAME TO orders;
    CREATE INDEX orders_by_status ON orders (status, seq);
    {awaiting_payment}
    {awaiting_message}
    "#,
        awaiting_payment = crate::worklists::AWAITING_PAYMENT.create_index(),
        awaiting_message = crate::worklists::AWAITING_MESSAGE.create_index(),
    )
});

/// 12: events name their order by its integer key (`orders.seq`) rather than its id. The
/// history's `(order, seq)` index was keyed by the order id, text made when a request
/// arrives, inserted in the writer's order: each group commit wrote two or three of its
/// leaves and split them half full (2.7 pages per commit of ~18 orders, a WAL frame count
/// showed). By `seq`, which the writer hands out in order, new entries go to its last leaf.
const MIGRATION_12: &str = r#"
    CREATE TABLE order_events_v12 (
        position       INTEGER PRIMARY KEY,
        order_seq      INTEGER NOT NULL,
        seq            INTEGER NOT NULL,
        at             INTEGER NOT NULL,
        type           TEXT NOT NULL,
        status         INTEGER NOT NULL CHECK (status BETWEEN 1 AND 5),
        payment_status TEXT NOT NULL,
        refund_status  TEXT NOT NULL,
        payment_time   INTEGER,
        payment_id     TEXT,
        UNIQUE (order_seq, seq)
    );
    INSERT INTO order_events_v12 (position, order_seq, seq, at, type, status, payment_status,
            refund_status, payment_time, payment_id)
        SELECT e.position, o.seq, e.seq, e.at, e.type, e.status, e.payment_status,
            e.refund_status, e.payment_time, e.payment_id
        FROM order_events e JOIN orders o ON o.order_id = e.order_id
        ORDER BY e.position;
    DROP TABLE order_events;
    ALTER TABLE order_events_v12 RENAME TO order_events;
"#;

/// Every migration in order: the fixed ones, then 7 to 9, whose partial indexes are
/// generated from the domain's work-list predicates ([`crate::worklists`]). A change to a
/// predicate is a new migration that recreates its index (the old index would no longer
/// match the queries, which `INDEXED BY` turns into a loud error rather than a silent scan).
fn migrations() -> Vec<&'static str> {
    let mut all = STATIC_MIGRATIONS.to_vec();
    all.push(crate::worklists::MIGRATION_7.as_str());
    all.push(MIGRATION_8.as_str());
    all.push(MIGRATION_9.as_str());
    all.push(MIGRATION_10);
    all.push(MIGRATION_11.as_str());
    all.push(MIGRATION_12);
    all
}

/// The schema version this build writes.
pub const LATEST: usize = STATIC_MIGRATIONS.len() + 6;

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
    for (i, sql) in migrations().into_iter().enumerate().skip(current) {
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

    /// Writing an order must not build temporary b-trees (see migration 11): a CHECK
    /// with an `IN` list of three constants made SQLite build one per list per statement.
    #[test]
    fn writing_an_order_builds_no_temporary_b_tree() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        for sql in [
            "INSERT INTO orders (order_id, user_id, lines, status, payment_status,
                 payment_time, payment_id, refund_status, created_at, updated_at, expires_at,
                 events, sent_at, resend_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            "UPDATE orders SET status = ?1, payment_status = ?2, refund_status = ?3,
                 updated_at = ?4, events = ?5, sent_at = ?6, resend_at = ?7
             WHERE order_id = ?8 AND status = ?9 AND payment_status = ?10
                 AND refund_status = ?11 AND events = ?5 - 1",
        ] {
            let mut st = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
            let nulls = vec![rusqlite::types::Null; st.parameter_count()];
            let ops: Vec<String> = st
                .query_map(rusqlite::params_from_iter(nulls), |r| r.get(1))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert!(
                !ops.iter().any(|op| op == "OpenEphemeral"),
                "{sql}: {ops:?}"
            );
        }
    }

    #[test]
    fn orders_from_before_carts_become_one_line_carts() {
        let mut conn = Connection::open_in_memory().unwrap();
        let before = migrations();
        // Up to 7, as a database written before carts.
        for (i, sql) in before.iter().take(7).enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", (i + 1) as i64)
                .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO inventory VALUES ('p', 5, 2);
             INSERT INTO orders (order_id, user_id, product_id, quantity, status,
                 payment_status, refund_status, created_at, updated_at, expires_at, events)
             VALUES ('0194f000-0000-7000-8000-000000000001', 'u', 'p', 2, 1, 'pending',
                 'none', 1, 1, 2, 1);
             INSERT INTO order_events (order_id, seq, at, type, status, payment_status,
                 refund_status)
             VALUES ('0194f000-0000-7000-8000-000000000001', 1, 1, 'placed', 1, 'pending',
                 'none');",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let order = crate::rows::get_order(&conn, "0194f000-0000-7000-8000-000000000001")
            .unwrap()
            .unwrap();
        let line = order.lines.single().unwrap();
        assert_eq!((line.product_id.as_str(), line.quantity.get()), ("p", 2));
        // Its `placed` event, now keyed by the order's seq.
        let events: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM orders o JOIN order_events e ON e.order_seq = o.seq
                 WHERE o.order_id = '0194f000-0000-7000-8000-000000000001' AND e.seq = 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(events, 1);
        assert!(!line.limited);
        let p = crate::rows::get_product(&conn, "p").unwrap().unwrap();
        assert_eq!(
            (p.stock_count, p.locked_count, p.max_per_user),
            (5, 2, None)
        );
    }

    #[test]
    fn a_database_from_a_newer_build_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", (LATEST + 1) as i64)
            .unwrap();
        assert!(migrate(&mut conn).is_err());
    }

    /// The plan of `sql`, one line per step.
    fn plan(conn: &Connection, sql: &str) -> String {
        let mut st = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let n = st.parameter_count();
        let args: Vec<i64> = vec![1; n];
        st.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
            .join("; ")
    }

    #[test]
    fn listings_and_queue_receives_use_an_index_never_a_scan() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        // Unfiltered pages walk the table's own b-tree (rowid = seq) backwards and stop at
        // the limit: SQLite calls that a SCAN, but it needs no sort and reads one page.
        for sql in [
            "SELECT * FROM orders ORDER BY seq DESC LIMIT ?1",
            "SELECT * FROM orders WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2",
        ] {
            let p = plan(&conn, sql);
            assert!(!p.contains("TEMP B-TREE"), "{sql}\n  → {p}");
            assert!(p.contains("SEARCH") || p == "SCAN orders", "{sql}\n  → {p}");
        }
        for sql in [
            "SELECT * FROM orders WHERE status = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
            // A customer's orders: those after the mark from the table's end (a rowid
            // range), the rest through `user_orders`.
            &crate::user_index::recent_sql("*"),
            &crate::user_index::indexed_sql("o.*"),
            "SELECT * FROM orders WHERE order_id = ?1",
            "SELECT id, body, receive_count FROM queue_messages
             WHERE queue = ?1 AND visible_at <= ?2 ORDER BY visible_at, id LIMIT ?3",
            "SELECT MIN(visible_at) FROM queue_messages WHERE queue = ?1",
            "DELETE FROM queue_messages WHERE receipt = ?1",
            "SELECT * FROM idempotency_keys WHERE key = ?1",
            // An order's history, and the live stream's join.
            "SELECT e.* FROM orders o JOIN order_events e ON e.order_seq = o.seq
             WHERE o.order_id = ?1 ORDER BY e.seq",
            "SELECT e.*, o.order_id FROM order_events e JOIN orders o ON o.seq = e.order_seq
             WHERE e.position > ?1 ORDER BY e.position LIMIT ?2",
        ] {
            let p = plan(&conn, sql);
            // A full scan reads "SCAN <table>" with no index named.
            let scans = p
                .split("; ")
                .any(|step| step.starts_with("SCAN") && !step.contains("INDEX"));
            assert!(!scans && !p.contains("TEMP B-TREE"), "{sql}\n  → {p}");
        }
    }

    #[test]
    fn the_work_list_queries_use_their_partial_indexes() {
        use crate::worklists::{AWAITING_MESSAGE, AWAITING_PAYMENT};
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        for list in [AWAITING_PAYMENT, AWAITING_MESSAGE] {
            // INDEXED BY makes SQLite fail the statement if the index cannot serve it,
            // rather than silently choosing orders_by_status on a fresh database.
            let plan: String = conn
                .query_row(
                    &format!("EXPLAIN QUERY PLAN {}", list.select("order_id")),
                    rusqlite::params![0, 100],
                    |r| r.get(3),
                )
                .unwrap();
            assert!(plan.contains(list.index), "{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        }
    }
}
