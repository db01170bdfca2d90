//! Test support for adapter crates (feature `testing`).
//!
//! Four suites, each written once and run against every backend: [`store_contract`] (the
//! store port, with [`cart_contract`] for carts and limits), [`queue_contract`] (the queue port), [`lifecycle_contract`] (section 1 of
//! the contract through the service, on a store and its queues), [`outbox_contract`] (the
//! notification outbox, section 6). Each case is a
//! `pub async fn` taking a fresh fixture; the macros below expand a suite into one
//! `#[tokio::test]` per case, so a backend runs it with one line and a failure names both
//! the case and the backend.

pub mod cart_contract;
pub mod lifecycle_contract;
pub mod outbox_contract;
pub mod queue_contract;
pub mod store_contract;

/// Expand `$case`s of `$module` into tests, each with a fresh fixture from `$make`, an
/// async function returning `(fixture, guard)`: the guard lives as long as the test (a
/// temp dir, an emulator's tables).
#[macro_export]
macro_rules! contract_tests {
    ($module:ident, $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (fixture, _guard) = $make().await;
                $crate::testing::$module::$case(fixture).await;
            }
        )*
    };
}

/// Run every store contract case; `$make` returns `(Arc<dyn OrderStore>, guard)`.
#[macro_export]
macro_rules! store_contract_suite {
    ($make:path) => {
        $crate::contract_tests!(store_contract, $make;
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
            expired_unpaid_orders_are_found_by_deadline,
            orders_awaiting_a_message_are_found_when_due_and_rescheduled,
        );
        $crate::contract_tests!(cart_contract, $make;
            a_cart_locks_every_line_or_nothing,
            a_refusal_names_every_offending_product,
            release_and_sale_apply_to_every_line,
            a_cart_replays_with_its_idempotency_key,
            a_limit_refuses_past_it_and_other_customers_are_unaffected,
            a_timed_out_or_failed_order_gives_its_units_back,
            limits_are_set_kept_and_removed,
            units_placed_without_a_limit_are_not_given_back_to_one,
            concurrent_overlapping_carts_never_oversell,
            concurrent_orders_of_one_customer_stay_within_the_limit,
            spread_stock_is_placed_released_and_sold_as_one,
            spread_stock_accepts_exactly_its_units_under_concurrency,
            spreading_races_placements_without_losing_a_unit,
            limits_hold_on_spread_stock,
        );
    };
}

/// Run every queue contract case; `$make` returns `(QueueFixture, guard)`.
#[macro_export]
macro_rules! queue_contract_suite {
    ($make:path) => {
        $crate::contract_tests!(queue_contract, $make;
            a_sent_message_is_received_and_then_hidden,
            an_unacknowledged_message_comes_back_after_the_visibility_timeout,
            a_deleted_message_never_comes_back,
            a_released_message_comes_back_after_its_delay,
            a_delayed_message_is_invisible_until_its_delay,
            a_message_received_too_often_is_dead_lettered,
            receive_takes_at_most_max_oldest_first,
            messages_sent_together_are_each_delivered,
            a_waiting_receive_wakes_on_send,
            a_receive_with_nothing_to_take_returns_empty_after_its_wait,
        );
    };
}

/// Run every lifecycle case; `$make` returns `(LifecycleFixture, guard)`.
#[macro_export]
macro_rules! lifecycle_contract_suite {
    ($make:path) => {
        $crate::contract_tests!(lifecycle_contract, $make;
            a_payment_in_time_is_queued_and_the_consumer_completes_it,
            an_unpaid_order_times_out_at_the_first_sweep_after_its_deadline,
            a_late_payment_after_the_sweep_is_refunded,
            a_late_payment_before_the_sweep_times_out_and_is_refunded,
            a_failed_payment_fails_the_order_and_a_later_success_is_refunded,
            a_failure_after_the_deadline_still_fails_and_releases,
            repeated_webhooks_have_no_second_effect,
            a_redelivered_message_completes_the_order_once,
            a_crash_mid_processing_is_finished_by_the_redelivery,
            refunds_need_a_successful_payment_and_start_once,
            webhooks_racing_the_sweeper_at_the_deadline_resolve_once_each,
            a_sweep_works_through_more_orders_than_one_batch,
            messages_for_unknown_orders_are_skipped_and_foreign_ones_refused,
            a_paid_order_whose_message_was_lost_is_sent_again_by_the_sweeper,
            re_sends_back_off_so_a_backlog_is_not_flooded,
            a_refund_whose_message_was_lost_completes_after_the_next_sweep,
            asking_again_for_an_initiated_refund_sends_its_message_again,
            an_order_whose_consumer_vanished_is_resumed_after_its_lease,
            a_failed_re_send_is_counted_and_tried_again_at_the_next_sweep,
            a_sweep_stops_at_its_deadline_with_what_it_did_committed,
        );
    };
}

