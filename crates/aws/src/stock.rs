//! A product's stock on DynamoDB: one item, or, for a busy product, several (shards).
//!
//! DynamoDB serves at most 1,000 write units per second on one item's partition, and a
//! transaction costs double; a flash sale writes its product with every order. So a
//! product may spread its available stock over N items ([`StockShards`], set by
//! `PUT /inventory/{id}` with `shards`; it only grows):
//!
//! - shard 0 is the product's own item (key `productId`), which also holds `shards` (N,
//!   absent: 1) and the limit `maxPerUser`;
//! - shard k ≥ 1 is the item keyed `"<productId>\u{1f}<k>"` (a control character, which no
//!   product id may hold, so it never meets a product), with `shardOf` naming the product;
//! - every shard has its own `stockCount` and `lockedCount`, and a copy of `maxPerUser`,
//!   written together with the others in one transaction, so that each placement's
//!   conditional write checks the limit on the item it writes.
//!
//! The product the API shows is the sum of its shards. A placement reads every shard,
//! decides on the sums (`check_cart`), then takes each line's units from the shard the
//! order falls on when it holds them, else from the fullest shards ([`choose_draws`]), in
//! the placing transaction, each with its own condition `stockCount >= units`; the order
//! records where it took them ([`Draw`]) and releasing or selling goes back there. Setting
//! the stock or growing N writes every shard in one transaction conditioned on the counts
//! read, so that it never loses a placement's write that raced it (it reads again).

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::{ReturnValue, TransactWriteItem, Update};
use orderflow_core::domain::{
    Draw, LimitChange, MaxPerUser, OrderId, Product, ProductId, StockCount, StockShards,
};
use orderflow_core::ports::StoreError;
use serde::{Deserialize, Serialize};

use crate::backend;
use crate::dynamo::{DynamoStore, TxFailure, condition_failed, corrupt, from_item, n, s};

/// Separates a product id from a shard number in a shard item's key.
const SHARD_SEPARATOR: char = '\u{1f}';

/// Setting the stock reads again after a placement changed a shard under it at most this
/// many times; past them the product is too busy now (`Overloaded`).
const RESPREADS: u32 = 8;

/// The key of a product's shard `k` (0: the product's own item).
pub(crate) fn stock_key(product: &str, shard: u32) -> String {
    if shard == 0 {
        product.to_owned()
    } else {
        format!("{product}{SHARD_SEPARATOR}{shard}")
    }
}

/// The shard an order takes its units from when that shard holds them: spread evenly,
/// and stable for the order.
pub(crate) fn start_shard(order: OrderId, shards: usize) -> usize {
    usize::try_from((order.as_uuid().as_u128() >> 16) % shards.max(1) as u128).unwrap_or(0)
}

/// `total` spread over `shards`: as even as whole units allow, the first shards one more.
pub(crate) fn shares(total: i64, shards: u32) -> Vec<i64> {
    let n = i64::from(shards.max(1));
    (0..n)
        .map(|k| total / n + i64::from(k < total % n))
        .collect()
}

/// Where `units` are taken from, given each shard's available stock: from one shard when
/// one holds them, the first from `start` on (orders start on different shards, so
/// concurrent buyers do not all turn to the same one when theirs runs short), else from
/// the fullest shards first (the fewest items in the transaction). `None` when the shards
/// together are short.
pub(crate) fn choose_draws(available: &[i64], units: i64, start: usize) -> Option<Vec<Draw>> {
    let draw = |shard: usize, units| Draw {
        shard: u32::try_from(shard).unwrap_or(u32::MAX),
        units,
    };
    let n = available.len();
    if let Some(k) = (0..n)
        .map(|i| (start + i) % n)
        .find(|k| available[*k] >= units)
    {
        return Some(vec![draw(k, units)]);
    }
    let mut fullest: Vec<usize> = (0..n).collect();
    fullest.sort_by_key(|k| (std::cmp::Reverse(available[*k]), *k));
    let mut left = units;
    let mut draws = Vec::new();
    for k in fullest {
        if left == 0 {
            break;
        }
        let take = available[k].min(left);
        if take > 0 {
            draws.push(draw(k, take));
            left -= take;
        }
    }
    (left == 0).then_some(draws)
}

/// One stock item as stored (a product's own item, or one of its shards).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StockItem {
    product_id: String,
    stock_count: i64,
    locked_count: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_per_user: Option<i64>,
    /// The product's own item: over how many shards its stock is spread (absent: 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shards: Option<u32>,
    /// A shard item: its product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shard_of: Option<String>,
}

