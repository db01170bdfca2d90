//! The store contract suite: what every [`OrderStore`] must do, written once.
//!
//! Each case gets a fresh, empty store and checks one rule through the port only, so it
//! holds for SQLite and DynamoDB alike.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::lifecycle::{self, PaymentDecision, PaymentOutcome, StockEffect, Transition};
use crate::domain::{
    EventType, IdempotencyKey, LimitChange, Order, OrderId, OrderState, OrderStatus, PaymentStatus,
    Product, ProductId, RefusalKind, Resend, StockCount, Timestamp, UserId,
};
use crate::ports::{IdempotencyRecord, NewOrder, OrderQuery, OrderStore, Placed, StoreError};
use crate::service::{PlaceOrder, fingerprint};
use crate::testing::without_draws;

type Store = Arc<dyn OrderStore>;

const T0: Timestamp = Timestamp::from_millis(1_790_000_000_000);
const TIMEOUT: Duration = Duration::from_secs(30 * 60);

fn pid(s: &str) -> ProductId {
    ProductId::parse(s).unwrap()
}

fn new_order(user: &str, product: &str, q: i64, at: Timestamp) -> NewOrder {
    new_cart(user, &[(product, q)], at)
}

fn new_cart(user: &str, lines: &[(&str, i64)], at: Timestamp) -> NewOrder {
    NewOrder {
        order: crate::testing::placed_cart(user, lines, at),
        idempotency: None,
    }
}

fn with_key(mut n: NewOrder, key: &str) -> NewOrder {
    let req = PlaceOrder {
        user_id: n.order.user_id.clone(),
        lines: n.order.lines.clone(),
    };
    n.idempotency = Some(IdempotencyRecord {
        key: IdempotencyKey::parse(key).unwrap(),
        fingerprint: fingerprint(&req),
    });
    n
}

async fn stock(store: &Store, product: &str, n: i64) {
    store
        .put_product(
            &pid(product),
            StockCount::new(n).unwrap(),
            LimitChange::Keep,
        )
        .await
        .unwrap();
}

