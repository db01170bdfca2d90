//! The sweeper's schedule: a cron expression with a seconds field (`0 */5 * * * *`),
//! parsed by the `cron` crate, and the loop that sweeps at each tick.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use orderflow_core::domain::Timestamp;
use orderflow_core::service::OrderService;
use tokio::sync::watch;

/// A parsed `--sweep-schedule`.
#[derive(Debug, Clone)]
pub struct SweepSchedule(cron::Schedule);

impl FromStr for SweepSchedule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        cron::Schedule::from_str(s)
            .map(Self)
            .map_err(|e| format!("not a cron schedule with seconds ({e}); example: 0 */5 * * * *"))
    }
}

impl SweepSchedule {
    /// The first tick strictly after `now`; `None` if the schedule has no more.
    pub fn next_after(&self, now: Timestamp) -> Option<Timestamp> {
        let now = DateTime::<Utc>::from_timestamp_millis(now.as_millis())?;
        self.0
            .after(&now)
            .next()
            .map(|t| Timestamp::from_millis(t.timestamp_millis()))
    }
}

/// Sweep at every tick of `schedule` until `shutdown` turns true. A sweep in progress is
/// finished first. Ticks are computed from the service's clock.
pub async fn run_sweeper(
    service: Arc<OrderService>,
    schedule: SweepSchedule,
    mut shutdown: watch::Receiver<bool>,
) {
    while !*shutdown.borrow() {
        let now = service.clock().now();
        let Some(next) = schedule.next_after(now) else {
            tracing::warn!("the sweep schedule has no further ticks; sweeper stops");
            return;
        };
        let wait = Duration::from_millis((next.as_millis() - now.as_millis()).max(0) as u64);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        let started = std::time::Instant::now();
        match service.sweep_once().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                timed_out = n,
                took_ms = started.elapsed().as_millis() as u64,
                "sweep"
            ),
            Err(e) => tracing::error!(error = %e, "sweep failed; next tick retries"),
        }
        match service.requeue_paid_waiting().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                orders = n,
                "paid orders waiting too long were sent to the queue again"
            ),
            Err(e) => tracing::error!(error = %e, "re-sending waiting paid orders failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::from_millis(DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis())
    }

    #[test]
    fn the_default_schedule_ticks_every_five_minutes_on_the_minute() {
        let s: SweepSchedule = "0 */5 * * * *".parse().unwrap();
        assert_eq!(
            s.next_after(at("2026-11-25T08:01:30.250Z")),
            Some(at("2026-11-25T08:05:00Z"))
        );
        assert_eq!(
            s.next_after(at("2026-11-25T08:05:00Z")),
            Some(at("2026-11-25T08:10:00Z"))
        );
    }

    #[test]
    fn a_seconds_field_is_supported() {
        let s: SweepSchedule = "*/2 * * * * *".parse().unwrap();
        assert_eq!(
            s.next_after(at("2026-11-25T08:00:01.500Z")),
            Some(at("2026-11-25T08:00:02Z"))
        );
    }

    #[test]
    fn bad_schedules_are_refused() {
        for bad in ["", "every 5 minutes", "* * *", "61 * * * * *"] {
            assert!(bad.parse::<SweepSchedule>().is_err(), "{bad}");
        }
    }
}