/// A product as read: its own item and its other shards' (a missing shard holds nothing).
#[derive(Debug, Clone)]
pub(crate) struct Stock {
    head: StockItem,
    /// Shard k's stock and locked units, k = 0..N.
    counts: Vec<(i64, i64)>,
}

impl Stock {
    pub(crate) fn shards(&self) -> u32 {
        self.head.shards.unwrap_or(1).max(1)
    }

    /// The product the API shows: the sums of its shards.
    pub(crate) fn product(&self) -> Result<Product, StoreError> {
        Ok(Product {
            product_id: ProductId::parse(self.head.product_id.clone())
                .map_err(|_| corrupt("productId"))?,
            stock_count: self.counts.iter().map(|c| c.0).sum(),
            locked_count: self.counts.iter().map(|c| c.1).sum(),
            max_per_user: self
                .head
                .max_per_user
                .map(MaxPerUser::new)
                .transpose()
                .map_err(|_| corrupt("maxPerUser"))?,
        })
    }

    /// Each shard's available and locked units, by shard.
    #[cfg(test)]
    pub(crate) fn counts(&self) -> &[(i64, i64)] {
        &self.counts
    }

    /// Each shard's available stock, when the product has more than one.
    pub(crate) fn spread(&self) -> Option<Vec<i64>> {
        (self.counts.len() > 1).then(|| self.counts.iter().map(|c| c.0).collect())
    }
}

impl DynamoStore {
    async fn read_stock_item(&self, key: String) -> Result<Option<StockItem>, StoreError> {
        self.read_item(&self.names.inventory_table, ("productId", &key), None)
            .await?
            .map(from_item)
            .transpose()
    }

    /// The product's own item, read consistently.
    pub(crate) async fn read_head(&self, id: &ProductId) -> Result<Option<StockItem>, StoreError> {
        self.read_stock_item(id.as_str().to_owned()).await
    }

    /// The rest of a product whose own item is `head`: its other shards, read at once.
    pub(crate) async fn with_shards(&self, head: StockItem) -> Result<Stock, StoreError> {
        let shards = head.shards.unwrap_or(1).max(1);
        let mut counts = vec![(0, 0); shards as usize];
        counts[0] = (head.stock_count, head.locked_count);
        let mut reads = tokio::task::JoinSet::new();
        for k in 1..shards {
            let store = self.clone();
            let key = stock_key(&head.product_id, k);
            reads.spawn(async move { (k, store.read_stock_item(key).await) });
        }
        while let Some(done) = reads.join_next().await {
            let (k, item) = done.map_err(backend)?;
            if let Some(item) = item? {
                counts[k as usize] = (item.stock_count, item.locked_count);
            }
        }
        Ok(Stock { head, counts })
    }

    pub(crate) async fn read_stock(&self, id: &ProductId) -> Result<Option<Stock>, StoreError> {
        match self.read_head(id).await? {
            Some(head) => self.with_shards(head).await.map(Some),
            None => Ok(None),
        }
    }

