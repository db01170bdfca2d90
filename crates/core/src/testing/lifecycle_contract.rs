//! The lifecycle suite: the contract's section 1 end to end through the service, driven by
//! the manual clock with the default 30-minute payment timeout, on a real backend.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::ManualClock;
use crate::domain::lifecycle::{PaymentOutcome, WebhookOutcome};
use crate::domain::{
    EventType, LimitChange, Order, OrderId, OrderStatus, PaymentStatus, ProductId, RefundStatus,
    StockCount, Timestamp, UserId,
};
use crate::error::Error;
use crate::ports::{
    Clock, Delivery, GatewayError, OrderProcessor, OrderQuery, OrderStore, RefundGateway,
};
use crate::service::consumer::Consumed;
use crate::service::refunds::RefundWork;
use crate::service::{Gateways, OrderService, PlaceOrder, Queues, Settings};

/// A fresh backend: an empty store and its queues, all on `clock`.
pub struct LifecycleFixture {
    pub store: Arc<dyn OrderStore>,
    pub queues: Queues,
    pub clock: Arc<ManualClock>,
}

/// The processing work, instantly; fails the next `fail_next` calls.
#[derive(Default)]
pub struct InstantWork {
    pub calls: AtomicUsize,
    pub fail_next: AtomicUsize,
}

#[async_trait]
impl OrderProcessor for InstantWork {
    async fn process(&self, _order: &Order) -> Result<(), GatewayError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let failing = self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            Err(GatewayError("crashed mid-processing".into()))
        } else {
            Ok(())
        }
    }
}

/// The refund gateway, instantly; counts refunds per order.
#[derive(Default)]
pub struct InstantRefunds {
    pub refunded: std::sync::Mutex<HashMap<OrderId, usize>>,
}

#[async_trait]
impl RefundGateway for InstantRefunds {
    async fn refund(&self, order: &Order) -> Result<(), GatewayError> {
        *self.refunded.lock().unwrap().entry(order.id).or_default() += 1;
        Ok(())
    }
}

const THIRTY_MIN: Duration = Duration::from_secs(30 * 60);
const MS: Duration = Duration::from_millis(1);
const NO_WAIT: Duration = Duration::ZERO;

struct World {
    svc: OrderService,
    f: LifecycleFixture,
    work: Arc<InstantWork>,
    refunds: Arc<InstantRefunds>,
}

fn world(f: LifecycleFixture) -> World {
    world_with(f, Settings::default())
}

fn world_with(f: LifecycleFixture, settings: Settings) -> World {
    let work = Arc::new(InstantWork::default());
    let refunds = Arc::new(InstantRefunds::default());
    let svc = OrderService::new(
        f.store.clone(),
        f.queues.clone(),
        Gateways {
            processor: work.clone(),
            refunds: refunds.clone(),
        },
        f.clock.clone(),
        settings,
    );
    World {
        svc,
        f,
        work,
        refunds,
    }
}

fn pid(s: &str) -> ProductId {
    ProductId::parse(s).unwrap()
}

impl World {
    async fn stock(&self, product: &str, n: i64) {
        self.svc
            .set_stock(
                &pid(product),
                StockCount::new(n).unwrap(),
                LimitChange::Keep,
                None,
            )
            .await
            .unwrap();
    }

    async fn place(&self, product: &str, q: i64) -> Order {
        self.svc
            .place_order(
                PlaceOrder {
                    user_id: UserId::parse("u1").unwrap(),
                    lines: crate::testing::lines(&[(product, q)]),
                },
                None,
            )
            .await
            .unwrap()
    }

    async fn order(&self, id: OrderId) -> Order {
        self.svc.get_order(id).await.unwrap()
    }

    async fn counters(&self, product: &str) -> (i64, i64) {
        let p = self.svc.get_product(&pid(product)).await.unwrap();
        (p.stock_count, p.locked_count)
    }

    async fn pay(&self, id: OrderId, outcome: PaymentOutcome) -> WebhookOutcome {
        self.svc.handle_payment(id, outcome, None).await.unwrap().1
    }

