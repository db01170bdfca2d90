//! The order and the product as the contract defines them.

use super::{EventType, Lines, MaxPerUser, OrderEvent, OrderId, ProductId, Timestamp, UserId};

/// `orderStatus`: the numbers and names are part of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Placed, stock locked; payment not confirmed, or confirmed and waiting in the queue.
    Pending = 1,
    /// A queue consumer picked it up.
    Processing = 2,
    /// Processed; the locked stock is sold.
    Completed = 3,
    /// No successful payment before `expiresAt`; stock released.
    Timeout = 4,
    /// The payment gateway reported failure; stock released.
    Failed = 5,
}

impl OrderStatus {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Processing,
        Self::Completed,
        Self::Timeout,
        Self::Failed,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Timeout => "timeout",
            Self::Failed => "failed",
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|s| i64::from(s.code()) == code)
    }

    /// A status as a client may write it in a filter: its code (`"3"`) or its name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|st| st.name() == s || st.code().to_string() == s)
    }

    /// Whether stock of an order in this status is held (`lockedCount`), per invariant I1.
    pub fn holds_stock(self) -> bool {
        matches!(self, Self::Pending | Self::Processing)
    }

    /// Whether an order in this status counts toward its customer's per-product limit
    /// (invariant I6): placed, processing or completed; a timed-out or failed order gives
    /// its units back.
    pub fn counts_toward_limit(self) -> bool {
        matches!(self, Self::Pending | Self::Processing | Self::Completed)
    }
}

/// `paymentStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentStatus {
    Pending,
    Success,
    Failed,
}

impl PaymentStatus {
    pub const ALL: [Self; 3] = [Self::Pending, Self::Success, Self::Failed];

    pub fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Success => "success",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Success, Self::Failed]
            .into_iter()
            .find(|p| p.name() == s)
    }
}

/// `refundStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefundStatus {
    None,
    Initiated,
    Completed,
}

impl RefundStatus {
    pub const ALL: [Self; 3] = [Self::None, Self::Initiated, Self::Completed];

    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Initiated => "initiated",
            Self::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::None, Self::Initiated, Self::Completed]
            .into_iter()
            .find(|r| r.name() == s)
    }
}

/// The three fields every transition is conditioned on. A store applies a transition only
/// if the order's current state equals the transition's `from`, which is how races between
/// the webhook, the sweeper and the consumers are settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrderState {
    pub status: OrderStatus,
    pub payment: PaymentStatus,
    pub refund: RefundStatus,
}

impl OrderState {
    /// The state of a freshly placed order.
    pub const PLACED: Self = Self {
        status: OrderStatus::Pending,
        payment: PaymentStatus::Pending,
        refund: RefundStatus::None,
    };

    /// Every combination of the three fields (not all reachable), for adapters that turn a
    /// predicate below into their own terms by asking it about each state.
    pub fn all() -> impl Iterator<Item = Self> {
        OrderStatus::ALL.into_iter().flat_map(|status| {
            PaymentStatus::ALL.into_iter().flat_map(move |payment| {
                RefundStatus::ALL.into_iter().map(move |refund| Self {
                    status,
                    payment,
                    refund,
                })
            })
        })
    }

    // The work lists an order can be on, said once: the lifecycle rules, the messages a
    // transition starts and the UI's countdown all ask these.

    /// Placed and not yet paid: the sweeper's list (by deadline).
    pub fn awaits_payment(self) -> bool {
        self.status == OrderStatus::Pending && self.payment == PaymentStatus::Pending
    }

    /// Paid in time and waiting for a consumer: the orders queue's list.
    pub fn awaits_processing(self) -> bool {
        self.status == OrderStatus::Pending && self.payment == PaymentStatus::Success
    }

    /// A refund was started and the gateway has not confirmed it: the refunds queue's list.
    pub fn refund_in_progress(self) -> bool {
        self.refund == RefundStatus::Initiated
    }

    /// Waiting for a queue to act on it: paid and waiting for the consumer, being processed
    /// (a consumer holds it, under a lease), or refund initiated. If its message is lost or
    /// dead-lettered, nothing but the sweeper's re-send moves it on.
    pub fn awaits_message(self) -> bool {
        self.awaits_processing()
            || self.status == OrderStatus::Processing
            || self.refund_in_progress()
    }
}

/// When an order that waits for a message ([`OrderState::awaits_message`]) is looked at
/// again: `sent_at` is when its message was last sent (or its processing lease began), and
/// by `due_at` it should have moved on; if it has not, its message is sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resend {
    pub sent_at: Timestamp,
    pub due_at: Timestamp,
}

impl Resend {
    /// Longest wait between two re-sends of one order: a message that keeps failing (a
    /// dead-lettered one) is sent again at most this often, not on every sweep.
    pub const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(3600);

