//! `orderflow sweep`: one sweep now, its count on stdout.

use std::sync::Arc;
use std::time::Duration;

use orderflow_core::clock::SystemClock;
use orderflow_core::ports::Clock;
use orderflow_worker::wiring::Timings;

use crate::backend;
use crate::cli::SweepArgs;

pub async fn run(args: SweepArgs) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let opened = backend::open(
        &args.store,
        clock.clone(),
        Duration::ZERO,
        Duration::ZERO,
        backend::notifications_from_env(),
    )
    .await?;
    // A sweep touches no gateway and no payment timeout: the defaults serve.
    let service = crate::serve::service(&opened, clock, Timings::default());
    let swept = service.sweep_once().await?;
    let requeued = service.requeue_paid_waiting().await?;
    if requeued > 0 {
        tracing::warn!(
            orders = requeued,
            "paid orders waiting too long were sent to the queue again"
        );
    }
    println!("{swept}");
    Ok(())
}
