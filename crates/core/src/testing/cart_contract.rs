//! Carts and per-customer limits through the store port, for every backend: placing locks
//! every line or nothing, transitions move every line, and a customer's limit holds, also
//! under concurrent placements (invariants I1-I3 and I6).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::lifecycle::{self, ConsumeDecision, PaymentDecision, PaymentOutcome};
use crate::domain::{
    IdempotencyKey, LimitChange, MaxPerUser, Order, OrderStatus, ProductId, RefusalKind,
    StockCount, StockShards, Timestamp,
};
use crate::ports::{IdempotencyRecord, NewOrder, OrderQuery, OrderStore, Placed, StoreError};
use crate::service::{PlaceOrder, fingerprint};
use crate::testing::{placed_cart, units, without_draws};

type Store = Arc<dyn OrderStore>;

const T0: Timestamp = Timestamp::from_millis(1_790_000_000_000);

fn pid(s: &str) -> ProductId {
    ProductId::parse(s).unwrap()
}

fn cart(user: &str, lines: &[(&str, i64)]) -> NewOrder {
    NewOrder {
        order: placed_cart(user, lines, T0),
        idempotency: None,
    }
}

async fn stock(store: &Store, product: &str, n: i64, limit: LimitChange) {
    store
        .put_product(&pid(product), StockCount::new(n).unwrap(), limit)
        .await
        .unwrap();
}

fn limit(n: i64) -> LimitChange {
    LimitChange::Set(MaxPerUser::new(n).unwrap())
}

async fn counters(store: &Store, product: &str) -> (i64, i64) {
    let p = store.get_product(&pid(product)).await.unwrap().unwrap();
    (p.stock_count, p.locked_count)
}

async fn place(store: &Store, n: NewOrder) -> Order {
    match store.place_order(n).await.unwrap() {
        Placed::Created(o) => o,
        Placed::Replayed(o) => panic!("expected a new order, got a replay of {}", o.id),
    }
}

