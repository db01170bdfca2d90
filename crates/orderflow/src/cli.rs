//! Command line: subcommands and flags. Every flag also reads the environment variable the
//! contract names (`--payment-timeout` ← `ORDERFLOW_PAYMENT_TIMEOUT`), a flag winning over
//! its variable. Durations are human (`500ms`, `2s`, `30m`).

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "orderflow",
    version,
    about = "Orders that lock stock while the customer pays"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API on the chosen backend.
    Serve(ServeArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// One SQLite file under --data-dir.
    Embedded,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the chosen address is printed).
    #[arg(long, env = "ORDERFLOW_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: String,

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

    /// How long a placed order waits for payment before it times out.
    #[arg(long, env = "ORDERFLOW_PAYMENT_TIMEOUT", default_value = "30m", value_parser = positive_duration)]
    pub payment_timeout: Duration,

    /// When set, inventory writes need `Authorization: Bearer <token>`.
    #[arg(long, env = "ORDERFLOW_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Seed a few products with stock at start-up if the store has none.
    #[arg(long, env = "ORDERFLOW_DEMO", value_parser = BoolishValueParser::new(), default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub demo: bool,
}

/// Longest payment timeout accepted: long enough for any shop, short enough that
/// `expiresAt` stays a real date.
const MAX_TIMEOUT: Duration = Duration::from_secs(366 * 24 * 3600);

fn positive_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 500ms, 2s, 30m)"))?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    if d > MAX_TIMEOUT {
        return Err("must be at most 366 days".into());
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
        assert!(positive_duration("soon").is_err());
        assert!(positive_duration("1000y").is_err());
    }

    #[test]
    fn serve_defaults_match_the_contract() {
        let cli = Cli::try_parse_from(["orderflow", "serve"]).unwrap();
        let Command::Serve(a) = cli.command;
        // Only when the environment does not override them (CI does not set these).
        if std::env::var_os("ORDERFLOW_LISTEN").is_none() {
            assert_eq!(a.listen, "127.0.0.1:3000");
        }
        if std::env::var_os("ORDERFLOW_PAYMENT_TIMEOUT").is_none() {
            assert_eq!(a.payment_timeout, Duration::from_secs(1800));
        }
        if std::env::var_os("ORDERFLOW_DATA_DIR").is_none() {
            assert_eq!(a.data_dir, PathBuf::from("./data"));
        }
        assert_eq!(a.backend, Backend::Embedded);
    }

    #[test]
    fn demo_is_a_switch() {
        let on = Cli::try_parse_from(["orderflow", "serve", "--demo"]).unwrap();
        let Command::Serve(a) = on.command;
        assert!(a.demo);
    }
}
