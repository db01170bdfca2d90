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
    // Each half on its own: a failing sweep does not hold the re-sends back.
    let swept = service.sweep_once(None).await;
    let resent = service.resend_awaited(None).await;
    match &resent {
        Ok(r) if r.orders > 0 || r.failed > 0 => tracing::warn!(
            orders = r.orders,
            failed = r.failed,
            "orders waiting too long for a message had it sent again"
        ),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "re-sending waiting orders failed"),
    }
    let swept = swept?;
    if swept.failed > 0 {
        tracing::warn!(
            failed = swept.failed,
            "some orders could not be timed out; the next sweep tries again"
        );
    }
    println!("{}", swept.timed_out);
    resent?;
    Ok(())
}
