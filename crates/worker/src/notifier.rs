//! Notifications to the shop's systems (contract section 6): every order event is POSTed
//! to `--notify-url` as `{"id": "<orderId>:<seq>", "type", "order"}`, signed with
//! `Orderflow-Signature`, at least once and in `seq` order for each order.
//!
//! The events come from the store's durable [`Outbox`], which takes them from the event
//! log; this worker only delivers. A failure is retried with exponential backoff and
//! jitter ([`orderflow_core::domain::notify`]) for 24 hours, then parked for an operator
//! (`GET /notifications/failed`, `POST /notifications/{id}/retry`).
//!
//! [`Notifier::run_once`] does one round (take new events, deliver what is due) and is what
//! tests drive; [`Notifier::run`] repeats it, waiting between rounds for a commit (the
//! change feed's wake-up; a store without one, DynamoDB, is polled: [`Notifier::polling`])
//! or for the next retry to fall due. [`Notifier::attempt`] sends one notification and
//! records the outcome, for a driver that delivers order by order (the Lambda consumer).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use orderflow_core::domain::Timestamp;
use orderflow_core::domain::notify::{notification_id, retry_at};
use orderflow_core::ports::{ChangeFeed, Clock, Notification, Outbox, StoreError, Wake};
use orderflow_core::signature;
use orderflow_http::dto::OrderDto;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// New events taken into the outbox per round.
const TAKE: usize = 500;
/// Deliveries sent at once.
const IN_FLIGHT: usize = 32;
/// Longest wait between rounds when nothing wakes the worker (a safety net).
const IDLE: Duration = Duration::from_secs(30);
/// After a store error, wait this long before the next round.
const BACKOFF: Duration = Duration::from_secs(1);

/// The body the receiver gets.
#[derive(Serialize)]
struct Body {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    order: OrderDto,
}

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// Not accepted; due again at this time.
    RetryAt(Timestamp),
    /// Not accepted, after 24 hours of retries: parked for an operator.
    Parked,
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub taken: usize,
    pub delivered: usize,
    pub failed: usize,
    pub parked: usize,
}

/// What wakes [`Notifier::run`] for new events.
enum Wakeup {
    /// The store's in-process commit signal.
    Feed(Arc<dyn ChangeFeed>),
    /// A timer: a store without one (DynamoDB) is polled this often.
    Every(Duration),
}

pub struct Notifier {
    outbox: Arc<dyn Outbox>,
    wakeup: Wakeup,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    url: String,
    secret: Vec<u8>,
}

impl Notifier {
    pub fn new(
        outbox: Arc<dyn Outbox>,
        feed: Arc<dyn ChangeFeed>,
        clock: Arc<dyn Clock>,
        url: &str,
        secret: Vec<u8>,
    ) -> Self {
        Self::with_wakeup(outbox, Wakeup::Feed(feed), clock, url, secret)
    }

    /// A notifier over an outbox whose store has no commit signal: [`Notifier::run`]
    /// looks for new events every `every` (and sooner when a retry falls due).
    pub fn polling(
        outbox: Arc<dyn Outbox>,
        every: Duration,
        clock: Arc<dyn Clock>,
        url: &str,
        secret: Vec<u8>,
    ) -> Self {
        Self::with_wakeup(outbox, Wakeup::Every(every), clock, url, secret)
    }

    fn with_wakeup(
        outbox: Arc<dyn Outbox>,
        wakeup: Wakeup,
        clock: Arc<dyn Clock>,
        url: &str,
        secret: Vec<u8>,
    ) -> Self {
        Self {
            outbox,
            wakeup,
            clock,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("a plain HTTP client builds"),
            url: url.to_owned(),
            secret,
        }
    }

