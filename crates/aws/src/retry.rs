//! The DynamoDB store's one retry policy for its writes.
//!
//! Some failures of a write say "not now" rather than "no": another transaction holds an
//! item it writes (`TransactionConflict`), or DynamoDB throttles it (a hot partition, the
//! table's or the account's throughput). The same write may pass moments later, so the
//! store tries it again after a pause, with "full jitter" exponential backoff: before retry
//! `n` (from 0) it sleeps a uniformly random time in `0..=min(cap, base * 2^n)`, so writes
//! that collided do not meet again in step. Each store call has a time budget: a pause that
//! would end past the call's deadline is not taken, and the call fails with
//! [`StoreError::Overloaded`] (the API answers 503 `overloaded` with `Retry-After`).
//!
//! A lost condition (`ConditionalCheckFailed`) is never retried here: the item is not in the
//! state the write expected, which the caller decides about (the port's `Conflict`).
//!
//! # With the SDK's own retries
//!
//! The SDK's standard retry mode (what `aws_config` sets up: 3 attempts, backoff from 1 s)
//! also retries throttling. Left alone, each of the store's attempts would hide up to three
//! SDK attempts and seconds of SDK backoff, multiplying attempts and overrunning the budget.
//! So a retry classifier (`LeftToTheStore`), installed on the store's client by
//! [`crate::DynamoStore::new`], forbids the SDK to retry a write that failed with one of
//! the codes this policy retries. The SDK keeps everything else: transport errors, timeouts
//! and 5xx answers (retried with the same client request token, which keeps a
//! `TransactWriteItems` idempotent), and all retries of reads, throttled reads included.
//! When those give up, the store answers `Unavailable` (`Overloaded` for a read still
//! throttled). The budget bounds the store's own pauses; the SDK's retries inside one
//! attempt are bounded by the SDK's configuration.

use std::time::Duration;

use aws_sdk_dynamodb::config::interceptors::InterceptorContext;
use aws_sdk_dynamodb::config::retry::{ClassifyRetry, RetryAction};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use orderflow_core::ports::StoreError;
use tokio::time::Instant;

/// Why a write may pass if tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Passing {
    /// Another transaction holds an item of this write.
    Contention,
    /// DynamoDB throttled the write.
    Throttled,
}

