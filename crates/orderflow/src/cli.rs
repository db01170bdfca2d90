//! Command line: subcommands and flags. Every flag also reads the environment variable the
//! contract names (`--payment-timeout` ← `ORDERFLOW_PAYMENT_TIMEOUT`), a flag winning over
//! its variable. Durations are human (`500ms`, `2s`, `30m`).

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{BoolishValueParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use orderflow_worker::schedule::SweepSchedule;

#[derive(Debug, Parser)]
#[command(
    name = "orderflow",
    version,
    about = "Orders that lock stock while the customer pays"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log lines as `text` (colour only when stderr is a terminal) or as `json`, one
    /// object per line, for log shippers.
    #[arg(
        long,
        global = true,
        env = "ORDERFLOW_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API, with the queue consumer, the sweeper, the refund worker and the
    /// simulated payment gateway, in one process.
    Serve(Box<ServeArgs>),
    /// Run one sweep now, print how many orders it timed out, and exit.
    Sweep(SweepArgs),
    /// Only the queue workers: the consumer of paid orders and the refund worker (for the
    /// AWS backend outside Lambda).
    Worker(Box<WorkerArgs>),
    /// AWS: set up the tables and queues.
    #[command(subcommand)]
    Aws(AwsCommand),
}

#[derive(Debug, Subcommand)]
pub enum AwsCommand {
    /// Create the DynamoDB tables (indexes, TTL) and the SQS queues (with dead-letter
    /// queues) named by the environment, where missing. Safe to run again.
    Init,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// One SQLite file under --data-dir.
    Embedded,
    /// DynamoDB tables and SQS queues (names from ORDERFLOW_*_TABLE / ORDERFLOW_QUEUE_NAME).
    Aws,
}

/// Where the data lives: shared by every subcommand that opens the store.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Where orders and inventory are stored.
    #[arg(
        long,
        env = "ORDERFLOW_BACKEND",
        value_enum,
        default_value = "embedded"
    )]
    pub backend: Backend,

    /// Directory of the embedded database (created if missing).
    #[arg(long, env = "ORDERFLOW_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the chosen address is printed).
    #[arg(long, env = "ORDERFLOW_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: String,

    #[command(flatten)]
    pub store: StoreArgs,

    /// How long a placed order waits for payment before it times out.
    #[arg(long, env = "ORDERFLOW_PAYMENT_TIMEOUT", default_value = "30m", value_parser = positive_duration)]
    pub payment_timeout: Duration,

    /// When the sweeper runs: cron with a seconds field.
    #[arg(long, env = "ORDERFLOW_SWEEP_SCHEDULE", default_value = "0 */5 * * * *", value_parser = clap::value_parser!(SweepSchedule))]
    pub sweep_schedule: SweepSchedule,

    /// Time unpaid orders out (and give their stock back) as their deadlines pass, by a
    /// timer on the earliest one; off leaves it to the cron sweeper alone.
    #[arg(long, env = "ORDERFLOW_DEADLINE_TIMER", value_parser = BoolishValueParser::new(), default_value_t = true, num_args = 0..=1, default_missing_value = "true")]
    pub deadline_timer: bool,

    /// Simulated work per paid order, between processing and completed.
    #[arg(long, env = "ORDERFLOW_PROCESSING_DELAY", default_value = "2s", value_parser = duration)]
    pub processing_delay: Duration,

    /// How long the mock refund gateway takes to confirm a refund.
    #[arg(long, env = "ORDERFLOW_REFUND_DELAY", default_value = "2s", value_parser = duration)]
    pub refund_delay: Duration,

    /// An order waiting for a message (paid, processing, refund initiated) this long after
    /// it was sent has it sent again by the sweeper, then after twice as long each time (up
    /// to an hour); it is also how long a consumer may hold an order in processing.
    #[arg(long, env = "ORDERFLOW_RESEND_AFTER", default_value = "2m", value_parser = positive_duration)]
    pub resend_after: Duration,

    /// When set, the payment webhook must carry a valid Payment-Signature (and simulated
    /// payments need the admin token).
    #[arg(long, env = "ORDERFLOW_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,

    /// When set, inventory writes, refunds, simulation and the order listing need
    /// `Authorization: Bearer <token>`.
    #[arg(long, env = "ORDERFLOW_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Where the simulated gateway sends webhooks [default: http://<listen address>]; its
    /// origin is also trusted for state-changing requests.
    #[arg(long, env = "ORDERFLOW_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Origins (comma-separated, e.g. https://shop.example) whose pages may send
    /// state-changing requests, besides the server's own.
    #[arg(long, env = "ORDERFLOW_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Deliver every order event there (HTTP POST, signed with --notify-secret, at least
    /// once, in order per order, retried for 24 hours). Either backend; on AWS every
    /// process writing the tables must have it set, so that each event enters the outbox.
    #[arg(long, env = "ORDERFLOW_NOTIFY_URL")]
    pub notify_url: Option<String>,

    /// Signs the notifications (`Orderflow-Signature`); required with --notify-url.
    #[arg(long, env = "ORDERFLOW_NOTIFY_SECRET", hide_env_values = true)]
    pub notify_secret: Option<String>,

    /// Connections served at once; more wait in the kernel's backlog until one closes.
    #[arg(long, env = "ORDERFLOW_MAX_CONNECTIONS", default_value_t = orderflow_http::server::MAX_CONNECTIONS, value_parser = clap::value_parser!(u32).range(1..=100_000).map(|n| n as usize))]
    pub max_connections: usize,

    /// On SIGTERM or Ctrl-C, how long to let open requests and the messages being worked on
    /// finish; connections still open then are dropped.
    #[arg(long, env = "ORDERFLOW_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = duration)]
    pub shutdown_timeout: Duration,

    /// Seed a few products with stock at start-up if the store has none.
    #[arg(long, env = "ORDERFLOW_DEMO", value_parser = BoolishValueParser::new(), default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub demo: bool,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub store: StoreArgs,

    /// Simulated work per paid order, between processing and completed.
    #[arg(long, env = "ORDERFLOW_PROCESSING_DELAY", default_value = "2s", value_parser = duration)]
    pub processing_delay: Duration,

    /// How long the mock refund gateway takes to confirm a refund.
    #[arg(long, env = "ORDERFLOW_REFUND_DELAY", default_value = "2s", value_parser = duration)]
    pub refund_delay: Duration,

    /// The processing lease this worker's claims carry (as `serve --resend-after`): keep it
    /// the same on every process of one deployment.
    #[arg(long, env = "ORDERFLOW_RESEND_AFTER", default_value = "2m", value_parser = positive_duration)]
    pub resend_after: Duration,
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Longest duration accepted: long enough for any shop, short enough that deadlines stay
/// real dates.
const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

