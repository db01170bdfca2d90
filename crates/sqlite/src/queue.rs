//! [`SqliteQueue`]: durable queues with the semantics of SQS, in the same database as the
//! orders, so that a message is written in the same transaction as the state change that
//! produces it (no dual write).
//!
//! - At-least-once: receiving hides a message for the visibility timeout instead of
//!   removing it; only `delete` with the latest receipt removes it.
//! - A message received `max_receives` times without being deleted moves to the
//!   dead-letter queue `<name>-dlq` at its next receive, as SQS's redrive policy does.
//! - Receivers wait on a [`Notify`] that every send wakes, and otherwise sleep until the
//!   next message becomes visible: no busy polling.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use orderflow_core::domain::Timestamp;
use orderflow_core::ports::{Clock, Delivery, Queue, StoreError};
use rusqlite::{Connection, params};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::reader::Readers;
use crate::writer::Writer;

/// Paid orders for the consumer.
pub const ORDERS_QUEUE: &str = "orders";
/// Refunds to carry out.
pub const REFUNDS_QUEUE: &str = "refunds";
/// Simulated payments waiting for their delay.
pub const PAYMENTS_QUEUE: &str = "payments";

/// The dead-letter queue of `name`.
pub fn dead_letter_queue(name: &str) -> String {
    format!("{name}-dlq")
}

#[derive(Debug, Clone, Copy)]
pub struct QueueSettings {
    /// How long a received message stays hidden before it is delivered again.
    pub visibility_timeout: Duration,
    /// Receives without a delete before the message is dead-lettered.
    pub max_receives: u32,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            visibility_timeout: Duration::from_secs(30),
            max_receives: 5,
        }
    }
}

/// One [`Notify`] per queue name, shared by the store (whose transitions write messages)
/// and the queues (whose receivers wait on them).
#[derive(Debug, Clone, Default)]
pub(crate) struct Wakers(Arc<Mutex<HashMap<String, Arc<Notify>>>>);

impl Wakers {
    pub(crate) fn get(&self, queue: &str) -> Arc<Notify> {
        self.0
            .lock()
            .expect("wakers poisoned")
            .entry(queue.to_owned())
            .or_default()
            .clone()
    }

    pub(crate) fn wake(&self, queue: &str) {
        self.get(queue).notify_waiters();
    }
}

/// One named queue in the embedded database.
#[derive(Clone)]
pub struct SqliteQueue {
    name: Arc<str>,
    dead_letters: Arc<str>,
    settings: QueueSettings,
    clock: Arc<dyn Clock>,
    writer: Writer,
    readers: Readers,
    wakers: Wakers,
}

