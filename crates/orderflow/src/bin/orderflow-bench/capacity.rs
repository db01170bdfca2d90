//! `orderflow-bench capacity <scenario>`: the capacity model of the AWS backend.
//!
//! Each scenario gets fresh tables and queues on the emulator (`AWS_ENDPOINT_URL`), made by
//! `orderflow aws init`, and an `orderflow serve --backend aws` whose DynamoDB requests go
//! through the recording proxy ([`crate::proxy`]; `AWS_ENDPOINT_URL_DYNAMODB`, SQS goes
//! straight to the emulator). After set-up, every write until every order is final (and its
//! notifications delivered) is charged to the partition keys it lands on; the report shows
//! the hottest ones and the order rate at which the hottest reaches DynamoDB's limit of
//! 1,000 write units per second per partition key. Rules: docs/BENCHMARKS.md.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::load::{Outcome, Until, drive, webhook_each};
use crate::proxy::{Ledger, Proxy};
use crate::server::{Server, orderflow_bin};

const PRODUCTS: usize = 100;
const PLENTY: i64 = 1_000_000_000_000;
/// DynamoDB's ceiling per partition key, of a table or of an index.
const PARTITION_LIMIT: f64 = 1_000.0;
/// How long no write may have gone through before a run counts as settled: the outbox's
/// bookkeeping after a delivery comes a moment after the receiver answered.
const QUIET: Duration = Duration::from_secs(1);
const TOP: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Orders over 100 products, paid by webhook and completed by the consumer.
    Shop,
    /// Unpaid orders, timed out by the sweeper.
    Timeouts,
    /// One product, many buyers at once; the accepted ones paid and completed.
    Flash,
    /// 3-line carts over 100 products, paid and completed.
    Cart,
    /// Every scenario, one after the other.
    All,
}

#[derive(Debug, Clone, clap::Args)]
pub struct CapacityArgs {
    #[arg(value_enum)]
    pub scenario: Scenario,
    /// Orders of `shop`, `timeouts` and `cart`.
    #[arg(long, default_value_t = 1_000)]
    pub orders: usize,
    /// Buyers of `flash`, one order each.
    #[arg(long, default_value_t = 1_000)]
    pub buyers: usize,
    /// Units of the `flash` product.
    #[arg(long, default_value_t = 300)]
    pub units: i64,
    /// Stock shards of the `flash` product (`"shards"` of PUT /inventory); 1 sends none.
    #[arg(long, default_value_t = 16)]
    pub shards: u32,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Exit non-zero if any partition key receives writes from more than a quarter of a
    /// scenario's orders.
    #[arg(long)]
    pub check: bool,
    /// The orderflow binary to start [default: next to this one].
    #[arg(long)]
    pub orderflow_bin: Option<PathBuf>,
}

pub async fn run(a: &CapacityArgs) -> anyhow::Result<()> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .context(
            "AWS_ENDPOINT_URL is not set: the capacity model runs on the DynamoDB/SQS emulator \
             (start scripts/moto_server.py PORT and export AWS_ENDPOINT_URL=http://127.0.0.1:PORT \
             AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test)",
        )?;
    let scenarios = match a.scenario {
        Scenario::All => vec![
            Scenario::Shop,
            Scenario::Timeouts,
            Scenario::Flash,
            Scenario::Cart,
        ],
        s => vec![s],
    };
    let mut broken = Vec::new();
    for s in scenarios {
        let report = run_one(a, s, &endpoint).await?;
        report.print();
        if !report.offenders().is_empty() {
            broken.push(report.name);
        }
    }
    if a.check && !broken.is_empty() {
        bail!(
            "design rule broken in {}: a partition key receives writes from more than a quarter of the orders",
            broken.join(", ")
        );
    }
    Ok(())
}

/// What one scenario measured.
struct Report {
    name: &'static str,
    title: String,
    /// Orders attempted: the divisor of every "per order".
    orders: usize,
    /// What happened to them, in words.
    outcome: Vec<String>,
    ledger: Ledger,
}

