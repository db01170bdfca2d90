//! Validated values: once one of these exists, it is within the contract's ranges.
//!
//! Inbound adapters build them with `TryFrom`/`parse` at the edge, so the service and the
//! stores never see an empty id or a quantity of zero.

use std::fmt;

use uuid::Uuid;

/// A value outside the contract's range; the message is safe to show to a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// Longest id the contract allows, in characters.
pub const MAX_ID_CHARS: usize = 128;

/// A user or product id: a non-empty string of at most 128 characters, none of them a
/// control character (`char::is_control`: U+0000..=U+001F and U+007F..=U+009F).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(String);

impl Id {
    /// `what` names the field in the error message (`userId`, `productId`).
    pub fn parse(what: &str, s: impl Into<String>) -> Result<Self, InvalidValue> {
        let s = s.into();
        if s.is_empty() {
            return Err(InvalidValue(format!("{what} must not be empty")));
        }
        if s.chars().count() > MAX_ID_CHARS {
            return Err(InvalidValue(format!(
                "{what} must be at most {MAX_ID_CHARS} characters"
            )));
        }
        if s.chars().any(char::is_control) {
            return Err(InvalidValue(format!(
                "{what} must not contain control characters"
            )));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub type UserId = Id;
pub type ProductId = Id;

/// An order id: a UUID, made by the service when the order is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderId(Uuid);

impl OrderId {
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }

    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        // Only the hyphenated form the service hands out: a client that sends braces or
        // a URN has not used an id it was given.
        if s.len() != 36 {
            return Err(InvalidValue("orderId must be a UUID".into()));
        }
        Uuid::try_parse(s)
            .map(Self)
            .map_err(|_| InvalidValue("orderId must be a UUID".into()))
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

/// Units in one order: 1..=1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quantity(u32);

impl Quantity {
    pub const MIN: i64 = 1;
    pub const MAX: i64 = 1000;

    pub fn new(q: i64) -> Result<Self, InvalidValue> {
        if (Self::MIN..=Self::MAX).contains(&q) {
            Ok(Self(q as u32))
        } else {
            Err(InvalidValue(format!(
                "quantity must be an integer from {} to {}",
                Self::MIN,
                Self::MAX
            )))
        }
    }

    pub fn get(self) -> i64 {
        i64::from(self.0)
    }
}

impl Default for Quantity {
    /// The contract's default when a request leaves `quantity` out.
    fn default() -> Self {
        Self(1)
    }
}

/// Available units a product may be set to: 0..=10^12.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockCount(i64);

impl StockCount {
    pub const MAX: i64 = 1_000_000_000_000;

    pub fn new(n: i64) -> Result<Self, InvalidValue> {
        if (0..=Self::MAX).contains(&n) {
            Ok(Self(n))
        } else {
            Err(InvalidValue(format!(
                "stockCount must be an integer from 0 to {}",
                Self::MAX
            )))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// A client's `Idempotency-Key`: 1..=255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;

    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let ok =
            !s.is_empty() && s.len() <= Self::MAX_LEN && s.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue(format!(
                "Idempotency-Key must be 1 to {} visible ASCII characters",
                Self::MAX_LEN
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_non_empty_and_at_most_128_chars() {
        assert!(Id::parse("userId", "").is_err());
        assert!(Id::parse("userId", "a".repeat(128)).is_ok());
        assert!(Id::parse("userId", "a".repeat(129)).is_err());
        // Characters, not bytes: 128 two-byte characters are fine.
        assert!(Id::parse("userId", "é".repeat(128)).is_ok());
    }

    #[test]
    fn ids_must_not_contain_control_characters() {
        for bad in [
            "a\u{0}b",
            "tab\there",
            "line\n",
            "del\u{7f}",
            "c1\u{85}",
            "\u{9f}",
        ] {
            assert!(Id::parse("userId", bad).is_err(), "{bad:?}");
        }
        // Just outside the control ranges, and other whitespace, are fine.
        for good in ["a b", "\u{a0}", "\u{20}", "~", "\u{2028}", "日本"] {
            assert!(Id::parse("userId", good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn quantity_is_one_to_a_thousand() {
        assert!(Quantity::new(0).is_err());
        assert!(Quantity::new(-1).is_err());
        assert_eq!(Quantity::new(1).unwrap().get(), 1);
        assert_eq!(Quantity::new(1000).unwrap().get(), 1000);
        assert!(Quantity::new(1001).is_err());
        assert_eq!(Quantity::default().get(), 1);
    }

    #[test]
    fn stock_count_is_zero_to_ten_to_the_twelfth() {
        assert!(StockCount::new(-1).is_err());
        assert!(StockCount::new(0).is_ok());
        assert!(StockCount::new(1_000_000_000_000).is_ok());
        assert!(StockCount::new(1_000_000_000_001).is_err());
    }

    #[test]
    fn order_ids_are_hyphenated_uuids() {
        let id = OrderId::new_random();
        assert_eq!(OrderId::parse(&id.to_string()).unwrap(), id);
        assert!(OrderId::parse("not-a-uuid").is_err());
        assert!(OrderId::parse(&id.as_uuid().simple().to_string()).is_err());
    }

    #[test]
    fn idempotency_keys_are_visible_ascii() {
        assert!(IdempotencyKey::parse("abc-123").is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    }
}
