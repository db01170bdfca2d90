//! The sweeper's unit of work: one sweep.

use crate::domain::Timestamp;
use crate::domain::lifecycle;
use crate::error::Error;
use crate::messages::OrderMessage;
use crate::ports::StoreError;

use super::{Changed, OrderService};

impl OrderService {
    /// The earliest deadline of an unpaid order, if one falls before `horizon`: when the
    /// next order must be timed out (a timer sleeps until then, rather than a sweep every
    /// second). Orders placed from now on all expire after `now + payment timeout`, so that
    /// is the horizon that misses none.
    ///
    /// # Errors
    /// `Internal`.
    pub async fn next_deadline(&self, horizon: Timestamp) -> Result<Option<Timestamp>, Error> {
        let earliest = self.store.expired_unpaid(horizon, 1).await?;
        Ok(earliest.first().map(|o| o.expires_at))
    }

    /// How long a placed order waits for its payment.
    pub fn payment_timeout(&self) -> std::time::Duration {
        self.settings.payment_timeout
    }

    /// Time out every unpaid pending order past its deadline and release its stock, in
    /// batches of `sweep_batch` found through the store's index. Returns how many it timed
    /// out. Orders paid (or failed) meanwhile lose nothing: each change is conditional.
    ///
    /// # Errors
    /// `Internal`.
    pub async fn sweep_once(&self) -> Result<usize, Error> {
        let batch = self.settings.sweep_batch.max(1);
        let mut swept = 0;
        loop {
            let now = self.clock.now();
            let expired = self.store.expired_unpaid(now, batch).await?;
            let found = expired.len();
            // The whole batch in one go, so that a store with group commit writes it in
            // one transaction; each transition still carries its own condition.
            let timeouts: Vec<_> = expired
                .iter()
                .filter_map(|o| lifecycle::on_expiry(o, now))
                .collect();
            let results = self.store.apply_each(&timeouts).await;
            for (t, result) in timeouts.iter().zip(results) {
                match result {
                    Ok(()) => swept += 1,
                    // Changed since it was listed (paid, failed): decide again on a fresh read.
                    Err(StoreError::Conflict) => {
                        let changed = self
                            .change(t.order_id, None, |o, now| {
                                Ok(lifecycle::on_expiry(o, now).map(|t| (t, ())))
                            })
                            .await?;
                        if matches!(changed, Changed::Applied(..)) {
                            swept += 1;
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            // Each order found was either swept or no longer matches the query, so the
            // next batch makes progress; a short batch was the last.
            if found < batch {
                return Ok(swept);
            }
        }
    }

    /// Send paid orders that still wait for the consumer `requeue_after` after their
    /// payment to the orders queue again: on a backend that writes the state change and
    /// sends its message in two steps, a crash in between leaves an order paid with no
    /// message, and this is what finishes it. (A message sent twice is harmless: the
    /// consumer is idempotent.) Returns how many it sent; at most `sweep_batch` per call.
    ///
    /// # Errors
    /// `Internal`.
    pub async fn requeue_paid_waiting(&self) -> Result<usize, Error> {
        let before = crate::domain::Timestamp::from_millis(
            self.clock.now().as_millis()
                - i64::try_from(self.settings.requeue_after.as_millis()).unwrap_or(i64::MAX),
        );
        let waiting = self
            .store
            .paid_waiting(before, self.settings.sweep_batch.max(1))
            .await?;
        let bodies: Vec<_> = waiting.iter().map(|o| OrderMessage::body(o.id)).collect();
        self.queues.orders.send_all(&bodies).await?;
        Ok(waiting.len())
    }
}
