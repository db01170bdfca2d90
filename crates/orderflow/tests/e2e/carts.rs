//! Carts and per-customer limits through the real binary: validation, the seed scenarios
//! with a 3-line cart on both backends, limits, and a cart placement cut by `kill -9`.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, assert_error, assert_refused, on_both_backends, units};

on_both_backends!(
    a_paid_cart_sells_every_line,
    an_unpaid_cart_times_out_and_releases_every_line,
    a_failed_cart_releases_every_line_and_a_late_payment_is_refunded,
    a_limit_holds_per_customer_and_comes_back_after_a_timeout,
);

const CART: [(&str, i64); 3] = [("a", 2), ("b", 1), ("c", 3)];

fn id(o: &Value) -> String {
    o["orderId"].as_str().unwrap().to_owned()
}

async fn stock_cart_products(app: &TestApp) {
    for p in ["a", "b", "c"] {
        app.stock(p, 10).await;
    }
}

fn stocked() -> HashMap<String, i64> {
    ["a", "b", "c"].map(|p| (p.to_owned(), 10)).into()
}

async fn counters(app: &TestApp) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for p in ["a", "b", "c"] {
        out.push(app.product(p).await);
    }
    out
}

async fn a_paid_cart_sells_every_line(base: Options) {
    let app = TestApp::spawn_with(base.fast_flags().flag("--payment-timeout", "30s")).await;
    stock_cart_products(&app).await;
    let placed = app.place_cart_ok("u1", &CART).await;
    assert_eq!(
        placed["items"],
        json!([
            { "productId": "a", "quantity": 2 },
            { "productId": "b", "quantity": 1 },
            { "productId": "c", "quantity": 3 },
        ])
    );
    assert_eq!(
        (&placed["productId"], &placed["quantity"]),
        (&Value::Null, &Value::Null),
        "several lines: no single product"
    );
    assert_eq!(counters(&app).await, [(8, 2), (9, 1), (7, 3)]);
    let o = id(&placed);
    let (s, b) = app.simulate(&o, "success", 0).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let (done, seen) = app.wait_for(&o, 15, |o| o["orderStatus"] == 3).await;
    assert_eq!(seen, [1, 2, 3]);
    assert_eq!(done["items"], placed["items"]);
    assert_eq!(counters(&app).await, [(8, 0), (9, 0), (7, 0)], "all sold");
    app.assert_invariants(&stocked()).await;
}

async fn an_unpaid_cart_times_out_and_releases_every_line(base: Options) {
    let app = TestApp::spawn_with(base.fast_flags()).await;
    stock_cart_products(&app).await;
    let o = id(&app.place_cart_ok("u1", &CART).await);
    let (done, _) = app.wait_for(&o, 10, |o| o["orderStatus"] == 4).await;
    assert_eq!(done["status"], "timeout");
    assert_eq!(counters(&app).await, [(10, 0), (10, 0), (10, 0)]);
    app.assert_invariants(&stocked()).await;
}

async fn a_failed_cart_releases_every_line_and_a_late_payment_is_refunded(base: Options) {
    let app = TestApp::spawn_with(base.fast_flags().flag("--payment-timeout", "30s")).await;
    stock_cart_products(&app).await;
    let failed = id(&app.place_cart_ok("u1", &CART).await);
    let (s, b) = app.webhook(&failed, "failed").await;
    assert_eq!(
        (s, &b["outcome"]),
        (StatusCode::OK, &json!("failed")),
        "{b}"
    );
    assert_eq!(counters(&app).await, [(10, 0), (10, 0), (10, 0)]);
    let (_, b) = app.webhook(&failed, "success").await;
    assert_eq!(b["outcome"], "refund_initiated", "{b}");
    app.wait_for(&failed, 10, |o| o["refundStatus"] == "completed")
        .await;
    assert_eq!(counters(&app).await, [(10, 0), (10, 0), (10, 0)]);
    app.assert_invariants(&stocked()).await;
}