    /// A message sent at `at`, looked at again `after` it.
    pub fn first(at: Timestamp, after: std::time::Duration) -> Self {
        Self {
            sent_at: at,
            due_at: at.plus(after),
        }
    }

    /// Sent again at `now`: the next wait is twice the last one, at most [`Self::MAX_WAIT`].
    pub fn next(self, now: Timestamp) -> Self {
        let last = (self.due_at.as_millis() - self.sent_at.as_millis()).max(1);
        let wait = last
            .saturating_mul(2)
            .min(Self::MAX_WAIT.as_millis() as i64);
        Self {
            sent_at: now,
            due_at: Timestamp::from_millis(now.as_millis().saturating_add(wait)),
        }
    }
}

/// An order: the fields of the contract's "full order object", and how many events its
/// history holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub user_id: UserId,
    pub lines: Lines,
    pub state: OrderState,
    pub payment_time: Option<Timestamp>,
    pub payment_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub expires_at: Timestamp,
    /// The `seq` of its last history event (1 once placed).
    pub events: u32,
    /// Set while the order waits for a message ([`OrderState::awaits_message`]).
    pub resend: Option<Resend>,
}

impl Order {
    /// The first event of a newly placed order's history.
    pub fn placed_event(&self) -> OrderEvent {
        OrderEvent {
            order_id: self.id,
            seq: 1,
            at: self.created_at,
            kind: EventType::Placed,
            state: self.state,
            payment_time: self.payment_time,
            payment_id: self.payment_id.clone(),
        }
    }
}

/// A product's inventory: `stockCount` is available, `lockedCount` is held by orders in 1-2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub product_id: ProductId,
    pub stock_count: i64,
    pub locked_count: i64,
    /// The most units one customer may hold in orders that count toward it; `None`: no limit.
    pub max_per_user: Option<MaxPerUser>,
}

impl Product {
    /// What placing a cart needs to know of it ([`super::check_cart`]).
    pub fn available(&self) -> super::Available {
        super::Available {
            stock_count: self.stock_count,
            max_per_user: self.max_per_user,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_have_the_contract_codes_and_names() {
        let got: Vec<_> = OrderStatus::ALL
            .iter()
            .map(|s| (s.code(), s.name()))
            .collect();
        assert_eq!(
            got,
            [
                (1, "pending"),
                (2, "processing"),
                (3, "completed"),
                (4, "timeout"),
                (5, "failed")
            ]
        );
    }

    #[test]
    fn a_status_filter_accepts_code_or_name() {
        assert_eq!(OrderStatus::parse("3"), Some(OrderStatus::Completed));
        assert_eq!(OrderStatus::parse("timeout"), Some(OrderStatus::Timeout));
        assert_eq!(OrderStatus::parse("6"), None);
        assert_eq!(OrderStatus::parse("Pending"), None);
        assert_eq!(OrderStatus::from_code(5), Some(OrderStatus::Failed));
        assert_eq!(OrderStatus::from_code(0), None);
    }

    #[test]
    fn only_pending_and_processing_hold_stock() {
        let holding: Vec<_> = OrderStatus::ALL
            .into_iter()
            .filter(|s| s.holds_stock())
            .collect();
        assert_eq!(holding, [OrderStatus::Pending, OrderStatus::Processing]);
    }

    #[test]
    fn re_sends_back_off_to_an_hour() {
        let t0 = Timestamp::from_millis(1_000_000);
        let r = Resend::first(t0, std::time::Duration::from_secs(120));
        assert_eq!(r.due_at.as_millis() - r.sent_at.as_millis(), 120_000);
        let later = t0.plus(std::time::Duration::from_secs(130));
        let r2 = r.next(later);
        assert_eq!(
            (r2.sent_at, r2.due_at.as_millis() - later.as_millis()),
            (later, 240_000)
        );
        let mut r = r2;
        for _ in 0..20 {
            r = r.next(r.due_at);
        }
        assert_eq!(r.due_at.as_millis() - r.sent_at.as_millis(), 3_600_000);
    }

    #[test]
    fn the_states_that_wait_for_a_message() {
        let waiting: Vec<_> = OrderState::all().filter(|s| s.awaits_message()).collect();
        assert!(waiting.iter().all(|s| {
            s.awaits_processing() || s.status == OrderStatus::Processing || s.refund_in_progress()
        }));
        assert!(!OrderState::PLACED.awaits_message());
    }

    #[test]
    fn pending_processing_and_completed_count_toward_a_limit() {
        let counting: Vec<_> = OrderStatus::ALL
            .into_iter()
            .filter(|s| s.counts_toward_limit())
            .collect();
        assert_eq!(
            counting,
            [
                OrderStatus::Pending,
                OrderStatus::Processing,
                OrderStatus::Completed
            ]
        );
    }
}