/// The kind and products of a refused placement.
fn refusal(err: StoreError) -> (RefusalKind, Vec<ProductId>) {
    match err {
        StoreError::Refused(r) => (r.kind, r.products),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn product(store: &Store, product: &str) -> Product {
    store.get_product(&pid(product)).await.unwrap().unwrap()
}

async fn place(store: &Store, n: NewOrder) -> Order {
    match store.place_order(n).await.unwrap() {
        Placed::Created(o) => o,
        Placed::Replayed(o) => panic!("expected a new order, got a replay of {}", o.id),
    }
}

async fn all_orders(store: &Store, query: OrderQuery) -> Vec<Order> {
    let mut out = Vec::new();
    let mut q = query;
    loop {
        let page = store.list_orders(&q).await.unwrap();
        out.extend(page.orders);
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return out,
        }
    }
}

fn query(limit: u32) -> OrderQuery {
    OrderQuery {
        limit,
        ..OrderQuery::default()
    }
}

pub async fn placing_locks_stock_and_writes_the_order(store: Store) {
    stock(&store, "p1", 10).await;
    let n = new_order("u1", "p1", 3, T0);
    let placed = place(&store, n.clone()).await;
    assert_eq!(without_draws(placed.clone()), n.order);
    assert_eq!(
        store.get_order(n.order.id).await.unwrap(),
        Some(placed.clone()),
        "stored as returned"
    );
    let p = product(&store, "p1").await;
    assert_eq!((p.stock_count, p.locked_count), (7, 3));
    assert_eq!(placed.expires_at, T0.plus(TIMEOUT));
}

pub async fn out_of_stock_leaves_nothing_written(store: Store) {
    stock(&store, "p1", 2).await;
    let n = with_key(new_order("u1", "p1", 3, T0), "k-oos");
    let err = store.place_order(n.clone()).await.unwrap_err();
    assert_eq!(refusal(err), (RefusalKind::OutOfStock, vec![pid("p1")]));
    assert_eq!(store.get_order(n.order.id).await.unwrap(), None);
    let p = product(&store, "p1").await;
    assert_eq!((p.stock_count, p.locked_count), (2, 0));
    assert!(all_orders(&store, query(50)).await.is_empty());
    // Exactly the remaining stock is fine.
    place(&store, new_order("u1", "p1", 2, T0)).await;
    let p = product(&store, "p1").await;
    assert_eq!((p.stock_count, p.locked_count), (0, 2));
}

pub async fn an_unknown_product_is_not_found_and_nothing_is_written(store: Store) {
    let n = new_order("u1", "nope", 1, T0);
    let err = store.place_order(n.clone()).await.unwrap_err();
    assert_eq!(
        refusal(err),
        (RefusalKind::ProductNotFound, vec![pid("nope")])
    );
    assert_eq!(store.get_order(n.order.id).await.unwrap(), None);
    assert!(store.list_products().await.unwrap().is_empty());
}

pub async fn an_idempotent_retry_returns_the_first_order_and_locks_nothing_more(store: Store) {
    stock(&store, "p1", 10).await;
    let first = place(&store, with_key(new_order("u1", "p1", 2, T0), "k1")).await;
    // A retry is a new request with a new id and time, but the same key and body.
    let retry = with_key(
        new_order("u1", "p1", 2, T0.plus(Duration::from_secs(1))),
        "k1",
    );
    match store.place_order(retry).await.unwrap() {
        Placed::Replayed(o) => assert_eq!(o, first),
        Placed::Created(o) => panic!("retry made a second order {}", o.id),
    }
    let p = product(&store, "p1").await;
    assert_eq!((p.stock_count, p.locked_count), (8, 2));
    assert_eq!(all_orders(&store, query(50)).await.len(), 1);
}

pub async fn an_idempotency_key_with_another_request_is_a_mismatch(store: Store) {
    stock(&store, "p1", 10).await;
    place(&store, with_key(new_order("u1", "p1", 1, T0), "k1")).await;
    for other in [new_order("u1", "p1", 2, T0), new_order("u2", "p1", 1, T0)] {
        let err = store.place_order(with_key(other, "k1")).await.unwrap_err();
        assert!(matches!(err, StoreError::IdempotencyMismatch), "{err:?}");
    }
    let p = product(&store, "p1").await;
    assert_eq!((p.stock_count, p.locked_count), (9, 1));
    assert_eq!(all_orders(&store, query(50)).await.len(), 1);
}

pub async fn a_failed_placement_does_not_consume_its_idempotency_key(store: Store) {
    stock(&store, "p1", 1).await;
    let n = with_key(new_order("u1", "p1", 2, T0), "k-later");
    let err = store.place_order(n.clone()).await.unwrap_err();
    assert_eq!(refusal(err).0, RefusalKind::OutOfStock);
    // Restocked, the same request with the same key goes through.
    stock(&store, "p1", 5).await;
    place(&store, n).await;
    let p = product(&store, "p1").await;
    assert_eq!((p.stock_count, p.locked_count), (3, 2));
}

pub async fn concurrent_orders_never_oversell(store: Store) {
    stock(&store, "flash", 25).await;
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .place_order(new_order(&format!("u{i}"), "flash", 1, T0))
                    .await
            })
        })
        .collect();
    let (mut ok, mut oos) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(Placed::Created(_)) => ok += 1,
            Err(StoreError::Refused(r)) if r.kind == RefusalKind::OutOfStock => oos += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok, oos), (25, 75));
    let p = product(&store, "flash").await;
    assert_eq!((p.stock_count, p.locked_count), (0, 25));
    assert_eq!(all_orders(&store, query(500)).await.len(), 25);
}