async fn a_limit_holds_per_customer_and_comes_back_after_a_timeout(base: Options) {
    let app = TestApp::spawn_with(base.fast_flags().flag("--payment-timeout", "2s")).await;
    let (s, p) = app
        .put_inventory("drop", &json!({ "stockCount": 50, "maxPerUser": 2 }))
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(
        p,
        json!({ "productId": "drop", "stockCount": 50, "lockedCount": 0, "maxPerUser": 2 })
    );
    app.stock("free", 50).await;
    let first = id(&app.place_cart_ok("u1", &[("drop", 1), ("free", 5)]).await);
    let (s, b) = app.place_cart("u1", &[("free", 1), ("drop", 2)]).await;
    assert_refused(s, &b, StatusCode::CONFLICT, "limit_exceeded", &["drop"]);
    assert_eq!(app.product("free").await, (45, 5), "nothing locked");
    app.place_ok("u1", "drop", 1).await;
    let (s, b) = app.place("u1", "drop", 1).await;
    assert_refused(s, &b, StatusCode::CONFLICT, "limit_exceeded", &["drop"]);
    app.place_ok("u2", "drop", 2).await;
    // Both of u1's orders time out: the allowance comes back.
    app.wait_for(&first, 10, |o| o["orderStatus"] == 4).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (s, b) = app.place("u1", "drop", 2).await;
        if s == StatusCode::CREATED {
            break;
        }
        assert_refused(s, &b, StatusCode::CONFLICT, "limit_exceeded", &["drop"]);
        assert!(
            std::time::Instant::now() < deadline,
            "the allowance never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // I6 over every order of every customer.
    let orders = app.all_orders("").await;
    for user in ["u1", "u2"] {
        let theirs: Vec<_> = orders
            .iter()
            .filter(|o| o["userId"] == user)
            .cloned()
            .collect();
        assert!(units(&theirs, "drop", &[1, 2, 3]) <= 2, "I6 for {user}");
    }
}

#[tokio::test]
async fn limits_are_set_kept_removed_and_validated() {
    let app = TestApp::spawn().await;
    let put = |body: Value| {
        let app = &app;
        async move { app.put_inventory("p", &body).await }
    };
    let (_, p) = put(json!({ "stockCount": 5, "maxPerUser": 3 })).await;
    assert_eq!(p["maxPerUser"], 3);
    let (_, p) = put(json!({ "stockCount": 6 })).await;
    assert_eq!(
        (&p["stockCount"], &p["maxPerUser"]),
        (&json!(6), &json!(3)),
        "kept"
    );
    let (_, list) = app.get("/inventory").await;
    assert_eq!(list["products"][0]["maxPerUser"], 3);
    let (_, p) = put(json!({ "stockCount": 6, "maxPerUser": null })).await;
    assert_eq!(p["maxPerUser"], Value::Null, "removed");
    for bad in [
        json!({ "stockCount": 6, "maxPerUser": 0 }),
        json!({ "stockCount": 6, "maxPerUser": 1_000_001 }),
        json!({ "stockCount": 6, "maxPerUser": 1.5 }),
        json!({ "stockCount": 6, "maxPerUser": "2" }),
        json!({ "maxPerUser": 2 }),
    ] {
        let (s, b) = put(bad.clone()).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_request");
    }
    let (_, p) = app.get("/inventory/p").await;
    assert_eq!(
        (&p["stockCount"], &p["maxPerUser"]),
        (&json!(6), &Value::Null)
    );
}

#[tokio::test]
async fn bad_carts_are_400_unknown_products_404_and_nothing_changes() {
    let app = TestApp::spawn().await;
    app.stock("a", 10).await;
    app.stock("b", 10).await;
    let line = |p: String| json!({ "productId": p });
    let many: Vec<Value> = (0..51).map(|i| line(format!("p{i}"))).collect();
    let fifty: Vec<Value> = (0..50).map(|i| line(format!("p{i}"))).collect();
    let cases = [
        json!({ "userId": "u1", "items": [] }),
        json!({ "userId": "u1", "items": many }),
        json!({ "userId": "u1", "items": [{ "productId": "a" }, { "productId": "a", "quantity": 2 }] }),
        json!({ "userId": "u1", "productId": "a", "items": [{ "productId": "b" }] }),
        json!({ "userId": "u1", "items": [{ "productId": "a", "quantity": 0 }] }),
        json!({ "userId": "u1", "items": [{ "productId": "a", "quantity": 1001 }] }),
        json!({ "userId": "u1", "items": [{ "productId": "a", "quantity": 1.5 }] }),
        json!({ "userId": "u1", "items": [{ "productId": "a", "quantity": "2" }] }),
        json!({ "userId": "u1", "items": [{ "productId": "" }] }),
        json!({ "userId": "u1", "items": [{ "quantity": 1 }] }),
        json!({ "userId": "u1", "items": [{ "productId": "a", "extra": 1 }] }),
        json!({ "userId": "u1", "items": [{ "productId": "a" }], "quantity": 2 }),
        json!({ "userId": "u1", "items": { "productId": "a" } }),
        json!({ "userId": "u1", "items": null }),
        json!({ "items": [{ "productId": "a" }] }),
    ];
    for body in cases {
        let (s, b) = app.post_json("/order", &body).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_request");
    }
    // Fifty lines is the limit, and every product of it is named when unknown.
    let (s, b) = app
        .post_json("/order", &json!({ "userId": "u1", "items": fifty }))
        .await;
    let names: Vec<String> = (0..50).map(|i| format!("p{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_refused(s, &b, StatusCode::NOT_FOUND, "product_not_found", &names);
    let (s, b) = app
        .place_cart("u1", &[("a", 1), ("ghost", 1), ("b", 1), ("nope", 2)])
        .await;
    assert_refused(
        s,
        &b,
        StatusCode::NOT_FOUND,
        "product_not_found",
        &["ghost", "nope"],
    );
    let (s, b) = app.place_cart("u1", &[("a", 11), ("b", 10)]).await;
    assert_refused(s, &b, StatusCode::CONFLICT, "out_of_stock", &["a"]);
    assert_eq!(app.product("a").await, (10, 0));
    assert_eq!(app.product("b").await, (10, 0));
    assert!(app.all_orders("").await.is_empty());
    // A one-line cart and the single-product form are the same order.
    let (s, o) = app.place_cart("u1", &[("a", 2)]).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    assert_eq!((&o["productId"], &o["quantity"]), (&json!("a"), &json!(2)));
}

#[tokio::test]
async fn an_idempotent_cart_replays_and_the_one_line_forms_are_one_request() {
    let app = TestApp::spawn().await;
    app.stock("a", 10).await;
    app.stock("b", 10).await;
    let send = |key: &'static str, body: Value| {
        let app = &app;
        async move {
            let r = app
                .client
                .post(app.url("/order"))
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            crate::helpers::read(r).await
        }
    };
    let cart = json!({ "userId": "u1", "items": [{ "productId": "a", "quantity": 2 }, { "productId": "b" }] });
    let (s1, first) = send("k1", cart.clone()).await;
    let (s2, again) = send("k1", cart).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(first["orderId"], again["orderId"]);
    let other = json!({ "userId": "u1", "items": [{ "productId": "b" }, { "productId": "a", "quantity": 2 }] });
    let (s, b) = send("k1", other).await;
    assert_error(s, &b, StatusCode::CONFLICT, "idempotency_mismatch");
    let (_, single) = send("k2", json!({ "userId": "u1", "productId": "a" })).await;
    let (s, same) = send(
        "k2",
        json!({ "userId": "u1", "items": [{ "productId": "a" }] }),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(single["orderId"], same["orderId"]);
    assert_eq!(app.product("a").await, (7, 3));
    assert_eq!(app.product("b").await, (9, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_carts_survive_kill_9_during_placement() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = TestApp::spawn_in(dir.path(), Options::default()).await;
    let products = ["k0", "k1", "k2", "k3", "k4"];
    for p in products {
        app.stock(p, 100_000).await;
    }
    let mut buyers = tokio::task::JoinSet::new();
    for b in 0..16 {
        let client = app.client.clone();
        let url = app.url("/order");
        buyers.spawn(async move {
            let mut acked = Vec::new();
            for i in 0.. {
                let items: Vec<Value> = (0..3)
                    .map(|k| json!({ "productId": products[(b + i + k) % 5], "quantity": 1 + k }))
                    .collect();
                let body = json!({ "userId": format!("u{b}-{i}"), "items": items });
                match client.post(&url).json(&body).send().await {
                    Ok(r) if r.status() == StatusCode::CREATED => {
                        acked.push(r.json::<Value>().await.unwrap());
                    }
                    // The server died under us: this one was never acknowledged.
                    _ => return acked,
                }
            }
            acked
        });
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    app.kill_9();
    let acked: Vec<_> = buyers.join_all().await.into_iter().flatten().collect();
    assert!(acked.len() > 10, "load ran: {} carts", acked.len());

    let app = TestApp::spawn_in(dir.path(), Options::default()).await;
    for o in &acked {
        let got = app.order(o["orderId"].as_str().unwrap()).await;
        assert_eq!(&got, o, "an acknowledged cart came back whole");
    }
    let stocked = products.map(|p| (p.to_owned(), 100_000)).into();
    app.assert_invariants(&stocked).await;
}