/// How the store retries its writes; see the [module](self) docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The ceiling of the first pause; it doubles with each retry.
    pub base: Duration,
    /// The largest ceiling of a pause.
    pub cap: Duration,
    /// The time one store call may spend retrying, from its start: every pause ends
    /// before it. Zero: no retries.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    /// 10 ms doubling to 500 ms, within 2 s: a conflict between transactions passes in
    /// milliseconds, a throttled partition within the second; 2 s stays well under the
    /// HTTP request timeout (30 s) and leaves room for the SDK's own retries.
    fn default() -> Self {
        Self {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(500),
            budget: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// The retries of one store call starting now.
    pub(crate) fn start(&self) -> Retry {
        Retry {
            policy: *self,
            deadline: Instant::now() + self.budget,
            retries: 0,
            rng: fastrand::Rng::new(),
        }
    }
}

/// The retries of one store call: its deadline, the retries so far, and the randomness of
/// its pauses (fresh for each pause).
#[derive(Debug)]
pub(crate) struct Retry {
    policy: RetryPolicy,
    deadline: Instant,
    retries: u32,
    rng: fastrand::Rng,
}

impl Retry {
    /// The pause before the next retry, if it ends by the deadline (`now` is the time).
    fn next_pause(&mut self, now: Instant) -> Option<Duration> {
        let ceiling = self
            .policy
            .base
            .saturating_mul(1 << self.retries.min(20))
            .min(self.policy.cap);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        let pause = Duration::from_nanos(self.rng.u64(0..=nanos));
        (now + pause < self.deadline).then(|| {
            self.retries += 1;
            pause
        })
    }

    /// Pause before trying `what` again after it failed for `why`: `Overloaded` when the
    /// pause would end past the call's deadline.
    pub(crate) async fn pause(&mut self, why: Passing, what: &str) -> Result<(), StoreError> {
        match self.next_pause(Instant::now()) {
            Some(pause) => {
                tracing::debug!(
                    what,
                    ?why,
                    retry = self.retries,
                    ?pause,
                    "retrying a DynamoDB write"
                );
                tokio::time::sleep(pause).await;
                Ok(())
            }
            None => {
                tracing::warn!(
                    what,
                    ?why,
                    retries = self.retries,
                    budget = ?self.policy.budget,
                    "DynamoDB write still contended or throttled at the end of its retry budget"
                );
                Err(StoreError::Overloaded)
            }
        }
    }

    /// Whether the call's budget is spent.
    pub(crate) fn spent(&self) -> bool {
        Instant::now() >= self.deadline
    }
}

/// For the SDK's retry layer (installed on the store's client): a write that failed with a
/// code the store's policy retries is not retried by the SDK too. Other failures, and
/// every read, are classified by the SDK's own classifiers as before.
#[derive(Debug, Default)]
pub(crate) struct LeftToTheStore;

impl ClassifyRetry for LeftToTheStore {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(e)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        let Some(e) = e.as_operation_error() else {
            return RetryAction::NoActionIndicated;
        };
        let code = if let Some(e) = e.downcast_ref::<UpdateItemError>() {
            e.code()
        } else if let Some(e) = e.downcast_ref::<TransactWriteItemsError>() {
            e.code()
        } else if let Some(e) = e.downcast_ref::<PutItemError>() {
            e.code()
        } else if let Some(e) = e.downcast_ref::<DeleteItemError>() {
            e.code()
        } else {
            None
        };
        match code.and_then(crate::passing) {
            Some(_) => RetryAction::RetryForbidden,
            None => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "orderflow: writes the store retries itself"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(base: u64, cap: u64, budget: u64) -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(base),
            cap: Duration::from_millis(cap),
            budget: Duration::from_millis(budget),
        }
    }

    fn seeded(p: RetryPolicy, start: Instant, seed: u64) -> Retry {
        Retry {
            policy: p,
            deadline: start + p.budget,
            retries: 0,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    #[test]
    fn pauses_are_full_jitter_under_a_doubling_ceiling() {
        let p = RetryPolicy::default();
        let start = Instant::now();
        let mut longest = [Duration::ZERO; 8];
        let mut shortest = [Duration::MAX; 8];
        for seed in 0..2000 {
            // A budget no pause reaches: only the ceilings bound them.
            let mut r = seeded(
                RetryPolicy {
                    budget: Duration::from_secs(3600),
                    ..p
                },
                start,
                seed,
            );
            for n in 0..8 {
                let pause = r.next_pause(start).unwrap();
                let ceiling = (p.base * (1 << n)).min(p.cap);
                assert!(pause <= ceiling, "retry {n}: {pause:?} > {ceiling:?}");
                longest[n] = longest[n].max(pause);
                shortest[n] = shortest[n].min(pause);
            }
        }
        // Spread over the whole range, from near zero to near the ceiling.
        for n in 0..8 {
            let ceiling = (p.base * (1 << n)).min(p.cap);
            assert!(shortest[n] < ceiling / 20, "retry {n}: {:?}", shortest[n]);
            assert!(
                longest[n] > ceiling * 19 / 20,
                "retry {n}: {:?}",
                longest[n]
            );
        }
    }

    #[test]
    fn two_calls_do_not_pause_in_step() {
        let start = Instant::now();
        let p = RetryPolicy::default();
        let (mut a, mut b) = (p.start(), p.start());
        let a: Vec<_> = (0..6).map(|_| a.next_pause(start)).collect();
        let b: Vec<_> = (0..6).map(|_| b.next_pause(start)).collect();
        assert_ne!(a, b);
    }

    #[test]
    fn the_pauses_of_a_call_end_by_its_deadline() {
        // Each attempt takes `latency`; the call retries while its pauses fit.
        for (p, latency) in [
            (RetryPolicy::default(), Duration::from_millis(8)),
            (policy(1, 20, 100), Duration::from_millis(3)),
            (policy(50, 1000, 120), Duration::ZERO),
        ] {
            for seed in 0..500 {
                let start = Instant::now();
                let mut r = seeded(p, start, seed);
                let mut now = start + latency;
                let mut retries = 0;
                while let Some(pause) = r.next_pause(now) {
                    now += pause;
                    assert!(now < start + p.budget, "{p:?} seed {seed}");
                    now += latency;
                    retries += 1;
                }
                assert!(retries < 400, "{p:?}: {retries}");
                if p == RetryPolicy::default() {
                    // A contended write gets several tries within 2 s.
                    assert!(retries >= 5, "seed {seed}: {retries}");
                }
            }
        }
    }

    #[test]
    fn a_zero_budget_never_retries() {
        let start = Instant::now();
        for seed in 0..100 {
            let mut r = seeded(policy(10, 500, 0), start, seed);
            assert_eq!(r.next_pause(start), None);
        }
    }
}
