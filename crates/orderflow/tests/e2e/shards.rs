//! Stock spread over shards (`PUT /inventory/{id}` with `shards`): the AWS backend keeps a
//! busy product's stock on several items; the embedded store keeps its one row. Either way
//! the API shows one product, and a flash sale sells exactly its units.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Options, TestApp, assert_error, assert_refused, on_both_backends};

on_both_backends!(
    a_flash_sale_on_spread_stock_sells_exactly_its_units,
    shards_are_validated_and_leave_the_product_as_shown
);

async fn a_flash_sale_on_spread_stock_sells_exactly_its_units(opts: Options) {
    let app = TestApp::spawn_with(opts).await;
    let (s, p) = app
        .put_inventory("flash", &json!({ "stockCount": 40, "shards": 8 }))
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(
        p,
        json!({ "productId": "flash", "stockCount": 40, "lockedCount": 0, "maxPerUser": null })
    );
    // 8 at a time: the emulator answers one request at a time, far slower than DynamoDB,
    // and a burst beyond the retry budget would be answered 503 (rightly, but not the
    // point here).
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(8));
    let mut buyers = tokio::task::JoinSet::new();
    for i in 0..100 {
        let req = app.client.post(app.url("/order")).json(&json!({
            "userId": format!("buyer-{i}"),
            "productId": "flash",
            "quantity": 1 + i % 2,
        }));
        let gate = gate.clone();
        buyers.spawn(async move {
            let _turn = gate.acquire().await.unwrap();
            crate::helpers::read(req.send().await.unwrap()).await
        });
    }
    let mut sold = 0;
    for (s, b) in buyers.join_all().await {
        match s {
            StatusCode::CREATED => sold += b["quantity"].as_i64().unwrap(),
            StatusCode::CONFLICT => assert_eq!(b["error"]["code"], "out_of_stock", "{b}"),
            other => panic!("{other}: {b}"),
        }
    }
    // Refused only when fewer units were left than asked: at most one left over.
    let (stock, locked) = app.product("flash").await;
    assert!(
        stock <= 1 && locked == sold && stock + locked == 40,
        "{stock} {locked}"
    );
    let (s, list) = app.get("/inventory").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        list["products"],
        json!([{ "productId": "flash", "stockCount": stock, "lockedCount": locked, "maxPerUser": null }])
    );
    app.assert_invariants(&HashMap::from([("flash".to_owned(), 40)]))
        .await;
}

async fn shards_are_validated_and_leave_the_product_as_shown(opts: Options) {
    let app = TestApp::spawn_with(opts).await;
    for bad in [json!(0), json!(33), json!(-1), json!("4"), json!(2.5)] {
        let (s, b) = app
            .put_inventory("p", &json!({ "stockCount": 5, "shards": bad }))
            .await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_request");
        if bad.is_i64() {
            let message = b["error"]["message"].as_str().unwrap();
            assert!(message.contains("shards must be"), "{b}");
        }
    }
    let (s, b) = app.get("/inventory/p").await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "product_not_found");
    let (s, p) = app
        .put_inventory(
            "p",
            &json!({ "stockCount": 7, "maxPerUser": 2, "shards": 32 }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(
        p,
        json!({ "productId": "p", "stockCount": 7, "lockedCount": 0, "maxPerUser": 2 })
    );
    // The limit holds on every shard.
    app.place_ok("u1", "p", 2).await;
    let (s, b) = app.place("u1", "p", 1).await;
    assert_refused(s, &b, StatusCode::CONFLICT, "limit_exceeded", &["p"]);
    assert_eq!(app.product("p").await, (5, 2));
}

/// The AWS backend refuses fewer shards than a product has: orders hold units on each.
#[tokio::test]
async fn shards_only_grow_on_aws() {
    let app = TestApp::spawn_with(Options::default().aws()).await;
    let (s, _) = app
        .put_inventory("p", &json!({ "stockCount": 10, "shards": 4 }))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = app
        .put_inventory("p", &json!({ "stockCount": 10, "shards": 2 }))
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("only grow"),
        "{b}"
    );
    let (s, p) = app
        .put_inventory("p", &json!({ "stockCount": 10, "shards": 4 }))
        .await;
    assert_eq!((s, p["stockCount"].as_i64()), (StatusCode::OK, Some(10)));
}