pub async fn concurrent_retries_with_one_key_make_one_order(store: Store) {
    stock(&store, "p1", 100).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .place_order(with_key(new_order("u1", "p1", 3, T0), "same-key"))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut ids = HashSet::new();
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            Placed::Created(o) => {
                created += 1;
                ids.insert(o.id);
            }
            Placed::Replayed(o) => {
                ids.insert(o.id);
            }
        }
    }
    assert_eq!((created, ids.len()), (1, 1));
    let p = product(&store, "p1").await;
    assert_eq!((p.stock_count, p.locked_count), (97, 3));
}

pub async fn listing_is_newest_first_and_keeps_acceptance_order_within_a_millisecond(store: Store) {
    stock(&store, "p1", 100).await;
    let mut placed = Vec::new();
    // Five orders in one millisecond, then two later ones.
    for i in 0..5 {
        placed.push(
            place(&store, new_order(&format!("u{i}"), "p1", 1, T0))
                .await
                .id,
        );
    }
    for i in 5..7 {
        let at = T0.plus(Duration::from_millis(i));
        placed.push(
            place(&store, new_order(&format!("u{i}"), "p1", 1, at))
                .await
                .id,
        );
    }
    let listed: Vec<_> = all_orders(&store, query(500))
        .await
        .into_iter()
        .map(|o| o.id)
        .collect();
    placed.reverse();
    assert_eq!(listed, placed);
}

pub async fn cursors_page_through_every_order_exactly_once(store: Store) {
    stock(&store, "p1", 100).await;
    let mut placed = Vec::new();
    for i in 0..23 {
        let at = T0.plus(Duration::from_millis(i / 4));
        placed.push(place(&store, new_order("u1", "p1", 1, at)).await.id);
    }
    placed.reverse();
    let mut pages = Vec::new();
    let mut q = query(5);
    loop {
        let page = store.list_orders(&q).await.unwrap();
        assert!(page.orders.len() <= 5);
        pages.push(page.orders.len());
        if let Some(c) = &page.next_cursor {
            assert!(
                c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b)),
                "cursor {c:?} is not URL-safe"
            );
        }
        q.cursor = page.next_cursor;
        if q.cursor.is_none() {
            break;
        }
    }
    assert_eq!(pages, [5, 5, 5, 5, 3]);
    let listed: Vec<_> = all_orders(&store, query(5))
        .await
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(listed, placed);
    // A page that ends exactly at the last order has no next cursor.
    let exact = store.list_orders(&query(23)).await.unwrap();
    assert_eq!((exact.orders.len(), exact.next_cursor), (23, None));
}

pub async fn listing_filters_by_user_and_status(store: Store) {
    stock(&store, "p1", 100).await;
    let a1 = place(&store, new_order("alice", "p1", 1, T0)).await;
    let b1 = place(&store, new_order("bob", "p1", 1, T0)).await;
    let a2 = place(&store, new_order("alice", "p1", 1, T0)).await;
    // Fail a1 so that the statuses differ.
    let PaymentDecision::Apply { transition, .. } =
        lifecycle::on_payment(&a1, PaymentOutcome::Failed, None, T0)
    else {
        panic!("failure applies to a placed order")
    };
    store.apply(&transition).await.unwrap();

    let ids = |v: Vec<Order>| v.into_iter().map(|o| o.id).collect::<Vec<_>>();
    let alice = OrderQuery {
        user_id: Some(UserId::parse("alice").unwrap()),
        ..query(2)
    };
    assert_eq!(ids(all_orders(&store, alice.clone()).await), [a2.id, a1.id]);
    let pending = OrderQuery {
        status: Some(OrderStatus::Pending),
        ..query(50)
    };
    assert_eq!(ids(all_orders(&store, pending).await), [a2.id, b1.id]);
    let alice_failed = OrderQuery {
        status: Some(OrderStatus::Failed),
        ..alice
    };
    assert_eq!(ids(all_orders(&store, alice_failed).await), [a1.id]);
    let nobody = OrderQuery {
        user_id: Some(UserId::parse("carol").unwrap()),
        ..query(50)
    };
    assert!(all_orders(&store, nobody).await.is_empty());
}

