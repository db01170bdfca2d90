//! `orderflow worker`: only the queue workers (the consumer and the refund worker), for
//! running them on servers or containers beside an API elsewhere.

use std::sync::Arc;

use orderflow_core::clock::SystemClock;
use orderflow_core::ports::Clock;
use orderflow_worker::wiring::Timings;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::backend;
use crate::cli::WorkerArgs;
use crate::serve::{service, shutdown_signal, spawn_workers};

pub async fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let opened = backend::open(
        &args.store,
        clock.clone(),
        args.processing_delay,
        args.refund_delay,
        backend::notifications_from_env(),
    )
    .await?;
    let service = service(
        &opened,
        clock,
        Timings {
            processing: args.processing_delay,
            refund: args.refund_delay,
            resend_after: args.resend_after,
            // Placing orders is not the worker's business.
            ..Timings::default()
        },
    );
    let (stop, stopped) = watch::channel(false);
    let mut workers = JoinSet::new();
    spawn_workers(&mut workers, &service, None, &stopped);
    println!("orderflow worker running");
    shutdown_signal().await;
    let _ = stop.send(true);
    while workers.join_next().await.is_some() {}
    Ok(())
}
