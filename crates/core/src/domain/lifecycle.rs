//! The lifecycle rules of the contract (section 1), as pure functions.
//!
//! Each function looks at an order as last read and at "now", and returns a decision. A
//! decision that changes something carries a [`Transition`]: the conditional write a store
//! must apply atomically, only if the order is still in `transition.from`. When the
//! condition is lost (someone else changed the order first), the service reads the order
//! again and asks the same function again; the rules below are written so that the second
//! answer is right for the new state (usually "nothing to do").
//!
//! # Layout
//!
//! - [`Transition`] and [`StockEffect`]: what a store writes, with the event it appends to
//!   the order's history and the [`Topic`]s of the messages it starts.
//! - [`on_payment`]: the payment webhook (in time, late, failed, repeated).
//! - [`on_expiry`]: the sweeper.
//! - [`on_consume`] and [`on_processed`]: the queue consumer.
//! - [`on_refund_request`] and [`on_refund_completed`]: refunds.

use super::{EventType, Lines, OrderEvent, Resend, UserId};
use super::{Order, OrderId, OrderState, OrderStatus, PaymentStatus, RefundStatus, Timestamp};

/// The queues a transition sends `{"orderId"}` to, in the same atomic step as far as the
/// backend allows. Adapters map a topic to their queue; nobody shares queue names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Paid orders for the consumer.
    Orders,
    /// Refunds for the refund worker.
    Refunds,
}

/// What a transition does to the counters of every line's product, in the same atomic step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StockEffect {
    /// Counters unchanged.
    None,
    /// Stock goes back on sale: `stockCount += q`, `lockedCount -= q` (timeout, failure).
    Release,
    /// Locked stock is sold: `lockedCount -= q` (completion).
    Sell,
}

/// A payment as the webhook reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentOutcome {
    Success,
    Failed,
}

/// One conditional write: apply only if the order is still in `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub order_id: OrderId,
    /// The order's customer and lines: `stock` applies to every line, and the limited lines
    /// go back to the customer's allowance when [`Transition::returns_allowance`].
    pub user_id: UserId,
    pub lines: Lines,
    pub from: OrderState,
    pub to: OrderState,
    /// Set `paymentTime` to this, when `Some` (a successful payment).
    pub payment_time: Option<Timestamp>,
    /// Set `paymentId` to this, when `Some` (the gateway's id from the webhook).
    pub payment_id: Option<String>,
    pub stock: StockEffect,
    /// The new `updatedAt`, and the time of the event.
    pub at: Timestamp,
    /// The event this transition appends to the order's history.
    pub event: EventType,
    /// Its place in the history: one more than the order's `events` as read.
    pub seq: u32,
    /// The order's payment fields before, kept where this transition does not set them
    /// (so that the event records the order's values right after it).
    pub kept_payment_time: Option<Timestamp>,
    pub kept_payment_id: Option<String>,
    /// When the sweeper looks at the order again, if it then waits for a message (set
    /// exactly when `to` waits for one; see [`Transition::resend_after`]).
    pub resend: Option<Resend>,
}

/// How long an order that waits for a message may wait before its message is sent again,
/// unless the service says otherwise ([`Transition::resend_after`]).
pub const RESEND_AFTER: std::time::Duration = std::time::Duration::from_secs(120);

/// The queues an order in `state` waits on: the messages the sweeper sends again when the
/// order has waited too long (a lost send, a dead-lettered message, a consumer that died
/// holding it). A processing order's claim is lost with its consumer, so its orders
/// message is sent again, and the next consumer resumes it.
pub fn awaited_topics(state: OrderState) -> impl Iterator<Item = Topic> {
    let orders = (state.awaits_processing() || state.status == OrderStatus::Processing)
        .then_some(Topic::Orders);
    let refunds = state.refund_in_progress().then_some(Topic::Refunds);
    orders.into_iter().chain(refunds)
}

impl Transition {
    fn new(order: &Order, to: OrderState, at: Timestamp, event: EventType) -> Self {
        Self {
            order_id: order.id,
            user_id: order.user_id.clone(),
            lines: order.lines.clone(),
            from: order.state,
            to,
            payment_time: None,
            payment_id: None,
            stock: StockEffect::None,
            at,
            event,
            seq: order.events + 1,
            kept_payment_time: order.payment_time,
            kept_payment_id: order.payment_id.clone(),
            resend: to.awaits_message().then(|| Resend::first(at, RESEND_AFTER)),
        }
    }

