//! `GET /metrics`: Prometheus text, from the `prometheus-client` crate.
//!
//! Every request is counted by method, route template and status, and timed by route;
//! the store's own counters (the group-commit writer's batches and commands) are read at
//! scrape time through a hook the binary provides.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

/// Totals a backend keeps itself, read at each scrape: `(name, help, value)`.
pub type StoreCounters = Arc<dyn Fn() -> Vec<(&'static str, &'static str, u64)> + Send + Sync>;

pub struct Metrics {
    // Locked only to encode (a scrape), never on the request path.
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    store: Option<(StoreCounters, Vec<Counter>)>,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to ~4 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
}

impl Metrics {
    pub fn new(store: Option<StoreCounters>) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "orderflow_http_requests",
            "HTTP requests answered, by method, route and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "orderflow_http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            latency.clone(),
        );
        let store = store.map(|read| {
            let counters = read()
                .into_iter()
                .map(|(name, help, _)| {
                    let c = Counter::default();
                    registry.register(name, help, c.clone());
                    c
                })
                .collect();
            (read, counters)
        });
        Self {
            registry: Mutex::new(registry),
            requests,
            latency,
            store,
        }
    }

    fn render(&self) -> String {
        let registry = self.registry.lock().expect("metrics registry poisoned");
        if let Some((read, counters)) = &self.store {
            for ((_, _, total), counter) in read().into_iter().zip(counters) {
                counter.inc_by(total.saturating_sub(counter.get()));
            }
        }
        let mut out = String::new();
        encode(&mut out, &registry).expect("writing to a String does not fail");
        out
    }
}

/// A label from a closed set: any method outside it (clients may send any token as a
/// method) shares `other`, so that junk requests cannot grow `/metrics` without bound.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Count and time every request by its route template (`/order/{orderId}`), so that ids
/// do not make a new series each.
pub(crate) async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    let m = &state.metrics;
    m.requests
        .get_or_create(&RequestLabels {
            method,
            route: route.clone(),
            status: response.status().as_u16(),
        })
        .inc();
    m.latency
        .get_or_create(&RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
    response
}

pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
