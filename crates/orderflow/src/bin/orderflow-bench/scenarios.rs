//! The scenarios. Each prints its figures next to the reference it is measured against in
//! the same run: the trivial handler's ceiling, or the `place` rate.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

use crate::Common;
use crate::load::{Outcome, Stats, Until, drive, send, webhook_each};
use crate::server::{Instructions, Io, Server, orderflow_bin, start_trivial};

const PRODUCTS: usize = 100;
const PLENTY: i64 = 1_000_000_000_000;
/// Placing during the sweep runs at a modest concurrency: the point is its latency.
const PLACING_DURING_SWEEP: usize = 8;

fn client(c: &Common) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(c.concurrency * 2)
        .tcp_nodelay(true)
        .build()
        .expect("client")
}

fn duration(c: &Common) -> Duration {
    if c.smoke {
        Duration::from_millis(700)
    } else {
        c.duration
    }
}

/// A server to measure: `--url`, or orderflow started on a fresh data dir with `args`.
struct Target {
    url: String,
    server: Option<Server>,
    _dir: Option<tempfile::TempDir>,
}

fn start(c: &Common, args: &[&str]) -> anyhow::Result<Target> {
    if let Some(url) = &c.url {
        return Ok(Target {
            url: url.trim_end_matches('/').to_owned(),
            server: None,
            _dir: None,
        });
    }
    let dir = tempfile::tempdir()?;
    let server = start_in(c, dir.path(), args)?;
    Ok(Target {
        url: server.url.clone(),
        server: Some(server),
        _dir: Some(dir),
    })
}

