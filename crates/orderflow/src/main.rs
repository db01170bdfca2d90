//! `orderflow`: the one binary. `serve` runs everything in one process on the embedded
//! store; `sweep` runs one sweep.
//!
//! # Layout
//!
//! - [`cli`]: the subcommands and flags (each flag also read from its environment variable).
//! - [`backend`]: opening the store and its queues.
//! - [`serve`]: wiring the service, the HTTP router and the background workers, and
//!   shutting down cleanly.
//! - [`sweep`]: `orderflow sweep`.

mod backend;
mod cli;
mod serve;
mod sweep;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    // Logs go to stderr; stdout carries only what scripts read (the address, sweep counts).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.command {
            cli::Command::Serve(args) => serve::run(*args).await,
            cli::Command::Sweep(args) => sweep::run(args).await,
        }
    })
}