    /// The same transition with the order looked at again `after` its message, rather
    /// than [`RESEND_AFTER`].
    #[must_use]
    pub fn resend_after(mut self, after: std::time::Duration) -> Self {
        self.resend = self
            .to
            .awaits_message()
            .then(|| Resend::first(self.at, after));
        self
    }

    /// Whether this transition starts a refund, which a backend must then carry to completion.
    pub fn initiates_refund(&self) -> bool {
        !self.from.refund_in_progress() && self.to.refund_in_progress()
    }

    /// Whether this transition gives the order's limited units back to the customer's
    /// allowance: the order stops counting toward per-customer limits (it timed out or
    /// failed). Exactly the transitions that release stock.
    pub fn returns_allowance(&self) -> bool {
        self.from.status.counts_toward_limit() && !self.to.status.counts_toward_limit()
    }

    /// Whether this transition puts the order on the consumer's list.
    pub fn enqueues(&self) -> bool {
        !self.from.awaits_processing() && self.to.awaits_processing()
    }

    /// The topics this transition sends `{"orderId"}` to: an order entering a work list
    /// that a queue serves gets its message.
    pub fn messages(&self) -> impl Iterator<Item = Topic> + use<> {
        let orders = self.enqueues().then_some(Topic::Orders);
        let refunds = self.initiates_refund().then_some(Topic::Refunds);
        orders.into_iter().chain(refunds)
    }

    /// The history entry this transition appends.
    pub fn history_event(&self) -> OrderEvent {
        OrderEvent {
            order_id: self.order_id,
            seq: self.seq,
            at: self.at,
            kind: self.event,
            state: self.to,
            payment_time: self.payment_time.or(self.kept_payment_time),
            payment_id: self
                .payment_id
                .clone()
                .or_else(|| self.kept_payment_id.clone()),
        }
    }

    /// The order as it is once this transition is applied to `order` (which must be in `from`).
    pub fn applied_to(&self, order: &Order) -> Order {
        let mut next = order.clone();
        next.state = self.to;
        next.updated_at = self.at;
        next.events = self.seq;
        next.resend = self.resend;
        if self.payment_time.is_some() {
            next.payment_time = self.payment_time;
        }
        if self.payment_id.is_some() {
            next.payment_id.clone_from(&self.payment_id);
        }
        next
    }
}

/// The webhook's `outcome` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Paid in time and sent to the queue.
    Queued,
    /// Marked 5, stock released.
    Failed,
    /// Paid late or after a failure: a refund was started.
    RefundInitiated,
    /// Already applied, or superseded by an earlier outcome: nothing changed.
    Duplicate,
}

impl WebhookOutcome {
    pub fn name(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Failed => "failed",
            Self::RefundInitiated => "refund_initiated",
            Self::Duplicate => "duplicate",
        }
    }
}

/// What the payment webhook does to an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentDecision {
    Apply {
        transition: Transition,
        outcome: WebhookOutcome,
    },
    /// Nothing to change; answer `duplicate`.
    Duplicate,
}

