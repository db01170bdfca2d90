//! Server processes: orderflow itself and the trivial server, started on port 0 with a
//! fresh data dir, measured through /proc.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;

/// A server this benchmark started (killed when dropped).
pub struct Server {
    pub url: String,
    child: Child,
}

impl Server {
    /// Start `bin args...`, wait for its "listening on http://..." line.
    pub fn start(bin: &Path, args: &[String]) -> anyhow::Result<Self> {
        Self::start_with_env(bin, args, &[])
    }

    /// [`Server::start`] with these environment variables set.
    pub fn start_with_env(
        bin: &Path,
        args: &[String],
        env: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let mut child = Command::new(bin)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "error".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some((_, url)) = line.split_once("listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .with_context(|| format!("{} did not print its address", bin.display()))?;
        Ok(Self { url, child })
    }

    /// Resident memory now and at its peak, in MiB (Linux /proc).
    pub fn rss_mib(&self) -> Option<(f64, f64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kib = |key: &str| -> Option<f64> {
            status
                .lines()
                .find(|l| l.starts_with(key))?
                .split_whitespace()
                .nth(1)?
                .parse::<f64>()
                .ok()
        };
        Some((kib("VmRSS:")? / 1024.0, kib("VmHWM:")? / 1024.0))
    }

    /// Bytes the server has caused to be written to storage (`write_bytes`) and asked to
    /// write (`wchar`, page cache included), from Linux's /proc/<pid>/io. Figures that do
    /// not move with the machine's noise, unlike rates.
    pub fn io(&self) -> Option<Io> {
        let io = std::fs::read_to_string(format!("/proc/{}/io", self.child.id())).ok()?;
        let field = |key: &str| -> Option<u64> {
            io.lines()
                .find_map(|l| l.strip_prefix(key))?
                .trim()
                .parse()
                .ok()
        };
        Some(Io {
            write_bytes: field("write_bytes:")?,
            wchar: field("wchar:")?,
        })
    }

    /// Start counting the instructions this server runs (`perf stat`), for one phase.
    pub fn count_instructions(&self) -> Instructions {
        Instructions::start(self.child.id())
    }

    /// SIGTERM and wait.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?
            .success();
        if !ok {
            bail!("could not signal the server");
        }
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The orderflow binary: the flag, or the one next to this benchmark.
pub fn orderflow_bin(flag: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.clone());
    }
    let me = std::env::current_exe()?;
    let bin = me.with_file_name("orderflow");
    if !bin.exists() {
        bail!(
            "no orderflow binary at {}; build it (cargo build --release --bin orderflow) or pass --orderflow-bin",
            bin.display()
        );
    }
    Ok(bin)
}

/// The ceiling: what the same HTTP stack does when the handler does nothing but read the
/// JSON body and answer a JSON order of the same size.
pub async fn run_trivial(listen: &str) -> anyhow::Result<()> {
    const ORDER: &str = r#"{"orderId":"0f8fad5b-d9cb-469f-a165-70867728950e","userId":"u1","productId":"p1","quantity":1,"orderStatus":1,"status":"pending","paymentStatus":"pending","paymentTime":null,"paymentId":null,"refundStatus":"none","createdAt":"2026-11-25T08:00:00.000Z","updatedAt":"2026-11-25T08:00:00.000Z","expiresAt":"2026-11-25T08:30:00.000Z"}"#;
    let app = Router::new().route(
        "/order",
        post(|body: Bytes| async move {
            match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(_) => (
                    StatusCode::CREATED,
                    [("content-type", "application/json")],
                    ORDER,
                ),
                Err(_) => (
                    StatusCode::BAD_REQUEST,
                    [("content-type", "application/json")],
                    r#"{"error":{"code":"invalid_request","message":"bad"}}"#,
                ),
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!(
        "trivial server listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}

/// Start the trivial server as a separate process (this same binary), like orderflow is.
pub fn start_trivial() -> anyhow::Result<Server> {
    let me = std::env::current_exe()?;
    Server::start(&me, &["trivial-server".to_owned()])
}

/// A snapshot of /proc/<pid>/io.
#[derive(Debug, Clone, Copy)]
pub struct Io {
    pub write_bytes: u64,
    pub wchar: u64,
}

impl Io {
    /// `after - self` per unit of work, as one line.
    pub fn per(&self, after: &Io, units: usize, what: &str) -> String {
        let n = units.max(1) as f64;
        format!(
            "{:.0} B written to disk, {:.0} B of writes issued, per {what} ({units} {what}s)",
            after.write_bytes.saturating_sub(self.write_bytes) as f64 / n,
            after.wchar.saturating_sub(self.wchar) as f64 / n,
        )
    }
}

/// Instructions counted by `perf stat -e instructions -p <pid>` over one phase. Virtual
/// machines often expose no hardware counters (`<not supported>`): then there is no
/// figure, and docs/BENCHMARKS.md gives the callgrind command that counts them instead.
pub struct Instructions {
    perf: Option<Child>,
}

impl Instructions {
    fn start(pid: u32) -> Self {
        let perf = Command::new("perf")
            .args([
                "stat",
                "-x",
                ",",
                "-e",
                "instructions",
                "-p",
                &pid.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .ok();
        // perf attaches asynchronously; the first few milliseconds of a phase may be missed.
        std::thread::sleep(Duration::from_millis(50));
        Self { perf }
    }

    /// Stop counting: the instructions counted, or why there is no figure.
    pub fn finish(mut self) -> Result<u64, String> {
        let Some(perf) = self.perf.take() else {
            return Err("perf is not installed".into());
        };
        // perf prints its counts when interrupted.
        let _ = Command::new("kill")
            .args(["-INT", &perf.id().to_string()])
            .status();
        let out = perf.wait_with_output().map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stderr);
        let line = text
            .lines()
            .find(|l| l.contains("instructions"))
            .ok_or_else(|| format!("perf printed no count: {}", text.trim()))?;
        let value = line.split(',').next().unwrap_or_default();
        value
            .parse()
            .map_err(|_| format!("perf stat: {value} (no hardware counters on this machine?)"))
    }
}

impl Drop for Instructions {
    fn drop(&mut self) {
        if let Some(mut perf) = self.perf.take() {
            let _ = perf.kill();
            let _ = perf.wait();
        }
    }
}
