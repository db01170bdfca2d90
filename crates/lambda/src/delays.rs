//! Delays longer than SQS's 15 minutes, on Lambda.
//!
//! SQS delays a message at most 15 minutes; [`SqsQueue`](orderflow_aws::SqsQueue) carries
//! a longer one's due time in the [`NOT_BEFORE`] attribute. A polling worker hides such a
//! message again when it comes early ([`SqsQueue`](orderflow_aws::SqsQueue)'s receive);
//! the Lambda consumer does not receive for itself (its event source does, and deletes
//! what it acknowledges), so it sends the record on as a new message for the rest of its
//! wait and acknowledges it. Whether a record is due, and how long it still waits, is
//! [`orderflow_aws::sqs::still_to_wait`]'s decision in both.

use aws_lambda_events::event::sqs::SqsMessage;
use orderflow_aws::sqs::{self, NOT_BEFORE};
use orderflow_core::domain::Timestamp;
use orderflow_core::ports::Queue;

/// The due time a record carries, if any.
pub(crate) fn due_time(record: &SqsMessage) -> Option<Timestamp> {
    sqs::not_before(
        record
            .message_attributes
            .get(NOT_BEFORE)
            .and_then(|a| a.string_value.as_deref()),
    )
}

/// A record still early at `now` is sent on to `queue` (the queue it came from) as a new
/// message with its body and the rest of its wait: SQS delays it up to 15 minutes, and
/// [`SqsQueue`](orderflow_aws::SqsQueue) carries the due time on when more is left. Then
/// the record is done. `Ok(false)`: it is due, handle it now.
///
/// # Errors
/// When it is early and could not be sent on: the record is reported failed and comes
/// back, early still, to be sent on then.
pub(crate) async fn send_on_if_early(
    queue: &dyn Queue,
    now: Timestamp,
    record: &SqsMessage,
) -> Result<bool, String> {
    let Some(left) = sqs::still_to_wait(due_time(record), now) else {
        return Ok(false);
    };
    let body = record.body.as_deref().unwrap_or_default();
    queue
        .send(body, left)
        .await
        .map_err(|e| format!("not due for {left:?}, and not sent on: {e}"))?;
    tracing::debug!(
        message = record.message_id.as_deref().unwrap_or_default(),
        ?left,
        "not due yet: sent on"
    );
    Ok(true)
}
