//! The recording proxy of the capacity model: a DynamoDB endpoint (JSON 1.0 protocol) on
//! loopback that forwards every request to the emulator, and charges each write to the
//! partitions it lands on ([`crate::units`]).
//!
//! Reads pass through concurrently. Writes are serialized under one lock so that the
//! before and after images read around each one are its own: before forwarding, the items
//! it touches are read (`BatchGetItem`, consistent, straight to the emulator), and again
//! after it succeeded. Table key schemas and indexes come from `DescribeTable`, once per
//! table, so whatever layout the server's binary makes is what gets measured.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::units::{Charge, Item, Outcome, Partition, Table, Touched, charges};

const TARGET_PREFIX: &str = "DynamoDB_20120810.";
const WRITES: [&str; 5] = [
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "TransactWriteItems",
    "BatchWriteItem",
];

/// What one partition key received while recording.
#[derive(Debug, Default, Clone)]
pub struct Load {
    pub units: u64,
    pub writes: u64,
    /// The orders whose requests wrote it.
    pub orders: HashSet<String>,
}

/// Everything charged while recording.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    pub partitions: HashMap<Partition, Load>,
    /// Write requests by operation.
    pub requests: BTreeMap<String, u64>,
    /// Write requests the emulator refused, by error (only lost conditions and cancelled
    /// transactions are charged).
    pub refused: BTreeMap<String, u64>,
    /// Writes the model could not account for (an image read failed, say).
    pub problems: Vec<String>,
}

impl Ledger {
    pub fn total_units(&self) -> u64 {
        self.partitions.values().map(|l| l.units).sum()
    }
}

struct Shared {
    upstream: String,
    region: String,
    /// Table names start with it; it is left out of what the report shows.
    prefix: String,
    client: reqwest::Client,
    tables: tokio::sync::Mutex<HashMap<String, Arc<Table>>>,
    /// Held by the write in flight; guards the images it keeps of the items written while
    /// recording (each write's after image is the next one's before image, as every write
    /// comes through here).
    writes: tokio::sync::Mutex<HashMap<String, Option<Item>>>,
    recording: AtomicBool,
    ledger: Mutex<Ledger>,
    /// Milliseconds since `epoch` of the last write forwarded.
    last_write: AtomicU64,
    epoch: Instant,
    /// DynamoDB requests seen at all: proof that the server's SDK came through here.
    seen: AtomicU64,
}

/// The proxy, serving until dropped.
pub struct Proxy {
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Listen on 127.0.0.1:0 and forward to `upstream` (the emulator's URL).
    pub async fn start(upstream: &str, prefix: &str) -> anyhow::Result<Self> {
        let region = std::env::var("AWS_REGION")
            .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|_| "us-east-1".into());
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            region,
            prefix: prefix.to_owned(),
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .tcp_nodelay(true)
                .build()?,
            tables: tokio::sync::Mutex::default(),
            writes: tokio::sync::Mutex::default(),
            recording: AtomicBool::new(false),
            ledger: Mutex::default(),
            last_write: AtomicU64::new(0),
            epoch: Instant::now(),
            seen: AtomicU64::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url, shared, task })
    }

    pub async fn start_recording(&self) {
        let mut images = self.shared.writes.lock().await;
        images.clear();
        *self.shared.ledger.lock().expect("ledger") = Ledger::default();
        self.shared.recording.store(true, Ordering::SeqCst);
    }

    /// Stop charging, and hand over what was charged. Waits for a write in flight.
    pub async fn stop_recording(&self) -> Ledger {
        let _no_write_in_flight = self.shared.writes.lock().await;
        self.shared.recording.store(false, Ordering::SeqCst);
        std::mem::take(&mut *self.shared.ledger.lock().expect("ledger"))
    }

    /// How long since the last write went through.
    pub fn quiet_for(&self) -> Duration {
        let now = self.shared.epoch.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.shared.last_write.load(Ordering::SeqCst)))
    }

    /// Delete the run's tables (the emulator keeps everything in memory).
    pub async fn delete_tables(&self, names: &[String]) {
        for name in names {
            let _ = self
                .shared
                .call("DeleteTable", &json!({ "TableName": name }))
                .await;
        }
    }

    pub fn dynamodb_requests(&self) -> u64 {
        self.shared.seen.load(Ordering::SeqCst)
    }
}

async fn handle(State(s): State<Arc<Shared>>, req: Request) -> Response {
    match proxied(&s, req).await {
        Ok(r) => r,
        Err(e) => {
            s.ledger
                .lock()
                .expect("ledger")
                .problems
                .push(format!("{e:#}"));
            let mut r = Response::new(Body::from(format!("capacity proxy: {e:#}")));
            *r.status_mut() = StatusCode::BAD_GATEWAY;
            r
        }
    }
}