impl SqliteQueue {
    pub(crate) fn new(
        name: &str,
        settings: QueueSettings,
        clock: Arc<dyn Clock>,
        writer: Writer,
        readers: Readers,
        wakers: Wakers,
    ) -> Self {
        Self {
            name: name.into(),
            dead_letters: dead_letter_queue(name).into(),
            settings,
            clock,
            writer,
            readers,
            wakers,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// One receive attempt, without waiting.
    async fn try_receive(&self, max: usize) -> Result<Vec<Delivery>, StoreError> {
        let (name, dlq) = (self.name.clone(), self.dead_letters.clone());
        let now = self.clock.now();
        let settings = self.settings;
        self.writer
            .write(move |conn| receive(conn, &name, &dlq, now, settings, max))
            .await
    }

    /// When the next message of this queue becomes visible (delayed or in flight).
    async fn next_visible_at(&self) -> Result<Option<Timestamp>, StoreError> {
        let name = self.name.clone();
        self.readers
            .read(move |conn| {
                conn.prepare_cached("SELECT MIN(visible_at) FROM queue_messages WHERE queue = ?1")
                    .and_then(|mut st| st.query_row([&*name], |r| r.get::<_, Option<i64>>(0)))
                    .map(|v| v.map(Timestamp::from_millis))
                    .map_err(crate::db)
            })
            .await
    }
}

fn receive(
    conn: &Connection,
    name: &str,
    dlq: &str,
    now: Timestamp,
    settings: QueueSettings,
    max: usize,
) -> Result<Vec<Delivery>, StoreError> {
    let db = crate::db;
    let mut out = Vec::new();
    if max == 0 {
        return Ok(out);
    }
    let hidden_until = now.plus(settings.visibility_timeout).as_millis();
    loop {
        let ready: Vec<(i64, String, u32)> = conn
            .prepare_cached(
                "SELECT id, body, receive_count FROM queue_messages
                 WHERE queue = ?1 AND visible_at <= ?2 ORDER BY visible_at, id LIMIT ?3",
            )
            .and_then(|mut st| {
                st.query_map(params![name, now.as_millis(), max as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect()
            })
            .map_err(db)?;
        if ready.is_empty() {
            return Ok(out);
        }
        for (id, body, count) in ready {
            if count >= settings.max_receives {
                conn.prepare_cached(
                    "UPDATE queue_messages SET queue = ?2, receive_count = 0, receipt = NULL,
                         visible_at = ?3 WHERE id = ?1",
                )
                .and_then(|mut st| st.execute(params![id, dlq, now.as_millis()]))
                .map_err(db)?;
                continue;
            }
            let receipt = uuid::Uuid::new_v4().simple().to_string();
            conn.prepare_cached(
                "UPDATE queue_messages SET receive_count = receive_count + 1, visible_at = ?2,
                     receipt = ?3 WHERE id = ?1",
            )
            .and_then(|mut st| st.execute(params![id, hidden_until, receipt]))
            .map_err(db)?;
            out.push(Delivery {
                message_id: id.to_string(),
                receipt,
                body,
                receive_count: count + 1,
            });
        }
        // Everything ready was dead-lettered: look again for messages behind them.
        if !out.is_empty() {
            return Ok(out);
        }
    }
}

/// Insert a message; used by `send` and by the store's transitions.
pub(crate) fn insert_message(
    conn: &Connection,
    queue: &str,
    body: &str,
    visible_at: Timestamp,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO queue_messages (queue, body, visible_at, sent_at) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut st| {
        st.execute(params![
            queue,
            body,
            visible_at.as_millis(),
            now.as_millis()
        ])
    })
    .map(|_| ())
    .map_err(crate::db)
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn send(&self, body: &str, delay: Duration) -> Result<(), StoreError> {
        let (name, body) = (self.name.clone(), body.to_owned());
        let now = self.clock.now();
        self.writer
            .write(move |conn| insert_message(conn, &name, &body, now.plus(delay), now))
            .await?;
        self.wakers.wake(&self.name);
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, StoreError> {
        let deadline = Instant::now() + wait;
        let notify = self.wakers.get(&self.name);
        loop {
            // Registered before looking, so a send between the look and the wait still
            // wakes us.
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();

            let got = self.try_receive(max).await?;
            let now = Instant::now();
            if !got.is_empty() || now >= deadline {
                return Ok(got);
            }
            let mut nap = deadline - now;
            if let Some(at) = self.next_visible_at().await? {
                let until = at.as_millis() - self.clock.now().as_millis();
                let until = Duration::from_millis(until.max(1) as u64);
                nap = nap.min(until);
            }
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep(nap) => {}
            }
        }
    }

    async fn delete(&self, receipt: &str) -> Result<(), StoreError> {
        let receipt = receipt.to_owned();
        self.writer
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM queue_messages WHERE receipt = ?1")
                    .and_then(|mut st| st.execute([&receipt]))
                    .map(|_| ())
                    .map_err(crate::db)
            })
            .await
    }

    async fn release(&self, receipt: &str, delay: Duration) -> Result<(), StoreError> {
        let receipt = receipt.to_owned();
        let visible_at = self.clock.now().plus(delay);
        self.writer
            .write(move |conn| {
                conn.prepare_cached("UPDATE queue_messages SET visible_at = ?2 WHERE receipt = ?1")
                    .and_then(|mut st| st.execute(params![receipt, visible_at.as_millis()]))
                    .map(|_| ())
                    .map_err(crate::db)
            })
            .await?;
        self.wakers.wake(&self.name);
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.next_visible_at().await.map(|_| ())
    }
}