pub async fn a_foreign_cursor_is_refused(store: Store) {
    for bad in ["garbage", "AAAA", "bm90LWEtY3Vyc29y"] {
        let q = OrderQuery {
            cursor: Some(bad.into()),
            ..query(10)
        };
        let err = store.list_orders(&q).await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidCursor), "{bad}: {err:?}");
    }
}

pub async fn a_transition_applies_only_from_its_expected_state(store: Store) {
    stock(&store, "p1", 10).await;
    let o = place(&store, new_order("u1", "p1", 4, T0)).await;
    let late = T0.plus(TIMEOUT).plus(Duration::from_millis(1));
    let sweep = lifecycle::on_expiry(&o, late).unwrap();
    let PaymentDecision::Apply {
        transition: fail, ..
    } = lifecycle::on_payment(&o, PaymentOutcome::Failed, None, late)
    else {
        panic!("failure applies to a placed order")
    };
    // Both were decided from the same read; only the first may win.
    store.apply(&sweep).await.unwrap();
    let err = store.apply(&fail).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    let now = store.get_order(o.id).await.unwrap().unwrap();
    assert_eq!(now.state.status, OrderStatus::Timeout);
    // Released once, not twice.
    let p = product(&store, "p1").await;
    assert_eq!((p.stock_count, p.locked_count), (10, 0));
    // A transition for an order that does not exist is a conflict too.
    let mut ghost = sweep.clone();
    ghost.order_id = OrderId::new_random();
    assert!(matches!(
        store.apply(&ghost).await,
        Err(StoreError::Conflict)
    ));
}

