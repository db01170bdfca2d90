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
//! - [`ports`]: the traits a backend implements (store, clock) and the one
//!   backend-neutral [`ports::StoreError`].
//! - [`service`]: the use cases (place an order, read it, list, set stock); it turns decisions
//!   into conditional writes and decides what a lost condition means.
//! - [`clock`]: the system clock and the manual clock tests move by hand.
//! - `testing` (feature `testing`): the store contract suite every adapter runs.

pub mod clock;
pub mod domain;
pub mod error;
pub mod ports;
pub mod service;

#[cfg(feature = "testing")]
pub mod testing;

pub use error::Error;
