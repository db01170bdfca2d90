//! Property test of the order lifecycle (contract sections 1 and 2) over random
//! interleavings, on the embedded backend.
//!
//! The example-based lifecycle suite checks each rule on its own, in an order chosen by
//! hand. The rules must also hold whatever order things arrive in: webhooks before or
//! after the deadline, before or after the sweeper ran, duplicated or contradicted; a
//! message consumed twice or redelivered after a consumer died before deleting it; refunds
//! asked for at any point. Here proptest generates sequences of such steps (several users,
//! a few products with little stock) and runs each through the real [`OrderService`] on a
//! real [`SqliteStore`] file in a temp dir and its embedded queues, with time moved only by
//! the [`ManualClock`] and instant processing and refund gateways (no sleeps).
//!
//! After every step the test checks I1-I3 and the parts of I4 that hold at any moment (an
//! order in 3 is refunded only if someone asked; `refundStatus` only moves none → initiated
//! → completed), and compares every order and counter with a small reference model of
//! section 1 kept in this file (it does not call the domain's decision functions, so it can
//! disagree with them). Every answer the service gives (webhook outcome, consumer and
//! refund results, sweep counts) is compared with the model's too. At the end every
//! remaining queue message is delivered (the clock moved past the visibility timeout) and
//! I4 is checked in full: a successful payment on a 4 or 5 ends refunded.
//!
//! Orders are named by their index in placement order (`order: 2` is the third order that
//! was accepted); a step naming an order not placed yet does nothing. A failure reports the
//! shrunk scenario one step a line, and the run log with what each step did.
//!
//! Not covered here: concurrent races (the lifecycle suite has those), processing failures,
//! and what the code on this branch does not have yet (multi-line carts, `maxPerUser`,
//! event history: I5-I7).

use orderflow_core::domain::UserId;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use orderflow_core::Error;
use orderflow_core::clock::ManualClock;
use orderflow_core::domain::lifecycle::{PaymentOutcome, WebhookOutcome};
use orderflow_core::domain::{
    LimitChange, Lines, Order, OrderId, OrderStatus, PaymentStatus, ProductId, Quantity,
    RefundStatus, RefusalKind, StockCount,
};
use orderflow_core::messages::OrderMessage;
use orderflow_core::ports::{Clock, OrderQuery, OrderStore, Queue};
use orderflow_core::service::consumer::Consumed;
use orderflow_core::service::refunds::RefundWork;
use orderflow_core::service::{Gateways, OrderService, PlaceOrder, Queues, Settings};
use orderflow_core::testing::lifecycle_contract::{InstantRefunds, InstantWork, START};
use orderflow_sqlite::queue::{ORDERS_QUEUE, PAYMENTS_QUEUE, REFUNDS_QUEUE};
use orderflow_sqlite::{QueueSettings, SqliteStore};
use proptest::prelude::*;
use tempfile::TempDir;

/// Products `p0`, `p1`, `p2`, each with a little stock.
const PRODUCTS: usize = 3;
/// Users `u0`, `u1`, `u2`.
const USERS: u8 = 3;
/// Steps name orders `0..ORDER_REFS`; most scenarios place about that many.
const ORDER_REFS: usize = 5;
const MAX_STEPS: usize = 40;
const CASES: u32 = 128;

/// Short, so that a scenario of a few clock steps crosses deadlines.
const PAYMENT_TIMEOUT: Duration = Duration::from_secs(60);
/// The sweeper sends paid orders still waiting this long to the queue again.
const RESEND_AFTER: Duration = Duration::from_secs(120);
const QUEUE_SETTINGS: QueueSettings = QueueSettings {
    visibility_timeout: Duration::from_secs(30),
    max_receives: 3,
};

// ---------------------------------------------------------------------------------------
// Steps

/// What a payment webhook reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Success,
    Failed,
}

