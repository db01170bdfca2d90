//! [`SqliteStore`]: the store port on one SQLite file, writes through the group-commit
//! writer, reads through the read pool.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use orderflow_core::domain::lifecycle::{StockEffect, Topic, Transition};
use orderflow_core::domain::{
    LimitChange, Lines, Order, OrderEvent, OrderId, Product, ProductId, Resend, StockCount,
    Timestamp, UserId, check_cart,
};
use orderflow_core::messages::OrderMessage;
use orderflow_core::ports::{
    Change, ChangeFeed, ChangeFilter, Clock, NewOrder, OrderPage, OrderQuery, OrderStore, Placed,
    StoreError, Wake,
};
use orderflow_core::stored::StoredLine;
use rusqlite::{Connection, OptionalExtension, ToSql, params};
use tokio::sync::watch;

use crate::queue::{
    ORDERS_QUEUE, QueueSettings, REFUNDS_QUEUE, SqliteQueue, Wakers, insert_message,
};
use crate::reader::Readers;
use crate::rows::{CHANGE_COLUMNS, EVENT_COLUMNS, ORDER_COLUMNS, PRODUCT_COLUMNS};
use crate::rows::{change_from_row, event_from_row, insert_event};
use crate::rows::{get_order, get_product, order_from_row, product_from_row};
use crate::worklists::{AWAITING_MESSAGE, AWAITING_PAYMENT, WorkList};
use crate::writer::{Writer, exec};
use crate::{DB_FILE, db, schema};

/// Orders, inventory and idempotency keys in `<data dir>/orderflow.db`.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) writer: Writer,
    pub(crate) readers: Readers,
    wakers: Wakers,
    path: PathBuf,
    /// Bumped after each commit that wrote order events: wakes the live streams
    /// ([`ChangeFeed::next_commit`]) without any polling.
    commits: Arc<watch::Sender<u64>>,
}

impl SqliteStore {
    /// Open (or create) the database in `data_dir`, run pending migrations and start the
    /// writer. Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// `Backend` when the directory or file cannot be created or opened, or a migration
    /// fails.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(StoreError::backend)?;
        let path = data_dir.join(DB_FILE);
        let mut conn = Connection::open(&path).map_err(StoreError::backend)?;
        configure_writer(&conn).map_err(StoreError::backend)?;
        schema::migrate(&mut conn).map_err(StoreError::backend)?;
        let (writer, _thread) =
            Writer::spawn_checkpointed(conn, path.clone()).map_err(StoreError::backend)?;
        Ok(Self {
            writer,
            readers: Readers::new(path.clone()),
            wakers: Wakers::default(),
            path,
            commits: Arc::new(watch::Sender::new(0)),
        })
    }

    /// Tell the live streams and the notifier that events were committed (or that a
    /// parked notification is due again).
    pub(crate) fn committed(&self) {
        self.commits.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The queue `name` in this database, sharing its writer (so that transitions write
    /// their messages in the same transaction) and its wake-ups.
    pub fn queue(&self, name: &str, settings: QueueSettings, clock: Arc<dyn Clock>) -> SqliteQueue {
        SqliteQueue::new(
            name,
            settings,
            clock,
            self.writer.clone(),
            self.readers.clone(),
            self.wakers.clone(),
        )
    }

    /// Make every message that was in flight visible again. Only for start-up: the
    /// embedded queues have one consuming process, so anything in flight when it starts
    /// was taken by a process that died, and need not wait out its visibility timeout.
    /// Returns how many messages it made visible.
    ///
    /// # Errors
    /// `Backend`.
    pub async fn recover_in_flight(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "UPDATE queue_messages SET visible_at = ?1
                     WHERE receipt IS NOT NULL AND visible_at > ?1",
                )
                .and_then(|mut st| st.execute([now.as_millis()]))
                .map_err(db)
            })
            .await
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Up to `limit` orders of a work list whose column is below `below`, in its order,
    /// through the list's partial index: the query's condition is the index's own text,
    /// and INDEXED BY makes SQLite fail loudly rather than let the planner choose a scan.
    async fn orders_in(
        &self,
        list: &'static WorkList,
        below: Timestamp,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        self.readers
            .read(move |conn| {
                conn.prepare_cached(&list.select(ORDER_COLUMNS))
                    .and_then(|mut st| {
                        st.query_map(params![below.as_millis(), limit as i64], order_from_row)?
                            .map(|r| r.map(|(_, o)| o))
                            .collect()
                    })
                    .map_err(db)
            })
            .await
    }

    /// The group-commit writer's counters.
    pub fn writer_stats(&self) -> &crate::writer::WriterStats {
        self.writer.stats()
    }
}

