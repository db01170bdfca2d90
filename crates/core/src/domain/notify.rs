//! Notifications to the shop's systems (contract section 6): when a failed delivery is
//! tried again, and when it is given up ("parked").
//!
//! Exponential backoff from 1 s, doubling, capped at an hour, each delay scaled by a jitter
//! in [0.5, 1.0) so that many deliveries failing together do not retry in lockstep. The
//! first retry comes within 1 s; retries go on until 24 hours after the first failure, and
//! a failure after that parks the delivery for an operator to send again.

use std::time::Duration;

use super::{OrderId, Timestamp};

/// How long a delivery is retried after its first failure before it is parked.
pub const RETRY_FOR: Duration = Duration::from_secs(24 * 3600);
/// The first retry's delay before jitter; each later one doubles it.
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
/// The longest delay between two attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(3600);

/// When to try again after the `attempts`-th failed attempt (1 for the first failure), or
/// `None` to park it. `jitter` is a random number in [0, 1).
pub fn retry_at(
    attempts: u32,
    first_failed_at: Timestamp,
    now: Timestamp,
    jitter: f64,
) -> Option<Timestamp> {
    if now >= first_failed_at.plus(RETRY_FOR) {
        return None;
    }
    let doublings = attempts.saturating_sub(1).min(20);
    let base = FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY);
    let scale = 0.5 + jitter.clamp(0.0, 1.0) * 0.5;
    Some(now.plus(base.mul_f64(scale)))
}

/// A notification's id, as the receiver sees it and an operator names it:
/// `<orderId>:<seq>`.
pub fn notification_id(order_id: OrderId, seq: u32) -> String {
    format!("{order_id}:{seq}")
}

/// The parts of a notification id.
pub fn parse_notification_id(s: &str) -> Option<(OrderId, u32)> {
    let (order, seq) = s.rsplit_once(':')?;
    let seq: u32 = seq.parse().ok().filter(|&n| n >= 1)?;
    Some((OrderId::parse(order).ok()?, seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::from_millis(1_790_000_000_000);

    #[test]
    fn the_first_retry_comes_within_a_second_and_delays_double_up_to_an_hour() {
        let delay = |attempts, jitter| {
            retry_at(attempts, T0, T0, jitter).unwrap().as_millis() - T0.as_millis()
        };
        assert_eq!(delay(1, 0.0), 500);
        assert!(delay(1, 0.999) < 1000);
        assert_eq!(delay(2, 0.0), 1000);
        assert_eq!(delay(3, 0.0), 2000);
        assert_eq!(
            delay(13, 0.0),
            1_800_000,
            "capped: half of an hour at the least jitter"
        );
        assert!(delay(40, 0.999) < 3_600_000);
    }

    #[test]
    fn deliveries_are_retried_for_24_hours_then_parked() {
        let almost = T0.plus(RETRY_FOR - Duration::from_millis(1));
        assert!(retry_at(30, T0, almost, 0.3).is_some());
        assert_eq!(retry_at(31, T0, T0.plus(RETRY_FOR), 0.3), None);
    }

    #[test]
    fn ids_round_trip() {
        let id = OrderId::new_random();
        assert_eq!(
            parse_notification_id(&notification_id(id, 3)),
            Some((id, 3))
        );
        assert_eq!(parse_notification_id("x:1"), None);
        assert_eq!(parse_notification_id(&format!("{id}:0")), None);
        assert_eq!(parse_notification_id(&id.to_string()), None);
    }
}
