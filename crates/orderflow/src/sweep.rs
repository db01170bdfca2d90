//! `orderflow sweep`: one sweep now, its count on stdout.

use std::sync::Arc;
use std::time::Duration;

use orderflow_core::clock::SystemClock;
use orderflow_core::ports::Clock;
use orderflow_core::service::{Gateways, OrderService, Settings};
use orderflow_worker::simulated::{MockRefundGateway, SimulatedWork};

use crate::backend;
use crate::cli::SweepArgs;

pub async fn run(args: SweepArgs) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let opened = backend::open(&args.store, clock.clone(), Duration::ZERO, Duration::ZERO)?;
    // A sweep touches no gateway; these only complete the service.
    let gateways = Gateways {
        processor: Arc::new(SimulatedWork {
            delay: Duration::ZERO,
        }),
        refunds: Arc::new(MockRefundGateway {
            delay: Duration::ZERO,
        }),
    };
    let service = OrderService::new(
        opened.store,
        opened.queues,
        gateways,
        clock,
        Settings::default(),
    );
    let swept = service.sweep_once().await?;
    println!("{swept}");
    Ok(())
}
