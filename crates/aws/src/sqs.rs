//! [`SqsQueue`]: the queue port on SQS. Visibility timeout and dead-lettering are the
//! queue's own settings (made by `aws init`); this maps sends, receives, deletes and
//! releases.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::operation::change_message_visibility::ChangeMessageVisibilityError;
use aws_sdk_sqs::operation::delete_message::DeleteMessageError;
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use orderflow_core::clock::SystemClock;
use orderflow_core::domain::Timestamp;
use orderflow_core::ports::{Clock, Delivery, Queue, StoreError};

use crate::backend;

/// SQS delays a message at most 15 minutes; a longer delay is carried in this attribute
/// (the due time, milliseconds since the epoch) and served when the message comes early:
/// [`SqsQueue::receive`] hides it again, the Lambda consumer (whose event source receives
/// for it) sends it on as a new message. Both ask [`still_to_wait`].
pub const NOT_BEFORE: &str = "orderflow-not-before";
/// SQS's longest `DelaySeconds`.
const MAX_DELAY: Duration = Duration::from_secs(900);
/// SQS's longest visibility timeout.
const MAX_HIDE: Duration = Duration::from_secs(12 * 3600);

/// The due time in a [`NOT_BEFORE`] attribute's value (`None` when absent or malformed:
/// the message is due).
pub fn not_before(value: Option<&str>) -> Option<Timestamp> {
    value
        .and_then(|v| v.trim().parse::<i64>().ok())
        .map(Timestamp::from_millis)
}

/// The one rule for a message that may carry a due time ([`NOT_BEFORE`]): how long it must
/// still wait at `now`, or `None` when it is due (or carries none) and is handled now.
pub fn still_to_wait(not_before: Option<Timestamp>, now: Timestamp) -> Option<Duration> {
    let left = not_before?.as_millis() - now.as_millis();
    (left > 0).then(|| Duration::from_millis(left as u64))
}

/// The queue port on one SQS queue. Due times beyond SQS's 15 minutes are reckoned on
/// `clock` (the system's, unless [`SqsQueue::with_clock`] says otherwise).
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
    clock: Arc<dyn Clock>,
}

/// Whole seconds, rounded up (SQS counts in seconds).
fn secs(d: Duration) -> i32 {
    d.as_secs_f64().ceil() as i32
}

impl SqsQueue {
    pub fn new(client: Client, url: String) -> Self {
        Self {
            client,
            url,
            clock: Arc::new(SystemClock),
        }
    }

    /// The same queue, reckoning due times on `clock` (the service's, in tests a manual one).
    #[must_use]
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        Self { clock, ..self }
    }

    /// The queue called `name`, which must exist (`orderflow aws init` makes it).
    ///
    /// # Errors
    /// `Backend` when it does not exist or SQS does not answer.
    pub async fn by_name(client: Client, name: &str) -> Result<Self, StoreError> {
        let out = client
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| backend(format!("queue {name}: {}", DisplayErrorContext(e))))?;
        let url = out.queue_url.ok_or_else(|| backend("no queue URL"))?;
        Ok(Self::new(client, url))
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, body: &str, delay: Duration) -> Result<(), StoreError> {
        let mut req = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(secs(delay.min(MAX_DELAY)));
        if delay > MAX_DELAY {
            let at = self.clock.now().plus(delay);
            req = req.message_attributes(
                NOT_BEFORE,
                MessageAttributeValue::builder()
                    .data_type("Number")
                    .string_value(at.as_millis().to_string())
                    .build()
                    .map_err(backend)?,
            );
        }
        req.send().await.map_err(crate::sdk)?;
        Ok(())
    }

    async fn send_all(&self, bodies: &[String]) -> Result<(), StoreError> {
        // SendMessageBatch takes ten messages a request.
        for chunk in bodies.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .map_err(backend)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(crate::sdk)?;
            if !out.failed.is_empty() {
                return Err(backend(format!(
                    "{} messages of a batch not sent",
                    out.failed.len()
                )));
            }
        }
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, StoreError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(secs(wait).min(20))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_attribute_names(NOT_BEFORE)
            .send()
            .await
            .map_err(crate::sdk)?;
        let mut deliveries = Vec::new();
        for m in out.messages.unwrap_or_default() {
            let receipt = m.receipt_handle.clone().unwrap_or_default();
            let due = not_before(
                m.message_attributes
                    .as_ref()
                    .and_then(|a| a.get(NOT_BEFORE))
                    .and_then(|v| v.string_value.as_deref()),
            );
            if let Some(left) = still_to_wait(due, self.clock.now()) {
                // Not yet: hide it until its time (in steps of at most 12 h).
                self.release(&receipt, left.min(MAX_HIDE)).await?;
                continue;
            }
            let count = m
                .attributes
                .as_ref()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            deliveries.push(Delivery {
                message_id: m.message_id.unwrap_or_default(),
                receipt,
                body: m.body.unwrap_or_default(),
                receive_count: count,
            });
        }
        Ok(deliveries)
    }

    async fn delete(&self, receipt: &str) -> Result<(), StoreError> {
        match self
            .client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                // A stale receipt: the message was delivered again since; not an error.
                DeleteMessageError::ReceiptHandleIsInvalid(_) => Ok(()),
                other => Err(crate::service(other)),
            },
        }
    }

    async fn release(&self, receipt: &str, delay: Duration) -> Result<(), StoreError> {
        match self
            .client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(secs(delay.min(MAX_HIDE)))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                ChangeMessageVisibilityError::ReceiptHandleIsInvalid(_)
                | ChangeMessageVisibilityError::MessageNotInflight(_) => Ok(()),
                other => Err(crate::service(other)),
            },
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map(|_| ())
            .map_err(crate::sdk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_790_000_000_000);

    #[test]
    fn a_message_waits_until_its_due_time_and_not_a_millisecond_more() {
        let at = |ms: i64| Some(Timestamp::from_millis(NOW.as_millis() + ms));
        assert_eq!(still_to_wait(None, NOW), None, "no due time: due");
        assert_eq!(still_to_wait(at(-1), NOW), None, "past: due");
        assert_eq!(still_to_wait(at(0), NOW), None, "its very time: due");
        assert_eq!(still_to_wait(at(1), NOW), Some(Duration::from_millis(1)));
        assert_eq!(
            still_to_wait(at(30 * 60_000), NOW.plus(Duration::from_secs(15 * 60))),
            Some(Duration::from_secs(15 * 60)),
            "a 30-minute delay after 15 minutes"
        );
    }

    #[test]
    fn the_attribute_is_milliseconds_since_the_epoch() {
        assert_eq!(not_before(Some("1790000000000")), Some(NOW));
        assert_eq!(not_before(Some("soon")), None);
        assert_eq!(not_before(None), None);
    }
}
