//! SQL rows to domain values. Every query that returns orders selects [`ORDER_COLUMNS`].

use orderflow_core::domain::{
    Id, Order, OrderId, OrderState, OrderStatus, PaymentStatus, Product, Quantity, RefundStatus,
    Timestamp,
};
use orderflow_core::ports::StoreError;
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row};

pub(crate) const ORDER_COLUMNS: &str = "seq, order_id, user_id, product_id, quantity, status, \
     payment_status, payment_time, payment_id, refund_status, created_at, updated_at, expires_at";

/// A stored value the domain does not accept: the file was changed behind our back.
fn corrupt(col: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        col,
        Type::Text,
        format!("stored {what} is not valid").into(),
    )
}

/// An order row and its acceptance sequence number.
pub(crate) fn order_from_row(row: &Row<'_>) -> rusqlite::Result<(i64, Order)> {
    let seq: i64 = row.get(0)?;
    let order_id: String = row.get(1)?;
    let status: i64 = row.get(5)?;
    let payment: String = row.get(6)?;
    let refund: String = row.get(9)?;
    let order = Order {
        id: OrderId::parse(&order_id).map_err(|_| corrupt(1, "orderId"))?,
        user_id: Id::parse("userId", row.get::<_, String>(2)?).map_err(|_| corrupt(2, "userId"))?,
        product_id: Id::parse("productId", row.get::<_, String>(3)?)
            .map_err(|_| corrupt(3, "productId"))?,
        quantity: Quantity::new(row.get(4)?).map_err(|_| corrupt(4, "quantity"))?,
        state: OrderState {
            status: OrderStatus::from_code(status).ok_or_else(|| corrupt(5, "status"))?,
            payment: PaymentStatus::parse(&payment).ok_or_else(|| corrupt(6, "paymentStatus"))?,
            refund: RefundStatus::parse(&refund).ok_or_else(|| corrupt(9, "refundStatus"))?,
        },
        payment_time: row.get::<_, Option<i64>>(7)?.map(Timestamp::from_millis),
        payment_id: row.get(8)?,
        created_at: Timestamp::from_millis(row.get(10)?),
        updated_at: Timestamp::from_millis(row.get(11)?),
        expires_at: Timestamp::from_millis(row.get(12)?),
    };
    Ok((seq, order))
}

pub(crate) fn product_from_row(row: &Row<'_>) -> rusqlite::Result<Product> {
    Ok(Product {
        product_id: Id::parse("productId", row.get::<_, String>(0)?)
            .map_err(|_| corrupt(0, "productId"))?,
        stock_count: row.get(1)?,
        locked_count: row.get(2)?,
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
    conn.prepare_cached(
        "SELECT product_id, stock_count, locked_count FROM inventory WHERE product_id = ?1",
    )
    .and_then(|mut st| st.query_row([id], product_from_row).optional())
    .map_err(crate::db)
}
