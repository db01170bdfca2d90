//! orderflow's background work, shared by `orderflow serve` and the Lambda functions.
//!
//! The units of work (consume one message, carry out one refund, sweep once) are use cases
//! of the core; this crate only runs them: when, how many at once, and what happens to the
//! message afterwards.
//!
//! # Layout
//!
//! - [`queue_worker`]: receive from a queue, handle each message, delete it on success or
//!   release it for another try; stops cleanly on shutdown.
//! - [`schedule`]: the sweeper's cron schedule and the loop that runs a sweep at each tick.
//! - [`simulated`]: the simulated processing work and the mock refund gateway.
//! - [`webhook`]: the simulated payment gateway's side: sends the signed webhook over HTTP.
//! - [`notifier`]: delivers order events to the shop's `--notify-url` from the outbox.
//! - [`wiring`]: the service over a backend, and which use case handles which queue.

pub mod notifier;
pub mod queue_worker;
pub mod schedule;
pub mod simulated;
pub mod webhook;
pub mod wiring;
