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
        // The two halves run each on its own: a failing sweep does not hold the re-sends
        // back, nor the other way round.
        match service.sweep_once(None).await {
            Ok(s) if s.timed_out == 0 && s.failed == 0 => {}
            Ok(s) => tracing::info!(
                timed_out = s.timed_out,
                failed = s.failed,
                took_ms = started.elapsed().as_millis() as u64,
                "sweep"
            ),
            Err(e) => tracing::error!(error = %e, "sweep failed; next tick retries"),
        }
        match service.resend_awaited(None).await {
            Ok(r) if r.orders == 0 && r.failed == 0 => {}
            Ok(r) => tracing::warn!(
                orders = r.orders,
                failed = r.failed,
                "orders waiting too long for a message had it sent again"
            ),
            Err(e) => tracing::error!(error = %e, "re-sending waiting orders failed"),
        }
    }
}

/// Shortest time between two sweeps of the deadline timer: when deadlines pass every
/// millisecond, one sweep takes all that passed meanwhile rather than one sweep each.
const MIN_TIMER_GAP: Duration = Duration::from_millis(200);
/// After a failed sweep, wait this long before the timer tries again.
const TIMER_BACKOFF: Duration = Duration::from_secs(1);

/// Stock back at the deadline: sleep until the earliest unpaid order's `expiresAt` has
/// passed, sweep, and look again; the cron sweeper stays as the safety net. An order
/// placed while this sleeps expires after the horizon it computed (now + payment timeout),
/// so nothing is missed by not waking on placements. Stock comes back within
/// [`MIN_TIMER_GAP`] (plus the sweep's own time) after a deadline.
pub async fn run_deadline_timer(service: Arc<OrderService>, mut shutdown: watch::Receiver<bool>) {
    let millis = |from: Timestamp, to: Timestamp| {
        Duration::from_millis((to.as_millis() - from.as_millis()).max(0) as u64)
    };
    while !*shutdown.borrow() {
        let now = service.clock().now();
        let horizon = now.plus(service.payment_timeout());
        let wait = match service.next_deadline(horizon).await {
            // Strictly after the deadline: `expiresAt < now` is what times an order out.
            Ok(Some(deadline)) => millis(now, deadline.plus(Duration::from_millis(1))),
            Ok(None) => millis(now, horizon),
            Err(e) => {
                tracing::warn!(error = %e, "deadline timer: reading the next deadline failed");
                TIMER_BACKOFF
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait.max(MIN_TIMER_GAP)) => {}
            _ = shutdown.changed() => return,
        }
        match service.sweep_once(None).await {
            Ok(s) if s.timed_out == 0 => {}
            Ok(s) => tracing::info!(
                timed_out = s.timed_out,
                failed = s.failed,
                "deadline passed: orders timed out"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "deadline timer: sweep failed; trying again");
                tokio::select! {
                    () = tokio::time::sleep(TIMER_BACKOFF) => {}
                    _ = shutdown.changed() => return,
                }
            }
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