/// The webhook rules: in time, late (swept or not), failed, and every repeat.
pub fn on_payment(
    order: &Order,
    outcome: PaymentOutcome,
    payment_id: Option<String>,
    now: Timestamp,
) -> PaymentDecision {
    use OrderStatus::*;
    use PaymentStatus as P;
    let s = order.state;
    let to = |status, payment, refund| OrderState {
        status,
        payment,
        refund,
    };

    let (mut t, result) = match (s.status, s.payment, outcome) {
        // Paid in time: stays pending and goes to the queue with the state change.
        (Pending, P::Pending, PaymentOutcome::Success) if now <= order.expires_at => {
            let t = Transition::new(
                order,
                to(Pending, P::Success, s.refund),
                now,
                EventType::Paid,
            );
            (t, WebhookOutcome::Queued)
        }
        // Paid after the deadline but before the sweeper ran: exactly as late. The deadline
        // belongs to the order, not to the sweeper's schedule.
        (Pending, P::Pending, PaymentOutcome::Success) => {
            let mut t = Transition::new(
                order,
                to(Timeout, P::Success, RefundStatus::Initiated),
                now,
                EventType::PaidLate,
            );
            t.stock = StockEffect::Release;
            (t, WebhookOutcome::RefundInitiated)
        }
        // Failed, in time or not: 5 and the stock goes back.
        (Pending, P::Pending, PaymentOutcome::Failed) => {
            let mut t = Transition::new(
                order,
                to(Failed, P::Failed, s.refund),
                now,
                EventType::PaymentFailed,
            );
            t.stock = StockEffect::Release;
            (t, WebhookOutcome::Failed)
        }
        // Money arrived for an order that can no longer be fulfilled: give it back. The
        // status stays 4 or 5.
        (Timeout | Failed, P::Pending | P::Failed, PaymentOutcome::Success)
            if s.refund == RefundStatus::None =>
        {
            let t = Transition::new(
                order,
                to(s.status, P::Success, RefundStatus::Initiated),
                now,
                EventType::PaidLate,
            );
            (t, WebhookOutcome::RefundInitiated)
        }
        // Everything else is a repeat or is superseded: a success after a success, a failure
        // after a success, a failure on an order that already timed out or failed.
        _ => return PaymentDecision::Duplicate,
    };
    if outcome == PaymentOutcome::Success {
        t.payment_time = Some(now);
    }
    t.payment_id = payment_id;
    PaymentDecision::Apply {
        transition: t,
        outcome: result,
    }
}

/// The sweeper: an unpaid pending order past its deadline times out and releases its stock.
/// `None` when the order is not (or no longer) for the sweeper.
pub fn on_expiry(order: &Order, now: Timestamp) -> Option<Transition> {
    let s = order.state;
    if s.awaits_payment() && order.expires_at < now {
        let mut t = Transition::new(
            order,
            OrderState {
                status: OrderStatus::Timeout,
                ..s
            },
            now,
            EventType::TimedOut,
        );
        t.stock = StockEffect::Release;
        Some(t)
    } else {
        None
    }
}

/// What a consumer does with a message for `order`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumeDecision {
    /// Claim it: 1/success → 2, then do the work.
    Start(Transition),
    /// Already 2: a consumer crashed mid-processing (or is slow); do the work and finish it.
    Resume,
    /// Nothing to do (completed already, or not paid): acknowledge the message.
    Skip,
}

pub fn on_consume(order: &Order, now: Timestamp) -> ConsumeDecision {
    let s = order.state;
    if s.awaits_processing() {
        ConsumeDecision::Start(Transition::new(
            order,
            OrderState {
                status: OrderStatus::Processing,
                ..s
            },
            now,
            EventType::Processing,
        ))
    } else if s.status == OrderStatus::Processing {
        ConsumeDecision::Resume
    } else {
        ConsumeDecision::Skip
    }
}

/// The end of processing: 2 → 3, the locked stock is sold. `None` if not in 2.
pub fn on_processed(order: &Order, now: Timestamp) -> Option<Transition> {
    (order.state.status == OrderStatus::Processing).then(|| {
        let mut t = Transition::new(
            order,
            OrderState {
                status: OrderStatus::Completed,
                ..order.state
            },
            now,
            EventType::Completed,
        );
        t.stock = StockEffect::Sell;
        t
    })
}

/// What `POST /refund/{orderId}` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundDecision {
    /// none → initiated.
    Initiate(Transition),
    /// A refund was already started (or finished): answer with the current state.
    AlreadyRequested,
    /// No successful payment to give back.
    NotRefundable,
}

pub fn on_refund_request(order: &Order, now: Timestamp) -> RefundDecision {
    let s = order.state;
    match (s.payment, s.refund) {
        (PaymentStatus::Success, RefundStatus::None) => RefundDecision::Initiate(Transition::new(
            order,
            OrderState {
                refund: RefundStatus::Initiated,
                ..s
            },
            now,
            EventType::RefundRequested,
        )),
        (PaymentStatus::Success, _) => RefundDecision::AlreadyRequested,
        _ => RefundDecision::NotRefundable,
    }
}