/// How a worker handles each message it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handling {
    /// Handle it, delete it.
    Once,
    /// Handle it, handle the same message again (a redelivery), delete it.
    Twice,
    /// Handle it and die before deleting it: the queue delivers it again once its
    /// visibility timeout has passed.
    NoDelete,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// `POST /order` by user `u<user>` for `qty` of product `p<product>`.
    Place { user: u8, product: usize, qty: i64 },
    /// `POST /webhook/payment` for the order placed `order`-th.
    Webhook { order: usize, outcome: Outcome },
    /// Move the manual clock.
    AdvanceClock { secs: u64 },
    /// One run of the sweeper: time out expired unpaid orders, re-send paid ones that wait.
    Sweep,
    /// The queue consumer takes every visible message of the orders queue.
    DeliverOrders { handling: Handling },
    /// `POST /refund/{orderId}`.
    RequestRefund { order: usize },
    /// The refund worker takes every visible message of the refunds queue.
    DeliverRefunds { handling: Handling },
}

/// The generated input: initial stock per product and the steps.
#[derive(Clone)]
struct Scenario {
    stock: [i64; PRODUCTS],
    steps: Vec<Step>,
}

impl fmt::Debug for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "stock {:?}, {} steps:", self.stock, self.steps.len())?;
        for (i, s) in self.steps.iter().enumerate() {
            writeln!(f, "  {i:>2}: {s:?}")?;
        }
        Ok(())
    }
}

