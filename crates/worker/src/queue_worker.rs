//! A queue worker: receive, handle, delete (or release for another try), with a bound on
//! how many messages are handled at once.
//!
//! # Shutdown
//!
//! When `shutdown` turns true the worker takes no new messages. What it holds goes one of
//! two ways:
//!
//! - a message being handled is finished (and deleted, or released for another try);
//! - a message received but not started is handed back at once (`release` with no delay:
//!   SQS's `ChangeMessageVisibility` to 0), so that another worker, or this one restarted,
//!   gets it now rather than after the queue's visibility timeout.
//!
//! A receive under way when shutdown arrives is not abandoned: SQS cannot take back a long
//! poll, and a message it hands to a request nobody reads any more stays hidden for the
//! whole visibility timeout. The receive is left to end (at most [`RECEIVE_WAIT`]) and
//! whatever it brings is handed back unstarted.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use orderflow_core::ports::{Delivery, Queue};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

/// What handling a message body did: `Err` means "not now", and the message comes back.
pub type HandlerResult = Result<(), String>;
pub type Handler =
    Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = HandlerResult> + Send>> + Send + Sync>;

/// Longest a receive waits for a message before looking again (SQS's long polling; a
/// message that arrives ends the wait at once). Also the longest a shutdown waits for a
/// receive under way, so short: an idle worker makes one request per wait, a few cents a
/// month on SQS.
pub const RECEIVE_WAIT: Duration = Duration::from_secs(2);
/// Most messages one receive takes (SQS's limit).
const RECEIVE_BATCH: usize = 10;

pub struct QueueWorker {
    /// For logs.
    pub name: &'static str,
    pub queue: Arc<dyn Queue>,
    pub handler: Handler,
    /// Messages handled at once.
    pub max_in_flight: usize,
    /// After a failed attempt, how long the message stays hidden before the next one.
    pub retry_delay: Duration,
}

/// Resolves once `shutdown` is true (or its sender is gone: nobody can stop us then, and
/// nobody waits for us either).
async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

impl QueueWorker {
    /// Run until `shutdown` turns true; then finish the messages being handled, hand back
    /// the ones not started, and return.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let permits = Arc::new(Semaphore::new(self.max_in_flight.max(1)));
        let mut tasks = JoinSet::new();
        loop {
            // Wait for room before taking messages, so none waits hidden for a slot.
            let permit = tokio::select! {
                biased;
                () = stopping(&mut shutdown) => break,
                p = permits.clone().acquire_owned() => p.expect("semaphore never closed"),
            };
            let room = (permits.available_permits() + 1).min(RECEIVE_BATCH);
            let receive = self.queue.receive(room, RECEIVE_WAIT);
            tokio::pin!(receive);
            let received = tokio::select! {
                r = &mut receive => r,
                () = stopping(&mut shutdown) => {
                    // See the module's doc: let it end, then hand back what it brought.
                    tracing::debug!(queue = self.name, "stopping: waiting for the receive under way");
                    receive.await
                }
            };
            let deliveries = match received {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(queue = self.name, error = %e, "receive failed; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = stopping(&mut shutdown) => break,
                    }
                    continue;
                }
            };
            let mut permit = Some(permit);
            for d in deliveries {
                // The receive sized the batch to the free slots, so each normally has one at
                // once; a message that must wait for a slot is handed back if shutdown
                // comes first.
                let slot = match permit.take() {
                    Some(p) => Some(p),
                    None => tokio::select! {
                        biased;
                        () = stopping(&mut shutdown) => None,
                        p = permits.clone().acquire_owned() => Some(p.expect("semaphore never closed")),
                    },
                };
                match slot {
                    Some(slot) if !*shutdown.borrow() => {
                        tasks.spawn(self.handle(d, slot));
                    }
                    _ => {
                        tasks.spawn(hand_back(self.queue.clone(), self.name, d));
                    }
                }
            }
            while tasks.try_join_next().is_some() {}
        }
        // Shutting down: what was started is finished, not dropped; what was handed back is
        // confirmed.
        while tasks.join_next().await.is_some() {}
        tracing::debug!(queue = self.name, "worker stopped");
    }

    /// Handle one message in its slot: delete it on success, release it for a retry else.
    fn handle(
        &self,
        d: Delivery,
        slot: OwnedSemaphorePermit,
    ) -> impl Future<Output = ()> + Send + 'static {
        let (queue, handler, name, retry) = (
            self.queue.clone(),
            self.handler.clone(),
            self.name,
            self.retry_delay,
        );
        async move {
            let result = handler(d.body.clone()).await;
            // The slot bounds the messages being handled; deleting one is not handling it.
            // Its delete (a commit away on the embedded queue, a request on SQS) goes on in
            // this task, which shutdown still waits for, while the slot takes the next.
            drop(slot);
            match result {
                Ok(()) => {
                    if let Err(e) = queue.delete(&d.receipt).await {
                        // It will be delivered again; handling it twice is harmless.
                        tracing::warn!(queue = name, error = %e, "delete failed");
                    }
                }
                Err(why) => {
                    tracing::warn!(
                        queue = name,
                        message = %d.message_id,
                        receives = d.receive_count,
                        error = %why,
                        "message not handled; it will be delivered again"
                    );
                    if let Err(e) = queue.release(&d.receipt, retry).await {
                        tracing::warn!(queue = name, error = %e, "release failed");
                    }
                }
            }
        }
    }
}

/// A message received but not started, at shutdown: visible again at once.
async fn hand_back(queue: Arc<dyn Queue>, name: &'static str, d: Delivery) {
    match queue.release(&d.receipt, Duration::ZERO).await {
        Ok(()) => {
            tracing::debug!(queue = name, message = %d.message_id, "not started: handed back");
        }
        Err(e) => tracing::warn!(
            queue = name,
            message = %d.message_id,
            error = %e,
            "not started and not handed back; it comes back after the visibility timeout"
        ),
    }
}
