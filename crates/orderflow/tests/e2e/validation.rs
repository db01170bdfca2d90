//! Bad input: every malformed, mistyped, out-of-range or unknown-field request is a clear
//! 400 (or 413, 404, 405) in the contract's error shape, and changes nothing.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, assert_error};

#[tokio::test]
async fn bad_order_bodies_are_400_and_change_nothing() {
    let app = TestApp::spawn().await;
    app.stock("p1", 10).await;
    let long = "x".repeat(129);
    let cases: Vec<String> = vec![
        "".into(),
        "   ".into(),
        "not json".into(),
        "{".into(),
        "[]".into(),
        "null".into(),
        "42".into(),
        r#"{"productId":"p1"}"#.into(),
        r#"{"userId":"u1"}"#.into(),
        r#"{"userId":"","productId":"p1"}"#.into(),
        r#"{"userId":"u1","productId":""}"#.into(),
        format!(r#"{{"userId":"{long}","productId":"p1"}}"#),
        r#"{"userId":7,"productId":"p1"}"#.into(),
        r#"{"userId":"u1","productId":["p1"]}"#.into(),
        r#"{"userId":null,"productId":"p1"}"#.into(),
        r#"{"userId":"u1","productId":"p1","quantity":0}"#.into(),
        r#"{"userId":"u1","productId":"p1","quantity":-1}"#.into(),
        r#"{"userId":"u1","productId":"p1","quantity":1001}"#.into(),
        r#"{"userId":"u1","productId":"p1","quantity":1.5}"#.into(),
        r#"{"userId":"u1","productId":"p1","quantity":"2"}"#.into(),
        r#"{"userId":"u1","productId":"p1","quantity":true}"#.into(),
        r#"{"userId":"u1","productId":"p1","quantity":1.5e3}"#.into(),
        r#"{"userId":"u1","productId":"p1","quantity":99999999999999999999999}"#.into(),
        r#"{"userId":"u1","productId":"p1","qty":2}"#.into(),
        r#"{"userId":"u1","productId":"p1","quantity":1,"extra":true}"#.into(),
        r#"{"userId":"u1","productId":"p1"} trailing"#.into(),
    ];
    for body in cases {
        let (s, b) = app.post_raw("/order", body.clone()).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_request");
        assert!(!b.to_string().is_empty(), "{body}");
    }
    // Bad idempotency keys too.
    for key in ["", "has space", &"k".repeat(256)] {
        let r = app
            .client
            .post(app.url("/order"))
            .header("Idempotency-Key", key)
            .json(&json!({ "userId": "u1", "productId": "p1" }))
            .send()
            .await
            .unwrap();
        let (s, b) = crate::helpers::read(r).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_request");
    }
    assert_eq!(app.product("p1").await, (10, 0));
    assert!(app.all_orders("").await.is_empty());
}

/// JSON has one kind of number, and JSON Schema's `integer` (the OpenAPI document's) is any
/// whole one: `2.0` and `1e1` are integers like `2` and `10`.
#[tokio::test]
async fn whole_numbers_are_integers_however_they_are_written() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .put(app.url("/inventory/p1"))
        .json(&json!({ "stockCount": 1e1 }))
        .send()
        .await
        .unwrap();
    let (s, b) = crate::helpers::read(r).await;
    assert_eq!((s, &b["stockCount"]), (StatusCode::OK, &json!(10)), "{b}");
    let (s, b) = app
        .post_raw(
            "/order",
            r#"{"userId":"u1","productId":"p1","quantity":2.0}"#,
        )
        .await;
    assert_eq!((s, &b["quantity"]), (StatusCode::CREATED, &json!(2)), "{b}");
}

#[tokio::test]
async fn bad_inventory_bodies_are_400_and_change_nothing() {
    let app = TestApp::spawn().await;
    app.stock("p1", 10).await;
    for body in [
        "",
        "{}",
        "nope",
        r#"{"stockCount":-1}"#,
        r#"{"stockCount":1000000000001}"#,
        r#"{"stockCount":1.5}"#,
        r#"{"stockCount":"5"}"#,
        r#"{"stockCount":null}"#,
        r#"{"stockCount":5,"lockedCount":0}"#,
        r#"{"stock":5}"#,
    ] {
        let r = app
            .client
            .put(app.url("/inventory/p1"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let (s, b) = crate::helpers::read(r).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_request");
    }
    assert_eq!(app.product("p1").await, (10, 0));
    // The bounds themselves are fine.
    app.stock("p1", 0).await;
    app.stock("p1", 1_000_000_000_000).await;
}

#[tokio::test]
async fn bodies_over_64_kib_are_413() {
    let app = TestApp::spawn().await;
    app.stock("p1", 10).await;
    let pad = "x".repeat(64 * 1024);
    let body = format!(r#"{{"userId":"u1","productId":"p1","pad":"{pad}"}}"#);
    let (s, b) = app.post_raw("/order", body).await;
    assert_error(s, &b, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let r = app
        .client
        .put(app.url("/inventory/p1"))
        .body(format!(r#"{{"stockCount":1,"pad":"{pad}"}}"#))
        .send()
        .await
        .unwrap();
    let (s, b) = crate::helpers::read(r).await;
    assert_error(s, &b, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert_eq!(app.product("p1").await, (10, 0));
    // Just under the limit is parsed (and refused for its unknown field, not its size).
    let small = format!(
        r#"{{"userId":"u1","productId":"p1","pad":"{}"}}"#,
        "x".repeat(60 * 1024)
    );
    let (s, b) = app.post_raw("/order", small).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let app = TestApp::spawn().await;
    let (s, b) = app.get("/nope").await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let r = app.client.delete(app.url("/orders")).send().await.unwrap();
    let (s, b) = crate::helpers::read(r).await;
    assert_error(s, &b, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let (s, b) = app.post_json("/inventory/p1", &json!({})).await;
    assert_error(s, &b, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[tokio::test]
async fn health_answers_when_the_store_does() {
    let app = TestApp::spawn().await;
    let (s, b) = app.get("/healthz").await;
    assert_eq!(s, StatusCode::OK, "{b}");
}