fn handling() -> impl Strategy<Value = Handling> {
    prop_oneof![
        2 => Just(Handling::Once),
        1 => Just(Handling::Twice),
        1 => Just(Handling::NoDelete),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let order = 0..ORDER_REFS;
    prop_oneof![
        4 => (0..USERS, 0..PRODUCTS, prop_oneof![3 => Just(1i64), 1 => 2..=3i64])
            .prop_map(|(user, product, qty)| Step::Place { user, product, qty }),
        4 => (order.clone(), prop_oneof![3 => Just(Outcome::Success), 1 => Just(Outcome::Failed)])
            .prop_map(|(order, outcome)| Step::Webhook { order, outcome }),
        // Mostly within the payment window; often exactly half or all of it, so that steps
        // land on a deadline itself (still in time); sometimes past it or past the re-send
        // delay.
        3 => prop_oneof![
            3 => 1..=20u64,
            1 => Just(PAYMENT_TIMEOUT.as_secs() / 2),
            1 => Just(PAYMENT_TIMEOUT.as_secs()),
            1 => 61..=130u64,
        ]
        .prop_map(|secs| Step::AdvanceClock { secs }),
        2 => Just(Step::Sweep),
        2 => handling().prop_map(|handling| Step::DeliverOrders { handling }),
        2 => order.prop_map(|order| Step::RequestRefund { order }),
        2 => handling().prop_map(|handling| Step::DeliverRefunds { handling }),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::array::uniform3(1..=6i64),
        prop::collection::vec(step(), 1..=MAX_STEPS),
    )
        .prop_map(|(stock, steps)| Scenario { stock, steps })
}

// ---------------------------------------------------------------------------------------
// The reference model: section 1 of the contract, written out plainly.

#[derive(Debug, Clone)]
struct ModelOrder {
    user: u8,
    product: usize,
    qty: i64,
    expires_at: i64,
    status: OrderStatus,
    payment: PaymentStatus,
    refund: RefundStatus,
    payment_time: Option<i64>,
    /// `POST /refund` was called for it (whatever it answered).
    refund_asked: bool,
    /// While it waits for a message: when it was sent and when the sweeper sends it again.
    resend: Option<(i64, i64)>,
}

impl ModelOrder {
    /// Paid and waiting for the consumer, being processed, or refund initiated.
    fn awaits_message(&self) -> bool {
        (self.status == OrderStatus::Pending && self.payment == PaymentStatus::Success)
            || self.status == OrderStatus::Processing
            || self.refund == RefundStatus::Initiated
    }

    fn state(&self) -> (OrderStatus, PaymentStatus, RefundStatus) {
        (self.status, self.payment, self.refund)
    }
}

#[derive(Debug)]
struct Model {
    now: i64,
    total: [i64; PRODUCTS],
    stock: [i64; PRODUCTS],
    locked: [i64; PRODUCTS],
    orders: Vec<ModelOrder>,
}

impl Model {
    fn new(stock: [i64; PRODUCTS]) -> Self {
        Self {
            now: START.as_millis(),
            total: stock,
            stock,
            locked: [0; PRODUCTS],
            orders: Vec::new(),
        }
    }

    /// Lock `qty` if there is that much stock; the new order's index.
    fn place(&mut self, user: u8, product: usize, qty: i64) -> Option<usize> {
        if self.stock[product] < qty {
            return None;
        }
        self.stock[product] -= qty;
        self.locked[product] += qty;
        self.orders.push(ModelOrder {
            user,
            product,
            qty,
            expires_at: self.now + PAYMENT_TIMEOUT.as_millis() as i64,
            status: OrderStatus::Pending,
            payment: PaymentStatus::Pending,
            refund: RefundStatus::None,
            payment_time: None,
            refund_asked: false,
            resend: None,
        });
        Some(self.orders.len() - 1)
    }

    /// Locked units go back on sale (timeout, failure).
    fn release(&mut self, i: usize) {
        let (p, q) = (self.orders[i].product, self.orders[i].qty);
        self.stock[p] += q;
        self.locked[p] -= q;
    }

    fn webhook(&mut self, i: usize, outcome: Outcome) -> WebhookOutcome {
        use OrderStatus as S;
        use PaymentStatus as P;
        let now = self.now;
        let o = &mut self.orders[i];
        let in_time = now <= o.expires_at;
        match (outcome, o.status, o.payment) {
            // In time: paid, still 1, sent to the queue.
            (Outcome::Success, S::Pending, P::Pending) if in_time => {
                o.payment = P::Success;
                o.payment_time = Some(now);
                WebhookOutcome::Queued
            }
            // Late but not swept yet: 4 at once, stock back, refund.
            (Outcome::Success, S::Pending, P::Pending) => {
                o.status = S::Timeout;
                o.payment = P::Success;
                o.payment_time = Some(now);
                o.refund = RefundStatus::Initiated;
                self.release(i);
                WebhookOutcome::RefundInitiated
            }
            // Money for an order that timed out or failed: refund, status kept.
            (Outcome::Success, S::Timeout | S::Failed, P::Pending | P::Failed) => {
                o.payment = P::Success;
                o.payment_time = Some(now);
                o.refund = RefundStatus::Initiated;
                WebhookOutcome::RefundInitiated
            }
            // Failure of an unpaid pending order, in time or not: 5, stock back.
            (Outcome::Failed, S::Pending, P::Pending) => {
                o.status = S::Failed;
                o.payment = P::Failed;
                self.release(i);
                WebhookOutcome::Failed
            }
            _ => WebhookOutcome::Duplicate,
        }
    }

    /// How many orders the sweep times out.
    fn sweep(&mut self) -> usize {
        let mut swept = 0;
        for i in 0..self.orders.len() {
            let o = &mut self.orders[i];
            if o.status == OrderStatus::Pending
                && o.payment == PaymentStatus::Pending
                && o.expires_at < self.now
            {
                o.status = OrderStatus::Timeout;
                self.release(i);
                swept += 1;
            }
        }
        swept
    }

    /// Every order whose state changed since `before` (its states then) is looked at again
    /// `RESEND_AFTER` from now if it waits for a message, and not at all otherwise.
    fn reschedule_changed(&mut self, before: &[(OrderStatus, PaymentStatus, RefundStatus)]) {
        let now = self.now;
        for (i, o) in self.orders.iter_mut().enumerate() {
            if before.get(i) != Some(&o.state()) {
                o.resend = o
                    .awaits_message()
                    .then(|| (now, now + RESEND_AFTER.as_millis() as i64));
            }
        }
    }

    /// How many orders the sweeper sends again: those waiting for a message past their
    /// time; each is next due after twice its last wait, at most an hour.
    fn resend_due(&mut self) -> usize {
        let now = self.now;
        let mut n = 0;
        for o in &mut self.orders {
            if let Some((sent, due)) = o.resend
                && due < now
            {
                n += 1;
                o.resend = Some((now, now + (2 * (due - sent)).min(3_600_000)));
            }
        }
        n
    }

    /// One orders-queue message for order `i`: a paid order in 1 is processed to 3.
    fn consume(&mut self, i: usize) -> Consumed {
        let o = &mut self.orders[i];
        if o.status == OrderStatus::Pending && o.payment == PaymentStatus::Success {
            o.status = OrderStatus::Completed;
            self.locked[o.product] -= o.qty;
            Consumed::Completed
        } else {
            Consumed::Skipped
        }
    }

    /// `Err(())`: not refundable; `Ok(started)` otherwise.
    fn request_refund(&mut self, i: usize) -> Result<bool, ()> {
        let o = &mut self.orders[i];
        o.refund_asked = true;
        if o.payment != PaymentStatus::Success {
            return Err(());
        }
        if o.refund == RefundStatus::None {
            o.refund = RefundStatus::Initiated;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn complete_refund(&mut self, i: usize) -> RefundWork {
        let o = &mut self.orders[i];
        if o.refund == RefundStatus::Initiated {
            o.refund = RefundStatus::Completed;
            RefundWork::Completed
        } else {
            RefundWork::Skipped
        }
    }
}

// ---------------------------------------------------------------------------------------
// The system under test, driven step by step.

macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err(format!($($arg)*));
        }
    };
}

