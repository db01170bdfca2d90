//! The sweeper's unit of work: one sweep.

use std::time::Duration;

use crate::domain::lifecycle;
use crate::domain::{Order, Resend, Timestamp};
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
    /// batches of `sweep_batch` found through the store's index, until none is left or
    /// `stop_at` has passed (a Lambda's deadline: what was done is committed batch by
    /// batch). One order that cannot be written (its product throttled, say) is logged and
    /// counted as failed, and the others go on; a sweep stops when a batch makes no
    /// progress. Orders paid (or failed) meanwhile lose nothing: each change is conditional.
    ///
    /// # Errors
    /// `Internal` (or `Unavailable`) when the store cannot even list the expired orders.
    pub async fn sweep_once(&self, stop_at: Option<Timestamp>) -> Result<Swept, Error> {
        let batch = self.settings.sweep_batch.max(1);
        let mut report = Swept::default();
        loop {
            let now = self.clock.now();
            if stop_at.is_some_and(|stop| now >= stop) {
                report.stopped_early = true;
                return Ok(report);
            }
            let expired = self.store.expired_unpaid(now, batch).await?;
            let found = expired.len();
            // The whole batch in one go, so that a store with group commit writes it in
            // one transaction; each transition still carries its own condition.
            let timeouts: Vec<_> = expired
                .iter()
                .filter_map(|o| lifecycle::on_expiry(o, now))
                .collect();
            let results = self.store.apply_each(&timeouts).await;
            let mut progress = found - timeouts.len();
            for (t, result) in timeouts.iter().zip(results) {
                let result = match result {
                    // Changed since it was listed (paid, failed): decide again on a fresh read.
                    Err(StoreError::Conflict) => self
                        .change(t.order_id, None, |o, now| {
                            Ok(lifecycle::on_expiry(o, now).map(|t| (t, ())))
                        })
                        .await
                        .map(|changed| matches!(changed, Changed::Applied(..))),
                    other => other.map(|()| true).map_err(Error::from),
                };
                match result {
                    Ok(timed_out) => {
                        progress += 1;
                        report.timed_out += usize::from(timed_out);
                    }
                    Err(e) => {
                        report.failed += 1;
                        tracing::warn!(order = %t.order_id, error = %e, "sweep: timing out failed; the next sweep tries again");
                    }
                }
            }
            // A short batch was the last; a batch in which every order failed would be
            // found again as it is, so the sweep ends there too.
            if found < batch || progress == 0 {
                return Ok(report);
            }
        }
    }

    /// Send again the messages of orders that waited too long for them (paid and waiting
    /// for the consumer, processing past its lease, refund initiated): on a backend that
    /// writes a state change and sends its message in two steps, a crash in between leaves
    /// an order waiting for a message that was never sent, and a message that failed too
    /// often is dead-lettered. Each order's next look backs off ([`Resend::next`]), so a
    /// backlog is not flooded with duplicates (a message sent twice is harmless: the
    /// consumers are idempotent). One order that fails is logged and counted; the others
    /// go on. At most `sweep_batch` per batch, batches until none is due or `stop_at`.
    ///
    /// # Errors
    /// `Internal` (or `Unavailable`) when the store cannot list the orders due.
    pub async fn resend_awaited(&self, stop_at: Option<Timestamp>) -> Result<Resent, Error> {
        let batch = self.settings.sweep_batch.max(1);
        let mut report = Resent::default();
        loop {
            let now = self.clock.now();
            if stop_at.is_some_and(|stop| now >= stop) {
                return Ok(report);
            }
            let due = self.store.awaiting_message(now, batch).await?;
            let mut progress = 0;
            for order in &due {
                match self.resend(order, now).await {
                    Ok(()) => {
                        progress += 1;
                        report.orders += 1;
                    }
                    Err(e) => {
                        report.failed += 1;
                        tracing::warn!(order = %order.id, error = %e, "re-sending a waiting order failed; the next sweep tries again");
                    }
                }
            }
            if due.len() < batch || progress == 0 {
                return Ok(report);
            }
        }
    }

    /// Send `order`'s awaited messages again and schedule its next look.
    async fn resend(&self, order: &Order, now: Timestamp) -> Result<(), Error> {
        let body = OrderMessage::body(order.id);
        for topic in lifecycle::awaited_topics(order.state) {
            self.queue_of(topic).send(&body, Duration::ZERO).await?;
        }
        let next = order.resend.map_or_else(
            || Resend::first(now, self.settings.resend_after),
            |r| r.next(now),
        );
        match self.store.rescheduled(order, next).await {
            // Changed meanwhile: it was moved on, or its new state scheduled its own look.
            Ok(()) | Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Orders timed out (stock released).
    pub timed_out: usize,
    /// Orders that could not be written; the next sweep tries again.
    pub failed: usize,
    /// The sweep stopped at its deadline with orders possibly left.
    pub stopped_early: bool,
}

/// What one round of re-sends did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Resent {
    /// Orders whose messages were sent again.
    pub orders: usize,
    /// Orders whose re-send failed; the next sweep tries again.
    pub failed: usize,
}