impl Report {
    /// Partition keys written by more than a quarter of the orders, hottest first.
    fn offenders(&self) -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = self
            .ledger
            .partitions
            .iter()
            .filter(|(_, l)| 4 * l.orders.len() > self.orders)
            .map(|(p, l)| (p.to_string(), l.orders.len()))
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }

    fn print(&self) {
        let l = &self.ledger;
        let n = self.orders.max(1) as f64;
        println!("\n== capacity {}: {}", self.name, self.title);
        for line in &self.outcome {
            println!("  {line}");
        }
        let requests: u64 = l.requests.values().sum();
        let by_op: Vec<String> = l
            .requests
            .iter()
            .map(|(op, k)| format!("{op} {k}"))
            .collect();
        let refused: Vec<String> = l.refused.iter().map(|(e, k)| format!("{e} {k}")).collect();
        println!(
            "  write requests {requests} ({}); refused: {}",
            by_op.join(", "),
            if refused.is_empty() {
                "none".to_owned()
            } else {
                refused.join(", ")
            }
        );
        let total = l.total_units();
        println!(
            "  write units    {total} in all, {:.2} per order ({} orders)",
            total as f64 / n,
            self.orders
        );
        for p in &l.problems {
            println!("  NOT ACCOUNTED  {p}");
        }
        let mut hot: Vec<_> = l.partitions.iter().collect();
        hot.sort_by(|a, b| {
            b.1.units
                .cmp(&a.1.units)
                .then_with(|| b.1.orders.len().cmp(&a.1.orders.len()))
                .then_with(|| a.0.cmp(b.0))
        });
        println!(
            "  {:<28} {:<40} {:>7} {:>7} {:>7} {:>11}",
            "partition", "key", "units", "writes", "orders", "units/order"
        );
        for (p, load) in hot.iter().take(TOP) {
            println!(
                "  {:<28} {:<40} {:>7} {:>7} {:>7} {:>11.2}",
                p.place(),
                shorten(&p.key, 40),
                load.units,
                load.writes,
                load.orders.len(),
                load.units as f64 / n
            );
        }
        if let Some((p, load)) = hot.first() {
            let per_order = load.units as f64 / n;
            println!(
                "  hottest partition: {p} at {per_order:.2} write units per order → reaches 1,000 units/s at {} orders/s",
                thousands((PARTITION_LIMIT / per_order).floor() as u64)
            );
        }
        let offenders = self.offenders();
        if offenders.is_empty() {
            let most = l
                .partitions
                .values()
                .map(|l| l.orders.len())
                .max()
                .unwrap_or(0);
            println!(
                "  design rule    holds: no partition key receives writes from more than a quarter of the {} orders (at most {most})",
                self.orders
            );
        } else {
            let named: Vec<String> = offenders
                .iter()
                .take(5)
                .map(|(p, k)| format!("{p} ({k} orders)"))
                .collect();
            println!(
                "  design rule    BROKEN: {} partition keys receive writes from more than a quarter of the {} orders: {}{}",
                offenders.len(),
                self.orders,
                named.join(", "),
                if offenders.len() > 5 { ", ..." } else { "" }
            );
        }
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let head: String = s.chars().take(max - 1).collect();
    format!("{head}…")
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A scenario's world: tables and queues of its own, the proxy, the server and the
/// receiver of its notifications.
struct Rig {
    base: String,
    client: reqwest::Client,
    proxy: Proxy,
    receiver: Receiver,
    server: Option<Server>,
    tables: Vec<String>,
    /// When charging started.
    since: Instant,
    _dir: tempfile::TempDir,
}

async fn rig(a: &CapacityArgs, name: &str, endpoint: &str, args: &[&str]) -> anyhow::Result<Rig> {
    let bin = orderflow_bin(a.orderflow_bin.as_ref())?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .subsec_nanos();
    let prefix = format!("cap{}-{nanos}-{name}-", std::process::id());
    let names: Vec<(String, String)> = [
        ("ORDERFLOW_ORDERS_TABLE", "orders"),
        ("ORDERFLOW_INVENTORY_TABLE", "inventory"),
        ("ORDERFLOW_IDEMPOTENCY_TABLE", "idempotency"),
        ("ORDERFLOW_QUEUE_NAME", "orders"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), format!("{prefix}{v}")))
    .collect();
    let init = {
        let (bin, names) = (bin.clone(), names.clone());
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(&bin)
                .args(["aws", "init"])
                .envs(names)
                .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
                .output()
        })
        .await??
    };
    ensure!(
        init.status.success(),
        "orderflow aws init failed: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let proxy = Proxy::start(endpoint, &prefix).await?;
    let receiver = Receiver::start().await?;
    let dir = tempfile::tempdir()?;
    let mut all: Vec<String> = [
        "serve",
        "--backend",
        "aws",
        "--listen",
        "127.0.0.1:0",
        "--processing-delay",
        "0s",
        "--refund-delay",
        "0s",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    all.extend(["--data-dir".to_owned(), dir.path().display().to_string()]);
    all.extend(args.iter().map(|s| (*s).to_owned()));
    let tables = names
        .iter()
        .filter(|(k, _)| k.ends_with("_TABLE"))
        .map(|(_, v)| v.clone())
        .collect();
    let mut env = names;
    env.extend([
        ("AWS_ENDPOINT_URL_DYNAMODB".to_owned(), proxy.url.clone()),
        ("ORDERFLOW_NOTIFY_URL".to_owned(), receiver.url.clone()),
        (
            "ORDERFLOW_NOTIFY_SECRET".to_owned(),
            "capacity-model-notify-secret".to_owned(),
        ),
    ]);
    let server = Server::start_with_env(&bin, &all, &env)?;
    Ok(Rig {
        base: server.url.clone(),
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(a.concurrency * 2)
            .tcp_nodelay(true)
            .build()?,
        proxy,
        receiver,
        server: Some(server),
        tables,
        since: Instant::now(),
        _dir: dir,
    })
}

impl Rig {
    async fn put(&self, product: &str, body: &Value) -> anyhow::Result<(u16, String)> {
        let r = self
            .client
            .put(format!("{}/inventory/{product}", self.base))
            .json(body)
            .send()
            .await?;
        Ok((r.status().as_u16(), r.text().await?))
    }

    async fn stock_products(&self) -> anyhow::Result<()> {
        for p in 0..PRODUCTS {
            let (status, body) = self
                .put(&format!("p{p}"), &json!({ "stockCount": PLENTY }))
                .await?;
            ensure!(status == 200, "stocking p{p}: {status} {body}");
        }
        Ok(())
    }

    /// Set-up is over: start charging. Fails if the server's DynamoDB requests do not come
    /// through the proxy.
    async fn start_recording(&mut self) -> anyhow::Result<()> {
        ensure!(
            self.proxy.dynamodb_requests() > 0,
            "the server's DynamoDB requests did not come through the proxy \
             (does its AWS SDK honour AWS_ENDPOINT_URL_DYNAMODB?)"
        );
        self.proxy.start_recording().await;
        self.since = Instant::now();
        Ok(())
    }

    async fn count(&self, status: i64) -> anyhow::Result<bool> {
        let page: Value = self
            .client
            .get(format!("{}/orders?status={status}&limit=1", self.base))
            .send()
            .await?
            .json()
            .await?;
        Ok(!page["orders"].as_array().is_none_or(Vec::is_empty))
    }

    /// Wait until no order is in one of `open` statuses, `notifications` deliveries arrived
    /// and no write went through for a moment; then stop charging and stop the server.
    async fn settle(
        &mut self,
        open: &[i64],
        notifications: usize,
        within: Duration,
    ) -> anyhow::Result<(Ledger, Vec<String>)> {
        let deadline = Instant::now() + within;
        let load_took = self.since.elapsed();
        let mut notes = Vec::new();
        loop {
            let delivered = self.receiver.count();
            let quiet = self.proxy.quiet_for() >= QUIET;
            let late = Instant::now() > deadline;
            // Listing is a query on the emulator, which serves the server too: only ask
            // once the local signs say the run is over.
            if (delivered >= notifications && quiet) || late {
                let mut busy = false;
                for s in open {
                    busy |= self.count(*s).await?;
                }
                if !busy && (quiet || !late) {
                    if delivered < notifications {
                        notes.push(format!(
                            "notifications  only {delivered} of {notifications} delivered when the run ended"
                        ));
                    }
                    break;
                }
                ensure!(
                    !late || !busy,
                    "orders still in status {open:?} after {within:?}: the run did not finish"
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let ledger = self.proxy.stop_recording().await;
        notes.push(format!(
            "notifications  {} delivered",
            self.receiver.count()
        ));
        notes.push(format!(
            "run            {:.1} s of requests, settled after {:.1} s (on the emulator: no speed figure)",
            load_took.as_secs_f64(),
            self.since.elapsed().as_secs_f64()
        ));
        Ok((ledger, notes))
    }

    async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(s) = self.server.take() {
            s.stop()?;
        }
        self.proxy.delete_tables(&self.tables).await;
        Ok(())
    }

    /// Completed orders, through the API.
    async fn completed(&self) -> anyhow::Result<usize> {
        let mut n = 0;
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{}/orders?status=3&limit=500", self.base);
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let page: Value = self.client.get(&url).send().await?.json().await?;
            n += page["orders"].as_array().map_or(0, Vec::len);
            match page["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return Ok(n),
            }
        }
    }
}

/// Times a buyer tries again after `503 overloaded`.
const OVERLOADED_RETRIES: usize = 20;

/// What placing did.
struct Placed {
    ids: Vec<String>,
    /// Refused with 409 (out of stock).
    refused: usize,
    /// Placements answered 503 and sent again.
    retried: usize,
}

impl Placed {
    fn retried_note(&self) -> Option<String> {
        (self.retried > 0).then(|| {
            format!(
                "overloaded     {} placements answered 503 (store contended) and were sent again",
                self.retried
            )
        })
    }
}

/// Orders placed (and paid, when `pay`): `body(i)` is the i-th order. Returns the ids of
/// the accepted ones and the refusals' statuses; fails on anything else.
async fn place(
    rig: &Rig,
    a: &CapacityArgs,
    n: usize,
    pay: bool,
    body: impl Fn(usize) -> Value + Send + Sync + 'static,
) -> anyhow::Result<Placed> {
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(AtomicUsize::new(0));
    let (client, base) = (rig.client.clone(), rig.base.clone());
    let paid = Arc::new(AtomicUsize::new(0));
    let retries = Arc::new(AtomicUsize::new(0));
    let (acc, refd, pd, rt) = (
        accepted.clone(),
        refused.clone(),
        paid.clone(),
        retries.clone(),
    );
    let stats = drive(a.concurrency, Until::Count(n), move |i| {
        let (client, base, body) = (client.clone(), base.clone(), body(i));
        let (acc, refd, pd, retried) = (acc.clone(), refd.clone(), pd.clone(), rt.clone());
        async move {
            let mut tries = 0;
            let (status, placed) = loop {
                let r = client
                    .post(format!("{base}/order"))
                    .json(&body)
                    .send()
                    .await
                    .ok()?;
                let status = r.status().as_u16();
                let placed: Value = r.json().await.ok()?;
                // 503: the store was too contended and wrote nothing; a buyer tries again.
                if status == 503 && tries < OVERLOADED_RETRIES {
                    tries += 1;
                    retried.fetch_add(1, Ordering::Relaxed);
                    // Spread apart, so the retries do not collide again in step.
                    let spread = ((i * 7919 + tries * 131) % 200) as u64;
                    tokio::time::sleep(Duration::from_millis(50 + spread)).await;
                    continue;
                }
                break (status, placed);
            };
            if status == 409 {
                refd.fetch_add(1, Ordering::Relaxed);
                return Some(Outcome { status });
            }
            if status != 201 {
                return Some(Outcome { status });
            }
            let id = placed["orderId"].as_str()?.to_owned();
            acc.lock().expect("ids").push(id.clone());
            if pay {
                let hook = json!({ "orderId": id, "paymentStatus": "success" });
                let r = client
                    .post(format!("{base}/webhook/payment"))
                    .json(&hook)
                    .send()
                    .await
                    .ok()?;
                let s = r.status().as_u16();
                r.bytes().await.ok()?;
                if s == 200 {
                    pd.fetch_add(1, Ordering::Relaxed);
                }
                return Some(Outcome { status: s });
            }
            Some(Outcome { status })
        }
    })
    .await;
    let ids = std::mem::take(&mut *accepted.lock().expect("ids"));
    let refused = refused.load(Ordering::Relaxed);
    ensure!(
        stats.errors == 0 && ids.len() + refused == n,
        "placing {n} orders: {} accepted, {refused} refused, others failed ({})",
        ids.len(),
        stats.line()
    );
    if pay {
        ensure!(
            paid.load(Ordering::Relaxed) == ids.len(),
            "not every webhook was taken ({})",
            stats.line()
        );
    }
    Ok(Placed {
        ids,
        refused,
        retried: retries.load(Ordering::Relaxed),
    })
}

/// How long a scenario of `n` orders may take to settle after its load.
fn allowance(n: usize) -> Duration {
    Duration::from_secs(120) + Duration::from_millis(400 * n as u64)
}

async fn run_one(a: &CapacityArgs, s: Scenario, endpoint: &str) -> anyhow::Result<Report> {
    match s {
        Scenario::Shop => shop(a, endpoint, false).await,
        Scenario::Cart => shop(a, endpoint, true).await,
        Scenario::Timeouts => timeouts(a, endpoint).await,
        Scenario::Flash => flash(a, endpoint).await,
        Scenario::All => unreachable!("expanded by run"),
    }
}

/// `shop` (one line) and `cart` (three lines): placed, paid, completed.
async fn shop(a: &CapacityArgs, endpoint: &str, cart: bool) -> anyhow::Result<Report> {
    let (name, n) = (if cart { "cart" } else { "shop" }, a.orders);
    let mut rig = rig(a, name, endpoint, &[]).await?;
    rig.stock_products().await?;
    rig.start_recording().await?;
    let placed = place(&rig, a, n, true, move |i| {
        if cart {
            let items: Vec<Value> = (0..3)
                .map(|k| json!({ "productId": format!("p{}", (i + k) % PRODUCTS), "quantity": 1 + k }))
                .collect();
            json!({ "userId": format!("carter{i}"), "items": items })
        } else {
            json!({ "userId": format!("shopper{i}"), "productId": format!("p{}", i % PRODUCTS) })
        }
    })
    .await?;
    ensure!(
        placed.ids.len() == n,
        "only {} of {n} orders accepted",
        placed.ids.len()
    );
    // placed, paid, processing, completed.
    let (ledger, notes) = rig.settle(&[1, 2], 4 * n, allowance(n)).await?;
    rig.stop().await?;
    let mut outcome = vec![format!("orders         {n} placed, paid and completed")];
    outcome.extend(placed.retried_note());
    outcome.extend(notes);
    Ok(Report {
        name,
        title: if cart {
            format!("{n} 3-line carts over {PRODUCTS} products, each paid by webhook and completed")
        } else {
            format!("{n} orders over {PRODUCTS} products, each paid by webhook and completed")
        },
        orders: n,
        outcome,
        ledger,
    })
}

/// `timeouts`: unpaid orders, timed out once their 2 s are up.
async fn timeouts(a: &CapacityArgs, endpoint: &str) -> anyhow::Result<Report> {
    let n = a.orders;
    let args = ["--payment-timeout", "2s", "--sweep-schedule", "* * * * * *"];
    let mut rig = rig(a, "timeouts", endpoint, &args).await?;
    rig.stock_products().await?;
    rig.start_recording().await?;
    let placed = place(
        &rig,
        a,
        n,
        false,
        |i| json!({ "userId": format!("idler{i}"), "productId": format!("p{}", i % PRODUCTS) }),
    )
    .await?;
    ensure!(
        placed.ids.len() == n,
        "only {} of {n} orders accepted",
        placed.ids.len()
    );
    // placed, timed_out.
    let (ledger, notes) = rig.settle(&[1], 2 * n, allowance(n)).await?;
    rig.stop().await?;
    let mut outcome = vec![format!(
        "orders         {n} placed, none paid, all timed out"
    )];
    outcome.extend(placed.retried_note());
    outcome.extend(notes);
    Ok(Report {
        name: "timeouts",
        title: format!(
            "{n} unpaid orders over {PRODUCTS} products, swept after a 2 s payment timeout"
        ),
        orders: n,
        outcome,
        ledger,
    })
}

/// `flash`: one product, every buyer at once; the accepted ones paid and completed.
async fn flash(a: &CapacityArgs, endpoint: &str) -> anyhow::Result<Report> {
    let (buyers, units) = (a.buyers, a.units);
    let mut rig = rig(a, "flash", endpoint, &[]).await?;
    let mut body = json!({ "stockCount": units });
    if a.shards > 1 {
        body["shards"] = json!(a.shards);
    }
    let (status, answer) = rig.put("flash", &body).await?;
    if status == 400 && a.shards > 1 {
        bail!(
            "the server refused the flash product with \"shards\": {} ({status} {answer}): this \
             orderflow has no sharded stock; run with --shards 1 to measure one inventory item",
            a.shards
        );
    }
    ensure!(
        status == 200,
        "stocking the flash product: {status} {answer}"
    );
    rig.start_recording().await?;
    let placed = place(
        &rig,
        a,
        buyers,
        false,
        |i| json!({ "userId": format!("buyer{i}"), "productId": "flash" }),
    )
    .await?;
    let expected = buyers.min(units as usize);
    let (ids, refused) = (placed.ids.clone(), placed.refused);
    ensure!(
        ids.len() == expected,
        "accepted {} orders for {units} units and {buyers} buyers",
        ids.len()
    );
    // Paid after the sale, as a shop's customers would be, at the same concurrency.
    let stats = webhook_each(&rig.client, &rig.base, &ids, "success", a.concurrency).await;
    ensure!(
        stats.count(200) == ids.len(),
        "not every accepted order could be paid ({})",
        stats.line()
    );
    let (ledger, mut notes) = rig
        .settle(&[1, 2], 4 * ids.len(), allowance(buyers))
        .await?;
    let inv: Value = rig
        .client
        .get(format!("{}/inventory/flash", rig.base))
        .send()
        .await?
        .json()
        .await?;
    let (stock, locked) = (
        inv["stockCount"].as_i64().context("stockCount")?,
        inv["lockedCount"].as_i64().context("lockedCount")?,
    );
    let sold = rig.completed().await? as i64;
    ensure!(
        stock + locked + sold == units && locked == 0 && stock >= 0,
        "OVERSOLD or lost: stockCount {stock} + lockedCount {locked} + sold {sold} != {units}, or locked != 0"
    );
    notes.push(format!(
        "stock          stockCount {stock} + lockedCount {locked} + sold {sold} = {units}: no oversell"
    ));
    rig.stop().await?;
    let mut outcome = vec![format!(
        "orders         {buyers} placed: {} accepted, {refused} refused out of stock",
        ids.len()
    )];
    outcome.extend(placed.retried_note());
    outcome.extend(notes);
    Ok(Report {
        name: "flash",
        title: format!(
            "{buyers} buyers at once for {units} units of one product{}, the accepted ones paid and completed",
            if a.shards > 1 {
                format!(" in {} stock shards", a.shards)
            } else {
                " (one inventory item)".to_owned()
            }
        ),
        orders: buyers,
        outcome,
        ledger,
    })
}

/// The bench's receiver of the server's notifications: answers 200, counts distinct ids.
struct Receiver {
    url: String,
    ids: Arc<Mutex<HashSet<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    async fn start() -> anyhow::Result<Self> {
        let ids: Arc<Mutex<HashSet<String>>> = Arc::default();
        let app = axum::Router::new()
            .route("/notify", axum::routing::post(receive))
            .with_state(ids.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/notify", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url, ids, task })
    }

    fn count(&self) -> usize {
        self.ids.lock().expect("ids").len()
    }
}

async fn receive(State(ids): State<Arc<Mutex<HashSet<String>>>>, body: Bytes) -> StatusCode {
    if let Some(id) = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["id"].as_str().map(str::to_owned))
    {
        ids.lock().expect("ids").insert(id);
    }
    StatusCode::OK
}
