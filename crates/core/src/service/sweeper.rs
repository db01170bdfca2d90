//! The sweeper's unit of work: one sweep.

use crate::domain::lifecycle;
use crate::error::Error;

use super::{Changed, OrderService};

impl OrderService {
    /// Time out every unpaid pending order past its deadline and release its stock, in
    /// batches of `sweep_batch` found through the store's index. Returns how many it timed
    /// out. Orders paid (or failed) meanwhile lose nothing: each change is conditional.
    ///
    /// # Errors
    /// `Internal`.
    pub async fn sweep_once(&self) -> Result<usize, Error> {
        let batch = self.settings.sweep_batch.max(1);
        let mut swept = 0;
        loop {
            let expired = self.store.expired_unpaid(self.clock.now(), batch).await?;
            let found = expired.len();
            for order in expired {
                let changed = self
                    .change(order.id, Some(order), |o, now| {
                        Ok(lifecycle::on_expiry(o, now).map(|t| (t, ())))
                    })
                    .await?;
                if matches!(changed, Changed::Applied(..)) {
                    swept += 1;
                }
            }
            // Each order found was either swept or no longer matches the query, so the
            // next batch makes progress; a short batch was the last.
            if found < batch {
                return Ok(swept);
            }
        }
    }
}