    /// Every message now on the orders queue, received (not deleted).
    async fn take_orders(&self) -> Vec<Delivery> {
        take(&*self.f.queues.orders).await
    }

    async fn take_refunds(&self) -> Vec<Delivery> {
        take(&*self.f.queues.refunds).await
    }

    /// Run the consumer over everything on the orders queue, deleting what it handled.
    async fn consume_all(&self) -> Vec<Consumed> {
        let mut out = Vec::new();
        for d in self.take_orders().await {
            out.push(self.svc.consume(&d.body).await.unwrap());
            self.f.queues.orders.delete(&d.receipt).await.unwrap();
        }
        out
    }

    async fn refund_all(&self) -> Vec<RefundWork> {
        let mut out = Vec::new();
        for d in self.take_refunds().await {
            out.push(self.svc.complete_refund(&d.body).await.unwrap());
            self.f.queues.refunds.delete(&d.receipt).await.unwrap();
        }
        out
    }

    /// The types of the order's history events, oldest first.
    async fn history(&self, id: OrderId) -> Vec<&'static str> {
        let events = self.svc.order_events(id).await.unwrap();
        events.iter().map(|e| e.kind.name()).collect()
    }

    /// I7: the history starts with `placed`, has consecutive `seq`s in time order, and its
    /// last event's state is the order's state.
    async fn assert_history(&self, o: &Order) {
        let events = self.svc.order_events(o.id).await.unwrap();
        assert_eq!(events[0].kind, EventType::Placed, "I7 {}: {events:?}", o.id);
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.seq as usize, i + 1, "I7 {}: {events:?}", o.id);
            assert_eq!(e.order_id, o.id);
        }
        assert!(events.windows(2).all(|w| w[0].at <= w[1].at), "I7 {}", o.id);
        let last = events.last().unwrap();
        assert_eq!(last.state, o.state, "I7 {}: {events:?}", o.id);
        assert_eq!(last.payment_time, o.payment_time, "I7 {}", o.id);
        assert_eq!(o.events as usize, events.len(), "I7 {}", o.id);
    }

    /// I1-I4 and I7 over every order of the store.
    async fn assert_invariants(&self, stocked: &[(&str, i64)]) {
        let mut orders = Vec::new();
        let mut q = OrderQuery {
            limit: 500,
            ..OrderQuery::default()
        };
        loop {
            let page = self.f.store.list_orders(&q).await.unwrap();
            orders.extend(page.orders);
            match page.next_cursor {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        for (product, total) in stocked {
            let sum = |pred: &dyn Fn(OrderStatus) -> bool| -> i64 {
                crate::testing::units(&orders, product, |o| pred(o.state.status))
            };
            let (stock, locked) = self.counters(product).await;
            assert_eq!(locked, sum(&|s| s.holds_stock()), "I1 {product}");
            assert_eq!(
                stock + locked + sum(&|s| s == OrderStatus::Completed),
                *total,
                "I2 {product}"
            );
            assert!(stock >= 0 && locked >= 0, "I3 {product}");
        }
        for o in &orders {
            if o.state.payment == PaymentStatus::Success
                && matches!(o.state.status, OrderStatus::Timeout | OrderStatus::Failed)
            {
                assert_eq!(o.state.refund, RefundStatus::Completed, "I4 {}", o.id);
            }
            self.assert_history(o).await;
        }
    }
}

async fn take(q: &dyn crate::ports::Queue) -> Vec<Delivery> {
    let mut all = Vec::new();
    loop {
        let got = q.receive(10, NO_WAIT).await.unwrap();
        if got.is_empty() {
            return all;
        }
        all.extend(got);
    }
}

pub async fn a_payment_in_time_is_queued_and_the_consumer_completes_it(f: LifecycleFixture) {
    let w = world(f);
    w.stock("p", 10).await;
    let o = w.place("p", 2).await;
    assert_eq!(o.expires_at, o.created_at.plus(THIRTY_MIN));
    // At the deadline itself the payment is still in time.
    w.f.clock.advance(THIRTY_MIN);
    let (paid, outcome) = w
        .svc
        .handle_payment(o.id, PaymentOutcome::Success, Some("pay_1".into()))
        .await
        .unwrap();
    assert_eq!(outcome, WebhookOutcome::Queued);
    assert_eq!(paid.state.status, OrderStatus::Pending);
    assert_eq!(paid.state.payment, PaymentStatus::Success);
    assert_eq!(paid.payment_time, Some(w.f.clock.now()));
    assert_eq!(paid.payment_id.as_deref(), Some("pay_1"));
    assert_eq!(w.order(o.id).await, paid);
    // The sweeper leaves a paid order alone even past its deadline.
    w.f.clock.advance(THIRTY_MIN);
    assert_eq!(w.svc.sweep_once(None).await.unwrap().timed_out, 0);

    assert_eq!(w.consume_all().await, [Consumed::Completed]);
    let done = w.order(o.id).await;
    assert_eq!(done.state.status, OrderStatus::Completed);
    assert_eq!(done.state.refund, RefundStatus::None);
    assert_eq!(w.counters("p").await, (8, 0), "locked stock sold");
    assert!(w.take_orders().await.is_empty());
    assert_eq!(
        w.history(o.id).await,
        ["placed", "paid", "processing", "completed"]
    );
    let events = w.svc.order_events(o.id).await.unwrap();
    assert_eq!(events[1].payment_id.as_deref(), Some("pay_1"));
    assert_eq!(events[1].at, paid.payment_time.unwrap());
    w.assert_invariants(&[("p", 10)]).await;
}

pub async fn an_unpaid_order_times_out_at_the_first_sweep_after_its_deadline(f: LifecycleFixture) {
    let w = world(f);
    w.stock("p", 10).await;
    let o = w.place("p", 3).await;
    w.f.clock.advance(THIRTY_MIN);
    assert_eq!(
        w.svc.sweep_once(None).await.unwrap().timed_out,
        0,
        "the deadline is still in time"
    );
    assert_eq!(w.counters("p").await, (7, 3));
    w.f.clock.advance(MS);
    assert_eq!(w.svc.sweep_once(None).await.unwrap().timed_out, 1);
    let o = w.order(o.id).await;
    assert_eq!(o.state.status, OrderStatus::Timeout);
    assert_eq!(o.state.payment, PaymentStatus::Pending);
    assert_eq!(w.counters("p").await, (10, 0), "stock back");
    assert_eq!(w.svc.sweep_once(None).await.unwrap().timed_out, 0, "once");
    assert!(w.take_orders().await.is_empty());
    assert_eq!(w.history(o.id).await, ["placed", "timed_out"]);
    w.assert_invariants(&[("p", 10)]).await;
}

pub async fn a_late_payment_after_the_sweep_is_refunded(f: LifecycleFixture) {
    let w = world(f);
    w.stock("p", 10).await;
    let o = w.place("p", 1).await;
    w.f.clock.advance(THIRTY_MIN + MS);
    assert_eq!(w.svc.sweep_once(None).await.unwrap().timed_out, 1);
    assert_eq!(
        w.pay(o.id, PaymentOutcome::Success).await,
        WebhookOutcome::RefundInitiated
    );
    let late = w.order(o.id).await;
    assert_eq!(late.state.status, OrderStatus::Timeout);
    assert_eq!(late.state.payment, PaymentStatus::Success);
    assert_eq!(late.state.refund, RefundStatus::Initiated);
    assert!(late.payment_time.is_some());
    assert!(w.take_orders().await.is_empty(), "nothing to process");

    assert_eq!(w.refund_all().await, [RefundWork::Completed]);
    assert_eq!(w.order(o.id).await.state.refund, RefundStatus::Completed);
    assert_eq!(w.refunds.refunded.lock().unwrap()[&o.id], 1);
    assert_eq!(w.counters("p").await, (10, 0));
    assert_eq!(
        w.history(o.id).await,
        ["placed", "timed_out", "paid_late", "refund_completed"]
    );
    w.assert_invariants(&[("p", 10)]).await;
}

pub async fn a_late_payment_before_the_sweep_times_out_and_is_refunded(f: LifecycleFixture) {
    let w = world(f);
    w.stock("p", 10).await;
    let o = w.place("p", 4).await;
    w.f.clock.advance(THIRTY_MIN + MS);
    assert_eq!(
        w.pay(o.id, PaymentOutcome::Success).await,
        WebhookOutcome::RefundInitiated
    );
    let late = w.order(o.id).await;
    assert_eq!(late.state.status, OrderStatus::Timeout);
    assert_eq!(w.counters("p").await, (10, 0), "released at once");
    assert_eq!(
        w.svc.sweep_once(None).await.unwrap().timed_out,
        0,
        "nothing left to sweep"
    );
    assert_eq!(w.refund_all().await, [RefundWork::Completed]);
    // One transition, one event: paid_late, whose state shows status 4.
    assert_eq!(
        w.history(o.id).await,
        ["placed", "paid_late", "refund_completed"]
    );
    let events = w.svc.order_events(o.id).await.unwrap();
    assert_eq!(events[1].state.status, OrderStatus::Timeout);
    w.assert_invariants(&[("p", 10)]).await;
}

pub async fn a_failed_payment_fails_the_order_and_a_later_success_is_refunded(f: LifecycleFixture) {
    let w = world(f);
    w.stock("p", 10).await;
    let o = w.place("p", 2).await;
    assert_eq!(
        w.pay(o.id, PaymentOutcome::Failed).await,
        WebhookOutcome::Failed
    );
    let failed = w.order(o.id).await;
    assert_eq!(failed.state.status, OrderStatus::Failed);
    assert_eq!(failed.state.payment, PaymentStatus::Failed);
    assert_eq!(failed.payment_time, None);
    assert_eq!(w.counters("p").await, (10, 0));
    assert_eq!(
        w.pay(o.id, PaymentOutcome::Failed).await,
        WebhookOutcome::Duplicate
    );

    assert_eq!(
        w.pay(o.id, PaymentOutcome::Success).await,
        WebhookOutcome::RefundInitiated
    );
    assert_eq!(w.order(o.id).await.state.status, OrderStatus::Failed);
    assert_eq!(w.refund_all().await, [RefundWork::Completed]);
    // The repeated failure added nothing.
    assert_eq!(
        w.history(o.id).await,
        ["placed", "payment_failed", "paid_late", "refund_completed"]
    );
    w.assert_invariants(&[("p", 10)]).await;
}

pub async fn a_failure_after_the_deadline_still_fails_and_releases(f: LifecycleFixture) {
    let w = world(f);
    w.stock("p", 5).await;
    let o = w.place("p", 5).await;
    w.f.clock.advance(THIRTY_MIN * 2);
    assert_eq!(
        w.pay(o.id, PaymentOutcome::Failed).await,
        WebhookOutcome::Failed
    );
    assert_eq!(w.counters("p").await, (5, 0));
    assert_eq!(w.svc.sweep_once(None).await.unwrap().timed_out, 0);
    w.assert_invariants(&[("p", 5)]).await;
}

pub async fn repeated_webhooks_have_no_second_effect(f: LifecycleFixture) {
    let w = world(f);
    w.stock("p", 10).await;
    let o = w.place("p", 1).await;
    assert_eq!(
        w.pay(o.id, PaymentOutcome::Success).await,
        WebhookOutcome::Queued
    );
    let paid = w.order(o.id).await;
    w.f.clock.advance(Duration::from_secs(5));
    assert_eq!(
        w.pay(o.id, PaymentOutcome::Success).await,
        WebhookOutcome::Duplicate
    );
    // A failure after a success changes nothing.
    assert_eq!(
        w.pay(o.id, PaymentOutcome::Failed).await,
        WebhookOutcome::Duplicate
    );
    assert_eq!(w.order(o.id).await, paid, "unchanged, paymentTime included");
    assert_eq!(w.take_orders().await.len(), 1, "enqueued once");
    assert_eq!(
        w.history(o.id).await,
        ["placed", "paid"],
        "no event for a duplicate"
    );
    w.assert_invariants(&[("p", 10)]).await;
}

pub async fn a_redelivered_message_completes_the_order_once(f: LifecycleFixture) {
    let w = world(f);
    w.stock("p", 10).await;
    let o = w.place("p", 3).await;
    w.pay(o.id, PaymentOutcome::Success).await;
    let d = w.take_orders().await.remove(0);
    assert_eq!(w.svc.consume(&d.body).await.unwrap(), Consumed::Completed);
    // Delivered again (at least once): no second effect.
    assert_eq!(w.svc.consume(&d.body).await.unwrap(), Consumed::Skipped);
    assert_eq!(w.counters("p").await, (7, 0), "sold once");
    assert_eq!(w.work.calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        w.history(o.id).await,
        ["placed", "paid", "processing", "completed"]
    );
    w.assert_invariants(&[("p", 10)]).await;
}

pub async fn a_crash_mid_processing_is_finished_by_the_redelivery(f: LifecycleFixture) {
    let w = world(f);
    w.stock("p", 10).await;
    let o = w.place("p", 2).await;
    w.pay(o.id, PaymentOutcome::Success).await;
    w.work.fail_next.store(1, Ordering::SeqCst);
    let d = w.take_orders().await.remove(0);
    assert!(matches!(
        w.svc.consume(&d.body).await,
        Err(Error::Gateway(_))
    ));
    // The order was claimed (2) when the work died; the message was not deleted.
    assert_eq!(w.order(o.id).await.state.status, OrderStatus::Processing);
    w.assert_invariants(&[("p", 10)]).await;
    // Its visibility runs out and it is delivered again.
    w.f.queues
        .orders
        .release(&d.receipt, NO_WAIT)
        .await
        .unwrap();
    assert_eq!(w.consume_all().await, [Consumed::Completed]);
    assert_eq!(w.order(o.id).await.state.status, OrderStatus::Completed);
    assert_eq!(w.counters("p").await, (8, 0));
    // The resumed work is not a second `processing`.
    assert_eq!(
        w.history(o.id).await,
        ["placed", "paid", "processing", "completed"]
    );
    w.assert_invariants(&[("p", 10)]).await;
}

pub async fn refunds_need_a_successful_payment_and_start_once(f: LifecycleFixture) {
    let w = world(f);
    w.stock("p", 10).await;
    let unpaid = w.place("p", 1).await;
    assert!(matches!(
        w.svc.request_refund(unpaid.id).await,
        Err(Error::NotRefundable)
    ));
    assert!(matches!(
        w.svc.request_refund(OrderId::new_random()).await,
        Err(Error::OrderNotFound)
    ));

    let o = w.place("p", 1).await;
    w.pay(o.id, PaymentOutcome::Success).await;
    w.consume_all().await;
    assert_eq!(w.order(o.id).await.state.status, OrderStatus::Completed);
    assert!(
        w.take_refunds().await.is_empty(),
        "a completed order is not refunded unasked"
    );

    let (asked, started) = w.svc.request_refund(o.id).await.unwrap();
    assert!(started);
    assert_eq!(asked.state.refund, RefundStatus::Initiated);
    assert_eq!(asked.state.status, OrderStatus::Completed);
    let (again, started) = w.svc.request_refund(o.id).await.unwrap();
    assert!(!started);
    assert_eq!(again.state.refund, RefundStatus::Initiated);
    // Asked again while initiated: its message is sent again (the first may be lost).
    assert_eq!(
        w.refund_all().await,
        [RefundWork::Completed, RefundWork::Skipped]
    );
    assert_eq!(w.order(o.id).await.state.refund, RefundStatus::Completed);
    let (_, started) = w.svc.request_refund(o.id).await.unwrap();
    assert!(!started);
    assert_eq!(w.refunds.refunded.lock().unwrap()[&o.id], 1);
    assert_eq!(
        w.history(o.id).await,
        [
            "placed",
            "paid",
            "processing",
            "completed",
            "refund_requested",
            "refund_completed"
        ]
    );
    assert_eq!(w.history(unpaid.id).await, ["placed"]);
    w.assert_invariants(&[("p", 10)]).await;
}

pub async fn webhooks_racing_the_sweeper_at_the_deadline_resolve_once_each(f: LifecycleFixture) {
    let w = Arc::new(world(f));
    w.stock("p", 1000).await;
    // Half the orders reach their deadline exactly at `now` (still in time), half one
    // millisecond earlier (late).
    let mut late = Vec::new();
    for _ in 0..20 {
        late.push(w.place("p", 2).await.id);
    }
    w.f.clock.advance(MS);
    let mut on_time = Vec::new();
    for _ in 0..20 {
        on_time.push(w.place("p", 3).await.id);
    }
    w.f.clock.advance(THIRTY_MIN);

    let sweeper = {
        let w = w.clone();
        tokio::spawn(async move { w.svc.sweep_once(None).await.unwrap().timed_out })
    };
    let mut hooks = Vec::new();
    for id in late.iter().chain(&on_time).copied() {
        let w = w.clone();
        hooks.push(tokio::spawn(async move {
            (id, w.pay(id, PaymentOutcome::Success).await)
        }));
    }
    let mut outcomes = HashMap::new();
    for h in hooks {
        let (id, out) = h.await.unwrap();
        outcomes.insert(id, out);
    }
    let swept = sweeper.await.unwrap();
    assert!(swept <= late.len());
    for id in &late {
        assert_eq!(outcomes[id], WebhookOutcome::RefundInitiated);
        let o = w.order(*id).await;
        assert_eq!(o.state.status, OrderStatus::Timeout);
        assert_eq!(o.state.refund, RefundStatus::Initiated);
        // Whoever won, the history tells it once: swept then paid late, or paid late alone.
        let h = w.history(*id).await;
        assert!(
            h == ["placed", "timed_out", "paid_late"] || h == ["placed", "paid_late"],
            "{h:?}"
        );
    }
    for id in &on_time {
        assert_eq!(outcomes[id], WebhookOutcome::Queued);
    }
    assert_eq!(w.refund_all().await.len(), late.len());
    assert_eq!(w.consume_all().await.len(), on_time.len());
    for id in &on_time {
        let o = w.order(*id).await;
        assert_eq!(o.state.status, OrderStatus::Completed);
        assert_eq!(
            o.state.refund,
            RefundStatus::None,
            "completed, not refunded"
        );
    }
    assert_eq!(w.counters("p").await, (1000 - 60, 0));
    w.assert_invariants(&[("p", 1000)]).await;
}

pub async fn a_sweep_works_through_more_orders_than_one_batch(f: LifecycleFixture) {
    let w = world_with(
        f,
        Settings {
            sweep_batch: 7,
            ..Settings::default()
        },
    );
    w.stock("p", 100).await;
    for _ in 0..20 {
        w.place("p", 1).await;
    }
    w.f.clock.advance(THIRTY_MIN + MS);
    let fresh: Vec<_> = [w.place("p", 1).await, w.place("p", 1).await].to_vec();
    assert_eq!(w.svc.sweep_once(None).await.unwrap().timed_out, 20);
    for o in fresh {
        assert_eq!(w.order(o.id).await.state.status, OrderStatus::Pending);
    }
    assert_eq!(w.counters("p").await, (98, 2));
    w.assert_invariants(&[("p", 100)]).await;
}

pub async fn messages_for_unknown_orders_are_skipped_and_foreign_ones_refused(f: LifecycleFixture) {
    let w = world(f);
    let ghost = crate::messages::OrderMessage::body(OrderId::new_random());
    assert_eq!(w.svc.consume(&ghost).await.unwrap(), Consumed::Skipped);
    assert_eq!(
        w.svc.complete_refund(&ghost).await.unwrap(),
        RefundWork::Skipped
    );
    assert!(matches!(
        w.svc.consume("not json").await,
        Err(Error::InvalidRequest(_))
    ));
    assert!(matches!(
        w.svc.complete_refund(r#"{"orderId":7}"#).await,
        Err(Error::InvalidRequest(_))
    ));
    assert!(matches!(
        w.svc
            .handle_payment(OrderId::new_random(), PaymentOutcome::Success, None)
            .await,
        Err(Error::OrderNotFound)
    ));
}

/// The timestamp of the manual clock the fixtures start at.
pub const START: Timestamp = Timestamp::from_millis(1_790_000_000_000);

/// Drop every message now on `queue`: lost between the write and the send, or
/// dead-lettered after too many failed receives.
async fn lose(queue: &dyn crate::ports::Queue) {
    for d in take(queue).await {
        queue.delete(&d.receipt).await.unwrap();
    }
}

pub async fn a_paid_order_whose_message_was_lost_is_sent_again_by_the_sweeper(f: LifecycleFixture) {
    let w = world(f);
    w.stock("p", 10).await;
    let o = w.place("p", 2).await;
    assert_eq!(
        w.pay(o.id, PaymentOutcome::Success).await,
        WebhookOutcome::Queued
    );
    lose(&*w.f.queues.orders).await;
    assert_eq!(w.order(o.id).await.state.payment, PaymentStatus::Success);

    // Within the grace period nothing is sent; after it, the order is.
    w.f.clock.advance(Duration::from_secs(60));
    assert_eq!(w.svc.resend_awaited(None).await.unwrap().orders, 0);
    w.f.clock.advance(Duration::from_secs(61));
    assert_eq!(w.svc.resend_awaited(None).await.unwrap().orders, 1);
    assert_eq!(w.consume_all().await, [Consumed::Completed]);
    assert_eq!(w.order(o.id).await.state.status, OrderStatus::Completed);
    w.f.clock.advance(Duration::from_secs(3600));
    assert_eq!(
        w.svc.resend_awaited(None).await.unwrap().orders,
        0,
        "no longer waiting"
    );
    w.assert_invariants(&[("p", 10)]).await;
}

pub async fn re_sends_back_off_so_a_backlog_is_not_flooded(f: LifecycleFixture) {
    let w = world(f);
    w.stock("p", 100).await;
    let mut paid = Vec::new();
    for _ in 0..5 {
        let o = w.place("p", 1).await;
        w.pay(o.id, PaymentOutcome::Success).await;
        paid.push(o.id);
    }
    lose(&*w.f.queues.orders).await;
    // Dead-lettered each time: the messages keep getting lost.
    let mut sent_at = Vec::new();
    for minute in 1..=20 {
        w.f.clock.advance(Duration::from_secs(60));
        let n = w.svc.resend_awaited(None).await.unwrap().orders;
        let sent = take(&*w.f.queues.orders).await;
        assert_eq!(sent.len(), n);
        for d in sent {
            w.f.queues.orders.delete(&d.receipt).await.unwrap();
        }
        if n > 0 {
            assert_eq!(n, paid.len(), "minute {minute}: the whole backlog at once");
            sent_at.push(minute);
        }
    }
    // Due 2 minutes after the payment, then 4 after the re-send, then 8: each wait twice
    // the last, and each sent at the first sweep strictly after it is due.
    assert_eq!(sent_at, [3, 8, 17], "one sweep a minute for 20 minutes");
}

pub async fn a_refund_whose_message_was_lost_completes_after_the_next_sweep(f: LifecycleFixture) {
    let w = world(f);
    w.stock("p", 10).await;
    let o = w.place("p", 1).await;
    w.f.clock.advance(THIRTY_MIN + MS);
    assert_eq!(w.svc.sweep_once(None).await.unwrap().timed_out, 1);
    assert_eq!(
        w.pay(o.id, PaymentOutcome::Success).await,
        WebhookOutcome::RefundInitiated
    );
    lose(&*w.f.queues.refunds).await;
    // A retried webhook is a duplicate and sends nothing; the refund stays initiated.
    assert_eq!(
        w.pay(o.id, PaymentOutcome::Success).await,
        WebhookOutcome::Duplicate
    );
    assert!(w.take_refunds().await.is_empty());
    w.f.clock.advance(Duration::from_secs(121));
    let resent = w.svc.resend_awaited(None).await.unwrap();
    assert_eq!((resent.orders, resent.failed), (1, 0));
    assert_eq!(w.refund_all().await, [RefundWork::Completed]);
    assert_eq!(w.order(o.id).await.state.refund, RefundStatus::Completed);
    w.assert_invariants(&[("p", 10)]).await;
}

pub async fn asking_again_for_an_initiated_refund_sends_its_message_again(f: LifecycleFixture) {
    let w = world(f);
    w.stock("p", 10).await;
    let o = w.place("p", 1).await;
    w.pay(o.id, PaymentOutcome::Success).await;
    w.consume_all().await;
    let (_, started) = w.svc.request_refund(o.id).await.unwrap();
    assert!(started);
    lose(&*w.f.queues.refunds).await;
    let (_, started) = w.svc.request_refund(o.id).await.unwrap();
    assert!(!started);
    assert_eq!(w.refund_all().await, [RefundWork::Completed]);
    assert_eq!(w.refunds.refunded.lock().unwrap()[&o.id], 1);
}

pub async fn an_order_whose_consumer_vanished_is_resumed_after_its_lease(f: LifecycleFixture) {
    let w = world(f);
    w.stock("p", 10).await;
    let o = w.place("p", 3).await;
    w.pay(o.id, PaymentOutcome::Success).await;
    // A consumer claims it (1 -> 2) and dies; its message is dead-lettered.
    let paid = w.order(o.id).await;
    let crate::domain::lifecycle::ConsumeDecision::Start(claim) =
        crate::domain::lifecycle::on_consume(&paid, w.f.clock.now())
    else {
        panic!("a paid order is claimed")
    };
    w.f.store.apply(&claim).await.unwrap();
    lose(&*w.f.queues.orders).await;
    assert_eq!(w.order(o.id).await.state.status, OrderStatus::Processing);
    w.f.clock.advance(Duration::from_secs(119));
    assert_eq!(
        w.svc.resend_awaited(None).await.unwrap().orders,
        0,
        "leased"
    );
    w.f.clock.advance(Duration::from_secs(2));
    assert_eq!(w.svc.resend_awaited(None).await.unwrap().orders, 1);
    assert_eq!(w.consume_all().await, [Consumed::Completed]);
    assert_eq!(w.order(o.id).await.state.status, OrderStatus::Completed);
    assert_eq!(w.counters("p").await, (7, 0));
    w.assert_invariants(&[("p", 10)]).await;
}

pub async fn a_failed_re_send_is_counted_and_tried_again_at_the_next_sweep(f: LifecycleFixture) {
    let good = world(f);
    good.stock("p", 10).await;
    let o = good.place("p", 1).await;
    good.pay(o.id, PaymentOutcome::Success).await;
    lose(&*good.f.queues.orders).await;
    good.f.clock.advance(Duration::from_secs(121));
    // The sweeper's queue refuses every send (injected through the port).
    let mut queues = good.f.queues.clone();
    queues.orders = Arc::new(crate::testing::FailingSends(queues.orders.clone()));
    let failing = OrderService::new(
        good.f.store.clone(),
        queues,
        Gateways {
            processor: good.work.clone(),
            refunds: good.refunds.clone(),
        },
        good.f.clock.clone(),
        Settings::default(),
    );
    let resent = failing.resend_awaited(None).await.unwrap();
    assert_eq!((resent.orders, resent.failed), (0, 1));
    // Not rescheduled: the next sweep, with a working queue, sends it at once.
    let resent = good.svc.resend_awaited(None).await.unwrap();
    assert_eq!((resent.orders, resent.failed), (1, 0));
    assert_eq!(good.consume_all().await, [Consumed::Completed]);
}

pub async fn a_sweep_stops_at_its_deadline_with_what_it_did_committed(f: LifecycleFixture) {
    let w = world_with(
        f,
        Settings {
            sweep_batch: 3,
            ..Settings::default()
        },
    );
    w.stock("p", 100).await;
    for _ in 0..10 {
        w.place("p", 1).await;
    }
    w.f.clock.advance(THIRTY_MIN + MS);
    // A deadline already passed: nothing is started.
    let none = w.svc.sweep_once(Some(w.f.clock.now())).await.unwrap();
    assert_eq!((none.timed_out, none.stopped_early), (0, true));
    let all = w
        .svc
        .sweep_once(Some(w.f.clock.now().plus(MS)))
        .await
        .unwrap();
    assert_eq!(
        (all.timed_out, all.failed, all.stopped_early),
        (10, 0, false)
    );
    w.assert_invariants(&[("p", 100)]).await;
}
