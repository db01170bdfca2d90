//! `orderflow serve`: open the store, build the service, serve HTTP until SIGTERM/Ctrl-C.

use std::sync::Arc;

use anyhow::Context;
use orderflow_core::clock::SystemClock;
use orderflow_core::service::{OrderService, Settings};
use orderflow_http::AppState;
use orderflow_sqlite::SqliteStore;
use tokio::net::TcpListener;

use crate::cli::{Backend, ServeArgs};

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let store = match args.backend {
        Backend::Embedded => SqliteStore::open(&args.data_dir).with_context(|| {
            format!("opening the embedded store in {}", args.data_dir.display())
        })?,
    };
    tracing::info!(db = %store.path().display(), "embedded store open");
    let service = Arc::new(OrderService::new(
        Arc::new(store),
        Arc::new(SystemClock),
        Settings {
            payment_timeout: args.payment_timeout,
        },
    ));
    if args.demo {
        let seeded = service.seed_demo().await.context("seeding demo products")?;
        tracing::info!(
            products = seeded,
            "demo products seeded (none when the store had some)"
        );
    }
    if args.admin_token.is_none() {
        tracing::warn!("no --admin-token: anyone who can reach this server can set stock");
    }

    let state = AppState {
        service,
        admin_token: args.admin_token.map(Arc::from),
    };
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    // Scripts and tests wait for this line: the server accepts connections from here on.
    println!("orderflow listening on http://{addr}");
    axum::serve(listener, orderflow_http::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    // In-flight requests have been answered, and an answer is only sent after its write
    // is committed: nothing acknowledged is left behind.
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
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
    tracing::info!("shutting down: finishing in-flight requests");
}