type Checked<T = ()> = Result<T, String>;

/// An error the service or the store should not have returned, with its sources.
fn internal(what: &str, e: impl std::error::Error) -> String {
    let mut out = format!("{what} failed: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(&format!(": {s}"));
        source = s.source();
    }
    out
}

struct Harness {
    /// The model's order states before the step in progress.
    states_before: Vec<(OrderStatus, PaymentStatus, RefundStatus)>,
    svc: OrderService,
    store: Arc<SqliteStore>,
    queues: Queues,
    clock: Arc<ManualClock>,
    refunds: Arc<InstantRefunds>,
    products: Vec<ProductId>,
    /// Placement index → order id, and back.
    ids: Vec<OrderId>,
    index: HashMap<OrderId, usize>,
    /// The refund status each order had at the last check.
    last_refund: Vec<RefundStatus>,
    /// What each step did, for the failure report.
    log: Vec<String>,
    _dir: TempDir,
}

/// The order of `rank` in none → initiated → completed.
fn rank(r: RefundStatus) -> u8 {
    match r {
        RefundStatus::None => 0,
        RefundStatus::Initiated => 1,
        RefundStatus::Completed => 2,
    }
}

impl Harness {
    /// A fresh database file with its queues, wired as `tests/contract.rs` does, and the
    /// service over it with the core's instant gateways.
    async fn new(stock: [i64; PRODUCTS]) -> Checked<Self> {
        let dir = tempfile::tempdir().map_err(|e| internal("temp dir", e))?;
        let store = Arc::new(SqliteStore::open(dir.path()).map_err(|e| internal("open", e))?);
        let clock = Arc::new(ManualClock::new(START));
        let c: Arc<dyn Clock> = clock.clone();
        let queues = Queues {
            orders: Arc::new(store.queue(ORDERS_QUEUE, QUEUE_SETTINGS, c.clone())),
            refunds: Arc::new(store.queue(REFUNDS_QUEUE, QUEUE_SETTINGS, c.clone())),
            payments: Arc::new(store.queue(PAYMENTS_QUEUE, QUEUE_SETTINGS, c.clone())),
        };
        let refunds = Arc::new(InstantRefunds::default());
        let svc = OrderService::new(
            store.clone(),
            queues.clone(),
            Gateways {
                processor: Arc::new(InstantWork::default()),
                refunds: refunds.clone(),
            },
            c,
            Settings {
                payment_timeout: PAYMENT_TIMEOUT,
                resend_after: RESEND_AFTER,
                ..Settings::default()
            },
        );
        let mut products = Vec::new();
        for (p, n) in stock.iter().enumerate() {
            let id = ProductId::parse(format!("p{p}")).expect("a valid id");
            let n = StockCount::new(*n).expect("a valid count");
            svc.set_stock(&id, n, LimitChange::Keep, None)
                .await
                .map_err(|e| internal("set_stock", e))?;
            products.push(id);
        }
        Ok(Self {
            svc,
            store,
            queues,
            clock,
            refunds,
            products,
            ids: Vec::new(),
            index: HashMap::new(),
            last_refund: Vec::new(),
            log: Vec::new(),
            states_before: Vec::new(),
            _dir: dir,
        })
    }

