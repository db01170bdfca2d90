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

/// The rule every user and product id follows: a non-empty string of at most 128
/// characters, none of them a control character (`char::is_control`: U+0000..=U+001F and
/// U+007F..=U+009F). `what` names the field in the error message.
fn check_id(what: &str, s: String) -> Result<String, InvalidValue> {
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
    Ok(s)
}

/// A string id of its own type, so that a user id cannot be passed where a product id is
/// meant; both follow [`check_id`].
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            #[doc = concat!("A `", $field, "` within the contract's rules.")]
            ///
            /// # Errors
            /// When it is empty, longer than 128 characters or holds a control character;
            /// the message names the field.
            pub fn parse(s: impl Into<String>) -> Result<Self, InvalidValue> {
                check_id($field, s.into()).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A customer, as the shop names them (`userId`).
    UserId,
    "userId"
);
string_id!(
    /// A product, as the shop names it (`productId`).
    ProductId,
    "productId"
);

/// An order id: a UUID, made by the service when the order is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderId(Uuid);

impl OrderId {
    /// A new id: a UUIDv7, whose first bits are the creation time, so that the ids a
    /// store indexes arrive in order and an insert touches the index's last pages rather
    /// than a random one each (the contract asks only for a UUID). Not a clock for any
    /// rule: deadlines come from the injected clock.
    pub fn new_random() -> Self {
        Self(Uuid::now_v7())
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
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse("a".repeat(128)).is_ok());
        assert!(UserId::parse("a".repeat(129)).is_err());
        // Characters, not bytes: 128 two-byte characters are fine.
        assert!(UserId::parse("é".repeat(128)).is_ok());
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
            assert!(UserId::parse(bad).is_err(), "{bad:?}");
        }
        // Just outside the control ranges, and other whitespace, are fine.
        for good in ["a b", "\u{a0}", "\u{20}", "~", "\u{2028}", "日本"] {
            assert!(UserId::parse(good).is_ok(), "{good:?}");
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
