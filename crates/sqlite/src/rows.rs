//! SQL rows to domain values, through the stored forms every backend shares
//! ([`orderflow_core::stored`]). Every query that returns orders selects [`ORDER_COLUMNS`].

use orderflow_core::domain::{
    MaxPerUser, Order, OrderEvent, OrderId, Product, ProductId, Timestamp,
};
use orderflow_core::ports::{Change, StoreError};
use orderflow_core::stored::{StoredEvent, StoredLine, StoredOrder};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row};

pub(crate) const ORDER_COLUMNS: &str = "seq, order_id, user_id, lines, status, \
     payment_status, payment_time, payment_id, refund_status, created_at, updated_at, expires_at, \
     events, sent_at, resend_at";

/// A stored value the domain does not accept: the file was changed behind our back.
fn corrupt(col: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        col,
        Type::Text,
        format!("stored {what} is not valid").into(),
    )
}

/// A stored value the domain refused, as a row-reading error.
fn refused(col: usize, e: StoreError) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, Type::Text, Box::new(e))
}

/// The `lines` column at `col`.
fn lines_at(row: &Row<'_>, col: usize) -> rusqlite::Result<Vec<StoredLine>> {
    let text: String = row.get(col)?;
    StoredLine::decode(&text).map_err(|e| refused(col, e))
}

/// An order row and its acceptance sequence number.
pub(crate) fn order_from_row(row: &Row<'_>) -> rusqlite::Result<(i64, Order)> {
    let stored = StoredOrder {
        order_id: row.get(1)?,
        user_id: row.get(2)?,
        lines: lines_at(row, 3)?,
        product_id: None,
        quantity: None,
        order_status: row.get(4)?,
        payment_status: row.get(5)?,
        payment_time: row.get(6)?,
        payment_id: row.get(7)?,
        refund_status: row.get(8)?,
        created_at: row.get(9)?,
        updated_at: row.get(10)?,
        expires_at: row.get(11)?,
        events: row.get(12)?,
        sent_at: row.get(13)?,
        resend_at: row.get(14)?,
    };
    Ok((row.get(0)?, stored.into_order().map_err(|e| refused(1, e))?))
}

/// For `order_events e JOIN orders o ON o.seq = e.order_seq` (events name their order by
/// its integer key; the id is the order's).
pub(crate) const EVENT_COLUMNS: &str = "o.order_id, e.seq, e.at, e.type, e.status, \
     e.payment_status, e.refund_status, e.payment_time, e.payment_id";

/// An `order_events` row selected as [`EVENT_COLUMNS`].
pub(crate) fn event_from_row(row: &Row<'_>) -> rusqlite::Result<OrderEvent> {
    event_at(row, 0)
}

/// The [`EVENT_COLUMNS`] of a row, starting at column `at`.
fn event_at(row: &Row<'_>, at: usize) -> rusqlite::Result<OrderEvent> {
    let order_id: String = row.get(at)?;
    let order_id = OrderId::parse(&order_id).map_err(|_| corrupt(at, "orderId"))?;
    let stored = StoredEvent {
        seq: row.get(at + 1)?,
        at: row.get(at + 2)?,
        kind: row.get(at + 3)?,
        order_status: row.get(at + 4)?,
        payment_status: row.get(at + 5)?,
        refund_status: row.get(at + 6)?,
        payment_time: row.get(at + 7)?,
        payment_id: row.get(at + 8)?,
    };
    stored.into_event(order_id).map_err(|e| refused(at, e))
}

/// The columns [`change_from_row`] reads, for `order_events e JOIN orders o ON o.seq =
/// e.order_seq`.
pub(crate) const CHANGE_COLUMNS: &str = "e.position, o.order_id, e.seq, e.at, e.type, e.status, \
     e.payment_status, e.refund_status, e.payment_time, e.payment_id, \
     o.user_id, o.lines, o.created_at, o.expires_at";

/// A row of the live stream's query: an event (columns 1-9, as [`EVENT_COLUMNS`]) after
/// its position (column 0), then the order's fixed fields; the order is rebuilt as it was
/// right after the event.
pub(crate) fn change_from_row(row: &Row<'_>) -> rusqlite::Result<Change> {
    let position: i64 = row.get(0)?;
    let event = event_at(row, 1)?;
    // The order as it was right after the event: its fixed fields, the event's state.
    let stored = StoredOrder {
        order_id: event.order_id.to_string(),
        user_id: row.get(10)?,
        lines: lines_at(row, 11)?,
        product_id: None,
        quantity: None,
        order_status: i64::from(event.state.status.code()),
        payment_status: event.state.payment.name().into(),
        refund_status: event.state.refund.name().into(),
        payment_time: event.payment_time.map(Timestamp::as_millis),
        payment_id: event.payment_id.clone(),
        created_at: row.get(12)?,
        updated_at: event.at.as_millis(),
        expires_at: row.get(13)?,
        events: event.seq,
        sent_at: None,
        resend_at: None,
    };
    Ok(Change {
        position: u64::try_from(position).map_err(|_| corrupt(0, "position"))?,
        order: stored.into_order().map_err(|e| refused(10, e))?,
        event,
    })
}

/// Append `e` to the history of its order, whose integer key (`orders.seq`) is `order_seq`.
pub(crate) fn insert_event(
    conn: &Connection,
    order_seq: i64,
    e: &OrderEvent,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO order_events (order_seq, seq, at, type, status, payment_status,
             refund_status, payment_time, payment_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .and_then(|mut st| {
        st.execute(rusqlite::params![
            order_seq,
            e.seq,
            e.at.as_millis(),
            e.kind.name(),
            e.state.status.code(),
            e.state.payment.name(),
            e.state.refund.name(),
            e.payment_time.map(|t| t.as_millis()),
            e.payment_id,
        ])
    })
    .map(|_| ())
    .map_err(crate::db)
}

/// The columns [`product_from_row`] reads.
pub(crate) const PRODUCT_COLUMNS: &str = "product_id, stock_count, locked_count, max_per_user";

pub(crate) fn product_from_row(row: &Row<'_>) -> rusqlite::Result<Product> {
    let max_per_user = row
        .get::<_, Option<i64>>(3)?
        .map(|m| MaxPerUser::new(m).map_err(|_| corrupt(3, "maxPerUser")))
        .transpose()?;
    Ok(Product {
        product_id: ProductId::parse(row.get::<_, String>(0)?)
            .map_err(|_| corrupt(0, "productId"))?,
        stock_count: row.get(1)?,
        locked_count: row.get(2)?,
        max_per_user,
    })
}

pub(crate) fn get_order(conn: &Connection, id: &str) -> Result<Option<Order>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = ?1"
    ))
    .and_then(|mut st| st.query_row([id], order_from_row).optional())
    .map(|o| o.map(|(_, order)| order))
    .map_err(crate::db)
}

pub(crate) fn get_product(conn: &Connection, id: &str) -> Result<Option<Product>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {PRODUCT_COLUMNS} FROM inventory WHERE product_id = ?1"
    ))
    .and_then(|mut st| st.query_row([id], product_from_row).optional())
    .map_err(crate::db)
}