    fn order_id(&self, i: usize) -> Option<OrderId> {
        self.ids.get(i).copied()
    }

    async fn step(&mut self, m: &mut Model, step: &Step) -> Checked<String> {
        match *step {
            Step::Place { user, product, qty } => {
                let req = PlaceOrder {
                    user_id: UserId::parse(format!("u{user}")).expect("a valid id"),
                    lines: Lines::one(
                        self.products[product].clone(),
                        Quantity::new(qty).expect("a valid quantity"),
                    ),
                };
                let got = self.svc.place_order(req, None).await;
                match (m.place(user, product, qty), got) {
                    (Some(i), Ok(order)) => {
                        ensure!(
                            order.state.status == OrderStatus::Pending
                                && order.state.payment == PaymentStatus::Pending
                                && order.state.refund == RefundStatus::None,
                            "a new order is not 1/pending/none: {:?}",
                            order.state
                        );
                        self.ids.push(order.id);
                        self.index.insert(order.id, i);
                        self.last_refund.push(RefundStatus::None);
                        Ok(format!("order #{i}"))
                    }
                    (None, Err(Error::Refused(r))) if r.kind == RefusalKind::OutOfStock => {
                        Ok("out of stock".into())
                    }
                    (want, got) => Err(format!(
                        "placing: the model {}, the service answered {:?}",
                        if want.is_some() {
                            "accepts"
                        } else {
                            "refuses (out of stock)"
                        },
                        got.map(|o| o.id)
                    )),
                }
            }
            Step::Webhook { order, outcome } => {
                let Some(id) = self.order_id(order) else {
                    return Ok("no such order yet: nothing".into());
                };
                let pay = match outcome {
                    Outcome::Success => PaymentOutcome::Success,
                    Outcome::Failed => PaymentOutcome::Failed,
                };
                let (_, got) = self
                    .svc
                    .handle_payment(id, pay, None)
                    .await
                    .map_err(|e| internal("webhook", e))?;
                let want = m.webhook(order, outcome);
                ensure!(
                    got == want,
                    "webhook outcome: the model expects {want:?}, the service answered {got:?}"
                );
                Ok(format!("{got:?}"))
            }
            Step::AdvanceClock { secs } => {
                self.advance(m, Duration::from_secs(secs));
                Ok(format!("now START+{}s", (m.now - START.as_millis()) / 1000))
            }
            Step::Sweep => {
                let swept = self
                    .svc
                    .sweep_once(None)
                    .await
                    .map_err(|e| internal("sweep", e))?;
                let want = m.sweep();
                ensure!(
                    swept.timed_out == want && swept.failed == 0,
                    "sweep: the model times out {want} orders, the service {swept:?}"
                );
                // The timed-out orders wait for nothing: scheduled before the re-sends look.
                let before: Vec<_> = self.states_before.clone();
                m.reschedule_changed(&before);
                let resent = self
                    .svc
                    .resend_awaited(None)
                    .await
                    .map_err(|e| internal("resend", e))?;
                let want = m.resend_due();
                ensure!(
                    resent.orders == want && resent.failed == 0,
                    "re-send: the model re-sends {want} orders, the service {resent:?}"
                );
                Ok(format!(
                    "timed out {}, re-sent {}",
                    swept.timed_out, resent.orders
                ))
            }
            Step::DeliverOrders { handling } => {
                let n = self.deliver_orders(m, handling).await?;
                Ok(format!("{n} messages"))
            }
            Step::RequestRefund { order } => {
                let Some(id) = self.order_id(order) else {
                    return Ok("no such order yet: nothing".into());
                };
                let got = self.svc.request_refund(id).await;
                let want = m.request_refund(order);
                match (want, got) {
                    (Err(()), Err(Error::NotRefundable)) => Ok("not refundable".into()),
                    (Ok(w), Ok((_, started))) if w == started => {
                        Ok(if started { "initiated" } else { "already" }.into())
                    }
                    (want, got) => Err(format!(
                        "refund request: the model expects {}, the service answered {:?}",
                        match want {
                            Err(()) => "not refundable",
                            Ok(true) => "started",
                            Ok(false) => "already started",
                        },
                        got.map(|(o, started)| (o.state, started))
                    )),
                }
            }
            Step::DeliverRefunds { handling } => {
                let n = self.deliver_refunds(m, handling).await?;
                Ok(format!("{n} messages"))
            }
        }
    }