/// Run every outbox contract case; `$make` returns `(OutboxFixture, guard)`.
#[macro_export]
macro_rules! outbox_contract_suite {
    ($make:path) => {
        $crate::contract_tests!(outbox_contract, $make;
            events_are_handed_out_one_per_order_in_seq_order,
            a_failed_head_waits_for_its_retry_and_holds_back_later_events,
            a_parked_head_is_listed_and_sent_again_only_when_unparked,
            delivering_twice_skips_nothing,
        );
    };
}

use std::time::Duration;

use crate::domain::lifecycle::{self, PaymentDecision, PaymentOutcome};
use crate::domain::{
    LimitChange, Line, Lines, Order, OrderId, OrderState, ProductId, Quantity, StockCount,
    Timestamp, UserId,
};
use crate::ports::{NewOrder, OrderStore};

/// A freshly placed order of `quantity` units of `product` for `user` at `at`, with the
/// default 30-minute deadline, as tests hand it to a store's `place_order`.
pub fn placed_order(user: &str, product: &str, quantity: i64, at: Timestamp) -> Order {
    placed_cart(user, &[(product, quantity)], at)
}

/// The lines of a cart: `(product, quantity)` each.
pub fn lines(lines: &[(&str, i64)]) -> Lines {
    Lines::new(
        lines
            .iter()
            .map(|(p, q)| Line::new(ProductId::parse(*p).unwrap(), Quantity::new(*q).unwrap()))
            .collect(),
    )
    .unwrap()
}

/// `order` without where its units were drawn from ([`Line::drawn`]): what a store
/// spreading stock over shards adds to the order it was given, and all it may add.
pub fn without_draws(order: Order) -> Order {
    let lines = order
        .lines
        .iter()
        .map(|l| Line {
            drawn: Vec::new(),
            ..l.clone()
        })
        .collect();
    Order {
        lines: Lines::new(lines).expect("the same lines"),
        ..order
    }
}

/// A freshly placed order of a cart for `user` at `at`, as [`placed_order`].
pub fn placed_cart(user: &str, cart: &[(&str, i64)], at: Timestamp) -> Order {
    Order {
        id: OrderId::new_random(),
        user_id: UserId::parse(user).unwrap(),
        lines: lines(cart),
        state: OrderState::PLACED,
        payment_time: None,
        payment_id: None,
        created_at: at,
        updated_at: at,
        expires_at: at.plus(Duration::from_secs(1800)),
        events: 1,
        resend: None,
    }
}

/// Place one unit of `product` for user `u` at `at` on `store`, stocking the product with
/// 100 units first if it does not exist yet. Panics if the store refuses.
pub async fn place_one(store: &dyn OrderStore, product: &str, at: Timestamp) -> Order {
    let p = ProductId::parse(product).unwrap();
    if store.get_product(&p).await.unwrap().is_none() {
        store
            .put_product(&p, StockCount::new(100).unwrap(), LimitChange::Keep)
            .await
            .unwrap();
    }
    let order = placed_order("u", product, 1, at);
    store
        .place_order(NewOrder {
            order: order.clone(),
            idempotency: None,
        })
        .await
        .unwrap();
    order
}

/// The units of `product` over the lines of the `orders` that `pick` selects: the `Q(S)` of
/// the contract's invariants.
pub fn units(orders: &[Order], product: &str, pick: impl Fn(&Order) -> bool) -> i64 {
    orders
        .iter()
        .filter(|o| pick(o))
        .flat_map(|o| o.lines.iter())
        .filter(|l| l.product_id.as_str() == product)
        .map(|l| l.quantity.get())
        .sum()
}

/// The transition of a successful payment of `order` at `at` (which must be in time).
pub fn payment(order: &Order, at: Timestamp) -> lifecycle::Transition {
    match lifecycle::on_payment(order, PaymentOutcome::Success, None, at) {
        PaymentDecision::Apply { transition, .. } => transition,
        PaymentDecision::Duplicate => panic!("a placed order takes a payment"),
    }
}

/// A queue whose sends fail (and whose other calls reach the queue it wraps): a lost send,
/// a fault the real queues cannot be made to produce on demand, injected through the port.
pub struct FailingSends(pub std::sync::Arc<dyn crate::ports::Queue>);

#[async_trait::async_trait]
impl crate::ports::Queue for FailingSends {
    async fn send(&self, _body: &str, _delay: Duration) -> Result<(), crate::ports::StoreError> {
        Err(crate::ports::StoreError::unavailable(
            std::io::Error::other("injected: the send was lost"),
        ))
    }
    async fn send_all(&self, _bodies: &[String]) -> Result<(), crate::ports::StoreError> {
        self.send("", Duration::ZERO).await
    }
    async fn receive(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<crate::ports::Delivery>, crate::ports::StoreError> {
        self.0.receive(max, wait).await
    }
    async fn delete(&self, receipt: &str) -> Result<(), crate::ports::StoreError> {
        self.0.delete(receipt).await
    }
    async fn release(
        &self,
        receipt: &str,
        delay: Duration,
    ) -> Result<(), crate::ports::StoreError> {
        self.0.release(receipt, delay).await
    }
    async fn ping(&self) -> Result<(), crate::ports::StoreError> {
        self.0.ping().await
    }
}