/// The kind and products of a refused placement.
fn refusal(r: Result<Placed, StoreError>) -> (RefusalKind, Vec<ProductId>) {
    match r {
        Err(StoreError::Refused(r)) => (r.kind, r.products),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn names(products: &[&str]) -> Vec<ProductId> {
    products.iter().map(|p| pid(p)).collect()
}

async fn all_orders(store: &Store) -> Vec<Order> {
    let mut out = Vec::new();
    let mut q = OrderQuery {
        limit: 500,
        ..OrderQuery::default()
    };
    loop {
        let page = store.list_orders(&q).await.unwrap();
        out.extend(page.orders);
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return out,
        }
    }
}

/// Time an order out as the sweeper would.
async fn expire(store: &Store, order: &Order) {
    let now = store.get_order(order.id).await.unwrap().unwrap();
    let t = lifecycle::on_expiry(&now, now.expires_at.plus(Duration::from_secs(1)))
        .expect("an unpaid order expires");
    store.apply(&t).await.unwrap();
}

/// Pay, claim and complete an order as the webhook and the consumer would.
async fn complete(store: &Store, order: &Order) {
    let o = store.get_order(order.id).await.unwrap().unwrap();
    let PaymentDecision::Apply { transition, .. } =
        lifecycle::on_payment(&o, PaymentOutcome::Success, None, T0)
    else {
        panic!("a placed order takes a payment")
    };
    store.apply(&transition).await.unwrap();
    let o = transition.applied_to(&o);
    let ConsumeDecision::Start(claim) = lifecycle::on_consume(&o, T0) else {
        panic!("a paid order is claimed")
    };
    store.apply(&claim).await.unwrap();
    let o = claim.applied_to(&o);
    store
        .apply(&lifecycle::on_processed(&o, T0).unwrap())
        .await
        .unwrap();
}

/// I1-I3 for `stocked` (product → total ever stocked) and I6 for `limits` (product → M),
/// over every order in the store.
async fn check_invariants(store: &Store, stocked: &HashMap<&str, i64>, limits: &[(&str, i64)]) {
    let orders = all_orders(store).await;
    for (product, total) in stocked {
        let (stock, locked) = counters(store, product).await;
        let holding = units(&orders, product, |o| o.state.status.holds_stock());
        let sold = units(&orders, product, |o| {
            o.state.status == OrderStatus::Completed
        });
        assert_eq!(locked, holding, "I1 {product}");
        assert_eq!(stock + locked + sold, *total, "I2 {product}");
        assert!(stock >= 0 && locked >= 0, "I3 {product}");
    }
    for (product, max) in limits {
        let mut per_user: HashMap<&str, i64> = HashMap::new();
        for o in &orders {
            if o.state.status.counts_toward_limit() {
                *per_user.entry(o.user_id.as_str()).or_default() +=
                    units(std::slice::from_ref(o), product, |_| true);
            }
        }
        for (user, n) in per_user {
            assert!(n <= *max, "I6 {user} holds {n} of {product}, limit {max}");
        }
    }
}

pub async fn a_cart_locks_every_line_or_nothing(store: Store) {
    for (p, n) in [("a", 10), ("b", 2), ("c", 5)] {
        stock(&store, p, n, LimitChange::Keep).await;
    }
    // One short line: nothing is locked anywhere, no order is written.
    let short = cart("u1", &[("a", 3), ("b", 3), ("c", 1)]);
    let r = store.place_order(short.clone()).await;
    assert_eq!(refusal(r), (RefusalKind::OutOfStock, names(&["b"])));
    assert_eq!(store.get_order(short.order.id).await.unwrap(), None);
    for (p, n) in [("a", 10), ("b", 2), ("c", 5)] {
        assert_eq!(counters(&store, p).await, (n, 0), "{p} untouched");
    }
    assert!(all_orders(&store).await.is_empty());

    let ok = cart("u1", &[("c", 5), ("a", 3), ("b", 2)]);
    let placed = place(&store, ok.clone()).await;
    assert_eq!(without_draws(placed), ok.order);
    let read = store.get_order(ok.order.id).await.unwrap().unwrap();
    let lines: Vec<_> = read
        .lines
        .iter()
        .map(|l| (l.product_id.as_str().to_owned(), l.quantity.get()))
        .collect();
    assert_eq!(
        lines,
        [("c".into(), 5), ("a".into(), 3), ("b".into(), 2)],
        "lines in the order given"
    );
    assert_eq!(counters(&store, "a").await, (7, 3));
    assert_eq!(counters(&store, "b").await, (0, 2));
    assert_eq!(counters(&store, "c").await, (0, 5));
}

pub async fn a_refusal_names_every_offending_product(store: Store) {
    stock(&store, "a", 1, LimitChange::Keep).await;
    stock(&store, "b", 1, LimitChange::Keep).await;
    stock(&store, "c", 9, LimitChange::Keep).await;
    let r = store
        .place_order(cart("u1", &[("x", 1), ("a", 5), ("y", 1)]))
        .await;
    assert_eq!(
        refusal(r),
        (RefusalKind::ProductNotFound, names(&["x", "y"]))
    );
    let r = store
        .place_order(cart("u1", &[("a", 2), ("c", 1), ("b", 2)]))
        .await;
    assert_eq!(refusal(r), (RefusalKind::OutOfStock, names(&["a", "b"])));
    assert!(all_orders(&store).await.is_empty());
    assert_eq!(counters(&store, "c").await, (9, 0));
}

pub async fn release_and_sale_apply_to_every_line(store: Store) {
    stock(&store, "a", 10, LimitChange::Keep).await;
    stock(&store, "b", 10, LimitChange::Keep).await;
    let timed_out = place(&store, cart("u1", &[("a", 2), ("b", 3)])).await;
    let sold = place(&store, cart("u2", &[("a", 1), ("b", 4)])).await;
    assert_eq!(counters(&store, "a").await, (7, 3));
    assert_eq!(counters(&store, "b").await, (3, 7));
    expire(&store, &timed_out).await;
    assert_eq!(counters(&store, "a").await, (9, 1), "a's 2 back on sale");
    assert_eq!(counters(&store, "b").await, (6, 4), "b's 3 back on sale");
    complete(&store, &sold).await;
    assert_eq!(counters(&store, "a").await, (9, 0), "a's 1 sold");
    assert_eq!(counters(&store, "b").await, (6, 0), "b's 4 sold");
    let stocked = HashMap::from([("a", 10), ("b", 10)]);
    check_invariants(&store, &stocked, &[]).await;
}

pub async fn a_cart_replays_with_its_idempotency_key(store: Store) {
    stock(&store, "a", 10, LimitChange::Keep).await;
    stock(&store, "b", 10, limit(5)).await;
    let keyed = |n: NewOrder| {
        let req = PlaceOrder {
            user_id: n.order.user_id.clone(),
            lines: n.order.lines.clone(),
        };
        NewOrder {
            idempotency: Some(IdempotencyRecord {
                key: IdempotencyKey::parse("cart-key").unwrap(),
                fingerprint: fingerprint(&req),
            }),
            ..n
        }
    };
    let first = place(&store, keyed(cart("u1", &[("a", 2), ("b", 3)]))).await;
    match store
        .place_order(keyed(cart("u1", &[("a", 2), ("b", 3)])))
        .await
        .unwrap()
    {
        Placed::Replayed(o) => assert_eq!(o, first),
        Placed::Created(o) => panic!("a replay made a second order {}", o.id),
    }
    let r = store
        .place_order(keyed(cart("u1", &[("b", 3), ("a", 2)])))
        .await;
    assert!(
        matches!(r, Err(StoreError::IdempotencyMismatch)),
        "another cart: {r:?}"
    );
    assert_eq!(counters(&store, "a").await, (8, 2));
    assert_eq!(counters(&store, "b").await, (7, 3));
    // The replay took nothing from the allowance: 2 more units of b are still allowed.
    place(&store, cart("u1", &[("b", 2)])).await;
}

pub async fn a_limit_refuses_past_it_and_other_customers_are_unaffected(store: Store) {
    stock(&store, "drop", 100, limit(3)).await;
    stock(&store, "free", 100, LimitChange::Keep).await;
    let first = place(&store, cart("u1", &[("drop", 2), ("free", 50)])).await;
    assert!(
        first
            .lines
            .iter()
            .any(|l| l.limited && l.product_id == pid("drop")),
        "the limited line is marked"
    );
    assert!(
        !first
            .lines
            .iter()
            .any(|l| l.limited && l.product_id == pid("free"))
    );
    let r = store
        .place_order(cart("u1", &[("free", 1), ("drop", 2)]))
        .await;
    assert_eq!(refusal(r), (RefusalKind::LimitExceeded, names(&["drop"])));
    assert_eq!(counters(&store, "free").await, (50, 50), "nothing locked");
    place(&store, cart("u1", &[("drop", 1)])).await;
    let r = store.place_order(cart("u1", &[("drop", 1)])).await;
    assert_eq!(refusal(r).0, RefusalKind::LimitExceeded);
    // Another customer has their own allowance.
    place(&store, cart("u2", &[("drop", 3)])).await;
    // A refused limit wins over stock: the customer learns the rule that will not change.
    stock(&store, "drop", 0, LimitChange::Keep).await;
    let r = store.place_order(cart("u1", &[("drop", 1)])).await;
    assert_eq!(refusal(r).0, RefusalKind::LimitExceeded);
    let r = store.place_order(cart("u3", &[("drop", 1)])).await;
    assert_eq!(refusal(r).0, RefusalKind::OutOfStock);
}

pub async fn a_timed_out_or_failed_order_gives_its_units_back(store: Store) {
    stock(&store, "drop", 100, limit(2)).await;
    let a = place(&store, cart("u1", &[("drop", 2)])).await;
    let r = store.place_order(cart("u1", &[("drop", 1)])).await;
    assert_eq!(refusal(r).0, RefusalKind::LimitExceeded);
    expire(&store, &a).await;
    let b = place(&store, cart("u1", &[("drop", 1)])).await;
    let now = store.get_order(b.id).await.unwrap().unwrap();
    let PaymentDecision::Apply { transition, .. } =
        lifecycle::on_payment(&now, PaymentOutcome::Failed, None, T0)
    else {
        panic!("a failure applies to a placed order")
    };
    store.apply(&transition).await.unwrap();
    // Both gave their units back; a completed order keeps counting.
    let c = place(&store, cart("u1", &[("drop", 2)])).await;
    complete(&store, &c).await;
    let r = store.place_order(cart("u1", &[("drop", 1)])).await;
    assert_eq!(refusal(r).0, RefusalKind::LimitExceeded);
    check_invariants(&store, &HashMap::from([("drop", 100)]), &[("drop", 2)]).await;
}

pub async fn limits_are_set_kept_and_removed(store: Store) {
    let p = store
        .put_product(&pid("p"), StockCount::new(5).unwrap(), limit(4))
        .await
        .unwrap();
    assert_eq!(p.max_per_user.map(MaxPerUser::get), Some(4));
    let kept = store
        .put_product(&pid("p"), StockCount::new(6).unwrap(), LimitChange::Keep)
        .await
        .unwrap();
    assert_eq!((kept.stock_count, kept.max_per_user), (6, p.max_per_user));
    assert_eq!(store.get_product(&pid("p")).await.unwrap(), Some(kept));
    let removed = store
        .put_product(&pid("p"), StockCount::new(6).unwrap(), LimitChange::Remove)
        .await
        .unwrap();
    assert_eq!(removed.max_per_user, None);
    let listed = store.list_products().await.unwrap();
    assert_eq!(listed, [removed]);
    let new = store
        .put_product(&pid("q"), StockCount::new(1).unwrap(), LimitChange::Keep)
        .await
        .unwrap();
    assert_eq!(
        new.max_per_user, None,
        "a new product has no limit unless set"
    );
}

pub async fn units_placed_without_a_limit_are_not_given_back_to_one(store: Store) {
    // A limit counts the units of orders placed while it is in force; releasing an order
    // gives back exactly what its placing took, whatever the limit is by then.
    stock(&store, "p", 100, limit(3)).await;
    let counted = place(&store, cart("u1", &[("p", 2)])).await;
    stock(&store, "p", 100, LimitChange::Remove).await;
    let uncounted = place(&store, cart("u1", &[("p", 5)])).await;
    assert!(!uncounted.lines[0].limited);
    stock(&store, "p", 100, limit(3)).await;
    expire(&store, &uncounted).await;
    let r = store.place_order(cart("u1", &[("p", 2)])).await;
    assert_eq!(
        refusal(r).0,
        RefusalKind::LimitExceeded,
        "still holds 2 of 3: the uncounted order gave nothing back"
    );
    expire(&store, &counted).await;
    place(&store, cart("u1", &[("p", 3)])).await;
}

pub async fn concurrent_overlapping_carts_never_oversell(store: Store) {
    let products = ["p0", "p1", "p2", "p3", "p4"];
    let stocked: HashMap<&str, i64> = products.iter().map(|p| (*p, 6)).collect();
    for p in products {
        stock(&store, p, 6, LimitChange::Keep).await;
    }
    // 40 carts of 3 consecutive products (wrapping), 1-2 units each: far more than stock.
    let tasks: Vec<_> = (0..40)
        .map(|i: usize| {
            let store = store.clone();
            let lines: Vec<(&str, i64)> = (0..3)
                .map(|k| (products[(i + k) % 5], 1 + ((i + k) % 2) as i64))
                .collect();
            let n = cart(&format!("u{i}"), &lines);
            tokio::spawn(async move { store.place_order(n).await })
        })
        .collect();
    let mut placed = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(Placed::Created(_)) => placed += 1,
            Err(StoreError::Refused(r)) => assert_eq!(r.kind, RefusalKind::OutOfStock),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(placed > 0, "some carts fit");
    check_invariants(&store, &stocked, &[]).await;
    // Every order holds every one of its lines.
    for o in all_orders(&store).await {
        assert_eq!(o.lines.len(), 3);
    }
}

pub async fn concurrent_orders_of_one_customer_stay_within_the_limit(store: Store) {
    stock(&store, "drop", 100, limit(3)).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.place_order(cart("greedy", &[("drop", 1)])).await })
        })
        .collect();
    let others: Vec<_> = (0..5)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .place_order(cart(&format!("other{i}"), &[("drop", 3)]))
                    .await
            })
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(Placed::Created(_)) => ok += 1,
            Err(StoreError::Refused(r)) if r.kind == RefusalKind::LimitExceeded => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok, refused), (3, 17), "exactly the limit, once");
    for t in others {
        assert!(
            matches!(t.await.unwrap(), Ok(Placed::Created(_))),
            "other customers are unaffected"
        );
    }
    assert_eq!(counters(&store, "drop").await, (100 - 3 - 15, 18));
    check_invariants(&store, &HashMap::from([("drop", 100)]), &[("drop", 3)]).await;
}

