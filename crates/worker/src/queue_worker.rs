//! A queue worker: receive, handle, delete (or release for another try), with a bound on
//! how many messages are handled at once.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use orderflow_core::ports::Queue;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// What handling a message body did: `Err` means "not now", and the message comes back.
pub type HandlerResult = Result<(), String>;
pub type Handler =
    Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = HandlerResult> + Send>> + Send + Sync>;

/// Longest a receive waits for a message before looking again (as SQS's long polling).
const RECEIVE_WAIT: Duration = Duration::from_secs(20);
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

impl QueueWorker {
    /// Run until `shutdown` turns true, then finish the messages being handled and return.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let permits = Arc::new(Semaphore::new(self.max_in_flight.max(1)));
        let mut tasks = JoinSet::new();
        while !*shutdown.borrow() {
            // Wait for room before taking messages, so none waits hidden for a slot.
            let permit = tokio::select! {
                p = permits.clone().acquire_owned() => p.expect("semaphore never closed"),
                _ = shutdown.changed() => break,
            };
            let room = (permits.available_permits() + 1).min(RECEIVE_BATCH);
            let received = tokio::select! {
                r = self.queue.receive(room, RECEIVE_WAIT) => r,
                _ = shutdown.changed() => break,
            };
            let deliveries = match received {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(queue = self.name, error = %e, "receive failed; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.changed() => break,
                    }
                    continue;
                }
            };
            let mut permit = Some(permit);
            for d in deliveries {
                let permit = match permit.take() {
                    Some(p) => p,
                    None => permits
                        .clone()
                        .acquire_owned()
                        .await
                        .expect("semaphore never closed"),
                };
                let (queue, handler, name, retry) = (
                    self.queue.clone(),
                    self.handler.clone(),
                    self.name,
                    self.retry_delay,
                );
                tasks.spawn(async move {
                    let _permit = permit;
                    match handler(d.body.clone()).await {
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
                });
            }
            while tasks.try_join_next().is_some() {}
        }
        // Shutting down: what was taken is finished, not dropped.
        while tasks.join_next().await.is_some() {}
        tracing::debug!(queue = self.name, "worker stopped");
    }
}