    /// Take new events into the outbox and deliver every notification due now (one per
    /// order at a time, in `seq` order).
    ///
    /// # Errors
    /// When the store fails; the round's deliveries that finished are recorded.
    pub async fn run_once(self: &Arc<Self>) -> Result<Round, StoreError> {
        let mut round = Round {
            taken: self.outbox.take_new(self.clock.now(), TAKE).await?,
            ..Round::default()
        };
        loop {
            let due = self.outbox.due(self.clock.now(), IN_FLIGHT).await?;
            if due.is_empty() {
                return Ok(round);
            }
            let mut sends = JoinSet::new();
            for n in due {
                let me = self.clone();
                sends.spawn(async move {
                    let result = me.send(&n).await;
                    (n, result)
                });
            }
            let mut any_delivered = false;
            while let Some(done) = sends.join_next().await {
                let (n, result) = done.expect("a delivery task does not panic");
                match self.settle(&n, result).await? {
                    Attempt::Delivered => {
                        round.delivered += 1;
                        any_delivered = true;
                    }
                    Attempt::RetryAt(_) => round.failed += 1,
                    Attempt::Parked => round.parked += 1,
                }
            }
            // A delivery may have let the next event of its order come due; failures wait.
            if !any_delivered {
                return Ok(round);
            }
        }
    }

    /// Send one notification now and record the outcome in the outbox: delivered, failed
    /// and due again at a time by [`retry_at`], or parked. What a function that delivers
    /// one order's notifications (the Lambda consumer) calls for each.
    ///
    /// # Errors
    /// When the store fails to record the outcome (the notification stays as it was, and
    /// is sent again: at least once).
    pub async fn attempt(&self, n: &Notification) -> Result<Attempt, StoreError> {
        let result = self.send(n).await;
        self.settle(n, result).await
    }

    /// Record the outcome of one send.
    async fn settle(
        &self,
        n: &Notification,
        result: Result<(), String>,
    ) -> Result<Attempt, StoreError> {
        match result {
            Ok(()) => {
                self.outbox.delivered(n).await?;
                Ok(Attempt::Delivered)
            }
            Err(why) => {
                let now = self.clock.now();
                let next = retry_at(
                    n.attempts + 1,
                    n.first_failed_at.unwrap_or(now),
                    now,
                    jitter(),
                );
                tracing::warn!(id = %id_of(n), error = %why, retry_at = ?next, "notification not accepted");
                self.outbox.failed(n, &why, now, next).await?;
                Ok(next.map_or(Attempt::Parked, Attempt::RetryAt))
            }
        }
    }

    /// POST one notification; `Err` with the reason unless the receiver answered 2xx.
    async fn send(&self, n: &Notification) -> Result<(), String> {
        let body = serde_json::to_vec(&Body {
            id: id_of(n),
            kind: n.change.event.kind.name(),
            order: OrderDto::from(&n.change.order),
        })
        .expect("a notification serialises");
        let sig = signature::sign(&self.secret, self.clock.now(), &body);
        let resp = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("Orderflow-Signature", sig)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("no answer: {e}"))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("answered {}", resp.status()))
        }
    }

    /// Rounds until `stopped` turns true: after each, wait for a commit, the next due
    /// retry, or [`IDLE`].
    pub async fn run(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        loop {
            // Armed before the round, so that a commit during it is not missed.
            let (wake, poll): (Wake, Duration) = match &self.wakeup {
                Wakeup::Feed(feed) => (feed.next_commit(), IDLE),
                Wakeup::Every(every) => (Box::pin(std::future::pending()), *every),
            };
            let wait = match self.run_once().await {
                Ok(_) => match self.outbox.next_due().await {
                    Ok(Some(at)) => {
                        let ms = at.as_millis() - self.clock.now().as_millis();
                        Duration::from_millis(ms.clamp(0, IDLE.as_millis() as i64) as u64)
                    }
                    Ok(None) => IDLE,
                    Err(_) => BACKOFF,
                },
                Err(e) => {
                    tracing::warn!(error = %e, "notifier round failed");
                    BACKOFF
                }
            }
            .min(poll);
            tokio::select! {
                () = wake => {}
                () = tokio::time::sleep(wait) => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
        }
    }
}

fn id_of(n: &Notification) -> String {
    notification_id(n.change.event.order_id, n.change.event.seq)
}

/// A number in [0, 1) for the retry's jitter, from the standard library's randomly seeded
/// hasher (no random-number crate needed for this).
fn jitter() -> f64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(0);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_in_the_unit_interval_and_varies() {
        let xs: Vec<f64> = (0..50).map(|_| jitter()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        assert!(xs.iter().any(|x| (x - xs[0]).abs() > 1e-9), "{xs:?}");
    }
}
