//! `orderflow serve`: the API, the queue consumer, the refund worker, the simulated payment
//! gateway and the sweeper in one process, until SIGTERM/Ctrl-C.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use orderflow_core::clock::SystemClock;
use orderflow_core::ports::{ChangeFeed, Clock, Outbox};
use orderflow_core::service::OrderService;
use orderflow_http::metrics::{Metrics, StoreCounters};
use orderflow_http::security::Origins;
use orderflow_http::{AppState, Security, server};
use orderflow_worker::notifier::Notifier;
use orderflow_worker::queue_worker::{Handler, QueueWorker};
use orderflow_worker::schedule::{run_deadline_timer, run_sweeper};
use orderflow_worker::webhook::WebhookSender;
use orderflow_worker::wiring::{self, Timings, Work};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::cli::ServeArgs;
use crate::{backend, cli};

/// Messages each worker handles at once; most of their time is waiting (simulated work,
/// the refund gateway, an HTTP call), so many fit.
const IN_FLIGHT: usize = 64;
/// After a failed attempt, the message waits this long before the next one.
const RETRY_DELAY: Duration = Duration::from_secs(1);
/// How often the notifier looks for new events on the AWS backend (no commit signal
/// there): an event is sent at most this long after its commit.
/// Each poll queries every shard of the pending index, so not much more often.
const NOTIFY_POLL: Duration = Duration::from_secs(1);

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    // Configuration errors stop the server before it opens anything.
    let webhook_secret = cli::secret("ORDERFLOW_WEBHOOK_SECRET", args.webhook_secret.clone())?;
    let admin_token = cli::secret("ORDERFLOW_ADMIN_TOKEN", args.admin_token.clone())?;
    let origins = Origins::new(args.public_url.as_deref(), &args.allowed_origins)
        .map_err(|e| anyhow::anyhow!("--public-url / --allowed-origins: {e}"))?;
    let notify_secret = cli::secret("ORDERFLOW_NOTIFY_SECRET", args.notify_secret.clone())?;
    let notify = match (&args.notify_url, notify_secret) {
        (None, _) => None,
        (Some(_), None) => anyhow::bail!(
            "--notify-url needs --notify-secret (ORDERFLOW_NOTIFY_SECRET) to sign the deliveries"
        ),
        (Some(url), Some(secret)) => {
            let parsed: axum::http::Uri = url
                .parse()
                .map_err(|_| anyhow::anyhow!("--notify-url {url:?} is not a URL"))?;
            if !matches!(parsed.scheme_str(), Some("http" | "https")) || parsed.host().is_none() {
                anyhow::bail!("--notify-url must be an http:// or https:// URL, not {url:?}");
            }
            Some((url.clone(), secret))
        }
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let opened = backend::open(
        &args.store,
        clock.clone(),
        args.processing_delay,
        args.refund_delay,
        notify.is_some(),
    )
    .await?;
    if let Some(embedded) = &opened.embedded {
        // This process is the only consumer of the embedded queues: whatever was in
        // flight was taken by a process that died, and goes back on the queue now.
        let recovered = embedded.recover_in_flight(clock.now()).await?;
        if recovered > 0 {
            tracing::info!(
                messages = recovered,
                "messages in flight at the last stop are queued again"
            );
        }
    }
    let service = service(
        &opened,
        clock.clone(),
        Timings {
            processing: args.processing_delay,
            refund: args.refund_delay,
            payment_timeout: args.payment_timeout,
            resend_after: args.resend_after,
        },
    );
    if args.demo {
        let seeded = service.seed_demo().await.context("seeding demo products")?;
        tracing::info!(
            products = seeded,
            "demo products seeded (none when the store had some)"
        );
    }
    if webhook_secret.is_none() {
        tracing::warn!("no --webhook-secret: unsigned payment webhooks are accepted");
    }
    if admin_token.is_none() {
        tracing::warn!(
            "no --admin-token: anyone who can reach this server can set stock, list orders, refund and simulate payments"
        );
    }

    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    let public_url = args.public_url.clone().unwrap_or_else(|| local_url(addr));

    let (stop, stopped) = watch::channel(false);
    let mut background = JoinSet::new();
    let secret = webhook_secret
        .as_ref()
        .map(|s| s.expose().as_bytes().to_vec());
    spawn_workers(
        &mut background,
        &service,
        Some((public_url.as_str(), secret.clone())),
        &stopped,
    );
    // Orders that expired while the server was down are timed out now, not at the first
    // tick; in the background, so that the API serves meanwhile. The deadline timer does
    // that by itself as it starts (their deadlines have passed): a second sweep beside it
    // would only find the same orders and lose every race for them.
    let (svc, schedule, stop_rx) = (
        service.clone(),
        args.sweep_schedule.clone(),
        stopped.clone(),
    );
    let startup_sweep = !args.deadline_timer;
    background.spawn(async move {
        let started = std::time::Instant::now();
        let swept = if startup_sweep {
            svc.sweep_once(None).await
        } else {
            Ok(Default::default())
        };
        match swept {
            Ok(s) if s.timed_out > 0 || s.failed > 0 => {
                tracing::info!(
                    timed_out = s.timed_out,
                    failed = s.failed,
                    took_ms = started.elapsed().as_millis() as u64,
                    "start-up sweep"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "start-up sweep failed"),
        }
        run_sweeper(svc, schedule, stop_rx).await;
    });
    // Stock back at each deadline, not at the next cron tick.
    if args.deadline_timer {
        background.spawn(run_deadline_timer(service.clone(), stopped.clone()));
    }

    // Notifications: the store's outbox, delivered by one worker. The embedded store wakes
    // it on each commit; DynamoDB has no in-process commit signal (another process may
    // write), so its pending index is polled every NOTIFY_POLL.
    let outbox: Option<Arc<dyn Outbox>> = match (&notify, &opened.embedded, &opened.aws) {
        (None, _, _) => None,
        (Some((url, secret)), Some(store), _) => {
            let notifier = Arc::new(Notifier::new(
                store.clone(),
                store.clone(),
                clock.clone(),
                url,
                secret.expose().as_bytes().to_vec(),
            ));
            background.spawn(notifier.run(stopped.clone()));
            tracing::info!(url = %url, "notifications are delivered");
            Some(store.clone() as Arc<dyn Outbox>)
        }
        (Some((url, secret)), None, Some(store)) => {
            let notifier = Arc::new(Notifier::polling(
                store.clone(),
                NOTIFY_POLL,
                clock.clone(),
                url,
                secret.expose().as_bytes().to_vec(),
            ));
            background.spawn(notifier.run(stopped.clone()));
            tracing::info!(url = %url, poll_ms = NOTIFY_POLL.as_millis() as u64, "notifications are delivered (DynamoDB outbox, polled)");
            Some(store.clone() as Arc<dyn Outbox>)
        }
        (Some(_), None, None) => anyhow::bail!("--notify-url: this backend has no outbox"),
    };

    let store_counters: Option<StoreCounters> = opened.embedded.clone().map(|store| {
        Arc::new(move || {
            let stats = store.writer_stats();
            vec![
                (
                    "orderflow_store_commits",
                    "Transactions committed by the embedded store's writer (one per group)",
                    stats.batches.load(Ordering::Relaxed),
                ),
                (
                    "orderflow_store_write_commands",
                    "Write commands the embedded store's writer ran, across all groups",
                    stats.commands.load(Ordering::Relaxed),
                ),
            ]
        }) as StoreCounters
    });
    // Live streams end when shutdown begins, not at the deadline.
    let (closing_tx, closing) = watch::channel(false);
    let state = AppState {
        service,
        security: Security {
            admin_token,
            webhook_secret,
            origins: Arc::new(origins),
        },
        metrics: Arc::new(Metrics::new(store_counters)),
        changes: opened
            .embedded
            .clone()
            .map(|store| store as Arc<dyn ChangeFeed>),
        outbox,
        closing,
    };
    // Scripts and tests wait for this line: the server accepts connections from here on.
    println!("orderflow listening on http://{addr}");
    let deadline = server::serve(
        listener,
        orderflow_http::router(state),
        args.max_connections,
        async move {
            shutdown_signal().await;
            let _ = closing_tx.send(true);
        },
        args.shutdown_timeout,
    )
    .await
    .context("serving HTTP")?;
    // In-flight requests have been answered (or dropped at the deadline). Now the workers
    // finish the messages they hold and the sweeper its sweep, within the same deadline;
    // anything not finished stays queued (a message not deleted is delivered again).
    let _ = stop.send(true);
    let drained = tokio::time::timeout_at(deadline, async {
        while background.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "workers still busy at the shutdown deadline are stopped; their messages are delivered again"
        );
        background.abort_all();
    }
    tracing::info!("stopped");
    Ok(())
}

/// The service over an opened backend (see [`orderflow_worker::wiring::service`]).
pub fn service(
    opened: &backend::Opened,
    clock: Arc<dyn Clock>,
    timings: Timings,
) -> Arc<OrderService> {
    wiring::service(opened.store.clone(), opened.queues.clone(), clock, timings)
}

/// A worker for the orders queue (the consumer) and one for the refunds queue; with a
/// public URL, also the simulated payment gateway's sender.
pub fn spawn_workers(
    set: &mut JoinSet<()>,
    service: &Arc<OrderService>,
    simulator: Option<(&str, Option<Vec<u8>>)>,
    stopped: &watch::Receiver<bool>,
) {
    let queues = service.queues().clone();
    let handler = |work: Work| -> Handler {
        let svc = service.clone();
        Arc::new(move |body| {
            let svc = svc.clone();
            Box::pin(async move { wiring::handle(&svc, work, &body).await })
        })
    };
    let (consume, refund) = (handler(Work::Orders), handler(Work::Refunds));
    let mut workers = vec![
        ("orders", queues.orders, consume),
        ("refunds", queues.refunds, refund),
    ];
    if let Some((public_url, secret)) = simulator {
        let sender = Arc::new(WebhookSender::new(
            public_url,
            secret,
            service.clock().clone(),
        ));
        let deliver: Handler = Arc::new(move |body| {
            let sender = sender.clone();
            Box::pin(async move { sender.deliver(&body).await })
        });
        workers.push(("payments", queues.payments, deliver));
    }
    for (name, queue, handler) in workers {
        let worker = QueueWorker {
            name,
            queue,
            handler,
            max_in_flight: IN_FLIGHT,
            retry_delay: RETRY_DELAY,
        };
        set.spawn(worker.run(stopped.clone()));
    }
}

/// `http://<addr>`, with a wildcard listen address replaced by loopback so that the
/// simulated gateway can reach it.
fn local_url(addr: SocketAddr) -> String {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    format!("http://{addr}")
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests and messages");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listen_address_is_reached_on_loopback() {
        assert_eq!(
            local_url("0.0.0.0:3000".parse().unwrap()),
            "http://127.0.0.1:3000"
        );
        assert_eq!(local_url("[::]:80".parse().unwrap()), "http://[::1]:80");
        assert_eq!(
            local_url("10.1.2.3:8080".parse().unwrap()),
            "http://10.1.2.3:8080"
        );
    }
}