    fn advance(&self, m: &mut Model, d: Duration) {
        self.clock.advance(d);
        m.now += d.as_millis() as i64;
    }

    /// The placement index a message body names.
    fn message_order(&self, body: &str) -> Checked<usize> {
        let id = OrderMessage::parse(body).ok_or_else(|| format!("a foreign message: {body}"))?;
        self.index
            .get(&id)
            .copied()
            .ok_or_else(|| format!("a message for an order never placed: {id}"))
    }

    async fn receive(q: &dyn Queue) -> Checked<Vec<orderflow_core::ports::Delivery>> {
        q.receive(10, Duration::ZERO)
            .await
            .map_err(|e| internal("receive", e))
    }

    /// Every visible orders-queue message through the consumer. Returns how many.
    async fn deliver_orders(&mut self, m: &mut Model, handling: Handling) -> Checked<usize> {
        let q = self.queues.orders.clone();
        let mut n = 0;
        loop {
            let batch = Self::receive(&*q).await?;
            if batch.is_empty() {
                break;
            }
            for d in batch {
                n += 1;
                let i = self.message_order(&d.body)?;
                let times = if handling == Handling::Twice { 2 } else { 1 };
                for _ in 0..times {
                    let got = self
                        .svc
                        .consume(&d.body)
                        .await
                        .map_err(|e| internal("consume", e))?;
                    let want = m.consume(i);
                    ensure!(
                        got == want,
                        "consuming a message for order #{i} (receive #{}): the model expects \
                         {want:?}, the consumer did {got:?}",
                        d.receive_count
                    );
                }
                if handling != Handling::NoDelete {
                    q.delete(&d.receipt)
                        .await
                        .map_err(|e| internal("delete", e))?;
                }
            }
        }
        // A paid order has a message: none may be left waiting once the queue is empty.
        for (i, o) in m.orders.iter().enumerate() {
            ensure!(
                !(o.status == OrderStatus::Pending && o.payment == PaymentStatus::Success),
                "order #{i} is paid and in time but the consumer got no message for it"
            );
        }
        Ok(n)
    }