/// WAL so that readers never wait for the writer; `synchronous=FULL` so that a commit is
/// on disk before anyone is told it happened (I5: nothing acknowledged is lost).
fn configure_writer(conn: &Connection) -> rusqlite::Result<()> {
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "journal_mode stayed {mode}"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Savepoints (one per command, one per transition of a sweep) keep the pages they
    // change in a sub-journal, which SQLite moves to a temporary file past 64 KiB: a sweep
    // command wrote 32 KiB to it per order timed out, all system calls. In memory it is a
    // copy; its size is bounded by the largest command (a sweep chunk, some MiB).
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

#[async_trait]
impl ChangeFeed for SqliteStore {
    async fn head(&self) -> Result<u64, StoreError> {
        self.readers
            .read(|conn| {
                conn.prepare_cached("SELECT COALESCE(MAX(position), 0) FROM order_events")
                    .and_then(|mut st| st.query_row([], |r| r.get::<_, i64>(0)))
                    .map(|p| p.max(0) as u64)
                    .map_err(db)
            })
            .await
    }

    async fn changes_after(
        &self,
        after: u64,
        filter: &ChangeFilter,
        limit: usize,
    ) -> Result<Vec<Change>, StoreError> {
        let order_id = filter.order_id.map(|id| id.to_string());
        let user_id = filter.user_id.as_ref().map(|u| u.as_str().to_owned());
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.readers
            .read(move |conn| {
                // One statement for every filter: a NULL parameter matches everything.
                conn.prepare_cached(&format!(
                    "SELECT {CHANGE_COLUMNS}
                     FROM order_events e JOIN orders o ON o.seq = e.order_seq
                     WHERE e.position > ?1
                         AND (?2 IS NULL OR o.order_id = ?2)
                         AND (?3 IS NULL OR o.user_id = ?3)
                     ORDER BY e.position LIMIT ?4"
                ))
                .and_then(|mut st| {
                    st.query_map(
                        params![after, order_id, user_id, limit as i64],
                        change_from_row,
                    )?
                    .collect()
                })
                .map_err(db)
            })
            .await
    }

    fn next_commit(&self) -> Wake {
        let mut rx = self.commits.subscribe();
        rx.mark_unchanged();
        Box::pin(async move {
            // The sender lives as long as the store; if it is gone, nothing will change.
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

/// The embedded queue that serves a topic.
fn queue_of(topic: Topic) -> &'static str {
    match topic {
        Topic::Orders => ORDERS_QUEUE,
        Topic::Refunds => REFUNDS_QUEUE,
    }
}

/// Transitions per writer command of [`OrderStore::apply_each`] (a sweep's batch): what a
/// placement may have to wait for beside its own batch. Measured with `orderflow-bench
/// sweep` (docs/BENCHMARKS.md): 100 halved the placing rate during a sweep, 20 keeps about
/// two thirds of it with the sweep of 100,000 orders still under 5 s.
const SWEEP_CHUNK: usize = 20;

/// An error of the same kind as `e`, for each of several callers one failure answers.
fn same_kind(e: &StoreError) -> StoreError {
    let why = || std::io::Error::other(e.to_string());
    match e {
        StoreError::Overloaded => StoreError::Overloaded,
        StoreError::Unavailable(source) => {
            StoreError::unavailable(std::io::Error::other(source.to_string()))
        }
        _ => StoreError::backend(why()),
    }
}

/// Cursors are the acceptance sequence number of the last order of a page, wrapped so that
/// clients treat them as opaque and a cursor the server did not make is recognised.
const CURSOR_PREFIX: &str = "o1.";

fn encode_cursor(seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{seq}"))
}

fn decode_cursor(cursor: &str) -> Result<i64, StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    std::str::from_utf8(&bytes)
        .ok()
        .and_then(|s| s.strip_prefix(CURSOR_PREFIX))
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|&seq| seq > 0)
        .ok_or(StoreError::InvalidCursor)
}

/// The place-order transaction body: it checks everything before it writes, so a refusal
/// changes nothing (see [`crate::writer`]). Returns
/// the new order's acceptance sequence number beside it.
fn place(conn: &Connection, new: &NewOrder) -> Result<(Placed, Option<i64>), StoreError> {
    if let Some(idem) = &new.idempotency {
        let seen: Option<(String, String)> = conn
            .prepare_cached("SELECT fingerprint, order_id FROM idempotency_keys WHERE key = ?1")
            .and_then(|mut st| {
                st.query_row([idem.key.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(db)?;
        if let Some((fingerprint, order_id)) = seen {
            if fingerprint != idem.fingerprint {
                return Err(StoreError::IdempotencyMismatch);
            }
            let order = get_order(conn, &order_id)?.ok_or_else(|| {
                StoreError::backend(std::io::Error::other("idempotency key without its order"))
            })?;
            return Ok((Placed::Replayed(order), None));
        }
    }

    // The checks and the writes run in one transaction on the only writer: what was read
    // cannot change before it is written, so two orders of one customer cannot both pass.
    let o = &new.order;
    let mut products = std::collections::HashMap::with_capacity(o.lines.len());
    let mut held = std::collections::HashMap::new();
    for line in o.lines.iter() {
        let product = get_product(conn, line.product_id.as_str())?;
        if let Some(p) = &product
            && p.max_per_user.is_some()
        {
            held.insert(
                &line.product_id,
                allowance(conn, &o.user_id, &line.product_id)?,
            );
        }
        products.insert(&line.product_id, product);
    }
    let lines = check_cart(
        &o.lines,
        |p| {
            products
                .get(p)
                .and_then(Option::as_ref)
                .map(Product::available)
        },
        |p| held.get(p).copied().unwrap_or(0),
    )
    .map_err(StoreError::Refused)?;
    for line in lines.iter() {
        let q = line.quantity.get();
        let locked = conn
            .prepare_cached(
                "UPDATE inventory SET stock_count = stock_count - ?2,
                     locked_count = locked_count + ?2
                 WHERE product_id = ?1 AND stock_count >= ?2",
            )
            .and_then(|mut st| st.execute(params![line.product_id.as_str(), q]))
            .map_err(db)?;
        if locked == 0 {
            return Err(StoreError::backend(std::io::Error::other(
                "stock changed between the check and the lock",
            )));
        }
        if line.limited {
            conn.prepare_cached(
                "INSERT INTO allowances (user_id, product_id, units) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user_id, product_id) DO UPDATE SET units = units + excluded.units",
            )
            .and_then(|mut st| st.execute(params![o.user_id.as_str(), line.product_id.as_str(), q]))
            .map_err(db)?;
        }
    }
    let o = &Order { lines, ..o.clone() };

    conn.prepare_cached(
        "INSERT INTO orders (order_id, user_id, lines, status, payment_status,
             payment_time, payment_id, refund_status, created_at, updated_at, expires_at, events,
             sent_at, resend_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )
    .and_then(|mut st| {
        st.execute(params![
            o.id.to_string(),
            o.user_id.as_str(),
            StoredLine::encode(&o.lines),
            o.state.status.code(),
            o.state.payment.name(),
            o.payment_time.map(|t| t.as_millis()),
            o.payment_id,
            o.state.refund.name(),
            o.created_at.as_millis(),
            o.updated_at.as_millis(),
            o.expires_at.as_millis(),
            o.events,
            o.resend.map(|r| r.sent_at.as_millis()),
            o.resend.map(|r| r.due_at.as_millis()),
        ])
    })
    .map_err(db)?;
    let seq = conn.last_insert_rowid();
    insert_event(conn, seq, &o.placed_event())?;

    if let Some(idem) = &new.idempotency {
        conn.prepare_cached(
            "INSERT INTO idempotency_keys (key, fingerprint, order_id, created_at)
             VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut st| {
            st.execute(params![
                idem.key.as_str(),
                idem.fingerprint,
                o.id.to_string(),
                o.created_at.as_millis()
            ])
        })
        .map_err(db)?;
    }
    Ok((Placed::Created(o.clone()), Some(seq)))
}

/// The units of `product` that `user` holds in orders counting toward its limit.
fn allowance(conn: &Connection, user: &UserId, product: &ProductId) -> Result<i64, StoreError> {
    conn.prepare_cached("SELECT units FROM allowances WHERE user_id = ?1 AND product_id = ?2")
        .and_then(|mut st| {
            st.query_row(params![user.as_str(), product.as_str()], |r| r.get(0))
                .optional()
        })
        .map(Option::unwrap_or_default)
        .map_err(db)
}

/// Give the limited lines' units back to the customer's allowance (an order that no longer
/// counts toward limits); a row at zero is removed.
fn return_allowance(conn: &Connection, user: &UserId, lines: &Lines) -> Result<(), StoreError> {
    for line in lines.limited() {
        let q = line.quantity.get();
        let returned = conn
            .prepare_cached(
                "UPDATE allowances SET units = units - ?3
                 WHERE user_id = ?1 AND product_id = ?2 AND units >= ?3",
            )
            .and_then(|mut st| st.execute(params![user.as_str(), line.product_id.as_str(), q]))
            .map_err(db)?;
        if returned == 0 {
            // The order counted units its customer's allowance does not hold: refuse rather
            // than hand out allowance nobody took. Rolled back with the transition.
            return Err(StoreError::backend(std::io::Error::other(format!(
                "allowance of {} for {user} holds less than {q}",
                line.product_id
            ))));
        }
        conn.prepare_cached(
            "DELETE FROM allowances WHERE user_id = ?1 AND product_id = ?2 AND units = 0",
        )
        .and_then(|mut st| st.execute(params![user.as_str(), line.product_id.as_str()]))
        .map_err(db)?;
    }
    Ok(())
}

/// Run `f` in a nested savepoint: rolled back alone if it fails.
fn in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    exec(conn, "SAVEPOINT one").map_err(db)?;
    let result = f(conn);
    if result.is_err() {
        exec(conn, "ROLLBACK TO one").map_err(db)?;
    }
    exec(conn, "RELEASE one").map_err(db)?;
    result
}

/// Apply each transition of a sweep's chunk, each with its own fate, and the chunk's stock
/// effects once per product (a sweep's orders are often of one product: one update, not
/// one per order). One savepoint for the chunk rather than one per transition (each copies
/// the pages it touches): a transition that fails (a lost race) wrote nothing. Should
/// anything fail after writing (a broken invariant), the chunk is undone and runs again
/// with a savepoint per transition, so that only the broken one fails.
fn apply_chunk(
    conn: &Connection,
    ts: &[Transition],
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    exec(conn, "SAVEPOINT chunk").map_err(db)?;
    let mut results = Vec::with_capacity(ts.len());
    let mut stock = std::collections::BTreeMap::<(&str, StockEffect), i64>::new();
    let mut dirty = false;
    for t in ts {
        let before = conn.total_changes();
        let result = apply_to_order(conn, t);
        if result.is_err() && crate::writer::left_writes(conn, before) {
            dirty = true;
            break;
        }
        if result.is_ok() {
            for line in t.lines.iter() {
                *stock
                    .entry((line.product_id.as_str(), t.stock))
                    .or_default() += line.quantity.get();
            }
        }
        results.push(result);
    }
    if !dirty {
        dirty = stock
            .iter()
            .any(|(&(product, effect), &q)| move_stock(conn, effect, product, q).is_err());
    }
    if dirty {
        exec(conn, "ROLLBACK TO chunk").map_err(db)?;
        results = ts
            .iter()
            .map(|t| in_savepoint(conn, |c| apply(c, t)))
            .collect();
    }
    exec(conn, "RELEASE chunk").map_err(db)?;
    Ok(results)
}

/// A transition: its order's conditional write, then its lines' stock effects.
fn apply(conn: &Connection, t: &Transition) -> Result<(), StoreError> {
    apply_to_order(conn, t)?;
    for line in t.lines.iter() {
        move_stock(conn, t.stock, line.product_id.as_str(), line.quantity.get())?;
    }
    Ok(())
}

/// The conditional write of a transition to its order, with its event, messages and the
/// customer's allowance; changes nothing when it fails, but for a broken invariant (then its
/// caller undoes it). The stock effect is [`move_stock`]'s.
fn apply_to_order(conn: &Connection, t: &Transition) -> Result<(), StoreError> {
    let id = t.order_id.to_string();
    let changed = conn
        .prepare_cached(
            "UPDATE orders SET status = ?1, payment_status = ?2, refund_status = ?3,
                 updated_at = ?4, payment_time = COALESCE(?5, payment_time),
                 payment_id = COALESCE(?6, payment_id), events = ?11,
                 sent_at = ?12, resend_at = ?13
             WHERE order_id = ?7 AND status = ?8 AND payment_status = ?9 AND refund_status = ?10
                 AND events = ?11 - 1",
        )
        .and_then(|mut st| {
            st.execute(params![
                t.to.status.code(),
                t.to.payment.name(),
                t.to.refund.name(),
                t.at.as_millis(),
                t.payment_time.map(|p| p.as_millis()),
                t.payment_id,
                id,
                t.from.status.code(),
                t.from.payment.name(),
                t.from.refund.name(),
                t.seq,
                t.resend.map(|r| r.sent_at.as_millis()),
                t.resend.map(|r| r.due_at.as_millis()),
            ])
        })
        .map_err(db)?;
    if changed == 0 {
        return Err(StoreError::Conflict);
    }
    // The order's integer key, for its event. (Not `UPDATE ... RETURNING`: SQLite gathers
    // returned rows in a temporary b-tree, the cost migration 11 took away.)
    let order_seq: i64 = conn
        .prepare_cached("SELECT seq FROM orders WHERE order_id = ?1")
        .and_then(|mut st| st.query_row([&id], |r| r.get(0)))
        .map_err(db)?;

    // Its history event and the messages it starts, in the same transaction: either the
    // state change, its event and its messages are committed, or none of them.
    insert_event(conn, order_seq, &t.history_event())?;
    for topic in t.messages() {
        insert_message(
            conn,
            queue_of(topic),
            &OrderMessage::body(t.order_id),
            t.at,
            t.at,
        )?;
    }

    if t.returns_allowance() {
        return_allowance(conn, &t.user_id, &t.lines)?;
    }
    Ok(())
}

/// A transition's effect on one product's counters, for `q` units.
fn move_stock(
    conn: &Connection,
    effect: StockEffect,
    product: &str,
    q: i64,
) -> Result<(), StoreError> {
    let sql = match effect {
        StockEffect::None => return Ok(()),
        StockEffect::Release => {
            "UPDATE inventory SET stock_count = stock_count + ?2, locked_count = locked_count - ?2
             WHERE product_id = ?1 AND locked_count >= ?2"
        }
        StockEffect::Sell => {
            "UPDATE inventory SET locked_count = locked_count - ?2
             WHERE product_id = ?1 AND locked_count >= ?2"
        }
    };
    let moved = conn
        .prepare_cached(sql)
        .and_then(|mut st| st.execute(params![product, q]))
        .map_err(db)?;
    if moved == 0 {
        // The order held stock that the product does not have locked: refuse rather than
        // drive a counter negative (I3). Rolled back with the order update.
        return Err(StoreError::backend(std::io::Error::other(format!(
            "product {product} has less than {q} locked"
        ))));
    }
    Ok(())
}

fn list(conn: &Connection, q: &OrderQuery, after: Option<i64>) -> Result<OrderPage, StoreError> {
    // One more than asked, to know whether there is a next page.
    let want = q.limit as usize + 1;
    let mut rows = if let Some(user) = &q.user_id {
        crate::user_index::list(conn, user.as_str(), q.status.map(|s| s.code()), after, want)?
    } else {
        let mut conditions = Vec::new();
        let mut args: Vec<Box<dyn ToSql>> = Vec::new();
        if let Some(status) = q.status {
            args.push(Box::new(status.code()));
            conditions.push(format!("status = ?{}", args.len()));
        }
        if let Some(seq) = after {
            args.push(Box::new(seq));
            conditions.push(format!("seq < ?{}", args.len()));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        args.push(Box::new(want as i64));
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders {filter} ORDER BY seq DESC LIMIT ?{}",
            args.len()
        );
        conn.prepare_cached(&sql)
            .and_then(|mut st| {
                st.query_map(rusqlite::params_from_iter(args.iter()), order_from_row)?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(db)?
    };
    let more = rows.len() > q.limit as usize;
    rows.truncate(q.limit as usize);
    let next_cursor = if more {
        rows.last().map(|(seq, _)| encode_cursor(*seq))
    } else {
        None
    };
    Ok(OrderPage {
        orders: rows.into_iter().map(|(_, o)| o).collect(),
        next_cursor,
    })
}

#[async_trait]
impl OrderStore for SqliteStore {
    async fn place_order(&self, new: NewOrder) -> Result<Placed, StoreError> {
        let (placed, seq) = self.writer.write(move |conn| place(conn, &new)).await?;
        if matches!(placed, Placed::Created(_)) {
            self.committed();
        }
        if seq.is_some_and(crate::user_index::due) {
            // In the background: the placement is answered now; a failed merge is done by
            // the next one (it takes everything after the mark).
            let writer = self.writer.clone();
            tokio::spawn(async move {
                if let Err(e) = writer.write(crate::user_index::merge).await {
                    tracing::warn!(error = %e, "merging the customers' listing index failed");
                }
            });
        }
        Ok(placed)
    }

    async fn get_order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        self.readers
            .read(move |conn| get_order(conn, &id.to_string()))
            .await
    }

    async fn order_events(&self, id: OrderId) -> Result<Vec<OrderEvent>, StoreError> {
        let id = id.to_string();
        self.readers
            .read(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM orders o JOIN order_events e ON e.order_seq = o.seq
                     WHERE o.order_id = ?1 ORDER BY e.seq"
                ))
                .and_then(|mut st| st.query_map([&id], event_from_row)?.collect())
                .map_err(db)
            })
            .await
    }

    async fn list_orders(&self, query: &OrderQuery) -> Result<OrderPage, StoreError> {
        let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
        let query = query.clone();
        self.readers
            .read(move |conn| list(conn, &query, after))
            .await
    }

    async fn apply(&self, t: &Transition) -> Result<(), StoreError> {
        let topics: Vec<Topic> = t.messages().collect();
        let t = t.clone();
        self.writer.write(move |conn| apply(conn, &t)).await?;
        self.committed();
        for topic in topics {
            self.wakers.wake(queue_of(topic));
        }
        Ok(())
    }

    async fn apply_each(&self, ts: &[Transition]) -> Vec<Result<(), StoreError>> {
        let mut topics: Vec<Topic> = ts.iter().flat_map(Transition::messages).collect();
        topics.dedup();
        // Bulk commands of SWEEP_CHUNK transitions each: the writer commits several
        // together when nothing else waits, and takes placements between them when they
        // do, so a sweep never holds a placement for long.
        let chunks: Vec<_> = ts
            .chunks(SWEEP_CHUNK)
            .map(|chunk| {
                let owned = chunk.to_vec();
                move |conn: &Connection| apply_chunk(conn, &owned)
            })
            .collect();
        let sizes: Vec<usize> = ts.chunks(SWEEP_CHUNK).map(<[_]>::len).collect();
        let mut results = Vec::with_capacity(ts.len());
        for (chunk, n) in self.writer.write_bulk(chunks).await.into_iter().zip(sizes) {
            match chunk {
                Ok(r) => results.extend(r),
                // The commit failed (or was refused): nothing of the chunk was written.
                // Each transition gets an error of the same kind (503 stays 503).
                Err(e) => results.extend((0..n).map(|_| Err(same_kind(&e)))),
            }
        }
        if results.iter().any(Result::is_ok) {
            self.committed();
        }
        for topic in topics {
            self.wakers.wake(queue_of(topic));
        }
        results
    }

    async fn expired_unpaid(&self, now: Timestamp, limit: usize) -> Result<Vec<Order>, StoreError> {
        self.orders_in(&AWAITING_PAYMENT, now, limit).await
    }

    async fn awaiting_message(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        self.orders_in(&AWAITING_MESSAGE, now, limit).await
    }

    async fn rescheduled(&self, order: &Order, resend: Resend) -> Result<(), StoreError> {
        let (id, events) = (order.id.to_string(), order.events);
        self.writer
            .write(move |conn| {
                let changed = conn
                    .prepare_cached(
                        "UPDATE orders SET sent_at = ?3, resend_at = ?4
                         WHERE order_id = ?1 AND events = ?2",
                    )
                    .and_then(|mut st| {
                        st.execute(params![
                            id,
                            events,
                            resend.sent_at.as_millis(),
                            resend.due_at.as_millis()
                        ])
                    })
                    .map_err(db)?;
                if changed == 0 {
                    return Err(StoreError::Conflict);
                }
                Ok(())
            })
            .await
    }

    async fn put_product(
        &self,
        id: &ProductId,
        stock: StockCount,
        limit: LimitChange,
    ) -> Result<Product, StoreError> {
        let id = id.clone();
        let change = limit != LimitChange::Keep;
        let max = limit.applied_to(None).map(|m| m.get());
        self.writer
            .write(move |conn| {
                conn.prepare_cached(&format!(
                    "INSERT INTO inventory (product_id, stock_count, locked_count, max_per_user)
                     VALUES (?1, ?2, 0, ?4)
                     ON CONFLICT (product_id) DO UPDATE SET stock_count = excluded.stock_count,
                         max_per_user = CASE WHEN ?3 THEN excluded.max_per_user
                             ELSE max_per_user END
                     RETURNING {PRODUCT_COLUMNS}"
                ))
                .and_then(|mut st| {
                    st.query_row(
                        params![id.as_str(), stock.get(), change, max],
                        product_from_row,
                    )
                })
                .map_err(db)
            })
            .await
    }

    async fn get_product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        let id = id.clone();
        self.readers
            .read(move |conn| get_product(conn, id.as_str()))
            .await
    }

    async fn list_products(&self) -> Result<Vec<Product>, StoreError> {
        self.readers
            .read(|conn| {
                conn.prepare_cached(&format!(
                    "SELECT {PRODUCT_COLUMNS} FROM inventory ORDER BY product_id"
                ))
                .and_then(|mut st| st.query_map([], product_from_row)?.collect())
                .map_err(db)
            })
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.readers
            .read(|conn| {
                conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
                    .map_err(db)
            })
            .await?;
        // The writer too, with a real write: it proves that commits reach the disk, so a
        // full disk or a read-only file turns the health check to 503 (and back).
        self.writer
            .write(|conn| {
                exec(
                    conn,
                    "INSERT INTO health_probe (id, writes) VALUES (1, 1)
                     ON CONFLICT (id) DO UPDATE SET writes = writes + 1",
                )
                .map_err(db)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use orderflow_core::domain::lifecycle::{self, PaymentDecision, PaymentOutcome};
    use orderflow_core::domain::{OrderState, OrderStatus, Quantity, RefusalKind};

    use super::*;

    fn new_order(product: &str, q: i64) -> NewOrder {
        let t0 = Timestamp::from_millis(1_790_000_000_000);
        NewOrder {
            order: Order {
                id: OrderId::new_random(),
                user_id: UserId::parse("u").unwrap(),
                lines: Lines::one(
                    ProductId::parse(product).unwrap(),
                    Quantity::new(q).unwrap(),
                ),
                state: OrderState::PLACED,
                payment_time: None,
                payment_id: None,
                created_at: t0,
                updated_at: t0,
                expires_at: t0.plus(Duration::from_secs(60)),
                events: 1,
                resend: None,
            },
            idempotency: None,
        }
    }

    /// A database that turned read-only, produced by SQLite itself: `PRAGMA query_only`
    /// on the writer's connection makes every write fail with SQLITE_READONLY, as a file
    /// remounted read-only does (a real read-only remount is refused while the file is open
    /// for writing, so it is made here; e2e/faults.rs fills a real disk and shows recovery).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_only_database_refuses_writes_as_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let p = ProductId::parse("p1").unwrap();
        store
            .put_product(&p, StockCount::new(5).unwrap(), LimitChange::Keep)
            .await
            .unwrap();
        let pragma = |on: bool| {
            store
                .writer
                .write(move |conn| conn.pragma_update(None, "query_only", on).map_err(db))
        };
        // (Its own commit may already be refused, depending on what the batch wrote.)
        let _ = pragma(true).await;
        let refused = store.place_order(new_order("p1", 1)).await;
        assert!(
            matches!(refused, Err(StoreError::Unavailable(_))),
            "{refused:?}"
        );
        assert!(matches!(
            store.ping().await,
            Err(StoreError::Unavailable(_))
        ));
        let p1 = store.get_product(&p).await.unwrap().unwrap();
        assert_eq!((p1.stock_count, p1.locked_count), (5, 0), "nothing written");
        // Recovery once the cause is gone is shown on a real full disk (e2e/faults.rs).
    }

    /// A sweep's chunk runs without a savepoint per transition; a transition that fails
    /// after writing (here: its product no longer has the units locked, a broken I1 made
    /// by hand) must still be undone alone, its chunk-mates timed out.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transition_failing_after_writing_is_undone_alone_in_its_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        for p in ["a", "b"] {
            store
                .put_product(
                    &ProductId::parse(p).unwrap(),
                    StockCount::new(10).unwrap(),
                    LimitChange::Keep,
                )
                .await
                .unwrap();
        }
        let mut orders = Vec::new();
        for p in ["a", "b", "a"] {
            match store.place_order(new_order(p, 1)).await.unwrap() {
                Placed::Created(o) => orders.push(o),
                Placed::Replayed(_) => unreachable!(),
            }
        }
        store
            .writer
            .write(|c| {
                exec(
                    c,
                    "UPDATE inventory SET locked_count = 0 WHERE product_id = 'b'",
                )
                .map_err(db)
            })
            .await
            .unwrap();
        let late = orders[0].expires_at.plus(Duration::from_secs(1));
        let sweeps: Vec<_> = orders
            .iter()
            .map(|o| lifecycle::on_expiry(o, late).unwrap())
            .collect();
        let results = store.apply_each(&sweeps).await;
        assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
        assert!(
            matches!(results[1], Err(StoreError::Backend(_))),
            "{results:?}"
        );
        let status = |i: usize| {
            let store = &store;
            let id = orders[i].id;
            async move { store.get_order(id).await.unwrap().unwrap().state.status }
        };
        assert_eq!(status(0).await, OrderStatus::Timeout);
        assert_eq!(
            status(1).await,
            OrderStatus::Pending,
            "undone: not timed out"
        );
        assert_eq!(status(2).await, OrderStatus::Timeout);
        assert_eq!(
            store.order_events(orders[1].id).await.unwrap().len(),
            1,
            "no event"
        );
        let a = store
            .get_product(&ProductId::parse("a").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (a.stock_count, a.locked_count),
            (10, 0),
            "both of a's units back"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_batch_gives_each_command_its_own_answer() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let p = ProductId::parse("p").unwrap();
        store
            .put_product(&p, StockCount::new(2).unwrap(), LimitChange::Keep)
            .await
            .unwrap();
        // The order the two racing transitions are about, on a product of its own, so
        // that releasing it does not change what the placements find.
        let h = ProductId::parse("h").unwrap();
        store
            .put_product(&h, StockCount::new(1).unwrap(), LimitChange::Keep)
            .await
            .unwrap();
        let held = match store.place_order(new_order("h", 1)).await.unwrap() {
            Placed::Created(o) => o,
            Placed::Replayed(_) => unreachable!(),
        };
        let late = held.expires_at.plus(Duration::from_secs(1));
        let sweep = lifecycle::on_expiry(&held, late).unwrap();
        let PaymentDecision::Apply {
            transition: fail, ..
        } = lifecycle::on_payment(&held, PaymentOutcome::Failed, None, late)
        else {
            unreachable!()
        };

        // Hold the writer, so that everything sent meanwhile waits and is taken together.
        let (open_gate, gate) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel::<()>();
        let mut started = Some(started);
        let hold = tokio::spawn({
            let w = store.writer.clone();
            async move {
                w.write(move |_| {
                    if let Some(tx) = started.take() {
                        let _ = tx.send(());
                    }
                    Ok(gate.recv().ok())
                })
                .await
            }
        });
        let settle = |n: usize| {
            let w = store.writer.clone();
            async move {
                let t0 = std::time::Instant::now();
                while w.waiting() != n {
                    assert!(
                        t0.elapsed() < Duration::from_secs(10),
                        "{} waiting",
                        w.waiting()
                    );
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        };
        // The hold's batch is in progress.
        running.await.unwrap();
        let before = store.writer_stats().batches.load(Ordering::Relaxed);

        let mut places = Vec::new();
        for _ in 0..5 {
            let s = store.clone();
            places.push(tokio::spawn(async move {
                s.place_order(new_order("p", 1)).await
            }));
        }
        let ghost = {
            let s = store.clone();
            tokio::spawn(async move { s.place_order(new_order("ghost", 1)).await })
        };
        let both = {
            let s = store.clone();
            tokio::spawn(async move { s.apply_each(&[sweep, fail]).await })
        };
        // All seven commands wait behind the hold.
        settle(7).await;
        open_gate.send(()).unwrap();
        hold.await.unwrap().unwrap();

        let (mut created, mut out_of_stock) = (0, 0);
        for p in places {
            match p.await.unwrap() {
                Ok(Placed::Created(_)) => created += 1,
                Err(StoreError::Refused(r)) if r.kind == RefusalKind::OutOfStock => {
                    out_of_stock += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!((created, out_of_stock), (2, 3), "2 units were left");
        assert!(matches!(
            ghost.await.unwrap(),
            Err(StoreError::Refused(r)) if r.kind == RefusalKind::ProductNotFound
        ));
        let results = both.await.unwrap();
        assert!(results[0].is_ok(), "{results:?}");
        assert!(
            matches!(results[1], Err(StoreError::Conflict)),
            "{results:?}"
        );

        // All of that was one transaction, and every answer held.
        let after = store.writer_stats().batches.load(Ordering::Relaxed);
        // The held batch, then one more for everything that waited behind it.
        assert_eq!(
            after - before,
            2,
            "the waiting commands were committed together"
        );
        let stock = store.get_product(&p).await.unwrap().unwrap();
        assert_eq!((stock.stock_count, stock.locked_count), (0, 2));
        let stock = store.get_product(&h).await.unwrap().unwrap();
        assert_eq!(
            (stock.stock_count, stock.locked_count),
            (1, 0),
            "released once"
        );
        let order = store.get_order(held.id).await.unwrap().unwrap();
        assert_eq!(
            order.state.status,
            orderflow_core::domain::OrderStatus::Timeout
        );
    }

    /// A customer's listing reads the orders after the index's mark and those in it as one
    /// sequence, newest first, across pages and a merge made between them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_customers_listing_spans_the_merged_index_and_the_orders_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let p = ProductId::parse("p").unwrap();
        store
            .put_product(&p, StockCount::new(100).unwrap(), LimitChange::Keep)
            .await
            .unwrap();
        let mut mine = Vec::new();
        let place = async |user: &str| {
            let mut new = new_order("p", 1);
            new.order.user_id = UserId::parse(user).unwrap();
            let id = new.order.id;
            store.place_order(new).await.unwrap();
            id
        };
        for i in 0..12 {
            let id = place(if i % 3 == 0 { "b" } else { "a" }).await;
            if i % 3 != 0 {
                mine.push(id);
            }
            if i == 5 {
                let taken = store.writer.write(crate::user_index::merge).await.unwrap();
                assert_eq!(taken, 6, "the orders so far, both customers'");
            }
        }
        // One of them in another status, for the status filter.
        let first = store.get_order(mine[0]).await.unwrap().unwrap();
        let late = first.expires_at.plus(Duration::from_secs(1));
        store
            .apply(&lifecycle::on_expiry(&first, late).unwrap())
            .await
            .unwrap();
        mine.reverse(); // newest first
        let a = UserId::parse("a").unwrap();
        let pages = |status| {
            let (store, a) = (store.clone(), a.clone());
            async move {
                let mut got = Vec::new();
                let mut cursor = None;
                loop {
                    let page = store
                        .list_orders(&OrderQuery {
                            user_id: Some(a.clone()),
                            status,
                            limit: 3,
                            cursor,
                        })
                        .await
                        .unwrap();
                    assert!(page.orders.iter().all(|o| o.user_id == a));
                    got.extend(page.orders.iter().map(|o| o.id));
                    match page.next_cursor {
                        Some(c) => cursor = Some(c),
                        None => return got,
                    }
                }
            }
        };
        assert_eq!(
            pages(None).await,
            mine,
            "every order of the customer, in order"
        );
        let pending = pages(Some(orderflow_core::domain::OrderStatus::Pending)).await;
        assert_eq!(pending, mine[..mine.len() - 1], "all but the timed-out one");
        // A second merge moves the mark past the rest; the listing stays the same.
        assert_eq!(
            store.writer.write(crate::user_index::merge).await.unwrap(),
            6
        );
        assert_eq!(pages(None).await, mine);
    }

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let c = encode_cursor(42);
        assert!(
            c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(decode_cursor(&c).unwrap(), 42);
        for bad in [
            "",
            "42",
            "not a cursor",
            "%%%",
            &URL_SAFE_NO_PAD.encode("o1.-3"),
        ] {
            assert!(
                matches!(decode_cursor(bad), Err(StoreError::InvalidCursor)),
                "{bad}"
            );
        }
    }
}
