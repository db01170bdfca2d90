//! `TestApp`: start the real binary on port 0 with a temp data dir, and talk to it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    child: Child,
    // Kept alive as long as the app (and removed after it), unless the test owns the dir.
    _dir: Option<TempDir>,
}

/// How a test starts the server: extra flags and environment.
#[derive(Default, Clone)]
pub struct Options {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Where the server's stderr (its logs) goes; inherited when unset.
    pub log_file: Option<std::path::PathBuf>,
}

impl Options {
    /// The lifecycle in seconds: 1 s to pay, a sweep every second, short work and refunds.
    pub fn fast() -> Self {
        Self::default().fast_flags()
    }

    /// [`Options::fast`] on top of these options (a backend, say).
    pub fn fast_flags(self) -> Self {
        self.flag("--payment-timeout", "1s")
            .flag("--sweep-schedule", "* * * * * *")
            .flag("--processing-delay", "300ms")
            .flag("--refund-delay", "200ms")
    }

    /// The AWS backend on the emulator that the test command starts (`AWS_ENDPOINT_URL`),
    /// under table and queue names of its own, made by `orderflow aws init`.
    pub fn aws(self) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let prefix = format!(
            "e{}-{nanos}-{}-",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let names = [
            ("ORDERFLOW_ORDERS_TABLE", format!("{prefix}orders")),
            ("ORDERFLOW_INVENTORY_TABLE", format!("{prefix}inventory")),
            (
                "ORDERFLOW_IDEMPOTENCY_TABLE",
                format!("{prefix}idempotency"),
            ),
            ("ORDERFLOW_QUEUE_NAME", format!("{prefix}orders")),
        ];
        assert!(
            std::env::var_os("AWS_ENDPOINT_URL").is_some(),
            "AWS_ENDPOINT_URL is not set: run these through scripts/test, which starts the emulator"
        );
        let out = Command::new(env!("CARGO_BIN_EXE_orderflow"))
            .args(["aws", "init"])
            .envs(names.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("run orderflow aws init");
        assert!(
            out.status.success(),
            "aws init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut me = self.flag("--backend", "aws");
        for (k, v) in names {
            me = me.env(k, &v);
        }
        me
    }

    /// No timeouts but the start-up sweep's: a sweep schedule that never comes round during
    /// a test (once a year), and no deadline timer.
    pub fn no_scheduled_sweeps(self) -> Self {
        self.flag("--sweep-schedule", "0 0 0 1 1 *")
            .flag("--deadline-timer", "false")
    }

    /// `name value`, replacing an earlier value of the same flag.
    pub fn flag(mut self, name: &str, value: &str) -> Self {
        if let Some(i) = self.args.iter().position(|a| a == name) {
            self.args[i + 1] = value.to_owned();
            return self;
        }
        self.arg(name).arg(value)
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.to_owned());
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_owned(), v.to_owned()));
        self
    }

    /// Write the server's logs to `path` (read them with `std::fs::read_to_string`).
    pub fn log_to(mut self, path: &Path) -> Self {
        self.log_file = Some(path.to_owned());
        self
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(opts: Options) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().to_owned();
        let mut app = Self::spawn_in(&path, opts).await;
        app._dir = Some(dir);
        app
    }

    /// Start on an existing data dir (to restart over the same store).
    pub async fn spawn_in(data_dir: &Path, opts: Options) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_orderflow"));
        cmd.arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(&opts.args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(match &opts.log_file {
                Some(p) => Stdio::from(std::fs::File::create(p).expect("log file")),
                None => Stdio::inherit(),
            });
        // The environment a developer has must not change what a test means.
        for (k, _) in std::env::vars() {
            if k.starts_with("ORDERFLOW_") {
                cmd.env_remove(k);
            }
        }
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start orderflow");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Forward the address line, then keep draining so the server never blocks.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("orderflow listening on ") {
                    let _ = tx.send(addr.to_owned());
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server printed its address");
        Self {
            base,
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .unwrap(),
            child,
            _dir: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `kill -9`: no chance to flush or finish anything.
    pub fn kill_9(&mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
    }

    /// SIGTERM, then wait for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return s;
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self.client.get(self.url(path)).send().await.expect("GET");
        read(r).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let r = self
            .client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST");
        read(r).await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let r = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST");
        read(r).await
    }

    pub async fn put_stock(&self, product: &str, n: i64) -> (StatusCode, Value) {
        self.put_inventory(product, &json!({ "stockCount": n }))
            .await
    }

    pub async fn put_inventory(&self, product: &str, body: &Value) -> (StatusCode, Value) {
        let r = self
            .client
            .put(self.url(&format!("/inventory/{product}")))
            .json(body)
            .send()
            .await
            .expect("PUT");
        read(r).await
    }

    /// Place a cart: `(product, quantity)` lines.
    pub async fn place_cart(&self, user: &str, lines: &[(&str, i64)]) -> (StatusCode, Value) {
        let items: Vec<Value> = lines
            .iter()
            .map(|(p, q)| json!({ "productId": p, "quantity": q }))
            .collect();
        self.post_json("/order", &json!({ "userId": user, "items": items }))
            .await
    }

    pub async fn place_cart_ok(&self, user: &str, lines: &[(&str, i64)]) -> Value {
        let (s, body) = self.place_cart(user, lines).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        body
    }

    pub async fn stock(&self, product: &str, n: i64) {
        let (s, body) = self.put_stock(product, n).await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }

    pub async fn place(&self, user: &str, product: &str, q: i64) -> (StatusCode, Value) {
        self.post_json(
            "/order",
            &json!({ "userId": user, "productId": product, "quantity": q }),
        )
        .await
    }

    pub async fn place_ok(&self, user: &str, product: &str, q: i64) -> Value {
        let (s, body) = self.place(user, product, q).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        body
    }

    pub async fn order(&self, id: &str) -> Value {
        let (s, o) = self.get(&format!("/order/{id}")).await;
        assert_eq!(s, StatusCode::OK, "{o}");
        o
    }

    /// Poll the order until `done` holds (or fail after `secs`); returns it and every
    /// `orderStatus` seen on the way, without repeats.
    pub async fn wait_for(
        &self,
        id: &str,
        secs: u64,
        done: impl Fn(&Value) -> bool,
    ) -> (Value, Vec<i64>) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut seen = Vec::new();
        loop {
            let o = self.order(id).await;
            let status = o["orderStatus"].as_i64().unwrap();
            if seen.last() != Some(&status) {
                seen.push(status);
            }
            if done(&o) {
                return (o, seen);
            }
            assert!(
                Instant::now() < deadline,
                "order never got there: {o} (seen {seen:?})"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn webhook(&self, id: &str, status: &str) -> (StatusCode, Value) {
        self.post_json(
            "/webhook/payment",
            &json!({ "orderId": id, "paymentStatus": status }),
        )
        .await
    }

    pub async fn simulate(&self, id: &str, outcome: &str, delay_ms: u64) -> (StatusCode, Value) {
        self.post_json(
            &format!("/simulate/payment/{id}"),
            &json!({ "outcome": outcome, "delayMs": delay_ms }),
        )
        .await
    }

    pub async fn product(&self, product: &str) -> (i64, i64) {
        let (s, p) = self.get(&format!("/inventory/{product}")).await;
        assert_eq!(s, StatusCode::OK, "{p}");
        (
            p["stockCount"].as_i64().unwrap(),
            p["lockedCount"].as_i64().unwrap(),
        )
    }

    /// Every order, through the API, following cursors.
    pub async fn all_orders(&self, filter: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/orders?limit=500{filter}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let (s, page) = self.get(&path).await;
            assert_eq!(s, StatusCode::OK, "{page}");
            out.extend(page["orders"].as_array().unwrap().iter().cloned());
            match page["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return out,
            }
        }
    }

    /// Invariants I1-I3 of the contract for every product, through the API only.
    /// `stocked` is the total ever stocked per product.
    pub async fn assert_invariants(&self, stocked: &HashMap<String, i64>) {
        let orders = self.all_orders("").await;
        for (product, total) in stocked {
            let q = |codes: &[i64]| units(&orders, product, codes);
            let (stock, locked) = self.product(product).await;
            assert_eq!(locked, q(&[1, 2]), "I1 for {product}");
            assert_eq!(stock + locked + q(&[3]), *total, "I2 for {product}");
            assert!(stock >= 0 && locked >= 0, "I3 for {product}");
        }
        // I4: paid orders that did not complete were refunded.
        for o in &orders {
            if o["paymentStatus"] == "success"
                && [4, 5].contains(&o["orderStatus"].as_i64().unwrap())
            {
                assert_eq!(o["refundStatus"], "completed", "I4 for {o}");
            }
        }
    }
}

/// `Q(S)` of the contract: the units of `product` over the lines of the orders whose
/// `orderStatus` is in `codes`.
pub fn units(orders: &[Value], product: &str, codes: &[i64]) -> i64 {
    orders
        .iter()
        .filter(|o| codes.contains(&o["orderStatus"].as_i64().unwrap()))
        .flat_map(|o| o["items"].as_array().unwrap())
        .filter(|l| l["productId"] == product)
        .map(|l| l["quantity"].as_i64().unwrap())
        .sum()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn read(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    (status, body)
}

/// The contract's error shape, exactly: `{"error": {"code", "message"}}`.
pub fn assert_error(status: StatusCode, body: &Value, want: StatusCode, code: &str) {
    assert_error_shape(status, body, want, code);
    assert_eq!(body["error"].as_object().unwrap().len(), 2, "{body}");
}

/// A refused placement: the error shape with `details.productIds` naming `products`.
pub fn assert_refused(
    status: StatusCode,
    body: &Value,
    want: StatusCode,
    code: &str,
    products: &[&str],
) {
    assert_error_shape(status, body, want, code);
    assert_eq!(
        body["error"]["details"],
        json!({ "productIds": products }),
        "{body}"
    );
}

fn assert_error_shape(status: StatusCode, body: &Value, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{body}");
    let err = body["error"]
        .as_object()
        .unwrap_or_else(|| panic!("no error object: {body}"));
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    assert_eq!(err["code"], code, "{body}");
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// Milliseconds since the epoch of an RFC 3339 timestamp the server wrote, checking its
/// exact form (UTC, milliseconds).
pub fn millis(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}"));
    assert_eq!(s.len(), 24, "{s}");
    assert!(s.ends_with('Z') && s.as_bytes()[19] == b'.', "{s}");
    let t = humantime::parse_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// One test per scenario per backend: `$name(Options)` on the embedded backend and on the
/// AWS backend (DynamoDB and SQS on the emulator).
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::helpers::Options::default()).await
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::helpers::Options::default().aws()).await
                }
            )*
        }
    };
}
pub(crate) use on_both_backends;