// Stock spread over several places (`spread_stock`): on DynamoDB, items of their own; on
// a store with one row per product, nothing changes. Either way the product shows the
// sums, and every rule holds as for stock kept in one place.

async fn spread(store: &Store, product: &str, shards: i64) {
    store
        .spread_stock(&pid(product), StockShards::new(shards).unwrap())
        .await
        .unwrap();
}

pub async fn spread_stock_is_placed_released_and_sold_as_one(store: Store) {
    stock(&store, "hot", 10, LimitChange::Keep).await;
    spread(&store, "hot", 4).await;
    assert_eq!(
        counters(&store, "hot").await,
        (10, 0),
        "spreading keeps the sums"
    );
    // More units than any one shard holds (2 or 3 each on DynamoDB).
    let big = place(&store, cart("u1", &[("hot", 7)])).await;
    assert_eq!(counters(&store, "hot").await, (3, 7));
    let small = place(&store, cart("u2", &[("hot", 2)])).await;
    assert_eq!(
        refusal(store.place_order(cart("u3", &[("hot", 2)])).await),
        (RefusalKind::OutOfStock, names(&["hot"])),
        "short only when the sum is"
    );
    let last = place(&store, cart("u3", &[("hot", 1)])).await;
    assert_eq!(counters(&store, "hot").await, (0, 10));
    expire(&store, &big).await;
    assert_eq!(counters(&store, "hot").await, (7, 3));
    complete(&store, &small).await;
    complete(&store, &last).await;
    assert_eq!(counters(&store, "hot").await, (7, 0));
    // Setting the stock sets the sum; the freed units can be ordered again, all at once.
    stock(&store, "hot", 9, LimitChange::Keep).await;
    assert_eq!(counters(&store, "hot").await, (9, 0));
    place(&store, cart("u4", &[("hot", 9)])).await;
    assert_eq!(counters(&store, "hot").await, (0, 9));
    // Ever stocked: 10, then set from 7 to 9.
    check_invariants(&store, &HashMap::from([("hot", 12)]), &[]).await;
}

