//! Placing, reading and listing orders.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, assert_refused, millis};

const ORDER_FIELDS: [&str; 14] = [
    "orderId",
    "userId",
    "items",
    "productId",
    "quantity",
    "orderStatus",
    "status",
    "paymentStatus",
    "paymentTime",
    "paymentId",
    "refundStatus",
    "createdAt",
    "updatedAt",
    "expiresAt",
];

fn assert_full_order(o: &Value) {
    let keys: HashSet<_> = o.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, HashSet::from(ORDER_FIELDS), "{o}");
}

#[tokio::test]
async fn placing_an_order_answers_201_with_the_full_order_and_locks_stock() {
    let app = TestApp::spawn().await;
    app.stock("p1", 10).await;
    let r = app
        .client
        .post(app.url("/order"))
        .json(&json!({ "userId": "u1", "productId": "p1", "quantity": 3 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let o: Value = r.json().await.unwrap();
    assert_full_order(&o);
    let id = o["orderId"].as_str().unwrap();
    assert_eq!(location, format!("/order/{id}"));
    assert_eq!(id.len(), 36);
    assert_eq!(o["userId"], "u1");
    assert_eq!(o["productId"], "p1");
    assert_eq!(o["quantity"], 3);
    assert_eq!(o["items"], json!([{ "productId": "p1", "quantity": 3 }]));
    assert_eq!(o["orderStatus"], 1);
    assert_eq!(o["status"], "pending");
    assert_eq!(o["paymentStatus"], "pending");
    assert_eq!(o["paymentTime"], Value::Null);
    assert_eq!(o["paymentId"], Value::Null);
    assert_eq!(o["refundStatus"], "none");
    assert_eq!(o["createdAt"], o["updatedAt"]);
    // The default payment timeout is 30 minutes.
    assert_eq!(
        millis(&o["expiresAt"]) - millis(&o["createdAt"]),
        30 * 60 * 1000
    );
    assert_eq!(app.product("p1").await, (7, 3));
}

#[tokio::test]
async fn quantity_defaults_to_one() {
    let app = TestApp::spawn().await;
    app.stock("p1", 10).await;
    let (s, o) = app
        .post_json("/order", &json!({ "userId": "u1", "productId": "p1" }))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    assert_eq!(o["quantity"], 1);
    assert_eq!(app.product("p1").await, (9, 1));
}

#[tokio::test]
async fn an_order_reads_back_in_full_and_as_status() {
    let app = TestApp::spawn().await;
    app.stock("p1", 10).await;
    let placed = app.place_ok("u1", "p1", 2).await;
    let id = placed["orderId"].as_str().unwrap();

    let (s, full) = app.get(&format!("/order/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(full, placed);

    let (s, status) = app.get(&format!("/order/{id}/status")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        status,
        json!({
            "orderId": id,
            "orderStatus": 1,
            "status": "pending",
            "paymentStatus": "pending",
            "refundStatus": "none"
        })
    );
}

#[tokio::test]
async fn unknown_orders_are_404_and_malformed_ids_400() {
    let app = TestApp::spawn().await;
    for path in [
        "/order/1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        "/order/1b4e28ba-2fa1-11d2-883f-0016d3cca427/status",
    ] {
        let (s, b) = app.get(path).await;
        assert_error(s, &b, StatusCode::NOT_FOUND, "order_not_found");
    }
    for path in ["/order/42", "/order/not-a-uuid/status", "/order/%20"] {
        let (s, b) = app.get(path).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_request");
    }
}

#[tokio::test]
async fn an_unknown_product_is_404_and_out_of_stock_409_with_nothing_changed() {
    let app = TestApp::spawn().await;
    let (s, b) = app.place("u1", "ghost", 1).await;
    assert_refused(
        s,
        &b,
        StatusCode::NOT_FOUND,
        "product_not_found",
        &["ghost"],
    );

    app.stock("p1", 2).await;
    let (s, b) = app.place("u1", "p1", 3).await;
    assert_refused(s, &b, StatusCode::CONFLICT, "out_of_stock", &["p1"]);
    assert_eq!(app.product("p1").await, (2, 0));
    assert!(app.all_orders("").await.is_empty());
}

#[tokio::test]
async fn the_same_idempotency_key_and_body_returns_the_first_order() {
    let app = TestApp::spawn().await;
    app.stock("p1", 10).await;
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
    let body = json!({ "userId": "u1", "productId": "p1", "quantity": 2 });
    let (s1, first) = send("key-1", body.clone()).await;
    assert_eq!(s1, StatusCode::CREATED, "{first}");
    let (s2, again) = send("key-1", body.clone()).await;
    assert_eq!(s2, StatusCode::CREATED, "{again}");
    assert_eq!(again["orderId"], first["orderId"]);
    assert_eq!(app.product("p1").await, (8, 2), "locked once");

    // The same key with another body is refused and changes nothing.
    let (s, b) = send(
        "key-1",
        json!({ "userId": "u1", "productId": "p1", "quantity": 3 }),
    )
    .await;
    assert_error(s, &b, StatusCode::CONFLICT, "idempotency_mismatch");
    assert_eq!(app.product("p1").await, (8, 2));
    assert_eq!(app.all_orders("").await.len(), 1);

    // Leaving out the default quantity is the same request as sending it.
    let (s, b) = send("key-2", json!({ "userId": "u1", "productId": "p1" })).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b2) = send(
        "key-2",
        json!({ "userId": "u1", "productId": "p1", "quantity": 1 }),
    )
    .await;
    assert_eq!((s, &b2["orderId"]), (StatusCode::CREATED, &b["orderId"]));
}

#[tokio::test]
async fn concurrent_retries_with_one_idempotency_key_make_one_order() {
    let app = TestApp::spawn().await;
    app.stock("p1", 100).await;
    let body = json!({ "userId": "u1", "productId": "p1", "quantity": 5 });
    let mut sends = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let req = app
            .client
            .post(app.url("/order"))
            .header("Idempotency-Key", "retry-storm")
            .json(&body);
        sends.spawn(async move { crate::helpers::read(req.send().await.unwrap()).await });
    }
    let mut ids = HashSet::new();
    for (s, b) in sends.join_all().await {
        assert_eq!(s, StatusCode::CREATED, "{b}");
        ids.insert(b["orderId"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(app.product("p1").await, (95, 5));
    assert_eq!(app.all_orders("").await.len(), 1);
}

#[tokio::test]
async fn listing_is_newest_first_with_filters_and_cursors() {
    let app = TestApp::spawn().await;
    app.stock("p1", 100).await;
    let mut placed = Vec::new();
    for i in 0..7 {
        let user = if i % 2 == 0 { "alice" } else { "bob" };
        placed.push(app.place_ok(user, "p1", 1).await["orderId"].clone());
    }
    placed.reverse();

    // Pages of 3, newest first, each order exactly once.
    let mut seen = Vec::new();
    let mut path = "/orders?limit=3".to_owned();
    loop {
        let (s, page) = app.get(&path).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        assert_eq!(page.as_object().unwrap().len(), 2, "{page}");
        let orders = page["orders"].as_array().unwrap();
        assert!(orders.len() <= 3);
        seen.extend(orders.iter().map(|o| o["orderId"].clone()));
        match page["nextCursor"].as_str() {
            Some(c) => path = format!("/orders?limit=3&cursor={c}"),
            None => {
                assert_eq!(page["nextCursor"], Value::Null);
                break;
            }
        }
    }
    assert_eq!(seen, placed);

    let alice = app.all_orders("&userId=alice").await;
    assert_eq!(alice.len(), 4);
    assert!(alice.iter().all(|o| o["userId"] == "alice"));
    let alice_ids: Vec<_> = alice.iter().map(|o| o["orderId"].clone()).collect();
    let expected: Vec<_> = placed.iter().step_by(2).cloned().collect();
    assert_eq!(alice_ids, expected);

    // A status filter takes a code or a name.
    assert_eq!(app.all_orders("&status=pending").await.len(), 7);
    assert_eq!(app.all_orders("&status=1").await.len(), 7);
    assert_eq!(app.all_orders("&status=completed").await.len(), 0);
    assert_eq!(app.all_orders("&status=3&userId=bob").await.len(), 0);

    // Default page size is 50.
    let (_, page) = app.get("/orders").await;
    assert_eq!(page["orders"].as_array().unwrap().len(), 7);
    assert_eq!(page["nextCursor"], Value::Null);
}

#[tokio::test]
async fn bad_listing_parameters_are_400() {
    let app = TestApp::spawn().await;
    for q in [
        "limit=0",
        "limit=501",
        "limit=-1",
        "limit=ten",
        "limit=1.5",
        "status=6",
        "status=0",
        "status=Pending",
        "status=shipped",
        "cursor=not-a-cursor",
        "cursor=b28uNQ",
        "userId=x&userId=y",
    ] {
        let (s, b) = app.get(&format!("/orders?{q}")).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_request");
    }
    let long = "u".repeat(129);
    let (s, b) = app.get(&format!("/orders?userId={long}")).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_request");
    let (s, _) = app.get("/orders?limit=500").await;
    assert_eq!(s, StatusCode::OK);
}