    /// Every visible refunds-queue message through the refund worker. Returns how many.
    async fn deliver_refunds(&mut self, m: &mut Model, handling: Handling) -> Checked<usize> {
        let q = self.queues.refunds.clone();
        let mut n = 0;
        loop {
            let batch = Self::receive(&*q).await?;
            if batch.is_empty() {
                break;
            }
            for d in batch {
                n += 1;
                let i = self.message_order(&d.body)?;
                let times = if handling == Handling::Twice { 2 } else { 1 };
                for _ in 0..times {
                    let got = self
                        .svc
                        .complete_refund(&d.body)
                        .await
                        .map_err(|e| internal("complete_refund", e))?;
                    let want = m.complete_refund(i);
                    ensure!(
                        got == want,
                        "refund message for order #{i} (receive #{}): the model expects \
                         {want:?}, the worker did {got:?}",
                        d.receive_count
                    );
                }
                if handling != Handling::NoDelete {
                    q.delete(&d.receipt)
                        .await
                        .map_err(|e| internal("delete", e))?;
                }
            }
        }
        for (i, o) in m.orders.iter().enumerate() {
            ensure!(
                o.refund != RefundStatus::Initiated,
                "order #{i} has a refund initiated but the worker got no message for it"
            );
        }
        Ok(n)
    }

    fn refund_calls(&self, id: OrderId) -> usize {
        let calls = self.refunds.refunded.lock().expect("not poisoned");
        calls.get(&id).copied().unwrap_or(0)
    }

    async fn all_orders(&self) -> Checked<Vec<Order>> {
        let mut orders = Vec::new();
        let mut q = OrderQuery {
            limit: 500,
            ..OrderQuery::default()
        };
        loop {
            let page = self
                .store
                .list_orders(&q)
                .await
                .map_err(|e| internal("list_orders", e))?;
            orders.extend(page.orders);
            match page.next_cursor {
                Some(c) => q.cursor = Some(c),
                None => return Ok(orders),
            }
        }
    }

    /// I1-I3, the parts of I4 that hold at any moment, and agreement with the model.
    async fn check(&mut self, m: &Model) -> Checked {
        let orders = self.all_orders().await?;
        ensure!(
            orders.len() == m.orders.len(),
            "the store has {} orders, the model {}",
            orders.len(),
            m.orders.len()
        );
        for (p, pid) in self.products.iter().enumerate() {
            let product = self
                .svc
                .get_product(pid)
                .await
                .map_err(|e| internal("get_product", e))?;
            let (stock, locked) = (product.stock_count, product.locked_count);
            let sum = |statuses: &[OrderStatus]| -> i64 {
                orderflow_core::testing::units(&orders, pid.as_str(), |o| {
                    statuses.contains(&o.state.status)
                })
            };
            let held = sum(&[OrderStatus::Pending, OrderStatus::Processing]);
            let sold = sum(&[OrderStatus::Completed]);
            ensure!(
                locked == held,
                "I1 {pid}: lockedCount {locked}, orders in 1-2 hold {held}"
            );
            ensure!(
                stock + locked + sold == m.total[p],
                "I2 {pid}: stock {stock} + locked {locked} + sold {sold} != {} stocked",
                m.total[p]
            );
            ensure!(
                stock >= 0 && locked >= 0,
                "I3 {pid}: stock {stock}, locked {locked}"
            );
            ensure!(
                (stock, locked) == (m.stock[p], m.locked[p]),
                "{pid}: (stock, locked) is ({stock}, {locked}), the model has ({}, {})",
                m.stock[p],
                m.locked[p]
            );
        }
        for o in &orders {
            let i = *self
                .index
                .get(&o.id)
                .ok_or_else(|| format!("an order nobody placed: {}", o.id))?;
            let want = &m.orders[i];
            let s = o.state;
            ensure!(
                !(s.status == OrderStatus::Completed
                    && s.refund != RefundStatus::None
                    && !want.refund_asked),
                "I4 order #{i}: completed and refund {:?} though nobody asked for a refund",
                s.refund
            );
            let (before, now) = (rank(self.last_refund[i]), rank(s.refund));
            ensure!(
                now == before || now == before + 1,
                "I4 order #{i}: refundStatus went from {:?} to {:?}",
                self.last_refund[i],
                s.refund
            );
            self.last_refund[i] = s.refund;
            // The gateway refunds each payment once, when the refund completes.
            let calls = self.refund_calls(o.id);
            ensure!(
                calls == usize::from(s.refund == RefundStatus::Completed),
                "order #{i}: refund {:?}, the refund gateway was called {calls} times",
                s.refund
            );
            let got = (
                s.status,
                s.payment,
                s.refund,
                o.payment_time.map(|t| t.as_millis()),
            );
            let expected = (want.status, want.payment, want.refund, want.payment_time);
            ensure!(
                got == expected,
                "order #{i}: (status, payment, refund, paymentTime) is {got:?}, the model \
                 has {expected:?}"
            );
            ensure!(
                o.user_id.as_str() == format!("u{}", want.user)
                    && o.lines.single().is_some_and(|l| {
                        l.product_id == self.products[want.product] && l.quantity.get() == want.qty
                    })
                    && o.expires_at.as_millis() == want.expires_at,
                "order #{i}: stored as {o:?}, placed as {want:?}"
            );
        }
        Ok(())
    }

