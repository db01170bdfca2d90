//! An order's lines, the per-customer limit, and the one rule that decides whether a cart
//! can be placed and, when not, which products are to blame.
//!
//! Both stores ask [`check_cart`]: SQLite inside its placing transaction, where what it
//! read cannot change before it writes; DynamoDB before its transaction (a refusal then
//! costs no write) and again after a cancelled one, to say which products caused it.

use std::collections::HashSet;

use super::{InvalidValue, ProductId, Quantity};

/// Most lines one order may have.
pub const MAX_LINES: usize = 50;

/// One line of an order: a product and how many units.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Line {
    pub product_id: ProductId,
    pub quantity: Quantity,
    /// Whether these units count toward the customer's allowance for the product: true
    /// when the product had a `maxPerUser` when the order was placed. Releasing the line
    /// gives back exactly what placing took, whatever the limit is by then.
    pub limited: bool,
    /// Where the store took the units from, when it keeps a product's stock in several
    /// places (DynamoDB spreads a busy product over shards); empty: the product's one
    /// stock. Giving the units back and selling them go to the same places.
    pub drawn: Vec<Draw>,
}

/// Units of a line taken from one of the places a store keeps a product's stock in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Draw {
    pub shard: u32,
    pub units: i64,
}

impl Line {
    pub fn new(product_id: ProductId, quantity: Quantity) -> Self {
        Self {
            product_id,
            quantity,
            limited: false,
            drawn: Vec::new(),
        }
    }

    /// Where the line's units are held: the places the store drew them from, or all of
    /// them in the product's one place (shard 0) when it recorded none.
    pub fn draws(&self) -> impl Iterator<Item = Draw> + '_ {
        let whole = self.drawn.is_empty().then_some(Draw {
            shard: 0,
            units: self.quantity.get(),
        });
        self.drawn.iter().copied().chain(whole)
    }
}

/// An order's lines: 1 to [`MAX_LINES`], each a distinct product, in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lines(Vec<Line>);

impl Lines {
    /// # Errors
    /// No lines, more than [`MAX_LINES`], or a product named twice; the message says which.
    pub fn new(lines: Vec<Line>) -> Result<Self, InvalidValue> {
        if lines.is_empty() {
            return Err(InvalidValue("items must hold at least one line".into()));
        }
        if lines.len() > MAX_LINES {
            return Err(InvalidValue(format!(
                "items must hold at most {MAX_LINES} lines"
            )));
        }
        let mut seen = HashSet::with_capacity(lines.len());
        if let Some(twice) = lines.iter().find(|l| !seen.insert(&l.product_id)) {
            return Err(InvalidValue(format!(
                "items name product {:?} more than once; give it one line with the total quantity",
                twice.product_id.as_str()
            )));
        }
        Ok(Self(lines))
    }

    /// A one-line cart: the single-product form of `POST /order`.
    pub fn one(product_id: ProductId, quantity: Quantity) -> Self {
        Self(vec![Line::new(product_id, quantity)])
    }

    /// The line, when there is exactly one (the API then also shows it as `productId` and
    /// `quantity`).
    pub fn single(&self) -> Option<&Line> {
        match self.0.as_slice() {
            [line] => Some(line),
            _ => None,
        }
    }

    /// The lines whose units count toward the customer's allowance.
    pub fn limited(&self) -> impl Iterator<Item = &Line> {
        self.0.iter().filter(|l| l.limited)
    }
}

impl std::ops::Deref for Lines {
    type Target = [Line];
    fn deref(&self) -> &[Line] {
        &self.0
    }
}

/// A per-customer limit on a product (`maxPerUser`): 1..=10^6 units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MaxPerUser(i64);

impl MaxPerUser {
    pub const MAX: i64 = 1_000_000;