fn start_in(c: &Common, dir: &std::path::Path, args: &[&str]) -> anyhow::Result<Server> {
    let mut all = vec![
        "serve".to_owned(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--data-dir".into(),
        dir.display().to_string(),
    ];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    Server::start(&orderflow_bin(c.orderflow_bin.as_ref())?, &all)
}

async fn put_stock(
    client: &reqwest::Client,
    url: &str,
    product: &str,
    n: i64,
) -> anyhow::Result<()> {
    let r = client
        .put(format!("{url}/inventory/{product}"))
        .json(&json!({ "stockCount": n }))
        .send()
        .await?;
    ensure!(
        r.status().is_success(),
        "stocking {product}: {}",
        r.status()
    );
    Ok(())
}

/// What the server did over one measured phase, reported per unit of work: bytes written
/// (figures that do not move with the machine's noise, unlike rates) and instructions.
struct Phase {
    io: Option<Io>,
    instructions: Option<Instructions>,
}

impl Phase {
    fn start(server: Option<&Server>) -> Self {
        Self {
            io: server.and_then(Server::io),
            instructions: server.map(Server::count_instructions),
        }
    }

    /// Print the `io` and `instructions` lines (nothing when the server is not ours).
    fn report(self, server: Option<&Server>, units: usize, what: &str) {
        if let (Some(before), Some(after)) = (self.io, server.and_then(Server::io)) {
            println!("  io             {}", before.per(&after, units, what));
        }
        if let Some(counter) = self.instructions {
            match counter.finish() {
                Ok(n) => println!(
                    "  instructions   {:.0} per {what} ({n} in all)",
                    n as f64 / units.max(1) as f64
                ),
                Err(why) => println!("  instructions   not counted: {why}"),
            }
        }
    }
}

/// When a measured phase stops: after `--requests`, else after the duration.
fn until(c: &Common) -> Until {
    match c.requests {
        Some(n) if !c.smoke => Until::Count(n),
        _ => Until::Elapsed(duration(c)),
    }
}

fn print_memory(t: &Target) {
    if let Some((now, peak)) = t.server.as_ref().and_then(Server::rss_mib) {
        println!("  server RSS     {now:.1} MiB now, {peak:.1} MiB peak");
    }
}

/// POST /order with the same body shape against the trivial server.
async fn ceiling(c: &Common) -> anyhow::Result<Option<Stats>> {
    if c.url.is_some() {
        return Ok(None);
    }
    let trivial = start_trivial()?;
    let client = client(c);
    let url = format!("{}/order", trivial.url);
    let stats = drive(c.concurrency, Until::Elapsed(duration(c)), move |i| {
        let req = client
            .post(&url)
            .json(&json!({ "userId": format!("u{}", i % 1000), "productId": format!("p{}", i % PRODUCTS) }));
        send(req)
    })
    .await;
    println!("  trivial        {}", stats.line());
    Ok(Some(stats))
}

/// I1-I3 through the API: every order, paged, summed per product and status.
async fn check_invariants(
    client: &reqwest::Client,
    url: &str,
    stocked: &HashMap<String, i64>,
) -> anyhow::Result<()> {
    let mut q: HashMap<(String, i64), i64> = HashMap::new();
    let mut cursor: Option<String> = None;
    let mut n = 0usize;
    loop {
        let mut page_url = format!("{url}/orders?limit=500");
        if let Some(c) = &cursor {
            page_url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = client.get(&page_url).send().await?.json().await?;
        for o in page["orders"].as_array().context("orders")? {
            n += 1;
            let status = o["orderStatus"].as_i64().unwrap_or_default();
            for line in o["items"].as_array().context("items")? {
                let product = line["productId"].as_str().unwrap_or_default().to_owned();
                *q.entry((product, status)).or_default() +=
                    line["quantity"].as_i64().unwrap_or_default();
            }
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    for (product, total) in stocked {
        let inv: Value = client
            .get(format!("{url}/inventory/{product}"))
            .send()
            .await?
            .json()
            .await?;
        let (stock, locked) = (
            inv["stockCount"].as_i64().context("stockCount")?,
            inv["lockedCount"].as_i64().context("lockedCount")?,
        );
        let sum = |s: i64| q.get(&(product.clone(), s)).copied().unwrap_or(0);
        ensure!(locked == sum(1) + sum(2), "I1 broken for {product}");
        ensure!(stock + locked + sum(3) == *total, "I2 broken for {product}");
        ensure!(stock >= 0 && locked >= 0, "I3 broken for {product}");
    }
    println!(
        "  invariants     I1-I3 hold over {} products and {n} orders",
        stocked.len()
    );
    Ok(())
}

fn ratio(what: &str, part: f64, whole: f64) {
    println!("  {what:<14} {:.1}%", 100.0 * part / whole);
}

/// `place`: POST /order over 100 products. Returns orders/s.
pub async fn place(c: &Common) -> anyhow::Result<f64> {
    println!(
        "\n== place: POST /order over {PRODUCTS} products, concurrency {}, {:?}",
        c.concurrency,
        duration(c)
    );
    let ceiling = ceiling(c).await?;
    let t = start(c, &[])?;
    let client = client(c);
    let mut stocked = HashMap::new();
    for p in 0..PRODUCTS {
        put_stock(&client, &t.url, &format!("p{p}"), PLENTY).await?;
        stocked.insert(format!("p{p}"), PLENTY);
    }
    let url = format!("{}/order", t.url);
    let cl = client.clone();
    let phase = Phase::start(t.server.as_ref());
    let stats = drive(c.concurrency, until(c), move |i| {
        let req = cl
            .post(&url)
            .json(&json!({ "userId": format!("u{}", i % 1000), "productId": format!("p{}", i % PRODUCTS) }));
        send(req)
    })
    .await;
    println!("  orderflow      {}", stats.line());
    if let Some(ceil) = &ceiling {
        ratio("of ceiling", stats.per_second(), ceil.per_second());
    }
    phase.report(t.server.as_ref(), stats.count(201), "order");
    print_memory(&t);
    ensure!(
        stats.errors == 0 && stats.count(201) == stats.requests(),
        "not every order was accepted"
    );
    check_invariants(&client, &t.url, &stocked).await?;
    Ok(stats.per_second())
}

/// `flash`: 10,000 orders for 1,000 units of one product; exactly 1,000 accepted.
/// Returns orders/s.
pub async fn flash(c: &Common, place_rate: f64) -> anyhow::Result<f64> {
    let (units, orders) = if c.smoke { (50, 500) } else { (1_000, 10_000) };
    println!(
        "\n== flash: {orders} orders for {units} units of one product, concurrency {}",
        c.concurrency
    );
    let t = start(c, &[])?;
    let client = client(c);
    put_stock(&client, &t.url, "flash", units).await?;
    let url = format!("{}/order", t.url);
    let cl = client.clone();
    let phase = Phase::start(t.server.as_ref());
    let stats = drive(c.concurrency, Until::Count(orders as usize), move |i| {
        let req = cl
            .post(&url)
            .json(&json!({ "userId": format!("buyer{i}"), "productId": "flash" }));
        send(req)
    })
    .await;
    println!("  orderflow      {}", stats.line());
    ratio("of place", stats.per_second(), place_rate);
    phase.report(t.server.as_ref(), stats.count(201), "accepted order");
    print_memory(&t);
    ensure!(
        stats.count(201) == units as usize,
        "accepted {} orders for {units} units",
        stats.count(201)
    );
    ensure!(
        stats.count(409) == orders as usize - units as usize,
        "refusals were not all out_of_stock"
    );
    println!("  oversell       none: exactly {units} accepted");
    check_invariants(
        &client,
        &t.url,
        &HashMap::from([("flash".to_owned(), units)]),
    )
    .await?;
    Ok(stats.per_second())
}

/// `cart`: POST /order with 3-line carts over 100 products; carts/s beside `place`.
pub async fn cart(c: &Common, place_rate: f64) -> anyhow::Result<()> {
    println!(
        "\n== cart: POST /order with 3-line carts over {PRODUCTS} products, concurrency {}, {:?}",
        c.concurrency,
        duration(c)
    );
    let t = start(c, &[])?;
    let client = client(c);
    let mut stocked = HashMap::new();
    for p in 0..PRODUCTS {
        put_stock(&client, &t.url, &format!("p{p}"), PLENTY).await?;
        stocked.insert(format!("p{p}"), PLENTY);
    }
    let url = format!("{}/order", t.url);
    let cl = client.clone();
    let phase = Phase::start(t.server.as_ref());
    let stats = drive(c.concurrency, until(c), move |i| {
        let items: Vec<Value> = (0..3)
            .map(|k| json!({ "productId": format!("p{}", (i + k) % PRODUCTS), "quantity": 1 + k }))
            .collect();
        let req = cl
            .post(&url)
            .json(&json!({ "userId": format!("u{}", i % 1000), "items": items }));
        send(req)
    })
    .await;
    println!("  orderflow      {}", stats.line());
    println!("  lines          {:.0} lines/s", 3.0 * stats.per_second());
    ratio("of place", stats.per_second(), place_rate);
    phase.report(t.server.as_ref(), stats.count(201), "cart");
    print_memory(&t);
    ensure!(
        stats.errors == 0 && stats.count(201) == stats.requests(),
        "not every cart was accepted"
    );
    check_invariants(&client, &t.url, &stocked).await
}

/// `limit`: a flash sale with `maxPerUser` 1 where every customer tries to buy twice, at
/// once: exactly the stock is sold, nobody gets two. Orders/s beside `flash`.
pub async fn limit(c: &Common, flash_rate: f64) -> anyhow::Result<()> {
    // More buyers than units, but enough units that most buyers get one: the limit refuses
    // second orders all through the sale, not only the stock at its end.
    let (units, buyers) = if c.smoke { (150, 250) } else { (3_000, 5_000) };
    let orders = 2 * buyers;
    println!(
        "\n== limit: {buyers} customers each ordering twice (maxPerUser 1) for {units} units, concurrency {}",
        c.concurrency
    );
    let t = start(c, &[])?;
    let client = client(c);
    let r = client
        .put(format!("{}/inventory/drop", t.url))
        .json(&json!({ "stockCount": units, "maxPerUser": 1 }))
        .send()
        .await?;
    ensure!(r.status().is_success(), "stocking drop: {}", r.status());
    let url = format!("{}/order", t.url);
    let cl = client.clone();
    // Request i is customer i / 2's: each customer's two orders go out side by side.
    let phase = Phase::start(t.server.as_ref());
    let stats = drive(c.concurrency, Until::Count(orders), move |i| {
        let req = cl
            .post(&url)
            .json(&json!({ "userId": format!("buyer{}", i / 2), "productId": "drop" }));
        send(req)
    })
    .await;
    println!("  orderflow      {}", stats.line());
    ratio("of flash", stats.per_second(), flash_rate);
    phase.report(t.server.as_ref(), stats.count(201), "accepted order");
    print_memory(&t);
    ensure!(
        stats.count(201) == units as usize,
        "accepted {} orders for {units} units",
        stats.count(201)
    );
    ensure!(
        stats.count(409) == orders - units as usize,
        "refusals were not all out_of_stock or limit_exceeded"
    );
    let mut per_buyer: HashMap<String, usize> = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut page_url = format!("{}/orders?limit=500", t.url);
        if let Some(c) = &cursor {
            page_url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = client.get(&page_url).send().await?.json().await?;
        for o in page["orders"].as_array().context("orders")? {
            *per_buyer
                .entry(o["userId"].as_str().unwrap_or_default().to_owned())
                .or_default() += 1;
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let most = per_buyer.values().copied().max().unwrap_or(0);
    ensure!(
        most <= 1,
        "a customer holds {most} orders past maxPerUser 1"
    );
    println!(
        "  limit          held: {} customers with one unit each, none with two",
        per_buyer.len()
    );
    check_invariants(
        &client,
        &t.url,
        &HashMap::from([("drop".to_owned(), units)]),
    )
    .await
}

/// `lifecycle`: place, pay by webhook, the consumer completes; completed orders/s.
pub async fn lifecycle(c: &Common, place_rate: f64) -> anyhow::Result<()> {
    println!(
        "\n== lifecycle: place → webhook → consumer completes (processing delay 0), concurrency {}",
        c.concurrency
    );
    let t = start(c, &["--processing-delay", "0s", "--refund-delay", "0s"])?;
    let client = client(c);
    let mut stocked = HashMap::new();
    for p in 0..PRODUCTS {
        put_stock(&client, &t.url, &format!("p{p}"), PLENTY).await?;
        stocked.insert(format!("p{p}"), PLENTY);
    }
    let base = t.url.clone();
    let cl = client.clone();
    let phase = Phase::start(t.server.as_ref());
    let started = Instant::now();
    let stats = drive(c.concurrency, until(c), move |i| {
        let (cl, base) = (cl.clone(), base.clone());
        async move {
            let body = json!({ "userId": format!("u{}", i % 1000), "productId": format!("p{}", i % PRODUCTS) });
            let placed: Value = cl.post(format!("{base}/order")).json(&body).send().await.ok()?.json().await.ok()?;
            let id = placed["orderId"].as_str()?.to_owned();
            let hook = json!({ "orderId": id, "paymentStatus": "success" });
            send(cl.post(format!("{base}/webhook/payment")).json(&hook)).await
        }
    })
    .await;
    let paid = stats.count(200);
    // Wait for the consumer to drain: no order left in 1 or 2.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let mut busy = false;
        for status in [1, 2] {
            let page: Value = client
                .get(format!("{}/orders?status={status}&limit=1", t.url))
                .send()
                .await?
                .json()
                .await?;
            busy |= !page["orders"].as_array().is_none_or(Vec::is_empty);
        }
        if !busy {
            break;
        }
        if Instant::now() > deadline {
            bail!("the consumer did not finish within 5 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all_done = started.elapsed();
    let completed_rate = paid as f64 / all_done.as_secs_f64();
    println!("  place+webhook  {}", stats.line());
    println!(
        "  completed      {paid} orders in {:.2} s: {completed_rate:.0} orders/s",
        all_done.as_secs_f64()
    );
    // Placed, paid, processing, completed: four transitions (and their events) per order.
    phase.report(t.server.as_ref(), paid, "completed order");
    ratio("of place", completed_rate, place_rate);
    print_memory(&t);
    ensure!(
        stats.errors == 0 && paid == stats.requests(),
        "not every webhook was taken"
    );
    check_invariants(&client, &t.url, &stocked).await
}

/// Placing at [`PLACING_DURING_SWEEP`] on 100 products until `until`; the ids placed are
/// kept when `ids` is given.
async fn placing(
    client: reqwest::Client,
    base: String,
    until: Until,
    ids: Option<Arc<Mutex<Vec<String>>>>,
) -> Stats {
    let url = format!("{base}/order");
    drive(PLACING_DURING_SWEEP, until, move |i| {
        let (cl, url, ids) = (client.clone(), url.clone(), ids.clone());
        async move {
            let body = json!({ "userId": format!("u{}", i % 1000), "productId": format!("p{}", i % PRODUCTS) });
            let resp = cl.post(&url).json(&body).send().await.ok()?;
            let status = resp.status().as_u16();
            let order: Value = resp.json().await.ok()?;
            if let (Some(ids), Some(id)) = (ids, order["orderId"].as_str()) {
                ids.lock().expect("ids").push(id.to_owned());
            }
            Some(Outcome { status })
        }
    })
    .await
}

/// `sweep`: many expired unpaid orders, swept by a server that keeps taking orders; the
/// placing rate and p99 during the sweep beside those of the same placing before it.
pub async fn sweep(c: &Common) -> anyhow::Result<()> {
    if c.url.is_some() {
        bail!("the sweep scenario restarts the server, so it cannot target --url");
    }
    let n: i64 = if c.smoke { 1_000 } else { 100_000 };
    println!(
        "\n== sweep: {n} expired unpaid orders, while placing at concurrency {PLACING_DURING_SWEEP}"
    );
    let dir = tempfile::tempdir()?;
    // Orders time out after 1 s, and nothing sweeps them on this first server: they all
    // wait for the restart.
    let first = start_in(
        c,
        dir.path(),
        &[
            "--payment-timeout",
            "1s",
            "--sweep-schedule",
            NEVER,
            "--deadline-timer",
            "false",
        ],
    )?;
    let client = client(c);
    put_stock(&client, &first.url, "sweep", n).await?;
    let mut stocked = HashMap::from([("sweep".to_owned(), n)]);
    for p in 0..PRODUCTS {
        put_stock(&client, &first.url, &format!("p{p}"), PLENTY).await?;
        stocked.insert(format!("p{p}"), PLENTY);
    }
    let url = format!("{}/order", first.url);
    let cl = client.clone();
    let setup = drive(c.concurrency, Until::Count(n as usize), move |i| {
        let req = cl
            .post(&url)
            .json(&json!({ "userId": format!("u{}", i % 1000), "productId": "sweep" }));
        send(req)
    })
    .await;
    ensure!(
        setup.count(201) == n as usize,
        "setup placed {} of {n}",
        setup.count(201)
    );
    println!(
        "  setup          {n} orders placed in {:.1} s",
        setup.elapsed.as_secs_f64()
    );
    // The reference: the same placing on the same data, with no sweep going on. Those
    // orders then fail their payment, so that the sweep is of the n orders alone.
    let ids = Arc::new(Mutex::new(Vec::new()));
    let reference_for = if c.smoke {
        Duration::from_millis(700)
    } else {
        (c.duration / 2).max(Duration::from_secs(2))
    };
    let before = placing(
        client.clone(),
        first.url.clone(),
        Until::Elapsed(reference_for),
        Some(ids.clone()),
    )
    .await;
    let ids = std::mem::take(&mut *ids.lock().expect("ids"));
    let failed = webhook_each(&client, &first.url, &ids, "failed", c.concurrency).await;
    ensure!(
        failed.count(200) == ids.len(),
        "failing the reference orders: {}",
        failed.line()
    );
    first.stop()?;
    tokio::time::sleep(Duration::from_millis(1200)).await;

    // The restarted server sweeps at once, in the background, while serving; the orders
    // it takes meanwhile do not expire, so the sweep is of exactly n orders.
    let second = start_in(
        c,
        dir.path(),
        &["--payment-timeout", "30m", "--sweep-schedule", NEVER],
    )?;
    let started = Instant::now();
    let phase = Phase::start(Some(&second));
    let done = Arc::new(AtomicBool::new(false));
    let during = tokio::spawn(placing(
        client.clone(),
        second.url.clone(),
        Until::Stopped(done.clone()),
        None,
    ));
    let deadline = Instant::now() + Duration::from_secs(300);
    let swept_in = loop {
        let inv: Value = client
            .get(format!("{}/inventory/sweep", second.url))
            .send()
            .await?
            .json()
            .await?;
        if inv["lockedCount"] == 0 {
            break started.elapsed();
        }
        ensure!(
            Instant::now() < deadline,
            "the sweep did not finish within 5 minutes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    done.store(true, Ordering::Relaxed);
    let during = during.await?;
    println!(
        "  swept          {n} orders in {:.2} s",
        swept_in.as_secs_f64()
    );
    println!("  placing before {}", before.line());
    println!("  placing during {}", during.line());
    println!(
        "  during/before  {:.1}% of the placing rate, p99 {:.2}×",
        100.0 * during.per_second() / before.per_second(),
        during.percentile(0.99) / before.percentile(0.99).max(0.001)
    );
    // Bytes and instructions of the sweep, the placing beside it included.
    phase.report(Some(&second), n as usize, "swept order");
    if let Some((now, peak)) = second.rss_mib() {
        println!("  server RSS     {now:.1} MiB now, {peak:.1} MiB peak");
    }
    check_invariants(&client, &second.url, &stocked).await
}

/// A cron schedule with no tick within any benchmark (1 January, midnight).
const NEVER: &str = "0 0 0 1 1 *";

/// `deadline`: unpaid orders whose deadlines pass one after another; how long after its
/// `expiresAt` each one's stock is back. The moment is when the server streams the order's
/// `timed_out` change (`GET /events`), sent once the transition (its stock release in the
/// same transaction) is committed, i.e. once `GET /order/{id}` shows it timed out.
pub async fn deadline(c: &Common) -> anyhow::Result<()> {
    let (orders, spread) = if c.smoke {
        (100, Duration::from_millis(500))
    } else {
        (1_000, Duration::from_secs(3))
    };
    let timeout = "2s";
    println!(
        "\n== deadline: {orders} unpaid orders placed over {spread:?}, payment timeout {timeout}; lag from expiresAt to stock back"
    );
    // The default cron schedule (every 5 minutes): what brings stock back is the timer.
    let t = start(c, &["--payment-timeout", timeout])?;
    let client = client(c);
    put_stock(&client, &t.url, "dl", orders as i64).await?;
    // Listen before placing, so that no change is missed.
    let mut stream = client
        .get(format!("{}/events", t.url))
        .send()
        .await?
        .error_for_status()?;
    // Read the stream while placing: changes are timed when they arrive, not when the
    // placing is over.
    let watching = tokio::spawn(async move {
        let mut lags_ms: Vec<i64> = Vec::with_capacity(orders);
        let mut buffer = String::new();
        let give_up = Instant::now() + Duration::from_secs(60);
        while lags_ms.len() < orders {
            let left = give_up.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, stream.chunk())
                .await
                .context("stock was not back within a minute")??
                .context("the event stream ended")?;
            let seen_at = now_millis();
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find('\n') {
                let line: String = buffer.drain(..=end).collect();
                let Some(data) = line.trim_end().strip_prefix("data:") else {
                    continue;
                };
                let change: Value = serde_json::from_str(data.trim())?;
                if change["type"] != "timed_out" {
                    continue;
                }
                let expires = change["order"]["expiresAt"]
                    .as_str()
                    .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                    .context("expiresAt")?
                    .timestamp_millis();
                lags_ms.push(seen_at - expires);
            }
        }
        anyhow::Ok(lags_ms)
    });
    let phase = Phase::start(t.server.as_ref());
    let url = format!("{}/order", t.url);
    let cl = client.clone();
    let started = Instant::now();
    // Paced: one order every spread/orders, so that deadlines pass one after another
    // rather than all at once.
    let gap = spread / orders as u32;
    let placed = drive(PLACING_DURING_SWEEP, Until::Count(orders), move |i| {
        let (cl, url) = (cl.clone(), url.clone());
        async move {
            tokio::time::sleep_until((started + gap * i as u32).into()).await;
            let body = json!({ "userId": format!("u{i}"), "productId": "dl" });
            send(cl.post(&url).json(&body)).await
        }
    })
    .await;
    ensure!(
        placed.count(201) == orders,
        "placed {} of {orders}",
        placed.count(201)
    );
    let mut lags_ms = watching.await??;
    lags_ms.sort_unstable();
    let pct =
        |p: f64| lags_ms[((lags_ms.len() as f64 * p).ceil() as usize).clamp(1, lags_ms.len()) - 1];
    // (Its latencies include the pacing, so only the count is shown.)
    println!(
        "  placed         {orders} orders in {:.2} s",
        placed.elapsed.as_secs_f64()
    );
    println!(
        "  stock back     {orders} orders after expiresAt: min {} ms, p50 {} ms, p99 {} ms, max {} ms",
        lags_ms[0],
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    phase.report(t.server.as_ref(), orders, "timed-out order");
    let inv: Value = client
        .get(format!("{}/inventory/dl", t.url))
        .send()
        .await?
        .json()
        .await?;
    ensure!(
        inv["stockCount"] == orders as i64 && inv["lockedCount"] == 0,
        "stock not all back: {inv}"
    );
    print_memory(&t);
    check_invariants(
        &client,
        &t.url,
        &HashMap::from([("dl".to_owned(), orders as i64)]),
    )
    .await
}

/// The wall clock in Unix milliseconds: the server's timestamps are on the same clock
/// (same machine).
fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
