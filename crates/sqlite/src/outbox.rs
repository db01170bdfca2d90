//! The notification outbox on SQLite: the event log is the source; `notify_cursor` says
//! how far the outbox has taken it, and `notifications` holds what is still to deliver.
//! Taking new events and moving the cursor is one writer command, so an event is never
//! skipped nor taken twice, whatever crashes.

use async_trait::async_trait;
use orderflow_core::domain::{OrderId, Timestamp};
use orderflow_core::ports::{Notification, Outbox, StoreError};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::db;
use crate::rows::{CHANGE_COLUMNS, change_from_row};
use crate::store::SqliteStore;
use crate::writer::exec;

fn notification_from_row(row: &Row<'_>) -> rusqlite::Result<Notification> {
    Ok(Notification {
        change: change_from_row(row)?,
        attempts: row.get(14)?,
        first_failed_at: row.get::<_, Option<i64>>(15)?.map(Timestamp::from_millis),
        last_error: row.get(16)?,
    })
}

/// Notifications with their changes, `condition` over `n` (the outbox row).
fn select(condition: &str) -> String {
    format!(
        "SELECT {CHANGE_COLUMNS}, n.attempts, n.first_failed_at, n.last_error
         FROM notifications n
         JOIN order_events e ON e.position = n.position
         JOIN orders o ON o.seq = e.order_seq
         WHERE {condition}"
    )
}

fn take_new(conn: &Connection, now: Timestamp, limit: usize) -> Result<usize, StoreError> {
    let cursor: Option<i64> = conn
        .prepare_cached("SELECT position FROM notify_cursor WHERE id = 1")
        .and_then(|mut st| st.query_row([], |r| r.get(0)).optional())
        .map_err(db)?;
    let Some(cursor) = cursor else {
        // First use: start from the present.
        exec(
            conn,
            "INSERT INTO notify_cursor (id, position)
             SELECT 1, COALESCE(MAX(position), 0) FROM order_events",
        )
        .map_err(db)?;
        return Ok(0);
    };
    let taken = conn
        .prepare_cached(
            "INSERT INTO notifications (position, order_id, seq, due_at)
             SELECT e.position, o.order_id, e.seq, ?2
             FROM order_events e JOIN orders o ON o.seq = e.order_seq
             WHERE e.position > ?1 ORDER BY e.position LIMIT ?3",
        )
        .and_then(|mut st| st.execute(params![cursor, now.as_millis(), limit as i64]))
        .map_err(db)?;
    if taken > 0 {
        conn.prepare_cached(
            "UPDATE notify_cursor SET position =
                 (SELECT position FROM order_events WHERE position > ?1
                  ORDER BY position LIMIT 1 OFFSET ?2)
             WHERE id = 1",
        )
        .and_then(|mut st| st.execute(params![cursor, taken as i64 - 1]))
        .map_err(db)?;
    }
    Ok(taken)
}

#[async_trait]
impl Outbox for SqliteStore {
    async fn take_new(&self, now: Timestamp, limit: usize) -> Result<usize, StoreError> {
        self.writer
            .write(move |conn| take_new(conn, now, limit))
            .await
    }

    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<Notification>, StoreError> {
        self.readers
            .read(move |conn| {
                conn.prepare_cached(&format!(
                    "{} ORDER BY n.position LIMIT ?2",
                    select(
                        "n.parked = 0 AND n.due_at <= ?1 AND NOT EXISTS (
                             SELECT 1 FROM notifications m
                             WHERE m.order_id = n.order_id AND m.seq < n.seq)"
                    )
                ))
                .and_then(|mut st| {
                    st.query_map(
                        params![now.as_millis(), limit as i64],
                        notification_from_row,
                    )?
                    .collect()
                })
                .map_err(db)
            })
            .await
    }

    async fn next_due(&self) -> Result<Option<Timestamp>, StoreError> {
        self.readers
            .read(|conn| {
                // Only the first notification of each order can fall due: the others wait
                // for it, not for a time.
                conn.prepare_cached(
                    "SELECT MIN(due_at) FROM notifications n WHERE parked = 0 AND NOT EXISTS (
                         SELECT 1 FROM notifications m
                         WHERE m.order_id = n.order_id AND m.seq < n.seq)",
                )
                .and_then(|mut st| st.query_row([], |r| r.get::<_, Option<i64>>(0)))
                .map(|t| t.map(Timestamp::from_millis))
                .map_err(db)
            })
            .await
    }

    async fn delivered(&self, n: &Notification) -> Result<(), StoreError> {
        let position = n.change.position as i64;
        self.writer
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM notifications WHERE position = ?1")
                    .and_then(|mut st| st.execute([position]))
                    .map(|_| ())
                    .map_err(db)
            })
            .await
    }

    async fn failed(
        &self,
        n: &Notification,
        error: &str,
        now: Timestamp,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let (position, error) = (n.change.position as i64, error.to_owned());
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "UPDATE notifications SET attempts = attempts + 1,
                         first_failed_at = COALESCE(first_failed_at, ?2), last_error = ?3,
                         due_at = COALESCE(?4, due_at), parked = (?4 IS NULL)
                     WHERE position = ?1",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        position,
                        now.as_millis(),
                        error,
                        retry_at.map(Timestamp::as_millis)
                    ])
                })
                .map(|_| ())
                .map_err(db)
            })
            .await
    }

    async fn parked(&self) -> Result<Vec<Notification>, StoreError> {
        self.readers
            .read(|conn| {
                conn.prepare_cached(&format!("{} ORDER BY n.position", select("n.parked = 1")))
                    .and_then(|mut st| st.query_map([], notification_from_row)?.collect())
                    .map_err(db)
            })
            .await
    }

    async fn unpark(
        &self,
        order_id: OrderId,
        seq: u32,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let order_id = order_id.to_string();
        let changed = self
            .writer
            .write(move |conn| {
                conn.prepare_cached(
                    "UPDATE notifications SET parked = 0, due_at = ?3, attempts = 0,
                         first_failed_at = NULL
                     WHERE order_id = ?1 AND seq = ?2 AND parked = 1",
                )
                .and_then(|mut st| st.execute(params![order_id, seq, now.as_millis()]))
                .map_err(db)
            })
            .await?;
        if changed > 0 {
            self.committed();
        }
        Ok(changed > 0)
    }
}
