//! The order domain: values, the order, and the rules of its lifecycle.

pub mod cart;
pub mod events;
pub mod ids;
pub mod lifecycle;
pub mod notify;
pub mod order;
pub mod time;

pub use cart::{
    Available, Draw, LimitChange, Line, Lines, MAX_LINES, MaxPerUser, Refusal, RefusalKind,
    StockShards, check_cart,
};
pub use events::{EventSource, EventType, OrderEvent};
pub use ids::{IdempotencyKey, InvalidValue, OrderId, ProductId, Quantity, StockCount, UserId};
pub use order::{Order, OrderState, OrderStatus, PaymentStatus, Product, RefundStatus, Resend};
pub use time::Timestamp;
