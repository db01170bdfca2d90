//! The sweeper's unit of work: one sweep.

use crate::domain::lifecycle;
use crate::error::Error;
use crate::ports::StoreError;

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
            let now = self.clock.now();
            let expired = self.store.expired_unpaid(now, batch).await?;
            let found = expired.len();
            // The whole batch in one go, so that a store with group commit writes it in
            // one transaction; each transition still carries its own condition.
            let timeouts: Vec<_> = expired
                .iter()
                .filter_map(|o| lifecycle::on_expiry(o, now))
                .collect();
            let results = self.store.apply_each(&timeouts).await;
            for (t, result) in timeouts.iter().zip(results) {
                match result {
                    Ok(()) => swept += 1,
                    // Changed since it was listed (paid, failed): decide again on a fresh read.
                    Err(StoreError::Conflict) => {
                        let changed = self
                            .change(t.order_id, None, |o, now| {
                                Ok(lifecycle::on_expiry(o, now).map(|t| (t, ())))
                            })
                            .await?;
                        if matches!(changed, Changed::Applied(..)) {
                            swept += 1;
                        }
                    }
                    Err(e) => return Err(e.into()),
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