    /// # Errors
    /// Outside 1..=10^6.
    pub fn new(n: i64) -> Result<Self, InvalidValue> {
        if (1..=Self::MAX).contains(&n) {
            Ok(Self(n))
        } else {
            Err(InvalidValue(format!(
                "maxPerUser must be an integer from 1 to {} (or null for no limit)",
                Self::MAX
            )))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// Over how many places a store spreads a product's available stock (`shards` of
/// `PUT /inventory/{id}`): 1 to [`StockShards::MAX`]. DynamoDB keeps each on an item of its
/// own, so that a flash sale's writes are not capped by one partition; a store with one
/// row per product (SQLite) has no use for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StockShards(u32);

impl StockShards {
    /// A line may draw from every shard of its product, and a cart's draws share one
    /// DynamoDB transaction of at most 100 items.
    pub const MAX: u32 = 32;
    pub const ONE: Self = Self(1);

    /// # Errors
    /// Outside 1..=[`Self::MAX`].
    pub fn new(n: i64) -> Result<Self, InvalidValue> {
        match u32::try_from(n) {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(InvalidValue(format!(
                "shards must be an integer from 1 to {}",
                Self::MAX
            ))),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// What `PUT /inventory/{id}` does to a product's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LimitChange {
    /// `maxPerUser` absent: the product keeps its limit (none for a new product).
    #[default]
    Keep,
    Set(MaxPerUser),
    /// `maxPerUser: null`.
    Remove,
}

impl LimitChange {
    /// The limit once the change is applied to `current`.
    pub fn applied_to(self, current: Option<MaxPerUser>) -> Option<MaxPerUser> {
        match self {
            Self::Keep => current,
            Self::Set(m) => Some(m),
            Self::Remove => None,
        }
    }
}

/// A product as placing sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Available {
    pub stock_count: i64,
    pub max_per_user: Option<MaxPerUser>,
}

/// Why a cart cannot be placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    ProductNotFound,
    LimitExceeded,
    OutOfStock,
}

/// A cart refused, naming every product that caused it (in the cart's order).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?}: {products:?}")]
pub struct Refusal {
    pub kind: RefusalKind,
    pub products: Vec<ProductId>,
}

/// Whether `lines` can be placed for a customer, given what each product has
/// (`product`: `None` when it does not exist) and the units the customer already holds of
/// it in orders that count toward a limit (`held`, asked only for limited products).
///
/// When it can, the lines are returned with [`Line::limited`] set for the products that
/// have a limit: those are the units the store adds to the customer's allowance. When it
/// cannot, one kind of refusal is returned, naming every line of that kind: unknown products
/// first (the cart is wrong), then limits (no amount of waiting helps), then stock.
///
/// # Errors
/// The [`Refusal`].
pub fn check_cart(
    lines: &Lines,
    mut product: impl FnMut(&ProductId) -> Option<Available>,
    mut held: impl FnMut(&ProductId) -> i64,
) -> Result<Lines, Refusal> {
    let mut missing = Vec::new();
    let mut over_limit = Vec::new();
    let mut short = Vec::new();
    let mut out = Vec::with_capacity(lines.len());
    for line in lines.iter() {
        let q = line.quantity.get();
        let Some(p) = product(&line.product_id) else {
            missing.push(line.product_id.clone());
            continue;
        };
        if let Some(max) = p.max_per_user
            && held(&line.product_id) + q > max.get()
        {
            over_limit.push(line.product_id.clone());
        }
        if p.stock_count < q {
            short.push(line.product_id.clone());
        }
        out.push(Line {
            limited: p.max_per_user.is_some(),
            ..line.clone()
        });
    }
    let refuse = |kind, products| Err(Refusal { kind, products });
    if !missing.is_empty() {
        return refuse(RefusalKind::ProductNotFound, missing);
    }
    if !over_limit.is_empty() {
        return refuse(RefusalKind::LimitExceeded, over_limit);
    }
    if !short.is_empty() {
        return refuse(RefusalKind::OutOfStock, short);
    }
    Ok(Lines(out))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn pid(s: &str) -> ProductId {
        ProductId::parse(s).unwrap()
    }

    fn cart(lines: &[(&str, i64)]) -> Lines {
        Lines::new(
            lines
                .iter()
                .map(|(p, q)| Line::new(pid(p), Quantity::new(*q).unwrap()))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn a_line_is_held_where_it_was_drawn_from_or_whole_on_the_product() {
        let mut line = Line::new(pid("p"), Quantity::new(5).unwrap());
        assert_eq!(
            line.draws().collect::<Vec<_>>(),
            [Draw { shard: 0, units: 5 }]
        );
        line.drawn = vec![Draw { shard: 2, units: 3 }, Draw { shard: 5, units: 2 }];
        assert_eq!(line.draws().collect::<Vec<_>>(), line.drawn);
    }

    #[test]
    fn a_cart_has_one_to_fifty_distinct_lines() {
        let line = |p: &str| Line::new(pid(p), Quantity::default());
        assert!(Lines::new(vec![]).is_err());
        assert!(Lines::new((0..50).map(|i| line(&format!("p{i}"))).collect()).is_ok());
        assert!(Lines::new((0..51).map(|i| line(&format!("p{i}"))).collect()).is_err());
        let twice = Lines::new(vec![line("a"), line("b"), line("a")]).unwrap_err();
        assert!(twice.0.contains("\"a\""), "{twice}");
        assert_eq!(cart(&[("a", 2)]).single().unwrap().product_id, pid("a"));
        assert!(cart(&[("a", 2), ("b", 1)]).single().is_none());
    }

    #[test]
    fn limits_are_one_to_a_million_and_changes_keep_set_or_remove() {
        assert!(MaxPerUser::new(0).is_err());
        assert!(MaxPerUser::new(1_000_001).is_err());
        let three = MaxPerUser::new(3).unwrap();
        let one = MaxPerUser::new(1).unwrap();
        assert_eq!(LimitChange::Keep.applied_to(Some(three)), Some(three));
        assert_eq!(LimitChange::Keep.applied_to(None), None);
        assert_eq!(LimitChange::Set(one).applied_to(Some(three)), Some(one));
        assert_eq!(LimitChange::Remove.applied_to(Some(three)), None);
    }

    /// `check_cart` over a table of products and the units a customer holds.
    fn check(
        lines: &Lines,
        products: &[(&str, i64, Option<i64>)],
        held: &[(&str, i64)],
    ) -> Result<Lines, Refusal> {
        let products: HashMap<_, _> = products
            .iter()
            .map(|(p, stock, max)| {
                let max = max.map(|m| MaxPerUser::new(m).unwrap());
                (
                    pid(p),
                    Available {
                        stock_count: *stock,
                        max_per_user: max,
                    },
                )
            })
            .collect();
        let held: HashMap<_, _> = held.iter().map(|(p, n)| (pid(p), *n)).collect();
        check_cart(
            lines,
            |p| products.get(p).copied(),
            |p| held.get(p).copied().unwrap_or(0),
        )
    }

    fn refusal(kind: RefusalKind, products: &[&str]) -> Refusal {
        Refusal {
            kind,
            products: products.iter().map(|p| pid(p)).collect(),
        }
    }

    #[test]
    fn a_cart_passes_when_every_line_has_stock_and_room_under_its_limit() {
        let c = cart(&[("a", 2), ("b", 3)]);
        let ok = check(&c, &[("a", 2, None), ("b", 10, Some(5))], &[("b", 2)]).unwrap();
        let limited: Vec<_> = ok.iter().map(|l| l.limited).collect();
        assert_eq!(limited, [false, true], "only the limited product counts");
        assert_eq!(ok.len(), 2);
    }

    #[test]
    fn a_refusal_names_every_product_of_its_kind_unknown_then_limit_then_stock() {
        let c = cart(&[("a", 2), ("b", 3), ("c", 1), ("d", 1)]);
        let products = [("a", 1, None), ("b", 1, Some(3)), ("c", 0, Some(1))];
        assert_eq!(
            check(&c, &products, &[]),
            Err(refusal(RefusalKind::ProductNotFound, &["d"]))
        );
        let c = cart(&[("a", 2), ("b", 3), ("c", 1)]);
        assert_eq!(
            check(&c, &products, &[("b", 1), ("c", 1)]),
            Err(refusal(RefusalKind::LimitExceeded, &["b", "c"]))
        );
        assert_eq!(
            check(&c, &products, &[]),
            Err(refusal(RefusalKind::OutOfStock, &["a", "b", "c"]))
        );
    }

    #[test]
    fn the_limit_counts_what_the_customer_holds_plus_this_order() {
        let c = cart(&[("a", 2)]);
        let p = [("a", 100, Some(3))];
        assert!(check(&c, &p, &[("a", 1)]).is_ok(), "1 + 2 = 3 is allowed");
        assert_eq!(
            check(&c, &p, &[("a", 2)]),
            Err(refusal(RefusalKind::LimitExceeded, &["a"]))
        );
    }
}
