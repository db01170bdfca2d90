//! `orderflow`: the one binary. `serve` runs the API on the embedded store.
//!
//! # Layout
//!
//! - [`cli`]: the subcommands and flags (each flag also read from its environment variable).
//! - [`serve`]: wiring the store, the service and the HTTP router, and shutting down cleanly.

mod cli;
mod serve;

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
            cli::Command::Serve(args) => serve::run(args).await,
        }
    })
}
