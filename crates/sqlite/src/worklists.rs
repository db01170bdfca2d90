//! The work lists of the domain ([`OrderState::awaits_payment`] and friends) as SQLite
//! partial indexes. The SQL condition of each is generated from the domain's predicate by
//! asking it about every state, so the rule is written once, in the domain; the same text
//! is the index's `WHERE` and the query's, which is what lets SQLite use the index (and
//! `INDEXED BY` makes it fail loudly if the two ever differ).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use orderflow_core::domain::{OrderState, RefundStatus};

/// One work list: a partial index over the orders whose state `holds`, by `column`.
pub(crate) struct WorkList {
    pub index: &'static str,
    pub column: &'static str,
    pub holds: fn(OrderState) -> bool,
}

/// Unpaid pending orders, by deadline: the sweeper's list.
pub(crate) const AWAITING_PAYMENT: WorkList = WorkList {
    index: "orders_awaiting_payment",
    column: "expires_at",
    holds: OrderState::awaits_payment,
};

/// Paid orders waiting for the consumer, by payment time: what the sweeper re-sent until
/// migration 9 (kept for the text of migrations 7 and 8, which never change).
pub(crate) const AWAITING_PROCESSING: WorkList = WorkList {
    index: "orders_awaiting_processing",
    column: "payment_time",
    holds: OrderState::awaits_processing,
};

/// Orders waiting for a message (paid, processing, refund initiated), by when the sweeper
/// sends it again.
pub(crate) const AWAITING_MESSAGE: WorkList = WorkList {
    index: "orders_awaiting_message",
    column: "resend_at",
    holds: OrderState::awaits_message,
};

impl WorkList {
    /// The SQL condition true exactly for the rows whose state `holds`.
    pub(crate) fn condition(&self) -> String {
        condition(self.holds)
    }

    /// The query over this list: `columns` of the orders on it whose column is below `?1`,
    /// in the column's order, at most `?2`, through its index.
    pub(crate) fn select(&self, columns: &str) -> String {
        format!(
            "SELECT {columns} FROM orders INDEXED BY {index}
             WHERE ({condition}) AND {column} < ?1 ORDER BY {column} LIMIT ?2",
            index = self.index,
            condition = self.condition(),
            column = self.column,
        )
    }

    /// `CREATE INDEX` for this list.
    pub(crate) fn create_index(&self) -> String {
        format!(
            "CREATE INDEX {} ON orders ({}) WHERE {};",
            self.index,
            self.column,
            self.condition()
        )
    }
}

/// The disjunction of the states that satisfy `holds`, one term per (status, payment) pair,
/// narrowed by refund status only where the predicate depends on it.
fn condition(holds: fn(OrderState) -> bool) -> String {
    let mut pairs: BTreeMap<(u8, &'static str), Vec<RefundStatus>> = BTreeMap::new();
    for s in OrderState::all().filter(|s| holds(*s)) {
        pairs
            .entry((s.status.code(), s.payment.name()))
            .or_default()
            .push(s.refund);
    }
    if pairs.is_empty() {
        return "0".into();
    }
    let terms: Vec<String> = pairs
        .into_iter()
        .map(|((status, payment), refunds)| {
            let pair = format!("status = {status} AND payment_status = '{payment}'");
            if refunds.len() == RefundStatus::ALL.len() {
                format!("({pair})")
            } else {
                let names: Vec<String> =
                    refunds.iter().map(|r| format!("'{}'", r.name())).collect();
                format!("({pair} AND refund_status IN ({}))", names.join(", "))
            }
        })
        .collect();
    terms.join(" OR ")
}

/// Migration 7's text: the work lists' indexes as generated today, replacing the ones that
/// spelled the rules out by hand.
pub(crate) static MIGRATION_7: LazyLock<String> = LazyLock::new(|| {
    format!(
        "DROP INDEX orders_unpaid_by_expiry;\nDROP INDEX orders_paid_waiting;\n{}\n{}\n",
        AWAITING_PAYMENT.create_index(),
        AWAITING_PROCESSING.create_index()
    )
});

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn the_conditions_are_the_domain_predicates() {
        assert_eq!(
            AWAITING_PAYMENT.condition(),
            "(status = 1 AND payment_status = 'pending')"
        );
        assert_eq!(
            AWAITING_PROCESSING.condition(),
            "(status = 1 AND payment_status = 'success')"
        );
        // Evaluated by SQLite itself against every state, each agrees with the domain.
        let conn = Connection::open_in_memory().unwrap();
        for list in [AWAITING_PAYMENT, AWAITING_PROCESSING, AWAITING_MESSAGE] {
            let sql = format!(
                "SELECT {} FROM (SELECT ?1 AS status, ?2 AS payment_status, ?3 AS refund_status)",
                list.condition()
            );
            for s in OrderState::all() {
                let got: bool = conn
                    .query_row(
                        &sql,
                        rusqlite::params![s.status.code(), s.payment.name(), s.refund.name()],
                        |r| r.get(0),
                    )
                    .unwrap();
                assert_eq!(got, (list.holds)(s), "{} {s:?}", list.index);
            }
        }
    }

    #[test]
    fn a_predicate_that_depends_on_the_refund_narrows_by_it() {
        let c = condition(OrderState::refund_in_progress);
        assert!(c.contains("refund_status IN ('initiated')"), "{c}");
    }
}
