//! The load generator: `concurrency` tasks sending requests back to back until the
//! duration is over (or a total count is reached), each latency recorded.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// What one request came back with.
pub struct Outcome {
    pub status: u16,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub elapsed: Duration,
    /// Microseconds, sorted.
    pub latencies: Vec<u32>,
    pub statuses: BTreeMap<u16, usize>,
    /// Requests that got no HTTP answer at all.
    pub errors: usize,
}

impl Stats {
    pub fn requests(&self) -> usize {
        self.latencies.len() + self.errors
    }

    pub fn per_second(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64()
    }

    pub fn count(&self, status: u16) -> usize {
        self.statuses.get(&status).copied().unwrap_or(0)
    }

    /// The latency at `p` (0..=1), in ms.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len());
        f64::from(self.latencies[i - 1]) / 1000.0
    }

    /// One line: rate, latency percentiles in ms, statuses.
    pub fn line(&self) -> String {
        let statuses: Vec<_> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}×{n}"))
            .collect();
        format!(
            "{:>9.0} req/s  p50 {:>6.2} ms  p90 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms  [{}{}]",
            self.per_second(),
            self.percentile(0.50),
            self.percentile(0.90),
            self.percentile(0.99),
            self.percentile(1.0),
            statuses.join(" "),
            if self.errors > 0 {
                format!(" errors×{}", self.errors)
            } else {
                String::new()
            }
        )
    }
}

/// When a run stops.
#[derive(Debug, Clone)]
pub enum Until {
    Elapsed(Duration),
    /// After this many requests in all.
    Count(usize),
    /// Once the flag is set.
    Stopped(Arc<AtomicBool>),
}

/// Run `request(i)` from `concurrency` tasks; `i` counts requests across all tasks.
pub async fn drive<F, Fut>(concurrency: usize, until: Until, request: F) -> Stats
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<Outcome>> + Send,
{
    let request = Arc::new(request);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (request, next, until) = (request.clone(), next.clone(), until.clone());
        tasks.spawn(async move {
            let mut lat = Vec::new();
            let mut statuses = BTreeMap::new();
            let mut errors = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                match &until {
                    Until::Elapsed(d) if started.elapsed() >= *d => break,
                    Until::Count(n) if i >= *n => break,
                    Until::Stopped(flag) if flag.load(Ordering::Relaxed) => break,
                    _ => {}
                }
                let t = Instant::now();
                match request(i).await {
                    Some(o) => {
                        lat.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                        *statuses.entry(o.status).or_insert(0) += 1;
                    }
                    None => errors += 1,
                }
            }
            (lat, statuses, errors)
        });
    }
    let mut stats = Stats::default();
    while let Some(r) = tasks.join_next().await {
        let (lat, statuses, errors) = r.expect("load task");
        stats.latencies.extend(lat);
        for (s, n) in statuses {
            *stats.statuses.entry(s).or_insert(0) += n;
        }
        stats.errors += errors;
    }
    stats.elapsed = started.elapsed();
    stats.latencies.sort_unstable();
    stats
}

/// Report `outcome` (`"success"` or `"failed"`) for each of `ids` through the payment
/// webhook at `base`, `concurrency` at a time.
pub async fn webhook_each(
    client: &reqwest::Client,
    base: &str,
    ids: &[String],
    outcome: &'static str,
    concurrency: usize,
) -> Stats {
    let (client, url, ids) = (
        client.clone(),
        format!("{base}/webhook/payment"),
        Arc::new(ids.to_vec()),
    );
    let n = ids.len();
    drive(concurrency, Until::Count(n), move |i| {
        let hook = serde_json::json!({ "orderId": ids[i], "paymentStatus": outcome });
        send(client.post(&url).json(&hook))
    })
    .await
}

/// Send one request and drain its body; `None` if no HTTP answer came.
pub async fn send(req: reqwest::RequestBuilder) -> Option<Outcome> {
    let resp = req.send().await.ok()?;
    let status = resp.status().as_u16();
    resp.bytes().await.ok()?;
    Some(Outcome { status })
}