pub async fn spread_stock_accepts_exactly_its_units_under_concurrency(store: Store) {
    stock(&store, "flash", 30, LimitChange::Keep).await;
    spread(&store, "flash", 8).await;
    let tasks: Vec<_> = (0..70)
        .map(|i| {
            let store = store.clone();
            let q = 1 + i64::from(i % 3 == 0);
            tokio::spawn(async move {
                store
                    .place_order(cart(&format!("buyer{i}"), &[("flash", q)]))
                    .await
            })
        })
        .collect();
    let mut placed = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(Placed::Created(o)) => placed.push(o),
            Err(StoreError::Refused(r)) => assert_eq!(r.kind, RefusalKind::OutOfStock),
            other => panic!("unexpected {other:?}"),
        }
    }
    let taken: i64 = placed.iter().map(|o| o.lines[0].quantity.get()).sum();
    // Refused only when the units left were fewer than asked: at most one short of all.
    assert!((29..=30).contains(&taken), "{taken} units taken");
    let stocked = HashMap::from([("flash", 30)]);
    check_invariants(&store, &stocked, &[]).await;
    for (i, o) in placed.iter().enumerate() {
        if i % 2 == 0 {
            complete(&store, o).await;
        } else {
            expire(&store, o).await;
        }
    }
    check_invariants(&store, &stocked, &[]).await;
    assert_eq!(counters(&store, "flash").await.1, 0);
}