    /// Every product, by id: one consistent scan of the inventory table, each product's
    /// shards summed (no index: every stock change would rewrite its entry).
    pub(crate) async fn all_stock(&self) -> Result<Vec<Product>, StoreError> {
        let mut heads: BTreeMap<String, StockItem> = BTreeMap::new();
        let mut others: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.names.inventory_table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(crate::sdk)?;
            for item in page.items.unwrap_or_default() {
                let item: StockItem = from_item(item)?;
                match item.shard_of.clone() {
                    Some(product) => others
                        .entry(product)
                        .or_default()
                        .push((item.stock_count, item.locked_count)),
                    None => {
                        heads.insert(item.product_id.clone(), item);
                    }
                }
            }
            match page.last_evaluated_key {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        heads
            .into_values()
            .map(|head| {
                let mut counts = vec![(head.stock_count, head.locked_count)];
                counts.extend(others.remove(&head.product_id).unwrap_or_default());
                Stock { head, counts }.product()
            })
            .collect()
    }

    /// `PUT /inventory/{id}`: the product's available stock becomes `stock`, spread over
    /// its shards, and its limit changes on every shard.
    pub(crate) async fn put_stock(
        &self,
        id: &ProductId,
        stock: StockCount,
        limit: LimitChange,
    ) -> Result<Product, StoreError> {
        for _ in 0..=RESPREADS {
            let head = self.read_head(id).await?;
            let result = match head {
                Some(head) if head.shards.unwrap_or(1) > 1 => {
                    let now = self.with_shards(head).await?;
                    let limit = limit.applied_to(now.product()?.max_per_user);
                    self.respread(&now, now.shards(), stock.get(), limit).await
                }
                _ => self.put_single(id, stock, limit).await,
            };
            match result {
                Err(StoreError::Conflict) => continue,
                other => return other,
            }
        }
        tracing::warn!(product = %id, "setting stock: placements kept changing it");
        Err(StoreError::Overloaded)
    }

    /// The stock of a product kept on its own item (one update, as before shards), on
    /// condition that it still is.
    async fn put_single(
        &self,
        id: &ProductId,
        stock: StockCount,
        limit: LimitChange,
    ) -> Result<Product, StoreError> {
        let mut expr =
            "SET stockCount = :s, lockedCount = if_not_exists(lockedCount, :zero)".to_owned();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.names.inventory_table)
            .key("productId", s(id.as_str()))
            .condition_expression("attribute_not_exists(shards) OR shards = :one")
            .expression_attribute_values(":s", n(stock.get()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1));
        match limit {
            LimitChange::Keep => {}
            LimitChange::Set(m) => {
                expr.push_str(", maxPerUser = :m");
                update = update.expression_attribute_values(":m", n(m.get()));
            }
            LimitChange::Remove => expr.push_str(" REMOVE maxPerUser"),
        }
        let update = update
            .update_expression(expr)
            .return_values(ReturnValue::AllNew);
        let out = self
            .retried(&format!("setting product {id}"), || update.clone().send())
            .await?;
        let item = out
            .attributes
            .ok_or_else(|| backend("no attributes returned"))?;
        from_item::<StockItem>(item)?.into_product()
    }

    /// Spread the product's stock over `shards` (at least as many as it has).
    pub(crate) async fn spread_over(
        &self,
        id: &ProductId,
        shards: StockShards,
    ) -> Result<(), StoreError> {
        for _ in 0..=RESPREADS {
            let Some(now) = self.read_stock(id).await? else {
                return Err(StoreError::Invalid(format!("no product {id}")));
            };
            let have = now.shards();
            if shards.get() < have {
                return Err(StoreError::Invalid(format!(
                    "shards can only grow: product {id} has its stock on {have} shards, and orders hold units on each"
                )));
            }
            if shards.get() == have {
                return Ok(());
            }
            let total = now.counts.iter().map(|c| c.0).sum();
            let limit = now.product()?.max_per_user;
            match self.respread(&now, shards.get(), total, limit).await {
                Err(StoreError::Conflict) => continue,
                other => return other.map(|_| ()),
            }
        }
        tracing::warn!(product = %id, "spreading stock: placements kept changing it");
        Err(StoreError::Overloaded)
    }

    /// One transaction: `total` available units spread over `shards` shards of the product
    /// read as `now` (every shard it had, and the new ones), with `limit` on each, on
    /// condition that every shard still holds what was read. `Conflict` when one changed.
    async fn respread(
        &self,
        now: &Stock,
        shards: u32,
        total: i64,
        limit: Option<MaxPerUser>,
    ) -> Result<Product, StoreError> {
        let id = now.head.product_id.as_str();
        let had = now.counts.len();
        let mut items = Vec::with_capacity(shards as usize);
        for (k, share) in shares(total, shards).into_iter().enumerate() {
            let key = stock_key(id, u32::try_from(k).map_err(backend)?);
            let mut set = vec![
                "stockCount = :s",
                "lockedCount = if_not_exists(lockedCount, :zero)",
            ];
            let mut update = Update::builder()
                .table_name(&self.names.inventory_table)
                .key("productId", s(key))
                .expression_attribute_values(":s", n(share))
                .expression_attribute_values(":zero", n(0));
            let mut condition = match now.counts.get(k) {
                Some((stock, _)) if k < had => {
                    update = update.expression_attribute_values(":r", n(*stock));
                    if k == 0 {
                        "stockCount = :r".to_owned()
                    } else {
                        "(stockCount = :r OR attribute_not_exists(productId))".to_owned()
                    }
                }
                _ => "attribute_not_exists(productId)".to_owned(),
            };
            if k == 0 {
                set.push("shards = :n");
                update = update
                    .expression_attribute_values(":n", n(i64::from(shards)))
                    .expression_attribute_values(":had", n(had as i64));
                condition.push_str(" AND (attribute_not_exists(shards) OR shards = :had)");
            } else {
                set.push("shardOf = :p");
                update = update.expression_attribute_values(":p", s(id));
            }
            let mut expr = format!("SET {}", set.join(", "));
            match limit {
                Some(m) => {
                    expr.push_str(", maxPerUser = :m");
                    update = update.expression_attribute_values(":m", n(m.get()));
                }
                None => expr.push_str(" REMOVE maxPerUser"),
            }
            let update = update
                .update_expression(expr)
                .condition_expression(condition)
                .build()
                .map_err(backend)?;
            items.push(TransactWriteItem::builder().update(update).build());
        }
        match self
            .transact(items, &format!("spreading product {id}"))
            .await
        {
            Ok(()) => {}
            Err(TxFailure::Cancelled(codes)) if codes.iter().any(|c| condition_failed(Some(c))) => {
                return Err(StoreError::Conflict);
            }
            Err(TxFailure::Cancelled(codes)) => {
                return Err(crate::cancelled("spreading stock", &codes));
            }
            Err(TxFailure::Passing(_)) => return Err(StoreError::Overloaded),
            Err(TxFailure::Failed(e)) => return Err(e),
        }
        let locked: Vec<i64> = now.counts.iter().map(|c| c.1).collect();
        Ok(Product {
            product_id: ProductId::parse(id).map_err(|_| corrupt("productId"))?,
            stock_count: total,
            locked_count: locked.iter().sum(),
            max_per_user: limit,
        })
    }
}

