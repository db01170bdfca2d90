//! End-to-end tests: the real `orderflow` binary on a random port and a fresh data dir,
//! spoken to over HTTP. One test binary for all of them (one link, shared helpers).

mod helpers;

mod bench;
mod capacity;
mod carts;
mod config;
mod events;
mod faults;
mod flash_sale;
mod inventory;
mod lifecycle;
mod notifications;
mod operations;
mod orders;
mod payments;
mod races;
mod restart;
mod security;
mod shards;
mod shutdown;
mod stuck;
mod validation;
