//! Placing, reading and listing orders; setting and reading stock.

use crate::domain::{
    IdempotencyKey, LimitChange, Lines, Order, OrderEvent, OrderId, OrderState, Product, ProductId,
    StockCount, StockShards, UserId,
};
use crate::error::Error;
use crate::ports::{IdempotencyRecord, NewOrder, OrderPage, OrderQuery, Placed};

use super::OrderService;

/// A validated `POST /order`: the single-product form is a one-line cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceOrder {
    pub user_id: UserId,
    pub lines: Lines,
}

impl OrderService {
    /// Place an order and lock its stock in one atomic step. With an idempotency key, a
    /// repeat of the same request returns the order the first one made, and locks nothing.
    ///
    /// # Errors
    /// `Refused` (unknown products, a limit, stock), `IdempotencyMismatch`, `Internal`.
    pub async fn place_order(
        &self,
        req: PlaceOrder,
        key: Option<IdempotencyKey>,
    ) -> Result<Order, Error> {
        let now = self.clock.now();
        let idempotency = key.map(|key| IdempotencyRecord {
            key,
            fingerprint: fingerprint(&req),
        });
        let order = Order {
            id: OrderId::new_random(),
            user_id: req.user_id,
            lines: req.lines,
            state: OrderState::PLACED,
            payment_time: None,
            payment_id: None,
            created_at: now,
            updated_at: now,
            expires_at: now.plus(self.settings.payment_timeout),
            events: 1,
            resend: None,
        };
        let placed = self
            .store
            .place_order(NewOrder { order, idempotency })
            .await?;
        Ok(match placed {
            Placed::Created(o) | Placed::Replayed(o) => o,
        })
    }

    /// # Errors
    /// `OrderNotFound`, `Internal`.
    pub async fn get_order(&self, id: OrderId) -> Result<Order, Error> {
        self.store.get_order(id).await?.ok_or(Error::OrderNotFound)
    }

    /// The order's history, oldest first.
    ///
    /// # Errors
    /// `OrderNotFound`, `Internal`.
    pub async fn order_events(&self, id: OrderId) -> Result<Vec<OrderEvent>, Error> {
        let events = self.store.order_events(id).await?;
        if events.is_empty() {
            return Err(Error::OrderNotFound);
        }
        Ok(events)
    }

    /// # Errors
    /// `InvalidRequest` for a cursor the store did not make, `Internal`.
    pub async fn list_orders(&self, query: &OrderQuery) -> Result<OrderPage, Error> {
        Ok(self.store.list_orders(query).await?)
    }

    /// Set a product's available stock and change its per-customer limit, then, if asked,
    /// spread its stock over `shards` places ([`crate::ports::OrderStore::spread_stock`]).
    ///
    /// # Errors
    /// `InvalidRequest` for fewer shards than the product has, `Overloaded`, `Internal`.
    pub async fn set_stock(
        &self,
        id: &ProductId,
        stock: StockCount,
        limit: LimitChange,
        shards: Option<StockShards>,
    ) -> Result<Product, Error> {
        let product = self.store.put_product(id, stock, limit).await?;
        let Some(shards) = shards else {
            return Ok(product);
        };
        self.store.spread_stock(id, shards).await?;
        // Spreading moves stock between places, never in or out of the product.
        Ok(self.store.get_product(id).await?.unwrap_or(product))
    }

    /// # Errors
    /// `ProductNotFound`, `Internal`.
    pub async fn get_product(&self, id: &ProductId) -> Result<Product, Error> {
        self.store
            .get_product(id)
            .await?
            .ok_or(Error::ProductNotFound)
    }

    /// # Errors
    /// `Internal`.
    pub async fn list_products(&self) -> Result<Vec<Product>, Error> {
        Ok(self.store.list_products().await?)
    }

    /// Seed a few products when the store has none (`--demo`). Returns how many it added.
    ///
    /// # Errors
    /// `Internal`.
    pub async fn seed_demo(&self) -> Result<usize, Error> {
        if !self.store.list_products().await?.is_empty() {
            return Ok(0);
        }
        let demo = [
            ("coffee-beans", 100),
            ("espresso-cup", 25),
            ("limited-grinder", 5),
        ];
        for (id, stock) in demo {
            let id = ProductId::parse(id)?;
            self.store
                .put_product(&id, StockCount::new(stock)?, LimitChange::Keep)
                .await?;
        }
        Ok(demo.len())
    }
}

/// What makes two `POST /order` requests "the same" for an idempotency key: the parsed
/// request, so `{"quantity": 1}` and a body without `quantity` are the same request, and
/// the single-product form is the same as its one-line cart. Length prefixes keep it
/// unambiguous whatever characters the ids hold. (A one-line cart keeps the form keys
/// stored before carts were made with.)
pub fn fingerprint(req: &PlaceOrder) -> String {
    let u = req.user_id.as_str();
    let mut f = format!("{}:{u}", u.len());
    for line in req.lines.iter() {
        let p = line.product_id.as_str();
        f.push_str(&format!("|{}:{p}|{}", p.len(), line.quantity.get()));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Line, ProductId, Quantity, UserId};

    fn cart(user: &str, lines: &[(&str, i64)]) -> PlaceOrder {
        PlaceOrder {
            user_id: UserId::parse(user).unwrap(),
            lines: Lines::new(
                lines
                    .iter()
                    .map(|(p, q)| {
                        Line::new(ProductId::parse(*p).unwrap(), Quantity::new(*q).unwrap())
                    })
                    .collect(),
            )
            .unwrap(),
        }
    }

    fn req(user: &str, product: &str, q: i64) -> PlaceOrder {
        cart(user, &[(product, q)])
    }

    #[test]
    fn a_one_line_cart_keeps_the_fingerprint_of_the_single_product_form() {
        // The form stored with keys before carts existed: a retry across an upgrade replays.
        assert_eq!(fingerprint(&req("u1", "p", 2)), "2:u1|1:p|2");
        let c = cart("u", &[("a", 1), ("b", 2)]);
        assert_ne!(
            fingerprint(&c),
            fingerprint(&cart("u", &[("b", 2), ("a", 1)]))
        );
        assert_ne!(fingerprint(&c), fingerprint(&cart("u", &[("a", 1)])));
        assert_ne!(
            fingerprint(&cart("u", &[("a|1:b", 2)])),
            fingerprint(&cart("u", &[("a", 1), ("b", 2)]))
        );
    }

    #[test]
    fn fingerprints_tell_requests_apart_unambiguously() {
        assert_eq!(
            fingerprint(&req("u", "p", 1)),
            fingerprint(&req("u", "p", 1))
        );
        assert_ne!(
            fingerprint(&req("u", "p", 1)),
            fingerprint(&req("u", "p", 2))
        );
        assert_ne!(
            fingerprint(&req("u|1", "p", 1)),
            fingerprint(&req("u", "1|p", 1))
        );
        assert_ne!(
            fingerprint(&req("a:b", "c", 1)),
            fingerprint(&req("a", "b:c", 1))
        );
    }
}