impl StockItem {
    pub(crate) fn is_sharded(&self) -> bool {
        self.shards.unwrap_or(1) > 1
    }

    /// The product of an item that holds all its stock.
    pub(crate) fn into_product(self) -> Result<Product, StoreError> {
        Stock {
            head: self,
            counts: Vec::new(),
        }
        .with_own_counts()
        .product()
    }
}

impl Stock {
    /// A product kept on its own item only.
    fn with_own_counts(mut self) -> Self {
        self.counts = vec![(self.head.stock_count, self.head.locked_count)];
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(d: &[Draw]) -> Vec<(u32, i64)> {
        d.iter().map(|d| (d.shard, d.units)).collect()
    }

    #[test]
    fn shares_are_even_and_add_up() {
        assert_eq!(shares(10, 4), vec![3, 3, 2, 2]);
        assert_eq!(shares(3, 4), vec![1, 1, 1, 0]);
        assert_eq!(shares(0, 2), vec![0, 0]);
        assert_eq!(shares(7, 1), vec![7]);
        for (t, k) in [(1_000_000_000_000, 32), (17, 5), (300, 16)] {
            let s = shares(t, k);
            assert_eq!(s.len(), k as usize);
            assert_eq!(s.iter().sum::<i64>(), t);
            assert!(s.iter().max().unwrap() - s.iter().min().unwrap() <= 1);
        }
    }

    #[test]
    fn a_line_takes_from_its_own_shard_else_the_next_that_holds_it_else_the_fullest() {
        let stock = [2, 5, 0, 4];
        assert_eq!(units(&choose_draws(&stock, 2, 0).unwrap()), [(0, 2)]);
        assert_eq!(units(&choose_draws(&stock, 3, 0).unwrap()), [(1, 3)]);
        // The next shard from its own that holds them, not the fullest.
        assert_eq!(units(&choose_draws(&stock, 3, 2).unwrap()), [(3, 3)]);
        assert_eq!(units(&choose_draws(&stock, 1, 2).unwrap()), [(3, 1)]);
        // Spanning shards: fullest first, the fewest items.
        assert_eq!(
            units(&choose_draws(&stock, 9, 2).unwrap()),
            [(1, 5), (3, 4)]
        );
        assert_eq!(
            units(&choose_draws(&stock, 11, 1).unwrap()),
            [(1, 5), (3, 4), (0, 2)]
        );
        assert_eq!(choose_draws(&stock, 12, 0), None);
        assert_eq!(units(&choose_draws(&[0, 0, 1], 1, 0).unwrap()), [(2, 1)]);
    }

    #[test]
    fn shard_keys_never_meet_a_product_id() {
        assert_eq!(stock_key("p", 0), "p");
        let k = stock_key("p", 3);
        assert!(
            ProductId::parse(k).is_err(),
            "a shard key is not a product id"
        );
    }

    #[test]
    fn orders_start_on_every_shard() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            seen.insert(start_shard(OrderId::new_random(), 16));
        }
        assert_eq!(seen.len(), 16);
        assert_eq!(start_shard(OrderId::new_random(), 1), 0);
    }
}
