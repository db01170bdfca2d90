//! Test support for adapter crates (feature `testing`).
//!
//! [`store_contract`] holds the store contract suite: each case is a `pub async fn` taking
//! a fresh, empty store. [`store_contract_suite!`](crate::store_contract_suite) expands into
//! one `#[tokio::test]` per case, so a backend runs the whole suite with one line and a
//! failure names both the case and the backend.

pub mod store_contract;

/// Run every store contract case against a backend.
///
/// `$make` is an async function returning `(Arc<dyn OrderStore>, guard)`: a fresh, empty
/// store and whatever must live as long as it (a temp dir, an emulator table prefix).
///
/// ```ignore
/// orderflow_core::store_contract_suite!(fresh_sqlite_store);
/// ```
#[macro_export]
macro_rules! store_contract_suite {
    ($make:path) => {
        $crate::store_contract_suite!(@cases $make;
            placing_locks_stock_and_writes_the_order,
            out_of_stock_leaves_nothing_written,
            an_unknown_product_is_not_found_and_nothing_is_written,
            an_idempotent_retry_returns_the_first_order_and_locks_nothing_more,
            an_idempotency_key_with_another_request_is_a_mismatch,
            a_failed_placement_does_not_consume_its_idempotency_key,
            concurrent_orders_never_oversell,
            concurrent_retries_with_one_key_make_one_order,
            listing_is_newest_first_and_keeps_acceptance_order_within_a_millisecond,
            cursors_page_through_every_order_exactly_once,
            listing_filters_by_user_and_status,
            a_foreign_cursor_is_refused,
            a_transition_applies_only_from_its_expected_state,
            release_and_sell_move_the_counters,
            payment_fields_and_timestamps_round_trip,
            setting_stock_creates_the_product_and_keeps_locked_units,
            products_are_listed_by_id,
            a_missing_order_or_product_reads_as_none,
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, _guard) = $make().await;
                $crate::testing::store_contract::$case(store).await;
            }
        )*
    };
}
