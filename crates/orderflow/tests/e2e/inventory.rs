//! Inventory: set, read, list, and the admin token.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Options, TestApp, assert_error};

#[tokio::test]
async fn setting_stock_creates_the_product_and_keeps_locked_units() {
    let app = TestApp::spawn().await;
    let (s, p) = app.put_stock("p1", 5).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        p,
        json!({ "productId": "p1", "stockCount": 5, "lockedCount": 0, "maxPerUser": null })
    );
    app.place_ok("u1", "p1", 2).await;
    let (_, p) = app.put_stock("p1", 20).await;
    assert_eq!(
        p,
        json!({ "productId": "p1", "stockCount": 20, "lockedCount": 2, "maxPerUser": null })
    );
    let (s, p) = app.get("/inventory/p1").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        p,
        json!({ "productId": "p1", "stockCount": 20, "lockedCount": 2, "maxPerUser": null })
    );
}

#[tokio::test]
async fn inventory_lists_every_product_and_unknown_ones_are_404() {
    let app = TestApp::spawn().await;
    app.stock("b", 1).await;
    app.stock("a", 2).await;
    let (s, list) = app.get("/inventory").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        list,
        json!({ "products": [
            { "productId": "a", "stockCount": 2, "lockedCount": 0, "maxPerUser": null },
            { "productId": "b", "stockCount": 1, "lockedCount": 0, "maxPerUser": null },
        ]})
    );
    let (s, b) = app.get("/inventory/zzz").await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "product_not_found");
}

#[tokio::test]
async fn product_ids_are_taken_as_given_in_the_path() {
    let app = TestApp::spawn().await;
    // Percent-encoded characters are decoded: this is the product "red shirt/xl".
    let (s, p) = app.put_stock("red%20shirt%2Fxl", 3).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["productId"], "red shirt/xl");
    app.place_ok("u1", "red shirt/xl", 1).await;
    assert_eq!(app.product("red%20shirt%2Fxl").await, (2, 1));
    let long = "p".repeat(129);
    let (s, b) = app.put_stock(&long, 1).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn with_an_admin_token_inventory_writes_need_it() {
    let app = TestApp::spawn_with(Options::default().arg("--admin-token").arg("s3cret")).await;
    let put = |auth: Option<&'static str>| {
        let mut req = app
            .client
            .put(app.url("/inventory/p1"))
            .json(&json!({ "stockCount": 5 }));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        async move { crate::helpers::read(req.send().await.unwrap()).await }
    };
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("s3cret"),
        Some("Basic s3cret"),
        Some("Bearer s3cret2"),
    ] {
        let (s, b) = put(auth).await;
        assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let (s, b) = app.get("/inventory/p1").await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "product_not_found");
    let (s, b) = put(Some("Bearer s3cret")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Reads and orders stay open.
    assert_eq!(app.product("p1").await, (5, 0));
    app.place_ok("u1", "p1", 1).await;
}