/// The refund gateway confirmed: initiated → completed. `None` if not initiated.
pub fn on_refund_completed(order: &Order, now: Timestamp) -> Option<Transition> {
    (order.state.refund == RefundStatus::Initiated).then(|| {
        Transition::new(
            order,
            OrderState {
                refund: RefundStatus::Completed,
                ..order.state
            },
            now,
            EventType::RefundCompleted,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ProductId, Quantity, UserId};
    use OrderStatus::*;
    use PaymentOutcome as Pay;

    const CREATED: i64 = 1_000_000;
    const THIRTY_MIN: i64 = 30 * 60 * 1000;
    const DEADLINE: Timestamp = Timestamp::from_millis(CREATED + THIRTY_MIN);

    fn order(status: OrderStatus, payment: PaymentStatus, refund: RefundStatus) -> Order {
        Order {
            id: OrderId::new_random(),
            user_id: UserId::parse("u1").unwrap(),
            lines: Lines::one(ProductId::parse("p1").unwrap(), Quantity::new(3).unwrap()),
            state: OrderState {
                status,
                payment,
                refund,
            },
            payment_time: None,
            payment_id: None,
            created_at: Timestamp::from_millis(CREATED),
            updated_at: Timestamp::from_millis(CREATED),
            expires_at: DEADLINE,
            events: 1,
            resend: None,
        }
    }

    #[test]
    fn each_transition_names_its_event_and_its_messages() {
        let late = DEADLINE.plus(std::time::Duration::from_millis(1));
        let pay = |o: &Order, outcome, now| match on_payment(o, outcome, None, now) {
            PaymentDecision::Apply { transition, .. } => transition,
            PaymentDecision::Duplicate => panic!("duplicate"),
        };
        let paid = pay(&placed(), PaymentOutcome::Success, DEADLINE);
        assert_eq!((paid.event, paid.seq), (EventType::Paid, 2));
        assert_eq!(paid.messages().collect::<Vec<_>>(), [Topic::Orders]);
        let e = paid.history_event();
        assert_eq!(
            (e.seq, e.kind, e.state, e.payment_time),
            (2, EventType::Paid, paid.to, Some(DEADLINE))
        );

        let swept_late = pay(&placed(), PaymentOutcome::Success, late);
        assert_eq!(swept_late.event, EventType::PaidLate);
        assert_eq!(
            swept_late.to.status, Timeout,
            "one transition, one event, status 4"
        );
        assert_eq!(swept_late.messages().collect::<Vec<_>>(), [Topic::Refunds]);

        let failed = pay(&placed(), PaymentOutcome::Failed, DEADLINE);
        assert_eq!(failed.event, EventType::PaymentFailed);
        assert_eq!(failed.messages().count(), 0);

        let timed_out = on_expiry(&placed(), late).unwrap();
        assert_eq!(timed_out.event, EventType::TimedOut);
        let after = timed_out.applied_to(&placed());
        assert_eq!(after.events, 2);
        let refund = pay(&after, PaymentOutcome::Success, late);
        assert_eq!((refund.event, refund.seq), (EventType::PaidLate, 3));

        let waiting = paid.applied_to(&placed());
        let ConsumeDecision::Start(processing) = on_consume(&waiting, late) else {
            panic!("start")
        };
        assert_eq!(
            (processing.event, processing.seq),
            (EventType::Processing, 3)
        );
        assert_eq!(processing.messages().count(), 0);
        assert_eq!(
            processing.history_event().payment_time,
            Some(DEADLINE),
            "the event keeps the payment time set earlier"
        );
        let done = on_processed(&processing.applied_to(&waiting), late).unwrap();
        assert_eq!((done.event, done.seq), (EventType::Completed, 4));
        let RefundDecision::Initiate(asked) = on_refund_request(&waiting, late) else {
            panic!("refund")
        };
        assert_eq!(asked.event, EventType::RefundRequested);
        assert_eq!(asked.messages().collect::<Vec<_>>(), [Topic::Refunds]);
        let confirmed = on_refund_completed(&asked.applied_to(&waiting), late).unwrap();
        assert_eq!(confirmed.event, EventType::RefundCompleted);
    }

    fn placed() -> Order {
        order(Pending, PaymentStatus::Pending, RefundStatus::None)
    }

    fn at(offset_from_deadline: i64) -> Timestamp {
        Timestamp::from_millis(DEADLINE.as_millis() + offset_from_deadline)
    }

    fn applied(d: PaymentDecision) -> (Transition, WebhookOutcome) {
        match d {
            PaymentDecision::Apply {
                transition,
                outcome,
            } => (transition, outcome),
            PaymentDecision::Duplicate => panic!("expected a change, got duplicate"),
        }
    }

    #[test]
    fn payment_in_time_keeps_pending_and_enqueues_in_the_same_step() {
        let o = placed();
        let (t, outcome) = applied(on_payment(&o, Pay::Success, Some("pay_1".into()), at(-1)));
        assert_eq!(outcome, WebhookOutcome::Queued);
        assert_eq!(t.from, o.state);
        assert_eq!(t.to.status, Pending);
        assert_eq!(t.to.payment, PaymentStatus::Success);
        assert_eq!(t.to.refund, RefundStatus::None);
        assert!(t.enqueues());
        assert_eq!(t.stock, StockEffect::None);
        assert_eq!(t.payment_time, Some(at(-1)));
        assert_eq!(t.payment_id.as_deref(), Some("pay_1"));
        assert!(!t.initiates_refund());
    }

    #[test]
    fn payment_exactly_at_the_deadline_is_in_time() {
        let (_, outcome) = applied(on_payment(&placed(), Pay::Success, None, at(0)));
        assert_eq!(outcome, WebhookOutcome::Queued);
    }

    #[test]
    fn payment_after_the_deadline_before_the_sweep_times_out_and_refunds() {
        let o = placed();
        let (t, outcome) = applied(on_payment(&o, Pay::Success, None, at(1)));
        assert_eq!(outcome, WebhookOutcome::RefundInitiated);
        assert_eq!(t.to.status, Timeout);
        assert_eq!(t.to.payment, PaymentStatus::Success);
        assert_eq!(t.to.refund, RefundStatus::Initiated);
        assert_eq!(t.stock, StockEffect::Release);
        assert!(!t.enqueues());
        assert!(t.initiates_refund());
        assert_eq!(t.payment_time, Some(at(1)));
    }

    #[test]
    fn payment_failure_fails_the_order_and_releases_stock_even_after_the_deadline() {
        for now in [at(-1), at(THIRTY_MIN)] {
            let (t, outcome) = applied(on_payment(&placed(), Pay::Failed, None, now));
            assert_eq!(outcome, WebhookOutcome::Failed);
            assert_eq!(t.to.status, Failed);
            assert_eq!(t.to.payment, PaymentStatus::Failed);
            assert_eq!(t.stock, StockEffect::Release);
            assert_eq!(t.payment_time, None, "a failure is not a payment");
            assert!(!t.enqueues());
        }
    }

    #[test]
    fn success_on_a_timed_out_or_failed_order_refunds_and_keeps_the_status() {
        for o in [
            order(Timeout, PaymentStatus::Pending, RefundStatus::None),
            order(Failed, PaymentStatus::Failed, RefundStatus::None),
        ] {
            let (t, outcome) = applied(on_payment(&o, Pay::Success, None, at(5)));
            assert_eq!(outcome, WebhookOutcome::RefundInitiated);
            assert_eq!(t.to.status, o.state.status);
            assert_eq!(t.to.payment, PaymentStatus::Success);
            assert_eq!(t.to.refund, RefundStatus::Initiated);
            assert_eq!(t.stock, StockEffect::None, "stock was already released");
            assert_eq!(t.payment_time, Some(at(5)));
        }
    }

    #[test]
    fn repeats_and_superseded_payments_are_duplicates() {
        use PaymentStatus as P;
        use RefundStatus as R;
        let cases = [
            (order(Pending, P::Success, R::None), Pay::Success),
            (order(Pending, P::Success, R::None), Pay::Failed),
            (order(Processing, P::Success, R::None), Pay::Success),
            (order(Processing, P::Success, R::None), Pay::Failed),
            (order(Completed, P::Success, R::None), Pay::Success),
            (order(Completed, P::Success, R::None), Pay::Failed),
            (order(Timeout, P::Pending, R::None), Pay::Failed),
            (order(Timeout, P::Success, R::Initiated), Pay::Success),
            (order(Timeout, P::Success, R::Completed), Pay::Success),
            (order(Failed, P::Failed, R::None), Pay::Failed),
            (order(Failed, P::Success, R::Initiated), Pay::Success),
            (order(Failed, P::Success, R::Completed), Pay::Failed),
        ];
        for (o, pay) in cases {
            assert_eq!(
                on_payment(&o, pay, None, at(-1)),
                PaymentDecision::Duplicate,
                "{:?} on {:?}",
                pay,
                o.state
            );
        }
    }

    #[test]
    fn the_sweeper_times_out_only_unpaid_pending_orders_past_the_deadline() {
        let t = on_expiry(&placed(), at(1)).expect("expired");
        assert_eq!(t.to.status, Timeout);
        assert_eq!(t.to.payment, PaymentStatus::Pending);
        assert_eq!(t.stock, StockEffect::Release);
        assert!(!t.initiates_refund());

        // Not yet: the deadline itself is still in time.
        assert_eq!(on_expiry(&placed(), at(0)), None);
        // Paid and waiting in the queue: the consumer's, not the sweeper's.
        let paid = order(Pending, PaymentStatus::Success, RefundStatus::None);
        assert_eq!(on_expiry(&paid, at(THIRTY_MIN)), None);
        for s in [Processing, Completed, Timeout, Failed] {
            assert_eq!(
                on_expiry(&order(s, PaymentStatus::Pending, RefundStatus::None), at(1)),
                None
            );
        }
    }

    #[test]
    fn the_consumer_claims_paid_orders_resumes_processing_ones_and_skips_the_rest() {
        let paid = order(Pending, PaymentStatus::Success, RefundStatus::None);
        match on_consume(&paid, at(-1)) {
            ConsumeDecision::Start(t) => {
                assert_eq!(t.from, paid.state);
                assert_eq!(t.to.status, Processing);
                assert_eq!(t.stock, StockEffect::None);
            }
            other => panic!("expected start, got {other:?}"),
        }
        let processing = order(Processing, PaymentStatus::Success, RefundStatus::None);
        assert_eq!(on_consume(&processing, at(0)), ConsumeDecision::Resume);
        for o in [
            placed(),
            order(Completed, PaymentStatus::Success, RefundStatus::None),
            order(Timeout, PaymentStatus::Success, RefundStatus::Initiated),
            order(Failed, PaymentStatus::Failed, RefundStatus::None),
        ] {
            assert_eq!(
                on_consume(&o, at(0)),
                ConsumeDecision::Skip,
                "{:?}",
                o.state
            );
        }
    }

    #[test]
    fn processing_completes_and_sells_the_locked_stock() {
        let processing = order(Processing, PaymentStatus::Success, RefundStatus::None);
        let t = on_processed(&processing, at(0)).expect("completes");
        assert_eq!(t.to.status, Completed);
        assert_eq!(t.stock, StockEffect::Sell);
        assert_eq!(
            on_processed(
                &order(Completed, PaymentStatus::Success, RefundStatus::None),
                at(0)
            ),
            None
        );
        assert_eq!(on_processed(&placed(), at(0)), None);
    }

    #[test]
    fn a_refund_needs_a_successful_payment_and_starts_once() {
        let completed = order(Completed, PaymentStatus::Success, RefundStatus::None);
        match on_refund_request(&completed, at(0)) {
            RefundDecision::Initiate(t) => {
                assert_eq!(
                    t.to.status, Completed,
                    "a refund does not change the status"
                );
                assert_eq!(t.to.refund, RefundStatus::Initiated);
                assert_eq!(t.stock, StockEffect::None);
                assert!(t.initiates_refund());
            }
            other => panic!("expected initiate, got {other:?}"),
        }
        for refund in [RefundStatus::Initiated, RefundStatus::Completed] {
            let o = order(Timeout, PaymentStatus::Success, refund);
            assert_eq!(
                on_refund_request(&o, at(0)),
                RefundDecision::AlreadyRequested
            );
        }
        for o in [
            placed(),
            order(Failed, PaymentStatus::Failed, RefundStatus::None),
        ] {
            assert_eq!(on_refund_request(&o, at(0)), RefundDecision::NotRefundable);
        }
    }

    #[test]
    fn a_refund_completes_only_from_initiated() {
        let o = order(Timeout, PaymentStatus::Success, RefundStatus::Initiated);
        let t = on_refund_completed(&o, at(0)).expect("completes");
        assert_eq!(t.to.refund, RefundStatus::Completed);
        assert_eq!(t.to.status, Timeout);
        let done = order(Timeout, PaymentStatus::Success, RefundStatus::Completed);
        assert_eq!(on_refund_completed(&done, at(0)), None);
        assert_eq!(on_refund_completed(&placed(), at(0)), None);
    }

    #[test]
    fn applying_a_transition_sets_state_time_and_payment() {
        let o = placed();
        let (t, _) = applied(on_payment(&o, Pay::Success, Some("pay_9".into()), at(-5)));
        let next = t.applied_to(&o);
        assert_eq!(next.state, t.to);
        assert_eq!(next.updated_at, at(-5));
        assert_eq!(next.payment_time, Some(at(-5)));
        assert_eq!(next.payment_id.as_deref(), Some("pay_9"));
        assert_eq!(next.created_at, o.created_at);
    }

    /// Every transition any rule can make, from every state, in time and late.
    fn every_transition() -> Vec<Transition> {
        let mut all = Vec::new();
        for s in OrderState::all() {
            let o = order(s.status, s.payment, s.refund);
            for now in [at(-1), at(1)] {
                for outcome in [Pay::Success, Pay::Failed] {
                    if let PaymentDecision::Apply { transition, .. } =
                        on_payment(&o, outcome, None, now)
                    {
                        all.push(transition);
                    }
                }
                all.extend(on_expiry(&o, now));
                if let ConsumeDecision::Start(t) = on_consume(&o, now) {
                    all.push(t);
                }
                all.extend(on_processed(&o, now));
                if let RefundDecision::Initiate(t) = on_refund_request(&o, now) {
                    all.push(t);
                }
                all.extend(on_refund_completed(&o, now));
            }
        }
        all
    }

    #[test]
    fn an_order_that_waits_for_a_message_is_scheduled_to_be_looked_at_again() {
        for t in every_transition() {
            assert_eq!(t.resend.is_some(), t.to.awaits_message(), "{:?}", t.to);
            if let Some(r) = t.resend {
                assert_eq!(r, Resend::first(t.at, RESEND_AFTER));
                let sooner = t.clone().resend_after(std::time::Duration::from_secs(1));
                assert_eq!(
                    sooner.resend.unwrap().due_at,
                    t.at.plus(std::time::Duration::from_secs(1))
                );
            }
            // Every message a transition sends is one its new state waits on.
            let awaited: Vec<_> = awaited_topics(t.to).collect();
            assert!(t.messages().all(|m| awaited.contains(&m)), "{:?}", t.to);
        }
        let topics = |status, payment, refund| {
            awaited_topics(OrderState {
                status,
                payment,
                refund,
            })
            .collect::<Vec<_>>()
        };
        use PaymentStatus as P;
        assert_eq!(
            topics(Pending, P::Success, RefundStatus::None),
            [Topic::Orders]
        );
        assert_eq!(
            topics(Processing, P::Success, RefundStatus::None),
            [Topic::Orders]
        );
        assert_eq!(
            topics(Pending, P::Success, RefundStatus::Initiated),
            [Topic::Orders, Topic::Refunds]
        );
        assert_eq!(
            topics(Timeout, P::Success, RefundStatus::Initiated),
            [Topic::Refunds]
        );
        assert!(topics(Completed, P::Success, RefundStatus::Completed).is_empty());
        assert!(topics(Pending, P::Pending, RefundStatus::None).is_empty());
    }

    #[test]
    fn allowance_goes_back_exactly_when_stock_is_released() {
        let all = every_transition();
        assert!(all.iter().any(Transition::returns_allowance));
        for t in all {
            assert_eq!(
                t.returns_allowance(),
                t.stock == StockEffect::Release,
                "{:?} -> {:?}",
                t.from,
                t.to
            );
            // Stock is released or sold only by an order that holds it (I1).
            if t.stock != StockEffect::None {
                assert!(t.from.status.holds_stock() && !t.to.status.holds_stock());
            }
        }
    }
}