pub async fn spreading_races_placements_without_losing_a_unit(store: Store) {
    stock(&store, "busy", 100, LimitChange::Keep).await;
    let orders: Vec<_> = (0..40)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .place_order(cart(&format!("u{i}"), &[("busy", 1)]))
                    .await
            })
        })
        .collect();
    let spreading = {
        let store = store.clone();
        tokio::spawn(async move {
            for n in [8, 16, 32] {
                match store
                    .spread_stock(&pid("busy"), StockShards::new(n).unwrap())
                    .await
                {
                    // Placements may keep it from finishing now; it changed nothing then.
                    Ok(()) | Err(StoreError::Overloaded) => {}
                    Err(e) => panic!("spreading over {n}: {e:?}"),
                }
            }
        })
    };
    for t in orders {
        assert!(
            matches!(t.await.unwrap(), Ok(Placed::Created(_))),
            "there is stock for every order"
        );
    }
    spreading.await.unwrap();
    assert_eq!(counters(&store, "busy").await, (60, 40));
    let stocked = HashMap::from([("busy", 100)]);
    check_invariants(&store, &stocked, &[]).await;
}

pub async fn limits_hold_on_spread_stock(store: Store) {
    stock(&store, "drop", 100, limit(3)).await;
    spread(&store, "drop", 4).await;
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.place_order(cart("greedy", &[("drop", 1)])).await })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(Placed::Created(_)) => ok += 1,
            Err(StoreError::Refused(r)) => assert_eq!(r.kind, RefusalKind::LimitExceeded),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(ok, 3, "exactly the limit");
    // A new limit applies to every shard at once.
    stock(&store, "drop", 97, limit(5)).await;
    place(&store, cart("greedy", &[("drop", 2)])).await;
    assert_eq!(
        refusal(store.place_order(cart("greedy", &[("drop", 1)])).await).0,
        RefusalKind::LimitExceeded
    );
    stock(&store, "drop", 95, LimitChange::Remove).await;
    place(&store, cart("greedy", &[("drop", 50)])).await;
    assert_eq!(counters(&store, "drop").await, (45, 55));
}
