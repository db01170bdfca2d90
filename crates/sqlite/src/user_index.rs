//! The customers' listing index (`GET /orders?userId=`), filled in bulk.
//!
//! An index on the orders by customer would be written by every placement on the page
//! that holds that customer's latest entries: with many customers, nearly one page per
//! order of a group commit, and a page is 4 KiB in the WAL and again at checkpoint. So the
//! index, `user_orders`, holds the orders up to a mark and takes the next ones in one sorted
//! insert every [`MERGE_EVERY`] orders (many entries land on each page it writes), and a
//! listing reads the orders after the mark from the end of the table (a rowid range of at
//! most about [`MERGE_EVERY`] rows) before those of the index.

use orderflow_core::domain::Order;
use orderflow_core::ports::StoreError;
use rusqlite::{Connection, ToSql, params_from_iter};

use crate::db;
use crate::rows::{ORDER_COLUMNS, order_from_row};

/// Orders between two merges: bounds what a customer's listing reads past the mark.
pub(crate) const MERGE_EVERY: i64 = 16_384;

/// Whether placing the order at `seq` should be followed by a merge.
pub(crate) fn due(seq: i64) -> bool {
    seq % MERGE_EVERY == 0
}

/// Take every order after the mark into the index and move the mark (a writer command).
/// Returns how many were taken.
pub(crate) fn merge(conn: &Connection) -> Result<usize, StoreError> {
    let mark = mark(conn)?;
    let taken = conn
        .prepare_cached(
            "INSERT INTO user_orders (user_id, seq)
             SELECT user_id, seq FROM orders WHERE seq > ?1 ORDER BY user_id, seq",
        )
        .and_then(|mut st| st.execute([mark]))
        .map_err(db)?;
    conn.prepare_cached(
        "UPDATE user_orders_mark SET seq = (SELECT COALESCE(MAX(seq), ?1) FROM orders)
         WHERE id = 1",
    )
    .and_then(|mut st| st.execute([mark]))
    .map_err(db)?;
    Ok(taken)
}

fn mark(conn: &Connection) -> Result<i64, StoreError> {
    conn.prepare_cached("SELECT seq FROM user_orders_mark WHERE id = 1")
        .and_then(|mut st| st.query_row([], |r| r.get(0)))
        .map_err(db)
}

/// A customer's orders after the mark (`?2`) and before `?5`, newest first: a rowid range
/// at the table's end. `?1` user, `?3` limit, `?4` status or NULL.
pub(crate) fn recent_sql(columns: &str) -> String {
    format!(
        "SELECT {columns} FROM orders
         WHERE seq > ?2 AND seq < ?5 AND user_id = ?1 AND (?4 IS NULL OR status = ?4)
         ORDER BY seq DESC LIMIT ?3"
    )
}

/// A customer's orders up to `?2` through the index, newest first; `o.` columns.
pub(crate) fn indexed_sql(columns: &str) -> String {
    format!(
        "SELECT {columns} FROM user_orders u JOIN orders o ON o.seq = u.seq
         WHERE u.user_id = ?1 AND u.seq <= ?2 AND (?4 IS NULL OR o.status = ?4)
         ORDER BY u.seq DESC LIMIT ?3"
    )
}

/// Up to `limit` orders of `user`, newest first, in `status` if given and before the
/// sequence number `before` if given, each with its sequence number.
pub(crate) fn list(
    conn: &Connection,
    user: &str,
    status: Option<u8>,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<(i64, Order)>, StoreError> {
    // One snapshot for both halves: a merge in between would move orders across the mark.
    let tx = conn.unchecked_transaction().map_err(db)?;
    let mark = mark(&tx)?;
    let before = before.unwrap_or(i64::MAX);
    let status = status.map(i64::from);
    let mut rows: Vec<(i64, Order)> = tx
        .prepare_cached(&recent_sql(ORDER_COLUMNS))
        .and_then(|mut st| {
            let args: [&dyn ToSql; 5] = [&user, &mark, &(limit as i64), &status, &before];
            st.query_map(params_from_iter(args), order_from_row)?
                .collect()
        })
        .map_err(db)?;
    if rows.len() < limit {
        let upto = mark.min(before - 1);
        let columns: Vec<String> = ORDER_COLUMNS
            .split(", ")
            .map(|c| format!("o.{}", c.trim()))
            .collect();
        let older: Vec<(i64, Order)> = tx
            .prepare_cached(&indexed_sql(&columns.join(", ")))
            .and_then(|mut st| {
                let left = (limit - rows.len()) as i64;
                let args: [&dyn ToSql; 4] = [&user, &upto, &left, &status];
                st.query_map(params_from_iter(args), order_from_row)?
                    .collect()
            })
            .map_err(db)?;
        rows.extend(older);
    }
    Ok(rows)
}
