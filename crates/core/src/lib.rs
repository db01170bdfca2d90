//! orderflow's core: what an order is, how it may change, and what the service does with it.
//!
//! Nothing here performs I/O. Storage, queues and time reach the core only through the
//! traits in [`ports`], which the adapter crates (`orderflow-sqlite`, the HTTP layer, ...)
//! implement or call.
//!
//! # Layout
//!
//! - [`domain`]: validated values ([`domain::ids`]), the order itself ([`domain::order`]) and the
//!   lifecycle rules of the contract as pure functions that return a decision
//!   ([`domain::lifecycle`]).
//! - [`ports`]: the traits a backend implements (store, queue, clock, processing work,
//!   refund gateway) and the one backend-neutral [`ports::StoreError`].
//! - [`service`]: the use cases (orders, payments, refunds, the consumer's and the
//!   sweeper's unit of work); it turns decisions into conditional writes and decides what a
//!   lost condition means.
//! - [`messages`]: the JSON bodies of queue messages.
//! - [`signature`]: the payment webhook's HMAC signature.
//! - [`clock`]: the system clock and the manual clock tests move by hand.
//! - [`stored`]: the one stored form of an order and of an event, shared by the adapters.
//! - `testing` (feature `testing`): the store contract suite every adapter runs.

pub mod clock;
pub mod domain;
pub mod error;
pub mod messages;
pub mod ports;
pub mod service;
pub mod signature;
pub mod stored;

#[cfg(feature = "testing")]
pub mod testing;

pub use error::Error;
