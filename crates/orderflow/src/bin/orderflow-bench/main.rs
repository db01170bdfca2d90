//! `orderflow-bench`: a load benchmark of orderflow over HTTP, with its own ceiling.
//!
//! Each scenario starts `orderflow serve` on a fresh data dir (or targets `--url`), drives
//! it at a given concurrency for a given duration, and prints requests/s, latency
//! percentiles, status counts and the server's memory; afterwards it checks invariants
//! I1-I3 through the API. The same run first measures a trivial handler on the same HTTP
//! stack (axum, hyper, tokio, JSON in and out, in a separate process), so every figure
//! comes with the ceiling it is a fraction of.
//!
//! # Layout
//!
//! - `load`: the load generator and its statistics.
//! - `server`: starting and measuring server processes, and the trivial server.
//! - `scenarios`: place, flash, cart, limit, lifecycle, sweep, deadline.
//! - `capacity`, `proxy`, `units`: the capacity model of the AWS backend (write units per
//!   partition key, measured on the emulator).

mod capacity;
mod load;
mod proxy;
mod scenarios;
mod server;
mod units;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "orderflow-bench",
    about = "Load benchmark of orderflow over HTTP"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// POST /order spread over 100 products.
    Place(Common),
    /// 10,000 orders on one product holding 1,000 units (after `place`, its reference).
    Flash(Common),
    /// 3-line carts over 100 products (after `place`, its reference).
    Cart(Common),
    /// A flash sale with maxPerUser 1, every customer ordering twice (after `place` and
    /// `flash`, its reference).
    Limit(Common),
    /// Place, pay by webhook, and let the consumer complete (processing delay 0).
    Lifecycle(Common),
    /// 100,000 expired unpaid orders swept, while orders keep being placed.
    Sweep(Common),
    /// 1,000 unpaid orders: how long after each deadline its stock is back.
    Deadline(Common),
    /// Every scenario, one after the other.
    All(Common),
    /// The AWS backend's write units per partition key, on the emulator (AWS_ENDPOINT_URL).
    Capacity(capacity::CapacityArgs),
    /// (internal) The trivial server the ceiling is measured on.
    #[command(hide = true)]
    TrivialServer {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// How long each measured phase runs.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// The orderflow binary to start [default: next to this one].
    #[arg(long)]
    pub orderflow_bin: Option<PathBuf>,
    /// Benchmark a running server instead of starting one (no RSS, no ceiling).
    #[arg(long)]
    pub url: Option<String>,
    /// End each measured phase of place, cart and lifecycle after this many requests
    /// instead of --duration: a fixed amount of work (for callgrind, say).
    #[arg(long)]
    pub requests: Option<usize>,
    /// Tiny sizes for a quick check that everything runs (used by the test suite).
    #[arg(long)]
    pub smoke: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::TrivialServer { listen } => server::run_trivial(&listen).await,
            Command::Capacity(a) => capacity::run(&a).await,
            Command::Place(c) => scenarios::place(&c).await.map(|_| ()),
            Command::Flash(c) => {
                let place = scenarios::place(&c).await?;
                scenarios::flash(&c, place).await.map(|_| ())
            }
            Command::Cart(c) => {
                let place = scenarios::place(&c).await?;
                scenarios::cart(&c, place).await
            }
            Command::Limit(c) => {
                let place = scenarios::place(&c).await?;
                let flash = scenarios::flash(&c, place).await?;
                scenarios::limit(&c, flash).await
            }
            Command::Lifecycle(c) => {
                let place = scenarios::place(&c).await?;
                scenarios::lifecycle(&c, place).await
            }
            Command::Sweep(c) => scenarios::sweep(&c).await,
            Command::Deadline(c) => scenarios::deadline(&c).await,
            Command::All(c) => {
                let place = scenarios::place(&c).await?;
                let flash = scenarios::flash(&c, place).await?;
                scenarios::cart(&c, place).await?;
                scenarios::limit(&c, flash).await?;
                scenarios::lifecycle(&c, place).await?;
                scenarios::sweep(&c).await?;
                scenarios::deadline(&c).await
            }
        }
    })
}