    /// Deliver everything left on both queues, moving the clock past the visibility
    /// timeout until a round finds nothing; then I4 in full.
    async fn drain(&mut self, m: &mut Model) -> Checked {
        let mut rounds = 0;
        loop {
            self.advance(
                m,
                QUEUE_SETTINGS.visibility_timeout + Duration::from_secs(1),
            );
            let n = self.deliver_orders(m, Handling::Once).await?
                + self.deliver_refunds(m, Handling::Once).await?;
            self.log.push(format!("drain round {rounds}: {n} messages"));
            self.check(m).await?;
            if n == 0 {
                break;
            }
            rounds += 1;
            ensure!(rounds < 10, "the queues never empty");
        }
        for o in self.all_orders().await? {
            let i = self.index[&o.id];
            if o.state.payment == PaymentStatus::Success
                && matches!(o.state.status, OrderStatus::Timeout | OrderStatus::Failed)
            {
                ensure!(
                    o.state.refund == RefundStatus::Completed,
                    "I4 order #{i}: paid, in {:?}, refund {:?} after the queues drained",
                    o.state.status,
                    o.state.refund
                );
            }
        }
        Ok(())
    }
}

async fn run(scenario: &Scenario) -> Result<(), String> {
    let mut m = Model::new(scenario.stock);
    let mut h = Harness::new(scenario.stock).await?;
    let outcome = async {
        h.check(&m).await?;
        for (n, step) in scenario.steps.iter().enumerate() {
            h.states_before = m.orders.iter().map(ModelOrder::state).collect();
            let did = h
                .step(&mut m, step)
                .await
                .map_err(|e| format!("step {n} {step:?}: {e}"))?;
            let before = std::mem::take(&mut h.states_before);
            m.reschedule_changed(&before);
            h.log.push(format!("{n:>2}: {step:?} -> {did}"));
            h.check(&m)
                .await
                .map_err(|e| format!("after step {n} {step:?}: {e}"))?;
        }
        h.drain(&mut m).await.map_err(|e| format!("draining: {e}"))
    }
    .await;
    outcome.map_err(|e| format!("{e}\nrun log:\n  {}\n", h.log.join("\n  ")))
}

/// [`CASES`], or `PROPTEST_CASES` for a longer search.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CASES)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        // Failures are reported with their shrunk scenario; no regression files.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_interleaving_keeps_the_invariants_and_follows_the_lifecycle(s in scenario()) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let result = rt.block_on(run(&s));
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }
}