async fn proxied(s: &Shared, req: Request) -> anyhow::Result<Response> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await?;
    let op = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .map(str::to_owned);
    if op.is_some() {
        s.seen.fetch_add(1, Ordering::Relaxed);
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let forward = |body: axum::body::Bytes| async {
        let mut headers = parts.headers.clone();
        for h in ["host", "content-length", "connection", "transfer-encoding"] {
            headers.remove(h);
        }
        let r = s
            .client
            .request(parts.method.clone(), format!("{}{path}", s.upstream))
            .headers(headers)
            .body(body)
            .send()
            .await
            .context("forwarding to the emulator")?;
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = r.bytes().await?;
        anyhow::Ok((status, headers, bytes))
    };
    let Some(op) = op.filter(|op| WRITES.contains(&op.as_str())) else {
        let (status, headers, bytes) = forward(body.clone()).await?;
        return Ok(response(status, &headers, bytes));
    };
    let mut images = s.writes.lock().await;
    if !s.recording.load(Ordering::SeqCst) {
        let (status, headers, bytes) = forward(body.clone()).await?;
        return Ok(response(status, &headers, bytes));
    }
    let mut request: Value = serde_json::from_slice(&body).context("a write that is not JSON")?;
    let touched = s.touched(&op, &request).await?;
    // An UpdateItem's after image comes back with it when asked for (ALL_NEW): one
    // emulator call less per update. Asked for by the proxy, it is taken out of the answer
    // again, so the server sees what it asked for.
    let asked = request["ReturnValues"]
        .as_str()
        .unwrap_or("NONE")
        .to_owned();
    let returns_new = op == "UpdateItem" && (asked == "NONE" || asked == "ALL_NEW");
    let body = if op == "UpdateItem" && asked == "NONE" {
        request["ReturnValues"] = json!("ALL_NEW");
        axum::body::Bytes::from(request.to_string())
    } else {
        body
    };
    let unknown: Vec<&Touch> = touched
        .iter()
        .filter(|t| !images.contains_key(&t.id()))
        .collect();
    if !unknown.is_empty() {
        for (t, image) in unknown.iter().zip(s.images(&unknown).await?) {
            images.insert(t.id(), image);
        }
    }
    let before: Vec<Option<Item>> = touched.iter().map(|t| images[&t.id()].clone()).collect();
    let (status, mut headers, mut bytes) = forward(body).await?;
    s.last_write
        .store(s.epoch.elapsed().as_millis() as u64, Ordering::SeqCst);
    let kind = if status.is_success() {
        None
    } else {
        serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["__type"].as_str().map(str::to_owned))
    };
    if let Some(k) = &kind {
        let short = k.rsplit('#').next().unwrap_or(k).to_owned();
        *s.ledger
            .lock()
            .expect("ledger")
            .refused
            .entry(short)
            .or_default() += 1;
    }
    let outcome = match kind.as_deref() {
        None => Some(Outcome::Done),
        Some(k) if k.ends_with("ConditionalCheckFailedException") => Some(Outcome::ConditionFailed),
        Some(k) if k.ends_with("TransactionCanceledException") => Some(Outcome::Cancelled),
        Some(_) => None,
    };
    let after = match outcome {
        Some(Outcome::Done) => {
            let mut answer: Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let returned = returns_new
                .then(|| answer["Attributes"].as_object().cloned())
                .flatten();
            if returns_new && asked == "NONE" {
                if let Some(o) = answer.as_object_mut() {
                    o.remove("Attributes");
                }
                bytes = axum::body::Bytes::from(answer.to_string());
                // Its checksum was of the answer with the attributes.
                headers.remove("x-amz-crc32");
            }
            // Only updates need reading: a put leaves its item, a delete nothing, a
            // condition check what was there.
            let unread: Vec<&Touch> = touched
                .iter()
                .filter(|t| t.kind == Kind::Update && returned.is_none())
                .collect();
            let mut read = s.images(&unread).await?.into_iter();
            let after: Vec<Option<Item>> = touched
                .iter()
                .zip(&before)
                .map(|(t, before)| match t.kind {
                    Kind::Put => t.put.clone(),
                    Kind::Delete => None,
                    Kind::Check => before.clone(),
                    Kind::Update => match &returned {
                        Some(r) => Some(r.clone()),
                        None => read.next().flatten(),
                    },
                })
                .collect();
            for (t, image) in touched.iter().zip(&after) {
                images.insert(t.id(), image.clone());
            }
            after
        }
        _ => before.clone(),
    };
    s.charge(&op, &touched, &before, &after, outcome);
    Ok(response(status, &headers, bytes))
}