fn duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 500ms, 2s, 30m)"))?;
    if d > MAX_DURATION {
        return Err("must be at most 366 days".into());
    }
    Ok(d)
}

/// A secret or token from its flag, or from its variable when that is set but empty (clap
/// treats an empty variable as unset; the contract makes it a configuration error).
///
/// # Errors
/// When it is set but empty.
pub fn secret(env: &str, flag: Option<String>) -> anyhow::Result<Option<orderflow_http::Secret>> {
    let value = flag.or_else(|| std::env::var(env).ok());
    orderflow_http::Secret::from_config(env, value).map_err(anyhow::Error::msg)
}

fn positive_duration(s: &str) -> Result<Duration, String> {
    let d = duration(s)?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_are_human() {
        assert_eq!(
            positive_duration("500ms").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(positive_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(positive_duration("30m").unwrap(), Duration::from_secs(1800));
        assert!(positive_duration("0s").is_err());
        assert_eq!(duration("0s").unwrap(), Duration::ZERO);
        assert!(positive_duration("soon").is_err());
        assert!(positive_duration("1000y").is_err());
    }

    #[test]
    fn serve_defaults_match_the_contract() {
        let cli = Cli::try_parse_from(["orderflow", "serve"]).unwrap();
        let Command::Serve(a) = cli.command else {
            panic!("serve")
        };
        // Only where the environment does not override them (CI sets none of these).
        let unset = |v| std::env::var_os(v).is_none();
        if unset("ORDERFLOW_LISTEN") {
            assert_eq!(a.listen, "127.0.0.1:3000");
        }
        if unset("ORDERFLOW_PAYMENT_TIMEOUT") {
            assert_eq!(a.payment_timeout, Duration::from_secs(1800));
        }
        if unset("ORDERFLOW_PROCESSING_DELAY") {
            assert_eq!(a.processing_delay, Duration::from_secs(2));
        }
        if unset("ORDERFLOW_REFUND_DELAY") {
            assert_eq!(a.refund_delay, Duration::from_secs(2));
        }
        if unset("ORDERFLOW_DATA_DIR") {
            assert_eq!(a.store.data_dir, PathBuf::from("./data"));
        }
        assert_eq!(a.store.backend, Backend::Embedded);
        assert!(a.public_url.is_none() || !unset("ORDERFLOW_PUBLIC_URL"));
    }

    #[test]
    fn demo_is_a_switch() {
        let on = Cli::try_parse_from(["orderflow", "serve", "--demo"]).unwrap();
        let Command::Serve(a) = on.command else {
            panic!("serve")
        };
        assert!(a.demo);
    }
}