pub async fn release_and_sell_move_the_counters(store: Store) {
    stock(&store, "p1", 10).await;
    let sold = place(&store, new_order("u1", "p1", 3, T0)).await;
    let released = place(&store, new_order("u2", "p1", 2, T0)).await;
    let p = product(&store, "p1").await;
    assert_eq!((p.stock_count, p.locked_count), (5, 5));

    // The store applies whatever transition it is given; which ones are legal is the
    // domain's business. Here: straight to processing, then completed, selling the stock.
    let processing = Transition {
        order_id: sold.id,
        user_id: sold.user_id.clone(),
        lines: sold.lines.clone(),
        from: sold.state,
        to: OrderState {
            status: OrderStatus::Processing,
            ..sold.state
        },
        payment_time: None,
        payment_id: None,
        stock: StockEffect::None,
        at: T0,
        event: EventType::Processing,
        seq: 2,
        kept_payment_time: None,
        kept_payment_id: None,
        resend: Some(Resend::first(T0, Duration::from_secs(60))),
    };
    store.apply(&processing).await.unwrap();
    let now = store.get_order(sold.id).await.unwrap().unwrap();
    assert_eq!(
        now.resend, processing.resend,
        "the processing lease is stored"
    );
    let done = lifecycle::on_processed(&now, T0).unwrap();
    assert_eq!(done.stock, StockEffect::Sell);
    store.apply(&done).await.unwrap();
    assert_eq!(
        store
            .get_order(sold.id)
            .await
            .unwrap()
            .unwrap()
            .state
            .status,
        OrderStatus::Completed
    );
    let completed = store.get_order(sold.id).await.unwrap().unwrap();
    assert_eq!(completed.resend, None, "nothing awaited any more");

    let expire = lifecycle::on_expiry(&released, T0.plus(TIMEOUT * 2)).unwrap();
    store.apply(&expire).await.unwrap();

    // I1: locked == quantities in 1-2 (none); I2: stock + locked + sold == 10.
    let p = product(&store, "p1").await;
    assert_eq!((p.stock_count, p.locked_count), (7, 0));

    // Each transition appended its event, with the state right after it.
    let history = |id| {
        let store = store.clone();
        async move {
            let events = store.order_events(id).await.unwrap();
            events
                .iter()
                .map(|e| (e.seq, e.kind, e.state.status))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        history(sold.id).await,
        [
            (1, EventType::Placed, OrderStatus::Pending),
            (2, EventType::Processing, OrderStatus::Processing),
            (3, EventType::Completed, OrderStatus::Completed),
        ]
    );
    assert_eq!(
        history(released.id).await,
        [
            (1, EventType::Placed, OrderStatus::Pending),
            (2, EventType::TimedOut, OrderStatus::Timeout),
        ]
    );
    // A transition whose condition is lost writes no event either.
    assert!(matches!(
        store.apply(&expire).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(history(released.id).await.len(), 2);
    assert!(
        store
            .order_events(OrderId::new_random())
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn payment_fields_and_timestamps_round_trip(store: Store) {
    stock(&store, "p1", 10).await;
    let o = place(&store, new_order("u1", "p1", 1, T0)).await;
    let paid_at = T0.plus(Duration::from_millis(1234));
    let PaymentDecision::Apply { transition, .. } =
        lifecycle::on_payment(&o, PaymentOutcome::Failed, Some("gw-77".into()), paid_at)
    else {
        panic!("failure applies to a placed order")
    };
    store.apply(&transition).await.unwrap();
    let got = store.get_order(o.id).await.unwrap().unwrap();
    assert_eq!(got, transition.applied_to(&o));
    assert_eq!(got.payment_id.as_deref(), Some("gw-77"));
    assert_eq!(got.payment_time, None);
    assert_eq!(got.updated_at, paid_at);
    assert_eq!(got.created_at, T0);
    assert_eq!(got.state.payment, PaymentStatus::Failed);
}

pub async fn setting_stock_creates_the_product_and_keeps_locked_units(store: Store) {
    let p = store
        .put_product(&pid("p1"), StockCount::new(5).unwrap(), LimitChange::Keep)
        .await
        .unwrap();
    assert_eq!((p.stock_count, p.locked_count), (5, 0));
    place(&store, new_order("u1", "p1", 2, T0)).await;
    let p = store
        .put_product(&pid("p1"), StockCount::new(40).unwrap(), LimitChange::Keep)
        .await
        .unwrap();
    assert_eq!((p.stock_count, p.locked_count), (40, 2));
    assert_eq!(product(&store, "p1").await, p);
    let max = store
        .put_product(
            &pid("big"),
            StockCount::new(StockCount::MAX).unwrap(),
            LimitChange::Keep,
        )
        .await
        .unwrap();
    assert_eq!(max.stock_count, StockCount::MAX);
}

pub async fn products_are_listed_by_id(store: Store) {
    for id in ["b", "c", "a"] {
        stock(&store, id, 1).await;
    }
    let ids: Vec<_> = store
        .list_products()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.product_id.as_str().to_owned())
        .collect();
    assert_eq!(ids, ["a", "b", "c"]);
}

pub async fn a_missing_order_or_product_reads_as_none(store: Store) {
    assert_eq!(store.get_order(OrderId::new_random()).await.unwrap(), None);
    assert_eq!(store.get_product(&pid("ghost")).await.unwrap(), None);
    store.ping().await.unwrap();
}

pub async fn expired_unpaid_orders_are_found_by_deadline(store: Store) {
    stock(&store, "p1", 100).await;
    let a = place(
        &store,
        new_order("u1", "p1", 1, T0.plus(Duration::from_millis(5))),
    )
    .await;
    let b = place(&store, new_order("u1", "p1", 1, T0)).await;
    let c = place(
        &store,
        new_order("u1", "p1", 1, T0.plus(Duration::from_secs(60))),
    )
    .await;
    // Paid: not the sweeper's, even though its deadline passed.
    let paid = place(&store, new_order("u1", "p1", 1, T0)).await;
    let PaymentDecision::Apply { transition, .. } =
        lifecycle::on_payment(&paid, PaymentOutcome::Success, None, T0)
    else {
        panic!("payment applies to a placed order")
    };
    store.apply(&transition).await.unwrap();

    let now = T0.plus(TIMEOUT).plus(Duration::from_millis(10));
    let ids = |v: Vec<Order>| v.into_iter().map(|o| o.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.expired_unpaid(now, 10).await.unwrap()),
        [b.id, a.id]
    );
    assert_eq!(ids(store.expired_unpaid(now, 1).await.unwrap()), [b.id]);
    // The deadline itself is not expired.
    assert!(
        store
            .expired_unpaid(T0.plus(TIMEOUT), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let later = T0.plus(TIMEOUT).plus(Duration::from_secs(61));
    assert_eq!(
        ids(store.expired_unpaid(later, 10).await.unwrap()),
        [b.id, a.id, c.id]
    );
}

pub async fn orders_awaiting_a_message_are_found_when_due_and_rescheduled(store: Store) {
    stock(&store, "p1", 100).await;
    let pay = |o: &Order, at: Timestamp| match lifecycle::on_payment(
        o,
        PaymentOutcome::Success,
        None,
        at,
    ) {
        PaymentDecision::Apply { transition, .. } => transition,
        PaymentDecision::Duplicate => panic!("a placed order takes a payment"),
    };
    let early = place(&store, new_order("u1", "p1", 1, T0)).await;
    let late = place(&store, new_order("u1", "p1", 1, T0)).await;
    let unpaid = place(&store, new_order("u1", "p1", 1, T0)).await;
    let at = |s| T0.plus(Duration::from_secs(s));
    // Paid at 10 s and 20 s: due 120 s later (the transition's schedule).
    store.apply(&pay(&early, at(10))).await.unwrap();
    store.apply(&pay(&late, at(20))).await.unwrap();
    let ids = |v: Vec<Order>| v.into_iter().map(|o| o.id).collect::<Vec<_>>();
    assert!(
        store
            .awaiting_message(at(130), 10)
            .await
            .unwrap()
            .is_empty(),
        "strictly before"
    );
    assert_eq!(
        ids(store.awaiting_message(at(135), 10).await.unwrap()),
        [early.id]
    );
    let both = store.awaiting_message(at(200), 10).await.unwrap();
    assert_eq!(ids(both.clone()), [early.id, late.id], "earliest due first");
    assert_eq!(
        ids(store.awaiting_message(at(200), 1).await.unwrap()),
        [early.id]
    );
    // Sent again at 200 s: due again 240 s later, and the stored order says so.
    let next = both[0].resend.unwrap().next(at(200));
    store.rescheduled(&both[0], next).await.unwrap();
    assert_eq!(
        store.get_order(early.id).await.unwrap().unwrap().resend,
        Some(next)
    );
    assert_eq!(
        ids(store.awaiting_message(at(300), 10).await.unwrap()),
        [late.id]
    );
    assert_eq!(
        ids(store.awaiting_message(at(441), 10).await.unwrap()),
        [late.id, early.id]
    );
    // A stale read is refused: the order moved on (claimed by a consumer) meanwhile.
    let now = store.get_order(late.id).await.unwrap().unwrap();
    let lifecycle::ConsumeDecision::Start(claim) = lifecycle::on_consume(&now, at(300)) else {
        panic!("a paid order is claimed")
    };
    store.apply(&claim).await.unwrap();
    assert!(matches!(
        store.rescheduled(&now, next).await,
        Err(StoreError::Conflict)
    ));
    // Processing under a lease: listed again once the lease is over (120 s after the claim).
    assert!(!ids(store.awaiting_message(at(419), 10).await.unwrap()).contains(&late.id));
    assert!(ids(store.awaiting_message(at(421), 10).await.unwrap()).contains(&late.id));
    // Completed: off the list for good.
    let claimed = store.get_order(late.id).await.unwrap().unwrap();
    store
        .apply(&lifecycle::on_processed(&claimed, at(421)).unwrap())
        .await
        .unwrap();
    assert_eq!(
        ids(store.awaiting_message(at(100_000), 10).await.unwrap()),
        [early.id]
    );
    let _ = unpaid;
}