fn response(status: StatusCode, headers: &HeaderMap, body: axum::body::Bytes) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    for (k, v) in headers {
        if !["connection", "transfer-encoding", "content-length"].contains(&k.as_str()) {
            r.headers_mut().append(k.clone(), v.clone());
        }
    }
    r
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Put,
    Update,
    Delete,
    Check,
}

/// One item a write request names.
struct Touch {
    kind: Kind,
    table: String,
    schema: Arc<Table>,
    key: Item,
    /// A `Put`'s item: what a cancelled transaction would have written.
    put: Option<Item>,
    in_transaction: bool,
}

impl Touch {
    /// The item's identity: its table and key values in the key schema's order.
    fn id(&self) -> String {
        let k = &self.schema.key;
        format!(
            "{}|{:?}|{:?}",
            self.table,
            self.key.get(&k.hash),
            k.range.as_ref().map(|r| self.key.get(r))
        )
    }
}

impl Shared {
    /// A request straight to the emulator (the proxy's own reads, uncounted). moto routes by
    /// the signature's credential scope and checks nothing else, so a fixed one will do.
    async fn call(&self, op: &str, body: &Value) -> anyhow::Result<Value> {
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=capacity/20260101/{}/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
            self.region
        );
        let r = self
            .client
            .post(format!("{}/", self.upstream))
            .header("x-amz-target", format!("{TARGET_PREFIX}{op}"))
            .header("content-type", "application/x-amz-json-1.0")
            .header("authorization", auth)
            .body(body.to_string())
            .send()
            .await
            .with_context(|| format!("{op} on the emulator"))?;
        let status = r.status();
        let text = r.text().await?;
        if !status.is_success() {
            bail!("{op} on the emulator: {status} {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("{op}: not JSON: {text}"))
    }

    async fn table(&self, name: &str) -> anyhow::Result<Arc<Table>> {
        let mut tables = self.tables.lock().await;
        if let Some(t) = tables.get(name) {
            return Ok(t.clone());
        }
        let described = self
            .call("DescribeTable", &json!({ "TableName": name }))
            .await?;
        let t =
            Arc::new(Table::from_describe(&described).with_context(|| format!("table {name}"))?);
        tables.insert(name.to_owned(), t.clone());
        Ok(t)
    }

    async fn touched(&self, op: &str, req: &Value) -> anyhow::Result<Vec<Touch>> {
        let mut out = Vec::new();
        let add = |kind: Kind, table: &str, key: Option<&Value>, put: Option<&Value>, tx: bool| {
            (kind, table.to_owned(), key.cloned(), put.cloned(), tx)
        };
        let mut raw = Vec::new();
        match op {
            "PutItem" => raw.push(add(
                Kind::Put,
                str_of(&req["TableName"]),
                None,
                Some(&req["Item"]),
                false,
            )),
            "UpdateItem" | "DeleteItem" => {
                let kind = if op == "UpdateItem" {
                    Kind::Update
                } else {
                    Kind::Delete
                };
                raw.push(add(
                    kind,
                    str_of(&req["TableName"]),
                    Some(&req["Key"]),
                    None,
                    false,
                ));
            }
            "TransactWriteItems" => {
                for t in req["TransactItems"].as_array().into_iter().flatten() {
                    let (kind, body) = t
                        .as_object()
                        .and_then(|o| o.iter().next())
                        .context("an empty transaction item")?;
                    let table = str_of(&body["TableName"]);
                    raw.push(match kind.as_str() {
                        "Put" => add(Kind::Put, table, None, Some(&body["Item"]), true),
                        "Update" => add(Kind::Update, table, Some(&body["Key"]), None, true),
                        "Delete" => add(Kind::Delete, table, Some(&body["Key"]), None, true),
                        _ => add(Kind::Check, table, Some(&body["Key"]), None, true),
                    });
                }
            }
            "BatchWriteItem" => {
                for (table, reqs) in req["RequestItems"].as_object().into_iter().flatten() {
                    for r in reqs.as_array().into_iter().flatten() {
                        raw.push(match r.get("PutRequest") {
                            Some(p) => add(Kind::Put, table, None, Some(&p["Item"]), false),
                            None => add(
                                Kind::Delete,
                                table,
                                Some(&r["DeleteRequest"]["Key"]),
                                None,
                                false,
                            ),
                        });
                    }
                }
            }
            _ => bail!("not a write: {op}"),
        }
        for (kind, table, key, put, in_transaction) in raw {
            let schema = self.table(&table).await?;
            let put = put.and_then(|p| p.as_object().cloned());
            let key = match (key, &put) {
                (Some(k), _) => k.as_object().cloned(),
                (None, Some(p)) => schema.key.key_of(p),
                (None, None) => None,
            }
            .with_context(|| format!("{op} on {table} without a key"))?;
            out.push(Touch {
                kind,
                table,
                schema,
                key,
                put,
                in_transaction,
            });
        }
        Ok(out)
    }

    /// The current images of the touched items (consistent reads), in the same order.
    async fn images(&self, touched: &[&Touch]) -> anyhow::Result<Vec<Option<Item>>> {
        if touched.is_empty() {
            return Ok(Vec::new());
        }
        let mut wanted: BTreeMap<&str, Vec<&Item>> = BTreeMap::new();
        for t in touched {
            let keys = wanted.entry(&t.table).or_default();
            if !keys.contains(&&t.key) {
                keys.push(&t.key);
            }
        }
        let mut request: serde_json::Map<String, Value> = wanted
            .into_iter()
            .map(|(table, keys)| {
                (
                    table.to_owned(),
                    json!({ "Keys": keys, "ConsistentRead": true }),
                )
            })
            .collect();
        let mut found: Vec<(String, Item)> = Vec::new();
        for _ in 0..20 {
            let answer = self
                .call("BatchGetItem", &json!({ "RequestItems": request }))
                .await?;
            for (table, items) in answer["Responses"].as_object().into_iter().flatten() {
                for item in items.as_array().into_iter().flatten() {
                    if let Some(i) = item.as_object() {
                        found.push((table.clone(), i.clone()));
                    }
                }
            }
            match answer["UnprocessedKeys"].as_object() {
                Some(left) if !left.is_empty() => request = left.clone(),
                _ => {
                    return Ok(touched
                        .iter()
                        .map(|t| {
                            found
                                .iter()
                                .find(|(table, i)| {
                                    *table == t.table
                                        && t.schema.key.key_of(i).as_ref() == Some(&t.key)
                                })
                                .map(|(_, i)| i.clone())
                        })
                        .collect());
                }
            }
        }
        bail!("the emulator kept keys unprocessed")
    }

    fn charge(
        &self,
        op: &str,
        touched: &[Touch],
        before: &[Option<Item>],
        after: &[Option<Item>],
        outcome: Option<Outcome>,
    ) {
        let mut ledger = self.ledger.lock().expect("ledger");
        *ledger.requests.entry(op.to_owned()).or_default() += 1;
        let Some(outcome) = outcome else {
            return;
        };
        // A write belongs to the orders whose items it writes: a transaction's inventory
        // writes are the order's it places.
        let orders: HashSet<String> = touched
            .iter()
            .filter_map(|t| order_of(t.key.get(&t.schema.key.hash)?))
            .collect();
        let mut all: Vec<Charge> = Vec::new();
        for (i, t) in touched.iter().enumerate() {
            let display = t.table.strip_prefix(&self.prefix).unwrap_or(&t.table);
            let after = if outcome == Outcome::Cancelled {
                t.put.as_ref()
            } else {
                after[i].as_ref()
            };
            all.extend(charges(
                &Touched {
                    table: display,
                    schema: &t.schema,
                    key: &t.key,
                    before: before[i].as_ref(),
                    after,
                    in_transaction: t.in_transaction,
                },
                outcome,
            ));
        }
        for c in all {
            let load = ledger.partitions.entry(c.partition).or_default();
            load.units += c.units;
            load.writes += 1;
            load.orders.extend(orders.iter().cloned());
        }
    }
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// The order an item belongs to: a partition key that is, or starts with, a UUID (an
/// order's id). A customer's allowance (`customer#...`) and products are nobody's order.
fn order_of(key: &Value) -> Option<String> {
    let s = key.get("S")?.as_str()?;
    let id = s.get(..36)?;
    let uuid = id.char_indices().all(|(i, c)| match i {
        8 | 13 | 18 | 23 => c == '-',
        _ => c.is_ascii_hexdigit(),
    });
    uuid.then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::order_of;
    use serde_json::json;

    #[test]
    fn orders_are_uuid_keys() {
        let id = "0f8fad5b-d9cb-469f-a165-70867728950e";
        assert_eq!(order_of(&json!({"S": id})).as_deref(), Some(id));
        assert_eq!(
            order_of(&json!({"S": format!("{id}#event")})).as_deref(),
            Some(id)
        );
        assert_eq!(order_of(&json!({"S": "customer#u1"})), None);
        assert_eq!(order_of(&json!({"S": "p1"})), None);
    }
}
